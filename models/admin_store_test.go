package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func insertDelivery(t *testing.T, s *models.Store, domain, eventID string) models.Delivery {
	t.Helper()
	d := &models.Delivery{Platform: models.PlatformShopify, ShopDomain: domain, Topic: "orders/create", EventID: eventID, Body: []byte(`{}`)}
	if ok, err := s.InsertDelivery(context.Background(), d); err != nil || !ok {
		t.Fatalf("insert delivery: %v %v", ok, err)
	}
	return *d
}

func finish(t *testing.T, s *models.Store, id, shopID uint64, status string) {
	t.Helper()
	if err := s.InTx(context.Background(), func(tx *models.Tx) error {
		return tx.FinishDelivery(id, shopID, 0, status, "")
	}); err != nil {
		t.Fatal(err)
	}
}

func TestReplayDelivery_ConcurrentReplays_OneReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "replay.myshopify.com", models.Token{AccessToken: "x"})
	d := insertDelivery(t, s, shop.Domain, "ev-1")
	if err := s.FailDelivery(ctx, d.ID, "parse: bad"); err != nil {
		t.Fatal(err)
	}

	const racers = 10
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.ReplayDelivery(ctx, shop, d.ID) }()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		var refused *models.ReplayRefused
		switch {
		case err == nil:
			won++
		case errors.As(err, &refused) && errors.Is(err, models.ErrConflict) && refused.Status == models.DeliveryReceived:
		default:
			t.Fatalf("racing replay: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d replays reset the delivery, want 1", won)
	}
	got, err := s.Delivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != models.DeliveryReceived || got.Error != "" || got.Attempts != 1 || got.DispatchedAt == nil {
		t.Fatalf("after replay: status %q error %q attempts %d dispatched %v; want received, no error, attempts kept, dispatched",
			got.Status, got.Error, got.Attempts, got.DispatchedAt)
	}
	var audits []models.AuditLog
	if err := s.DB().Where("action = ?", models.AuditReplay).Find(&audits).Error; err != nil {
		t.Fatal(err)
	}
	if len(audits) != 1 || audits[0].ShopID != shop.ID || audits[0].Subject != fmt.Sprintf("delivery:%d", d.ID) || audits[0].Rows != 1 {
		t.Fatalf("audit rows = %+v, want one for delivery:%d", audits, d.ID)
	}
}

func TestReplayDelivery_RefusesWhatIsNotReplayable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "refuse.myshopify.com", models.Token{AccessToken: "x"})
	other := installShop(t, s, "other.myshopify.com", models.Token{AccessToken: "x"})

	processed := insertDelivery(t, s, shop.Domain, "processed")
	finish(t, s, processed.ID, shop.ID, models.DeliveryProcessed)
	pending := insertDelivery(t, s, shop.Domain, "pending")
	expired := insertDelivery(t, s, shop.Domain, "expired")
	if err := s.FailDelivery(ctx, expired.ID, "parse: bad"); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Model(&models.Delivery{}).Where("id = ?", expired.ID).Update("body", nil).Error; err != nil {
		t.Fatal(err)
	}
	othersFailed := insertDelivery(t, s, other.Domain, "theirs")
	if err := s.FailDelivery(ctx, othersFailed.ID, "parse: bad"); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		id     uint64
		status string
	}{
		{"processed", processed.ID, models.DeliveryProcessed},
		{"pending", pending.ID, models.DeliveryReceived},
		{"body dropped by retention", expired.ID, models.DeliveryFailed},
	} {
		err := s.ReplayDelivery(ctx, shop, c.id)
		var refused *models.ReplayRefused
		if !errors.As(err, &refused) || !errors.Is(err, models.ErrConflict) || refused.Status != c.status || refused.Reason == "" {
			t.Errorf("%s: %v, want a ReplayRefused (conflict) in status %s", c.name, err, c.status)
		}
	}
	if err := s.ReplayDelivery(ctx, shop, othersFailed.ID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("another shop's delivery: %v, want ErrNotFound", err)
	}
	if err := s.ReplayDelivery(ctx, shop, 999999); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("no such delivery: %v, want ErrNotFound", err)
	}
	if got, _ := s.Delivery(ctx, othersFailed.ID); got.Status != models.DeliveryFailed {
		t.Fatalf("another shop's delivery is now %s", got.Status)
	}
	var n int64
	s.DB().Model(&models.AuditLog{}).Count(&n)
	if n != 0 {
		t.Fatalf("audit rows = %d after refused replays, want 0", n)
	}
}

