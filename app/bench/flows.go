package bench

// `doorstep bench flows`: how fast the worker role turns queued messages
// into email at an SMTP server, beside asynq's own rate for a handler that
// does nothing, on the same Redis in the same run.
//
// The bench creates N paid orders (three line items, a customer, an
// address) with one queued thank-you each, then, on a clock: enqueues N
// message:send tasks, exactly as the dispatcher would, starts the worker
// role and waits until the N-th message reaches an in-process SMTP sink
// through the email channel's persistent connections. The no-op baseline
// does the same with N tasks of the same shape and a handler that returns
// nil. The sink counts
// messages by Message-ID: every message exactly once, every row `sent`, or
// the run is void.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/email"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/jobstest"
	"github.com/doorstep/doorstep/models"
)

// Targets from the issue (on 2 cores).
const (
	TargetFlowsRate  = 1000.0 // messages/s
	TargetFlowsRatio = 0.25   // of the no-op rate
)

const (
	noopQueue       = "bench_noop"
	noopType        = "bench:noop"
	flowsShop       = "doorstep-bench-flows.myshopify.com"
	flowsSetupChunk = 250 // orders per setup transaction
)

// FlowsConfig is one `doorstep bench flows` run.
type FlowsConfig struct {
	N int // messages, and no-op tasks (default 5,000)
	// DatabaseURL is the PostgreSQL server; the bench creates its own
	// database there and drops it at the end.
	DatabaseURL string
	// RedisURL is a dedicated Redis; "" starts a throwaway redis-server.
	RedisURL string
	// Progress gets one line per step and the app's warnings; nil discards.
	Progress io.Writer
	// CPUProfile, if set, is a path prefix: PREFIX.noop.pprof and
	// PREFIX.flows.pprof.
	CPUProfile string
	// Enqueuers is how many goroutines enqueue the tasks, in both runs
	// (default 4).
	Enqueuers int
	// Batch is how many messages one message:send task carries, as the
	// dispatcher hands a queue of due messages over (default 50; 1 is a
	// task per message).
	Batch int
	// Timeout bounds each run (default 5 min).
	Timeout time.Duration
	// Concurrency is the worker role's SEND_CONCURRENCY, the tasks its
	// flows pool runs at once (0: the product's default); the no-op
	// server runs as many.
	Concurrency int
	// Warmup is how many more thank-yous the worker role sends before the
	// clock starts, in batches of Batch from Concurrency goroutines (0:
	// the default, 2,500; negative: none). A worker that has been running
	// has its PostgreSQL connections open, their catalogs cached and their
	// statements prepared, and its SMTP connections open; a cold start
	// pays for all of that inside the first seconds.
	Warmup int
}

