package models_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func TestHelpdeskConnection_SealedFoundBySecretOnePerKind(t *testing.T) {
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "hd.myshopify.com", models.Token{AccessToken: "x"})

	c := models.HelpdeskConnection{ShopID: shop.ID, Kind: "gorgias", BaseURL: "https://acme.gorgias.com", Email: "a@acme.test"}
	if err := s.CreateHelpdeskConnection(ctx, &c, models.HelpdeskCredentials{APIKey: "key-123"}, "secret-abc"); err != nil {
		t.Fatal(err)
	}
	// The credentials and the secret are not stored in the clear.
	var raw models.HelpdeskConnection
	if err := s.DB().Take(&raw, c.ID).Error; err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{raw.CredentialsEnc, raw.SecretEnc} {
		if len(b) == 0 || string(b) == "secret-abc" || strings.Contains(string(b), "key-123") || strings.Contains(string(b), "secret-abc") {
			t.Fatalf("stored in the clear: %q", b)
		}
	}
	got, err := s.HelpdeskConnectionBySecret(ctx, "gorgias", "secret-abc")
	if err != nil || got.ID != c.ID {
		t.Fatalf("by secret: %+v %v", got, err)
	}
	creds, secret, err := s.HelpdeskCredentialsOf(got)
	if err != nil || creds.APIKey != "key-123" || secret != "secret-abc" {
		t.Fatalf("credentials: %+v %q %v", creds, secret, err)
	}
	if _, err := s.HelpdeskConnectionBySecret(ctx, "gorgias", "secret-abd"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := s.HelpdeskConnectionBySecret(ctx, "zendesk", "secret-abc"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("wrong kind: %v", err)
	}

	// Concurrent connects of the same kind: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := models.HelpdeskConnection{ShopID: shop.ID, Kind: "zendesk", BaseURL: "https://acme.zendesk.com"}
			errs[i] = s.CreateHelpdeskConnection(ctx, &d, models.HelpdeskCredentials{APIToken: "t"}, "z-secret-"+string(rune('a'+i)))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, models.ErrConnectionExists):
			t.Fatalf("concurrent connect: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent connects of one kind succeeded", won)
	}

	if err := s.DisconnectHelpdesk(ctx, shop.ID, c.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HelpdeskConnectionBySecret(ctx, "gorgias", "secret-abc"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a disconnected connection still answers: %v", err)
	}
	if err := s.DisconnectHelpdesk(ctx, shop.ID+1, c.ID, time.Now()); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("another shop disconnected it: %v", err)
	}
}

func TestTickets_OpenTicketHoldsUntilClosedAndOldEventsLose(t *testing.T) {
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "tk.myshopify.com", models.Token{AccessToken: "x"})
	o := models.Order{ShopID: shop.ID, PlatformID: 9001, Name: "#9001", Email: "Ana@Example.com", PlatformUpdatedAt: time.Now()}
	if err := s.DB().Create(&o).Error; err != nil {
		t.Fatal(err)
	}
	c := models.HelpdeskConnection{ShopID: shop.ID, Kind: "gorgias", BaseURL: "https://acme.gorgias.com"}
	if err := s.CreateHelpdeskConnection(ctx, &c, models.HelpdeskCredentials{APIKey: "k"}, "s1"); err != nil {
		t.Fatal(err)
	}
	open := func() bool {
		t.Helper()
		ok, err := s.OpenTicketForOrder(ctx, shop.ID, 9001)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if open() {
		t.Fatal("open ticket before any ticket")
	}
	t1 := time.Now().Add(-time.Hour).UTC()
	t2 := t1.Add(30 * time.Minute)
	if ch, err := s.UpsertTicket(ctx, models.Ticket{ShopID: shop.ID, ConnectionID: c.ID, ExternalID: "77", CustomerEmail: " ana@example.COM ",
		Status: models.TicketOpen, RemoteUpdatedAt: &t1}); err != nil || !ch {
		t.Fatalf("new ticket: %v %v", ch, err)
	}
	if !open() {
		t.Fatal("an open ticket for the order's email does not hold")
	}
	if ch, err := s.UpsertTicket(ctx, models.Ticket{ShopID: shop.ID, ConnectionID: c.ID, ExternalID: "77", Status: models.TicketClosed, RemoteUpdatedAt: &t2}); err != nil || !ch {
		t.Fatalf("close: %v %v", ch, err)
	}
	if open() {
		t.Fatal("a closed ticket still holds")
	}
	// A late "open" from before the close changes nothing.
	if ch, err := s.UpsertTicket(ctx, models.Ticket{ShopID: shop.ID, ConnectionID: c.ID, ExternalID: "77", Status: models.TicketOpen, RemoteUpdatedAt: &t1}); err != nil || ch {
		t.Fatalf("late event: %v %v", ch, err)
	}
	if open() {
		t.Fatal("a late, older event reopened the ticket")
	}
	// A ticket on a disconnected helpdesk holds nothing.
	if _, err := s.UpsertTicket(ctx, models.Ticket{ShopID: shop.ID, ConnectionID: c.ID, ExternalID: "78", CustomerEmail: "ana@example.com", Status: models.TicketOpen}); err != nil {
		t.Fatal(err)
	}
	if !open() {
		t.Fatal("second open ticket does not hold")
	}
	if err := s.DisconnectHelpdesk(ctx, shop.ID, c.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if open() {
		t.Fatal("a disconnected helpdesk's ticket still holds")
	}
}
