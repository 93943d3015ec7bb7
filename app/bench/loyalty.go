package bench

// `doorstep bench loyalty`: the points ledger under concurrent load, beside
// a bare baseline on the same PostgreSQL in the same run.
//
// --workers goroutines run for --duration (after a warm-up), each op on a
// customer drawn uniformly from --customers: ~49% awards (an earn entry,
// available at once), ~24.5% reversals (a negative reverse entry, sometimes
// larger than the balance: debt, never a negative balance), ~24.5%
// redemptions (models.Store.Redeem; not enough points is a completed op,
// "refused") and ~2% replays of a source key already posted (must post
// nothing). The baseline runs the same op stream on two bare tables: per op
// one transaction, a conditional UPDATE of the balance and one INSERT.
//
// Afterwards the invariants are checked: the ledger verifies, no balance is
// negative, every customer's entries add up to what the bench posted, the
// entries replayed in commit order never let a redemption spend points that
// were not available, redemption rows match the successful redemptions, and
// replays posted nothing. Any violation, or any unexpected error, voids the
// run.

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
)

// Targets from the issue (on 2 cores).
const (
	TargetLoyaltyRate  = 2000.0 // ledger ops/s
	TargetLoyaltyRatio = 0.50   // of the baseline's ops/s
)

const (
	loyaltyShop         = "doorstep-bench-loyalty.myshopify.com"
	loyaltySeedPoints   = 1000
	loyaltyCustomerBase = int64(8_300_000_000_000_000) // big, Shopify-like customer ids
	loyaltyReplayRing   = 256                          // recent posted keys a worker may replay
	loyaltySeedChunk    = 250                          // accounts per seed transaction
	appNameDoorstep     = "doorstep-bench-loyalty"
	appNameBaseline     = "doorstep-bench-loyalty-baseline"
	appNameMonitor      = "doorstep-bench-monitor"
)

// Loyalty op kinds.
const (
	OpAward   = "award"
	OpReverse = "reversal"
	OpRedeem  = "redemption"
	OpReplay  = "replay"
)

var loyaltyKinds = []string{OpAward, OpReverse, OpRedeem, OpReplay}

// LoyaltyConfig is one `doorstep bench loyalty` run.
type LoyaltyConfig struct {
	Customers int           // customers the ops spread over, uniformly (default 1,000)
	Workers   int           // concurrent goroutines, on each side (default 16)
	Duration  time.Duration // measured, on each side (default 10 s)
	// Warmup runs before each measurement; its ops are in the invariant
	// checks but not in the numbers (default min(1 s, Duration/5)).
	Warmup time.Duration
	// DatabaseURL is the PostgreSQL server; the bench creates its own
	// database there and drops it at the end.
	DatabaseURL string
	// Progress gets one line per step; nil discards.
	Progress io.Writer
	// CPUProfile, if set, is a path prefix: PREFIX.loyalty-baseline.pprof
	// and PREFIX.loyalty-doorstep.pprof.
	CPUProfile string
	// Seed makes the op streams repeatable (0: random). Both sides get
	// the same stream.
	Seed uint64
}

func (c *LoyaltyConfig) defaults() {
	if c.Customers <= 0 {
		c.Customers = 1000
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = min(time.Second, c.Duration/5)
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = defaultPGURL
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		for _, x := range b {
			c.Seed = c.Seed<<8 | uint64(x)
		}
		c.Seed |= 1
	}
}

// OpTally is what one kind of op did in a measured run.
type OpTally struct {
	Ops     int64 // completed, refused ones included
	Refused int64 // not enough points: a redemption (or, on the baseline, a reversal) that wrote nothing
	Debt    int64 // reversals that left the account in debt (Doorstep only)
	Lat     []time.Duration
}

// WaitProfile is what the side's PostgreSQL backends were doing, sampled
// every 100 ms during the measured run: the mean number of backends in each
// state.
type WaitProfile struct {
	Samples int
	Mean    map[string]float64 // by waitClasses
	Events  map[string]float64 // "type:event" of the waits, mean backends
}

// Wait classes, in report order.
const (
	WaitCPU    = "executing"
	WaitLock   = "row lock"
	WaitWAL    = "WAL / IO"
	WaitOther  = "other wait"
	WaitInTx   = "in a transaction, waiting for the app"
	WaitIdle   = "between transactions"
	waitSample = 100 * time.Millisecond
)

var waitClasses = []string{WaitCPU, WaitLock, WaitWAL, WaitOther, WaitInTx, WaitIdle}

// LoyaltyRun is one side's measured run.
type LoyaltyRun struct {
	Kinds   map[string]*OpTally
	Ops     int64         // completed ops, every kind
	Errors  int64         // ops that failed (any error but not enough points): the run is void
	Elapsed time.Duration // first op's start → last op's end
	CPU     CPUUse
	Servers ServerCPU // the bench database's PostgreSQL backends
	// StatementsPer is the SQL statements the side sent per op, BEGIN and
	// COMMIT not counted (every op is one transaction: add 2 for the round
	// trips).
	StatementsPer float64
	Waits         WaitProfile
	lat           []time.Duration
}

// Rate is completed ops per second.
func (r *LoyaltyRun) Rate() float64 {
	if r == nil || r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Quantile of every op's latency (q in [0,1]).
func (r *LoyaltyRun) Quantile(q float64) time.Duration { return quantile(r.lat, q) }

func quantile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	if !slices.IsSorted(lat) {
		slices.Sort(lat)
	}
	i := min(max(int(q*float64(len(lat))+0.5)-1, 0), len(lat)-1)
	return lat[i]
}

// LoyaltyBooks is one side's own accounting of every op it ran, warm-up
// included: what the invariant checks compare the database against.
type LoyaltyBooks struct {
	Awards, Reversals, Redemptions int64 // posted (written)
	Refused                        int64 // ops that wrote nothing for lack of points
	Replays, ReplaysPosted         int64 // replays run, and those that wrote something (must be 0)
	Errors                         int64
	ErrorSamples                   map[string]int64 // first distinct error messages
	// Expected is each customer's points as the bench posted them (index:
	// customer number, 1-based), the seed included.
	Expected []int64
}

