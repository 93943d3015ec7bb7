package jobs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// loyaltyEnv drives the loyalty flow and scan directly on a real database,
// with orders written through the store as the processor would.
type loyaltyEnv struct {
	t     *testing.T
	ctx   context.Context
	store *models.Store
	shop  models.Shop
	flow  *LoyaltyFlow
	scan  *LoyaltyScanner
	now   time.Time
	trig  uint64
}

const loyaltyCustomer = 4242

func newLoyaltyEnv(t *testing.T, configure func(*LoyaltyProgram)) *loyaltyEnv {
	t.Helper()
	e := &loyaltyEnv{t: t, ctx: context.Background(), store: modelstest.Store(t), now: time.Date(2030, 3, 12, 9, 0, 0, 0, time.UTC)}
	installed := e.now.Add(-time.Hour)
	var err error
	e.shop, err = e.store.SaveInstall(e.ctx, models.Shop{Platform: "shopify", Domain: "loyal.myshopify.com", Name: "Loyal",
		Currency: "USD", InstalledAt: &installed}, models.Token{AccessToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultLoyaltyProgram()
	p.Enabled = true
	p.Bonuses.FirstOrder = 0
	p.Tiers = nil
	if configure != nil {
		configure(&p)
	}
	if err := SaveLoyaltyProgram(e.ctx, e.store, e.shop.ID, p); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return e.now }
	e.flow = NewLoyaltyFlow(e.store, nil, clock, quiet)
	e.scan = NewLoyaltyScanner(e.store, nil, nil, clock, quiet)
	return e
}

// lineSpec is a line: quantity, unit price, discount allocated to the line.
type lineSpec struct {
	id        int64
	qty       int
	price     string
	allocated string
}

// saveOrder writes the order as the processor would (newer-wins by
// updated time).
func (e *loyaltyEnv) saveOrder(o models.Order, lines []lineSpec, refunds ...models.Refund) {
	e.t.Helper()
	e.now = e.now.Add(time.Minute)
	o.PlatformUpdatedAt = e.now
	if o.PlatformCreatedAt.IsZero() {
		o.PlatformCreatedAt = time.Date(2030, 3, 12, 8, 0, 0, 0, time.UTC)
	}
	o.CustomerPlatformID = loyaltyCustomer
	for _, l := range lines {
		o.LineItems = append(o.LineItems, models.LineItem{PlatformID: l.id, Quantity: l.qty, Price: decimal.RequireFromString(l.price),
			DiscountAllocated: decimal.RequireFromString(l.allocated), Title: "line " + strconv.FormatInt(l.id, 10)})
	}
	err := e.store.InTx(e.ctx, func(tx *models.Tx) error {
		if _, _, err := tx.UpsertOrder(e.shop.ID, &o); err != nil {
			return err
		}
		if err := tx.UpsertLineItems(e.shop.ID, o.ID, o.LineItems); err != nil {
			return err
		}
		for i := range refunds {
			refunds[i].OrderPlatformID = o.PlatformID
			if _, err := tx.UpsertRefund(e.shop.ID, &refunds[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *loyaltyEnv) trigger(kind, subject string, order int64) {
	e.t.Helper()
	e.trig++
	t := models.Trigger{ID: e.trig, ShopID: e.shop.ID, Kind: kind, Subject: subject, OrderPlatformID: order, CreatedAt: e.now}
	if err := e.flow.Handle(e.ctx, t); err != nil {
		e.t.Fatalf("%s %s: %v", kind, subject, err)
	}
}

func (e *loyaltyEnv) account() models.LoyaltyAccount {
	e.t.Helper()
	a, err := e.store.Account(e.ctx, models.AccountKey{ShopID: e.shop.ID, CustomerPlatformID: loyaltyCustomer})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *loyaltyEnv) verify() {
	e.t.Helper()
	bad, err := e.store.VerifyLedger(e.ctx, e.shop.ID)
	if err != nil || len(bad) > 0 {
		e.t.Fatalf("ledger self-check: %+v %v", bad, err)
	}
}

func refund(id int64, lines ...[2]int64) models.Refund {
	r := models.Refund{PlatformID: id, PlatformCreatedAt: time.Date(2030, 3, 13, 0, 0, 0, 0, time.UTC)}
	for _, l := range lines {
		r.Lines = append(r.Lines, models.RefundLine{PlatformID: id*100 + l[0], LineItemPlatformID: l[0], Quantity: int(l[1])})
	}
	return r
}

// The order of the table: 3 × $10 (discount $3 allocated) and 1 × $25.50
// ($2 allocated): subtotal after discounts $50.50 → 50 points at 1/$,
// split 27 / 23 by the lines' weights (26.73 and 23.27, the extra point to
// the larger remainder).
var (
	tableLines = []lineSpec{{id: 11, qty: 3, price: "10.00", allocated: "3.00"}, {id: 12, qty: 1, price: "25.50", allocated: "2.00"}}
	paid       = models.Order{PlatformID: 900, Name: "#1900", Currency: "USD", FinancialStatus: "paid",
		OriginalSubtotal: decimal.RequireFromString("50.50"), TotalShipping: decimal.RequireFromString("7.00"), TotalTax: decimal.RequireFromString("4.04")}
)

func withStatus(o models.Order, status string) models.Order {
	o.FinancialStatus = status
	return o
}

// step is one event in an order's life and the balances it must leave.
type step struct {
	name      string
	do        func(e *loyaltyEnv)
	available int64
	pending   int64
	debt      int64
}

func TestLoyalty_EarnAndReversalSequences(t *testing.T) {
	t.Parallel()
	pay := func(e *loyaltyEnv) {
		e.saveOrder(paid, tableLines)
		e.trigger(models.TriggerOrderPaid, "order:900", 900)
	}
	refundOne := func(id int64, lines ...[2]int64) func(e *loyaltyEnv) {
		return func(e *loyaltyEnv) {
			var rs []models.Refund
			for rid := int64(1); rid <= id; rid++ {
				switch rid {
				case id:
					rs = append(rs, refund(rid, lines...))
				}
			}
			e.saveOrder(withStatus(paid, "partially_refunded"), tableLines, rs...)
			e.trigger(models.TriggerRefundCreated, fmt.Sprintf("refund:%d", id), 900)
		}
	}
	fullRefund := func(id int64, lines ...[2]int64) func(e *loyaltyEnv) {
		return func(e *loyaltyEnv) {
			e.saveOrder(withStatus(paid, "refunded"), tableLines, refund(id, lines...))
			e.trigger(models.TriggerRefundCreated, fmt.Sprintf("refund:%d", id), 900)
		}
	}
	cancel := func(e *loyaltyEnv) {
		o := withStatus(paid, "refunded")
		at := e.now
		o.CancelledAt = &at
		e.saveOrder(o, tableLines)
		e.trigger(models.TriggerOrderCancelled, "order:900", 900)
	}
	mature := func(e *loyaltyEnv) {
		e.now = e.now.Add(31 * 24 * time.Hour)
		if _, err := e.scan.Scan(e.ctx, e.shop.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	spend := func(points int64) func(e *loyaltyEnv) {
		return func(e *loyaltyEnv) {
			_, _, err := e.store.Redeem(e.ctx, e.now, models.AccountKey{ShopID: e.shop.ID, CustomerPlatformID: loyaltyCustomer},
				models.LoyaltyRedemption{Code: "DS-TEST-" + strconv.FormatInt(points, 10), Points: points})
			if err != nil {
				e.t.Fatal(err)
			}
		}
	}

	cases := []struct {
		name      string
		configure func(*LoyaltyProgram)
		steps     []step
	}{
		{name: "earn is pending for the return window, then available", steps: []step{
			{name: "paid", do: pay, pending: 50},
			{name: "window passes", do: mature, available: 50},
		}},
		{name: "partial refunds take back the refunded units' share; the last takes the rest", steps: []step{
			{name: "paid", do: pay, pending: 50},
			{name: "refund 1 of 3 aprons", do: refundOne(1, [2]int64{11, 1}), pending: 41},         // 27·1/3 = 9
			{name: "refund another apron", do: refundOne(2, [2]int64{11, 1}), pending: 32},         // 27·2/3 = 18 → 9 more
			{name: "replay of refund 2", do: refundOne(2, [2]int64{11, 1}), pending: 32},           // nothing new
			{name: "full refund", do: fullRefund(3, [2]int64{11, 1}, [2]int64{12, 1}), pending: 0}, // the rest: 9 + 23
			{name: "replay of the full refund", do: fullRefund(3, [2]int64{11, 1}, [2]int64{12, 1}), pending: 0},
		}},
		{name: "a refund after the window comes off available points", steps: []step{
			{name: "paid", do: pay, pending: 50},
			{name: "window passes", do: mature, available: 50},
			{name: "refund the jacket", do: refundOne(1, [2]int64{12, 1}), available: 27},
		}},
		{name: "reversing points already spent records a debt", steps: []step{
			{name: "paid", do: pay, pending: 50},
			{name: "window passes", do: mature, available: 50},
			{name: "spend 40", do: spend(40), available: 10},
			{name: "cancelled", do: cancel, available: 0, debt: 40},
		}},
		{name: "cancellation takes back every point of the order, bonus included", configure: func(p *LoyaltyProgram) {
			p.Bonuses.FirstOrder = 100
		}, steps: []step{
			{name: "paid", do: pay, pending: 150},
			{name: "cancelled", do: cancel, pending: 0},
		}},
		{name: "rounding: 1.5 points per unit at a 1.25 tier multiplier floor the total", configure: func(p *LoyaltyProgram) {
			p.PointsPerUnit = decimal.RequireFromString("1.5")
			p.Tiers = []Tier{{Name: "Base", MinSpend: decimal.Zero, Multiplier: decimal.RequireFromString("1.25")}}
		}, steps: []step{
			// The first order is earned at the tier the customer had (none yet: ×1): 50.50 × 1.5 = 75.75 → 75.
			{name: "paid", do: pay, pending: 75},
			{name: "refund 1 apron", do: refundOne(1, [2]int64{11, 1}), pending: 62}, // apron line: 40 of 75 → 40·1/3 = 13
		}},
		{name: "shipping and tax count when the program includes them", configure: func(p *LoyaltyProgram) {
			p.IncludeShipping, p.IncludeTax = true, true
		}, steps: []step{
			{name: "paid", do: pay, pending: 61}, // 50.50 + 7.00 + 4.04
		}},
		{name: "an exchange for a like item nets to zero", steps: []step{
			{name: "paid", do: pay, pending: 50},
			{name: "apron exchanged: one refunded, a $10 item with $1 off added", do: func(e *loyaltyEnv) {
				lines := append(append([]lineSpec{}, tableLines...), lineSpec{id: 13, qty: 1, price: "10.00", allocated: "1.00"})
				e.saveOrder(withStatus(paid, "partially_refunded"), lines, refund(1, [2]int64{11, 1}))
				e.trigger(models.TriggerRefundCreated, "refund:1", 900)
			}, pending: 50},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newLoyaltyEnv(t, tc.configure)
			for _, s := range tc.steps {
				s.do(e)
				a := e.account()
				if a.Available != s.available || a.Pending != s.pending || a.Debt != s.debt {
					t.Fatalf("after %q: available %d pending %d debt %d, want %d %d %d", s.name,
						a.Available, a.Pending, a.Debt, s.available, s.pending, s.debt)
				}
				e.verify()
			}
		})
	}
}

func TestLoyalty_MultiCurrencyEarnsOnShopMoneyAtTheFrozenRate(t *testing.T) {
	t.Parallel()
	// A yen shop: 1 point per ¥100. The shopper paid in euros; Shopify's
	// shop money is yen, and that is what points are computed on.
	e := newLoyaltyEnv(t, func(p *LoyaltyProgram) { p.PointsPerUnit = decimal.RequireFromString("0.01") })
	o := models.Order{PlatformID: 901, Name: "#1901", Currency: "JPY", PresentmentCurrency: "EUR", FinancialStatus: "paid",
		OriginalSubtotal: decimal.RequireFromString("12345")}
	e.saveOrder(o, []lineSpec{{id: 21, qty: 1, price: "12345", allocated: "0"}})
	e.trigger(models.TriggerOrderPaid, "order:901", 901)
	if a := e.account(); a.Pending != 123 {
		t.Fatalf("pending %d, want 123", a.Pending)
	}
	// The merchant then doubles the rate; the refund takes back what was
	// given (123), not today's rate's 246.
	prog, _ := LoadLoyaltyProgram(e.ctx, e.store, e.shop.ID)
	prog.PointsPerUnit = decimal.RequireFromString("0.02")
	if err := SaveLoyaltyProgram(e.ctx, e.store, e.shop.ID, prog); err != nil {
		t.Fatal(err)
	}
	o.FinancialStatus = "refunded"
	e.saveOrder(o, []lineSpec{{id: 21, qty: 1, price: "12345", allocated: "0"}}, refund(1, [2]int64{21, 1}))
	e.trigger(models.TriggerRefundCreated, "refund:1", 901)
	if a := e.account(); a.Pending != 0 || a.Available != 0 || a.Debt != 0 {
		t.Fatalf("after the refund: %+v", a)
	}
	entries, _ := e.store.OrderEntries(e.ctx, e.shop.ID, 901)
	if len(entries) != 2 || entries[0].Currency != "JPY" || !entries[0].Rate.Equal(decimal.RequireFromString("0.01")) ||
		!entries[1].Rate.Equal(decimal.RequireFromString("0.01")) {
		t.Fatalf("entries: %+v", entries)
	}
	e.verify()
}

func TestAllocate_SumsExactly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int64
		w    []string
		want []int64
	}{
		{50, []string{"27", "23.5"}, []int64{27, 23}},
		{10, []string{"1", "1", "1"}, []int64{4, 3, 3}},
		{1, []string{"1", "2"}, []int64{0, 1}},
		{0, []string{"1"}, []int64{0}},
	} {
		var ws []decimal.Decimal
		for _, w := range tc.w {
			ws = append(ws, decimal.RequireFromString(w))
		}
		got := allocate(tc.n, ws)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("allocate(%d, %v) = %v, want %v", tc.n, tc.w, got, tc.want)
		}
	}
}

// TestLoyalty_ShopperIsToldOfAReversalOnce runs the real pipeline: webhooks
// through the processor, triggers through the flows, the notice through
// the message policy to the SMTP sink.
func TestLoyalty_ShopperIsToldOfAReversalOnce(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	prog := DefaultLoyaltyProgram()
	prog.Enabled, prog.Tiers, prog.Bonuses.FirstOrder = true, nil, 0
	if err := SaveLoyaltyProgram(e.ctx, e.store, e.shop.ID, prog); err != nil {
		t.Fatal(err)
	}
	o := testOrder{id: 31, email: "ana@example.com", financial: "paid", updated: e.clock()}
	e.deliver("orders/paid", o.json())
	key := models.AccountKey{ShopID: e.shop.ID, CustomerPlatformID: 5500 + 31}
	a, err := e.store.Account(e.ctx, key)
	if err != nil || a.Pending != 64 {
		t.Fatalf("after paying €64: %+v %v", a, err)
	}
	// Two of the scissors come back: their 30 points go, and Ana hears it.
	refund := []byte(`{"id":9031,"order_id":31,"created_at":"` + e.clock().Format(time.RFC3339) +
		`","refund_line_items":[{"id":90311,"line_item_id":312,"quantity":2,"subtotal":"30.00"}],"transactions":[]}`)
	e.deliver("refunds/create", refund)
	e.deliver("refunds/create", refund) // Shopify retries
	a, _ = e.store.Account(e.ctx, key)
	if a.Pending != 34 {
		t.Fatalf("after the refund: %+v, want 34 pending", a)
	}
	var notices []models.Message
	for _, m := range e.messages() {
		if m.Flow == FlowLoyaltyReversed {
			notices = append(notices, m)
		}
	}
	if len(notices) != 1 || notices[0].Status != models.MessageSent {
		t.Fatalf("reversal notices: %s", e.describe())
	}
	got := e.sink.Messages()
	last := got[len(got)-1]
	for _, want := range []string{"Points removed: 30 points", "Reason: Partial refund", "Pending: 34 points", "#1031"} {
		if !strings.Contains(last.Text, want) {
			t.Fatalf("notice lacks %q:\n%s", want, last.Text)
		}
	}
}

// Spend that leaves the rolling 12 months lowers the tier with no order
// event to notice it: the nightly sweep (03:00 shop time) does.
func TestLoyalty_NightlySweepLowersATierWhoseSpendAged(t *testing.T) {
	t.Parallel()
	e := newLoyaltyEnv(t, func(p *LoyaltyProgram) {
		p.Tiers = []Tier{{Name: "Member", MinSpend: decimal.Zero, Multiplier: decimal.NewFromInt(1)},
			{Name: "Gold", MinSpend: decimal.NewFromInt(40), Multiplier: decimal.RequireFromString("1.5")}}
	})
	o := paid
	o.PlatformCreatedAt = e.now.Add(-time.Hour)
	e.saveOrder(o, tableLines)
	e.trigger(models.TriggerOrderPaid, "order:900", 900)
	if a := e.account(); a.Tier != "Gold" {
		t.Fatalf("after a $50.50 order: tier %q, want Gold", a.Tier)
	}
	// 13 months later, at 10:00: not the sweep's hour.
	e.now = e.now.AddDate(0, 13, 0)
	e.now = time.Date(e.now.Year(), e.now.Month(), e.now.Day(), 10, 0, 0, 0, time.UTC)
	if res, err := e.scan.Scan(e.ctx, e.shop.ID); err != nil || res.TiersChanged != 0 || e.account().Tier != "Gold" {
		t.Fatalf("daytime scan: %+v %v tier %q", res, err, e.account().Tier)
	}
	e.now = time.Date(e.now.Year(), e.now.Month(), e.now.Day()+1, 3, 20, 0, 0, time.UTC)
	res, err := e.scan.Scan(e.ctx, e.shop.ID)
	if err != nil || res.TiersChanged != 1 {
		t.Fatalf("night scan: %+v %v", res, err)
	}
	if a := e.account(); a.Tier != "Member" || !a.Spend12m.IsZero() {
		t.Fatalf("after the sweep: tier %q spend %s, want Member 0", a.Tier, a.Spend12m)
	}
}
