// Package app is Doorstep's HTTP surface and its composition root: New
// builds the database, Redis, integrations, jobs and router in order and
// passes them by constructor; Run serves the web and/or worker roles until
// the context ends, then shuts down gracefully.
package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// Roles for Run.
const (
	RoleWeb    = "web"
	RoleWorker = "worker"
	RoleAll    = "all"
)

// Options are what differ between serve, demo and tests.
type Options struct {
	Log *slog.Logger
	// NoSync keeps the periodic scheduler (backfill, reconcile,
	// subscription checks) off: for shops that are not real stores (bench).
	NoSync bool
	// Demo mounts /demo/login for DemoShop.
	Demo     bool
	DemoShop string
	// HTTPClient is used for every call to Shopify (tests inject one).
	HTTPClient *http.Client
	// Dispatcher overrides the dispatcher's timings (tests shorten them).
	Dispatcher jobs.DispatcherConfig
	// Flows are the post-purchase flows subscribed to triggers.
	Flows []jobs.Flow
	// ListenHost is the interface to listen on; "" means all (serve). The
	// demo listens on 127.0.0.1 only: /demo/login has no authentication.
	ListenHost string
	// Now is the clock for install timestamps (tests); nil → time.Now.
	Now func() time.Time
	// OpsListen makes the worker role listen on Port too, serving only
	// /healthz, /readyz and /metrics, so workers can be probed and scraped.
	// serve sets it; tests leave it off so parallel workers need no port.
	OpsListen bool
	// DrainDelay is how long Run keeps serving after ctx ends, with /readyz
	// answering 503, before it stops accepting: the time a load balancer
	// needs to take the instance out of rotation (0: close at once).
	DrainDelay time.Duration
	// Scheduler overrides the periodic scheduler's timings (tests shorten
	// the tick); its intervals default to RECONCILE_INTERVAL and
	// SUBSCRIPTION_CHECK_INTERVAL.
	Scheduler jobs.SchedulerConfig
	// Backfill tunes backfill (tests lower the bulk threshold).
	Backfill jobs.BackfillConfig
	// ShopifyClock paces the Shopify client's throttling and retry waits;
	// nil → real time. Tests share a virtual clock with the fake.
	ShopifyClock shopify.Clock
	// NoMessages leaves the message flows out (the ingest bench measures
	// intake alone).
	NoMessages bool
	// Channels replace the message channels built from the configuration
	// (tests); MessageClock is the message policy's clock (quiet hours).
	Channels     map[string]jobs.Sender
	MessageClock func() time.Time
}

// Redis timeouts for every asynq connection: short, so a Redis that hangs
// (black-holed, not refusing) stalls the dispatcher, /readyz or /metrics
// for under a second instead of go-redis's default 3 s per call. The
// intake never talks to Redis at all.
const (
	redisDialTimeout = 500 * time.Millisecond
	redisIOTimeout   = 500 * time.Millisecond
)

// Shutdown budgets. Together (plus Options.DrainDelay) they fit in the
// 30 s a container orchestrator gives a process after SIGTERM.
const (
	httpDrainTimeout = 10 * time.Second // requests are short: webhooks, admin API
	taskDrainTimeout = 15 * time.Second // asynq pushes unfinished tasks back to Redis
)

// App is a wired Doorstep.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	db      *gorm.DB
	store   *models.Store
	shopify *shopify.Client
	redis   asynq.RedisConnOpt
	queue   *asynq.Client
	insp    *asynq.Inspector
	metrics *metrics
	mini    *miniredis.Miniredis
	proc    *jobs.Processor
	retain  *jobs.Retention
	runner  *jobs.TriggerRunner
	disp    *jobs.Dispatcher
	// The order sync: backfill, reconcile, subscription health, and the
	// scheduler that enqueues them per shop.
	backfill  *jobs.Backfiller
	reconcile *jobs.Reconciler
	subs      *jobs.SubscriptionChecker
	sched     *jobs.Scheduler
	// Messages: rendering with the shopper links, and the channels.
	composer *jobs.Composer
	messages *jobs.Messenger
	scan     *jobs.DelayScanner
	lscan    *jobs.LoyaltyScanner
	// tickets opens helpdesk tickets for alerts (delays, reports, low
	// ratings), one per order and reason, through a per-desk rate limit.
	tickets *jobs.TicketOpener
	// sidebarAuth remembers verified helpdesk sidebar secrets briefly.
	sidebarAuth sidebarAuthCache
	loyalty     *jobs.Loyalty // points, redemptions, referrals (app proxy, admin API)
	// dashboard answers the admin dashboard's KPIs (the store's rollups).
	dashboard dashboardSource
	closers   []func() error
	router    *gin.Engine
	opts      Options
	now       func() time.Time

	closeOnce sync.Once
	// draining is set when shutdown starts: /readyz answers 503.
	draining atomic.Bool
}

