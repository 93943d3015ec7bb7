package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
)

// TestRunLoyalty_TinyBench_InvariantsHold runs the whole loyalty bench,
// small, against the local PostgreSQL (DATABASE_URL or the default).
func TestRunLoyalty_TinyBench_InvariantsHold(t *testing.T) {
	if testing.Short() {
		t.Skip("runs on real PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := RunLoyalty(ctx, LoyaltyConfig{Customers: 50, Workers: 4, Duration: time.Second, DatabaseURL: os.Getenv("DATABASE_URL"),
		Progress: &progress})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if rep.Void() {
		t.Fatalf("invariants broken: %v\n%s", rep.Problems(), progress.String())
	}
	if len(rep.Checks) < 10 {
		t.Errorf("only %d invariant checks ran", len(rep.Checks))
	}
	for name, x := range map[string]*LoyaltyRun{"baseline": rep.Baseline, "doorstep": rep.Doorstep} {
		if x.Ops == 0 || x.Rate() <= 0 || x.Errors != 0 || x.Quantile(.99) <= 0 {
			t.Errorf("%s: %d ops, %.0f/s, %d errors, p99 %s", name, x.Ops, x.Rate(), x.Errors, x.Quantile(.99))
		}
		var sum int64
		for _, k := range loyaltyKinds {
			sum += x.Kinds[k].Ops
		}
		if sum != x.Ops || x.Kinds[OpAward].Ops == 0 || x.Kinds[OpRedeem].Ops == 0 {
			t.Errorf("%s: ops by kind %d (awards %d, redemptions %d), total %d", name, sum, x.Kinds[OpAward].Ops, x.Kinds[OpRedeem].Ops, x.Ops)
		}
	}
	for name, b := range map[string]LoyaltyBooks{"baseline": rep.BaselineBooks, "doorstep": rep.DoorstepBooks} {
		if b.Awards == 0 || b.Reversals == 0 || b.Redemptions == 0 || b.ReplaysPosted != 0 || b.Errors != 0 {
			t.Errorf("%s books: %+v", name, b)
		}
	}
	if rep.Ratio <= 0 {
		t.Errorf("ratio %.2f", rep.Ratio)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	for _, want := range []string{"Loyalty benchmark", "invariants hold", "ledger ops/s", "Doorstep ÷ baseline", "invariant violations",
		"**Invariants**", "Store.VerifyLedger", "no double spend", rep.Machine.CPU, "| replay |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "✗") {
		t.Errorf("report has a failed check:\n%s", md.String())
	}
	if !strings.Contains(progress.String(), "dropped") {
		t.Errorf("bench database not dropped:\n%s", progress.String())
	}
}

// Replaying a customer's entries in posting order catches a redemption
// that spent points that were not available, and a cached balance that
// is not where the entries lead, with the ledger's debt rule.
func TestLoyaltyReplay_DoubleSpendAndWrongBalance_Found(t *testing.T) {
	t.Parallel()
	e := func(c int64, id uint64, kind string, points int64) ledgerRow {
		return ledgerRow{Customer: c, ID: id, Kind: kind, Points: points}
	}
	tests := []struct {
		name                    string
		rows                    []ledgerRow
		cached                  map[int64]cachedBalance
		wantSpends, wantBalance int
	}{
		{"earn, redeem within the balance",
			[]ledgerRow{e(1, 1, models.EntryEarn, 100), e(1, 2, models.EntryRedeem, -100)},
			map[int64]cachedBalance{1: {0, 0}}, 0, 0},
		{"reversal beyond the balance is debt, the next earn pays it first",
			[]ledgerRow{e(1, 1, models.EntryEarn, 100), e(1, 2, models.EntryReverse, -150), e(1, 3, models.EntryEarn, 80)},
			map[int64]cachedBalance{1: {30, 0}}, 0, 0},
		{"second redemption of the same points",
			[]ledgerRow{e(1, 1, models.EntryEarn, 100), e(1, 2, models.EntryRedeem, -100), e(1, 3, models.EntryRedeem, -100)},
			map[int64]cachedBalance{1: {0, 100}}, 1, 0},
		{"redemption while in debt",
			[]ledgerRow{e(1, 1, models.EntryEarn, 100), e(1, 2, models.EntryReverse, -200), e(1, 3, models.EntryRedeem, -50)},
			map[int64]cachedBalance{1: {0, 150}}, 1, 0},
		{"cached balance off by one",
			[]ledgerRow{e(1, 1, models.EntryEarn, 100), e(2, 2, models.EntryEarn, 10)},
			map[int64]cachedBalance{1: {99, 0}, 2: {10, 0}}, 0, 1},
		{"cached debt with no entries",
			nil, map[int64]cachedBalance{3: {0, 5}}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spends, wrong, first := replayLedger(tt.rows, tt.cached)
			if spends != tt.wantSpends || wrong != tt.wantBalance {
				t.Errorf("double spends %d, wrong balances %d (want %d, %d): %v", spends, wrong, tt.wantSpends, tt.wantBalance, first)
			}
		})
	}
}

// The op stream is the promised mix, on every customer, with unique
// source keys, and replays only of entries already posted.
func TestLoyaltyWorker_OpMix(t *testing.T) {
	t.Parallel()
	w := newWorkers(1, 42)[0]
	const n, customers = 100_000, 1000
	count := map[string]int{}
	seen := map[string]bool{}
	hit := make([]bool, customers+1)
	big := 0
	for range n {
		op := w.next(customers)
		count[op.Kind]++
		hit[op.Customer] = true
		if op.Kind == OpReplay {
			if !seen[op.Entry+":"+op.Source] {
				t.Fatalf("replay of %s %s, never posted", op.Entry, op.Source)
			}
			continue
		}
		k := op.Kind + ":" + op.Source
		if op.Kind != OpRedeem {
			k = op.Entry + ":" + op.Source
		}
		if seen[k] {
			t.Fatalf("source key %s drawn twice", k)
		}
		seen[k] = true
		if op.Kind == OpReverse && op.Points <= -400 {
			big++
		}
		w.remember(op)
	}
	for kind, want := range map[string]float64{OpAward: .49, OpReverse: .245, OpRedeem: .245, OpReplay: .02} {
		if got := float64(count[kind]) / n; got < want*0.9 || got > want*1.1 {
			t.Errorf("%s: %.3f of the ops, want ~%.3f", kind, got, want)
		}
	}
	for c := 1; c <= customers; c++ {
		if !hit[c] {
			t.Fatalf("customer %d never drawn", c)
		}
	}
	if frac := float64(big) / float64(count[OpReverse]); frac < 0.07 || frac > 0.13 {
		t.Errorf("%.2f of reversals are large, want ~0.10", frac)
	}
}