// LoyaltyReport is a whole `doorstep bench loyalty` run.
type LoyaltyReport struct {
	Started  time.Time
	Elapsed  time.Duration
	Config   LoyaltyConfig
	Machine  Machine
	Before   CPUUse // the machine during one second before the run
	Database string // the bench database's name (dropped afterwards)
	Seeded   time.Duration
	Baseline *LoyaltyRun
	Doorstep *LoyaltyRun
	Ratio    float64 // Doorstep ops/s ÷ baseline ops/s
	// The books, warm-ups included.
	DoorstepBooks, BaselineBooks LoyaltyBooks
	Checks                       []LoyaltyCheck
}

// LoyaltyCheck is one invariant, checked after both runs.
type LoyaltyCheck struct {
	Side, What, Got string
	OK              bool
}

// Problems lists the failed checks.
func (r *LoyaltyReport) Problems() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, fmt.Sprintf("%s: %s (%s)", c.Side, c.What, c.Got))
		}
	}
	return out
}

// Violations counts the failed checks.
func (r *LoyaltyReport) Violations() int { return len(r.Problems()) }

// Void: an invariant broke or an op failed, so the numbers mean nothing.
func (r *LoyaltyReport) Void() bool { return r.Violations() > 0 }

// RateMet, RatioMet say whether the targets were met.
func (r *LoyaltyReport) RateMet() bool { return !r.Void() && r.Doorstep.Rate() >= TargetLoyaltyRate }

// RatioMet reports whether Doorstep reached the target share of the baseline.
func (r *LoyaltyReport) RatioMet() bool { return !r.Void() && r.Ratio >= TargetLoyaltyRatio }

// RunLoyalty runs the loyalty bench. An error means the run could not be
// carried out; a run that ran but broke an invariant returns a report with
// Void() true.
func RunLoyalty(ctx context.Context, cfg LoyaltyConfig) (*LoyaltyReport, error) {
	cfg.defaults()
	r := &loyaltyRunner{cfg: cfg, rep: &LoyaltyReport{Started: time.Now().UTC(), Config: cfg, Machine: machine()}}
	err := r.run(ctx)
	r.rep.Elapsed = time.Since(r.rep.Started)
	if err != nil {
		return nil, err
	}
	return r.rep, nil
}

type loyaltyRunner struct {
	cfg    LoyaltyConfig
	rep    *LoyaltyReport
	mon    *pgxpool.Pool
	store  *models.Store
	shopID uint64
	stmts  *stmtCounter
}

func (r *loyaltyRunner) say(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "bench loyalty: "+format+"\n", args...)
}

func withAppName(dbURL, name string) string {
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	return dbURL + sep + "application_name=" + name
}

func (r *loyaltyRunner) run(ctx context.Context) (err error) {
	c0 := sampleCPU()
	time.Sleep(time.Second)
	r.rep.Before = cpuBetween(c0, sampleCPU())
	r.say("before the run, other processes kept %.2f of %d cores busy", r.rep.Before.Others+r.rep.Before.Self, r.rep.Machine.Cores)

	bdb, err := freshDatabase(ctx, r.cfg.DatabaseURL, r.say)
	if err != nil {
		return err
	}
	defer func() {
		if derr := bdb.drop(r.say); err == nil {
			err = derr
		}
	}()
	r.rep.Database, r.rep.Machine.Postgres = bdb.name, bdb.version

	// Doorstep's store, as the app opens it (a pool of 25), migrated.
	db, err := models.Open(ctx, config.Config{DatabaseURL: withAppName(bdb.url, appNameDoorstep)}, nil)
	if err != nil {
		return err
	}
	defer models.Close(db)
	if err := models.Migrate(ctx, db); err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = crand.Read(key)
	cipher, err := models.NewCipher(key)
	if err != nil {
		return err
	}
	r.store = models.NewStore(db, cipher)
	r.stmts = countStatements(db)
	shop, err := r.store.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: loyaltyShop, Name: "Doorstep Bench",
		Currency: "USD"}, models.Token{AccessToken: "shpat_bench_" + randHex(8), Scopes: "read_orders"})
	if err != nil {
		return fmt.Errorf("install the bench shop: %w", err)
	}
	r.shopID = shop.ID

	mcfg, err := pgxpool.ParseConfig(withAppName(bdb.url, appNameMonitor))
	if err != nil {
		return fmt.Errorf("monitor pool: %w", err)
	}
	mcfg.MaxConns = 2
	if r.mon, err = pgxpool.NewWithConfig(ctx, mcfg); err != nil {
		return fmt.Errorf("monitor pool: %w", err)
	}
	defer r.mon.Close()

	// The baseline's pool: pgx, as large as Doorstep's.
	bcfg, err := pgxpool.ParseConfig(withAppName(bdb.url, appNameBaseline))
	if err != nil {
		return fmt.Errorf("baseline pool: %w", err)
	}
	bcfg.MaxConns = 25
	bpool, err := pgxpool.NewWithConfig(ctx, bcfg)
	if err != nil {
		return fmt.Errorf("baseline pool: %w", err)
	}
	defer bpool.Close()
	base := &baselineLedger{pool: bpool}

	start := time.Now()
	if err := r.seedDoorstep(ctx); err != nil {
		return err
	}
	if err := base.seed(ctx, r.cfg.Customers); err != nil {
		return err
	}
	r.rep.Seeded = time.Since(start)
	r.say("%d customers seeded with %d points each on both sides in %s", r.cfg.Customers, loyaltySeedPoints, r.rep.Seeded.Round(time.Millisecond))

	bbooks := newBooks(r.cfg.Customers)
	r.rep.Baseline = r.side(ctx, "baseline", base, base.statements, appNameBaseline, bbooks)
	dbooks := newBooks(r.cfg.Customers)
	door := &doorstepLedger{st: r.store, shopID: r.shopID}
	r.rep.Doorstep = r.side(ctx, "doorstep", door, func() int64 { return r.stmts.n.Load() }, appNameDoorstep, dbooks)
	if err := ctx.Err(); err != nil {
		return err
	}
	if br := r.rep.Baseline.Rate(); br > 0 {
		r.rep.Ratio = r.rep.Doorstep.Rate() / br
	}
	r.rep.DoorstepBooks, r.rep.BaselineBooks = dbooks.snapshot(), bbooks.snapshot()

	r.say("checking the invariants")
	r.rep.Checks = append(r.rep.Checks, r.checkDoorstep(ctx, r.rep.DoorstepBooks)...)
	r.rep.Checks = append(r.rep.Checks, checkBaseline(ctx, bpool, r.cfg.Customers, r.rep.BaselineBooks)...)
	if p := r.rep.Problems(); len(p) > 0 {
		r.say("VOID: %s", strings.Join(p, "; "))
	}
	return nil
}

