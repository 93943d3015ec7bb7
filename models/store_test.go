package models_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func TestMain(m *testing.M) { os.Exit(modelstest.Main(m)) }

func installShop(t *testing.T, s *models.Store, domain string, tok models.Token) models.Shop {
	t.Helper()
	shop, err := s.SaveInstall(context.Background(), models.Shop{Platform: models.PlatformShopify, Domain: domain, Name: "Acme"}, tok)
	if err != nil {
		t.Fatal(err)
	}
	return shop
}

func order(id int64, updated time.Time, status string) *models.Order {
	return &models.Order{PlatformID: id, Name: "#1001", FinancialStatus: status, Currency: "USD",
		Total: decimal.RequireFromString("10.50"), PlatformUpdatedAt: updated, PlatformCreatedAt: updated}
}

func TestUpsertOrder_OlderUpdateChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "a.myshopify.com", models.Token{AccessToken: "x"})
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

	apply := func(o *models.Order) (prev *models.Order, applied bool) {
		t.Helper()
		err := s.InTx(ctx, func(tx *models.Tx) error {
			var err error
			prev, applied, err = tx.UpsertOrder(shop.ID, o)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return prev, applied
	}
	if prev, applied := apply(order(1, t0, "pending")); prev != nil || !applied {
		t.Fatalf("first insert: prev=%v applied=%v", prev, applied)
	}
	if prev, applied := apply(order(1, t0.Add(2*time.Minute), "paid")); prev == nil || !applied || prev.FinancialStatus != "pending" {
		t.Fatalf("newer update: prev=%+v applied=%v", prev, applied)
	}
	if _, applied := apply(order(1, t0.Add(time.Minute), "refunded")); applied {
		t.Fatal("an older update was applied")
	}
	if _, applied := apply(order(1, t0.Add(2*time.Minute), "voided")); applied {
		t.Fatal("an update with the same updated_at was applied")
	}
	got, err := s.Order(ctx, shop.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.FinancialStatus != "paid" || !got.Total.Equal(decimal.RequireFromString("10.5")) {
		t.Fatalf("stored order = %s %s, want paid 10.50", got.FinancialStatus, got.Total)
	}
}

func TestUpsertOrder_ConcurrentInsertsMakeOneRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "b.myshopify.com", models.Token{AccessToken: "x"})
	t0 := time.Now().UTC().Truncate(time.Second)
	var wg sync.WaitGroup
	var inserted atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.InTx(ctx, func(tx *models.Tx) error {
				prev, _, err := tx.UpsertOrder(shop.ID, order(42, t0, "paid"))
				if prev == nil && err == nil {
					inserted.Add(1)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, _ := s.CountOrders(ctx, shop.ID); n != 1 {
		t.Fatalf("orders = %d, want 1", n)
	}
	if inserted.Load() != 1 {
		t.Fatalf("%d transactions saw themselves insert the order, want 1", inserted.Load())
	}
}

func TestFreshToken_ConcurrentRefreshesCallOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "c.myshopify.com", models.Token{AccessToken: "old", RefreshToken: "r1",
		AccessTokenExpiresAt: time.Now().Add(time.Minute)})
	var calls atomic.Int32
	refresh := func(ctx context.Context, _ models.Shop, old models.Token) (models.Token, error) {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond) // widen the race window
		if old.RefreshToken != "r1" {
			return models.Token{}, errors.New("refresh token already rotated")
		}
		return models.Token{AccessToken: "new", RefreshToken: "r2", AccessTokenExpiresAt: time.Now().Add(time.Hour)}, nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := s.FreshToken(ctx, shop.ID, 5*time.Minute, refresh)
			if err != nil {
				t.Error(err)
				return
			}
			if tok.AccessToken != "new" {
				t.Errorf("token = %q, want new", tok.AccessToken)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("refresh called %d times, want 1", calls.Load())
	}
	// Stored encrypted: the plain token never appears in the row.
	var raw models.Shop
	if err := s.DB().Take(&raw, shop.ID).Error; err != nil {
		t.Fatal(err)
	}
	if string(raw.AccessTokenEnc) == "new" || len(raw.AccessTokenEnc) == 0 {
		t.Fatalf("access token not encrypted at rest: %q", raw.AccessTokenEnc)
	}
}

func TestSaveInstall_ReinstallAfterUninstallKeepsShop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "d.myshopify.com", models.Token{AccessToken: "one"})
	err := s.InTx(ctx, func(tx *models.Tx) error { _, err := tx.MarkUninstalled(shop.ID); return err })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FreshToken(ctx, shop.ID, time.Minute, nil); !errors.Is(err, models.ErrNoToken) {
		t.Fatalf("token after uninstall: err = %v, want ErrNoToken", err)
	}
	again := installShop(t, s, "d.myshopify.com", models.Token{AccessToken: "two"})
	if again.ID != shop.ID || !again.Installed() {
		t.Fatalf("reinstall: id %d (was %d), installed %v", again.ID, shop.ID, again.Installed())
	}
	tok, err := s.FreshToken(ctx, shop.ID, time.Minute, nil)
	if err != nil || tok.AccessToken != "two" {
		t.Fatalf("token after reinstall = %q, %v", tok.AccessToken, err)
	}
}

func TestInsertDelivery_DuplicateIsNotInserted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	d := func(topic string) *models.Delivery {
		return &models.Delivery{Platform: "shopify", ShopDomain: "e.myshopify.com", Topic: topic, EventID: "ev-1", Body: []byte("{}")}
	}
	for i, tc := range []struct {
		topic string
		want  bool
	}{{"orders/create", true}, {"orders/create", false}, {"orders/paid", true}} {
		got, err := s.InsertDelivery(ctx, d(tc.topic))
		if err != nil || got != tc.want {
			t.Fatalf("insert %d (%s): got %v, %v; want %v", i, tc.topic, got, err, tc.want)
		}
	}
	if n, _ := s.CountDeliveries(ctx, "e.myshopify.com", ""); n != 2 {
		t.Fatalf("deliveries = %d, want 2", n)
	}
}

