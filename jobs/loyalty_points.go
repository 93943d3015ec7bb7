package jobs

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// The arithmetic of earning and reversing, kept free of I/O so a table test
// can walk every refund sequence.

// earnBasis is the money an order earns on, in the shop's currency: the
// subtotal as placed (after discounts, before shipping and tax), plus
// shipping and tax when the program says so.
func earnBasis(p LoyaltyProgram, o *models.Order) decimal.Decimal {
	b := o.OriginalSubtotal
	if b.IsZero() {
		// Payloads from before the field existed: the lines, less their
		// discounts.
		for _, l := range o.LineItems {
			b = b.Add(lineWeight(l))
		}
	}
	if p.IncludeShipping {
		b = b.Add(o.TotalShipping)
	}
	if p.IncludeTax {
		b = b.Add(o.TotalTax)
	}
	if b.IsNegative() {
		return decimal.Zero
	}
	return b
}

// lineWeight is what a line contributes to the order: its price times
// quantity less every discount allocated to it.
func lineWeight(l models.LineItem) decimal.Decimal {
	disc := l.DiscountAllocated
	if disc.IsZero() {
		disc = l.TotalDiscount
	}
	w := l.Price.Mul(decimal.NewFromInt(int64(l.Quantity))).Sub(disc)
	if w.IsNegative() {
		return decimal.Zero
	}
	return w
}

// earnEntries are a paid order's earn entries: floor(basis × rate ×
// multiplier) points in all, allocated to the lines in proportion to their
// weight (largest remainder, so the lines add up to the total exactly), each
// entry frozen with its rate and multiplier and pending until the return
// window ends. When the ledger already has some of the order's lines (have),
// only lines added since earn, each on its own weight: an exchange's new
// item earns what it is worth, so a like-for-like exchange nets to zero.
func earnEntries(p LoyaltyProgram, o *models.Order, mult decimal.Decimal, paidAt time.Time, have map[string]bool) []models.LoyaltyEntry {
	var lines []models.LineItem
	var weights []decimal.Decimal
	total := decimal.Zero
	for _, l := range o.LineItems {
		w := lineWeight(l)
		if w.IsZero() || have[strconv.FormatInt(l.PlatformID, 10)] {
			continue
		}
		lines, weights, total = append(lines, l), append(weights, w), total.Add(w)
	}
	if total.IsZero() {
		return nil
	}
	var shares []int64
	var basis decimal.Decimal
	if len(have) == 0 {
		basis = earnBasis(p, o)
		shares = allocate(basis.Mul(p.PointsPerUnit).Mul(mult).Floor().IntPart(), weights)
	} else {
		basis = total
		for _, w := range weights {
			shares = append(shares, w.Mul(p.PointsPerUnit).Mul(mult).Floor().IntPart())
		}
	}
	until := paidAt.Add(p.ReturnWindow.D())
	var out []models.LoyaltyEntry
	for i, l := range lines {
		if shares[i] == 0 {
			continue
		}
		out = append(out, models.LoyaltyEntry{Kind: models.EntryEarn, SourceType: models.SourceLineItem,
			SourceID: strconv.FormatInt(l.PlatformID, 10), Points: shares[i], PendingUntil: &until, Rate: p.PointsPerUnit,
			Multiplier: mult, Basis: basis.Mul(weights[i]).Div(total).Round(2), Currency: o.Currency, OrderPlatformID: o.PlatformID,
			Reason: fmt.Sprintf("order %s: %s", o.Name, l.Title)})
	}
	return out
}

// allocate splits n into parts proportional to weights, summing to n
// exactly: each part is floored, and what is left goes one by one to the
// largest remainders (earlier lines first on ties).
func allocate(n int64, weights []decimal.Decimal) []int64 {
	out := make([]int64, len(weights))
	total := decimal.Zero
	for _, w := range weights {
		total = total.Add(w)
	}
	if n <= 0 || total.IsZero() {
		return out
	}
	type rem struct {
		i int
		r decimal.Decimal
	}
	rems := make([]rem, len(weights))
	var given int64
	for i, w := range weights {
		exact := decimal.NewFromInt(n).Mul(w).Div(total)
		out[i] = exact.Floor().IntPart()
		given += out[i]
		rems[i] = rem{i, exact.Sub(exact.Floor())}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r.GreaterThan(rems[b].r) })
	for k := 0; given < n; k++ {
		out[rems[k%len(rems)].i]++
		given++
	}
	return out
}

