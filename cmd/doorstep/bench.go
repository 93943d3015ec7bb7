package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	appbench "github.com/doorstep/doorstep/app/bench"
)

const benchUsage = `doorstep bench runs the benchmarks.

Usage:
  doorstep bench ingest [flags]   webhook intake on real PostgreSQL and Redis (docs/BENCHMARKS.md)
  doorstep bench flows [flags]    messages sent per second (email to an SMTP sink) beside asynq's no-op rate
  doorstep bench loyalty [flags]  the points ledger under concurrent awards, reversals and redemptions, beside a bare baseline
  doorstep bench dashboard [flags] the admin dashboard of one shop with 1,000,000 orders: data generator, rollup, page timings
  doorstep bench sidebar [flags]  the helpdesk sidebar for a customer with 50 orders of 1,000,000, under 500 webhooks/s
  doorstep bench worker           (internal) the worker process bench ingest starts; reads the app's environment

Run "doorstep bench <name> --help" for a benchmark's flags.
`

// bench runs the benchmarks (doorstep bench ingest|flows|loyalty).
func bench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, benchUsage)
		if len(args) == 0 {
			return errors.New("bench: which benchmark? (ingest, flows, loyalty)")
		}
		return nil
	}
	switch args[0] {
	case "ingest":
		return benchIngest(ctx, args[1:], getenv, stdout)
	case "flows":
		return benchFlows(ctx, args[1:], getenv, stdout)
	case "loyalty":
		return benchLoyalty(ctx, args[1:], getenv, stdout)
	case "dashboard":
		return benchDashboard(ctx, args[1:], getenv, stdout)
	case "sidebar":
		return benchSidebar(ctx, args[1:], getenv, stdout)
	case "worker":
		return appbench.RunWorker(ctx, getenv, stdout, os.Stderr)
	}
	fmt.Fprint(stdout, benchUsage)
	return fmt.Errorf("bench: unknown benchmark %q", args[0])
}

func benchIngest(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("bench ingest", `doorstep bench ingest measures webhook intake: it starts Doorstep's web role in this
process and its worker role as a second process ("doorstep bench worker"), as production runs
them apart, on 127.0.0.1 with a fresh PostgreSQL database (created on --database-url's server, migrated,
dropped at the end) and Redis, installs a bench shop, and sends it signed, Shopify-shaped
order webhooks (distinct orders plus exact duplicates) from concurrent keep-alive clients.
Phases, each reported with its target:
  ack    workers stopped: webhooks/s and ack latency, beside a minimal baseline
         (gin + HMAC + one INSERT) driven the same way           target ≥ 60% of it
  drain  intake idle, workers started: deliveries processed into orders per second
                                                                 target ≥ 1,000/s
  mixed  --rate webhooks/s open loop with workers running: p99 ack from the scheduled
         send time, and the backlog every second                 target p99 < 50 ms, flat
An exact ledger (sent = acked + rejected; rows, orders and tasks counted afterwards) must
balance, or the run is reported VOID (exit status 1).`, stdout)
	dbDefault := getenv("DATABASE_URL")
	if dbDefault == "" {
		dbDefault = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	clients := fs.Int("clients", 16, "concurrent keep-alive clients (connections)")
	duration := fs.Duration("duration", 10*time.Second, "length of each phase")
	rate := fs.Float64("rate", 500, "webhooks per second in the mixed phase (open loop)")
	dup := fs.Float64("dup", 0.05, "fraction of requests that are exact duplicates of an earlier one (same event id)")
	dbURL := fs.String("database-url", dbDefault, "PostgreSQL server; the bench creates and drops its own database doorstep_bench_<random> there (default: DATABASE_URL or local)")
	redisURL := fs.String("redis-url", "", "a dedicated Redis (asynq has no key prefix); empty starts a throwaway redis-server on a free port")
	phases := fs.String("phases", "ack,drain,mixed", "phases to run, comma-separated (always run in this order)")
	out := fs.String("out", "", "append the markdown report to this file (e.g. docs/BENCHMARKS.md)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile per phase to PREFIX.<phase>.pprof (this process: the web role and the load)")
	concurrency := fs.Int("intake-concurrency", 0, "the worker role's INTAKE_CONCURRENCY, batches of deliveries processed at once (default: the cores, at least 2)")
	inProcess := fs.Bool("in-process-workers", false, "run the worker role in this process instead of its own, as serve --role all would")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench ingest: unexpected arguments %q", fs.Args())
	}
	var workerCmd []string
	if !*inProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench ingest: find this binary to start the worker process: %w", err)
		}
		workerCmd = []string{exe, "bench", "worker"}
	}
	switch {
	case *clients < 1:
		return errors.New("bench ingest: --clients must be at least 1")
	case *duration <= 0:
		return errors.New("bench ingest: --duration must be positive")
	case *concurrency < 0 || *concurrency > 1000:
		return errors.New("bench ingest: --intake-concurrency must be 1-1000")
	case *rate <= 0:
		return errors.New("bench ingest: --rate must be positive")
	case *dup < 0 || *dup >= 1:
		return errors.New("bench ingest: --dup must be in [0, 1)")
	}
	ph, err := appbench.ParsePhases(*phases)
	if err != nil {
		return fmt.Errorf("bench ingest: --phases: %w", err)
	}
	rep, err := appbench.Run(ctx, appbench.Config{
		Clients: *clients, Duration: *duration, Rate: *rate, Dup: *dup,
		DatabaseURL: *dbURL, RedisURL: *redisURL, Phases: ph, Progress: stdout, CPUProfile: *cpuprofile,
		IntakeConcurrency: *concurrency, WorkerCommand: workerCmd,
	})
	if err != nil {
		return fmt.Errorf("bench ingest: %w", err)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	if err := writeReport(md.Bytes(), *out, stdout); err != nil {
		return fmt.Errorf("bench ingest: %w", err)
	}
	if rep.Void() {
		return fmt.Errorf("bench ingest: VOID run: %s", strings.Join(rep.Ledger.Problems, "; "))
	}
	return nil
}

