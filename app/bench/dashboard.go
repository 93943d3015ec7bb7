package bench

// `doorstep bench dashboard`: the embedded admin's dashboard for one big
// shop. It fills one shop with --orders orders spread over --span days and
// what a year of post-purchase work leaves behind them (packages with
// carrier scans, messages, feedback, points, referrals), written by
// PostgreSQL itself (INSERT … SELECT … generate_series: a million orders
// in well under the few minutes row-by-row inserts would take), rolls the
// figures up as the stats:rollup job does, then times the dashboard: the
// store's query alone and the whole page through the app's HTTP handler,
// for 30 and 90 days.

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/app/bench/benchdata"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
)

// TargetDashboard is the budget for the dashboard page.
const TargetDashboard = 300 * time.Millisecond

const (
	dashboardShop = "doorstep-bench-dashboard.myshopify.com"
	dashboardZone = "America/New_York"
)

// DashboardConfig is one `doorstep bench dashboard` run.
type DashboardConfig struct {
	Orders   int // orders in the shop (default 1,000,000)
	Span     int // days they spread over, ending now (default 365)
	Requests int // timed requests per measure (default 50)
	// DatabaseURL is the PostgreSQL server; the bench creates and drops
	// its own database there.
	DatabaseURL string
	Progress    io.Writer
	// Keep leaves the database in place at the end (to look at plans);
	// the progress output names it.
	Keep bool
}

