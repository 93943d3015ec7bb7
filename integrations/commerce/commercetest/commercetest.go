// Package commercetest is the conformance suite every commerce platform's
// webhook half passes, so WooCommerce and BigCommerce plug in like Shopify:
// genuine deliveries verify and parse to well-formed events, forged ones
// fail with commerce.ErrBadSignature, unknown topics with
// commerce.ErrUnknownTopic, and garbage never panics.
package commercetest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/doorstep/doorstep/integrations/commerce"
)

// Sample is one webhook body for a topic.
type Sample struct {
	Topic string
	Body  []byte
}

// Cases is what the suite needs from a platform.
type Cases struct {
	// Sign returns the headers a genuine delivery of body for topic
	// carries (signature, topic, shop, event id …).
	Sign func(topic string, body []byte) http.Header
	// Order is a valid order payload; it must parse to exactly one order.
	Order Sample
	// Samples are more valid payloads (fulfillments, refunds, lifecycle …);
	// each must parse to at least one well-formed event.
	Samples []Sample
	// UnknownTopic is a topic the platform does not handle.
	UnknownTopic string
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, p commerce.Webhooks, c Cases) {
	t.Helper()
	if c.Sign == nil || len(c.Order.Body) == 0 || c.Order.Topic == "" {
		t.Fatal("commercetest: Cases needs Sign and an Order sample")
	}
	if c.UnknownTopic == "" {
		c.UnknownTopic = "commercetest/unknown"
	}

	t.Run("Name_NotEmpty", func(t *testing.T) {
		t.Parallel()
		if p.Name() == "" {
			t.Error("Name() is empty: deliveries are stored under it")
		}
	})

	t.Run("SignedOrder_VerifiesAndParsesToOneOrder", func(t *testing.T) {
		t.Parallel()
		meta, err := p.VerifyWebhook(c.Sign(c.Order.Topic, c.Order.Body), c.Order.Body)
		if err != nil {
			t.Fatalf("VerifyWebhook: %v", err)
		}
		if meta.ShopDomain == "" || meta.EventID == "" || meta.Topic == "" {
			t.Errorf("meta = %+v: shop, event id and topic are needed for dedup", meta)
		}
		evs, err := p.ParseWebhook(meta.Topic, c.Order.Body)
		if err != nil {
			t.Fatalf("ParseWebhook: %v", err)
		}
		if len(evs) != 1 || evs[0].Kind != commerce.EventOrder || evs[0].Order == nil {
			t.Fatalf("events = %+v, want one order", evs)
		}
		checkEvent(t, evs[0])
		o := evs[0].Order
		if o.PlatformID == 0 {
			t.Error("order PlatformID is 0")
		}
		if o.PlatformUpdatedAt.IsZero() {
			t.Error("order PlatformUpdatedAt is zero: newer-wins upserts need it")
		}
		if o.PlatformUpdatedAt.Location().String() != "UTC" {
			t.Errorf("order PlatformUpdatedAt in %s, want UTC", o.PlatformUpdatedAt.Location())
		}
		if o.Currency == "" {
			t.Error("order Currency is empty: money needs its currency")
		}
		if o.ShopID != 0 || o.ID != 0 {
			t.Error("parser set ShopID/ID: the store owns those")
		}
	})

	t.Run("TamperedBody_ErrBadSignature", func(t *testing.T) {
		t.Parallel()
		h := c.Sign(c.Order.Topic, c.Order.Body)
		tampered := bytes.Clone(c.Order.Body)
		tampered[len(tampered)/2] ^= 0x01
		if _, err := p.VerifyWebhook(h, tampered); !errors.Is(err, commerce.ErrBadSignature) {
			t.Errorf("err = %v, want ErrBadSignature", err)
		}
	})

	t.Run("NoHeaders_ErrBadSignature", func(t *testing.T) {
		t.Parallel()
		if _, err := p.VerifyWebhook(http.Header{}, c.Order.Body); !errors.Is(err, commerce.ErrBadSignature) {
			t.Errorf("err = %v, want ErrBadSignature", err)
		}
	})

	t.Run("SignatureOfAnotherBody_ErrBadSignature", func(t *testing.T) {
		t.Parallel()
		h := c.Sign(c.Order.Topic, []byte(`{"id":1}`))
		if _, err := p.VerifyWebhook(h, c.Order.Body); !errors.Is(err, commerce.ErrBadSignature) {
			t.Errorf("err = %v, want ErrBadSignature", err)
		}
	})

	t.Run("UnknownTopic_ErrUnknownTopic", func(t *testing.T) {
		t.Parallel()
		if _, err := p.ParseWebhook(c.UnknownTopic, c.Order.Body); !errors.Is(err, commerce.ErrUnknownTopic) {
			t.Errorf("err = %v, want ErrUnknownTopic", err)
		}
	})

	t.Run("Samples_ParseToWellFormedEvents", func(t *testing.T) {
		t.Parallel()
		for _, s := range c.Samples {
			evs, err := p.ParseWebhook(s.Topic, s.Body)
			if err != nil {
				t.Errorf("%s: %v", s.Topic, err)
				continue
			}
			if len(evs) == 0 {
				t.Errorf("%s: no events", s.Topic)
			}
			for _, e := range evs {
				checkEvent(t, e)
			}
		}
	})

	t.Run("Garbage_ErrorsWithoutPanic", func(t *testing.T) {
		t.Parallel()
		garbage := [][]byte{nil, []byte(""), []byte("{"), []byte("not json"), []byte("[1,2,3]"), []byte(`{"id": [`), []byte("\x00\xff")}
		topics := []string{c.Order.Topic}
		for _, s := range c.Samples {
			topics = append(topics, s.Topic)
		}
		for _, topic := range topics {
			for _, g := range garbage {
				evs, err := parseNoPanic(t, p, topic, g)
				if err == nil {
					t.Errorf("%s %q: no error, events %+v", topic, g, evs)
				}
			}
		}
	})

	t.Run("TruncatedOrder_ErrorsWithoutPanic", func(t *testing.T) {
		t.Parallel()
		body := bytes.TrimSpace(c.Order.Body)
		for i := 0; i < len(body); i++ {
			if _, err := parseNoPanic(t, p, c.Order.Topic, body[:i]); err == nil {
				t.Fatalf("prefix of %d bytes parsed without error", i)
			}
		}
	})
}