func (c *FlowsConfig) defaults() {
	if c.N <= 0 {
		c.N = 5000
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = defaultPGURL
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Enqueuers <= 0 {
		c.Enqueuers = 4
	}
	if c.Batch <= 0 {
		c.Batch = 50
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = 2500
	case c.Warmup < 0:
		c.Warmup = 0
	}
}

// RateRun is one timed run: N tasks enqueued from the start, until the
// last one was done (handled, or its message accepted by the sink).
type RateRun struct {
	N        int
	Done     int           // finished within the timeout
	Enqueue  time.Duration // start → every task enqueued
	First    time.Duration // start → the first one done
	Elapsed  time.Duration // start → the last one done (or the timeout)
	Rate     float64       // Done / Elapsed
	Finished bool          // all N done within the timeout
	CPU      CPUUse
	// Servers is where the rest of the machine's CPU went: the bench
	// database's PostgreSQL backends and the redis-server, in cores.
	Servers ServerCPU
}

// ServerCPU is the CPU, in cores, of the servers the bench talks to.
type ServerCPU struct {
	Postgres, Redis float64
	Known           bool
}

func (r *RateRun) finish(done int, first, last time.Duration, ok bool) {
	r.Done, r.First, r.Elapsed, r.Finished = done, first, last, ok
	if s := last.Seconds(); s > 0 {
		r.Rate = float64(done) / s
	}
}

// FlowsReport is a whole `doorstep bench flows` run.
type FlowsReport struct {
	Started  time.Time
	Elapsed  time.Duration
	Config   FlowsConfig
	Machine  Machine
	Before   CPUUse // the machine during one second before the run
	Database string // the bench database's name (dropped afterwards)
	Setup    time.Duration
	Noop     RateRun
	Flows    RateRun
	Ratio    float64 // Flows.Rate / Noop.Rate
	// RowsSent is the start → the last row's sent_at (the outcome is
	// recorded after the sink accepts the message).
	RowsSent time.Duration
	// Per message: SQL statements the worker app issued (BEGIN/COMMIT not
	// counted) and PostgreSQL commits in the bench database.
	StatementsPer, CommitsPer float64
	Connections               int64 // SMTP connections the sink accepted
	Ledger                    FlowsLedger
	Warnings                  []string
}

// Void: the ledger does not balance, so the numbers mean nothing.
func (r *FlowsReport) Void() bool { return !r.Ledger.Balanced() }

// RateMet and RatioMet say whether the targets were met.
func (r *FlowsReport) RateMet() bool { return r.Flows.Finished && r.Flows.Rate >= TargetFlowsRate }

// RatioMet reports whether messages/s reached the target share of the no-op rate.
func (r *FlowsReport) RatioMet() bool { return r.Flows.Finished && r.Ratio >= TargetFlowsRatio }

// FlowsLedger is the run's exact accounting, counted after both runs.
type FlowsLedger struct {
	N int
	// At the SMTP sink, by Message-ID.
	SinkAccepted   int // DATA commands accepted
	SinkDistinct   int // distinct Message-IDs
	SinkTwice      int // our messages that arrived more than once
	SinkMissing    int // our messages that never arrived
	SinkUnknown    int // Message-IDs that are none of ours
	WrongRecipient int // envelope recipient ≠ the row's
	// In PostgreSQL.
	ByStatus map[string]int64
	// asynq's flows queue after the run.
	QueueKnown                bool
	QueueLeft, QueueArchived  int
	QueueProcessed, QueueFail int
	// The no-op baseline: handler calls, and tasks not handled exactly once.
	NoopHandled, NoopNotOnce int

	Problems []string
}

// Balanced: nothing unaccounted for.
func (l FlowsLedger) Balanced() bool { return len(l.Problems) == 0 }

func (l *FlowsLedger) problem(format string, args ...any) {
	l.Problems = append(l.Problems, fmt.Sprintf(format, args...))
}

// RunFlows runs the flows bench. An error means the run could not be
// carried out; a run whose ledger does not balance returns a report with
// Void() true.
func RunFlows(ctx context.Context, cfg FlowsConfig) (*FlowsReport, error) {
	cfg.defaults()
	r := &flowsRunner{cfg: cfg, rep: &FlowsReport{Started: time.Now().UTC(), Config: cfg, Machine: machine()}}
	err := r.run(ctx)
	r.rep.Elapsed = time.Since(r.rep.Started)
	if r.logs != nil {
		r.rep.Warnings = r.logs.lines()
	}
	if err != nil {
		return nil, err
	}
	return r.rep, nil
}

type flowsRunner struct {
	cfg      FlowsConfig
	rep      *FlowsReport
	logs     *capture
	log      *slog.Logger
	redisOpt asynq.RedisConnOpt
	redisPID int
	appCfg   config.Config
	mon      *pgxpool.Pool
	sink     *smtpSink
	// The queued messages: Message-ID at the sink → the row's recipient
	// (the warm-up's included: they too must arrive exactly once).
	want map[string]string
	ids  []uint64
	due  []time.Time
	// The warm-up's messages, sent before the clock starts.
	warm []uint64
	// The no-op run's handler calls per task.
	noopSeen []atomic.Int32
}

func (r *flowsRunner) say(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "bench flows: "+format+"\n", args...)
}

func (r *flowsRunner) run(ctx context.Context) (err error) {
	c0 := sampleCPU()
	time.Sleep(time.Second)
	r.rep.Before = cpuBetween(c0, sampleCPU())
	r.say("before the run, other processes kept %.2f of %d cores busy", r.rep.Before.Others+r.rep.Before.Self, r.rep.Machine.Cores)

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
	r.redisPID = redisPID(ctx, redisURL)

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
	dbURL := bdb.url
	r.rep.Database, r.rep.Machine.Postgres = bdb.name, bdb.version

	// The SMTP sink the email channel sends to.
	if r.sink, err = startSMTPSink(); err != nil {
		return err
	}
	defer r.sink.close()
	r.say("SMTP sink on %s", r.sink.addr)

	// The app's configuration: nothing leaves 127.0.0.1.
	if r.appCfg, err = config.Load(func(string) string { return "" }); err != nil {
		return err
	}
	r.appCfg.DatabaseURL, r.appCfg.RedisURL = dbURL, redisURL
	r.appCfg.Port = 0
	if r.cfg.Concurrency > 0 {
		r.appCfg.SendConcurrency = r.cfg.Concurrency
	}
	r.cfg.Concurrency = r.appCfg.SendConcurrency
	r.rep.Config.Concurrency = r.cfg.Concurrency
	r.appCfg.AppURL = "http://127.0.0.1"
	r.appCfg.ShopifyAPIKey, r.appCfg.ShopifyAPISecret = "bench-api-key", randHex(16)
	r.appCfg.ShopifyAPIBaseURL = "http://127.0.0.1:9/{shop}" // discard port: no call may leave the machine
	r.appCfg.EncryptionKey = make([]byte, 32)
	_, _ = rand.Read(r.appCfg.EncryptionKey)
	r.appCfg.SMTPURL = (&url.URL{Scheme: "smtp", User: url.UserPassword("bench", "bench"), Host: r.sink.addr, RawQuery: "tls=none"}).String()
	r.appCfg.SMTPFrom = "Doorstep Bench <orders@doorstep-bench.test>"

	if err := r.setup(ctx); err != nil {
		return err
	}

	mcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("monitor pool: %w", err)
	}
	mcfg.MaxConns = 2
	if r.mon, err = pgxpool.NewWithConfig(ctx, mcfg); err != nil {
		return fmt.Errorf("monitor pool: %w", err)
	}
	defer r.mon.Close()
	// A production database has planner statistics: autovacuum analyzes a
	// table once a tenth of it has changed. The bench fills empty tables in
	// seconds, before autovacuum's next round, and without statistics the
	// planner reads line_items and orders whole for every batch (15 ms per
	// 50-order lookup instead of 0.5 ms). So the bench analyzes, as
	// autovacuum would have, before the clock starts.
	t0 := time.Now()
	if _, err := r.mon.Exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("analyze the bench database: %w", err)
	}
	r.say("analyzed the bench database in %s", time.Since(t0).Round(time.Millisecond))
	settleDisk(ctx, r.mon, r.say, "the timed runs")

	client := asynq.NewClient(r.redisOpt)
	defer client.Close()

	if err := r.runNoop(ctx, client); err != nil {
		return err
	}
	if err := r.runFlows(ctx, client); err != nil {
		return err
	}
	if r.rep.Noop.Rate > 0 {
		r.rep.Ratio = r.rep.Flows.Rate / r.rep.Noop.Rate
	}
	r.rep.Ledger = r.ledger(ctx)
	return nil
}

