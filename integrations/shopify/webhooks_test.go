package shopify

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/commerce/commercetest"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
)

func webhookHeaders(secret, topic string, body []byte) http.Header {
	h := http.Header{}
	h.Set(HeaderHmac, shopifytest.SignWebhook(secret, body))
	h.Set(HeaderTopic, topic)
	h.Set(HeaderShopDomain, "Example.myshopify.com")
	h.Set(HeaderEventID, "evt-1")
	h.Set(HeaderWebhookID, "wh-1")
	h.Set(HeaderAPIVersion, "2026-07")
	return h
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	c := testClient() // secret "secret", previous "old-secret"
	body := []byte(`{"id": 1}`)
	without := func(h http.Header, k string) http.Header { h.Del(k); return h }

	for _, tc := range []struct {
		name    string
		h       http.Header
		body    []byte
		wantBad bool   // errors.Is ErrBadSignature
		wantErr string // other error
	}{
		{name: "current secret accepted", h: webhookHeaders("secret", "orders/create", body), body: body},
		{name: "previous secret accepted during rotation", h: webhookHeaders("old-secret", "orders/create", body), body: body},
		{name: "unknown secret refused", h: webhookHeaders("other", "orders/create", body), body: body, wantBad: true},
		{name: "missing signature header refused", h: without(webhookHeaders("secret", "orders/create", body), HeaderHmac), body: body, wantBad: true},
		{name: "tampered body refused", h: webhookHeaders("secret", "orders/create", body), body: []byte(`{"id": 2}`), wantBad: true},
		{name: "hex signature refused", h: func() http.Header {
			h := webhookHeaders("secret", "orders/create", body)
			h.Set(HeaderHmac, "deadbeef")
			return h
		}(), body: body, wantBad: true},
		{name: "missing topic", h: without(webhookHeaders("secret", "orders/create", body), HeaderTopic), body: body, wantErr: HeaderTopic},
		{name: "invalid shop domain", h: func() http.Header {
			h := webhookHeaders("secret", "orders/create", body)
			h.Set(HeaderShopDomain, "evil.example.com")
			return h
		}(), body: body, wantErr: "invalid shop domain"},
		{name: "no event or webhook id", h: without(without(webhookHeaders("secret", "orders/create", body), HeaderEventID), HeaderWebhookID), body: body, wantErr: "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := c.VerifyWebhook(tc.h, tc.body)
			switch {
			case tc.wantBad:
				if !errors.Is(err, commerce.ErrBadSignature) {
					t.Errorf("err = %v, want ErrBadSignature", err)
				}
			case tc.wantErr != "":
				if err == nil || errors.Is(err, commerce.ErrBadSignature) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want a non-signature error mentioning %q", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				want := commerce.WebhookMeta{ShopDomain: "example.myshopify.com", Topic: "orders/create", EventID: "evt-1", WebhookID: "wh-1", APIVersion: "2026-07"}
				if m != want {
					t.Errorf("meta = %+v, want %+v", m, want)
				}
			}
		})
	}
}

func TestVerifyWebhook_NoEventID_FallsBackToWebhookID(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	h := webhookHeaders("secret", "app/uninstalled", body)
	h.Del(HeaderEventID)
	m, err := testClient().VerifyWebhook(h, body)
	if err != nil || m.EventID != "wh-1" {
		t.Errorf("meta, err = %+v, %v; want EventID wh-1", m, err)
	}
}

func TestVerifyWebhook_NoPreviousSecret_OnlyCurrentAccepted(t *testing.T) {
	t.Parallel()
	c := New(Config{APIKey: "key", APISecret: "secret"})
	body := []byte(`{"id":1}`)
	// An empty previous secret must not turn into "HMAC with an empty key".
	if _, err := c.VerifyWebhook(webhookHeaders("", "orders/create", body), body); !errors.Is(err, commerce.ErrBadSignature) {
		t.Errorf("err = %v, want ErrBadSignature", err)
	}
}

func TestWebhooks_Conformance(t *testing.T) {
	t.Parallel()
	var samples []commercetest.Sample
	var order commercetest.Sample
	for _, f := range fixtures(t) {
		if f.topic == "orders/create" {
			order = commercetest.Sample{Topic: f.topic, Body: f.body}
			continue
		}
		samples = append(samples, commercetest.Sample{Topic: f.topic, Body: f.body})
	}
	commercetest.Run(t, testClient(), commercetest.Cases{
		Sign:         func(topic string, body []byte) http.Header { return webhookHeaders("secret", topic, body) },
		Order:        order,
		Samples:      samples,
		UnknownTopic: "products/create",
	})
}

func FuzzVerifyWebhook(f *testing.F) {
	body := []byte(`{"id": 820982911946154500}`)
	f.Add(body, shopifytest.SignWebhook("secret", body), "orders/create", "x.myshopify.com", "evt")
	f.Add([]byte{}, "", "", "", "")
	f.Add(body, "not base64!", "orders/create", "admin.shopify.com/store/x", "")
	c := testClient()
	f.Fuzz(func(t *testing.T, body []byte, sig, topic, shop, eventID string) {
		h := http.Header{}
		h.Set(HeaderHmac, sig)
		h.Set(HeaderTopic, topic)
		h.Set(HeaderShopDomain, shop)
		h.Set(HeaderEventID, eventID)
		m, err := c.VerifyWebhook(h, body)
		if err != nil {
			return
		}
		// Success means the signature really is one of ours.
		if sig != shopifytest.SignWebhook("secret", body) && sig != shopifytest.SignWebhook("old-secret", body) {
			t.Fatalf("accepted a forged signature %q", sig)
		}
		if m.EventID == "" || m.Topic == "" || !shopDomainRE.MatchString(m.ShopDomain) || bytes.ContainsAny([]byte(m.ShopDomain), "/:") {
			t.Fatalf("accepted bad meta %+v", m)
		}
	})
}