func TestListDeliveries_ShopIDOrDomain_NoBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "list.myshopify.com", models.Token{AccessToken: "x"})
	other := installShop(t, s, "else.myshopify.com", models.Token{AccessToken: "x"})
	unprocessed := insertDelivery(t, s, shop.Domain, "a")
	processed := insertDelivery(t, s, shop.Domain, "b")
	finish(t, s, processed.ID, shop.ID, models.DeliveryProcessed)
	insertDelivery(t, s, other.Domain, "c")
	insertDelivery(t, s, "stranger.myshopify.com", "d")

	ds, err := s.ListDeliveries(ctx, shop, models.DeliverySearch{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].ID != processed.ID || ds[1].ID != unprocessed.ID {
		t.Fatalf("deliveries = %+v, want processed then unprocessed, both the shop's", ds)
	}
	for _, d := range ds {
		if d.Body != nil {
			t.Fatalf("delivery %d listed with its body", d.ID)
		}
	}
	ds, err = s.ListDeliveries(ctx, shop, models.DeliverySearch{Status: models.DeliveryReceived, Limit: 10})
	if err != nil || len(ds) != 1 || ds[0].ID != unprocessed.ID {
		t.Fatalf("received deliveries = %+v %v", ds, err)
	}
	ds, err = s.ListDeliveries(ctx, shop, models.DeliverySearch{Limit: 10, After: processed.ID})
	if err != nil || len(ds) != 1 || ds[0].ID != unprocessed.ID {
		t.Fatalf("page after %d = %+v %v", processed.ID, ds, err)
	}
}

func TestSearchOrders_KeysetWalk_EqualCreationTimes_NoDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "walk.myshopify.com", models.Token{AccessToken: "x"})
	other := installShop(t, s, "walk-other.myshopify.com", models.Token{AccessToken: "x"})
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	put := func(shopID uint64, id int64, created time.Time) {
		t.Helper()
		o := order(id, created, "paid")
		o.Name = fmt.Sprintf("#%d", id)
		if err := s.InTx(ctx, func(tx *models.Tx) error { _, _, err := tx.UpsertOrder(shopID, o); return err }); err != nil {
			t.Fatal(err)
		}
	}
	// Four orders share a creation time: the id breaks the tie.
	for i, at := range []time.Time{t0, t0.Add(time.Hour), t0, t0, t0.Add(-time.Hour), t0, t0.Add(2 * time.Hour)} {
		put(shop.ID, int64(100+i), at)
	}
	put(other.ID, 999, t0)

	var walked []int64
	after := uint64(0)
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("walk does not end")
		}
		got, err := s.SearchOrders(ctx, shop.ID, models.OrderSearch{Limit: 3, After: after})
		if err != nil {
			t.Fatal(err)
		}
		more := len(got) > 3
		if more {
			got = got[:3]
		}
		for _, o := range got {
			walked = append(walked, o.PlatformID)
		}
		if !more {
			break
		}
		after = got[len(got)-1].ID
	}
	// Newest first; equal times by id, newest row first.
	want := []int64{106, 101, 105, 103, 102, 100, 104}
	if fmt.Sprint(walked) != fmt.Sprint(want) {
		t.Fatalf("walked %v, want %v", walked, want)
	}

	var otherRow models.Order
	if err := s.DB().Where("shop_id = ?", other.ID).Take(&otherRow).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := s.SearchOrders(ctx, shop.ID, models.OrderSearch{Limit: 3, After: otherRow.ID}); !errors.Is(err, models.ErrBadCursor) {
		t.Fatalf("cursor of another shop's order: %v, want ErrBadCursor", err)
	}
	got, err := s.SearchOrders(ctx, shop.ID, models.OrderSearch{Q: "#999", Limit: 3})
	if err != nil || len(got) != 0 {
		t.Fatalf("search for another shop's order = %+v %v, want none", got, err)
	}
}
