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

func raiseAlert(t *testing.T, s *models.Store, a models.Alert) models.Alert {
	t.Helper()
	err := s.InTx(context.Background(), func(tx *models.Tx) error {
		_, err := tx.RaiseAlert(&a)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// An alert awaits a ticket on each active connection that opens tickets
// for its reason, until a request for its order and reason exists there;
// alerts raised before the connection was made never do.
func TestAlertsAwaitingTickets_ReasonsConnectionsAndRequests(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "tickets.myshopify.com", models.Token{AccessToken: "x"})
	before := raiseAlert(t, s, models.Alert{ShopID: shop.ID, OrderPlatformID: 1, Kind: "delay", Subject: "f:1", Reason: "late"})
	time.Sleep(10 * time.Millisecond)

	delays := models.HelpdeskConnection{ShopID: shop.ID, Kind: "gorgias", BaseURL: "https://a.gorgias.com", Email: "a@x.test", TicketReasons: "delay, failed"}
	reports := models.HelpdeskConnection{ShopID: shop.ID, Kind: "zendesk", BaseURL: "https://a.zendesk.com", Email: "a@x.test", TicketReasons: "shopper_report"}
	for i, c := range []*models.HelpdeskConnection{&delays, &reports} {
		if err := s.CreateHelpdeskConnection(ctx, c, models.HelpdeskCredentials{APIKey: "k"}, "secret-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	late := raiseAlert(t, s, models.Alert{ShopID: shop.ID, OrderPlatformID: 2, Kind: "delay", Subject: "f:2", Reason: "late"})
	stalled := raiseAlert(t, s, models.Alert{ShopID: shop.ID, OrderPlatformID: 2, Kind: "delay", Subject: "f:3", Reason: "stalled"})
	raiseAlert(t, s, models.Alert{ShopID: shop.ID, OrderPlatformID: 2, Kind: "delay", Subject: "f:2", Reason: "carrier_failure"})

	since := time.Now().Add(-time.Hour)
	got, err := s.AlertsAwaitingTickets(ctx, "delay", []string{"late", "stalled", "attempted"}, models.TicketReasonDelay, since, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].AlertID != late.ID || got[1].AlertID != stalled.ID || got[0].ConnectionID != delays.ID {
		t.Fatalf("awaiting = %+v (alert before the connection: %d)", got, before.ID)
	}
	// The zendesk connection opens no delay tickets; it awaits reports.
	if got, _ := s.AlertsAwaitingTickets(ctx, "shopper_report", nil, models.TicketReasonReport, since, 100); len(got) != 0 {
		t.Fatalf("reports awaiting = %+v", got)
	}

	// One request for order 2's delay covers both delay alerts.
	r := models.TicketRequest{ShopID: shop.ID, ConnectionID: delays.ID, DedupKey: models.TicketDedupKey(2, models.TicketReasonDelay),
		OrderPlatformID: 2, Reason: models.TicketReasonDelay, AlertID: late.ID}
	if created, err := s.RequestTicket(ctx, &r); err != nil || !created || r.Status != models.TicketRequestPending {
		t.Fatalf("request: %v %v %+v", created, err, r)
	}
	again := models.TicketRequest{ShopID: shop.ID, ConnectionID: delays.ID, DedupKey: r.DedupKey, OrderPlatformID: 2,
		Reason: models.TicketReasonDelay, AlertID: stalled.ID}
	if created, err := s.RequestTicket(ctx, &again); err != nil || created || again.ID != r.ID || again.AlertID != late.ID {
		t.Fatalf("request again: %v %v %+v", created, err, again)
	}
	if got, _ := s.AlertsAwaitingTickets(ctx, "delay", []string{"late", "stalled", "attempted"}, models.TicketReasonDelay, since, 100); len(got) != 0 {
		t.Fatalf("after the request, awaiting = %+v", got)
	}
	// The failure is another reason: still awaiting.
	if got, _ := s.AlertsAwaitingTickets(ctx, "delay", []string{"carrier_failure"}, models.TicketReasonFailed, since, 100); len(got) != 1 {
		t.Fatalf("failure awaiting = %+v", got)
	}
	// A disconnected desk awaits nothing.
	if err := s.DisconnectHelpdesk(ctx, shop.ID, delays.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AlertsAwaitingTickets(ctx, "delay", []string{"carrier_failure"}, models.TicketReasonFailed, since, 100); len(got) != 0 {
		t.Fatalf("disconnected, failure awaiting = %+v", got)
	}
}

// Only one of many concurrent claims wins; the winner's lease keeps the
// others out until it runs out; a finished request is never claimed again.
func TestClaimTicketRequest_OneRunAtATime(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "claims.myshopify.com", models.Token{AccessToken: "x"})
	c := models.HelpdeskConnection{ShopID: shop.ID, Kind: "gorgias", BaseURL: "https://a.gorgias.com", Email: "a@x.test"}
	if err := s.CreateHelpdeskConnection(ctx, &c, models.HelpdeskCredentials{APIKey: "k"}, "secret-claims"); err != nil {
		t.Fatal(err)
	}
	r := models.TicketRequest{ShopID: shop.ID, ConnectionID: c.ID, DedupKey: models.TicketDedupKey(9, "delay"), OrderPlatformID: 9, Reason: "delay"}
	if _, err := s.RequestTicket(ctx, &r); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var mu sync.Mutex
	wins := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, claimed, err := s.ClaimTicketRequest(ctx, r.ID, now, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if claimed {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims won, want 1", wins)
	}
	// After the lease, the run is presumed dead.
	if _, claimed, _ := s.ClaimTicketRequest(ctx, r.ID, now.Add(2*time.Minute), time.Minute); !claimed {
		t.Fatal("an expired lease was not taken over")
	}
	if err := s.ReleaseTicketRequest(ctx, r.ID, "http 503", true, now); err != nil {
		t.Fatal(err)
	}
	// Releasing twice: the second run no longer holds it.
	if err := s.ReleaseTicketRequest(ctx, r.ID, "http 503", true, now); !errors.Is(err, models.ErrTicketRequestNotClaimed) {
		t.Fatalf("second release: %v", err)
	}
	if _, claimed, _ := s.ClaimTicketRequest(ctx, r.ID, now, time.Minute); !claimed {
		t.Fatal("a released request was not claimed")
	}
	tk := models.Ticket{ShopID: shop.ID, ConnectionID: c.ID, ExternalID: "77", Status: models.TicketOpen, OrderPlatformID: 9, DedupKey: r.DedupKey}
	if err := s.CompleteTicketRequest(ctx, r.ID, tk, now); err != nil {
		t.Fatal(err)
	}
	got, claimed, err := s.ClaimTicketRequest(ctx, r.ID, now.Add(time.Hour), time.Minute)
	if err != nil || claimed || got.Status != models.TicketRequestCreated || got.ExternalID != "77" || got.Attempts != 2 {
		t.Fatalf("after completion: %+v claimed=%v err=%v", got, claimed, err)
	}
	var n int64
	s.DB().Model(&models.Ticket{}).Where("connection_id = ? AND external_id = ? AND order_platform_id = 9", c.ID, "77").Count(&n)
	if n != 1 {
		t.Fatalf("%d ticket rows, want 1", n)
	}
}

// A delivery rating of 1–2 with a comment raises one alert per order
// however often it is saved; without a comment, or rated 3, none.
func TestSaveFeedback_LowDSATWithCommentRaisesOneAlert(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "dsat.myshopify.com", models.Token{AccessToken: "x"})
	save := func(order int64, rating int, comment string) {
		t.Helper()
		f := models.Feedback{ShopID: shop.ID, OrderPlatformID: order, Kind: models.FeedbackDelivery, Rating: rating, Comment: comment}
		if err := s.SaveFeedback(ctx, &f); err != nil {
			t.Fatal(err)
		}
	}
	save(1, 1, "")
	save(1, 2, "Left in the rain, box soaked.")
	save(1, 2, "Left in the rain, box soaked. Still waiting for an answer.")
	save(2, 1, "   ")
	save(3, 3, "Fine I guess")
	// A long comment in a multi-byte script is cut on a character boundary.
	save(4, 1, strings.Repeat("é", 3000))

	var alerts []models.Alert
	if err := s.DB().Where("shop_id = ?", shop.ID).Order("id").Find(&alerts).Error; err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 || alerts[0].OrderPlatformID != 1 || alerts[0].Kind != models.AlertLowDSAT ||
		alerts[0].Detail != "Left in the rain, box soaked." || alerts[1].OrderPlatformID != 4 || len(alerts[1].Detail) != 1024 {
		t.Fatalf("alerts = %+v", alerts)
	}
}
