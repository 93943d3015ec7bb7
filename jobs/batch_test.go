package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
)

func batchOrder(id, customer int64, email, financial string, updated time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "name": fmt.Sprintf("#%d", id), "email": email, "currency": "EUR",
		"total_price": "20.00", "subtotal_price": "20.00", "financial_status": financial,
		"created_at": updated.Add(-time.Minute).Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339),
		"customer": map[string]any{"id": customer, "email": email, "first_name": "Ana",
			"created_at": updated.Add(-time.Hour).Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339)},
		"line_items": []any{map[string]any{"id": id*10 + 1, "product_id": 1, "variant_id": 2, "title": "Tea", "quantity": 1, "price": "20.00"}},
	})
	return b
}

type batchDelivery struct {
	shop, topic, body string
}

// The deliveries a busy shop sends within a second, with the awkward
// cases a batch must get right: two states of one order, a shipment and a
// refund that arrive before their order, a stale update, one customer on
// two orders, a payload that does not parse and a shop we don't know.
func awkwardDeliveries(t0 time.Time) []batchDelivery {
	return []batchDelivery{
		{"batch.myshopify.com", "fulfillments/create", fmt.Sprintf(`{"id":501,"order_id":3,"status":"success","tracking_company":"UPS","tracking_number":"1Z3","shipment_status":"in_transit","created_at":%q,"updated_at":%q,"line_items":[]}`,
			t0.Format(time.RFC3339), t0.Format(time.RFC3339))},
		{"batch.myshopify.com", "orders/create", string(batchOrder(1, 900, "ana@example.com", "pending", t0))},
		{"batch.myshopify.com", "orders/paid", string(batchOrder(1, 900, "ana.new@example.com", "paid", t0.Add(time.Minute)))},
		{"batch.myshopify.com", "orders/updated", string(batchOrder(1, 900, "stale@example.com", "pending", t0.Add(-time.Minute)))},
		{"batch.myshopify.com", "orders/create", string(batchOrder(2, 900, "ana.old@example.com", "paid", t0.Add(-30*time.Second)))},
		{"batch.myshopify.com", "refunds/create", fmt.Sprintf(`{"id":701,"order_id":3,"created_at":%q,"processed_at":%q,"refund_line_items":[],"transactions":[]}`,
			t0.Format(time.RFC3339), t0.Format(time.RFC3339))},
		{"batch.myshopify.com", "orders/paid", string(batchOrder(3, 901, "bo@example.com", "paid", t0))},
		{"batch.myshopify.com", "orders/create", `{"id": "broken"`},
		{"ghost.myshopify.com", "orders/create", string(batchOrder(4, 902, "x@example.com", "paid", t0))},
	}
}

// outcome is everything processing decides, in a comparable form.
func outcome(t *testing.T, s *models.Store) string {
	t.Helper()
	var b strings.Builder
	q := func(sql string) {
		rows, err := s.DB().Raw(sql).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
	}
	q("SELECT event_id, status, error, order_platform_id, attempts FROM deliveries ORDER BY event_id")
	q("SELECT platform_id, financial_status, email FROM orders ORDER BY platform_id")
	q("SELECT o.platform_id, l.platform_id FROM line_items l JOIN orders o ON o.id = l.order_id ORDER BY 1, 2")
	q("SELECT f.platform_id, f.shipment_status, o.platform_id FROM fulfillments f LEFT JOIN orders o ON o.id = f.order_id ORDER BY 1")
	q("SELECT r.platform_id, o.platform_id FROM refunds r LEFT JOIN orders o ON o.id = r.order_id ORDER BY 1")
	q("SELECT platform_id, email FROM customers ORDER BY platform_id")
	q("SELECT kind, subject, version FROM triggers ORDER BY kind, subject, version")
	return b.String()
}

func insertAwkward(t *testing.T, s *models.Store, t0 time.Time) []uint64 {
	t.Helper()
	ctx := context.Background()
	if _, err := s.SaveInstall(ctx, models.Shop{Platform: "shopify", Domain: "batch.myshopify.com"}, models.Token{AccessToken: "t"}); err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for i, bd := range awkwardDeliveries(t0) {
		d := &models.Delivery{Platform: "shopify", ShopDomain: bd.shop, Topic: bd.topic, EventID: fmt.Sprintf("e%02d", i), Body: []byte(bd.body)}
		if _, err := s.InsertDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

// A batch must leave exactly what processing the same deliveries one by
// one, in the order they arrived, leaves.
func TestProcessBatch_SameResultAsOneByOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

	single, ps := newProcessor(t)
	for _, id := range insertAwkward(t, single, t0) {
		_, _ = ps.Process(ctx, id) // the broken payload's SkipRetry is expected
	}
	batched, pb := newProcessor(t)
	ids := insertAwkward(t, batched, t0)
	if _, err := pb.ProcessBatch(ctx, ids); err != nil {
		t.Fatalf("batch: %v", err)
	}

	want, got := outcome(t, single), outcome(t, batched)
	if got != want {
		t.Fatalf("batch result differs from one-by-one\n--- one by one\n%s--- batch\n%s", want, got)
	}
	for _, must := range []string{
		"1 paid ana.new@example.com", // the newest state of order 1, the stale update dropped
		"501 in_transit 3",           // the early shipment linked to its order
		"701 3",                      // the early refund too
		"900 ana.new@example.com",    // the customer's newest version wins
		"e07 failed parse:",          // the broken payload is recorded
		"e08 ignored unknown shop",   // and the unknown shop's
		"order_paid order:1",         // one paid trigger for order 1
		"fulfillment_status fulfillment:501 in_transit",
	} {
		if !strings.Contains(got, must) {
			t.Errorf("batch result lacks %q:\n%s", must, got)
		}
	}
	// Again: nothing changes, nothing is counted twice.
	if n, err := pb.ProcessBatch(ctx, ids); err != nil || n != 0 {
		t.Fatalf("second batch: %d triggers, %v", n, err)
	}
	if again := outcome(t, batched); again != got {
		t.Fatalf("second batch changed something\n--- before\n%s--- after\n%s", got, again)
	}
}

// Two workers given overlapping batches (a re-dispatch that grouped the
// backlog differently) apply every delivery once.
func TestProcessBatch_OverlappingBatchesApplyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	s, p := newProcessor(t)
	ids := insertAwkward(t, s, t0)
	var wg sync.WaitGroup
	parts := [][]uint64{ids, ids[2:], ids[:5], slices.Clone(ids)}
	slices.Reverse(parts[3])
	errs := make([]error, len(parts))
	for i, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.ProcessBatch(ctx, part)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	var attempts []int
	if err := s.DB().Model(&models.Delivery{}).Order("id").Pluck("attempts", &attempts).Error; err != nil {
		t.Fatal(err)
	}
	for i, a := range attempts {
		if a != 1 {
			t.Errorf("delivery %d processed %d times, want 1", i, a)
		}
	}
	var paid int64
	s.DB().Model(&models.Trigger{}).Where("kind = ?", models.TriggerOrderPaid).Count(&paid)
	if paid != 3 {
		t.Errorf("order_paid triggers = %d, want 3 (orders 1, 2 and 3, once each)", paid)
	}
}
