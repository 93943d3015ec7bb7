package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// fakeSource is an in-memory OrderSource: orders sorted by (updated_at, id),
// cursors are positions, and every call is recorded. It stands in for the
// Shopify client here; app's tests run the real client against the fake
// Shopify.
type fakeSource struct {
	mu       sync.Mutex
	orders   map[int64]models.Order
	pageSize int
	readAll  bool
	calls    []OrdersQuery
	bulks    int
	failNext error // returned once by the next Orders call
	token    string
}

func newFakeSource(n int, t0 time.Time) *fakeSource {
	f := &fakeSource{orders: map[int64]models.Order{}, pageSize: 50, readAll: true, token: "tok"}
	for i := 1; i <= n; i++ {
		f.orders[int64(i)] = genOrder(int64(i), t0.Add(time.Duration(i)*time.Second))
	}
	return f
}

// genOrder makes an order with a line, a customer, a fulfillment and, for
// every fifth, a refund: everything applyOrder writes.
func genOrder(id int64, at time.Time) models.Order {
	status := "paid"
	if id%7 == 0 {
		status = "pending"
	}
	o := models.Order{
		PlatformID: id, Name: "#" + strconv.FormatInt(1000+id, 10), Number: 1000 + id,
		Email: fmt.Sprintf("c%d@example.com", id%300), CustomerPlatformID: 5000 + id%300, Currency: "EUR",
		Subtotal: decimal.New(1000+id, -2), Total: decimal.New(1500+id, -2), FinancialStatus: status,
		PlatformCreatedAt: at, PlatformUpdatedAt: at,
		LineItems: []models.LineItem{{PlatformID: id * 10, Title: "Mug", Quantity: 1 + int(id%3), Price: decimal.New(1000, -2)}},
		Customer:  &models.Customer{PlatformID: 5000 + id%300, Email: fmt.Sprintf("c%d@example.com", id%300), PlatformUpdatedAt: at},
	}
	if id%2 == 0 {
		o.Fulfillments = []models.Fulfillment{{PlatformID: id * 100, OrderPlatformID: id, Status: "success",
			ShipmentStatus: models.ShipmentInTransit, TrackingNumber: "TRK" + strconv.FormatInt(id, 10),
			PlatformCreatedAt: at, PlatformUpdatedAt: at}}
	}
	if id%5 == 0 {
		o.Refunds = []models.Refund{{PlatformID: id * 1000, OrderPlatformID: id, Amount: decimal.New(500, -2), Currency: "EUR",
			PlatformCreatedAt: at, Lines: []models.RefundLine{{PlatformID: id*1000 + 1, LineItemPlatformID: id * 10, Quantity: 1}}}}
	}
	return o
}

// set replaces an order (a change at the platform).
func (f *fakeSource) set(o models.Order) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[o.PlatformID] = o
}

func (f *fakeSource) sorted(since time.Time) []models.Order {
	var out []models.Order
	for _, o := range f.orders {
		if !o.PlatformUpdatedAt.Before(since) {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].PlatformUpdatedAt.Equal(out[j].PlatformUpdatedAt) {
			return out[i].PlatformUpdatedAt.Before(out[j].PlatformUpdatedAt)
		}
		return out[i].PlatformID < out[j].PlatformID
	})
	return out
}

// clone deep-copies what applyOrder mutates, so the fake's orders stay as
// the platform has them.
func clone(o models.Order) models.Order {
	o.LineItems = append([]models.LineItem(nil), o.LineItems...)
	o.Fulfillments = append([]models.Fulfillment(nil), o.Fulfillments...)
	o.Refunds = append([]models.Refund(nil), o.Refunds...)
	for i := range o.Refunds {
		o.Refunds[i].Lines = append([]models.RefundLine(nil), o.Refunds[i].Lines...)
	}
	if o.Customer != nil {
		c := *o.Customer
		o.Customer = &c
	}
	return o
}

func (f *fakeSource) Orders(ctx context.Context, shop, token string, q OrdersQuery) (OrdersPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return OrdersPage{}, err
	}
	if token != f.token {
		return OrdersPage{}, fmt.Errorf("401: %w", ErrUnauthorized)
	}
	f.calls = append(f.calls, q)
	if err := f.failNext; err != nil {
		f.failNext = nil
		return OrdersPage{}, err
	}
	all := f.sorted(q.UpdatedSince)
	start := 0
	if q.After != "" {
		n, err := strconv.Atoi(q.After)
		if err != nil {
			return OrdersPage{}, fmt.Errorf("bad cursor %q", q.After)
		}
		start = n
	}
	size := f.pageSize
	if q.PageSize > 0 {
		size = q.PageSize
	}
	end := min(start+size, len(all))
	page := OrdersPage{ReadAllOrders: f.readAll, HasNext: end < len(all), EndCursor: strconv.Itoa(end)}
	for _, o := range all[start:end] {
		page.Orders = append(page.Orders, clone(o))
	}
	return page, nil
}