// seedDoorstep gives every customer an account with an initial earn, a
// few hundred accounts per transaction.
func (r *loyaltyRunner) seedDoorstep(ctx context.Context) error {
	now := time.Now().UTC()
	for lo := 1; lo <= r.cfg.Customers; lo += loyaltySeedChunk {
		hi := min(lo+loyaltySeedChunk-1, r.cfg.Customers)
		err := r.store.InTxAt(ctx, now, func(tx *models.Tx) error {
			for c := lo; c <= hi; c++ {
				posted, _, err := tx.PostEntries(customerKey(r.shopID, c), []models.LoyaltyEntry{{Kind: models.EntryEarn,
					SourceType: models.SourceBonus, SourceID: "seed-" + strconv.Itoa(c), Points: loyaltySeedPoints, Currency: "USD",
					Reason: "bench seed"}})
				if err != nil {
					return err
				}
				if len(posted) != 1 {
					return fmt.Errorf("seed customer %d: posted %d entries", c, len(posted))
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed accounts %d..%d: %w", lo, hi, err)
		}
	}
	return nil
}

func customerKey(shopID uint64, c int) models.AccountKey {
	return models.AccountKey{ShopID: shopID, CustomerPlatformID: loyaltyCustomerBase + int64(c)}
}

// ---- the op stream ----

// loyaltyOp is one op: for an award, reversal or replay, the entry (Entry
// is OpAward or OpReverse); for a redemption, the code.
type loyaltyOp struct {
	Kind     string
	Entry    string // what a replay replays
	Customer int    // 1-based
	Source   string // source id, or the redemption's code
	Points   int64  // signed: what the op adds to the balance
}

// loyaltyOutcome is what an op did.
type loyaltyOutcome struct {
	Posted  bool // wrote an entry
	Refused bool // not enough points: wrote nothing
	Debt    bool // the account is in debt afterwards (Doorstep)
}

// ledgerSide runs one op in one transaction.
type ledgerSide interface {
	do(ctx context.Context, op loyaltyOp) (loyaltyOutcome, error)
}

// loyaltyWorker generates one goroutine's op stream; its state carries
// over from warm-up to measurement.
type loyaltyWorker struct {
	id     int
	rng    *rand.Rand
	seq    int
	posted []loyaltyOp // recent posted entries, to replay
}

func newWorkers(n int, seed uint64) []*loyaltyWorker {
	ws := make([]*loyaltyWorker, n)
	for i := range ws {
		ws[i] = &loyaltyWorker{id: i, rng: rand.New(rand.NewPCG(seed, uint64(i)+1))}
	}
	return ws
}

// next draws the next op: 2% replays (once something was posted), 49%
// awards, 24.5% reversals (one in ten larger than most balances), 24.5%
// redemptions, on a uniformly drawn customer.
func (w *loyaltyWorker) next(customers int) loyaltyOp {
	u := w.rng.Float64()
	c := 1 + w.rng.IntN(customers)
	if u < 0.02 && len(w.posted) > 0 {
		op := w.posted[w.rng.IntN(len(w.posted))]
		op.Kind = OpReplay
		return op
	}
	w.seq++
	src := "w" + strconv.Itoa(w.id) + "-" + strconv.Itoa(w.seq)
	switch {
	case u < 0.51:
		return loyaltyOp{Kind: OpAward, Entry: OpAward, Customer: c, Source: src, Points: 50 + w.rng.Int64N(201)}
	case u < 0.755:
		p := 10 + w.rng.Int64N(141)
		if w.rng.IntN(10) == 0 {
			p = 400 + w.rng.Int64N(1601)
		}
		return loyaltyOp{Kind: OpReverse, Entry: OpReverse, Customer: c, Source: src, Points: -p}
	default:
		return loyaltyOp{Kind: OpRedeem, Customer: c, Source: "LB-" + src, Points: -50 * (1 + w.rng.Int64N(6))}
	}
}

// remember keeps a posted entry for later replays.
func (w *loyaltyWorker) remember(op loyaltyOp) {
	if op.Kind != OpAward && op.Kind != OpReverse {
		return
	}
	if len(w.posted) < loyaltyReplayRing {
		w.posted = append(w.posted, op)
		return
	}
	w.posted[w.seq%loyaltyReplayRing] = op
}

// books is a side's running accounting (shared by its workers).
type books struct {
	awards, reversals, redemptions, refused atomic.Int64
	replays, replaysPosted, errors          atomic.Int64
	expected                                []atomic.Int64
	mu                                      sync.Mutex
	errSamples                              map[string]int64
}

func newBooks(customers int) *books {
	b := &books{expected: make([]atomic.Int64, customers+1), errSamples: map[string]int64{}}
	for c := 1; c <= customers; c++ {
		b.expected[c].Store(loyaltySeedPoints)
	}
	return b
}

func (b *books) record(op loyaltyOp, out loyaltyOutcome, err error) {
	if err != nil {
		b.errors.Add(1)
		msg := err.Error()
		if len(msg) > 160 {
			msg = msg[:160]
		}
		b.mu.Lock()
		if _, ok := b.errSamples[msg]; ok || len(b.errSamples) < 10 {
			b.errSamples[msg]++
		}
		b.mu.Unlock()
		return
	}
	if out.Refused {
		b.refused.Add(1)
	}
	if out.Posted {
		b.expected[op.Customer].Add(op.Points)
	}
	switch op.Kind {
	case OpAward:
		if out.Posted {
			b.awards.Add(1)
		}
	case OpReverse:
		if out.Posted {
			b.reversals.Add(1)
		}
	case OpRedeem:
		if out.Posted {
			b.redemptions.Add(1)
		}
	case OpReplay:
		b.replays.Add(1)
		if out.Posted {
			b.replaysPosted.Add(1)
		}
	}
}

func (b *books) snapshot() LoyaltyBooks {
	out := LoyaltyBooks{Awards: b.awards.Load(), Reversals: b.reversals.Load(), Redemptions: b.redemptions.Load(),
		Refused: b.refused.Load(), Replays: b.replays.Load(), ReplaysPosted: b.replaysPosted.Load(), Errors: b.errors.Load(),
		Expected: make([]int64, len(b.expected))}
	for i := range b.expected {
		out.Expected[i] = b.expected[i].Load()
	}
	b.mu.Lock()
	out.ErrorSamples = maps.Clone(b.errSamples)
	b.mu.Unlock()
	return out
}

// side runs one side: a warm-up, then the measured run with CPU,
// statements and backend states recorded.
func (r *loyaltyRunner) side(ctx context.Context, name string, s ledgerSide, statements func() int64, appName string, b *books) *LoyaltyRun {
	ws := newWorkers(r.cfg.Workers, r.cfg.Seed)
	r.say("%s: %d workers over %d customers, %s after a %s warm-up", name, r.cfg.Workers, r.cfg.Customers, r.cfg.Duration, r.cfg.Warmup)
	r.drive(ctx, s, ws, b, r.cfg.Warmup, nil)

	run := &LoyaltyRun{Kinds: map[string]*OpTally{}}
	for _, k := range loyaltyKinds {
		run.Kinds[k] = &OpTally{}
	}
	stop := startProfile(r.cfg.CPUProfile, "loyalty-"+name, r.say)
	st0 := statements()
	sctx, stopSampling := context.WithCancel(ctx)
	waits := make(chan WaitProfile, 1)
	go func() { waits <- sampleWaits(sctx, r.mon, appName) }()
	srv0 := pgBackendCPU(ctx, r.mon)
	c0 := sampleCPU()
	r.drive(ctx, s, ws, b, r.cfg.Duration, run)
	run.CPU = cpuBetween(c0, sampleCPU())
	run.Servers = pgBackendCPU(ctx, r.mon).since(srv0, time.Since(c0.at))
	stopSampling()
	run.Waits = <-waits
	stop()
	if run.Ops > 0 {
		run.StatementsPer = float64(statements()-st0) / float64(run.Ops)
	}
	r.say("  %s: %s ops/s (%d ops, %d errors), p50 %s, p99 %s", name, num(run.Rate()), run.Ops, run.Errors,
		ms(run.Quantile(.5)), ms(run.Quantile(.99)))
	return run
}

// drive runs the workers for d, closed loop; with run set, it records
// every op's latency there.
func (r *loyaltyRunner) drive(ctx context.Context, s ledgerSide, ws []*loyaltyWorker, b *books, d time.Duration, run *LoyaltyRun) {
	type local struct {
		kinds      map[string]*OpTally
		lat        []time.Duration
		ops, errs  int64
		start, end time.Time
	}
	locals := make([]local, len(ws))
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := &locals[i]
			l.kinds = map[string]*OpTally{}
			for _, k := range loyaltyKinds {
				l.kinds[k] = &OpTally{}
			}
			l.start = time.Now()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				op := w.next(r.cfg.Customers)
				t0 := time.Now()
				out, err := s.do(ctx, op)
				lat := time.Since(t0)
				l.end = time.Now()
				b.record(op, out, err)
				if err != nil {
					l.errs++
					continue
				}
				if out.Posted {
					w.remember(op)
				}
				k := l.kinds[op.Kind]
				k.Ops++
				if out.Refused {
					k.Refused++
				}
				if out.Debt && op.Kind == OpReverse {
					k.Debt++
				}
				k.Lat = append(k.Lat, lat)
				l.lat = append(l.lat, lat)
				l.ops++
			}
		}()
	}
	wg.Wait()
	if run == nil {
		return
	}
	var end time.Time
	for _, l := range locals {
		run.Ops += l.ops
		run.Errors += l.errs
		run.lat = append(run.lat, l.lat...)
		for k, t := range l.kinds {
			rk := run.Kinds[k]
			rk.Ops += t.Ops
			rk.Refused += t.Refused
			rk.Debt += t.Debt
			rk.Lat = append(rk.Lat, t.Lat...)
		}
		if l.end.After(end) {
			end = l.end
		}
	}
	run.Elapsed = end.Sub(start)
}

