// Package app is Doorstep's HTTP surface and its composition root: New
// builds the database, Redis, integrations, jobs and router in order and
// passes them by constructor; Run serves the web and/or worker roles until
// the context ends, then shuts down gracefully.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs"
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
}

// App is a wired Doorstep.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	db      *gorm.DB
	store   *models.Store
	shopify *shopify.Client
	redis   asynq.RedisConnOpt
	queue   *asynq.Client
	mini    *miniredis.Miniredis
	proc    *jobs.Processor
	retain  *jobs.Retention
	runner  *jobs.TriggerRunner
	disp    *jobs.Dispatcher
	router  *gin.Engine
	opts    Options
	now     func() time.Time

	closeOnce sync.Once
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
	a.queue = asynq.NewClient(a.redis)

	a.shopify = shopify.New(shopify.Config{
		APIKey: cfg.ShopifyAPIKey, APISecret: cfg.ShopifyAPISecret, APISecretPrevious: cfg.ShopifyAPISecretPrevious,
		Scopes: cfg.ShopifyScopes, APIVersion: cfg.ShopifyAPIVersion, BaseURL: cfg.ShopifyAPIBaseURL,
		HTTPClient: opts.HTTPClient,
	})
	platforms := map[string]commerce.Webhooks{models.PlatformShopify: a.shopify}
	flows := jobs.NewFlows(append(jobs.PrivacyFlows(a.store, a.log), opts.Flows...)...)
	dcfg := opts.Dispatcher
	if dcfg.Interval == 0 {
		dcfg.Interval = cfg.DispatchInterval
	}
	a.disp = jobs.NewDispatcher(a.store, a.queue, flows, dcfg, a.log)
	a.proc = jobs.NewProcessor(a.store, platforms, a.log, a.disp.Wake)
	a.runner = jobs.NewTriggerRunner(a.store, flows, a.log)
	a.retain = jobs.NewRetention(a.store, cfg.DeliveryRetention, a.log)
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

// Close releases the pools. Run calls it on the way out.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		_ = a.queue.Close()
		if a.mini != nil {
			a.mini.Close()
		}
		_ = models.Close(a.db)
	})
}

// Run serves role until ctx ends: web (HTTP), worker (asynq server and
// dispatcher) or all. On the way out it stops accepting, drains HTTP,
// lets in-flight tasks finish, then closes the pools.
func (a *App) Run(ctx context.Context, role string, ready func(addr string)) error {
	defer a.Close()
	if a.mini != nil {
		go a.driveMiniredisClock(ctx)
	}
	var (
		wg      sync.WaitGroup
		srv     *http.Server
		ln      net.Listener
		workers *asynq.Server
		errc    = make(chan error, 2)
	)
	// Listen first: a taken port must fail before any worker starts.
	if role == RoleWeb || role == RoleAll {
		srv = &http.Server{Addr: fmt.Sprintf("%s:%d", a.opts.ListenHost, a.cfg.Port), Handler: a.router, ReadHeaderTimeout: 10 * time.Second}
		var err error
		if ln, err = net.Listen("tcp", srv.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", srv.Addr, err)
		}
	}
	if role == RoleWorker || role == RoleAll {
		workers = asynq.NewServer(a.redis, asynq.Config{
			Concurrency:     10,
			Queues:          jobs.Queues,
			ShutdownTimeout: 25 * time.Second,
			Logger:          asynqLogger{a.log},
			LogLevel:        asynq.WarnLevel,
			ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
				id, _ := asynq.GetTaskID(ctx)
				a.log.Warn("task failed", "task_type", t.Type(), "task_id", id, "err", err)
			}),
		})
		mux := asynq.NewServeMux()
		jobs.Register(mux, a.proc, a.runner)
		if err := workers.Start(mux); err != nil {
			if ln != nil {
				ln.Close()
			}
			return fmt.Errorf("start workers: %w", err)
		}
		wg.Add(2)
		go func() { defer wg.Done(); a.disp.Run(ctx) }()
		go func() { defer wg.Done(); a.retain.Run(ctx) }()
	}
	if srv != nil {
		if ready != nil {
			ready(ln.Addr().String())
		}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	} else if ready != nil {
		ready("")
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	a.log.Info("shutting down")
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			a.log.Warn("http shutdown", "err", err)
		}
		cancel()
	}
	wg.Wait()
	if workers != nil {
		workers.Shutdown()
	}
	return runErr
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