// reversal is what should be taken back from one earn entry.
type reversal struct {
	earn   models.LoyaltyEntry
	target int64 // points that should be reversed in all, by now
	done   int64 // points already reversed
}

// reversalEntries compute what the order's state says must be taken back,
// against what the ledger shows was given and already taken: for each earn
// entry, the share of its line's units refunded so far (floored, so the
// last refund takes the rest and the total is exact), or everything when
// the order is cancelled or fully refunded. Bonuses tied to the order go
// with a cancellation or full refund. sourceID names the cause (the refund,
// or the cancellation) so a replay posts nothing.
func reversalEntries(o *models.Order, entries []models.LoyaltyEntry, cause string) []models.LoyaltyEntry {
	refunded := map[int64]int{} // line platform id → units refunded
	for _, r := range o.Refunds {
		for _, rl := range r.Lines {
			refunded[rl.LineItemPlatformID] += rl.Quantity
		}
	}
	qty := map[int64]int{}
	for _, l := range o.LineItems {
		qty[l.PlatformID] = l.Quantity
	}
	all := o.Cancelled() || o.FinancialStatus == "refunded" || o.FinancialStatus == "voided"
	done := map[uint64]int64{}
	for _, e := range entries {
		if e.Kind == models.EntryReverse && e.RelatedID != 0 {
			done[e.RelatedID] += -e.Points
		}
	}
	var rs []reversal
	for _, e := range entries {
		if e.Kind != models.EntryEarn || e.Points <= 0 {
			continue
		}
		r := reversal{earn: e, done: done[e.ID]}
		switch {
		case all:
			r.target = e.Points
		case e.SourceType == models.SourceLineItem:
			line, _ := strconv.ParseInt(e.SourceID, 10, 64)
			if q := qty[line]; q > 0 {
				units := min(refunded[line], q)
				r.target = e.Points * int64(units) / int64(q)
			}
		}
		rs = append(rs, r)
	}
	var out []models.LoyaltyEntry
	for _, r := range rs {
		delta := r.target - r.done
		if delta <= 0 {
			continue
		}
		out = append(out, models.LoyaltyEntry{Kind: models.EntryReverse, SourceType: models.SourceRefundLine,
			SourceID: cause + ":" + strconv.FormatUint(r.earn.ID, 10), Points: -delta, PendingUntil: r.earn.PendingUntil,
			Rate: r.earn.Rate, Multiplier: r.earn.Multiplier, Currency: r.earn.Currency, OrderPlatformID: o.PlatformID,
			RelatedID: r.earn.ID, Reason: reversalReason(o, cause)})
	}
	return out
}

func reversalReason(o *models.Order, cause string) string {
	switch {
	case o.Cancelled():
		return fmt.Sprintf("order %s cancelled", o.Name)
	case o.FinancialStatus == "refunded":
		return fmt.Sprintf("order %s refunded", o.Name)
	}
	return fmt.Sprintf("order %s partly refunded (%s)", o.Name, cause)
}

// earnedLines is the set of line ids the ledger already has earn entries for.
func earnedLines(entries []models.LoyaltyEntry) map[string]bool {
	have := map[string]bool{}
	for _, e := range entries {
		if e.Kind == models.EntryEarn && e.SourceType == models.SourceLineItem {
			have[e.SourceID] = true
		}
	}
	return have
}

// pointsOf sums entries' points.
func pointsOf(es []models.LoyaltyEntry) int64 {
	var n int64
	for _, e := range es {
		n += e.Points
	}
	return n
}

// hasKind reports whether any entry is of kind.
func hasKind(es []models.LoyaltyEntry, kind string) bool {
	return slices.ContainsFunc(es, func(e models.LoyaltyEntry) bool { return e.Kind == kind })
}