// setup installs the bench shop and writes N paid orders, each with its
// customer, three line items and one queued thank-you, in multi-row
// transactions; then marks the messages handed over, as the dispatcher
// does, so the worker's dispatcher leaves them to the bench.
func (r *flowsRunner) setup(ctx context.Context) error {
	start := time.Now()
	a, err := app.New(ctx, r.appCfg, app.Options{Log: r.log, NoSync: true})
	if err != nil {
		return fmt.Errorf("start the app: %w", err)
	}
	defer a.Close()
	st := a.Store()
	shop, err := st.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: flowsShop, Name: "Doorstep Bench",
		Email: "owner@doorstep-bench.test", Timezone: "America/Los_Angeles", Currency: "USD"},
		models.Token{AccessToken: "shpat_bench_" + randHex(8), Scopes: "read_orders"})
	if err != nil {
		return fmt.Errorf("install the bench shop: %w", err)
	}
	set := jobs.DefaultSettings()
	set.Quiet.EmailEnabled = false // the bench runs at any hour
	set.Sender.FromName = "Doorstep Bench"
	set.Brand.Color = "#2a6f4e"
	set.Brand.LogoURL = "https://cdn.shopify.com/s/files/1/bench/logo.png"
	if err := jobs.SaveSettings(ctx, st, shop.ID, set); err != nil {
		return fmt.Errorf("bench shop settings: %w", err)
	}

	n := r.cfg.N + r.cfg.Warmup
	run := randHex(3)
	r.want = make(map[string]string, n)
	r.ids, r.due = make([]uint64, 0, n), make([]time.Time, 0, n)
	now := time.Now().UTC()
	for lo := 0; lo < n; lo += flowsSetupChunk {
		hi := min(lo+flowsSetupChunk, n)
		orders := make([]models.Order, 0, hi-lo)
		pids := make([]int64, 0, hi-lo)
		for i := lo; i < hi; i++ {
			o := benchOrder(i, run, now)
			orders = append(orders, o)
			pids = append(pids, o.PlatformID)
		}
		msgs := make([]models.Message, len(orders))
		err := st.InTxAt(ctx, now, func(tx *models.Tx) error {
			if err := tx.BeginBatch(map[uint64][]int64{shop.ID: pids}); err != nil {
				return err
			}
			for i := range orders {
				o := &orders[i]
				lines := o.LineItems
				if _, err := tx.UpsertCustomer(shop.ID, o.Customer); err != nil {
					return err
				}
				if _, _, err := tx.UpsertOrder(shop.ID, o); err != nil {
					return err
				}
				if err := tx.UpsertLineItems(shop.ID, o.ID, lines); err != nil {
					return err
				}
				msgs[i] = models.Message{ShopID: shop.ID, OrderPlatformID: o.PlatformID, Flow: jobs.FlowThankYou,
					Channel: notify.EmailChannel, Recipient: o.Email, CustomerPlatformID: o.CustomerPlatformID, Locale: "en", DueAt: now}
				created, err := tx.QueueMessage(&msgs[i])
				if err != nil {
					return err
				}
				if !created {
					return fmt.Errorf("thank-you for order %d already queued", o.PlatformID)
				}
			}
			return tx.FlushBatch()
		})
		if err != nil {
			return fmt.Errorf("write orders %d..%d: %w", lo, hi-1, err)
		}
		for _, m := range msgs {
			r.want[email.MessageID("msg-"+strconv.FormatUint(m.ID, 10))] = m.Recipient
			if len(r.warm) < r.cfg.Warmup {
				r.warm = append(r.warm, m.ID)
				continue
			}
			r.ids = append(r.ids, m.ID)
			r.due = append(r.due, m.DueAt)
		}
	}
	all := append(slices.Clone(r.warm), r.ids...)
	for lo := 0; lo < len(all); lo += 5000 {
		if err := st.MarkMessagesDispatched(ctx, all[lo:min(lo+5000, len(all))], time.Now().UTC()); err != nil {
			return err
		}
	}
	r.rep.Setup = time.Since(start)
	r.say("%d orders (3 line items each) and %d queued thank-yous (%d for the warm-up) written in %s", n, len(all), len(r.warm),
		r.rep.Setup.Round(time.Millisecond))
	return nil
}

