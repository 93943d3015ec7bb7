package zendesk_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/helpdesktest"
	"github.com/doorstep/doorstep/integrations/helpdesk/zendesk"
)

const (
	testEmail   = "agent@acme.test"
	testToken   = "zendesk-api-token"
	testSigning = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
)

func newDeskAt(t *testing.T, baseURL string, client *http.Client) *zendesk.Desk {
	t.Helper()
	d, err := zendesk.New(helpdesk.Connection{BaseURL: baseURL, Email: testEmail, APIToken: testToken, WebhookSecret: testSigning}, client)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newDesk(t *testing.T, fake *helpdesktest.Fake) *zendesk.Desk {
	t.Helper()
	return newDeskAt(t, fake.URL(), fake.Client())
}

func TestDesk_Conformance(t *testing.T) {
	t.Parallel()
	fake := helpdesktest.StartZendesk(t, testEmail, testToken, testSigning)
	helpdesktest.Conformance(t, func(base string) helpdesk.Desk { return newDeskAt(t, base, fake.Client()) }, fake)
}

func TestCreateTicket_PrivateCommentExternalIDAndTags(t *testing.T) {
	t.Parallel()
	fake := helpdesktest.StartZendesk(t, testEmail, testToken, testSigning)
	d := newDesk(t, fake)
	tk, err := d.CreateTicket(t.Context(), helpdesk.NewTicket{CustomerEmail: "s@example.com", Subject: "Late", Body: "Late parcel", DedupKey: "delay:7", Tags: []string{"doorstep"}})
	if err != nil {
		t.Fatal(err)
	}
	st := fake.Tickets()[0]
	if st.ExternalID != "delay:7" || len(st.Tags) != 2 || st.Tags[1] != helpdesk.DedupTag("delay:7") {
		t.Errorf("stored %+v", st)
	}
	if tk.URL != fake.URL()+"/agent/tickets/"+tk.ExternalID || tk.Status != helpdesk.StatusOpen {
		t.Errorf("ticket %+v", tk)
	}
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"zen:event-type:ticket.created","detail":{"id":"35436","status":"NEW","subject":"Help"}}`)
	sign := func(secret string, at time.Time, body []byte) http.Header {
		ts := at.Format(time.RFC3339)
		h := http.Header{}
		h.Set(zendesk.TimestampHeader, ts)
		h.Set(zendesk.SignatureHeader, helpdesktest.ZendeskSignature(secret, ts, body))
		return h
	}
	tests := []struct {
		name   string
		secret string // what the desk verifies with
		h      http.Header
		body   []byte
		ok     bool
	}{
		{"right", testSigning, sign(testSigning, now, body), body, true},
		{"four minutes old", testSigning, sign(testSigning, now.Add(-4*time.Minute), body), body, true},
		{"wrong secret", testSigning, sign("other", now, body), body, false},
		{"tampered body", testSigning, sign(testSigning, now, body), append([]byte(" "), body...), false},
		{"stale: six minutes old", testSigning, sign(testSigning, now.Add(-6*time.Minute), body), body, false},
		{"six minutes ahead", testSigning, sign(testSigning, now.Add(6*time.Minute), body), body, false},
		{"no headers", testSigning, http.Header{}, body, false},
		{"no secret configured", "", sign("", now, body), body, false},
		{"signature not base64", testSigning, http.Header{zendesk.TimestampHeader: {now.Format(time.RFC3339)}, zendesk.SignatureHeader: {"%%%"}}, body, false},
		{"timestamp not RFC 3339 but signed", testSigning, func() http.Header {
			h := http.Header{}
			h.Set(zendesk.TimestampHeader, "yesterday")
			h.Set(zendesk.SignatureHeader, helpdesktest.ZendeskSignature(testSigning, "yesterday", body))
			return h
		}(), body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := zendesk.VerifyWebhook(tt.secret, tt.h, tt.body, now)
			if tt.ok && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, helpdesk.ErrBadSignature) {
				t.Fatalf("err = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestParseWebhook_TriggerBody(t *testing.T) {
	t.Parallel()
	d, err := zendesk.New(helpdesk.Connection{BaseURL: "acme.zendesk.com", Email: testEmail, APIToken: testToken, WebhookSecret: testSigning}, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"ticket":{"id":"42","status":"Pending","subject":"Where is my order?","requester_email":"s@example.com","updated_at":"2026-11-23T02:59:00Z"}}`)
	ts := time.Now().UTC().Format(time.RFC3339)
	h := http.Header{}
	h.Set(zendesk.TimestampHeader, ts)
	h.Set(zendesk.SignatureHeader, helpdesktest.ZendeskSignature(testSigning, ts, body))
	ev, err := d.ParseWebhook(h, body)
	if err != nil {
		t.Fatal(err)
	}
	want := helpdesk.Ticket{ExternalID: "42", CustomerEmail: "s@example.com", Status: helpdesk.StatusPending, Subject: "Where is my order?",
		UpdatedAt: time.Date(2026, 11, 23, 2, 59, 0, 0, time.UTC), URL: "https://acme.zendesk.com/agent/tickets/42"}
	if ev.Ticket != want {
		t.Errorf("ticket = %+v\nwant     %+v", ev.Ticket, want)
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	f.Add("secret", "2026-11-23T03:00:00Z", []byte(`{"a":1}`))
	f.Add("", "", []byte(nil))
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, secret, ts string, body []byte) {
		h := http.Header{}
		h.Set(zendesk.TimestampHeader, ts)
		h.Set(zendesk.SignatureHeader, helpdesktest.ZendeskSignature(secret, ts, body))
		err := zendesk.VerifyWebhook(secret, h, body, now)
		if err == nil {
			at, perr := time.Parse(time.RFC3339Nano, h.Get(zendesk.TimestampHeader))
			if secret == "" || perr != nil || now.Sub(at).Abs() > zendesk.ReplayWindow {
				t.Fatalf("verified secret %q ts %q", secret, ts)
			}
			if zendesk.VerifyWebhook(secret+"x", h, body, now) == nil {
				t.Fatal("verified with another secret")
			}
		}
	})
}
