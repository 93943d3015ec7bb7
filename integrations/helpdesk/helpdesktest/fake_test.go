package helpdesktest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk/helpdesktest"
)

func get(t *testing.T, f *helpdesktest.Fake, path, user, pass string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.URL()+path, nil)
	req.SetBasicAuth(user, pass)
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestFakes_CheckBasicAuthAsEachDesk(t *testing.T) {
	t.Parallel()
	g := helpdesktest.StartGorgias(t, "a@x.test", "key", "s")
	z := helpdesktest.StartZendesk(t, "a@x.test", "tok", "s")
	fd := helpdesktest.StartFreshdesk(t, "key", "s")
	tests := []struct {
		name       string
		f          *helpdesktest.Fake
		path       string
		user, pass string
		want       int
	}{
		{"gorgias ok", g, "/api/tickets", "a@x.test", "key", 200},
		{"gorgias wrong key", g, "/api/tickets", "a@x.test", "nope", 401},
		{"zendesk ok", z, "/api/v2/tickets.json", "a@x.test/token", "tok", 200},
		{"zendesk without /token", z, "/api/v2/tickets.json", "a@x.test", "tok", 401},
		{"freshdesk ok", fd, "/api/v2/tickets", "key", "X", 200},
		{"freshdesk key as password", fd, "/api/v2/tickets", "X", "key", 401},
	}
	for _, tt := range tests {
		if got := get(t, tt.f, tt.path, tt.user, tt.pass).StatusCode; got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
	if n := len(g.Calls()); n != 2 {
		t.Errorf("gorgias recorded %d calls, want 2", n)
	}
}

func TestFake_RateLimitAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	g := helpdesktest.StartGorgias(t, "a@x.test", "key", "s")
	g.SetRateLimit(helpdesktest.GorgiasRateLimit)
	var statuses []int
	var retry string
	for range 3 {
		resp := get(t, g, "/api/tickets", "a@x.test", "key")
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == 429 {
			retry = resp.Header.Get("Retry-After")
		}
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 || retry != "1" {
		t.Fatalf("statuses %v, Retry-After %q", statuses, retry)
	}
	time.Sleep(time.Second)
	if s := get(t, g, "/api/tickets", "a@x.test", "key").StatusCode; s != 200 {
		t.Errorf("after a second: %d", s)
	}
}

func TestFake_WebhookSignature(t *testing.T) {
	t.Parallel()
	z := helpdesktest.StartZendesk(t, "a@x.test", "tok", "signing")
	h, body := z.Webhook(1, "signing", time.Unix(1_700_000_000, 0))
	ts := h.Get("X-Zendesk-Webhook-Signature-Timestamp")
	if ts != "2023-11-14T22:13:20Z" || h.Get("X-Zendesk-Webhook-Signature") != helpdesktest.ZendeskSignature("signing", ts, body) {
		t.Errorf("headers %v", h)
	}
	if !strings.Contains(string(body), `"zen:event-type:ticket.`) {
		t.Errorf("body %s", body)
	}
}
