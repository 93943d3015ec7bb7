package jobs

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// webhook applies an order the way delivery:process does: upsert and write
// the triggers its change implies.
func webhook(t *testing.T, s *models.Store, shop models.Shop, o models.Order) {
	t.Helper()
	o = clone(o)
	if err := s.InTx(context.Background(), func(tx *models.Tx) error {
		ts, err := applyOrder(tx, shop, &o)
		if err != nil {
			return err
		}
		_, err = tx.InsertTriggers(ts)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func triggerKeys(t *testing.T, s *models.Store, shopID uint64) []string {
	t.Helper()
	var ts []models.Trigger
	if err := s.DB().Where("shop_id = ?", shopID).Find(&ts).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ts))
	for i, tr := range ts {
		out[i] = tr.Kind + " " + tr.Subject + " " + tr.Version
	}
	sort.Strings(out)
	return out
}

// changes are what happens at the platform after the backfill: pending
// orders get paid, and new orders arrive (some shipped, some refunded).
func changes(t0 time.Time) []models.Order {
	var out []models.Order
	for id := int64(7); id <= 200; id += 7 {
		o := genOrder(id, t0.Add(time.Duration(id)*time.Second))
		o.FinancialStatus = "paid"
		o.PlatformUpdatedAt = t0.Add(time.Hour + time.Duration(id)*time.Second)
		out = append(out, o)
	}
	for id := int64(201); id <= 400; id++ {
		out = append(out, genOrder(id, t0.Add(2*time.Hour+time.Duration(id)*time.Second)))
	}
	return out
}

func TestReconcile_MissedWebhooks_RepairedWithOneTriggerEach(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)

	// Two shops see the same history and the same changes; one gets every
	// webhook, the other loses 5% of them and relies on reconcile.
	all := installShop(t, s, "all.myshopify.com")
	lossy := installShop(t, s, "lossy.myshopify.com")
	src := newFakeSource(200, t0)
	b := NewBackfiller(s, src, staticTokens("tok"), nil, BackfillConfig{}, quiet)
	runBackfill(t, b, all)
	runBackfill(t, b, lossy)

	ch := changes(t0)
	dropped := 0
	for i, o := range ch {
		src.set(o)
		webhook(t, s, all, o)
		if i%20 == 3 { // 5% lost
			dropped++
			continue
		}
		webhook(t, s, lossy, o)
	}
	want := triggerKeys(t, s, all.ID)
	if got := triggerKeys(t, s, lossy.ID); len(got) >= len(want) {
		t.Fatalf("lossy shop has %d triggers, complete one %d: nothing was lost", len(got), len(want))
	}

	r := NewReconciler(s, src, staticTokens("tok"), ReconcileConfig{}, quiet, nil)
	window := Window(time.Now(), 10*time.Minute)
	res, err := r.Reconcile(ctx, lossy, window)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != "" || res.Repaired != dropped {
		t.Fatalf("reconcile = %+v, want %d orders repaired", res, dropped)
	}
	if got := countRows(t, s, "orders", lossy.ID); got != 400 {
		t.Fatalf("orders = %d, want 400", got)
	}
	got := triggerKeys(t, s, lossy.ID)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reconcile the triggers differ from a shop that got every webhook:\n got %d %v\nwant %d %v",
			len(got), got, len(want), want)
	}
	st, _ := s.SyncState(ctx, lossy.ID)
	last := ch[len(ch)-1].PlatformUpdatedAt
	if st.HighWaterMark == nil || !st.HighWaterMark.Equal(last) || st.ReconcileRuns != 1 || !st.ReconcileWindow.Equal(window) {
		t.Fatalf("state = %+v, want the mark at %v", st, last)
	}

	// The same window again is a no-op; the next window finds nothing new.
	if res, err := r.Reconcile(ctx, lossy, window); err != nil || res.Skipped == "" {
		t.Fatalf("same window again = %+v, %v; want skipped", res, err)
	}
	before := len(src.queries())
	res, err = r.Reconcile(ctx, lossy, window.Add(10*time.Minute))
	if err != nil || res.Triggers != 0 || res.Repaired != 0 {
		t.Fatalf("next window = %+v, %v; want nothing new", res, err)
	}
	if q := src.queries()[before]; !q.UpdatedSince.Equal(last.Add(-DefaultReconcileOverlap)) {
		t.Fatalf("next window asked since %v, want the mark minus the overlap %v", q.UpdatedSince, last.Add(-DefaultReconcileOverlap))
	}
	if n := len(triggerKeys(t, s, lossy.ID)); n != len(want) {
		t.Fatalf("triggers after a second reconcile = %d, want %d", n, len(want))
	}
}

func TestReconcile_SkipsWhileBackfillRuns(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "early.myshopify.com")
	src := newFakeSource(10, time.Now().UTC())
	r := NewReconciler(s, src, staticTokens("tok"), ReconcileConfig{}, quiet, nil)
	if res, err := r.Reconcile(context.Background(), shop, time.Now()); err != nil || res.Skipped == "" {
		t.Fatalf("no backfill yet: %+v, %v; want skipped", res, err)
	}
	b := NewBackfiller(s, src, staticTokens("tok"), nil, BackfillConfig{}, quiet)
	if _, err := b.Begin(context.Background(), shop, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Reconcile(context.Background(), shop, time.Now()); err != nil || res.Skipped == "" {
		t.Fatalf("backfill running: %+v, %v; want skipped", res, err)
	}
	if n := len(src.queries()); n != 0 {
		t.Fatalf("reconcile called the API %d times while it should skip", n)
	}
}