// parseNoPanic turns a panic into a test failure (and an error) so one bad
// input doesn't hide the others.
func parseNoPanic(t *testing.T, p commerce.Webhooks, topic string, body []byte) (evs []commerce.Event, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("ParseWebhook(%q, %q) panicked: %v", topic, body, r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return p.ParseWebhook(topic, body)
}

// checkEvent asserts exactly the pointer matching Kind is set.
func checkEvent(t *testing.T, e commerce.Event) {
	t.Helper()
	set := map[commerce.EventKind]bool{
		commerce.EventOrder:               e.Order != nil,
		commerce.EventFulfillment:         e.Fulfillment != nil,
		commerce.EventFulfillmentEvent:    e.FulfillmentEvent != nil,
		commerce.EventRefund:              e.Refund != nil,
		commerce.EventCustomer:            e.Customer != nil,
		commerce.EventAppUninstalled:      e.AppUninstalled != nil,
		commerce.EventCustomerRedact:      e.CustomerRedact != nil,
		commerce.EventCustomerDataRequest: e.CustomerDataRequest != nil,
		commerce.EventShopRedact:          e.ShopRedact != nil,
	}
	if _, known := set[e.Kind]; !known {
		t.Errorf("event kind %q is not one of commerce's kinds", e.Kind)
		return
	}
	for k, isSet := range set {
		if isSet != (k == e.Kind) {
			t.Errorf("event of kind %s: %s pointer set=%v", e.Kind, k, isSet)
		}
	}
}