// benchOrder is a realistic paid order: a customer, an address in
// California, three line items with images, money in USD.
func benchOrder(i int, run string, now time.Time) models.Order {
	pid := int64(7_100_000_000_000_000) + int64(i)
	cid := int64(8_100_000_000_000_000) + int64(i)
	created := now.Add(-time.Duration(i%3600) * time.Second).Add(-time.Hour).Truncate(time.Second)
	addr := fmt.Sprintf("shopper-%d-%s@example.com", i, run)
	first := []string{"Ana", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Grace", "Hiro"}[i%8]
	lines := make([]models.LineItem, 3)
	subtotal := decimal.Zero
	for j := range lines {
		price := decimal.New(int64(1200+350*j+i%7*100), -2)
		qty := 1 + (i+j)%3
		lines[j] = models.LineItem{PlatformID: pid*10 + int64(j), ProductID: int64(9_100_000_000 + j*17 + i%50),
			VariantID: int64(9_200_000_000 + j*17 + i%50), SKU: fmt.Sprintf("TEA-%03d-%d", i%50, j),
			Title: []string{"Sencha Green Tea", "Earl Grey Loose Leaf", "Ceramic Tea Cup"}[j], VariantTitle: []string{"100 g", "250 g", "Blue"}[j],
			Quantity: qty, Price: price, FulfillableQuantity: qty, RequiresShipping: true,
			ImageURL: fmt.Sprintf("https://cdn.shopify.com/s/files/1/bench/products/item-%d-%d.jpg", j, i%50)}
		subtotal = subtotal.Add(price.Mul(decimal.NewFromInt(int64(qty))))
	}
	shipping, tax := decimal.New(595, -2), subtotal.Mul(decimal.New(725, -4)).Round(2)
	processed := created
	return models.Order{PlatformID: pid, Name: "#" + strconv.Itoa(1001+i), Number: int64(1001 + i), Email: addr,
		CustomerPlatformID: cid, Locale: "en", Currency: "USD", Subtotal: subtotal, TotalShipping: shipping, TotalTax: tax,
		Total: subtotal.Add(shipping).Add(tax), FinancialStatus: "paid", ProcessedAt: &processed,
		StatusPageURL: fmt.Sprintf("https://%s/1/orders/%x/authenticate?key=%s", flowsShop, pid, run),
		ShippingAddress: models.Address{Name: first + " Shopper", Address1: strconv.Itoa(100+i%900) + " Market St",
			City: "San Francisco", Province: "California", ProvinceCode: "CA", Zip: "94105", CountryCode: "US"},
		PlatformCreatedAt: created, PlatformUpdatedAt: created, LineItems: lines,
		Customer: &models.Customer{PlatformID: cid, Email: addr, FirstName: first, LastName: "Shopper", Locale: "en",
			State: "enabled", PlatformCreatedAt: created, PlatformUpdatedAt: created}}
}

// enqueueAll hands the tasks to asynq from cfg.Enqueuers goroutines.
func (r *flowsRunner) enqueueAll(ctx context.Context, client *asynq.Client, n int, task func(i int) (*asynq.Task, []asynq.Option)) error {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		err1 error
	)
	for range r.cfg.Enqueuers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t, opts := task(i)
				if _, err := client.EnqueueContext(ctx, t, opts...); err != nil {
					mu.Lock()
					if err1 == nil {
						err1 = fmt.Errorf("enqueue task %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return err1
}

// runNoop is the baseline: an asynq server with the worker role's
// concurrency whose handler decodes the payload and returns nil. As in
// runFlows, the clock starts at the first enqueue and the server starts
// once every task is enqueued: an idle asynq processor sleeps 0.5-1.5 s
// between polls of empty queues, which would otherwise be charged to
// whichever run happened to catch it.
func (r *flowsRunner) runNoop(ctx context.Context, client *asynq.Client) error {
	n := r.cfg.N
	r.noopSeen = make([]atomic.Int32, n)
	var (
		handled  atomic.Int64
		firstAt  atomic.Int64 // unix ns
		lastAt   atomic.Int64
		finished = make(chan struct{})
	)
	mux := asynq.NewServeMux()
	mux.HandleFunc(noopType, func(_ context.Context, t *asynq.Task) error {
		var p jobs.MessagePayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.MessageID >= uint64(n) {
			return fmt.Errorf("bad no-op payload %q: %w", t.Payload(), asynq.SkipRetry)
		}
		r.noopSeen[p.MessageID].Add(1)
		now := time.Now().UnixNano()
		firstAt.CompareAndSwap(0, now)
		if handled.Add(1) == int64(n) {
			lastAt.Store(now)
			close(finished)
		}
		return nil
	})
	srv := asynq.NewServer(r.redisOpt, asynq.Config{
		Concurrency: r.cfg.Concurrency, Queues: map[string]int{noopQueue: 1},
		Logger: slogAsynq{r.log}, LogLevel: asynq.WarnLevel, ShutdownTimeout: 10 * time.Second,
	})
	res := &r.rep.Noop
	res.N = n
	r.say("no-op baseline: %d tasks, asynq concurrency %d, %d enqueuers", n, r.cfg.Concurrency, r.cfg.Enqueuers)

	stop := r.profile("noop")
	s0 := r.serverCPU(ctx)
	c0 := sampleCPU()
	start := time.Now()
	err := r.enqueueAll(ctx, client, n, func(i int) (*asynq.Task, []asynq.Option) {
		// The same shape as a message:send task: payload, unique id,
		// retries and timeout.
		return asynq.NewTask(noopType, fmt.Appendf(nil, `{"message_id":%d}`, i)),
			[]asynq.Option{asynq.TaskID("noop:" + strconv.Itoa(i)), asynq.Queue(noopQueue), asynq.MaxRetry(10), asynq.Timeout(25 * time.Second)}
	})
	res.Enqueue = time.Since(start)
	if err != nil {
		stop()
		return err
	}
	if err := srv.Start(mux); err != nil {
		stop()
		return fmt.Errorf("start the no-op asynq server: %w", err)
	}
	defer srv.Shutdown()
	ok := true
	select {
	case <-finished:
	case <-time.After(r.cfg.Timeout):
		ok = false
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
	end := time.Since(start)
	res.CPU = cpuBetween(c0, sampleCPU())
	res.Servers = r.serverCPU(ctx).since(s0, end)
	stop()
	var first time.Duration
	if f := firstAt.Load(); f != 0 {
		first = time.Unix(0, f).Sub(start)
	}
	if ok {
		end = time.Unix(0, lastAt.Load()).Sub(start)
	}
	res.finish(int(handled.Load()), first, end, ok)
	r.say("  no-op: %d tasks in %s: %.0f/s (enqueueing took %s)", res.Done, res.Elapsed.Round(time.Millisecond), res.Rate, res.Enqueue.Round(time.Millisecond))
	waitQueueEmpty(ctx, r.redisOpt, noopQueue, 10*time.Second)
	return nil
}

// runFlows times N message:send tasks from the first enqueue to the N-th
// message at the sink; the worker role starts once every task is enqueued
// (see runNoop).
func (r *flowsRunner) runFlows(ctx context.Context, client *asynq.Client) error {
	n := len(r.ids)
	w, err := app.New(ctx, r.appCfg, app.Options{Log: r.log, NoSync: true})
	if err != nil {
		return fmt.Errorf("start the worker app: %w", err)
	}
	if err := r.warmUp(ctx, w); err != nil {
		w.Close()
		return err
	}
	stmts := countStatements(w.Store().DB())
	res := &r.rep.Flows
	res.N = n
	r.say("flows: %d thank-you emails through the worker role (asynq concurrency %d, email pool of %d connections), %d enqueuers",
		n, r.cfg.Concurrency, r.cfg.Concurrency, r.cfg.Enqueuers)
	r.sink.expect(len(r.warm) + n)
	commits0 := pgCommits(ctx, r.mon)
	stop := r.profile("flows")
	s0 := r.serverCPU(ctx)
	c0 := sampleCPU()
	start := time.Now()
	b := r.cfg.Batch
	tasks := (n + b - 1) / b
	err = r.enqueueAll(ctx, client, tasks, func(i int) (*asynq.Task, []asynq.Option) {
		var ms []models.Message
		for j := i * b; j < min((i+1)*b, n); j++ {
			ms = append(ms, models.Message{ID: r.ids[j], DueAt: r.due[j]})
		}
		return jobs.NewMessageBatchTask(ms)
	})
	res.Enqueue = time.Since(start)
	if err != nil {
		stop()
		w.Close()
		return err
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx, app.RoleWorker, nil) }()
	stopWorkers := func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("worker role: %w", err)
		}
		return nil
	}
	ok := true
	select {
	case <-r.sink.reached:
	case err := <-done:
		cancel()
		stop()
		return fmt.Errorf("worker role: %w", err)
	case <-time.After(r.cfg.Timeout):
		ok = false
	case <-ctx.Done():
		stop()
		_ = stopWorkers()
		return ctx.Err()
	}
	end := time.Since(start)
	res.CPU = cpuBetween(c0, sampleCPU())
	res.Servers = r.serverCPU(ctx).since(s0, end)
	stop()
	got, firstAt, lastAt := r.sink.progress()
	got -= len(r.warm)
	var first time.Duration
	if !firstAt.IsZero() {
		first = firstAt.Sub(start)
	}
	if ok {
		end = lastAt.Sub(start)
	}
	res.finish(got, first, end, ok)
	r.say("  flows: %d messages at the sink in %s: %.0f/s (enqueueing took %s)", res.Done, res.Elapsed.Round(time.Millisecond), res.Rate, res.Enqueue.Round(time.Millisecond))

	// Every outcome recorded, and the queue empty, before counting.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var left int64
		if err := r.mon.QueryRow(ctx, "SELECT count(*) FROM messages WHERE status <> $1", models.MessageSent).Scan(&left); err == nil && left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitQueueEmpty(ctx, r.redisOpt, jobs.QueueFlows, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate send would arrive by now
	var last *time.Time
	if err := r.mon.QueryRow(ctx, "SELECT max(sent_at) FROM messages WHERE status = $1", models.MessageSent).Scan(&last); err == nil && last != nil {
		r.rep.RowsSent = last.Sub(start)
	}
	if n > 0 {
		r.rep.StatementsPer = float64(stmts.n.Load()) / float64(n)
		r.rep.CommitsPer = float64(pgCommits(ctx, r.mon)-commits0) / float64(n)
	}
	r.rep.Connections = r.sink.conns.Load()
	// The queue's counters are read before the worker stops.
	insp := asynq.NewInspector(r.redisOpt)
	defer insp.Close()
	if qi, err := insp.GetQueueInfo(jobs.QueueFlows); err == nil {
		l := &r.rep.Ledger
		l.QueueKnown = true
		l.QueueLeft = qi.Pending + qi.Active + qi.Scheduled + qi.Retry
		l.QueueArchived, l.QueueProcessed, l.QueueFail = qi.Archived, qi.Processed, qi.Failed
	}
	return stopWorkers()
}

// warmUp sends the warm-up's messages through w's messenger, as its send
// pool would: Batch messages a call from Concurrency goroutines, until all
// are at the sink. The clock has not started.
func (r *flowsRunner) warmUp(ctx context.Context, w *app.App) error {
	if len(r.warm) == 0 {
		return nil
	}
	start := time.Now()
	b := r.cfg.Batch
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		errs []error
	)
	for range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(1)-1) * b
				if lo >= len(r.warm) || ctx.Err() != nil {
					return
				}
				if err := w.Messenger().SendBatch(ctx, r.warm[lo:min(lo+b, len(r.warm))]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	r.say("warm-up: %d thank-yous sent in %s (not timed)", len(r.warm), time.Since(start).Round(time.Millisecond))
	return nil
}

// ledger counts what arrived and what the database says.
func (r *flowsRunner) ledger(ctx context.Context) FlowsLedger {
	l := r.rep.Ledger
	l.N = len(r.want)
	l.ByStatus = map[string]int64{}
	rows, err := r.mon.Query(ctx, "SELECT status, count(*) FROM messages GROUP BY status")
	if err != nil {
		l.problem("read messages: %v", err)
	} else {
		for rows.Next() {
			var s string
			var c int64
			if err := rows.Scan(&s, &c); err == nil {
				l.ByStatus[s] = c
			}
		}
		rows.Close()
	}
	seen, rcpt, accepted := r.sink.snapshot()
	noop := make([]int32, len(r.noopSeen))
	for i := range r.noopSeen {
		noop[i] = r.noopSeen[i].Load()
	}
	balance(&l, r.want, seen, rcpt, accepted, noop)
	return l
}

// balance fills the sink's and the no-op's side of the ledger and names
// every problem: our messages must each arrive exactly once, to the row's
// recipient, and nothing else; every row must be sent; the flows queue
// must be empty; every no-op task must be handled exactly once.
func balance(l *FlowsLedger, want map[string]string, seen map[string]int, rcpt map[string]string, accepted int, noop []int32) {
	l.SinkAccepted, l.SinkDistinct = accepted, len(seen)
	for id, to := range want {
		switch c := seen[id]; {
		case c == 0:
			l.SinkMissing++
		case c > 1:
			l.SinkTwice++
		}
		if got, ok := rcpt[id]; ok && !strings.EqualFold(got, to) {
			l.WrongRecipient++
		}
	}
	for id := range seen {
		if _, ok := want[id]; !ok {
			l.SinkUnknown++
		}
	}
	if l.SinkMissing > 0 {
		l.problem("%d of %d messages never reached the SMTP sink", l.SinkMissing, len(want))
	}
	if l.SinkTwice > 0 {
		l.problem("%d messages reached the SMTP sink more than once", l.SinkTwice)
	}
	if l.SinkUnknown > 0 {
		l.problem("%d messages at the SMTP sink are none of the queued ones", l.SinkUnknown)
	}
	if l.WrongRecipient > 0 {
		l.problem("%d messages went to another recipient than their row's", l.WrongRecipient)
	}
	if l.SinkAccepted != len(want) {
		l.problem("the SMTP sink accepted %d messages, want %d", l.SinkAccepted, len(want))
	}
	var total int64
	for _, c := range l.ByStatus {
		total += c
	}
	if l.ByStatus != nil && (total != int64(len(want)) || l.ByStatus[models.MessageSent] != int64(len(want))) {
		l.problem("messages rows: %s; want %d sent", statusText(l.ByStatus), len(want))
	}
	if l.QueueKnown && (l.QueueLeft > 0 || l.QueueArchived > 0) {
		l.problem("asynq %s queue: %d tasks left, %d archived", jobs.QueueFlows, l.QueueLeft, l.QueueArchived)
	}
	for _, c := range noop {
		l.NoopHandled += int(c)
		if c != 1 {
			l.NoopNotOnce++
		}
	}
	if l.NoopNotOnce > 0 {
		l.problem("no-op baseline: %d of %d tasks not handled exactly once (%d handler calls)", l.NoopNotOnce, len(noop), l.NoopHandled)
	}
}

// profile starts a CPU profile for a run if asked; the returned func stops it.
func (r *flowsRunner) profile(name string) func() { return startProfile(r.cfg.CPUProfile, name, r.say) }

// serverSample is the CPU seconds used so far by each PostgreSQL backend of
// the bench database and by the redis-server: pid → seconds, Redis at -1.
type serverSample map[int]float64

// serverCPU samples the servers' CPU (Linux /proc; nil if unreadable).
func (r *flowsRunner) serverCPU(ctx context.Context) serverSample {
	out := serverSample{}
	if r.redisPID > 0 {
		if c, ok := procCPU(r.redisPID); ok {
			out[-1] = c
		}
	}
	rows, err := r.mon.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return nil
	}
	defer rows.Close()
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

// since is the CPU, in cores, used between from and this sample over
// wall; a backend that appeared meanwhile counts from zero (one that
// exited is lost: the pools keep theirs open).
func (s serverSample) since(from serverSample, wall time.Duration) ServerCPU {
	if s == nil || from == nil || wall <= 0 {
		return ServerCPU{}
	}
	var out ServerCPU
	for pid, c := range s {
		d := (c - from[pid]) / wall.Seconds()
		if pid == -1 {
			out.Redis = d
		} else {
			out.Postgres += d
		}
	}
	out.Known = true
	return out
}

// redisPID is the redis-server's process id (INFO server), 0 if unknown
// or not on this machine.
func redisPID(ctx context.Context, redisURL string) int {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return 0
	}
	if h, _, _ := net.SplitHostPort(opt.Addr); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return 0
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// pgCommits is the bench database's committed transactions so far.
func pgCommits(ctx context.Context, mon *pgxpool.Pool) int64 {
	var n int64
	_ = mon.QueryRow(ctx, "SELECT pg_stat_force_next_flush()").Scan(new(any))
	_ = mon.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&n)
	return n
}