// ---- Doorstep's side: the models.Store API ----

type doorstepLedger struct {
	st     *models.Store
	shopID uint64
}

func (d *doorstepLedger) do(ctx context.Context, op loyaltyOp) (loyaltyOutcome, error) {
	key := customerKey(d.shopID, op.Customer)
	now := time.Now()
	if op.Kind == OpRedeem {
		_, _, err := d.st.Redeem(ctx, now, key, models.LoyaltyRedemption{Code: op.Source, Points: -op.Points,
			Value: decimal.New(-op.Points, -2), Currency: "USD"})
		if errors.Is(err, models.ErrInsufficientPoints) {
			return loyaltyOutcome{Refused: true}, nil
		}
		if err != nil {
			return loyaltyOutcome{}, err
		}
		return loyaltyOutcome{Posted: true}, nil
	}
	e := models.LoyaltyEntry{Points: op.Points, Currency: "USD", Basis: decimal.New(op.Points, -2).Abs(), Rate: decimal.NewFromInt(1)}
	switch op.Entry {
	case OpAward:
		e.Kind, e.SourceType, e.SourceID = models.EntryEarn, models.SourceLineItem, op.Source
	case OpReverse:
		e.Kind, e.SourceType, e.SourceID, e.Reason = models.EntryReverse, models.SourceRefundLine, op.Source, "refund"
	default:
		return loyaltyOutcome{}, fmt.Errorf("op %q: unknown entry %q", op.Kind, op.Entry)
	}
	posted, acct, err := d.st.PostEntriesAt(ctx, now, key, []models.LoyaltyEntry{e})
	if err != nil {
		return loyaltyOutcome{}, err
	}
	return loyaltyOutcome{Posted: len(posted) > 0, Debt: acct.Debt > 0}, nil
}

