package app

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// TestSidebar_BigShopLatency is an opt-in measurement (DOORSTEP_SIDEBAR_BIG=1,
// a few minutes): the sidebar for a customer with 50 orders in a shop with
// 1,000,000, without concurrent load. `doorstep bench sidebar` is the
// benchmark of record (with webhooks arriving and workers running).
func TestSidebar_BigShopLatency(t *testing.T) {
	if os.Getenv("DOORSTEP_SIDEBAR_BIG") != "1" {
		t.Skip("set DOORSTEP_SIDEBAR_BIG=1 to measure the sidebar on a 1,000,000-order shop")
	}
	s := newSidebarShop(t)
	e, ctx := s.e, context.Background()
	db := e.app.db.WithContext(ctx)
	start := time.Now()
	// 1,000,000 orders of 200,000 other customers, and 47 more of ours
	// (50 with the three the fixture has), spread over two years.
	err := db.Exec(`INSERT INTO orders (shop_id, platform_id, name, email, customer_platform_id, currency, total,
		financial_status, platform_created_at, platform_updated_at, created_at, updated_at)
		SELECT ?, 7000000000000000 + g, '#' || (100000 + g), 'shopper' || (g % 200000) || '@example.com', 8000000 + (g % 200000),
		'EUR', 42.50, 'paid', now() - (g % 730) * interval '1 day', now(), now(), now()
		FROM generate_series(1, 1000000) AS g`, s.shop.ID).Error
	if err != nil {
		t.Fatal(err)
	}
	err = db.Exec(`INSERT INTO orders (shop_id, platform_id, name, email, customer_platform_id, currency, total,
		financial_status, platform_created_at, platform_updated_at, created_at, updated_at)
		SELECT ?, 7100000000000000 + g, '#' || (900000 + g), ?, 0, 'EUR', 10.00, 'paid', now() - g * interval '3 day', now(), now(), now()
		FROM generate_series(1, 47) AS g`, s.shop.ID, shopperEmail).Error
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`ANALYZE`).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded in %v", time.Since(start))

	var took []time.Duration
	for i := 0; i < 300; i++ {
		start := time.Now()
		v, err := e.app.sidebarFor(ctx, s.shop, shopperEmail, "")
		if err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		if v.MoreOrders != 40 {
			t.Fatalf("%d more orders, want 40", v.MoreOrders)
		}
	}
	slices.Sort(took)
	p := func(q float64) time.Duration { return took[int(q*float64(len(took)-1))] }
	t.Logf("sidebar for 50 orders in 1,000,000: p50 %v, p95 %v, p99 %v, max %v", p(0.5), p(0.95), p(0.99), took[len(took)-1])
	if p(0.99) > 100*time.Millisecond {
		t.Errorf("p99 %v, want under 100ms", p(0.99))
	}
}
