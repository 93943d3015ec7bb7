package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// The intake's one lookup finds an active connection with its shop's
// domain, and nothing once it is disconnected.
func TestHelpdeskWebhookTarget_ActiveOnlyWithShopDomain(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "target.myshopify.com", models.Token{AccessToken: "x"})
	c := models.HelpdeskConnection{ShopID: shop.ID, Kind: "freshdesk", BaseURL: "https://acme.freshdesk.com"}
	if err := s.CreateHelpdeskConnection(ctx, &c, models.HelpdeskCredentials{APIKey: "k"}, "s-target"); err != nil {
		t.Fatal(err)
	}
	got, domain, err := s.HelpdeskWebhookTarget(ctx, c.ID)
	if err != nil || got.ID != c.ID || got.Kind != "freshdesk" || len(got.SecretEnc) == 0 || domain != "target.myshopify.com" {
		t.Fatalf("target = %+v %q %v", got, domain, err)
	}
	if _, secret, err := s.HelpdeskCredentialsOf(got); err != nil || secret != "s-target" {
		t.Fatalf("the looked-up row does not open: %q %v", secret, err)
	}
	if _, _, err := s.HelpdeskWebhookTarget(ctx, c.ID+100); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if err := s.DisconnectHelpdesk(ctx, shop.ID, c.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.HelpdeskWebhookTarget(ctx, c.ID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("disconnected: %v", err)
	}
	if err := s.SetHelpdeskTicketReasons(ctx, shop.ID, c.ID, []string{models.TicketReasonDelay}); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("reasons on a disconnected connection: %v", err)
	}
}

// The Tx versions agree with the Store's, and closing a ticket resumes
// the held messages of the customer's orders only.
func TestTicketsInTx_UpsertOpenResume(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "tx-tickets.myshopify.com", models.Token{AccessToken: "x"})
	for _, o := range []models.Order{
		{ShopID: shop.ID, PlatformID: 1, Name: "#1", Email: "Ana@Example.com", PlatformUpdatedAt: time.Now()},
		{ShopID: shop.ID, PlatformID: 2, Name: "#2", Email: "ana@example.com", PlatformUpdatedAt: time.Now()},
		{ShopID: shop.ID, PlatformID: 3, Name: "#3", Email: "bo@example.com", PlatformUpdatedAt: time.Now()},
	} {
		if err := s.DB().Create(&o).Error; err != nil {
			t.Fatal(err)
		}
	}
	c := models.HelpdeskConnection{ShopID: shop.ID, Kind: "gorgias", BaseURL: "https://acme.gorgias.com"}
	if err := s.CreateHelpdeskConnection(ctx, &c, models.HelpdeskCredentials{APIKey: "k"}, "s-tx"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour).UTC()
	var msgs []uint64
	for _, order := range []int64{1, 2, 3} {
		m := &models.Message{ShopID: shop.ID, OrderPlatformID: order, Flow: "review_request", Step: "ask", Channel: "email", Recipient: "r@example.com"}
		if _, err := s.QueueMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		held := time.Now().UTC()
		if err := s.DB().Model(m).Updates(map[string]any{"status": models.MessageDeferred, "held_since": held, "due_at": later}).Error; err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m.ID)
	}
	inTx := func(fn func(tx *models.Tx) error) {
		t.Helper()
		if err := s.InTx(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	openBoth := func(order int64) bool {
		t.Helper()
		viaStore, err := s.OpenTicketForOrder(ctx, shop.ID, order)
		if err != nil {
			t.Fatal(err)
		}
		var viaTx bool
		inTx(func(tx *models.Tx) (err error) { viaTx, err = tx.OpenTicketForOrder(shop.ID, order); return err })
		if viaStore != viaTx {
			t.Fatalf("order %d: store says %v, tx says %v", order, viaStore, viaTx)
		}
		return viaTx
	}
	t1 := time.Now().Add(-time.Hour).UTC()
	t2 := t1.Add(time.Minute)
	upsert := func(status string, at time.Time) (changed bool) {
		t.Helper()
		inTx(func(tx *models.Tx) (err error) {
			changed, err = tx.UpsertTicket(models.Ticket{ShopID: shop.ID, ConnectionID: c.ID, ExternalID: "9", CustomerEmail: "ANA@example.com ",
				Status: status, Subject: "Late", RemoteUpdatedAt: &at})
			return err
		})
		return changed
	}
	if !upsert(models.TicketOpen, t1) || !openBoth(1) || !openBoth(2) || openBoth(3) {
		t.Fatal("a new open ticket does not hold exactly Ana's orders")
	}
	if !upsert(models.TicketClosed, t2) || upsert(models.TicketOpen, t1) || openBoth(1) {
		t.Fatal("close, then a late older open: want closed")
	}
	var resumed int64
	inTx(func(tx *models.Tx) (err error) { resumed, err = tx.ResumeHeldForTicket(shop.ID, c.ID, "9"); return err })
	if resumed != 2 {
		t.Fatalf("resumed %d messages, want Ana's 2", resumed)
	}
	for i, id := range msgs {
		var m models.Message
		if err := s.DB().Take(&m, id).Error; err != nil {
			t.Fatal(err)
		}
		if due := m.DueAt.Before(time.Now().Add(time.Minute)); due != (i < 2) {
			t.Errorf("message of order %d due %s", m.OrderPlatformID, m.DueAt)
		}
	}
}
