package bench

// `doorstep bench sidebar`: the helpdesk sidebar's answer time for a
// customer with 50 orders in a shop with 1,000,000, measured while signed
// webhooks arrive at 500/s and the worker role processes them (issue 9:
// p99 < 100 ms, or Gorgias shows nothing). The shop is filled by the
// dashboard bench's generator, plus what the sidebar reads that the
// dashboard does not (customers, line items, refunds) and one customer who
// owns 50 of the orders; the load is bench ingest's webhook generator and
// worker process.

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gorm.io/gorm"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/jobs/jobstest"
	"github.com/doorstep/doorstep/models"
)

// TargetSidebar is the budget for one sidebar answer, measured
// while webhooks arrive at TargetSidebarLoad per second.
const (
	TargetSidebar     = 100 * time.Millisecond
	TargetSidebarLoad = 500.0
)

// The sidebar bench's shop and its one known customer. The generator's
// customers are 7000000000000 + n with shopperN@example.com; the known
// customer's ids and orders sit apart from theirs.
const (
	sidebarShop          = "doorstep-bench-sidebar.myshopify.com"
	SidebarCustomerEmail = "dana.sidebar@example.com"
	sidebarCustomerID    = 6_000_000_000_000
	sidebarOrderBase     = 4_000_000_000_000 // the customer's orders are base+1 … base+50, base+1 the newest
	sidebarCustomerOrds  = 50
	sidebarShown         = 10 // orders the sidebar details (app.sidebarOrderLimit)
	fulfillmentIDBase    = 7_400_000_000_000_000_000
)

// SidebarConfig is one `doorstep bench sidebar` run.
type SidebarConfig struct {
	Orders int // orders in the shop (default 1,000,000)
	// Requests is the timed sidebar calls for the customer (default 500);
	// one call in ten more asks about an unknown email.
	Requests int
	Rate     float64 // sidebar calls per second, all kinds (default 20)
	Conns    int     // sidebar connections (default 4)
	// WebhookRate is the background load, webhooks per second (default
	// 500), sent from Clients keep-alive connections (default 16).
	WebhookRate float64
	Clients     int
	// Warmup is the load's run time before the first timed call (default
	// 10 s); 5 untimed sidebar calls end it.
	Warmup time.Duration
	// DatabaseURL is the PostgreSQL server; the bench creates and drops
	// its own database there.
	DatabaseURL string
	// RedisURL is a dedicated Redis; "" starts a throwaway redis-server.
	RedisURL string
	// WorkerCommand runs the worker role as its own process (see
	// Config.WorkerCommand); empty runs it in this process.
	WorkerCommand     []string
	IntakeConcurrency int
	Progress          io.Writer
	// Keep leaves the database in place at the end (to EXPLAIN the
	// sidebar's queries); the progress output names it.
	Keep bool
}