// waitQueueEmpty waits until asynq has nothing pending, running or
// retrying in queue.
func waitQueueEmpty(ctx context.Context, opt asynq.RedisConnOpt, queue string, timeout time.Duration) {
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		qi, err := insp.GetQueueInfo(queue)
		if err != nil || qi.Pending+qi.Active+qi.Scheduled+qi.Retry == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slogAsynq sends the no-op server's own logs to the bench's log.
type slogAsynq struct{ log *slog.Logger }

func (l slogAsynq) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...), "component", "asynq-noop") }
func (l slogAsynq) Info(args ...any)  { l.log.Info(fmt.Sprint(args...), "component", "asynq-noop") }
func (l slogAsynq) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...), "component", "asynq-noop") }
func (l slogAsynq) Error(args ...any) { l.log.Error(fmt.Sprint(args...), "component", "asynq-noop") }
func (l slogAsynq) Fatal(args ...any) { l.log.Error(fmt.Sprint(args...), "component", "asynq-noop") }

// ---- the report ----

// Markdown writes the report as a markdown block (what --out appends).
func (r *FlowsReport) Markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	verdict := "ledger balanced"
	if r.Void() {
		verdict = "**VOID: the ledger does not balance**"
	}
	c, m := r.Config, r.Machine
	p("### Flows benchmark, %s — %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"), verdict)
	p("- **Machine:** %s, %d cores (GOMAXPROCS %d), %s, %s. PostgreSQL %s and Redis %s on the same machine over loopback; "+
		"the bench, the SMTP sink and Doorstep's worker role run in one process on the same cores.\n",
		m.CPU, m.Cores, m.GOMAXPROCS, m.OS, m.Go, orUnknown(m.Postgres), orUnknown(m.Redis))
	p("- **Run:** `doorstep bench flows --n %d --batch %d --warmup %d` — %s paid orders (3 line items, a customer) with one queued thank-you each "+
		"(written in %s, not timed); %d goroutines enqueue the tasks; asynq concurrency %d in both runs (the worker role's SEND_CONCURRENCY); took %s.\n",
		c.N, c.Batch, c.Warmup, num(float64(c.N)), r.Setup.Round(time.Millisecond), c.Enqueuers, c.Concurrency, r.Elapsed.Round(time.Second))
	if c.Warmup > 0 {
		p("- **Warm-up:** before the clock starts, the worker role sends %s more thank-yous through its messenger, %d a batch from %d goroutines, "+
			"so the timed run meets it as a running worker: PostgreSQL connections open with their catalogs cached and statements prepared, "+
			"SMTP connections open. They are in the ledger, not in the rates.\n", num(float64(c.Warmup)), c.Batch, c.Concurrency)
	}
	if r.Before.Known {
		p("- **Before the run** other processes kept %.2f of the %d cores busy (1 s sample); anything above ~0.1 skews the numbers.\n",
			r.Before.Others+r.Before.Self, m.Cores)
	}
	p("\n")
	p("| measure | result | target | met |\n|---|---|---|---|\n")
	p("| thank-you emails per second, first enqueue → last message at the SMTP sink | **%s/s**%s | ≥ 1,000/s | %s |\n",
		num(r.Flows.Rate), unfinished(r.Flows), yes(r.RateMet()))
	p("| asynq no-op tasks per second, same Redis, same run | %s/s%s | — | |\n", num(r.Noop.Rate), unfinished(r.Noop))
	p("| messages/s ÷ no-op tasks/s | **%s** | ≥ 25%% | %s |\n\n", pct(r.Ratio), yes(r.RatioMet()))

	p("| run | what a task does | done | enqueueing took | first done | last done | per second | CPU (cores): bench process / PostgreSQL (bench database) / Redis / everything else / idle |\n")
	p("|---|---|---|---|---|---|---|---|\n")
	row := func(name, what string, x RateRun) {
		p("| %s | %s | %d of %d | %s | %s | %s | %s | %s |\n", name, what, x.Done, x.N, x.Enqueue.Round(time.Millisecond),
			x.First.Round(time.Millisecond), x.Elapsed.Round(time.Millisecond), num(x.Rate), serverCPUText(x.CPU, x.Servers))
	}
	row("no-op", "decode the payload, return nil", r.Noop)
	row("flows", "`message:send`: load, claim, policy, render, SMTP, record", r.Flows)
	p("\n")
	if x, y := r.Flows, r.Noop; x.Done > 0 && y.Done > 0 && x.CPU.Known && x.Servers.Known && y.Servers.Known {
		per := func(run RateRun, cores float64) float64 {
			return 1000 * cores * run.Elapsed.Seconds() / float64(run.Done)
		}
		all := per(x, x.CPU.Self+x.Servers.Postgres+x.Servers.Redis)
		p("CPU per message: %.2f ms in the bench process (Doorstep's worker role and the sink), %.2f ms in PostgreSQL, %.2f ms in Redis: "+
			"%.2f ms in all, where %s/s on %d cores allows %.1f ms. Per no-op task: %.2f ms in the bench process, %.2f ms in Redis.\n",
			per(x, x.CPU.Self), per(x, x.Servers.Postgres), per(x, x.Servers.Redis), all, num(TargetFlowsRate), m.Cores,
			1000*float64(m.Cores)/TargetFlowsRate, per(y, y.CPU.Self), per(y, y.Servers.Redis))
	}
	p("\nThe setup's writes are analyzed and checkpointed before the timed runs. The clock starts at the first enqueue; each run's workers start once all its tasks are enqueued. "+
		"Per message: %.1f SQL statements from the worker app (messenger and dispatcher; BEGIN/COMMIT not counted) and %.1f PostgreSQL "+
		"commits (single-statement reads count as one). %d SMTP connections carried the %s messages; every row was `sent` %s after the first enqueue "+
		"(its last sent_at).\n\n", r.StatementsPer, r.CommitsPer, r.Connections, num(float64(r.Flows.Done)), r.RowsSent.Round(time.Millisecond))

	l := r.Ledger
	p("**Ledger** (counted after both runs):\n\n")
	p("- SMTP sink: %d messages accepted, %d distinct Message-IDs for %d queued %s; arrived twice: %d, never: %d, not ours: %d, "+
		"to another recipient: %d.\n", l.SinkAccepted, l.SinkDistinct, l.N,
		check(l.SinkAccepted == l.N && l.SinkDistinct == l.N && l.SinkMissing == 0), l.SinkTwice, l.SinkMissing, l.SinkUnknown, l.WrongRecipient)
	p("- messages rows by status: %s %s.\n", statusText(l.ByStatus), check(l.ByStatus[models.MessageSent] == int64(l.N)))
	if l.QueueKnown {
		p("- asynq `%s` queue: %d tasks processed today, %d failed attempts, %d left, %d archived %s.\n", jobs.QueueFlows,
			l.QueueProcessed, l.QueueFail, l.QueueLeft, l.QueueArchived, check(l.QueueLeft == 0 && l.QueueArchived == 0))
	}
	p("- no-op baseline: %d handler calls for %d tasks, %d not handled exactly once %s.\n", l.NoopHandled, r.Noop.N, l.NoopNotOnce,
		check(l.NoopNotOnce == 0))
	if len(l.Problems) > 0 {
		p("\n**VOID** — what does not balance:\n\n")
		for _, s := range l.Problems {
			p("- %s\n", s)
		}
	}
	if len(r.Warnings) > 0 {
		p("\nThe app logged %d warnings or errors; the first:\n\n```\n%s\n```\n", len(r.Warnings), strings.Join(r.Warnings, "\n"))
	}
	p("\n")
}

func serverCPUText(u CPUUse, s ServerCPU) string {
	if !u.Known || !s.Known {
		return cpuText(u)
	}
	rest := max(u.Others-s.Postgres-s.Redis, 0)
	return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f / %.2f", u.Self, s.Postgres, s.Redis, rest, u.Idle)
}

func unfinished(x RateRun) string {
	if x.Finished {
		return fmt.Sprintf(" (%s in %s)", num(float64(x.Done)), x.Elapsed.Round(time.Millisecond))
	}
	return fmt.Sprintf(" (did not finish: %d of %d in %s)", x.Done, x.N, x.Elapsed.Round(time.Millisecond))
}
