// Package bench is `doorstep bench ingest`: it starts the real app on real
// PostgreSQL and Redis, drives its webhook intake with signed, real-shaped
// webhooks from concurrent keep-alive clients, keeps an exact ledger of what
// was sent, acked and stored, and reports three phases — ack only (beside a
// minimal durable baseline driven the same way), drain, and mixed open-loop
// load — with the machine they ran on.
//
// Everything runs on 127.0.0.1: the bench creates its own database on the
// given PostgreSQL server and drops it at the end, and starts a throwaway
// redis-server unless it is given one.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/jobstest"
	"github.com/doorstep/doorstep/models"
)

// Phases, in the order they run.
const (
	PhaseAck   = "ack"
	PhaseDrain = "drain"
	PhaseMixed = "mixed"
)

// Targets from the issue.
const (
	TargetAckRatio   = 0.60
	TargetDrainRate  = 1000.0
	TargetMixedP99   = 50 * time.Millisecond
	benchShop        = "doorstep-bench.myshopify.com"
	defaultPGURL     = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	keptUpTailWithin = 5 * time.Second
)

// Config is one bench run.
type Config struct {
	Clients  int           // concurrent keep-alive clients (default 16)
	Duration time.Duration // per phase (default 10 s)
	Rate     float64       // webhooks/s in the mixed phase (default 500)
	Dup      float64       // fraction of exact duplicates (default 0.05)
	// DatabaseURL is the PostgreSQL server; the bench creates its own
	// database there and drops it at the end.
	DatabaseURL string
	// RedisURL is a Redis to use; "" starts a throwaway redis-server. A
	// given Redis should be dedicated: asynq has no key prefix.
	RedisURL string
	Phases   []string // default ack, drain, mixed
	// Progress gets one line per step and the app's warnings; nil discards.
	Progress io.Writer
	// CPUProfile, if set, is a path prefix: each phase writes
	// PREFIX.<phase>.pprof.
	CPUProfile string
	// Warmup runs before each closed-loop measurement and counts in the
	// ledger but not in the numbers (default min(1 s, Duration/5)).
	Warmup time.Duration
	// DrainTimeout bounds the drain phase and the final wait for an empty
	// backlog (default 5 min).
	DrainTimeout time.Duration
	// IntakeConcurrency is the worker role's INTAKE_CONCURRENCY (default:
	// the app's default).
	IntakeConcurrency int
	// WorkerCommand, when set, runs the worker role as its own process, as
	// production's `serve --role worker` does: the command (argv) must call
	// RunWorker, which reads the app's configuration from the environment
	// the bench gives it. Empty runs the worker role inside this process.
	WorkerCommand []string
}