func TestInsertTriggers_SameConsequenceOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	trig := []models.Trigger{{ShopID: 1, Kind: models.TriggerFulfillmentStatus, Subject: "fulfillment:9", Version: "in_transit"}}
	for i, want := range []int{1, 0} {
		var n int
		err := s.InTx(ctx, func(tx *models.Tx) error { var err error; n, err = tx.InsertTriggers(trig); return err })
		if err != nil || n != want {
			t.Fatalf("round %d: inserted %d, %v; want %d", i, n, err, want)
		}
	}
	due, err := s.DueTriggers(ctx, []string{models.TriggerFulfillmentStatus}, time.Now().Add(time.Second), time.Now(), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due = %d, %v", len(due), err)
	}
}

func TestSQLite_MigratesAndUpserts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := models.Open(ctx, config.Config{SQLitePath: filepath.Join(t.TempDir(), "d.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	if err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := models.Migrate(ctx, db); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	c, _ := models.NewCipher(modelstest.Key)
	s := models.NewStore(db, c)
	shop := installShop(t, s, "f.myshopify.com", models.Token{AccessToken: "x"})
	err = s.InTx(ctx, func(tx *models.Tx) error {
		_, _, err := tx.UpsertOrder(shop.ID, order(7, time.Now().UTC(), "paid"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Order(ctx, shop.ID, 7)
	if err != nil || !got.Total.Equal(decimal.RequireFromString("10.5")) {
		t.Fatalf("order on sqlite = %+v, %v", got.Total, err)
	}
}

func TestFulfillment_ScansBeforeFulfillmentAndLaterPayloadsKeepCarrierFacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "g.myshopify.com", models.Token{AccessToken: "x"})
	t0 := time.Now().UTC().Truncate(time.Second)
	eta := t0.Add(48 * time.Hour)
	var f *models.Fulfillment
	err := s.InTx(ctx, func(tx *models.Tx) error {
		// The "delivered" scan arrives before the fulfillment it belongs to.
		if _, _, _, err := tx.ApplyFulfillmentEvent(shop.ID, &models.FulfillmentEvent{PlatformID: 1, FulfillmentPlatformID: 55,
			Status: models.ShipmentDelivered, HappenedAt: t0.Add(time.Hour), EstimatedDeliveryAt: &eta}); err != nil {
			return err
		}
		f = &models.Fulfillment{PlatformID: 55, OrderPlatformID: 9, Status: "success", ShipmentStatus: models.ShipmentConfirmed,
			PlatformUpdatedAt: t0, PlatformCreatedAt: t0}
		_, _, err := tx.UpsertFulfillment(shop.ID, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.ShipmentStatus != models.ShipmentDelivered || f.DeliveredAt == nil {
		t.Fatalf("fulfillment after an earlier scan = %s delivered %v, want delivered", f.ShipmentStatus, f.DeliveredAt)
	}
	// A newer payload without carrier facts (an orders/updated) keeps them.
	err = s.InTx(ctx, func(tx *models.Tx) error {
		_, applied, err := tx.UpsertFulfillment(shop.ID, &models.Fulfillment{PlatformID: 55, OrderPlatformID: 9, Status: "success",
			ShipmentStatus: models.ShipmentConfirmed, PlatformUpdatedAt: t0.Add(2 * time.Hour), PlatformCreatedAt: t0})
		if !applied {
			t.Error("newer payload not applied")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got models.Fulfillment
	if err := s.DB().Where("platform_id = ?", 55).Take(&got).Error; err != nil {
		t.Fatal(err)
	}
	if got.ShipmentStatus != models.ShipmentDelivered || got.DeliveredAt == nil || got.EstimatedDeliveryAt == nil {
		t.Fatalf("after a newer payload: status %s delivered %v eta %v; want delivered with both times kept", got.ShipmentStatus, got.DeliveredAt, got.EstimatedDeliveryAt)
	}
}

func TestUpsertOrder_RedactedOrderStaysRedactedAfterNewerUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "h.myshopify.com", models.Token{AccessToken: "x"})
	t0 := time.Now().UTC().Truncate(time.Second)
	o := order(70, t0, "paid")
	o.Email, o.ShippingAddress.Address1, o.CustomerPlatformID = "gone@example.com", "1 Private Road", 700
	if err := s.InTx(ctx, func(tx *models.Tx) error { _, _, err := tx.UpsertOrder(shop.ID, o); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedactCustomer(ctx, shop.ID, 700, "gone@example.com", "", []int64{70}); err != nil {
		t.Fatal(err)
	}
	// The merchant edits the order afterwards: Shopify sends its (unredacted) state.
	newer := order(70, t0.Add(time.Minute), "refunded")
	newer.Email, newer.ShippingAddress.Address1, newer.CustomerPlatformID = "gone@example.com", "1 Private Road", 700
	if err := s.InTx(ctx, func(tx *models.Tx) error { _, _, err := tx.UpsertOrder(shop.ID, newer); return err }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Order(ctx, shop.ID, 70)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "" || got.ShippingAddress.Address1 != "" || got.RedactedAt == nil || got.FinancialStatus != "refunded" {
		t.Fatalf("after a newer update: email %q address %q redacted %v status %s; want still redacted, status updated",
			got.Email, got.ShippingAddress.Address1, got.RedactedAt, got.FinancialStatus)
	}
}
