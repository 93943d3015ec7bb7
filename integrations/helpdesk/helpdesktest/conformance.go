package helpdesktest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

// Conformance is the test every helpdesk.Desk passes against its fake.
// newDesk builds the Desk under test for the fake's base URL, with the
// credentials and secret the fake was started with. The cases run in order
// (they share the fake) and leave it without pending failures or limits.
func Conformance(t *testing.T, newDesk func(baseURL string) helpdesk.Desk, fake *Fake) {
	t.Helper()
	desk := newDesk(fake.URL())
	if desk.Kind() != fake.Kind() {
		t.Fatalf("desk.Kind() = %q, fake is %q", desk.Kind(), fake.Kind())
	}
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		t.Cleanup(cancel)
		return c
	}
	n := 0
	newTicket := func() helpdesk.NewTicket {
		n++
		return helpdesk.NewTicket{
			CustomerEmail: "shopper@example.com",
			CustomerName:  "Sam Shopper",
			Subject:       fmt.Sprintf("Order #%d is delayed", 1000+n),
			Body:          fmt.Sprintf("The carrier reports a delay for order #%d.\nTracking: https://track.test/%d", 1000+n, n),
			DedupKey:      fmt.Sprintf("delay:order-%d:fulfillment-%d", 1000+n, n),
			Tags:          []string{"doorstep", "delay"},
		}
	}
	count := func() int { return len(fake.Tickets()) }
	ticketID := func(t *testing.T, tk helpdesk.Ticket) int64 {
		t.Helper()
		id, err := strconv.ParseInt(tk.ExternalID, 10, 64)
		if err != nil {
			t.Fatalf("ExternalID %q is not the desk's numeric id", tk.ExternalID)
		}
		return id
	}
	var first helpdesk.Ticket
	firstNT := newTicket()

	t.Run("CreateTicket_OpensOne", func(t *testing.T) {
		before := count()
		tk, err := desk.CreateTicket(ctx(t), firstNT)
		if err != nil {
			t.Fatalf("CreateTicket: %v", err)
		}
		if count() != before+1 {
			t.Fatalf("fake holds %d tickets, want %d", count(), before+1)
		}
		stored := fake.Tickets()[count()-1]
		if tk.ExternalID != strconv.FormatInt(stored.ID, 10) {
			t.Errorf("ExternalID = %q, fake stored id %d", tk.ExternalID, stored.ID)
		}
		if !strings.EqualFold(stored.Email, firstNT.CustomerEmail) || stored.Subject != firstNT.Subject ||
			!strings.Contains(stored.Body, "delay for order") {
			t.Errorf("fake stored %+v for %+v", stored, firstNT)
		}
		if tk.Status != helpdesk.StatusOpen || tk.Subject != firstNT.Subject || tk.URL == "" ||
			!strings.EqualFold(tk.CustomerEmail, firstNT.CustomerEmail) || tk.DedupKey != firstNT.DedupKey {
			t.Errorf("ticket = %+v", tk)
		}
		first = tk
	})

	t.Run("CreateTicket_SameDedupKey_SameTicket", func(t *testing.T) {
		if first.ExternalID == "" {
			t.Skip("needs the ticket from CreateTicket_OpensOne")
		}
		before := count()
		tk, err := desk.CreateTicket(ctx(t), firstNT)
		if err != nil {
			t.Fatalf("CreateTicket again: %v", err)
		}
		if tk.ExternalID != first.ExternalID {
			t.Errorf("second CreateTicket returned %q, want the first ticket %q", tk.ExternalID, first.ExternalID)
		}
		if count() != before {
			t.Errorf("fake holds %d tickets after a retry, want %d", count(), before)
		}
	})

	t.Run("CreateTicket_OtherDedupKey_NewTicket", func(t *testing.T) {
		before := count()
		tk, err := desk.CreateTicket(ctx(t), newTicket())
		if err != nil {
			t.Fatalf("CreateTicket: %v", err)
		}
		if tk.ExternalID == first.ExternalID || count() != before+1 {
			t.Errorf("got %q (first %q), fake holds %d, want %d", tk.ExternalID, first.ExternalID, count(), before+1)
		}
	})

	t.Run("TooManyRequests_RateLimitedWithWait", func(t *testing.T) {
		before := count()
		nt := newTicket()
		fake.FailNext(http.StatusTooManyRequests, "7")
		_, err := desk.CreateTicket(ctx(t), nt)
		var rl *helpdesk.RateLimited
		if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
			t.Fatalf("err = %v, want *RateLimited{RetryAfter: 7s}", err)
		}
		if count() != before {
			t.Fatalf("a throttled call stored a ticket")
		}
		// The fake's own limiter: the second request within a second is refused.
		fake.SetRateLimit(1)
		_, err = desk.CreateTicket(ctx(t), nt)
		fake.SetRateLimit(0)
		if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Second {
			t.Fatalf("err = %v, want *RateLimited with 0 < RetryAfter <= 1s", err)
		}
		// The queue's retry then succeeds, with exactly one ticket.
		if _, err := desk.CreateTicket(ctx(t), nt); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if _, err := desk.CreateTicket(ctx(t), nt); err != nil {
			t.Fatalf("second retry: %v", err)
		}
		if count() != before+1 {
			t.Errorf("fake holds %d tickets, want %d", count(), before+1)
		}
	})

	t.Run("WrongCredentials_Unauthorized", func(t *testing.T) {
		restore := fake.RevokeKey()
		defer restore()
		before := count()
		_, err := desk.CreateTicket(ctx(t), newTicket())
		if !errors.Is(err, helpdesk.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if count() != before {
			t.Errorf("an unauthorized call stored a ticket")
		}
	})

	t.Run("ServerError_TransientAPIError", func(t *testing.T) {
		fake.FailNext(http.StatusServiceUnavailable, "")
		_, err := desk.CreateTicket(ctx(t), newTicket())
		var ae *helpdesk.APIError
		if !errors.As(err, &ae) || !ae.Transient() {
			t.Fatalf("err = %v, want a transient *APIError", err)
		}
	})

	t.Run("Webhook_SignedRight_Parses", func(t *testing.T) {
		if first.ExternalID == "" {
			t.Skip("needs the ticket from CreateTicket_OpensOne")
		}
		id := ticketID(t, first)
		h, body := fake.Webhook(id, fake.Secret(), time.Now())
		ev, err := desk.ParseWebhook(h, body)
		if err != nil {
			t.Fatalf("ParseWebhook: %v", err)
		}
		if ev.Ticket.ExternalID != first.ExternalID || ev.Ticket.Status != helpdesk.StatusOpen || ev.Ticket.Subject != first.Subject {
			t.Errorf("event ticket = %+v, want id %s open %q", ev.Ticket, first.ExternalID, first.Subject)
		}
		fake.CloseTicket(id)
		h, body = fake.Webhook(id, fake.Secret(), time.Now())
		ev, err = desk.ParseWebhook(h, body)
		if err != nil || ev.Ticket.Status != helpdesk.StatusClosed {
			t.Errorf("after closing: ticket = %+v, err = %v, want closed", ev.Ticket, err)
		}
	})

	rejects := func(t *testing.T, what string, h http.Header, body []byte) {
		t.Helper()
		ev, err := desk.ParseWebhook(h, body)
		if !errors.Is(err, helpdesk.ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", what, err)
		}
		if ev != (helpdesk.TicketEvent{}) {
			t.Errorf("%s: returned %+v, want nothing", what, ev)
		}
	}
	t.Run("Webhook_BadSignature_Refused", func(t *testing.T) {
		if first.ExternalID == "" {
			t.Skip("needs the ticket from CreateTicket_OpensOne")
		}
		id := ticketID(t, first)
		h, body := fake.Webhook(id, fake.Secret()+"x", time.Now())
		rejects(t, "wrong secret", h, body)
		h, body = fake.Webhook(id, "", time.Now())
		rejects(t, "empty secret", h, body)
		rejects(t, "no headers", http.Header{}, body)
		if fake.Timestamped() {
			h, body = fake.Webhook(id, fake.Secret(), time.Now())
			rejects(t, "tampered body", h, append(body[:len(body):len(body)], ' '))
			h, body = fake.Webhook(id, fake.Secret(), time.Now().Add(-10*time.Minute))
			rejects(t, "timestamp 10 minutes old", h, body)
			h, body = fake.Webhook(id, fake.Secret(), time.Now().Add(10*time.Minute))
			rejects(t, "timestamp 10 minutes ahead", h, body)
		}
	})

	t.Run("Install_ThenUninstall", func(t *testing.T) {
		req := helpdesk.InstallRequest{CallbackBaseURL: "https://doorstep.test", ConnectionID: "conn-1"}
		inst, err := desk.Install(ctx(t), req)
		if err != nil {
			t.Fatalf("Install: %v", err)
		}
		if len(inst.Resources)+len(inst.Settings) == 0 {
			t.Fatalf("Install returned nothing to create or enter")
		}
		if err := desk.Uninstall(ctx(t), inst); err != nil {
			t.Fatalf("Uninstall: %v", err)
		}
		for _, kind := range []string{"integrations", "widgets"} {
			if ids := fake.Resources(kind); len(ids) != 0 {
				t.Errorf("after Uninstall the fake still has %s %v", kind, ids)
			}
		}
		if err := desk.Uninstall(ctx(t), inst); err != nil {
			t.Errorf("second Uninstall: %v (already-removed objects are not an error)", err)
		}
	})
}
