package models_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func TestSidebarOrders_NewestOfTheShopByEmailOrCustomer_WithTheCount(t *testing.T) {
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "sidebar.myshopify.com", models.Token{AccessToken: "x"})
	other := installShop(t, s, "other.myshopify.com", models.Token{AccessToken: "y"})
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	add := func(shopID uint64, id int64, email string, customer int64, at time.Time, redacted bool) {
		t.Helper()
		o := models.Order{ShopID: shopID, PlatformID: id, Name: "#" + strconv.FormatInt(1000+id, 10), Email: email,
			CustomerPlatformID: customer, PlatformCreatedAt: at, PlatformUpdatedAt: at}
		if redacted {
			o.RedactedAt = &at
		}
		if err := s.DB().Create(&o).Error; err != nil {
			t.Fatal(err)
		}
	}
	for i := int64(1); i <= 11; i++ {
		add(shop.ID, i, "ana@example.com", 0, t0.Add(time.Duration(i)*time.Hour), false)
	}
	add(shop.ID, 12, "", 77, t0.Add(20*time.Hour), false)                 // the customer's, no email
	add(shop.ID, 13, "Ana@Example.com", 0, t0.Add(30*time.Hour), false)   // as typed at checkout
	add(shop.ID, 14, "ana@example.com", 0, t0.Add(40*time.Hour), true)    // redacted
	add(other.ID, 15, "ana@example.com", 77, t0.Add(50*time.Hour), false) // another shop's

	ids, total, err := s.SidebarOrders(ctx, shop.ID, "ana@example.com", []int64{77}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if total != 12 || len(ids) != 10 || ids[0] != 12 || ids[9] != 3 {
		t.Fatalf("ids %v, total %d: want 10 newest of 12 (lower-case email or customer 77)", ids, total)
	}
	ids, total, err = s.SidebarOrders(ctx, shop.ID, "Ana@Example.com", nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if total != 12 || ids[0] != 13 {
		t.Fatalf("as typed: ids %v, total %d", ids, total)
	}
	// Fewer than the limit: no count query needed, the total is the rows.
	ids, total, err = s.SidebarOrders(ctx, shop.ID, "", []int64{77}, 10)
	if err != nil || total != 1 || len(ids) != 1 || ids[0] != 12 {
		t.Fatalf("by customer: %v %d %v", ids, total, err)
	}
	if ids, total, err = s.SidebarOrders(ctx, shop.ID, "nobody@example.com", nil, 10); err != nil || total != 0 || len(ids) != 0 {
		t.Fatalf("unknown: %v %d %v", ids, total, err)
	}
	if ids, total, err = s.SidebarOrders(ctx, shop.ID, " ", nil, 10); err != nil || total != 0 || len(ids) != 0 {
		t.Fatalf("blank: %v %d %v", ids, total, err)
	}
}

func TestManualPointsSince_SumsThePrefixSinceTheTime(t *testing.T) {
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "goodwill.myshopify.com", models.Token{AccessToken: "x"})
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 42}
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	post := func(at time.Time, source string, points int64) {
		t.Helper()
		_, _, err := s.PostEntriesAt(ctx, at, key, []models.LoyaltyEntry{{Kind: models.EntryAdjust, SourceType: models.SourceManual,
			SourceID: source, Points: points, Reason: "r", Actor: "a"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	post(now.Add(-2*time.Hour), "42:helpdesk:1:a", 100)
	post(now.Add(-time.Hour), "42:helpdesk:2:b", 50)
	post(now.Add(-30*time.Hour), "42:helpdesk:1:old", 400) // before the window
	post(now.Add(-time.Hour), "42:admin-key", 1000)        // the merchant's own

	got, err := s.ManualPointsSince(ctx, key, "42:helpdesk:", now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got != 150 {
		t.Fatalf("sum %d, want 150", got)
	}
	if got, err = s.ManualPointsSince(ctx, models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 43}, "43:helpdesk:", now.Add(-24*time.Hour)); err != nil || got != 0 {
		t.Fatalf("another customer: %d %v", got, err)
	}
}