func (c *DashboardConfig) defaults() {
	if c.Orders <= 0 {
		c.Orders = 1_000_000
	}
	if c.Span <= 0 {
		c.Span = 365
	}
	if c.Requests <= 0 {
		c.Requests = 50
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// SeedStep is one table the generator filled.
type SeedStep struct {
	Table   string
	Rows    int64
	Elapsed time.Duration
}

// Timing is one measured operation, Requests times.
type Timing struct {
	Name string
	Days int
	lat  []time.Duration
	// Status and Bytes of the last response (HTTP only).
	Status int
	Bytes  int
}

// Quantile of the latencies (q in [0,1]).
func (t *Timing) Quantile(q float64) time.Duration { return quantile(t.lat, q) }

// Met reports whether p99 is within the target.
func (t *Timing) Met() bool {
	return len(t.lat) > 0 && t.Quantile(.99) < TargetDashboard && (t.Status == 0 || t.Status == http.StatusOK)
}

// DashboardReport is what a run measured.
type DashboardReport struct {
	Started  time.Time
	Elapsed  time.Duration
	Config   DashboardConfig
	Machine  Machine
	Database string
	// Before is how busy the machine was before the run.
	Before CPUUse

	Seed        []SeedStep
	SeedElapsed time.Duration
	DBSize      string
	// Rollups: the first (90 days, as the job does for a shop never
	// rolled up) and a periodic one (the last 2 days).
	RollupFirst, RollupPeriodic time.Duration
	StatRows                    int64

	Store []*Timing // store.Dashboard
	HTTP  []*Timing // GET /admin through the app's handler
	// Sample is the 90-day dashboard, for a sanity look at the figures.
	Sample models.Dashboard
}

// Met reports whether every timed measure met the target.
func (r *DashboardReport) Met() bool {
	for _, t := range append(append([]*Timing{}, r.Store...), r.HTTP...) {
		if !t.Met() {
			return false
		}
	}
	return len(r.Store) > 0
}

// RunDashboard runs the bench.
func RunDashboard(ctx context.Context, cfg DashboardConfig) (*DashboardReport, error) {
	cfg.defaults()
	r := &dashRunner{cfg: cfg, rep: &DashboardReport{Started: time.Now().UTC(), Config: cfg, Machine: machine()}}
	err := r.run(ctx)
	r.rep.Elapsed = time.Since(r.rep.Started)
	if err != nil {
		return nil, err
	}
	return r.rep, nil
}

type dashRunner struct {
	cfg  DashboardConfig
	rep  *DashboardReport
	pool *pgxpool.Pool
	now  time.Time
	// sayMu: the seed's statements report from their goroutines.
	sayMu sync.Mutex
	// bench names the bench in progress lines ("" is the dashboard): the
	// sidebar bench borrows the seed.
	bench string
}

func (r *dashRunner) say(format string, args ...any) {
	r.sayMu.Lock()
	defer r.sayMu.Unlock()
	fmt.Fprintf(r.cfg.Progress, "bench "+cmp.Or(r.bench, "dashboard")+": "+format+"\n", args...)
}

func (r *dashRunner) run(ctx context.Context) (err error) {
	c0 := sampleCPU()
	time.Sleep(time.Second)
	r.rep.Before = cpuBetween(c0, sampleCPU())
	r.say("before the run, other processes kept %.2f of %d cores busy", r.rep.Before.Others+r.rep.Before.Self, r.rep.Machine.Cores)

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

	// The app, as serve would build it on this database (it migrates), with
	// the in-process Redis: the page never touches Redis.
	secret := randHex(16)
	appCfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		return err
	}
	appCfg.DatabaseURL = bdb.url
	appCfg.AppURL = "http://127.0.0.1"
	appCfg.ShopifyAPIKey, appCfg.ShopifyAPISecret = "bench-api-key", secret
	appCfg.ShopifyAPIBaseURL = "http://127.0.0.1:9/{shop}" // discard port: no call may leave the machine
	appCfg.EncryptionKey = make([]byte, 32)
	_, _ = crand.Read(appCfg.EncryptionKey)
	web, err := app.New(ctx, appCfg, app.Options{NoSync: true, NoMessages: true})
	if err != nil {
		return fmt.Errorf("start the app: %w", err)
	}
	defer web.Close()
	store := web.Store()
	shop, err := store.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: dashboardShop, Name: "Doorstep Bench",
		Timezone: dashboardZone, Currency: "USD"}, models.Token{AccessToken: "shpat_bench_" + randHex(8), Scopes: "read_orders"})
	if err != nil {
		return fmt.Errorf("install the bench shop: %w", err)
	}
	if err := store.DB().WithContext(ctx).Model(&models.Shop{}).Where("id = ?", shop.ID).
		Updates(map[string]any{"timezone": dashboardZone, "currency": "USD"}).Error; err != nil {
		return fmt.Errorf("set the bench shop's zone: %w", err)
	}

	pcfg, err := pgxpool.ParseConfig(bdb.url)
	if err != nil {
		return fmt.Errorf("seed pool: %w", err)
	}
	pcfg.MaxConns = 6
	if r.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fmt.Errorf("seed pool: %w", err)
	}
	defer r.pool.Close()

	r.now = time.Now().UTC()
	if err := r.seed(ctx, shop.ID); err != nil {
		return err
	}
	_ = r.pool.QueryRow(ctx, "SELECT pg_size_pretty(pg_database_size(current_database()))").Scan(&r.rep.DBSize)

	// The job's first run rolls up 90 days; later runs the last 2.
	t0 := time.Now()
	if err := store.RollupStats(ctx, shop.ID, r.now.AddDate(0, 0, -89), r.now); err != nil {
		return err
	}
	r.rep.RollupFirst = time.Since(t0)
	t0 = time.Now()
	if err := store.RollupStats(ctx, shop.ID, r.now.AddDate(0, 0, -1), r.now); err != nil {
		return err
	}
	r.rep.RollupPeriodic = time.Since(t0)
	_ = r.pool.QueryRow(ctx, "SELECT COUNT(*) FROM stat_days WHERE shop_id = $1", shop.ID).Scan(&r.rep.StatRows)
	r.say("rollup: 90 days in %s, 2 days in %s (%d stat_days rows)", r.rep.RollupFirst.Round(time.Millisecond),
		r.rep.RollupPeriodic.Round(time.Millisecond), r.rep.StatRows)

	for _, days := range []int{30, 90} {
		t := &Timing{Name: "store.Dashboard", Days: days}
		for i := 0; i < r.cfg.Requests+2; i++ {
			t0 := time.Now()
			d, err := store.Dashboard(ctx, shop.ID, days, time.Now())
			el := time.Since(t0)
			if err != nil {
				return fmt.Errorf("dashboard, %d days: %w", days, err)
			}
			if i >= 2 { // two warm-ups: the first reads pages from disk
				t.lat = append(t.lat, el)
			}
			if days == 90 {
				r.rep.Sample = d
			}
		}
		r.rep.Store = append(r.rep.Store, t)
		r.say("store.Dashboard %d days: p50 %s p95 %s p99 %s", days, ms(t.Quantile(.5)), ms(t.Quantile(.95)), ms(t.Quantile(.99)))
	}

	h := web.Handler()
	for _, days := range []int{30, 90} {
		t := &Timing{Name: "GET /admin", Days: days}
		for i := 0; i < r.cfg.Requests+2; i++ {
			u, err := adminURL(appCfg, dashboardShop, days)
			if err != nil {
				return err
			}
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			rec := httptest.NewRecorder()
			t0 := time.Now()
			h.ServeHTTP(rec, req)
			el := time.Since(t0)
			t.Status, t.Bytes = rec.Code, rec.Body.Len()
			if rec.Code != http.StatusOK {
				r.say("GET /admin (%d days) answered %d: %.300s", days, rec.Code, rec.Body.String())
				break
			}
			if i >= 2 {
				t.lat = append(t.lat, el)
			}
		}
		r.rep.HTTP = append(r.rep.HTTP, t)
		r.say("GET /admin %d days: status %d, %d bytes, p50 %s p95 %s p99 %s", days, t.Status, t.Bytes,
			ms(t.Quantile(.5)), ms(t.Quantile(.95)), ms(t.Quantile(.99)))
	}
	return nil
}