// ---- the baseline: two bare tables, one conditional UPDATE and one INSERT ----

type baselineLedger struct {
	pool  *pgxpool.Pool
	stmts atomic.Int64
}

func (b *baselineLedger) statements() int64 { return b.stmts.Load() }

func (b *baselineLedger) seed(ctx context.Context, customers int) error {
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS balances (customer_id bigint PRIMARY KEY, balance bigint NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS entries (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, points bigint NOT NULL, source text NOT NULL UNIQUE)`,
	} {
		if _, err := b.pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("baseline tables: %w", err)
		}
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO balances SELECT c, $1::bigint FROM generate_series(1, $2::int) c`, loyaltySeedPoints, customers); err != nil {
		return fmt.Errorf("seed baseline balances: %w", err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO entries (customer_id, points, source) SELECT c, $1::bigint, 'seed-' || c FROM generate_series(1, $2::int) c`,
		loyaltySeedPoints, customers); err != nil {
		return fmt.Errorf("seed baseline entries: %w", err)
	}
	return nil
}

func (b *baselineLedger) do(ctx context.Context, op loyaltyOp) (out loyaltyOutcome, err error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return out, err
	}
	defer func() {
		if !out.Posted || err != nil {
			_ = tx.Rollback(context.Background())
		}
	}()
	b.stmts.Add(1)
	tag, err := tx.Exec(ctx, `UPDATE balances SET balance = balance + $1 WHERE customer_id = $2 AND balance + $1 >= 0`, op.Points, op.Customer)
	if err != nil {
		return out, err
	}
	if tag.RowsAffected() == 0 {
		return loyaltyOutcome{Refused: true}, nil
	}
	b.stmts.Add(1)
	tag, err = tx.Exec(ctx, `INSERT INTO entries (customer_id, points, source) VALUES ($1, $2, $3) ON CONFLICT (source) DO NOTHING`,
		op.Customer, op.Points, op.entryKind()+":"+op.Source)
	if err != nil {
		return out, err
	}
	if tag.RowsAffected() == 0 {
		return loyaltyOutcome{}, nil // a replay: the UPDATE is rolled back with it
	}
	if err := tx.Commit(ctx); err != nil {
		return loyaltyOutcome{}, err
	}
	return loyaltyOutcome{Posted: true}, nil
}

// entryKind is the kind of entry the op writes (a replay: the replayed one).
func (op loyaltyOp) entryKind() string {
	if op.Kind == OpReplay {
		return op.Entry
	}
	return op.Kind
}

// ---- PostgreSQL: backend states and CPU ----

// sampleWaits samples pg_stat_activity for the side's connections every
// 100 ms until ctx ends.
func sampleWaits(ctx context.Context, mon *pgxpool.Pool, appName string) WaitProfile {
	sum, events := map[string]float64{}, map[string]float64{}
	n := 0
	t := time.NewTicker(waitSample)
	defer t.Stop()
	for {
		rows, err := mon.Query(ctx, `SELECT state, COALESCE(wait_event_type, ''), COALESCE(wait_event, '')
FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, appName)
		if err == nil {
			for rows.Next() {
				var state, typ, ev string
				if rows.Scan(&state, &typ, &ev) != nil {
					continue
				}
				sum[waitClass(state, typ, ev)]++
				if typ != "" && state == "active" {
					events[typ+":"+ev]++
				}
			}
			rows.Close()
			if rows.Err() == nil {
				n++
			}
		}
		select {
		case <-ctx.Done():
			out := WaitProfile{Samples: n, Mean: map[string]float64{}, Events: map[string]float64{}}
			if n > 0 {
				for k, v := range sum {
					out.Mean[k] = v / float64(n)
				}
				for k, v := range events {
					out.Events[k] = v / float64(n)
				}
			}
			return out
		case <-t.C:
		}
	}
}

func waitClass(state, typ, ev string) string {
	switch {
	case state == "idle":
		return WaitIdle
	case strings.HasPrefix(state, "idle in transaction"):
		return WaitInTx
	case typ == "":
		return WaitCPU
	case typ == "Lock":
		return WaitLock
	case typ == "IO" || strings.HasPrefix(ev, "WAL"):
		return WaitWAL
	case typ == "Client":
		return WaitInTx
	}
	return WaitOther
}

// pgBackendCPU samples the CPU seconds of the bench database's PostgreSQL
// backends (Linux /proc; nil if unreadable).
func pgBackendCPU(ctx context.Context, mon *pgxpool.Pool) serverSample {
	rows, err := mon.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := serverSample{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			if c, ok := procCPU(pid); ok {
				out[pid] = c
			}
		}
	}
	return out
}

// ---- the invariants ----

// ledgerRow is one loyalty entry, for replaying a customer's ledger.
type ledgerRow struct {
	Customer int64
	ID       uint64
	Kind     string
	Points   int64
}

// cachedBalance is an account's cached Available and Debt.
type cachedBalance struct{ Available, Debt int64 }

// replayLedger walks every customer's entries in id order — the order they
// were posted in, since each was posted under its account's lock — with the
// ledger's rule (credits pay debt first; a debit beyond Available becomes
// debt) and reports every redemption that spent more than was available at
// its turn (a double spend) and every account whose cached balance is not
// where its entries lead. rows must be sorted by customer, then id.
func replayLedger(rows []ledgerRow, cached map[int64]cachedBalance) (doubleSpends, wrongBalances int, first []string) {
	note := func(format string, args ...any) {
		if len(first) < 5 {
			first = append(first, fmt.Sprintf(format, args...))
		}
	}
	seen := map[int64]bool{}
	for i := 0; i < len(rows); {
		c := rows[i].Customer
		var avail, debt int64
		for ; i < len(rows) && rows[i].Customer == c; i++ {
			e := rows[i]
			if e.Kind == models.EntryRedeem && avail < -e.Points {
				doubleSpends++
				note("customer %d: redemption entry %d spent %d with %d available", c, e.ID, -e.Points, avail)
			}
			if e.Points >= 0 {
				pay := min(debt, e.Points)
				debt -= pay
				avail += e.Points - pay
			} else {
				take := min(avail, -e.Points)
				avail -= take
				debt += -e.Points - take
			}
		}
		seen[c] = true
		if got := cached[c]; got.Available != avail || got.Debt != debt {
			wrongBalances++
			note("customer %d: cached available %d debt %d, the entries give %d and %d", c, got.Available, got.Debt, avail, debt)
		}
	}
	for c, got := range cached {
		if !seen[c] && (got.Available != 0 || got.Debt != 0) {
			wrongBalances++
			note("customer %d: cached available %d debt %d with no entries", c, got.Available, got.Debt)
		}
	}
	return doubleSpends, wrongBalances, first
}