// New wires everything and migrates the database.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewJSONHandler(nopWriter{}, nil))
	}
	a := &App{cfg: cfg, log: opts.Log, opts: opts, now: opts.Now}
	if a.now == nil {
		a.now = time.Now
	}
	if cfg.EncryptionKey == nil {
		return nil, &config.Error{Var: "DOORSTEP_ENCRYPTION_KEY", Reason: "is required"}
	}
	cipher, err := models.NewCipher(cfg.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("DOORSTEP_ENCRYPTION_KEY: %w", err)
	}
	if a.db, err = models.Open(ctx, cfg, a.log); err != nil {
		return nil, err
	}
	if err := models.Migrate(ctx, a.db); err != nil {
		_ = models.Close(a.db)
		return nil, err
	}
	a.store = models.NewStore(a.db, cipher)
	a.dashboard = jobs.NewDashboards(a.store)

	if cfg.RedisURL == "" {
		// In-process Redis: enough for a single process, because the
		// database holds everything pending.
		a.mini = miniredis.NewMiniRedis()
		if err := a.mini.Start(); err != nil {
			_ = models.Close(a.db)
			return nil, fmt.Errorf("start in-process redis: %w", err)
		}
		a.redis = asynq.RedisClientOpt{Addr: a.mini.Addr()}
	} else {
		if a.redis, err = asynq.ParseRedisURI(cfg.RedisURL); err != nil {
			_ = models.Close(a.db)
			return nil, &config.Error{Var: "REDIS_URL", Reason: err.Error()}
		}
	}
	a.redis = withRedisTimeouts(a.redis)
	a.queue = asynq.NewClient(a.redis)
	a.insp = asynq.NewInspector(a.redis)
	a.metrics = newMetrics(a.insp)

	a.shopify = shopify.New(shopify.Config{
		APIKey: cfg.ShopifyAPIKey, APISecret: cfg.ShopifyAPISecret, APISecretPrevious: cfg.ShopifyAPISecretPrevious,
		Scopes: cfg.ShopifyScopes, APIVersion: cfg.ShopifyAPIVersion, BaseURL: cfg.ShopifyAPIBaseURL,
		HTTPClient: opts.HTTPClient, Clock: opts.ShopifyClock,
	})
	platforms := map[string]commerce.Webhooks{models.PlatformShopify: a.shopify}
	renderer, err := msgtmpl.New()
	if err != nil {
		return nil, fmt.Errorf("message templates: %w", err)
	}
	// The link key is derived from the encryption key, so rotating one
	// secret is enough and link tokens never reuse the data key itself.
	linkKey := sha256.Sum256(append([]byte("doorstep links v1:"), cfg.EncryptionKey...))
	signer, err := links.NewSigner(linkKey[:])
	if err != nil {
		return nil, fmt.Errorf("link signer: %w", err)
	}
	a.composer = jobs.NewComposer(a.store, renderer, signer, cfg.AppURL).WithClock(opts.MessageClock)
	lim, err := jobs.NewRedisLimiter(a.redis)
	if err != nil {
		return nil, fmt.Errorf("helpdesk limiter: %w", err)
	}
	a.closers = append(a.closers, lim.Close)
	a.tickets = jobs.NewTicketOpener(a.store, a.queue, lim, jobs.TicketConfig{Signer: a.composer.Signer(), AppURL: cfg.AppURL}, a.log)
	wake := func() { a.disp.Wake(); a.tickets.Wake() }
	allFlows := append(jobs.PrivacyFlows(a.store, a.log), opts.Flows...)
	discounts := shopifyDiscounts{a: a}
	if !opts.NoMessages {
		allFlows = append(allFlows, jobs.MessageFlows(a.store, wake, opts.MessageClock)...)
		allFlows = append(allFlows, jobs.NewLoyaltyFlow(a.store, wake, opts.MessageClock, a.log).WithDiscounts(discounts))
	}
	flows := jobs.NewFlows(allFlows...)
	dcfg := opts.Dispatcher
	if dcfg.Interval == 0 {
		dcfg.Interval = cfg.DispatchInterval
	}
	dcfg.Metrics = a.metrics.jobs
	a.disp = jobs.NewDispatcher(a.store, a.queue, flows, dcfg, a.log)
	a.proc = jobs.NewProcessor(a.store, platforms, a.log, a.disp.WakeFor)
	channels := opts.Channels
	if channels == nil {
		if channels, err = a.channels(); err != nil {
			return nil, err
		}
	}
	a.messages = jobs.NewMessenger(a.store, a.composer, a.queue, jobs.MessengerConfig{Channels: channels, Tickets: jobs.StoreTickets{Store: a.store}, Now: opts.MessageClock,
		StaleSending: dcfg.StaleSending, Metrics: a.metrics.jobs, ShopChannels: a.newShopChannels()}, a.log)
	a.scan = jobs.NewDelayScanner(a.store, wake, opts.MessageClock, a.log)
	a.runner = jobs.NewTriggerRunner(a.store, flows, a.log)
	a.loyalty = jobs.NewLoyalty(a.store, discounts, a.now, a.log)
	a.lscan = jobs.NewLoyaltyScanner(a.store, a.loyalty.Redeemer(), wake, opts.MessageClock, a.log)
	a.lscan.OnMismatch = func(n int) { a.metrics.ledgerMismatches.Add(float64(n)) }
	a.retain = jobs.NewRetention(a.store, cfg.DeliveryRetention, a.log)
	// *App is the sync jobs' TokenSource (AccessToken refreshes tokens).
	src := shopifySync{c: a.shopify, refresh: a.refreshRejected}
	a.backfill = jobs.NewBackfiller(a.store, src, a, a.queue, opts.Backfill, a.log)
	a.reconcile = jobs.NewReconciler(a.store, src, a, jobs.ReconcileConfig{Metrics: a.metrics.jobs}, a.log, a.disp.Wake)
	a.subs = jobs.NewSubscriptionChecker(a.store, src, a, cfg.AppURL+"/webhooks/shopify", shopify.Topics, a.metrics.jobs, a.log)
	scfg := opts.Scheduler
	if scfg.ReconcileEvery == 0 {
		scfg.ReconcileEvery = cfg.ReconcileInterval
	}
	if scfg.SubscriptionsEvery == 0 {
		scfg.SubscriptionsEvery = cfg.SubscriptionCheckInterval
	}
	a.sched = jobs.NewScheduler(a.store, a.queue, a.backfill, scfg, a.log)
	a.router = a.routes()
	return a, nil
}