// adminURL is the embedded admin's first load as Shopify makes it: the
// shop, host and a fresh App Bridge session token (HS256 with the app's
// secret) in the query.
func adminURL(cfg config.Config, shop string, days int) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": cfg.ShopifyAPIKey, "sub": "42",
		"exp": now.Add(time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(), "jti": randHex(8), "sid": randHex(8),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(cfg.ShopifyAPISecret))
	if err != nil {
		return "", fmt.Errorf("sign session token: %w", err)
	}
	q := url.Values{"shop": {shop}, "host": {"YmVuY2g"}, "embedded": {"1"}, "id_token": {tok}}
	if days != 30 {
		q.Set("days", fmt.Sprint(days))
	}
	return "/admin?" + q.Encode(), nil
}

// seedStmt, seedGroups and seedTables are the generator (package
// benchdata, which tests use too).
type seedStmt = benchdata.Stmt

var (
	seedGroups = benchdata.Groups
	seedTables = benchdata.Tables
)

// seed fills the shop and refreshes the planner's statistics. The
// tables' secondary indexes are dropped first and built again at the end,
// as the migrations defined them: PostgreSQL builds an index from sorted
// rows several times faster than it updates one row by row.
func (r *dashRunner) seed(ctx context.Context, shopID uint64) error {
	return r.seedWith(ctx, shopID, seedGroups, seedTables)
}

