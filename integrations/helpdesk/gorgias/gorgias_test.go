package gorgias_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/gorgias"
	"github.com/doorstep/doorstep/integrations/helpdesk/helpdesktest"
)

const (
	testEmail  = "agent@acme.test"
	testKey    = "gorgias-api-key"
	testSecret = "conn-secret-0123456789"
)

func newDeskAt(t *testing.T, baseURL string, client *http.Client) *gorgias.Desk {
	t.Helper()
	d, err := gorgias.New(helpdesk.Connection{BaseURL: baseURL, Email: testEmail, APIKey: testKey, Secret: testSecret}, client)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newDesk(t *testing.T, fake *helpdesktest.Fake) *gorgias.Desk {
	t.Helper()
	return newDeskAt(t, fake.URL(), fake.Client())
}

func TestDesk_Conformance(t *testing.T) {
	t.Parallel()
	fake := helpdesktest.StartGorgias(t, testEmail, testKey, testSecret)
	helpdesktest.Conformance(t, func(base string) helpdesk.Desk { return newDeskAt(t, base, fake.Client()) }, fake)
}

func TestCreateTicket_GorgiasRateLimit_SecondBurstRefused(t *testing.T) {
	t.Parallel()
	fake := helpdesktest.StartGorgias(t, testEmail, testKey, testSecret)
	fake.SetRateLimit(helpdesktest.GorgiasRateLimit)
	d := newDesk(t, fake)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// A create is a lookup and a POST: two requests, the whole budget.
	nt := helpdesk.NewTicket{CustomerEmail: "s@example.com", Subject: "Late", Body: "Late parcel", DedupKey: "delay:1"}
	if _, err := d.CreateTicket(ctx, nt); err != nil {
		t.Fatalf("first create: %v", err)
	}
	_, err := d.CreateTicket(ctx, nt)
	var rl *helpdesk.RateLimited
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Second {
		t.Fatalf("third request within a second: err = %v, want *RateLimited with Retry-After <= 1s", err)
	}
	time.Sleep(rl.RetryAfter)
	if _, err := d.CreateTicket(ctx, nt); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	if n := len(fake.Tickets()); n != 1 {
		t.Errorf("fake holds %d tickets, want 1", n)
	}
}

func TestCreateTicket_SendsExternalIDTagsAndMessage(t *testing.T) {
	t.Parallel()
	fake := helpdesktest.StartGorgias(t, testEmail, testKey, testSecret)
	d := newDesk(t, fake)
	nt := helpdesk.NewTicket{CustomerEmail: "s@example.com", CustomerName: "Sam", Subject: "Late", Body: "Late <parcel>", DedupKey: "delay:1042", Tags: []string{"doorstep"}}
	tk, err := d.CreateTicket(t.Context(), nt)
	if err != nil {
		t.Fatal(err)
	}
	st := fake.Tickets()[0]
	if st.ExternalID != "delay:1042" || st.Email != "s@example.com" || st.Body != "Late <parcel>" || len(st.Tags) != 2 || st.Tags[1] != helpdesk.DedupTag("delay:1042") {
		t.Errorf("stored %+v", st)
	}
	if tk.URL != fake.URL()+"/app/ticket/"+tk.ExternalID {
		t.Errorf("URL = %q", tk.URL)
	}
}

func TestInstall_CreatesIntegrationsAndWidget(t *testing.T) {
	t.Parallel()
	fake := helpdesktest.StartGorgias(t, testEmail, testKey, testSecret)
	d := newDesk(t, fake)
	inst, err := d.Install(t.Context(), helpdesk.InstallRequest{CallbackBaseURL: "https://doorstep.test/", ConnectionID: "c7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{gorgias.ResourceSidebarIntegration, gorgias.ResourceSyncIntegration, gorgias.ResourceWidget} {
		if inst.Resources[k] == "" {
			t.Errorf("Resources[%q] is empty: %v", k, inst.Resources)
		}
	}
	if n := len(fake.Resources("integrations")); n != 2 {
		t.Errorf("fake holds %d integrations, want 2", n)
	}
	if n := len(fake.Resources("widgets")); n != 1 {
		t.Errorf("fake holds %d widgets, want 1", n)
	}
	// A widget failure removes the integrations already made.
	fake.FailOn(http.MethodPost, "/api/widgets", http.StatusInternalServerError)
	before := len(fake.Resources("integrations"))
	if _, err := d.Install(t.Context(), helpdesk.InstallRequest{CallbackBaseURL: "https://doorstep.test", ConnectionID: "c8"}); err == nil {
		t.Fatal("Install with a failing API succeeded")
	}
	if n := len(fake.Resources("integrations")); n != before {
		t.Errorf("failed Install left %d integrations, want %d", n, before)
	}
}

func TestParseWebhook_FixtureTicketCreated(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "..", "..", "shared", "fixtures", "gorgias", "ticket-created.json")
	body, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("fixture %s not found: ../shared (the project's shared fixtures) is not checked out next to the repo", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := gorgias.New(helpdesk.Connection{BaseURL: "acme.gorgias.com", Email: testEmail, APIKey: testKey, Secret: testSecret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(helpdesk.SecretHeader, testSecret)
	ev, err := d.ParseWebhook(h, body)
	if err != nil {
		t.Fatal(err)
	}
	want := helpdesk.Ticket{
		ExternalID: "86538298", CustomerEmail: "test@sample.com", Status: helpdesk.StatusOpen, Subject: "test",
		UpdatedAt: time.Date(2024, 2, 14, 21, 30, 50, 228948000, time.UTC),
		URL:       "https://acme.gorgias.com/app/ticket/86538298",
	}
	if ev.Ticket != want {
		t.Errorf("ticket = %+v\nwant     %+v", ev.Ticket, want)
	}
	h.Set(helpdesk.SecretHeader, testSecret[:len(testSecret)-1])
	if _, err := d.ParseWebhook(h, body); !errors.Is(err, helpdesk.ErrBadSignature) {
		t.Errorf("wrong secret: err = %v", err)
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"id":1,"status":"open","customer":{"email":"a@b"}}`))
	f.Add([]byte(`{"ticket":{"id":2}}`))
	f.Add([]byte(`null`))
	d, err := gorgias.New(helpdesk.Connection{BaseURL: "acme.gorgias.com", Email: testEmail, APIKey: testKey, Secret: testSecret}, nil)
	if err != nil {
		f.Fatal(err)
	}
	h := http.Header{}
	h.Set(helpdesk.SecretHeader, testSecret)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := d.ParseWebhook(h, body)
		if err == nil && ev.Ticket.ExternalID == "" {
			t.Fatalf("parsed %q without a ticket id", body)
		}
	})
}