func (r *loyaltyRunner) checkDoorstep(ctx context.Context, b LoyaltyBooks) []LoyaltyCheck {
	const side = "Doorstep"
	var out []LoyaltyCheck
	add := func(ok bool, what, got string) {
		out = append(out, LoyaltyCheck{Side: side, What: what, Got: got, OK: ok})
	}
	db := r.store.DB().WithContext(ctx)
	n := int64(r.cfg.Customers)

	add(b.Errors == 0, "no op failed (not enough points aside)", errorsText(b))

	bad, err := r.store.VerifyLedger(ctx, r.shopID)
	switch {
	case err != nil:
		add(false, "Store.VerifyLedger", err.Error())
	default:
		var got []string
		for i, m := range bad {
			if i == 3 {
				got = append(got, fmt.Sprintf("… %d in all", len(bad)))
				break
			}
			got = append(got, fmt.Sprintf("customer %d: %s (available %d, pending %d, debt %d; ledger %d)", m.Key.CustomerPlatformID,
				m.Problem, m.Available, m.Pending, m.Debt, m.LedgerSum))
		}
		add(len(bad) == 0, "Store.VerifyLedger: every cached balance equals its ledger sum", orNone(strings.Join(got, "; "), "nothing found"))
	}

	var acc struct{ Accounts, Negative, Both int64 }
	err = db.Raw(`SELECT count(*) AS accounts,
  count(*) FILTER (WHERE available < 0 OR debt < 0 OR pending < 0) AS negative,
  count(*) FILTER (WHERE available > 0 AND debt > 0) AS both
FROM loyalty_accounts WHERE shop_id = ?`, r.shopID).Scan(&acc).Error
	if err != nil {
		add(false, "accounts", err.Error())
	} else {
		add(acc.Accounts == n, "one account per customer", fmt.Sprintf("%d accounts for %d customers", acc.Accounts, n))
		add(acc.Negative == 0 && acc.Both == 0, "no negative Available, Debt or Pending; never Available and Debt both positive",
			fmt.Sprintf("%d negative, %d both", acc.Negative, acc.Both))
	}

	var kinds []struct {
		Kind   string
		N, Sum int64
	}
	if err := db.Raw(`SELECT kind, count(*) AS n, COALESCE(sum(points), 0) AS sum FROM loyalty_entries WHERE shop_id = ? GROUP BY kind`,
		r.shopID).Scan(&kinds).Error; err != nil {
		add(false, "entries", err.Error())
	} else {
		byKind := map[string]int64{}
		var redeemSum int64
		for _, k := range kinds {
			byKind[k.Kind] = k.N
			if k.Kind == models.EntryRedeem {
				redeemSum = -k.Sum
			}
		}
		want := map[string]int64{models.EntryEarn: n + b.Awards, models.EntryReverse: b.Reversals, models.EntryRedeem: b.Redemptions}
		ok := len(byKind) <= 3
		for k, v := range want {
			ok = ok && byKind[k] == v
		}
		add(ok, "entries = seed + awards + reversals + redemptions the bench saw posted (replays posted nothing)",
			fmt.Sprintf("earn %d = %d + %d, reverse %d = %d, redeem %d = %d", byKind[models.EntryEarn], n, b.Awards,
				byKind[models.EntryReverse], b.Reversals, byKind[models.EntryRedeem], b.Redemptions))

		var red struct{ N, Points, Orphans, Redeemed int64 }
		err := db.Raw(`SELECT (SELECT count(*) FROM loyalty_redemptions WHERE shop_id = ?) AS n,
  (SELECT COALESCE(sum(points), 0) FROM loyalty_redemptions WHERE shop_id = ?) AS points,
  (SELECT count(*) FROM loyalty_redemptions r LEFT JOIN loyalty_entries e ON e.shop_id = r.shop_id AND e.kind = 'redeem'
     AND e.source_type = 'redemption' AND e.source_id = r.code AND e.customer_platform_id = r.customer_platform_id AND e.points = -r.points
   WHERE r.shop_id = ? AND e.id IS NULL) AS orphans,
  (SELECT COALESCE(sum(redeemed), 0) FROM loyalty_accounts WHERE shop_id = ?) AS redeemed`,
			r.shopID, r.shopID, r.shopID, r.shopID).Scan(&red).Error
		if err != nil {
			add(false, "redemptions", err.Error())
		} else {
			add(red.N == b.Redemptions && red.Orphans == 0, "one redemption row per successful Redeem, each with its redeem entry",
				fmt.Sprintf("%d rows, %d successful redemptions, %d without their entry", red.N, b.Redemptions, red.Orphans))
			add(red.Points == redeemSum && red.Redeemed == redeemSum, "redeemed points: rows = redeem entries = accounts' Redeemed",
				fmt.Sprintf("%d = %d = %d", red.Points, redeemSum, red.Redeemed))
		}
	}

	var sums []struct {
		CustomerPlatformID int64
		Sum                int64
	}
	if err := db.Raw(`SELECT customer_platform_id, sum(points) AS sum FROM loyalty_entries WHERE shop_id = ? GROUP BY customer_platform_id`,
		r.shopID).Scan(&sums).Error; err != nil {
		add(false, "ledger sums", err.Error())
	} else {
		wrong, first := booksMismatch(b.Expected, func(yield func(c int, sum int64)) {
			for _, s := range sums {
				yield(int(s.CustomerPlatformID-loyaltyCustomerBase), s.Sum)
			}
		})
		add(wrong == 0, "every customer's ledger sum = the points the bench posted for them", orNone(first, "all equal"))
	}

	var rows []ledgerRow
	err = db.Raw(`SELECT customer_platform_id AS customer, id, kind, points FROM loyalty_entries WHERE shop_id = ? ORDER BY customer_platform_id, id`,
		r.shopID).Scan(&rows).Error
	var accts []struct {
		CustomerPlatformID int64
		Available, Debt    int64
	}
	if err == nil {
		err = db.Raw(`SELECT customer_platform_id, available, debt FROM loyalty_accounts WHERE shop_id = ?`, r.shopID).Scan(&accts).Error
	}
	if err != nil {
		add(false, "replay the ledger", err.Error())
	} else {
		cached := make(map[int64]cachedBalance, len(accts))
		for _, a := range accts {
			cached[a.CustomerPlatformID] = cachedBalance{a.Available, a.Debt}
		}
		spends, wrong, first := replayLedger(rows, cached)
		add(spends == 0, "no double spend: replayed in posting order, every redemption had the points available",
			fmt.Sprintf("%d redemptions past the balance%s", spends, firstText(first)))
		add(wrong == 0, "replayed in posting order, every account ends at its cached Available and Debt",
			fmt.Sprintf("%d accounts differ", wrong))
	}
	add(b.ReplaysPosted == 0, "replays of a posted source key posted nothing", fmt.Sprintf("%d of %d posted", b.ReplaysPosted, b.Replays))
	return out
}

