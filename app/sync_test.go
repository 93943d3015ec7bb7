package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

type syncReply struct {
	State           string     `json:"state"`
	Done            int64      `json:"done"`
	Total           int64      `json:"total"`
	Rate            float64    `json:"rate"`
	LastError       string     `json:"last_error"`
	ReadAllOrders   bool       `json:"read_all_orders"`
	Note            string     `json:"note"`
	Since           *time.Time `json:"since"`
	StartedAt       *time.Time `json:"started_at"`
	UpdatedAt       *time.Time `json:"updated_at"`
	HighWaterMark   *time.Time `json:"high_water_mark"`
	LastReconcileAt *time.Time `json:"last_reconcile_at"`
}

func TestSyncAPI_StatusOfTheTokensShopOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a := e.installShop("sync-a.myshopify.com")
	e.installShop("sync-b.myshopify.com")

	var got syncReply
	e.callAdmin("GET", "/api/admin/sync", e.fake.SessionToken("sync-a.myshopify.com", time.Minute)).ok(t, "before any backfill", &got)
	if got.State != models.SyncIdle || got.Done != 0 || got.StartedAt != nil {
		t.Fatalf("before any backfill = %+v, want idle", got)
	}

	since := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := e.app.store.BeginBackfill(ctx, a.ID, since); err != nil {
		t.Fatal(err)
	}
	hwm := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if _, err := e.app.store.UpdateSyncState(ctx, a.ID, func(s *models.SyncState) error {
		s.Done, s.Total, s.Rate, s.LastError, s.ReadAllOrders, s.HighWaterMark = 40, 100, 12.5, "HTTP 503", false, &hwm
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.callAdmin("GET", "/api/admin/sync", e.fake.SessionToken("sync-a.myshopify.com", time.Minute)).ok(t, "running", &got)
	if got.State != models.SyncRunning || got.Done != 40 || got.Total != 100 || got.Rate != 12.5 || got.LastError != "HTTP 503" ||
		got.ReadAllOrders || got.Note == "" || got.Since == nil || !got.Since.Equal(since) || got.StartedAt == nil ||
		got.UpdatedAt == nil || got.HighWaterMark == nil || !got.HighWaterMark.Equal(hwm) || got.LastReconcileAt != nil {
		t.Fatalf("running = %+v", got)
	}

	// Shop B's token sees B's (idle) sync, never A's.
	e.callAdmin("GET", "/api/admin/sync", e.fake.SessionToken("sync-b.myshopify.com", time.Minute)).ok(t, "other shop", &got)
	if got.State != models.SyncIdle || got.Done != 0 {
		t.Fatalf("shop B sees %+v", got)
	}
	e.callAdmin("GET", "/api/admin/sync", "").isError(t, "no token", http.StatusUnauthorized, "unauthorized")
}

// virtualClock makes the fake's cost bucket and the client's throttle
// waits run on one virtual clock: minutes of refills take no wall time.
func virtualClock(clock *shopifytest.Clock) envOption {
	return func(_ *config.Config, o *Options) { o.ShopifyClock = clock }
}

// storedOrder is what the database holds of an order, with the sizes of
// what hangs under it.
type storedOrder struct {
	PlatformID        int64
	Name              string
	Total             decimal.Decimal
	FinancialStatus   string
	CancelledAt       *time.Time
	PlatformUpdatedAt time.Time
	Lines, Fuls, Refs int
	Events            int
}

func storedOrders(t *testing.T, e *testEnv, shopID uint64) map[int64]storedOrder {
	t.Helper()
	var rows []storedOrder
	err := e.app.db.Raw(`SELECT o.platform_id, o.name, o.total, o.financial_status, o.cancelled_at, o.platform_updated_at,
		(SELECT count(*) FROM line_items l WHERE l.order_id = o.id) AS lines,
		(SELECT count(*) FROM fulfillments f WHERE f.order_id = o.id) AS fuls,
		(SELECT count(*) FROM refunds r WHERE r.order_id = o.id) AS refs,
		(SELECT count(*) FROM fulfillment_events fe JOIN fulfillments f2 ON fe.fulfillment_id = f2.id WHERE f2.order_id = o.id) AS events
		FROM orders o WHERE o.shop_id = ?`, shopID).Scan(&rows).Error
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int64]storedOrder, len(rows))
	for _, r := range rows {
		out[r.PlatformID] = r
	}
	return out
}