// seedWith is seed with other statements: groups run in order, and tables
// are the ones whose secondary indexes are dropped for the load.
func (r *dashRunner) seedWith(ctx context.Context, shopID uint64, groups [][]seedStmt, tables []string) error {
	start := time.Now()
	r.say("seeding %d orders over %d days (shop zone %s)", r.cfg.Orders, r.cfg.Span, dashboardZone)
	var indexes []struct{ name, def string }
	rows, err := r.pool.Query(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`, tables)
	if err != nil {
		return fmt.Errorf("seed: list indexes: %w", err)
	}
	for rows.Next() {
		var ix struct{ name, def string }
		if err := rows.Scan(&ix.name, &ix.def); err != nil {
			rows.Close()
			return fmt.Errorf("seed: list indexes: %w", err)
		}
		indexes = append(indexes, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("seed: list indexes: %w", err)
	}
	for _, ix := range indexes {
		if _, err := r.pool.Exec(ctx, "DROP INDEX "+pgxIdent(ix.name)); err != nil {
			return fmt.Errorf("seed: drop index %s: %w", ix.name, err)
		}
	}
	for _, group := range groups {
		steps := make([]SeedStep, len(group))
		errs := make([]error, len(group))
		var wg sync.WaitGroup
		for i, st := range group {
			wg.Go(func() {
				t0 := time.Now()
				tag, err := r.pool.Exec(ctx, st.SQL, int64(shopID), r.now, r.cfg.Orders, r.cfg.Span)
				if err != nil {
					errs[i] = fmt.Errorf("seed %s: %w", st.Table, err)
					return
				}
				steps[i] = SeedStep{Table: st.Table, Rows: tag.RowsAffected(), Elapsed: time.Since(t0)}
				r.say("  %-18s %10d rows in %s", st.Table, steps[i].Rows, steps[i].Elapsed.Round(time.Millisecond))
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		r.rep.Seed = append(r.rep.Seed, steps...)
	}
	t0 := time.Now()
	errs := make([]error, len(indexes))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Go(func() {
			for i := range next {
				if _, err := r.pool.Exec(ctx, indexes[i].def); err != nil {
					errs[i] = fmt.Errorf("seed: create index %s: %w", indexes[i].name, err)
				}
			}
		})
	}
	for i := range indexes {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.rep.Seed = append(r.rep.Seed, SeedStep{Table: fmt.Sprintf("%d indexes", len(indexes)), Elapsed: time.Since(t0)})
	r.say("  %d indexes built in %s", len(indexes), time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if _, err := r.pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("seed: vacuum analyze: %w", err)
	}
	r.rep.Seed = append(r.rep.Seed, SeedStep{Table: "VACUUM ANALYZE", Elapsed: time.Since(t0)})
	r.rep.SeedElapsed = time.Since(start)
	r.say("seeded in %s", r.rep.SeedElapsed.Round(time.Second))
	return nil
}

// Markdown writes the report as a markdown block (what --out appends).
func (r *DashboardReport) Markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	verdict := "target met"
	if !r.Met() {
		verdict = "**target NOT met**"
	}
	c, m := r.Config, r.Machine
	p("### Dashboard benchmark, %s — %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"), verdict)
	p("- **Machine:** %s, %d cores (GOMAXPROCS %d), %s, %s. PostgreSQL %s on the same machine over loopback; the app's handler runs in the bench's process.\n",
		m.CPU, m.Cores, m.GOMAXPROCS, m.OS, m.Go, orUnknown(m.Postgres))
	p("- **Run:** `doorstep bench dashboard --orders %d --span %d --requests %d` — one shop (zone %s), %d timed calls per measure after 2 warm-ups, one at a time; took %s.\n",
		c.Orders, c.Span, c.Requests, dashboardZone, c.Requests, r.Elapsed.Round(time.Second))
	if r.Before.Known {
		p("- **Before the run** other processes kept %.2f of the %d cores busy (1 s sample); anything above ~0.1 skews the numbers.\n", r.Before.Others+r.Before.Self, m.Cores)
	}
	p("- **Data** (database %s after seeding), written in %s by `INSERT … SELECT … generate_series`:", orUnknown(r.DBSize), r.SeedElapsed.Round(time.Second))
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
	p("\n- **Rollup** (`Store.RollupStats`, one transaction): the first run's 90 days in %s, a periodic run's 2 days in %s; %s stat_days rows.\n\n",
		r.RollupFirst.Round(time.Millisecond), r.RollupPeriodic.Round(time.Millisecond), num(float64(r.StatRows)))

	p("| measure | days | p50 | p95 | p99 | max | target | met |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range append(append([]*Timing{}, r.Store...), r.HTTP...) {
		name := "`" + t.Name + "`"
		if t.Status != 0 {
			name = fmt.Sprintf("`%s` through the app's handler (status %d, %s bytes)", t.Name, t.Status, num(float64(t.Bytes)))
		}
		if len(t.lat) == 0 {
			p("| %s | %d | — | — | — | — | p99 < %s | **no** |\n", name, t.Days, ms(TargetDashboard))
			continue
		}
		p("| %s | %d | %s | %s | **%s** | %s | p99 < %s | %s |\n", name, t.Days, ms(t.Quantile(.5)), ms(t.Quantile(.95)),
			ms(t.Quantile(.99)), ms(t.Quantile(1)), ms(TargetDashboard), yes(t.Met()))
	}
	if len(r.HTTP) == 0 {
		p("\nThe page was not measured.\n")
	}
	d := r.Sample
	p("\nThe 90-day figures, for a sanity look: %s orders of %s in the window; %s messages sent, %s suppressed, %s deferred, %s failed; "+
		"%s packages delivered, %.1f%% on time, %.2f days on average, %s orders delayed now; DSAT %.2f over %s answers, NPS %.0f over %s; "+
		"review response %.0f%% (%s of %s); %s points issued, %s redeemed, %s outstanding; %s referral clicks, %s conversions, %s %s.\n\n",
		num(float64(d.Orders.InWindow)), num(float64(d.Orders.Total)), num(float64(d.Messages.Sent)), num(float64(d.Messages.Suppressed)),
		num(float64(d.Messages.Deferred)), num(float64(d.Messages.Failed)), num(float64(d.Delivery.Delivered)), 100*d.Delivery.OnTimeRate,
		d.Delivery.AvgDaysToDeliver, num(float64(d.Delivery.CurrentlyDelayed)), d.Feedback.DSATAvg, num(float64(d.Feedback.DSATCount)),
		d.Feedback.NPS, num(float64(d.Feedback.NPSCount)), 100*d.Feedback.ReviewResponseRate, num(float64(d.Feedback.ReviewResponses)),
		num(float64(d.Feedback.ReviewAsks)), num(float64(d.Loyalty.Issued)), num(float64(d.Loyalty.Redeemed)), num(float64(d.Loyalty.OutstandingPoints)),
		num(float64(d.Referrals.Clicks)), num(float64(d.Referrals.Conversions)), d.Referrals.Revenue.StringFixed(2), d.Referrals.Currency)
}

// pgxIdent quotes a PostgreSQL identifier.
func pgxIdent(name string) string { return pgx.Identifier{name}.Sanitize() }