// Handler is the HTTP surface.
func (a *App) Handler() http.Handler { return a.router }

// Store exposes the data layer (demo, CLI, tests).
func (a *App) Store() *models.Store { return a.store }

// Shopify exposes the Shopify adapter (demo, CLI).
func (a *App) Shopify() *shopify.Client { return a.shopify }

// Dispatcher exposes the dispatcher (tests run rounds by hand).
func (a *App) Dispatcher() *jobs.Dispatcher { return a.disp }

// Processor exposes the delivery processor (tests call it directly).
func (a *App) Processor() *jobs.Processor { return a.proc }

// Messenger is the message:send handler (the flows bench warms it up).
func (a *App) Messenger() *jobs.Messenger { return a.messages }

// Close releases the pools. Run calls it on the way out, after HTTP and
// the workers have stopped using them.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		for _, c := range a.closers {
			_ = c()
		}
		_ = a.insp.Close()
		_ = a.queue.Close()
		if a.mini != nil {
			a.mini.Close()
		}
		_ = models.Close(a.db)
	})
}

// Run serves role until ctx ends: web (HTTP), worker (asynq server and
// dispatcher; with Options.OpsListen, the ops endpoints) or all. On the way
// out, in this order: /readyz turns 503 and the workers stop taking new
// tasks; after Options.DrainDelay the listener closes and in-flight
// requests finish (their contexts are not tied to ctx, so a request
// already inside is answered, never cut into a 5xx); the dispatcher stops;
// in-flight tasks finish; then the pools close. ready, if set, is called
// once serving with the address listened on ("" when nothing listens).
func (a *App) Run(ctx context.Context, role string, ready func(addr string)) error {
	defer a.Close()
	// runCtx also ends when the listener fails, so the dispatcher stops
	// then too.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if a.mini != nil {
		go a.driveMiniredisClock(runCtx)
	}
	var (
		wg      sync.WaitGroup
		srv     *http.Server
		ln      net.Listener
		workers []*asynq.Server // the general pool, then the send pool
		errc    = make(chan error, 2)
		handler http.Handler
	)
	switch {
	case role == RoleWeb || role == RoleAll:
		handler = a.router
	case a.opts.OpsListen:
		handler = a.opsRouter()
	}
	// Listen first: a taken port must fail before any worker starts.
	if handler != nil {
		srv = &http.Server{
			Addr: fmt.Sprintf("%s:%d", a.opts.ListenHost, a.cfg.Port), Handler: handler,
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		}
		var err error
		if ln, err = net.Listen("tcp", srv.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", srv.Addr, err)
		}
	}
	if role == RoleWorker || role == RoleAll {
		pool := func(concurrency int, queues map[string]int) *asynq.Server {
			return asynq.NewServer(a.redis, asynq.Config{
				// A task that waits out a rate limit comes back when the
				// limit says, and waiting is not a failure.
				RetryDelayFunc:  jobs.RetryDelay,
				IsFailure:       jobs.IsFailure,
				Concurrency:     concurrency,
				Queues:          queues,
				ShutdownTimeout: taskDrainTimeout,
				Logger:          asynqLogger{a.log},
				LogLevel:        asynq.WarnLevel,
			})
		}
		// One pool per queue over one mux, so each gets the number of tasks
		// in flight its work wants and none waits behind another (see
		// jobs.IntakeQueues).
		workers = []*asynq.Server{
			pool(a.cfg.IntakeConcurrency, jobs.IntakeQueues()),
			pool(a.cfg.WorkerConcurrency, jobs.SyncQueues()),
			pool(a.cfg.SendConcurrency, jobs.SendQueues()),
		}
		mux := asynq.NewServeMux()
		// Logs and measures every task (failures included: it replaces an
		// ErrorHandler).
		mux.Use(jobs.TaskMiddleware(a.log, a.metrics.jobs))
		jobs.Register(mux, a.proc, a.runner, a.messages, a.scan)
		jobs.RegisterLoyalty(mux, a.lscan)
		jobs.RegisterSync(mux, a.backfill, a.reconcile, a.subs)
		jobs.RegisterHelpdesk(mux, a.tickets)
		for i, w := range workers {
			if err := w.Start(mux); err != nil {
				for _, started := range workers[:i] {
					started.Shutdown()
				}
				if ln != nil {
					ln.Close()
				}
				return fmt.Errorf("start workers: %w", err)
			}
		}
		wg.Add(3)
		go func() { defer wg.Done(); a.tickets.Run(runCtx) }()
		go func() { defer wg.Done(); a.disp.Run(runCtx) }()
		go func() { defer wg.Done(); a.retain.Run(runCtx) }()
		// The demo's and the bench's shops are not real Shopify stores:
		// nothing to sync.
		if !a.opts.Demo && !a.opts.NoSync {
			wg.Add(1)
			go func() { defer wg.Done(); a.sched.Run(runCtx) }()
		}
	}
	if srv != nil {
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	if ready != nil {
		addr := "" // a worker without OpsListen listens nowhere
		if ln != nil {
			addr = ln.Addr().String()
		}
		ready(addr)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	a.log.Info("shutting down", "role", role)
	a.draining.Store(true)
	for _, w := range workers {
		w.Stop() // no new tasks; the running ones go on
	}
	if srv != nil {
		if a.opts.DrainDelay > 0 && runErr == nil {
			select {
			case <-time.After(a.opts.DrainDelay):
			case runErr = <-errc:
			}
		}
		sctx, cancel := context.WithTimeout(context.Background(), httpDrainTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			a.log.Warn("http shutdown: requests still running were cut", "err", err)
		}
		cancel()
	}
	cancelRun()
	wg.Wait()
	for _, w := range workers {
		w.Shutdown()
	}
	a.log.Info("stopped", "role", role)
	return runErr
}

// withRedisTimeouts sets the short dial/read/write timeouts on whatever
// ParseRedisURI returned, unless the URI already chose some.
func withRedisTimeouts(o asynq.RedisConnOpt) asynq.RedisConnOpt {
	set := func(dial, read, write *time.Duration) {
		if *dial == 0 {
			*dial = redisDialTimeout
		}
		if *read == 0 {
			*read = redisIOTimeout
		}
		if *write == 0 {
			*write = redisIOTimeout
		}
	}
	switch v := o.(type) {
	case asynq.RedisClientOpt:
		set(&v.DialTimeout, &v.ReadTimeout, &v.WriteTimeout)
		return v
	case *asynq.RedisClientOpt:
		c := *v
		set(&c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout)
		return c
	case asynq.RedisFailoverClientOpt:
		set(&v.DialTimeout, &v.ReadTimeout, &v.WriteTimeout)
		return v
	case *asynq.RedisFailoverClientOpt:
		c := *v
		set(&c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout)
		return c
	case asynq.RedisClusterClientOpt:
		set(&v.DialTimeout, &v.ReadTimeout, &v.WriteTimeout)
		return v
	case *asynq.RedisClusterClientOpt:
		c := *v
		set(&c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout)
		return c
	}
	return o
}

// driveMiniredisClock: miniredis has no clock of its own, so TTLs (asynq's
// leases and locks) only expire when we move time forward.
func (a *App) driveMiniredisClock(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.mini.FastForward(100 * time.Millisecond)
		}
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