func (c *Config) defaults() {
	if c.Clients <= 0 {
		c.Clients = 16
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Rate <= 0 {
		c.Rate = 500
	}
	if c.Dup < 0 {
		c.Dup = 0
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = defaultPGURL
	}
	if len(c.Phases) == 0 {
		c.Phases = []string{PhaseAck, PhaseDrain, PhaseMixed}
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Warmup <= 0 {
		c.Warmup = min(time.Second, c.Duration/5)
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Minute
	}
}

// ParsePhases checks a comma-separated phase list.
func ParsePhases(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		switch p {
		case "":
			continue
		case PhaseAck, PhaseDrain, PhaseMixed:
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		default:
			return nil, fmt.Errorf("unknown phase %q (want ack, drain, mixed)", p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no phase given")
	}
	// They always run in order: drain needs ack's backlog.
	slices.SortFunc(out, func(a, b string) int { return phaseOrder(a) - phaseOrder(b) })
	return out, nil
}

func phaseOrder(p string) int {
	return map[string]int{PhaseAck: 0, PhaseDrain: 1, PhaseMixed: 2}[p]
}

// Sample is the backlog (deliveries stored and not yet processed) at a time
// since the phase started.
type Sample struct {
	At      time.Duration
	Pending int64
}

// AckResult is phase 1.
type AckResult struct {
	Baseline, Doorstep       *Tally
	BaselineCPU, DoorstepCPU CPUUse
	Ratio                    float64 // Doorstep rate / baseline rate
	Pool                     PoolStats
}

// PoolStats is what Doorstep's database/sql pool did during the ack phase.
type PoolStats struct {
	MaxOpen, Open, InUse    int
	WaitCount               int64
	WaitDuration            time.Duration
	MaxIdleClosed, Lifetime int64
}

// Met reports whether the ratio target was met.
func (r *AckResult) Met() bool { return r.Ratio >= TargetAckRatio }

// DrainResult is phase 2.
type DrainResult struct {
	Backlog  int64         // pending when the workers started
	Elapsed  time.Duration // workers started → backlog empty
	Rate     float64       // Backlog / Elapsed
	Steady   float64       // processed / (last processed_at − first processed_at)
	Done     bool          // the backlog emptied within the timeout
	Curve    []Sample
	CPU      CPUUse
	Failed   int64
	Orders   int64
	Triggers int64
	// Per delivery drained: PostgreSQL commits in the bench database
	// (pg_stat_database) and SQL statements the worker app issued.
	CommitsPer, StatementsPer float64
}

// Met reports whether the drain target was met.
func (r *DrainResult) Met() bool { return r.Done && r.Rate >= TargetDrainRate }

// MixedResult is phase 3.
type MixedResult struct {
	Tally    *Tally
	Rate     float64 // asked
	Curve    []Sample
	Slope    float64       // backlog growth, deliveries per second (least squares)
	Tail     time.Duration // last send → backlog empty
	TailDone bool
	CPU      CPUUse
}

// KeptUp: the backlog stayed flat and emptied soon after the load stopped.
func (r *MixedResult) KeptUp() bool {
	return r.TailDone && r.Tail <= keptUpTailWithin && r.Slope <= 0.05*r.Rate
}

// P99Met reports whether the ack p99 target was met.
func (r *MixedResult) P99Met() bool {
	return r.Tally.Acked > 0 && r.Tally.Rejected == 0 && r.Tally.Quantile(0.99) < TargetMixedP99
}

// Report is a whole run.
type Report struct {
	Started  time.Time
	Elapsed  time.Duration
	Config   Config
	Machine  Machine
	Database string // the bench database's name (dropped afterwards)
	Ack      *AckResult
	Drain    *DrainResult
	Mixed    *MixedResult
	Ledger   Ledger
	// WorkerProcess: the worker role ran as its own process, with
	// IntakeConcurrency tasks at once.
	WorkerProcess     bool
	IntakeConcurrency int
	Warnings          []string // the app's warnings and errors (first few)
	Before            CPUUse   // the machine during one second before the run
}

// Void: the ledger does not balance, so the numbers mean nothing.
func (r *Report) Void() bool { return !r.Ledger.Balanced() }

// Run runs the bench and returns its report. An error means the run could
// not be carried out; a run that ran but whose ledger does not balance
// returns a report with Void() true.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	r := &runner{cfg: cfg, rep: &Report{Started: time.Now().UTC(), Config: cfg, Machine: machine()}}
	err := r.run(ctx)
	r.rep.Elapsed = time.Since(r.rep.Started)
	r.rep.Warnings = r.logs.lines()
	if err != nil {
		return nil, err
	}
	return r.rep, nil
}

type runner struct {
	cfg  Config
	rep  *Report
	logs *capture

	dbURL     string
	mon       *pgxpool.Pool
	redisOpt  asynq.RedisConnOpt
	appCfg    config.Config
	log       *slog.Logger
	gen       *Generator
	target    *client
	all       *Tally // every Doorstep request of the run, for the ledger
	baseAll   *Tally // every baseline request
	workers   bool
	stopWork  func() error
	stmts     *stmtCounter // the worker app's statements (nil in a worker process)
	workerPID int          // the worker process, when there is one
}

// cpu samples the machine, counting a worker process's CPU as the bench's.
func (r *runner) cpu() cpuSample {
	if r.workerPID > 0 {
		return sampleCPU(r.workerPID)
	}
	return sampleCPU()
}

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func withDB(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("--database-url must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

func (r *runner) run(ctx context.Context) (err error) {
	// How busy the machine is before we start: other work on these cores
	// skews every number.
	c0 := sampleCPU()
	time.Sleep(time.Second)
	r.rep.Before = cpuBetween(c0, sampleCPU())
	r.say("before the run, other processes kept %.2f of %d cores busy", r.rep.Before.Others, r.rep.Machine.Cores)

	r.logs = &capture{max: 20, out: r.cfg.Progress}
	r.log = slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Redis.
	redisURL := r.cfg.RedisURL
	if redisURL == "" {
		rd, err := jobstest.StartRedis()
		if err != nil {
			return fmt.Errorf("start a throwaway redis-server (or pass --redis-url): %w", err)
		}
		defer rd.Close()
		redisURL = rd.URL()
		r.say("throwaway redis-server on %s", rd.Addr)
	}
	if r.redisOpt, err = asynq.ParseRedisURI(redisURL); err != nil {
		return fmt.Errorf("--redis-url: %w", err)
	}
	r.rep.Machine.Redis = redisVersion(ctx, redisURL)

	// PostgreSQL: a fresh database, dropped at the end.
	bdb, err := freshDatabase(ctx, r.cfg.DatabaseURL, r.say)
	if err != nil {
		return err
	}
	defer func() {
		if derr := bdb.drop(r.say); err == nil {
			err = derr
		}
	}()
	r.dbURL, r.rep.Database, r.rep.Machine.Postgres = bdb.url, bdb.name, bdb.version

	// The app's configuration: nothing leaves 127.0.0.1.
	secret := randHex(16)
	if r.appCfg, err = config.Load(func(string) string { return "" }); err != nil {
		return err
	}
	r.appCfg.DatabaseURL, r.appCfg.RedisURL = r.dbURL, redisURL
	r.appCfg.Port = 0
	r.appCfg.AppURL = "http://127.0.0.1"
	r.appCfg.ShopifyAPIKey, r.appCfg.ShopifyAPISecret = "bench-api-key", secret
	r.appCfg.ShopifyAPIBaseURL = "http://127.0.0.1:9/{shop}" // discard port: no call may leave the machine
	if r.cfg.IntakeConcurrency > 0 {
		r.appCfg.IntakeConcurrency = r.cfg.IntakeConcurrency
	}
	r.rep.WorkerProcess, r.rep.IntakeConcurrency = len(r.cfg.WorkerCommand) > 0, r.appCfg.IntakeConcurrency
	r.appCfg.EncryptionKey = make([]byte, 32)
	_, _ = rand.Read(r.appCfg.EncryptionKey)

	web, err := app.New(ctx, r.appCfg, app.Options{Log: r.log, ListenHost: "127.0.0.1", NoSync: true, NoMessages: true})
	if err != nil {
		return fmt.Errorf("start the app: %w", err)
	}
	if _, err := web.Store().SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: benchShop, Name: "Doorstep Bench"},
		models.Token{AccessToken: "shpat_bench_" + randHex(8), Scopes: "read_orders"}); err != nil {
		web.Close()
		return fmt.Errorf("install the bench shop: %w", err)
	}
	webCtx, stopWeb := context.WithCancel(context.Background())
	addrc, webErr := make(chan string, 1), make(chan error, 1)
	go func() { webErr <- web.Run(webCtx, app.RoleWeb, func(addr string) { addrc <- addr }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-webErr:
		stopWeb()
		return fmt.Errorf("web role: %w", err)
	}
	defer func() {
		stopWeb()
		if werr := <-webErr; werr != nil && err == nil {
			err = fmt.Errorf("web role: %w", werr)
		}
	}()
	r.say("doorstep web role on %s (workers not started)", addr)

	mcfg, err := pgxpool.ParseConfig(r.dbURL)
	if err != nil {
		return fmt.Errorf("monitor pool: %w", err)
	}
	mcfg.MaxConns = 3
	if r.mon, err = pgxpool.NewWithConfig(ctx, mcfg); err != nil {
		return fmt.Errorf("monitor pool: %w", err)
	}
	defer r.mon.Close()

	r.gen = NewGenerator(benchShop, secret, randHex(4))
	r.target = newClient("http://"+addr+"/webhooks/shopify", r.cfg.Clients)
	defer r.target.close()
	r.all, r.baseAll = newTally(), newTally()
	defer func() {
		if r.stopWork != nil {
			if werr := r.stopWork(); werr != nil && err == nil {
				err = werr
			}
		}
	}()

	for _, p := range r.cfg.Phases {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch p {
		case PhaseAck:
			if err := r.phaseAck(ctx, web); err != nil {
				return err
			}
		case PhaseDrain:
			if err := r.phaseDrain(ctx); err != nil {
				return err
			}
		case PhaseMixed:
			if err := r.phaseMixed(ctx); err != nil {
				return err
			}
		}
	}
	if r.workers {
		// Wait for the whole backlog before counting.
		if _, ok, err := r.waitEmpty(ctx, r.cfg.DrainTimeout, nil); err != nil {
			return err
		} else if !ok {
			r.say("backlog did not empty within %s; the ledger will say so", r.cfg.DrainTimeout)
		}
		r.waitQueueIdle(ctx, 10*time.Second)
	}
	r.rep.Ledger = r.ledger(ctx)
	return nil
}

func redisVersion(ctx context.Context, redisURL string) string {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return ""
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
			return v
		}
	}
	return ""
}

// profile starts a CPU profile for a phase if asked; the returned func stops it.
func (r *runner) profile(phase string) func() { return startProfile(r.cfg.CPUProfile, phase, r.say) }

// startProfile writes a CPU profile to PREFIX.<name>.pprof until the
// returned func is called; with no prefix it does nothing.
func startProfile(prefix, name string, say func(string, ...any)) func() {
	if prefix == "" {
		return func() {}
	}
	path := prefix + "." + name + ".pprof"
	f, err := os.Create(path)
	if err != nil {
		say("cpu profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		say("cpu profile: %v", err)
		return func() {}
	}
	// Allocations are counted from here: the heap profile written at the
	// end holds this run's alloc_space minus what came before.
	before := allocProfile()
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		say("cpu profile written to %s", path)
		heap := prefix + "." + name + ".allocs.pprof"
		if err := writeAllocDelta(heap, before); err != nil {
			say("allocation profile: %v", err)
			return
		}
		say("allocation profile written to %s (go tool pprof -sample_index=alloc_space)", heap)
	}
}

// allocProfile snapshots the runtime's allocation profile.
func allocProfile() *profile.Profile {
	var buf bytes.Buffer
	if err := pprof.Lookup("allocs").WriteTo(&buf, 0); err != nil {
		return nil
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		return nil
	}
	return p
}

// writeAllocDelta writes the allocations made since before to path.
func writeAllocDelta(path string, before *profile.Profile) error {
	after := allocProfile()
	if after == nil {
		return fmt.Errorf("read the allocation profile")
	}
	if before != nil {
		before.Scale(-1)
		merged, err := profile.Merge([]*profile.Profile{after, before})
		if err != nil {
			return fmt.Errorf("subtract the earlier allocations: %w", err)
		}
		after = merged
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return after.Write(f)
}

func (r *runner) phaseAck(ctx context.Context, web *app.App) error {
	res := &AckResult{}
	d := r.cfg.Duration

	base, err := startBaseline(ctx, r.dbURL, r.appCfg.ShopifyAPISecret)
	if err != nil {
		return err
	}
	defer base.close()
	bc := newClient(base.URL, r.cfg.Clients)
	defer bc.close()

	r.say("phase 1 (ack only): baseline, %d clients, %s after a %s warm-up", r.cfg.Clients, d, r.cfg.Warmup)
	r.baseAll.merge(closedLoop(ctx, bc, benchShop, r.gen, r.cfg.Clients, r.cfg.Dup, r.cfg.Warmup))
	stop := r.profile("ack-baseline")
	c0 := r.cpu()
	res.Baseline = closedLoop(ctx, bc, benchShop, r.gen, r.cfg.Clients, r.cfg.Dup, d)
	res.BaselineCPU = cpuBetween(c0, r.cpu())
	stop()
	r.baseAll.merge(res.Baseline)
	r.say("  baseline: %.0f webhooks/s, p50 %s, p99 %s", res.Baseline.Rate(), ms(res.Baseline.Quantile(0.5)), ms(res.Baseline.Quantile(0.99)))

	r.say("phase 1 (ack only): doorstep, %d clients, %s after a %s warm-up", r.cfg.Clients, d, r.cfg.Warmup)
	r.all.merge(closedLoop(ctx, r.target, benchShop, r.gen, r.cfg.Clients, r.cfg.Dup, r.cfg.Warmup))
	sqlDB, _ := web.Store().DB().DB()
	var s0 sql.DBStats
	if sqlDB != nil {
		s0 = sqlDB.Stats()
	}
	stop = r.profile("ack-doorstep")
	c0 = r.cpu()
	res.Doorstep = closedLoop(ctx, r.target, benchShop, r.gen, r.cfg.Clients, r.cfg.Dup, d)
	res.DoorstepCPU = cpuBetween(c0, r.cpu())
	stop()
	if sqlDB != nil {
		s1 := sqlDB.Stats()
		res.Pool = PoolStats{MaxOpen: s1.MaxOpenConnections, Open: s1.OpenConnections, InUse: s1.InUse,
			WaitCount: s1.WaitCount - s0.WaitCount, WaitDuration: s1.WaitDuration - s0.WaitDuration,
			MaxIdleClosed: s1.MaxIdleClosed - s0.MaxIdleClosed, Lifetime: s1.MaxLifetimeClosed - s0.MaxLifetimeClosed}
	}
	r.all.merge(res.Doorstep)
	if br := res.Baseline.Rate(); br > 0 {
		res.Ratio = res.Doorstep.Rate() / br
	}
	r.say("  doorstep: %.0f webhooks/s, p50 %s, p99 %s (%.0f%% of the baseline)", res.Doorstep.Rate(),
		ms(res.Doorstep.Quantile(0.5)), ms(res.Doorstep.Quantile(0.99)), 100*res.Ratio)
	r.rep.Ack = res
	return nil
}

// startWorkers runs the worker role (asynq server + dispatcher) as a second
// App on the same database and Redis, as `serve --role worker` would.
func (r *runner) startWorkers(ctx context.Context) error {
	if r.workers {
		return nil
	}
	if len(r.cfg.WorkerCommand) > 0 {
		return r.startWorkerProcess(ctx)
	}
	w, err := app.New(ctx, r.appCfg, app.Options{Log: r.log, NoSync: true, NoMessages: true})
	if err != nil {
		return fmt.Errorf("start the worker app: %w", err)
	}
	r.stmts = countStatements(w.Store().DB())

	wctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() { done <- w.Run(wctx, app.RoleWorker, func(string) { once.Do(func() { close(ready) }) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return fmt.Errorf("worker role: %w", err)
	}
	r.workers = true
	r.stopWork = func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("worker role: %w", err)
		}
		return nil
	}
	return nil
}

// settleDisk writes out what setup or the previous phase left for the disk
// before the next timed run: a CHECKPOINT, so PostgreSQL's data files are
// written and synced. The kernel writes a page back 30 s after it was
// dirtied (vm.dirty_expire_centisecs), so without it the drain's ~100 MB
// reached the disk during the mixed phase, and every commit's WAL flush
// waited behind it: acks stalled 150–250 ms with the cores idle in
// iowait (p99 86–209 ms in 10 of 15 runs). A server at a steady rate
// writes back as it goes; phases and seeds are not the rate being
// measured, so each timed run starts from a settled disk. Without the
// privilege to checkpoint, the run goes on and says so.
func settleDisk(ctx context.Context, db *pgxpool.Pool, say func(string, ...any), before string) {
	start := time.Now()
	if _, err := db.Exec(ctx, "CHECKPOINT"); err != nil {
		say("could not checkpoint before %s (%v): its latencies may include the writeback of what came before", before, err)
		return
	}
	say("checkpoint before %s: %s", before, time.Since(start).Round(time.Millisecond))
}

func (r *runner) pending(ctx context.Context) (int64, error) {
	var n int64
	err := r.mon.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE status = $1", models.DeliveryReceived).Scan(&n)
	return n, err
}

// waitEmpty polls the backlog until it is empty or timeout passes,
// recording one sample a second into curve (if not nil).
func (r *runner) waitEmpty(ctx context.Context, timeout time.Duration, curve *[]Sample) (time.Duration, bool, error) {
	start := time.Now()
	nextSample := start
	for {
		n, err := r.pending(ctx)
		if err != nil {
			return 0, false, fmt.Errorf("count backlog: %w", err)
		}
		now := time.Now()
		if curve != nil && (!now.Before(nextSample) || n == 0) {
			*curve = append(*curve, Sample{At: now.Sub(start), Pending: n})
			nextSample = nextSample.Add(time.Second)
		}
		if n == 0 {
			return now.Sub(start), true, nil
		}
		if now.Sub(start) > timeout {
			return now.Sub(start), false, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		// Every 200 ms: counting a 20,000-delivery backlog takes PostgreSQL
		// ~15 ms, and polling faster took a tenth of a core from the
		// workers being measured.
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *runner) phaseDrain(ctx context.Context) error {
	res := &DrainResult{}
	var err error
	if res.Backlog, err = r.pending(ctx); err != nil {
		return fmt.Errorf("count backlog: %w", err)
	}
	// Statistics for the deliveries phase 1 stored, as autovacuum would have
	// gathered them on a server that has been running: without them the
	// planner takes the freshly filled table for an empty one. Only
	// deliveries: the tables the drain fills are empty now, and statistics
	// saying so would mislead the planner as they grow.
	if _, err := r.mon.Exec(ctx, "ANALYZE deliveries"); err != nil {
		return fmt.Errorf("analyze before the drain: %w", err)
	}
	settleDisk(ctx, r.mon, r.say, "phase 2")
	r.say("phase 2 (drain): %d deliveries waiting; starting the workers", res.Backlog)
	stop := r.profile("drain")
	c0 := r.cpu()
	commits0 := r.commits(ctx)
	start := time.Now()
	if err := r.startWorkers(ctx); err != nil {
		stop()
		return err
	}
	res.Curve = append(res.Curve, Sample{At: 0, Pending: res.Backlog})
	_, ok, err := r.waitEmpty(ctx, r.cfg.DrainTimeout, &res.Curve)
	res.CPU = cpuBetween(c0, r.cpu())
	stop()
	if err != nil {
		return err
	}
	if res.Backlog > 0 {
		res.CommitsPer = float64(r.commits(ctx)-commits0) / float64(res.Backlog)
		if r.stmts != nil {
			res.StatementsPer = float64(r.stmts.n.Load()) / float64(res.Backlog)
		}
	}
	res.Done = ok
	res.Elapsed = time.Since(start)
	if ok {
		// Time to the last row processed, not to the poll that saw it.
		var last *time.Time
		_ = r.mon.QueryRow(ctx, "SELECT max(processed_at) FROM deliveries WHERE status = $1", models.DeliveryProcessed).Scan(&last)
		if last != nil && last.After(start) && last.Before(time.Now()) {
			res.Elapsed = last.Sub(start)
		}
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		processed := res.Backlog
		if !ok && len(res.Curve) > 0 {
			processed = res.Backlog - res.Curve[len(res.Curve)-1].Pending
		}
		res.Rate = float64(processed) / s
	}
	var n int64
	var first, last *time.Time
	_ = r.mon.QueryRow(ctx, "SELECT count(*), min(processed_at), max(processed_at) FROM deliveries WHERE status = $1",
		models.DeliveryProcessed).Scan(&n, &first, &last)
	if first != nil && last != nil && last.After(*first) {
		res.Steady = float64(n) / last.Sub(*first).Seconds()
	}
	_ = r.mon.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE status = $1", models.DeliveryFailed).Scan(&res.Failed)
	_ = r.mon.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&res.Orders)
	_ = r.mon.QueryRow(ctx, "SELECT count(*) FROM triggers").Scan(&res.Triggers)
	r.say("  drained %d deliveries in %s: %.0f/s (steady %.0f/s)", res.Backlog, res.Elapsed.Round(time.Millisecond), res.Rate, res.Steady)
	r.rep.Drain = res
	return nil
}

func (r *runner) phaseMixed(ctx context.Context) error {
	if err := r.startWorkers(ctx); err != nil {
		return err
	}
	// Start from an empty backlog, so the curve shows this phase only.
	if _, ok, err := r.waitEmpty(ctx, r.cfg.DrainTimeout, nil); err != nil {
		return err
	} else if !ok {
		r.say("phase 3 starts with a backlog: the previous one did not empty within %s", r.cfg.DrainTimeout)
	}
	settleDisk(ctx, r.mon, r.say, "phase 3")
	res := &MixedResult{Rate: r.cfg.Rate}
	r.say("phase 3 (mixed): %.0f webhooks/s open loop for %s after a %s warm-up at that rate, %d connections, workers running",
		r.cfg.Rate, r.cfg.Duration, r.cfg.Warmup, r.cfg.Clients)
	// The warm-up opens the clients' connections and the web role's pool
	// (when phase 1 did not) and lets the workers reach their steady rhythm,
	// as the closed-loop phases' warm-ups do; its requests count in the
	// ledger, not in the latencies.
	r.all.merge(openLoop(ctx, r.target, benchShop, r.gen, r.cfg.Clients, r.cfg.Dup, r.cfg.Rate, r.cfg.Warmup))
	stop := r.profile("mixed")
	c0 := r.cpu()
	start := time.Now()
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if n, err := r.pending(sctx); err == nil {
				res.Curve = append(res.Curve, Sample{At: time.Since(start), Pending: n})
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	res.Tally = openLoop(ctx, r.target, benchShop, r.gen, r.cfg.Clients, r.cfg.Dup, r.cfg.Rate, r.cfg.Duration)
	stopSampling()
	<-sampled
	res.CPU = cpuBetween(c0, r.cpu())
	stop()
	r.all.merge(res.Tally)
	res.Slope = slope(res.Curve)
	tail, ok, err := r.waitEmpty(ctx, r.cfg.DrainTimeout, nil)
	if err != nil {
		return err
	}
	res.Tail, res.TailDone = tail, ok
	r.say("  mixed: %d sent, p50 %s, p99 %s, backlog slope %+.1f/s, empty %s after the last send", res.Tally.Sent,
		ms(res.Tally.Quantile(0.5)), ms(res.Tally.Quantile(0.99)), res.Slope, tail.Round(time.Millisecond))
	r.rep.Mixed = res
	return nil
}

// commits is the bench database's committed transactions so far (the
// statistics collector lags by up to half a second).
func (r *runner) commits(ctx context.Context) int64 {
	var n int64
	_ = r.mon.QueryRow(ctx, "SELECT pg_stat_force_next_flush()").Scan(new(any))
	_ = r.mon.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&n)
	return n
}

// slope fits pending = a + b·t by least squares and returns b.
func slope(s []Sample) float64 {
	if len(s) < 2 {
		return 0
	}
	var n, sx, sy, sxx, sxy float64
	for _, p := range s {
		x, y := p.At.Seconds(), float64(p.Pending)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// waitQueueIdle waits until asynq has nothing pending or running in the
// intake queue (the rows can be final a moment before the task is).
func (r *runner) waitQueueIdle(ctx context.Context, timeout time.Duration) {
	insp := asynq.NewInspector(r.redisOpt)
	defer insp.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		qi, err := insp.GetQueueInfo(jobs.QueueIntake)
		if err != nil || qi.Pending+qi.Active+qi.Scheduled+qi.Retry == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// capture keeps the app's first warnings and passes them on.
type capture struct {
	mu    sync.Mutex
	max   int
	n     int
	out   io.Writer
	first []string
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if len(c.first) < c.max {
		line := strings.TrimSpace(string(p))
		c.first = append(c.first, line)
		fmt.Fprintln(c.out, "app:", line)
	}
	return len(p), nil
}

func (c *capture) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.first)
	if c.n > len(c.first) {
		out = append(out, fmt.Sprintf("… and %d more", c.n-len(c.first)))
	}
	return out
}

// benchDB is a database a bench run creates on the PostgreSQL server and
// drops at the end, even when the run failed.
type benchDB struct {
	url, name, version string
	admin              *pgx.Conn
}

// freshDatabase creates doorstep_bench_<random> on the server at serverURL.
func freshDatabase(ctx context.Context, serverURL string, say func(string, ...any)) (benchDB, error) {
	d := benchDB{name: "doorstep_bench_" + randHex(6)}
	var err error
	if d.url, err = withDB(serverURL, d.name); err != nil {
		return d, err
	}
	if d.admin, err = pgx.Connect(ctx, serverURL); err != nil {
		return d, fmt.Errorf("connect to PostgreSQL (--database-url): %w", err)
	}
	_ = d.admin.QueryRow(ctx, "SHOW server_version").Scan(&d.version)
	if _, err := d.admin.Exec(ctx, "CREATE DATABASE "+d.name); err != nil {
		d.admin.Close(context.Background())
		return d, fmt.Errorf("create database %s: %w", d.name, err)
	}
	say("database %s created", d.name)
	return d, nil
}

// drop removes the database (closing whatever still uses it).
func (d benchDB) drop(say func(string, ...any)) error {
	defer d.admin.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)"); err != nil {
		say("drop database %s: %v", d.name, err)
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	say("database %s dropped", d.name)
	return nil
}