func (f *fakeSource) CountOrders(_ context.Context, _, _ string, since time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sorted(since)), nil
}

func (f *fakeSource) BulkOrders(ctx context.Context, _, _ string, since time.Time, emit func(models.Order) error) (int, error) {
	f.mu.Lock()
	f.bulks++
	all := f.sorted(since)
	f.mu.Unlock()
	for _, o := range all {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := emit(clone(o)); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

func (f *fakeSource) queries() []OrdersQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]OrdersQuery(nil), f.calls...)
}

type staticTokens string

func (s staticTokens) AccessToken(context.Context, models.Shop) (string, error) {
	return string(s), nil
}

func installShop(t *testing.T, s *models.Store, domain string) models.Shop {
	t.Helper()
	shop, err := s.SaveInstall(context.Background(), models.Shop{Platform: models.PlatformShopify, Domain: domain},
		models.Token{AccessToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	return shop
}

func countRows(t *testing.T, s *models.Store, table string, shopID uint64) int64 {
	t.Helper()
	var n int64
	if err := s.DB().Table(table).Where("shop_id = ?", shopID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// runBackfill begins a run from since and runs it to the end.
func runBackfill(t *testing.T, b *Backfiller, shop models.Shop) models.SyncState {
	t.Helper()
	ctx := context.Background()
	st, err := b.Begin(ctx, shop, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	st, err = b.Run(ctx, shop, st.Run, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBackfill_AllPagesLand_NoTriggers(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "hist.myshopify.com")
	// Recent orders: applyOrder would trigger thank-yous for them; backfill
	// must drop those triggers all the same.
	src := newFakeSource(523, time.Now().UTC().Add(-time.Hour))
	b := NewBackfiller(s, src, staticTokens("tok"), nil, BackfillConfig{}, quiet)
	var seen []int64
	ctx := context.Background()
	st, err := b.Begin(ctx, shop, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	st, err = b.Run(ctx, shop, st.Run, func(p models.SyncState) { seen = append(seen, p.Done) })
	if err != nil {
		t.Fatal(err)
	}
	if st.State != models.SyncDone || st.Done != 523 || st.Total != 523 || st.Mode != models.SyncModePaged || !st.ReadAllOrders {
		t.Fatalf("state = %+v", st)
	}
	if got := countRows(t, s, "orders", shop.ID); got != 523 {
		t.Fatalf("orders = %d, want 523", got)
	}
	if got := countRows(t, s, "triggers", shop.ID); got != 0 {
		t.Fatalf("backfill wrote %d triggers; history must write none", got)
	}
	if got, want := countRows(t, s, "fulfillments", shop.ID), int64(523/2); got != want {
		t.Fatalf("fulfillments = %d, want %d", got, want)
	}
	if got, want := countRows(t, s, "refunds", shop.ID), int64(523/5); got != want {
		t.Fatalf("refunds = %d, want %d", got, want)
	}
	want := src.orders[523].PlatformUpdatedAt
	if st.HighWaterMark == nil || !st.HighWaterMark.Equal(want) {
		t.Fatalf("high-water mark = %v, want %v", st.HighWaterMark, want)
	}
	// Progress: once after planning, then once per page of 50.
	if len(seen) != 12 || seen[0] != 0 || seen[11] != 523 {
		t.Fatalf("progress calls = %v", seen)
	}
	o, err := s.Order(ctx, shop.ID, 42)
	if err != nil {
		t.Fatal(err)
	}
	src42 := src.orders[42]
	if o.Name != src42.Name || !o.Total.Equal(src42.Total) || o.FinancialStatus != src42.FinancialStatus ||
		len(o.LineItems) != 1 || o.LineItems[0].Quantity != src42.LineItems[0].Quantity || len(o.Fulfillments) != 1 ||
		o.Fulfillments[0].TrackingNumber != "TRK42" || o.Customer == nil || o.Customer.Email != src42.Email {
		t.Fatalf("order 42 = %+v", o)
	}
}

func TestBackfill_KilledHalfway_ResumesAtCursor(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "crash.myshopify.com")
	src := newFakeSource(1000, time.Now().UTC().Add(-48*time.Hour))
	b := NewBackfiller(s, src, staticTokens("tok"), nil, BackfillConfig{}, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := b.Begin(ctx, shop, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Run(ctx, shop, st.Run, func(p models.SyncState) {
		if p.Done >= 500 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: err = %v, want context.Canceled", err)
	}
	mid, _ := s.SyncState(context.Background(), shop.ID)
	if mid.State != models.SyncRunning || mid.Done != 500 || mid.Cursor != "500" || mid.LastError != "" {
		t.Fatalf("state after the kill = %+v", mid)
	}
	before := len(src.queries())
	// A restart: Start (as on install, or the scheduler) resumes the run.
	st2, err := b.Begin(context.Background(), shop, time.Time{})
	if err != nil || st2.Run != st.Run || st2.Cursor != "500" {
		t.Fatalf("resume = %+v, %v; want the same run at cursor 500", st2, err)
	}
	st2, err = b.Run(context.Background(), shop, st2.Run, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := src.queries()[before]
	if q.After != "500" {
		t.Fatalf("resumed at cursor %q, want 500 (never from zero)", q.After)
	}
	if st2.State != models.SyncDone || st2.Done != 1000 {
		t.Fatalf("state = %+v", st2)
	}
	if got := countRows(t, s, "orders", shop.ID); got != 1000 {
		t.Fatalf("orders = %d, want exactly 1000", got)
	}
}

func TestBackfill_TwiceChangesNothing_NewerWebhookWins(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "twice.myshopify.com")
	t0 := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)
	src := newFakeSource(120, t0)
	// A webhook brought a later version of order 7 before the backfill.
	newer := genOrder(7, t0.Add(time.Hour*10))
	newer.FinancialStatus = "refunded"
	if err := s.InTx(context.Background(), func(tx *models.Tx) error {
		_, err := applyOrder(tx, shop, &newer)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	b := NewBackfiller(s, src, staticTokens("tok"), nil, BackfillConfig{PageSize: 25}, quiet)
	runBackfill(t, b, shop)
	snapshot := func() string {
		var rows []struct {
			PlatformID      int64
			FinancialStatus string
			UpdatedAt       time.Time
		}
		if err := s.DB().Table("orders").Where("shop_id = ?", shop.ID).Order("platform_id").Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		var n [4]int64
		for i, tb := range []string{"line_items", "fulfillments", "refunds", "customers"} {
			n[i] = countRows(t, s, tb, shop.ID)
		}
		return fmt.Sprint(rows, n)
	}
	first := snapshot()
	st := runBackfill(t, b, shop)
	if st.Run != 2 || st.Done != 120 {
		t.Fatalf("second run = %+v", st)
	}
	if second := snapshot(); second != first {
		t.Fatalf("running the backfill twice changed rows:\n%s\n%s", first, second)
	}
	o, _ := s.Order(context.Background(), shop.ID, 7)
	if o.FinancialStatus != "refunded" {
		t.Fatalf("order 7 = %s: the older backfilled version overwrote the newer webhook", o.FinancialStatus)
	}
}

func TestBackfill_LargeShopUsesBulk(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "big.myshopify.com")
	src := newFakeSource(700, time.Now().UTC().Add(-time.Hour))
	src.readAll = false
	b := NewBackfiller(s, src, staticTokens("tok"), nil, BackfillConfig{BulkThreshold: 500}, quiet)
	st := runBackfill(t, b, shop)
	if st.Mode != models.SyncModeBulk || st.State != models.SyncDone || st.Done != 700 || src.bulks != 1 {
		t.Fatalf("state = %+v, bulks = %d", st, src.bulks)
	}
	if st.ReadAllOrders {
		t.Fatal("read_all_orders = true, want false: the shop lacks the scope")
	}
	if got := countRows(t, s, "orders", shop.ID); got != 700 {
		t.Fatalf("orders = %d", got)
	}
	if got := countRows(t, s, "triggers", shop.ID); got != 0 {
		t.Fatalf("bulk backfill wrote %d triggers", got)
	}
}

func TestBackfill_RefusedTokenFailsAndFlagsShop(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "revoked.myshopify.com")
	src := newFakeSource(10, time.Now().UTC())
	b := NewBackfiller(s, src, staticTokens("revoked"), nil, BackfillConfig{}, quiet)
	st, _ := b.Begin(context.Background(), shop, time.Time{})
	src.token = "other"
	_, err := b.Run(context.Background(), shop, st.Run, nil)
	if err == nil {
		t.Fatal("run with a refused token succeeded")
	}
	st, _ = s.SyncState(context.Background(), shop.ID)
	if st.State != models.SyncFailed || st.LastError == "" {
		t.Fatalf("state = %+v, want failed with a reason", st)
	}
	sh, _ := s.ShopByID(context.Background(), shop.ID)
	if !sh.NeedsReauth {
		t.Fatal("shop not flagged for re-authorization")
	}
}

func TestBackfill_TransientErrorNotedThenResumed(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "flaky.myshopify.com")
	src := newFakeSource(200, time.Now().UTC().Add(-48*time.Hour))
	b := NewBackfiller(s, src, staticTokens("tok"), nil, BackfillConfig{}, quiet)
	st, _ := b.Begin(context.Background(), shop, time.Time{})
	src.failNext = errors.New("HTTP 503")
	if _, err := b.Run(context.Background(), shop, st.Run, nil); err == nil {
		t.Fatal("want the 503 back (the queue retries)")
	}
	mid, _ := s.SyncState(context.Background(), shop.ID)
	if mid.State != models.SyncRunning || mid.LastError == "" {
		t.Fatalf("state = %+v, want running with the error noted", mid)
	}
	st, err := b.Run(context.Background(), shop, st.Run, nil)
	if err != nil || st.State != models.SyncDone || st.Done != 200 || st.LastError != "" {
		t.Fatalf("retry = %+v, %v", st, err)
	}
}