func checkBaseline(ctx context.Context, pool *pgxpool.Pool, customers int, b LoyaltyBooks) []LoyaltyCheck {
	const side = "baseline"
	var out []LoyaltyCheck
	add := func(ok bool, what, got string) {
		out = append(out, LoyaltyCheck{Side: side, What: what, Got: got, OK: ok})
	}
	add(b.Errors == 0, "no op failed", errorsText(b))
	var rowsN, negative int64
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM balances WHERE balance < 0)`).Scan(&rowsN, &negative)
	if err != nil {
		add(false, "baseline tables", err.Error())
		return out
	}
	want := int64(customers) + b.Awards + b.Reversals + b.Redemptions
	add(rowsN == want, "entries = seed + every posted op (replays posted nothing)", fmt.Sprintf("%d = %d", rowsN, want))
	add(negative == 0, "no negative balance", fmt.Sprintf("%d negative", negative))
	rows, err := pool.Query(ctx, `SELECT b.customer_id, b.balance, COALESCE(e.sum, 0) FROM balances b
LEFT JOIN (SELECT customer_id, sum(points) AS sum FROM entries GROUP BY customer_id) e USING (customer_id)`)
	if err != nil {
		add(false, "baseline sums", err.Error())
		return out
	}
	type bal struct{ c, balance, sum int64 }
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (bal, error) {
		var x bal
		err := row.Scan(&x.c, &x.balance, &x.sum)
		return x, err
	})
	if err != nil {
		add(false, "baseline sums", err.Error())
		return out
	}
	var differ int
	for _, x := range all {
		if x.balance != x.sum {
			differ++
		}
	}
	add(differ == 0, "every balance equals its entries' sum", fmt.Sprintf("%d differ", differ))
	wrong, first := booksMismatch(b.Expected, func(yield func(c int, sum int64)) {
		for _, x := range all {
			yield(int(x.c), x.sum)
		}
	})
	add(wrong == 0, "every customer's entries = the points the bench posted for them", orNone(first, "all equal"))
	add(b.ReplaysPosted == 0, "replays posted nothing", fmt.Sprintf("%d of %d posted", b.ReplaysPosted, b.Replays))
	return out
}

// booksMismatch compares the database's per-customer sums with the bench's
// books; customers with no row count as 0.
func booksMismatch(expected []int64, sums func(yield func(c int, sum int64))) (int, string) {
	got := make([]int64, len(expected))
	unknown := 0
	sums(func(c int, sum int64) {
		if c < 1 || c >= len(expected) {
			unknown++
			return
		}
		got[c] = sum
	})
	wrong, first := unknown, ""
	if unknown > 0 {
		first = fmt.Sprintf("%d sums for customers the bench never used", unknown)
	}
	for c := 1; c < len(expected); c++ {
		if got[c] != expected[c] {
			if wrong == 0 {
				first = fmt.Sprintf("customer %d: ledger %d, posted %d", c, got[c], expected[c])
			}
			wrong++
		}
	}
	if wrong > 0 {
		first = fmt.Sprintf("%d differ; %s", wrong, first)
	}
	return wrong, first
}

func errorsText(b LoyaltyBooks) string {
	if b.Errors == 0 {
		return "0 errors"
	}
	var parts []string
	for m, n := range b.ErrorSamples {
		parts = append(parts, fmt.Sprintf("%q × %d", m, n))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d errors: %s", b.Errors, strings.Join(parts, ", "))
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func firstText(first []string) string {
	if len(first) == 0 {
		return ""
	}
	return ": " + strings.Join(first, "; ")
}

// ---- the report ----

// Markdown writes the report as a markdown block (what --out appends).
func (r *LoyaltyReport) Markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	verdict := "invariants hold"
	if r.Void() {
		verdict = "**VOID: an invariant broke or an op failed**"
	}
	c, m := r.Config, r.Machine
	d, b := r.Doorstep, r.Baseline
	p("### Loyalty benchmark, %s — %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"), verdict)
	p("- **Machine:** %s, %d cores (GOMAXPROCS %d), %s, %s. PostgreSQL %s on the same machine over loopback; "+
		"the bench's workers, Doorstep's store and the baseline run in one process on the same cores.\n",
		m.CPU, m.Cores, m.GOMAXPROCS, m.OS, m.Go, orUnknown(m.Postgres))
	p("- **Run:** `doorstep bench loyalty --customers %d --workers %d --duration %s` — %d goroutines on each side, closed loop, "+
		"each op on a customer drawn uniformly from %s (seeded with %s points each, in %s, not timed); %s measured per side after a %s warm-up; "+
		"the same op stream (seed %d) on both sides; took %s.\n",
		c.Customers, c.Workers, c.Duration, c.Workers, num(float64(c.Customers)), num(loyaltySeedPoints), r.Seeded.Round(time.Millisecond),
		c.Duration, c.Warmup, c.Seed, r.Elapsed.Round(time.Second))
	if r.Before.Known {
		p("- **Before the run** other processes kept %.2f of the %d cores busy (1 s sample); anything above ~0.1 skews the numbers.\n",
			r.Before.Others+r.Before.Self, m.Cores)
	}
	p("\n")
	p("| measure | result | target | met |\n|---|---|---|---|\n")
	p("| ledger ops/s, %d workers over %s customers | **%s/s** (p50 %s, p99 %s) | ≥ %s/s | %s |\n", c.Workers, num(float64(c.Customers)),
		num(d.Rate()), ms(d.Quantile(.5)), ms(d.Quantile(.99)), num(TargetLoyaltyRate), yes(r.RateMet()))
	p("| Doorstep ÷ baseline (conditional UPDATE + INSERT, %s/s) | **%s** | ≥ %s | %s |\n", num(b.Rate()), pct(r.Ratio),
		pct(TargetLoyaltyRatio), yes(r.RatioMet()))
	p("| invariant violations (and failed ops) | **%d** | 0 | %s |\n\n", r.Violations(), yes(!r.Void()))

	p("| side | ops | ops/s | p50 | p90 | p99 | max | round trips per op (statements + BEGIN, COMMIT) | CPU (cores): bench process / PostgreSQL (bench database) / everything else / idle |\n")
	p("|---|---|---|---|---|---|---|---|---|\n")
	row := func(name string, x *LoyaltyRun) {
		p("| %s | %d | %s | %s | %s | %s | %s | %.2f + 2 | %s |\n", name, x.Ops, num(x.Rate()), ms(x.Quantile(.5)), ms(x.Quantile(.9)),
			ms(x.Quantile(.99)), ms(x.Quantile(1)), x.StatementsPer, pgCPUText(x.CPU, x.Servers))
	}
	row("baseline: `UPDATE balances … WHERE balance + n >= 0` + `INSERT INTO entries`, pgx pool", b)
	row("Doorstep: `Store.PostEntriesAt` / `Store.Redeem`", d)
	p("\n")

	p("| op | share | Doorstep ops | refused / in debt after | p50 | p99 | baseline ops | refused | p50 | p99 |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range loyaltyKinds {
		x, y := d.Kinds[k], b.Kinds[k]
		extra := "—"
		switch k {
		case OpRedeem:
			extra = fmt.Sprintf("%d refused", x.Refused)
		case OpReverse:
			extra = fmt.Sprintf("%d left debt", x.Debt)
		case OpReplay:
			extra = "posted nothing"
		}
		share := 0.0
		if d.Ops > 0 {
			share = float64(x.Ops) / float64(d.Ops)
		}
		p("| %s | %s | %d | %s | %s | %s | %d | %d | %s | %s |\n", k, pct(share), x.Ops, extra, ms(quantile(x.Lat, .5)), ms(quantile(x.Lat, .99)),
			y.Ops, y.Refused, ms(quantile(y.Lat, .5)), ms(quantile(y.Lat, .99)))
	}
	p("\nThe baseline has no debt: a reversal larger than the balance is refused there (rolled back), as a redemption is.\n\n")

	if d.Ops > 0 && b.Ops > 0 && d.CPU.Known && d.Servers.Known && b.Servers.Known {
		per := func(x *LoyaltyRun, cores float64) float64 { return 1000 * cores * x.Elapsed.Seconds() / float64(x.Ops) }
		p("CPU per op: Doorstep %.3f ms in the bench process and %.3f ms in PostgreSQL; the baseline %.3f ms and %.3f ms. "+
			"%s ops/s on %d cores allows %.2f ms.\n\n", per(d, d.CPU.Self), per(d, d.Servers.Postgres), per(b, b.CPU.Self), per(b, b.Servers.Postgres),
			num(TargetLoyaltyRate), m.Cores, 1000*float64(m.Cores)/TargetLoyaltyRate)
	}
	p("What each side's %d PostgreSQL connections were doing (mean backends, pg_stat_activity every %s):\n\n", c.Workers, waitSample)
	p("| side | samples |")
	for _, k := range waitClasses {
		p(" %s |", k)
	}
	p(" top waits |\n|---|---|%s---|\n", strings.Repeat("---|", len(waitClasses)))
	wrow := func(name string, x *LoyaltyRun) {
		p("| %s | %d |", name, x.Waits.Samples)
		for _, k := range waitClasses {
			p(" %.2f |", x.Waits.Mean[k])
		}
		p(" %s |\n", topWaits(x.Waits.Events, 4))
	}
	wrow("baseline", b)
	wrow("Doorstep", d)
	p("\n")

	p("**Invariants** (after both runs, warm-ups included):\n\n")
	for _, ch := range r.Checks {
		p("- %s — %s: %s %s\n", ch.Side, ch.What, ch.Got, check(ch.OK))
	}
	db, bb := r.DoorstepBooks, r.BaselineBooks
	p("- books: Doorstep posted %d awards, %d reversals, %d redemptions, refused %d, replayed %d; the baseline %d, %d, %d, refused %d, replayed %d.\n",
		db.Awards, db.Reversals, db.Redemptions, db.Refused, db.Replays, bb.Awards, bb.Reversals, bb.Redemptions, bb.Refused, bb.Replays)
	if ps := r.Problems(); len(ps) > 0 {
		p("\n**VOID** — what broke:\n\n")
		for _, s := range ps {
			p("- %s\n", s)
		}
	}
	p("\n")
}

func pgCPUText(u CPUUse, s ServerCPU) string {
	if !u.Known || !s.Known {
		return cpuText(u)
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", u.Self, s.Postgres, max(u.Others-s.Postgres, 0), u.Idle)
}

func topWaits(ev map[string]float64, n int) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	for k, v := range ev {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for i, x := range all {
		if i == n || x.v < 0.005 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", x.k, x.v))
	}
	return orNone(strings.Join(parts, ", "), "—")
}