func (c *SidebarConfig) defaults() {
	if c.Orders <= 0 {
		c.Orders = 1_000_000
	}
	if c.Requests <= 0 {
		c.Requests = 500
	}
	if c.Rate <= 0 {
		c.Rate = 20
	}
	if c.Conns <= 0 {
		c.Conns = 4
	}
	if c.WebhookRate <= 0 {
		c.WebhookRate = 500
	}
	if c.Clients <= 0 {
		c.Clients = 16
	}
	if c.Warmup <= 0 {
		c.Warmup = 10 * time.Second
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = defaultPGURL
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// SidebarTiming is one kind of sidebar call, timed from its scheduled send
// time to the last byte of the answer.
type SidebarTiming struct {
	Name string
	lat  []time.Duration
	// svc is the same calls timed from the actual send (without any wait
	// for a free connection).
	svc   []time.Duration
	Calls int64
	// Wrong counts answers that were not a 200 with the expected content
	// (or no answer); Problems keeps the first few reasons.
	Wrong    int64
	Problems []string
	Bytes    int
}

// Quantile of the latencies of the calls that answered (q in [0,1]).
func (t *SidebarTiming) Quantile(q float64) time.Duration { return quantile(t.lat, q) }

// Service is a quantile of the calls timed from the actual send.
func (t *SidebarTiming) Service(q float64) time.Duration { return quantile(t.svc, q) }

// Met reports whether p99 is within the target and every answer was right.
func (t *SidebarTiming) Met() bool {
	return len(t.lat) > 0 && t.Wrong == 0 && t.Quantile(.99) < TargetSidebar
}

func (t *SidebarTiming) wrong(format string, args ...any) {
	t.Wrong++
	if len(t.Problems) < 5 {
		t.Problems = append(t.Problems, fmt.Sprintf(format, args...))
	}
}

// SidebarSample is what one answer for the customer showed.
type SidebarSample struct {
	Found                         bool
	Orders, MoreOrders, OrdersAll int64
	Packages, Split, Delayed      int
	Refunds, Items                int
	Messages, Feedback            int
	Ledger, Referrals             int
	Points                        int64
	Summary                       string
}

// SidebarLoad is the background webhook load during the timed calls.
type SidebarLoad struct {
	Asked float64 // webhooks/s asked for
	// Sent and Acked per second over the timed window, and the whole
	// load's tally (warm-up included).
	SentRate, AckedRate float64
	Tally               *Tally
	Topics              map[string]int64
	// The deliveries backlog (stored, not yet processed) at the start and
	// end of the timed window, processed per second in it, and how long it
	// took to empty after the load stopped.
	PendingStart, PendingEnd int64
	ProcessedRate            float64
	Drained                  time.Duration
	DrainedOK                bool
}

// SidebarReport is what a run measured.
type SidebarReport struct {
	Started  time.Time
	Elapsed  time.Duration
	Config   SidebarConfig
	Machine  Machine
	Database string
	Before   CPUUse // the machine during one second before the run
	During   CPUUse // during the timed window (bench process + worker process vs the rest)

	Seed        []SeedStep
	SeedElapsed time.Duration
	DBSize      string
	// Owned counts the customer's rows in the database.
	Owned map[string]int64

	Known, Unknown *SidebarTiming
	// Statements are the web role's reads during the timed window, most
	// total time first: where a sidebar call's time goes.
	Statements []*StmtTiming
	// StmtsPerCall and DBPerCall: every read the web role ran in the
	// window, per sidebar call (count and summed time).
	StmtsPerCall  float64
	DBPerCall     time.Duration
	Window        time.Duration // the timed window
	Sample        SidebarSample
	Load          SidebarLoad
	WorkerProcess bool
	Warnings      []string
}

// LoadHeld reports whether the webhooks were acked at the rate
// (within 5%) during the timed window.
func (r *SidebarReport) LoadHeld() bool { return r.Load.AckedRate >= 0.95*TargetSidebarLoad }

// Met reports whether both kinds of call met the target with right
// answers, under the load.
func (r *SidebarReport) Met() bool {
	return r.Known != nil && r.Known.Met() && r.Unknown != nil && r.Unknown.Met() && r.LoadHeld()
}

// RunSidebar runs the bench.
func RunSidebar(ctx context.Context, cfg SidebarConfig) (*SidebarReport, error) {
	cfg.defaults()
	r := &sidebarRunner{cfg: cfg, rep: &SidebarReport{Started: time.Now().UTC(), Config: cfg, Machine: machine(),
		WorkerProcess: len(cfg.WorkerCommand) > 0}}
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

type sidebarRunner struct {
	cfg  SidebarConfig
	rep  *SidebarReport
	logs *capture
	mon  *pgxpool.Pool
}

func (r *sidebarRunner) say(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "bench sidebar: "+format+"\n", args...)
}

func (r *sidebarRunner) run(ctx context.Context) (err error) {
	c0 := sampleCPU()
	time.Sleep(time.Second)
	r.rep.Before = cpuBetween(c0, sampleCPU())
	r.say("before the run, other processes kept %.2f of %d cores busy", r.rep.Before.Others+r.rep.Before.Self, r.rep.Machine.Cores)

	r.logs = &capture{max: 20, out: r.cfg.Progress}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))

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
	r.rep.Machine.Redis = redisVersion(ctx, redisURL)

	bdb, err := freshDatabase(ctx, r.cfg.DatabaseURL, r.say)
	if err != nil {
		return err
	}
	defer func() {
		if r.cfg.Keep {
			r.say("database %s kept (--keep): drop it with DROP DATABASE %s", bdb.name, bdb.name)
			bdb.admin.Close(context.Background())
			return
		}
		if derr := bdb.drop(r.say); err == nil {
			err = derr
		}
	}()
	r.rep.Database, r.rep.Machine.Postgres = bdb.name, bdb.version

	// The app's configuration, as bench ingest's: nothing leaves 127.0.0.1.
	secret := randHex(16)
	appCfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		return err
	}
	appCfg.DatabaseURL, appCfg.RedisURL = bdb.url, redisURL
	appCfg.Port = 0
	appCfg.AppURL = "http://127.0.0.1"
	appCfg.ShopifyAPIKey, appCfg.ShopifyAPISecret = "bench-api-key", secret
	appCfg.ShopifyAPIBaseURL = "http://127.0.0.1:9/{shop}" // discard port: no call may leave the machine
	if r.cfg.IntakeConcurrency > 0 {
		appCfg.IntakeConcurrency = r.cfg.IntakeConcurrency
	}
	appCfg.EncryptionKey = make([]byte, 32)
	_, _ = crand.Read(appCfg.EncryptionKey)

	web, err := app.New(ctx, appCfg, app.Options{Log: log, ListenHost: "127.0.0.1", NoSync: true, NoMessages: true})
	if err != nil {
		return fmt.Errorf("start the app: %w", err)
	}
	store := web.Store()
	shop, err := store.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: sidebarShop, Name: "Doorstep Bench",
		Timezone: dashboardZone, Currency: "USD"}, models.Token{AccessToken: "shpat_bench_" + randHex(8), Scopes: "read_orders"})
	if err != nil {
		web.Close()
		return fmt.Errorf("install the bench shop: %w", err)
	}
	key := randHex(24)
	if err := store.CreateHelpdeskConnection(ctx, &models.HelpdeskConnection{ShopID: shop.ID, Kind: string(helpdesk.Gorgias),
		BaseURL: "https://bench.gorgias.com"}, models.HelpdeskCredentials{APIKey: "x"}, key); err != nil {
		web.Close()
		return fmt.Errorf("connect the bench shop's gorgias: %w", err)
	}

	// Seed before the app serves: the generator drops the tables' indexes.
	pcfg, err := pgxpool.ParseConfig(bdb.url)
	if err != nil {
		web.Close()
		return fmt.Errorf("seed pool: %w", err)
	}
	pcfg.MaxConns = 6
	if r.mon, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		web.Close()
		return fmt.Errorf("seed pool: %w", err)
	}
	defer r.mon.Close()
	if err := r.seed(ctx, shop.ID); err != nil {
		web.Close()
		return err
	}
	settleDisk(ctx, r.mon, r.say, "the timed window")

	timer := timeStatements(store.DB())
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
	r.say("doorstep web role on %s", addr)

	// The worker role, as bench ingest runs it (its own process when a
	// command is given).
	wr := &runner{cfg: Config{WorkerCommand: r.cfg.WorkerCommand, Progress: r.cfg.Progress}, appCfg: appCfg, logs: r.logs, log: log}
	if err := wr.startWorkers(ctx); err != nil {
		return err
	}
	defer func() {
		if werr := wr.stopWork(); werr != nil && err == nil {
			err = werr
		}
	}()
	cpu := func() cpuSample {
		if wr.workerPID > 0 {
			return sampleCPU(wr.workerPID)
		}
		return sampleCPU()
	}

	// The background load, until the timed calls are done.
	load := newSidebarLoad(sidebarShop, secret, "http://"+addr+"/webhooks/shopify", r.cfg.Clients)
	defer load.client.close()
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan *Tally, 1)
	go func() { loadDone <- load.run(loadCtx, r.cfg.WebhookRate) }()
	r.say("load: %s webhooks/s (orders/create, orders/paid, fulfillments/create) from %d connections, workers running; %s warm-up",
		num(r.cfg.WebhookRate), r.cfg.Clients, r.cfg.Warmup)

	sc := newSidebarClient("http://"+addr+"/helpdesk/gorgias/customer", key, r.cfg.Conns)
	defer sc.close()
	warmEnd := time.Now().Add(r.cfg.Warmup)
	for i := 0; i < 5; i++ { // untimed: the first calls read pages from disk
		_, _, _ = sc.get(ctx, SidebarCustomerEmail)
	}
	if d := time.Until(warmEnd); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	if err := ctx.Err(); err != nil {
		stopLoad()
		<-loadDone
		return err
	}

	sent0, acked0 := load.sent.Load(), load.acked.Load()
	pend0, proc0 := r.backlog(ctx)
	c1 := cpu()
	timer.on.Store(true)
	start := time.Now()
	r.say("timing %d sidebar calls for %s (+%d for unknown emails) at %s/s over %d connections",
		r.cfg.Requests, SidebarCustomerEmail, r.cfg.Requests/10, num(r.cfg.Rate), r.cfg.Conns)
	r.rep.Known, r.rep.Unknown, r.rep.Sample = r.timeCalls(ctx, sc)
	r.rep.Window = time.Since(start)
	timer.on.Store(false)
	r.rep.During = cpuBetween(c1, cpu())
	r.rep.Statements = timer.top(15)
	if calls := r.rep.Known.Calls + r.rep.Unknown.Calls; calls > 0 {
		n, sum := timer.totals()
		r.rep.StmtsPerCall, r.rep.DBPerCall = float64(n)/float64(calls), sum/time.Duration(calls)
	}
	sent1, acked1 := load.sent.Load(), load.acked.Load()
	pend1, proc1 := r.backlog(ctx)
	stopLoad()
	tally := <-loadDone

	w := r.rep.Window.Seconds()
	l := SidebarLoad{Asked: r.cfg.WebhookRate, SentRate: float64(sent1-sent0) / w, AckedRate: float64(acked1-acked0) / w,
		Tally: tally, Topics: load.topicCounts(), PendingStart: pend0, PendingEnd: pend1, ProcessedRate: float64(proc1-proc0) / w}
	r.say("  load in the window: %.0f webhooks/s sent, %.0f/s acked, %d rejected in all; backlog %d → %d, %.0f/s processed",
		l.SentRate, l.AckedRate, tally.Rejected, pend0, pend1, l.ProcessedRate)
	for _, t := range []*SidebarTiming{r.rep.Known, r.rep.Unknown} {
		r.say("  %s: %d calls, %d wrong, p50 %s p95 %s p99 %s max %s (from the actual send: p50 %s p99 %s)", t.Name, t.Calls, t.Wrong,
			ms(t.Quantile(.5)), ms(t.Quantile(.95)), ms(t.Quantile(.99)), ms(t.Quantile(1)), ms(t.Service(.5)), ms(t.Service(.99)))
	}
	for _, st := range r.rep.Statements {
		r.say("  sql ×%d p50 %s p99 %s total %s: %.150s", len(st.lat), ms(st.Quantile(.5)), ms(st.Quantile(.99)),
			st.Total().Round(time.Millisecond), st.SQL)
	}
	// Let the workers finish the backlog: a worker that fell behind shows
	// here.
	t0 := time.Now()
	for {
		n, _ := r.backlog(ctx)
		if n == 0 {
			l.Drained, l.DrainedOK = time.Since(t0), true
			break
		}
		if time.Since(t0) > 2*time.Minute || ctx.Err() != nil {
			l.Drained = time.Since(t0)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.rep.Load = l
	return r.count(ctx)
}

// backlog is the deliveries stored and not yet processed, and those
// processed so far.
func (r *sidebarRunner) backlog(ctx context.Context) (pending, processed int64) {
	_ = r.mon.QueryRow(ctx, "SELECT count(*) FILTER (WHERE status = $1), count(*) FILTER (WHERE status = $2) FROM deliveries",
		models.DeliveryReceived, models.DeliveryProcessed).Scan(&pending, &processed)
	return pending, processed
}

// count records what the customer owns, for the report.
func (r *sidebarRunner) count(ctx context.Context) error {
	r.rep.Owned = map[string]int64{}
	for name, q := range map[string]string{
		"orders":          "SELECT count(*) FROM orders WHERE customer_platform_id = $1",
		"packages":        "SELECT count(*) FROM fulfillments f JOIN orders o ON o.id = f.order_id WHERE o.customer_platform_id = $1",
		"split orders":    "SELECT count(*) FROM (SELECT f.order_id FROM fulfillments f JOIN orders o ON o.id = f.order_id WHERE o.customer_platform_id = $1 GROUP BY 1 HAVING count(*) > 1) s",
		"refunds":         "SELECT count(*) FROM refunds f JOIN orders o ON o.id = f.order_id WHERE o.customer_platform_id = $1",
		"messages":        "SELECT count(*) FROM messages WHERE customer_platform_id = $1",
		"feedback":        "SELECT count(*) FROM feedback WHERE customer_platform_id = $1",
		"loyalty entries": "SELECT count(*) FROM loyalty_entries WHERE customer_platform_id = $1",
		"referrals made":  "SELECT count(*) FROM referrals WHERE referrer_platform_id = $1",
	} {
		var n int64
		if err := r.mon.QueryRow(ctx, q, int64(sidebarCustomerID)).Scan(&n); err != nil {
			return fmt.Errorf("count the customer's %s: %w", name, err)
		}
		r.rep.Owned[name] = n
	}
	return nil
}

// seed fills the shop with the dashboard bench's generator plus the
// customer's 50 orders (in the orders step, so the generator gives them
// packages, scans, messages, feedback and points like every other order),
// the customers, line items and refunds the sidebar reads, and two
// referrals the customer made.
func (r *sidebarRunner) seed(ctx context.Context, shopID uint64) error {
	groups := make([][]seedStmt, len(seedGroups))
	for i, g := range seedGroups {
		groups[i] = append([]seedStmt{}, g...)
	}
	groups[0] = append(groups[0], sidebarSeed[0]...)
	groups[1] = append(groups[1], sidebarSeed[1]...)
	last := len(groups) - 1
	groups[last] = append(groups[last], sidebarSeed[2]...)
	groups = append(groups, sidebarSeed[3])
	tables := append(append([]string{}, seedTables...), "customers", "line_items", "refunds")
	d := &dashRunner{cfg: DashboardConfig{Orders: r.cfg.Orders, Span: 365, Progress: r.cfg.Progress}, rep: &DashboardReport{},
		pool: r.mon, now: time.Now().UTC(), bench: "sidebar"}
	if err := d.seedWith(ctx, shopID, groups, tables); err != nil {
		return err
	}
	r.rep.Seed, r.rep.SeedElapsed = d.rep.Seed, d.rep.SeedElapsed
	_ = r.mon.QueryRow(ctx, "SELECT pg_size_pretty(pg_database_size(current_database()))").Scan(&r.rep.DBSize)
	return nil
}

// sidebarSeed: statements added to the generator's first, second and last
// groups, and a group of its own after them ($1 shop, $2 now, $3 orders,
// $4 span in days, as there). The customer's orders are spread evenly over
// the span, the newest two hours old (not shipped yet); every fifth is
// partly refunded, one cancelled.
//
// The last group sends the generator's deferred messages: the dashboard
// counts them where they stand, but a live worker's dispatcher would take
// the ~120,000 of them, months overdue, as a backlog to send right now —
// a shop in its steady state has sent them at the end of their quiet
// hours. Those whose quiet hours end after now stay deferred.
var sidebarSeed = [4][]seedStmt{
	{{Table: "orders (the customer's)", SQL: `
INSERT INTO orders (shop_id, platform_id, name, number, email, customer_platform_id, locale, currency,
  subtotal, total_discounts, total_shipping, total_tax, total, original_subtotal, financial_status, fulfillment_status,
  cancelled_at, cancel_reason, processed_at, test, ship_name, ship_address1, ship_city, ship_province_code, ship_zip, ship_country_code,
  platform_created_at, platform_updated_at, created_at, updated_at)
SELECT $1::bigint, ` + strconv.Itoa(sidebarOrderBase) + ` + k, '#D' || (100 + k), 100 + k, '` + SidebarCustomerEmail + `', ` + strconv.Itoa(sidebarCustomerID) + `, 'en', 'USD',
  amt, 0, 5, round(amt * 0.08, 2), amt + 5 + round(amt * 0.08, 2), amt,
  CASE WHEN k % 5 = 3 THEN 'partially_refunded' ELSE 'paid' END, CASE WHEN k IN (1, 17) THEN '' ELSE 'fulfilled' END,
  CASE WHEN k = 17 THEN ts + interval '1 hour' END, CASE WHEN k = 17 THEN 'customer' ELSE '' END,
  ts, false, 'Dana Sidebar', '1 SW Main St', 'Portland', 'OR', '97204', 'US', ts, ts, ts, ts
FROM (SELECT k, $2::timestamptz - interval '2 hours' - (k - 1) * ($4 * 86400.0 / ` + strconv.Itoa(sidebarCustomerOrds) + `) * interval '1 second' AS ts,
             round((40 + k * 3.7)::numeric, 2) AS amt
      FROM generate_series(1, ` + strconv.Itoa(sidebarCustomerOrds) + `) k) s
WHERE $3::int > 0`}},
	{
		{Table: "customers", SQL: `
INSERT INTO customers (shop_id, platform_id, email, first_name, last_name, locale, state, platform_created_at, platform_updated_at,
  created_at, updated_at)
SELECT DISTINCT ON (customer_platform_id) shop_id, customer_platform_id, email,
  CASE WHEN customer_platform_id = ` + strconv.Itoa(sidebarCustomerID) + ` THEN 'Dana' ELSE 'Shopper' END,
  CASE WHEN customer_platform_id = ` + strconv.Itoa(sidebarCustomerID) + ` THEN 'Sidebar' ELSE (customer_platform_id % 10000000)::text END,
  'en', 'enabled', platform_created_at, platform_created_at, $2::timestamptz, $2::timestamptz
FROM orders WHERE shop_id = $1 AND customer_platform_id <> 0 AND $3::int > 0 AND $4::int > 0
ORDER BY customer_platform_id, platform_created_at`},
		{Table: "line_items", SQL: `
INSERT INTO line_items (shop_id, order_id, platform_id, product_id, variant_id, sku, title, variant_title, quantity, price,
  fulfillable_quantity, requires_shipping, created_at, updated_at)
SELECT o.shop_id, o.id, o.platform_id * 10 + k, 900 + (o.id + k) % 50, 45000 + (o.id + k) % 50, 'SKU-' || ((o.id + k) % 50),
  (ARRAY['Trail Runner 2','Merino Crew Socks','Insulated Bottle 750 ml','Canvas Weekender Bag','Rain Shell Jacket','Headlamp 400'])[1 + (o.id + k) % 6],
  (ARRAY['S','M','L'])[1 + (o.id + k) % 3], 1 + k % 2, round(o.original_subtotal / 2, 2), 0, true, o.created_at, o.created_at
FROM orders o CROSS JOIN generate_series(1, 2) k
WHERE o.shop_id = $1 AND (k = 1 OR o.id % 2 = 0) AND $2::timestamptz IS NOT NULL AND $3::int > 0 AND $4::int > 0`},
		{Table: "refunds", SQL: `
INSERT INTO refunds (shop_id, order_id, platform_id, order_platform_id, note, amount, currency, restock, processed_at,
  platform_created_at, created_at)
SELECT shop_id, id, platform_id * 10 + 1, platform_id,
  CASE WHEN financial_status = 'refunded' THEN 'Returned' ELSE 'Damaged in transit: partial refund' END,
  CASE WHEN financial_status = 'refunded' THEN total ELSE round(total / 4, 2) END, currency, financial_status = 'refunded', at, at, at
FROM (SELECT o.*, LEAST(o.platform_created_at + interval '9 days', $2::timestamptz) AS at FROM orders o
      WHERE o.shop_id = $1 AND o.financial_status IN ('refunded', 'partially_refunded')) r
WHERE $3::int > 0 AND $4::int > 0`},
	},
	{{Table: "referrals (the customer's)", SQL: `
INSERT INTO referrals (shop_id, order_platform_id, referrer_platform_id, referee_platform_id, code, via, status, created_at, updated_at)
SELECT $1::bigint, ` + strconv.Itoa(sidebarOrderBase+1000) + ` + k, ` + strconv.Itoa(sidebarCustomerID) + `, ` + strconv.Itoa(sidebarCustomerID+1000) + ` + k,
  'REF` + strconv.Itoa(sidebarCustomerID) + `', 'link', (ARRAY['rewarded','pending'])[k], at, at
FROM (SELECT k, $2::timestamptz - k * interval '20 days' AS at FROM generate_series(1, 2) k) s
WHERE $3::int > 0 AND $4::int > 0`}},
	{{Table: "messages (deferred → sent)", SQL: `
UPDATE messages SET status = 'sent', reason = '', sent_at = due_at + interval '3 seconds', updated_at = due_at + interval '3 seconds'
WHERE shop_id = $1 AND status = 'deferred' AND due_at <= $2::timestamptz AND $3::int > 0 AND $4::int > 0`}},
}

// timeCalls makes the timed sidebar calls at the configured rate, one in
// eleven for an unknown email, and checks every answer.
func (r *sidebarRunner) timeCalls(ctx context.Context, sc *sidebarClient) (known, unknown *SidebarTiming, sample SidebarSample) {
	known, unknown = &SidebarTiming{Name: "customer with 50 orders"}, &SidebarTiming{Name: "unknown email"}
	total := r.cfg.Requests + r.cfg.Requests/10
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	type call struct {
		sched time.Time
		i     int
	}
	calls := make(chan call, total)
	go func() {
		defer close(calls)
		next := time.Now()
		for i := 0; i < total; i++ {
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			calls <- call{next, i}
			next = next.Add(interval)
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range r.cfg.Conns {
		wg.Go(func() {
			for c := range calls {
				isUnknown := c.i%11 == 10
				email := SidebarCustomerEmail
				if isUnknown {
					email = fmt.Sprintf("nobody.%d.%s@example.com", c.i, randHex(3))
				}
				sent := time.Now()
				status, body, err := sc.get(ctx, email)
				lat, svc := time.Since(c.sched), time.Since(sent)
				var s SidebarSample
				problem := ""
				switch {
				case err != nil:
					problem = err.Error()
				case status != http.StatusOK:
					problem = fmt.Sprintf("status %d: %.200s", status, body)
				default:
					var perr error
					if s, perr = sampleOf(body); perr != nil {
						problem = perr.Error()
					} else if isUnknown {
						problem = checkUnknown(s)
					} else {
						problem = checkKnown(s)
					}
				}
				mu.Lock()
				t := known
				if isUnknown {
					t = unknown
				}
				t.Calls++
				if err == nil {
					t.lat, t.svc = append(t.lat, lat), append(t.svc, svc)
					t.Bytes = len(body)
				}
				if problem != "" {
					t.wrong("%s", problem)
				} else if !isUnknown {
					sample = s
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return known, unknown, sample
}

// sidebarAnswer is the part of the Gorgias JSON the bench checks
// (app/helpdesk_sidebar.go, sidebarView).
type sidebarAnswer struct {
	Found    bool   `json:"found"`
	Summary  string `json:"summary"`
	Customer *struct {
		Orders int64 `json:"orders_count"`
	} `json:"customer"`
	Orders []struct {
		ID       string            `json:"id"`
		Items    []string          `json:"items"`
		Packages []json.RawMessage `json:"packages"`
		Refunds  []json.RawMessage `json:"refunds"`
		Delayed  bool              `json:"delayed"`
	} `json:"orders"`
	MoreOrders int64             `json:"more_orders"`
	Messages   []json.RawMessage `json:"messages"`
	Feedback   []json.RawMessage `json:"feedback"`
	Loyalty    *struct {
		Available int64             `json:"available"`
		Ledger    []json.RawMessage `json:"ledger"`
	} `json:"loyalty"`
	Referrals []json.RawMessage `json:"referrals"`
}

func sampleOf(body []byte) (SidebarSample, error) {
	var a sidebarAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return SidebarSample{}, fmt.Errorf("answer is not the sidebar's JSON: %w", err)
	}
	s := SidebarSample{Found: a.Found, Orders: int64(len(a.Orders)), MoreOrders: a.MoreOrders, Messages: len(a.Messages),
		Feedback: len(a.Feedback), Referrals: len(a.Referrals), Summary: a.Summary}
	if a.Customer != nil {
		s.OrdersAll = a.Customer.Orders
	}
	for i, o := range a.Orders {
		// The newest orders first: base+1, base+2, …
		if want := strconv.Itoa(sidebarOrderBase + 1 + i); o.ID != want {
			return s, fmt.Errorf("order %d is %s, want %s", i, o.ID, want)
		}
		s.Packages += len(o.Packages)
		if len(o.Packages) > 1 {
			s.Split++
		}
		if o.Delayed {
			s.Delayed++
		}
		s.Refunds += len(o.Refunds)
		s.Items += len(o.Items)
	}
	if a.Loyalty != nil {
		s.Points, s.Ledger = a.Loyalty.Available, len(a.Loyalty.Ledger)
	}
	return s, nil
}

func checkKnown(s SidebarSample) string {
	switch {
	case !s.Found:
		return "customer not found"
	case s.Orders != sidebarShown || s.MoreOrders != sidebarCustomerOrds-sidebarShown || s.OrdersAll != sidebarCustomerOrds:
		return fmt.Sprintf("%d orders shown, %d more, %d in all; want %d, %d, %d", s.Orders, s.MoreOrders, s.OrdersAll,
			sidebarShown, sidebarCustomerOrds-sidebarShown, sidebarCustomerOrds)
	case s.Packages == 0 || s.Items == 0 || s.Messages == 0 || s.Ledger == 0 || s.Referrals == 0:
		return fmt.Sprintf("thin answer: %d packages, %d items, %d messages, %d ledger entries, %d referrals",
			s.Packages, s.Items, s.Messages, s.Ledger, s.Referrals)
	}
	return ""
}

func checkUnknown(s SidebarSample) string {
	if s.Found || s.Orders != 0 {
		return fmt.Sprintf("unknown email found with %d orders", s.Orders)
	}
	return ""
}

// sidebarClient calls the Gorgias sidebar URL as Gorgias's HTTP
// integration does: GET with the email and the connection's secret.
type sidebarClient struct {
	url, key string
	http     *http.Client
}

func newSidebarClient(u, key string, conns int) *sidebarClient {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     2 * time.Minute,
	}
	return &sidebarClient{url: u, key: key, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *sidebarClient) close() { c.http.CloseIdleConnections() }

func (c *sidebarClient) get(ctx context.Context, email string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"?email="+url.QueryEscape(email), nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set(helpdesk.SecretHeader, c.key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read the answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// sidebarLoad sends the background webhooks: new orders from the ingest
// bench's generator (orders/create, one in five orders/paid) and, for one
// request in three, a fulfillments/create for an order sent at least a
// second before (so the worker has stored it), all for other customers.
type sidebarLoad struct {
	gen    *Generator
	secret string
	runID  string
	shop   string
	client *client

	mu      sync.Mutex
	shipped []sentOrder // orders sent, not yet fulfilled, oldest first
	topics  map[string]int64

	seq          atomic.Int64
	sent, acked  atomic.Int64
	fulfillments atomic.Int64
}

type sentOrder struct {
	order int64
	at    time.Time
}

func newSidebarLoad(shop, secret, target string, conns int) *sidebarLoad {
	return &sidebarLoad{gen: NewGenerator(shop, secret, randHex(4)), secret: secret, runID: randHex(4), shop: shop,
		client: newClient(target, conns), topics: map[string]int64{}}
}

// next is the next webhook to send.
func (l *sidebarLoad) next() *Request {
	n := l.seq.Add(1)
	if n%3 == 0 {
		l.mu.Lock()
		var o sentOrder
		ok := len(l.shipped) > 0 && time.Since(l.shipped[0].at) > time.Second
		if ok {
			o, l.shipped = l.shipped[0], l.shipped[1:]
		}
		l.mu.Unlock()
		if ok {
			r := l.fulfillment(o.order)
			return &r
		}
	}
	r := l.gen.Next()
	l.mu.Lock()
	if len(l.shipped) < 100_000 {
		l.shipped = append(l.shipped, sentOrder{r.Order, time.Now()})
	}
	l.mu.Unlock()
	return &r
}

// fulfillment renders a fulfillments/create webhook for an order the
// generator made (its first line item ships).
func (l *sidebarLoad) fulfillment(order int64) Request {
	n := order - orderIDBase
	now := time.Now().UTC().Truncate(time.Second)
	track := fmt.Sprintf("1Z999AA1%010d", n%10_000_000_000)
	body, _ := json.Marshal(map[string]any{
		"id": fulfillmentIDBase + n, "order_id": order, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Fulfillment/%d", fulfillmentIDBase+n),
		"name": fmt.Sprintf("#%d.1", 1000+n), "status": "success", "shipment_status": nil, "service": "manual", "location_id": 905684977,
		"tracking_company": "UPS", "tracking_number": track, "tracking_numbers": []string{track},
		"tracking_url":          "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=" + track,
		"tracking_urls":         []string{"https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=" + track},
		"estimated_delivery_at": now.Add(96 * time.Hour).Format(time.RFC3339), "created_at": now.Format(time.RFC3339),
		"updated_at": now.Format(time.RFC3339), "origin_address": map[string]any{}, "receipt": map[string]any{},
		"line_items": []any{map[string]any{"id": lineIDBase + n*4, "quantity": 1}},
	})
	f := l.fulfillments.Add(1)
	eid := fmt.Sprintf("%s-%04x-4%03x-9%03x-%012x", l.runID, (f>>40)&0xffff, (f>>28)&0xfff, (f>>16)&0xfff, f&0xffffffffffff)
	return Request{Topic: "fulfillments/create", EventID: eid, WebhookID: "wh-" + eid, HMAC: Sign(l.secret, body),
		TriggeredAt: time.Now().UTC().Format(time.RFC3339Nano), Body: body, Order: order}
}

// run sends rate webhooks per second on a fixed schedule from the
// client's connections until ctx ends. Latency runs from each request's
// scheduled time; a schedule the senders cannot keep shows as a lower
// sent rate.
func (l *sidebarLoad) run(ctx context.Context, rate float64) *Tally {
	interval := time.Duration(float64(time.Second) / rate)
	conns := l.client.http.Transport.(*http.Transport).MaxConnsPerHost
	tickets := make(chan time.Time, conns)
	go func() {
		defer close(tickets)
		next := time.Now()
		for {
			now := time.Now()
			for !next.After(now) {
				select {
				case tickets <- next:
				case <-ctx.Done():
					return
				}
				next = next.Add(interval)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(next.Sub(now)):
			}
		}
	}()
	tallies := make([]*Tally, conns)
	var wg sync.WaitGroup
	for i := range conns {
		tallies[i] = newTally()
		wg.Go(func() {
			t := tallies[i]
			for sched := range tickets {
				r := l.next()
				l.sent.Add(1)
				status, err := l.client.send(context.WithoutCancel(ctx), l.shop, r)
				end := time.Now()
				if err == nil && status == http.StatusOK {
					l.acked.Add(1)
				}
				t.record(r, false, status, err, end.Sub(sched), sched, end)
				l.mu.Lock()
				l.topics[r.Topic]++
				l.mu.Unlock()
			}
		})
	}
	wg.Wait()
	out := newTally()
	for _, t := range tallies {
		out.merge(t)
	}
	return out
}

func (l *sidebarLoad) topicCounts() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.topics))
	for k, v := range l.topics {
		out[k] = v
	}
	return out
}

// Markdown writes the report as a markdown block (what --out appends).
func (r *SidebarReport) Markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	c, m, l := r.Config, r.Machine, r.Load
	verdict := "target met"
	switch {
	case !r.LoadHeld() && r.Known.Met() && r.Unknown.Met():
		verdict = fmt.Sprintf("answers within the target, but **without the issue's load** (%s webhooks/s acked, not %s)",
			num(l.AckedRate), num(TargetSidebarLoad))
	case !r.Met():
		verdict = "**target NOT met**"
	}
	p("### Sidebar benchmark, %s — %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"), verdict)
	roles := "the load generator, the sidebar client and Doorstep's web and worker roles run in one process"
	if r.WorkerProcess {
		roles = "the load generator, the sidebar client and Doorstep's web role run in one process, the worker role in a second " +
			"(`doorstep bench worker`)"
	}
	p("- **Machine:** %s, %d cores (GOMAXPROCS %d), %s, %s. PostgreSQL %s and Redis %s on the same machine over loopback; %s, on the same cores.\n",
		m.CPU, m.Cores, m.GOMAXPROCS, m.OS, m.Go, orUnknown(m.Postgres), orUnknown(m.Redis), roles)
	p("- **Run:** `doorstep bench sidebar --orders %d --requests %d --rate %s --conns %d --webhook-rate %s --clients %d --warmup %s` — "+
		"%s timed calls for the customer and %s for unknown emails, %s/s over %d connections, each timed from its scheduled send "+
		"to the answer's last byte, after a CHECKPOINT that writes out the seed, a %s warm-up of the load and 5 untimed calls; took %s.\n",
		c.Orders, c.Requests, num(c.Rate), c.Conns, num(c.WebhookRate), c.Clients, c.Warmup, num(float64(r.Known.Calls)),
		num(float64(r.Unknown.Calls)), num(c.Rate), c.Conns, c.Warmup, r.Elapsed.Round(time.Second))
	if r.Before.Known {
		p("- **Before the run** other processes kept %.2f of the %d cores busy (1 s sample); anything above ~0.1 skews the numbers.\n",
			r.Before.Others+r.Before.Self, m.Cores)
	}
	if r.During.Known {
		p("- **During the timed window** (%s) the bench's processes (app, load, sidebar client, worker) used %.2f cores, "+
			"the rest of the machine (PostgreSQL, Redis, other sessions) %.2f, %.2f idle.\n",
			r.Window.Round(100*time.Millisecond), r.During.Self, r.During.Others, r.During.Idle)
	}
	p("- **Data** (database %s after seeding), written in %s by the dashboard bench's generator plus customers, line items, refunds "+
		"and the customer's orders, its overdue deferred messages then marked sent (a live dispatcher would otherwise take them as a backlog):", orUnknown(r.DBSize), r.SeedElapsed.Round(time.Second))
	for i, s := range r.Seed {
		sep := ","
		if i == len(r.Seed)-1 {
			sep = "."
		}
		if s.Rows > 0 {
			p(" %s %s (%s)%s", s.Table, num(float64(s.Rows)), s.Elapsed.Round(100*time.Millisecond), sep)
		} else {
			p(" %s (%s)%s", s.Table, s.Elapsed.Round(100*time.Millisecond), sep)
		}
	}
	o := r.Owned
	p("\n- **The customer** (%s) owns %d orders, %d packages (%d orders split in two), %d refunds, %d messages, %d feedback answers, "+
		"%d loyalty entries and made %d referrals.\n", SidebarCustomerEmail, o["orders"], o["packages"], o["split orders"], o["refunds"],
		o["messages"], o["feedback"], o["loyalty entries"], o["referrals made"])
	p("- **Background load** during the timed window: asked %s webhooks/s, **sent %s/s, acked %s/s**; %s rejected over the whole load "+
		"(%s sent: %s); ack p50 %s, p99 %s from the scheduled time. Backlog of stored, unprocessed deliveries %s → %s, %s/s processed; "+
		"%s.\n",
		num(l.Asked), num(l.SentRate), num(l.AckedRate), num(float64(l.Tally.Rejected)), num(float64(l.Tally.Sent)), topicsText(l.Topics),
		ms(l.Tally.Quantile(.5)), ms(l.Tally.Quantile(.99)), num(float64(l.PendingStart)), num(float64(l.PendingEnd)),
		num(l.ProcessedRate), drainText(l))
	p("\n")
	rejects(w, "Load", l.Tally)
	p("| call | calls | wrong | p50 | p95 | p99 | max | target | p99 ÷ target | met |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range []*SidebarTiming{r.Known, r.Unknown} {
		if len(t.lat) == 0 {
			p("| %s | %d | %d | — | — | — | — | p99 < %s | — | **no** |\n", t.Name, t.Calls, t.Wrong, ms(TargetSidebar))
			continue
		}
		p("| `GET /helpdesk/gorgias/customer`, %s (%s bytes) | %d | %d | %s | %s | **%s** | %s | p99 < %s | %.2f | %s |\n",
			t.Name, num(float64(t.Bytes)), t.Calls, t.Wrong, ms(t.Quantile(.5)), ms(t.Quantile(.95)), ms(t.Quantile(.99)),
			ms(t.Quantile(1)), ms(TargetSidebar), float64(t.Quantile(.99))/float64(TargetSidebar), yes(t.Met()))
	}
	for _, t := range []*SidebarTiming{r.Known, r.Unknown} {
		for _, pr := range t.Problems {
			p("\n- %s, wrong answer: %s", t.Name, pr)
		}
	}
	p("\nTimed from the actual send instead (no wait for a free connection): customer p50 %s, p99 %s; unknown p50 %s, p99 %s.\n",
		ms(r.Known.Service(.5)), ms(r.Known.Service(.99)), ms(r.Unknown.Service(.5)), ms(r.Unknown.Service(.99)))
	if len(r.Statements) > 0 {
		calls := float64(r.Known.Calls + r.Unknown.Calls)
		p("\nThe web role's reads in the timed window (gorm callbacks, round trip included): %.1f statements per sidebar call, one after "+
			"the other, %s of database time per call on average; the %d with the most total time:\n\n",
			r.StmtsPerCall, ms(r.DBPerCall), len(r.Statements))
		p("| statement | per call | p50 | p99 | max | total |\n|---|---|---|---|---|---|\n")
		for _, st := range r.Statements {
			q := st.SQL
			if len(q) > 140 {
				q = q[:140] + "…"
			}
			p("| `%s` | %.1f | %s | %s | %s | %s |\n", strings.ReplaceAll(q, "|", "\\|"), float64(len(st.lat))/calls,
				ms(st.Quantile(.5)), ms(st.Quantile(.99)), ms(st.Quantile(1)), st.Total().Round(time.Millisecond))
		}
	}
	s := r.Sample
	p("\nEvery answer for the customer was checked: 200, `found: true`, the 10 newest orders in order, `more_orders` 40, "+
		"`orders_count` 50. One of them showed: %d packages (%d orders split, %d delayed), %d items, %d refunds, %d messages, "+
		"%d feedback answers, %s points with %d ledger entries, %d referrals; summary \"%s\".\n\n",
		s.Packages, s.Split, s.Delayed, s.Items, s.Refunds, s.Messages, s.Feedback, num(float64(s.Points)), s.Ledger, s.Referrals, s.Summary)
	if len(r.Warnings) > 0 {
		p("The app logged warnings or errors; the first:\n\n```\n%s\n```\n\n", strings.Join(r.Warnings, "\n"))
	}
}

func topicsText(m map[string]int64) string {
	out := ""
	for _, t := range []string{"orders/create", "orders/paid", "fulfillments/create"} {
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %s", num(float64(m[t])), t)
	}
	return out
}

func drainText(l SidebarLoad) string {
	if l.DrainedOK {
		return fmt.Sprintf("the backlog emptied %s after the load stopped", l.Drained.Round(100*time.Millisecond))
	}
	return fmt.Sprintf("the backlog had not emptied %s after the load stopped", l.Drained.Round(time.Second))
}

// StmtTiming is one SQL statement shape the web role ran during the timed
// window, timed from gorm's callbacks (round trip included).
type StmtTiming struct {
	SQL string
	lat []time.Duration
}

// Quantile of the statement's times (q in [0,1]).
func (s *StmtTiming) Quantile(q float64) time.Duration { return quantile(s.lat, q) }

// Total is the time spent in the statement.
func (s *StmtTiming) Total() time.Duration {
	var t time.Duration
	for _, d := range s.lat {
		t += d
	}
	return t
}

// stmtTimer times the reads a gorm DB runs while on: in the web role
// those are the sidebar's (the intake only inserts).
type stmtTimer struct {
	on atomic.Bool
	mu sync.Mutex
	by map[string]*StmtTiming
}

var sqlParams = regexp.MustCompile(`\$[0-9]+(,\$[0-9]+)*`)

func timeStatements(db *gorm.DB) *stmtTimer {
	t := &stmtTimer{by: map[string]*StmtTiming{}}
	before := func(d *gorm.DB) {
		if t.on.Load() {
			d.InstanceSet("bench:t0", time.Now())
		}
	}
	after := func(d *gorm.DB) {
		v, ok := d.InstanceGet("bench:t0")
		if !ok {
			return
		}
		el := time.Since(v.(time.Time))
		sql := sqlParams.ReplaceAllLiteralString(strings.Join(strings.Fields(d.Statement.SQL.String()), " "), "$n")
		t.mu.Lock()
		defer t.mu.Unlock()
		st := t.by[sql]
		if st == nil {
			st = &StmtTiming{SQL: sql}
			t.by[sql] = st
		}
		st.lat = append(st.lat, el)
	}
	cb := db.Callback()
	_ = cb.Query().Before("gorm:query").Register("bench:time0", before)
	_ = cb.Query().After("gorm:query").Register("bench:time1", after)
	_ = cb.Row().Before("gorm:row").Register("bench:time0", before)
	_ = cb.Row().After("gorm:row").Register("bench:time1", after)
	_ = cb.Raw().Before("gorm:raw").Register("bench:time0", before)
	_ = cb.Raw().After("gorm:raw").Register("bench:time1", after)
	return t
}

// totals is every timed statement's count and summed time.
func (t *stmtTimer) totals() (n int, sum time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.by {
		n += len(s.lat)
		sum += s.Total()
	}
	return n, sum
}

// top is the statements by total time, most first.
func (t *stmtTimer) top(n int) []*StmtTiming {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*StmtTiming, 0, len(t.by))
	for _, s := range t.by {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Total() > out[j].Total() })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
