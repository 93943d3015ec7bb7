package freshdesk_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/freshdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/helpdesktest"
)

const (
	testKey    = "freshdesk-api-key"
	testSecret = "conn-secret-fd"
)

func newDeskAt(t *testing.T, baseURL string, client *http.Client) *freshdesk.Desk {
	t.Helper()
	d, err := freshdesk.New(helpdesk.Connection{BaseURL: baseURL, APIKey: testKey, Secret: testSecret}, client)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newDesk(t *testing.T, fake *helpdesktest.Fake) *freshdesk.Desk {
	t.Helper()
	return newDeskAt(t, fake.URL(), fake.Client())
}

func TestDesk_Conformance(t *testing.T) {
	t.Parallel()
	fake := helpdesktest.StartFreshdesk(t, testKey, testSecret)
	helpdesktest.Conformance(t, func(base string) helpdesk.Desk { return newDeskAt(t, base, fake.Client()) }, fake)
}

func TestCreateTicket_DedupByTagAmongCustomerTickets(t *testing.T) {
	t.Parallel()
	fake := helpdesktest.StartFreshdesk(t, testKey, testSecret)
	d := newDesk(t, fake)
	nt := helpdesk.NewTicket{CustomerEmail: "s@example.com", Subject: "Late", Body: "Late <parcel>", DedupKey: "delay:9"}
	a, err := d.CreateTicket(t.Context(), nt)
	if err != nil {
		t.Fatal(err)
	}
	// Another ticket for the same customer, newer, must not hide the first.
	if _, err := d.CreateTicket(t.Context(), helpdesk.NewTicket{CustomerEmail: "s@example.com", Subject: "Other", Body: "x", DedupKey: "delay:10"}); err != nil {
		t.Fatal(err)
	}
	b, err := d.CreateTicket(t.Context(), nt)
	if err != nil || b.ExternalID != a.ExternalID {
		t.Fatalf("retry got %q (err %v), want %q", b.ExternalID, err, a.ExternalID)
	}
	st := fake.Tickets()
	if len(st) != 2 || st[0].Status != "2" || !strings.Contains(st[0].Body, "Late &lt;parcel&gt;") || st[0].Tags[0] != helpdesk.DedupTag("delay:9") {
		t.Errorf("stored %+v", st)
	}
	if a.URL != fake.URL()+"/a/tickets/"+a.ExternalID {
		t.Errorf("URL = %q", a.URL)
	}
}

func TestParseWebhook_Statuses(t *testing.T) {
	t.Parallel()
	d, err := freshdesk.New(helpdesk.Connection{BaseURL: "acme.freshdesk.com", APIKey: testKey, Secret: testSecret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(helpdesk.SecretHeader, testSecret)
	for status, want := range map[string]helpdesk.Status{
		"Open": helpdesk.StatusOpen, "Pending": helpdesk.StatusPending, "Resolved": helpdesk.StatusClosed,
		"Closed": helpdesk.StatusClosed, "Waiting on Customer": helpdesk.StatusPending, "5": helpdesk.StatusClosed, "???": helpdesk.StatusUnknown,
	} {
		body := `{"ticket_id":"12","ticket_status":"` + status + `","ticket_subject":"Hi","ticket_contact_email":"s@example.com"}`
		ev, err := d.ParseWebhook(h, []byte(body))
		if err != nil || ev.Ticket.Status != want || ev.Ticket.URL != "https://acme.freshdesk.com/a/tickets/12" || ev.Ticket.CustomerEmail != "s@example.com" {
			t.Errorf("%s: %+v, %v", status, ev.Ticket, err)
		}
	}
	if _, err := d.ParseWebhook(h, []byte(`{"ticket_id":"{{ticket.id}}"}`)); err == nil || errors.Is(err, helpdesk.ErrBadSignature) {
		t.Errorf("unexpanded placeholder: err = %v, want a parse error", err)
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(freshdesk.WebhookBody))
	f.Add([]byte(`{"freshdesk_webhook":{"ticket_id":7,"ticket_status":"Open"}}`))
	d, err := freshdesk.New(helpdesk.Connection{BaseURL: "acme.freshdesk.com", APIKey: testKey, Secret: testSecret}, nil)
	if err != nil {
		f.Fatal(err)
	}
	h := http.Header{}
	h.Set(helpdesk.SecretHeader, testSecret)
	f.Fuzz(func(t *testing.T, body []byte) {
		if ev, err := d.ParseWebhook(h, body); err == nil && ev.Ticket.ExternalID == "" {
			t.Fatalf("parsed %q without an id", body)
		}
	})
}