func benchFlows(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("bench flows", `doorstep bench flows measures message sending: it starts Doorstep's worker role in this
process on 127.0.0.1 with a fresh PostgreSQL database (created on --database-url's server,
migrated, dropped at the end), Redis and an in-process SMTP sink that the email channel
reaches over its persistent connections (SMTP_URL). It writes --n paid orders with one queued
thank-you each, then on a clock enqueues message:send tasks (--batch messages each, as the
dispatcher hands due messages over) and waits for the last
message at the sink. Before the clock starts, the worker role sends --warmup more thank-yous
(not timed), so the run measures a running worker rather than its first second. In the same
run and on the same Redis, an asynq server with the same concurrency handles --n no-op tasks
enqueued the same way.
  messages/s, first enqueue → last message at the sink    target ≥ 1,000/s
  messages/s ÷ no-op tasks/s                               target ≥ 25%
The sink counts messages by Message-ID: every message exactly once and every row sent,
or the run is reported VOID (exit status 1).`, stdout)
	dbDefault := getenv("DATABASE_URL")
	if dbDefault == "" {
		dbDefault = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	n := fs.Int("n", 5000, "messages to send (and no-op tasks to run)")
	batch := fs.Int("batch", 50, "messages per message:send task, as the dispatcher batches due messages (1: a task per message)")
	dbURL := fs.String("database-url", dbDefault, "PostgreSQL server; the bench creates and drops its own database doorstep_bench_<random> there (default: DATABASE_URL or local)")
	redisURL := fs.String("redis-url", "", "a dedicated Redis (asynq has no key prefix); empty starts a throwaway redis-server on a free port")
	out := fs.String("out", "", "append the markdown report to this file (e.g. docs/BENCHMARKS.md)")
	cpuprofile := fs.String("cpuprofile", "", "write CPU profiles to PREFIX.noop.pprof and PREFIX.flows.pprof (and allocation profiles to PREFIX.*.allocs.pprof)")
	concurrency := fs.Int("concurrency", 0, "the worker role's SEND_CONCURRENCY, and the no-op server's concurrency (default: SEND_CONCURRENCY's default, 20)")
	warmup := fs.Int("warmup", 2500, "thank-yous the worker role sends before the clock starts, not timed (0: none, a cold start)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench flows: unexpected arguments %q", fs.Args())
	}
	if *warmup < 0 {
		return errors.New("bench flows: --warmup must be 0 or more")
	}
	if *warmup == 0 {
		*warmup = -1 // FlowsConfig: negative is none, 0 the default
	}
	if *concurrency < 0 || *concurrency > 1000 {
		return errors.New("bench flows: --concurrency must be 1-1000")
	}
	if *n < 1 {
		return errors.New("bench flows: --n must be at least 1")
	}
	rep, err := appbench.RunFlows(ctx, appbench.FlowsConfig{N: *n, DatabaseURL: *dbURL, RedisURL: *redisURL,
		Progress: stdout, CPUProfile: *cpuprofile, Batch: *batch, Concurrency: *concurrency, Warmup: *warmup})
	if err != nil {
		return fmt.Errorf("bench flows: %w", err)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	if err := writeReport(md.Bytes(), *out, stdout); err != nil {
		return fmt.Errorf("bench flows: %w", err)
	}
	if rep.Void() {
		return fmt.Errorf("bench flows: VOID run: %s", strings.Join(rep.Ledger.Problems, "; "))
	}
	return nil
}

func benchLoyalty(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("bench loyalty", `doorstep bench loyalty measures the points ledger under concurrency: on a fresh PostgreSQL
database (created on --database-url's server, migrated, dropped at the end) with one shop and
--customers accounts seeded with 1,000 points each, --workers goroutines run for --duration
(after a warm-up) ops on uniformly drawn customers through models.Store: ~49% awards (an earn,
available at once), ~24.5% reversals (sometimes beyond the balance: debt, never a negative
balance), ~24.5% redemptions (Store.Redeem; not enough points is a completed op, "refused")
and ~2% replays of a posted source key (must post nothing). In the same run the same op
stream runs on a bare baseline in the same database: per op one transaction, a conditional
UPDATE balances … WHERE balance + n >= 0 and one INSERT INTO entries (pgx pool).
  ledger ops/s (p50, p99)                     target ≥ 2,000/s
  Doorstep ops/s ÷ baseline ops/s              target ≥ 50%
Afterwards: Store.VerifyLedger, no negative balance, every customer's entries = what the
bench posted, no redemption spent points that were not available (the entries replayed in
posting order), one redemption row per successful redemption, replays posted nothing. Any
violation or failed op makes the run VOID (exit status 1).`, stdout)
	dbDefault := getenv("DATABASE_URL")
	if dbDefault == "" {
		dbDefault = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	customers := fs.Int("customers", 1000, "customers the ops spread over, uniformly")
	workers := fs.Int("workers", 16, "concurrent goroutines on each side")
	duration := fs.Duration("duration", 10*time.Second, "measured time on each side (after a warm-up of min(1s, duration/5))")
	dbURL := fs.String("database-url", dbDefault, "PostgreSQL server; the bench creates and drops its own database doorstep_bench_<random> there (default: DATABASE_URL or local)")
	out := fs.String("out", "", "append the markdown report to this file (e.g. docs/BENCHMARKS.md)")
	cpuprofile := fs.String("cpuprofile", "", "write CPU profiles to PREFIX.loyalty-baseline.pprof and PREFIX.loyalty-doorstep.pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench loyalty: unexpected arguments %q", fs.Args())
	case *customers < 1:
		return errors.New("bench loyalty: --customers must be at least 1")
	case *workers < 1 || *workers > 256:
		return errors.New("bench loyalty: --workers must be 1-256")
	case *duration <= 0:
		return errors.New("bench loyalty: --duration must be positive")
	}
	rep, err := appbench.RunLoyalty(ctx, appbench.LoyaltyConfig{Customers: *customers, Workers: *workers, Duration: *duration,
		DatabaseURL: *dbURL, Progress: stdout, CPUProfile: *cpuprofile})
	if err != nil {
		return fmt.Errorf("bench loyalty: %w", err)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	if err := writeReport(md.Bytes(), *out, stdout); err != nil {
		return fmt.Errorf("bench loyalty: %w", err)
	}
	if rep.Void() {
		return fmt.Errorf("bench loyalty: VOID run: %s", strings.Join(rep.Problems(), "; "))
	}
	return nil
}

func benchDashboard(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("bench dashboard", `doorstep bench dashboard measures the embedded admin's dashboard for one big shop: on a fresh
PostgreSQL database (created on --database-url's server, migrated, dropped at the end) it fills one
shop with --orders orders spread over --span days and what they leave behind (~1.2 packages per
order with carrier scans, ~3 messages, feedback on ~20%, points, referral clicks and conversions),
written by PostgreSQL itself (INSERT … SELECT … generate_series), rolls the figures up as the
stats:rollup job does (90 days, then 2), and times, --requests times each, one at a time:
  Store.Dashboard, 30 and 90 days                       target p99 < 300 ms
  GET /admin (the page) through the app's handler        target p99 < 300 ms`, stdout)
	dbDefault := getenv("DATABASE_URL")
	if dbDefault == "" {
		dbDefault = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	orders := fs.Int("orders", 1_000_000, "orders in the bench shop")
	span := fs.Int("span", 365, "days the orders spread over, ending now")
	requests := fs.Int("requests", 50, "timed calls per measure (after 2 warm-ups)")
	dbURL := fs.String("database-url", dbDefault, "PostgreSQL server; the bench creates and drops its own database doorstep_bench_<random> there (default: DATABASE_URL or local)")
	out := fs.String("out", "", "append the markdown report to this file (e.g. docs/BENCHMARKS.md)")
	keep := fs.Bool("keep", false, "keep the bench database at the end (to look at query plans); drop it yourself")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench dashboard: unexpected arguments %q", fs.Args())
	case *orders < 1:
		return errors.New("bench dashboard: --orders must be at least 1")
	case *span < 1 || *span > 3650:
		return errors.New("bench dashboard: --span must be 1-3650")
	case *requests < 1:
		return errors.New("bench dashboard: --requests must be at least 1")
	}
	rep, err := appbench.RunDashboard(ctx, appbench.DashboardConfig{Orders: *orders, Span: *span, Requests: *requests,
		DatabaseURL: *dbURL, Progress: stdout, Keep: *keep})
	if err != nil {
		return fmt.Errorf("bench dashboard: %w", err)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	return writeReport(md.Bytes(), *out, stdout)
}

func benchSidebar(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("bench sidebar", `doorstep bench sidebar measures the helpdesk sidebar's answer time: on a fresh PostgreSQL
database (created on --database-url's server, migrated, dropped at the end) it fills one shop with
--orders orders by the dashboard bench's generator (packages, scans, messages, feedback, points,
referrals) plus customers, line items and refunds, one customer (`+appbench.SidebarCustomerEmail+`) owning
50 of them, and connects Gorgias. It starts Doorstep's web role in this process and its worker role
as a second process ("doorstep bench worker"), sends signed orders/create, orders/paid and
fulfillments/create webhooks for other customers at --webhook-rate per second, and after --warmup
times --requests calls of GET /helpdesk/gorgias/customer?email=… (X-Doorstep-Key) for the customer,
plus one in ten for unknown emails, at --rate per second, checking every answer:
  sidebar answer, customer with 50 orders, under the load     target p99 < 100 ms`, stdout)
	dbDefault := getenv("DATABASE_URL")
	if dbDefault == "" {
		dbDefault = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	orders := fs.Int("orders", 1_000_000, "orders in the bench shop")
	requests := fs.Int("requests", 500, "timed sidebar calls for the customer (plus one in ten for unknown emails)")
	rate := fs.Float64("rate", 20, "sidebar calls per second")
	conns := fs.Int("conns", 4, "sidebar connections (calls at once, at most)")
	webhookRate := fs.Float64("webhook-rate", 500, "background webhooks per second")
	clients := fs.Int("clients", 16, "keep-alive connections sending the webhooks")
	warmup := fs.Duration("warmup", 10*time.Second, "load before the first timed call")
	dbURL := fs.String("database-url", dbDefault, "PostgreSQL server; the bench creates and drops its own database doorstep_bench_<random> there (default: DATABASE_URL or local)")
	redisURL := fs.String("redis-url", "", "a dedicated Redis (asynq has no key prefix); empty starts a throwaway redis-server on a free port")
	concurrency := fs.Int("intake-concurrency", 0, "the worker role's INTAKE_CONCURRENCY, batches of deliveries processed at once (default: the cores, at least 2)")
	inProcess := fs.Bool("in-process-workers", false, "run the worker role in this process instead of its own")
	out := fs.String("out", "", "append the markdown report to this file (e.g. docs/BENCHMARKS.md)")
	keep := fs.Bool("keep", false, "keep the bench database at the end (to EXPLAIN the sidebar's queries); drop it yourself")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench sidebar: unexpected arguments %q", fs.Args())
	case *orders < 1:
		return errors.New("bench sidebar: --orders must be at least 1")
	case *requests < 1:
		return errors.New("bench sidebar: --requests must be at least 1")
	case *rate <= 0 || *webhookRate <= 0:
		return errors.New("bench sidebar: --rate and --webhook-rate must be positive")
	case *conns < 1 || *clients < 1:
		return errors.New("bench sidebar: --conns and --clients must be at least 1")
	case *warmup < 0:
		return errors.New("bench sidebar: --warmup must not be negative")
	case *concurrency < 0 || *concurrency > 1000:
		return errors.New("bench sidebar: --intake-concurrency must be 1-1000")
	}
	var workerCmd []string
	if !*inProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench sidebar: find this binary to start the worker process: %w", err)
		}
		workerCmd = []string{exe, "bench", "worker"}
	}
	rep, err := appbench.RunSidebar(ctx, appbench.SidebarConfig{Orders: *orders, Requests: *requests, Rate: *rate, Conns: *conns,
		WebhookRate: *webhookRate, Clients: *clients, Warmup: *warmup, DatabaseURL: *dbURL, RedisURL: *redisURL,
		WorkerCommand: workerCmd, IntakeConcurrency: *concurrency, Progress: stdout, Keep: *keep})
	if err != nil {
		return fmt.Errorf("bench sidebar: %w", err)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	return writeReport(md.Bytes(), *out, stdout)
}

// writeReport prints a bench's markdown report and appends it to out, if set.
func writeReport(md []byte, out string, stdout io.Writer) error {
	fmt.Fprintln(stdout)
	_, _ = stdout.Write(md)
	if out == "" {
		return nil
	}
	f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if _, err := f.Write(md); err != nil {
		f.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(stdout, "appended to %s\n", out)
	return nil
}