// checkOrdersMatch compares every stored order with the fake's, and a
// sample (the large ones among them) field by field.
func checkOrdersMatch(t *testing.T, e *testEnv, shop models.Shop) {
	t.Helper()
	ids := e.fake.OrderIDs(shop.Domain)
	got := storedOrders(t, e, shop.ID)
	if len(got) != len(ids) {
		t.Fatalf("stored orders = %d, the fake has %d", len(got), len(ids))
	}
	for i, id := range ids {
		want, _ := e.fake.Order(shop.Domain, id)
		g, ok := got[id]
		if !ok {
			t.Fatalf("order %d missing", id)
		}
		events := 0
		for _, f := range want.Fulfillments {
			events += len(f.Events)
		}
		if g.Name != want.Name || !g.Total.Equal(want.Total) || g.FinancialStatus != want.FinancialStatus ||
			!g.PlatformUpdatedAt.Equal(want.PlatformUpdatedAt) || (g.CancelledAt == nil) != (want.CancelledAt == nil) ||
			g.Lines != len(want.LineItems) || g.Fuls != len(want.Fulfillments) || g.Refs != len(want.Refunds) || g.Events != events {
			t.Fatalf("order %d stored as %+v; the fake has %s total %s %s updated %s, %d lines, %d fulfillments, %d refunds, %d events",
				id, g, want.Name, want.Total, want.FinancialStatus, want.PlatformUpdatedAt, len(want.LineItems),
				len(want.Fulfillments), len(want.Refunds), events)
		}
		if i%40 != 39 && i%97 != 0 {
			continue
		}
		o, err := e.app.store.Order(context.Background(), shop.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		for j, l := range want.LineItems {
			gl := o.LineItems[j]
			if gl.PlatformID != l.PlatformID || gl.Title != l.Title || gl.Quantity != l.Quantity || !gl.Price.Equal(l.Price) {
				t.Fatalf("order %d line %d = %+v, want %+v", id, j, gl, l)
			}
		}
		for j, f := range want.Fulfillments {
			gf := o.Fulfillments[j]
			// A cancelled shipment keeps the status its last scan gave it
			// (the store trusts carrier events); the fake clears it.
			statusOK := gf.ShipmentStatus == f.ShipmentStatus || f.Status == "cancelled"
			if gf.PlatformID != f.PlatformID || gf.TrackingNumber != f.TrackingNumber || gf.Status != f.Status ||
				!statusOK || len(gf.Events) != len(f.Events) {
				t.Fatalf("order %d fulfillment %d = %+v, want %+v", id, j, gf, f)
			}
		}
		for j, r := range want.Refunds {
			if gr := o.Refunds[j]; gr.PlatformID != r.PlatformID || !gr.Amount.Equal(r.Amount) || len(gr.Lines) != len(r.Lines) {
				t.Fatalf("order %d refund %d = %+v, want %+v", id, j, gr, r)
			}
		}
		if want.Customer != nil && (o.Customer == nil || o.Customer.Email != want.Customer.Email) {
			t.Fatalf("order %d customer = %+v, want %+v", id, o.Customer, want.Customer)
		}
	}
}

// The main backfill test: 10,000 orders through the real client
// and the fake's throttle (a standard plan's bucket, on a virtual clock),
// killed half-way and resumed.
func TestBackfill_10000Orders_ThrottledKilledHalfwayResumed_NoTriggers(t *testing.T) {
	t.Parallel()
	n := 10000
	if testing.Short() {
		n = 1000
	}
	clock := shopifytest.NewClock(time.Now().UTC())
	// The paged path: it is the one that resumes from a saved cursor.
	paged := func(_ *config.Config, o *Options) { o.Backfill.BulkThreshold = 1 << 30 }
	e := newEnv(t, virtualClock(clock), paged)
	e.fake.SetClock(clock.Now)
	const dom = "history.myshopify.com"
	shop := e.installShop(dom)
	e.fake.GenerateOrders(dom, n, 42)
	ctx := context.Background()

	killCtx, kill := context.WithCancel(ctx)
	_, err := e.app.Backfill(killCtx, dom, time.Time{}, func(st models.SyncState) {
		if st.Done >= int64(n/2) {
			kill() // the process dies half-way
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed backfill: %v, want context.Canceled", err)
	}
	mid, _ := e.app.store.SyncState(ctx, shop.ID)
	if mid.State != models.SyncRunning || mid.Done < int64(n/2) || mid.Done >= int64(n) || mid.Cursor == "" || mid.Total != int64(n) {
		t.Fatalf("state after the kill = %+v", mid)
	}
	if got := e.count("orders", "shop_id = ?", shop.ID); got != mid.Done {
		t.Fatalf("orders after the kill = %d, the saved state says %d", got, mid.Done)
	}
	before := len(e.fake.Requests())

	st, err := e.app.Backfill(ctx, dom, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != models.SyncDone || st.Done != int64(n) || st.Run != mid.Run || !st.ReadAllOrders || st.Mode != models.SyncModePaged {
		t.Fatalf("state = %+v", st)
	}
	// It went on from the saved cursor: its first page asked for after it.
	for _, r := range e.fake.Requests()[before:] {
		if strings.Contains(r.GraphQL, "query DoorstepOrders(") {
			if !strings.Contains(string(r.Variables), mid.Cursor) {
				t.Fatalf("resumed with %s, want after the saved cursor %q", r.Variables, mid.Cursor)
			}
			break
		}
	}
	checkOrdersMatch(t, e, shop)
	if got := e.count("triggers", "shop_id = ?", shop.ID); got != 0 {
		t.Fatalf("backfill wrote %d triggers: history must never cause a message", got)
	}
	if got := e.count("fulfillment_events", "shop_id = ?", shop.ID); got == 0 {
		t.Fatal("no fulfillment events stored")
	}
	if min := e.fake.MinAvailable(dom); min < 0 {
		t.Fatalf("the bucket went down to %v", min)
	}
	// Every THROTTLED answer (if any) was retried: all pages landed.
	t.Logf("%d orders, %d THROTTLED answers (all retried), bucket low %.0f, %d requests, virtual time %s",
		n, e.fake.ThrottledCount(dom), e.fake.MinAvailable(dom), len(e.fake.Requests()), clock.Now().Sub(st.StartedAt.UTC()).Round(time.Second))
}

// backdateInstall makes every generated order count as news, not history,
// so each change implies a trigger.
func backdateInstall(t *testing.T, e *testEnv, shopID uint64) models.Shop {
	t.Helper()
	if err := e.app.db.Exec("UPDATE shops SET installed_at = ? WHERE id = ?", time.Now().Add(-3*365*24*time.Hour), shopID).Error; err != nil {
		t.Fatal(err)
	}
	shop, err := e.app.store.ShopByID(context.Background(), shopID)
	if err != nil {
		t.Fatal(err)
	}
	return shop
}

func TestReconcile_FivePercentWebhooksLost_OneTriggerPerMissedEvent(t *testing.T) {
	t.Parallel()
	clock := shopifytest.NewClock(time.Now().UTC())
	e := newEnv(t, virtualClock(clock))
	e.fake.SetClock(clock.Now)
	const dom = "lossy.myshopify.com"
	ctx := context.Background()
	shop := e.installShop(dom)
	e.fake.GenerateOrders(dom, 400, 7)
	if _, err := e.app.Backfill(ctx, dom, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	shop = backdateInstall(t, e, shop.ID)

	e.fake.SetWebhookTarget(e.srv.URL + "/webhooks/shopify")
	e.fake.DropWebhooks(0.05, 99)
	want := map[string]string{} // subject → the one trigger kind its change implies
	for _, id := range e.fake.OrderIDs(dom) {
		o, _ := e.fake.Order(dom, id)
		switch {
		case o.Cancelled():
			continue
		case !o.Paid():
			o.FinancialStatus = "paid"
			want["order:"+strconv.FormatInt(id, 10)] = models.TriggerOrderPaid
		default:
			at := clock.Now().UTC().Truncate(time.Second)
			o.CancelledAt, o.CancelReason = &at, "customer"
			want["order:"+strconv.FormatInt(id, 10)] = models.TriggerOrderCancelled
		}
		e.fake.SetOrder(dom, o)
		o, _ = e.fake.Order(dom, id)
		if err := e.fake.SendWebhook(dom, "orders/updated", o); err != nil {
			t.Fatal(err)
		}
	}
	dropped := 0
	for _, w := range e.fake.Webhooks() {
		if w.Dropped {
			dropped++
		}
	}
	if dropped == 0 || dropped > len(want)/10 {
		t.Fatalf("dropped %d of %d webhooks, want about 5%%", dropped, len(want))
	}
	e.processAll()
	if got := e.count("triggers", "shop_id = ?", shop.ID); got != int64(len(want)-dropped) {
		t.Fatalf("triggers from delivered webhooks = %d, want %d", got, len(want)-dropped)
	}

	res, err := e.app.Reconciler().Reconcile(ctx, shop, jobs.Window(time.Now(), 10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Repaired != dropped || res.Triggers != dropped {
		t.Fatalf("reconcile = %+v, want %d orders repaired with one trigger each", res, dropped)
	}
	checkOrdersMatch(t, e, shop)
	var ts []models.Trigger
	if err := e.app.db.Where("shop_id = ?", shop.ID).Find(&ts).Error; err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tr := range ts {
		if prev, dup := got[tr.Subject]; dup {
			t.Fatalf("%s has two triggers: %s and %s", tr.Subject, prev, tr.Kind)
		}
		got[tr.Subject] = tr.Kind
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("triggers after reconcile:\n got %v\nwant %v", got, want)
	}
	// A later reconcile (the next window) finds nothing more to do.
	res, err = e.app.Reconciler().Reconcile(ctx, shop, jobs.Window(time.Now(), 10*time.Minute).Add(10*time.Minute))
	if err != nil || res.Triggers != 0 || res.Repaired != 0 {
		t.Fatalf("second reconcile = %+v, %v", res, err)
	}
}

// Two worker processes (two app.New on one database and one Redis, both
// running the worker role with their schedulers ticking fast) reconcile
// each shop once per period.
func TestReconcile_TwoWorkers_OncePerShopPerPeriod(t *testing.T) {
	t.Parallel()
	redis := ownRedis(t)
	fast := func(c *config.Config, o *Options) {
		c.RedisURL = redis.URL()
		o.Scheduler = jobs.SchedulerConfig{Tick: 20 * time.Millisecond, ReconcileEvery: time.Hour, SubscriptionsEvery: time.Hour}
	}
	e := newEnv(t, fast)
	ctx := context.Background()
	shops := []string{"one.myshopify.com", "two.myshopify.com"}
	hwm := time.Now().UTC().Add(-time.Hour)
	for _, dom := range shops {
		shop := e.installShop(dom)
		e.fake.GenerateOrders(dom, 30, 3)
		// Backfilled already: reconcile has a mark to start from.
		if _, err := e.app.store.BeginBackfill(ctx, shop.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.store.UpdateSyncState(ctx, shop.ID, func(s *models.SyncState) error {
			s.State, s.HighWaterMark = models.SyncDone, &hwm
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	o2, c2 := Options{}, e.cfg
	fast(&c2, &o2)
	second, err := New(ctx, c2, o2)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	runWorker(t, e.app)
	runWorker(t, second)

	ordersQueries := func(dom string) int {
		n := 0
		for _, r := range e.fake.Requests() {
			if r.Shop == dom && strings.Contains(r.GraphQL, "query DoorstepOrders(") {
				n++
			}
		}
		return n
	}
	for _, dom := range shops {
		shop, _ := e.app.store.ShopByDomain(ctx, models.PlatformShopify, dom)
		waitFor(t, "a reconcile of "+dom, 30*time.Second, func() bool {
			st, _ := e.app.store.SyncState(ctx, shop.ID)
			return st.ReconcileRuns > 0
		})
	}
	time.Sleep(time.Second) // dozens more ticks of both schedulers
	windows := 1
	if !jobs.Window(start, time.Hour).Equal(jobs.Window(time.Now(), time.Hour)) {
		windows = 2 // the test straddled an hour boundary
	}
	for _, dom := range shops {
		shop, _ := e.app.store.ShopByDomain(ctx, models.PlatformShopify, dom)
		st, _ := e.app.store.SyncState(ctx, shop.ID)
		if st.ReconcileRuns < 1 || st.ReconcileRuns > int64(windows) {
			t.Fatalf("%s reconciled %d times in %d period(s), want once per period", dom, st.ReconcileRuns, windows)
		}
		if q := ordersQueries(dom); q != int(st.ReconcileRuns) {
			t.Fatalf("%s: %d orders queries for %d reconcile runs: a run was duplicated", dom, q, st.ReconcileRuns)
		}
	}
}

func TestSubscriptions_DeletedSubscriptionRecreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const dom = "subs.myshopify.com"
	shop := e.installShop(dom)
	callback := e.cfg.AppURL + "/webhooks/shopify"
	if err := e.app.shopify.RegisterWebhooks(ctx, dom, e.fake.AccessToken(dom), callback, shopify.Topics); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.DeleteSubscription(dom, "orders/create"); n != 1 {
		t.Fatalf("deleted %d subscriptions", n)
	}
	got, err := e.app.subs.Check(ctx, shop)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "orders/create" {
		t.Fatalf("recreated %v, want [orders/create]", got)
	}
	topics := map[string]int{}
	for _, s := range e.fake.Subscriptions(dom) {
		if s.URI == callback {
			topics[s.Topic]++
		}
	}
	for _, tp := range shopify.Topics {
		if topics[shopify.TopicEnum(tp)] != 1 {
			t.Fatalf("subscriptions after the check: %v; want each topic once", topics)
		}
	}
	var m dto.Metric
	if err := e.app.metrics.jobs.SubscriptionsRecreated.WithLabelValues("orders/create").Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Fatalf("recreated counter = %v, %v; want 1", m.GetCounter().GetValue(), err)
	}
	if got, err := e.app.subs.Check(ctx, shop); err != nil || len(got) != 0 {
		t.Fatalf("second check = %v, %v; want nothing to do", got, err)
	}
}

// TestBench_Backfill is the backfill benchmark (docs/BENCHMARKS.md). It is
// skipped unless DOORSTEP_BENCH=1:
//
//	DOORSTEP_BENCH=1 go test -run TestBench_Backfill -v -count=1 ./app
//
// Paged: N orders through the real client against the fake's standard-plan
// bucket (2,000 points, 100/s) on a virtual clock, so the throttle, not
// the machine, sets the pace. Theory, from the costs the fake computed:
// the run spends C points in all; the bucket starts with B and restores R
// per second, so it can't finish before (C − B) / R seconds. Bulk: the same
// orders through one bulk operation (no per-page cost; no ratio).
func TestBench_Backfill(t *testing.T) {
	if os.Getenv("DOORSTEP_BENCH") == "" {
		t.Skip("set DOORSTEP_BENCH=1 to run the backfill benchmark")
	}
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("DOORSTEP_BENCH_ORDERS")); err == nil && v > 0 {
		n = v
	}
	const bucket, restore = 2000.0, 100.0
	run := func(t *testing.T, bulk bool) (virtual, wall time.Duration, st models.SyncState, costs []shopifytest.QueryCost, e *testEnv) {
		clock := shopifytest.NewClock(time.Now().UTC())
		opts := []envOption{virtualClock(clock)}
		threshold := 1 << 30 // paged
		if bulk {
			threshold = 1
		}
		opts = append(opts, func(_ *config.Config, o *Options) { o.Backfill.BulkThreshold = threshold })
		e = newEnv(t, opts...)
		e.fake.SetClock(clock.Now)
		e.fake.SetThrottle(bucket, restore)
		dom := "bench.myshopify.com"
		shop := e.installShop(dom)
		e.fake.GenerateOrders(dom, n, 1)
		v0, w0 := clock.Now(), time.Now()
		st, err := e.app.Backfill(context.Background(), dom, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		virtual, wall = clock.Now().Sub(v0), time.Since(w0)
		if got := e.count("orders", "shop_id = ?", shop.ID); st.Done != int64(n) || got != int64(n) {
			t.Fatalf("lost pages: done %d, stored %d, want %d", st.Done, got, n)
		}
		if e.fake.MinAvailable(dom) < 0 {
			t.Fatalf("bucket below zero: %v", e.fake.MinAvailable(dom))
		}
		return virtual, wall, st, e.fake.CostLog(dom), e
	}

	virtual, wall, _, costs, e := run(t, false)
	var total, pageCost, pages int
	for _, c := range costs {
		total += c.Actual
		if c.Operation == "DoorstepOrders" {
			pages++
			pageCost += c.Actual
		}
	}
	perPage := float64(n) / float64(pages)
	costPerPage := float64(total) / float64(pages) // with follow-ups, count and scope reads
	theorySec := max((float64(total)-bucket)/restore, 1e-9)
	theory := float64(n) / theorySec
	achieved := float64(n) / virtual.Seconds()
	throttled := e.fake.ThrottledCount("bench.myshopify.com")

	bv, bw, _, _, _ := run(t, true)
	t.Logf(`
| path | orders | pages | orders/page | points/page (fake, actual) | theory orders/s | achieved orders/s | ratio | THROTTLED | lost pages | wall time (orders/s) |
|---|---|---|---|---|---|---|---|---|---|---|
| paged | %d | %d | %.1f | %.0f (pages alone %.0f) | %.2f | %.2f | %.1f%% | %d | 0 | %s (%.0f/s) |
| bulk | %d | — | — | — | — | %.1f | — | — | 0 | %s (%.0f/s) |`,
		n, pages, perPage, costPerPage, float64(pageCost)/float64(pages), theory, achieved, 100*achieved/theory, throttled,
		wall.Round(time.Millisecond), float64(n)/wall.Seconds(),
		n, float64(n)/bv.Seconds(), bw.Round(time.Millisecond), float64(n)/bw.Seconds())
	if achieved/theory < 0.9 {
		t.Errorf("paged backfill reached %.1f%% of the theoretical rate, target ≥ 90%%", 100*achieved/theory)
	}
}
