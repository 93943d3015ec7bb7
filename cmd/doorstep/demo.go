package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

const demoShop = "doorstep-demo.myshopify.com"

func demo(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("demo", `doorstep demo runs Doorstep on embedded stores (a SQLite file and an in-process Redis),
installs a demo shop and simulates Shopify: orders are created, paid, shipped, move through
the carrier's scans and get delivered, and some are cancelled, refunded, delayed or split
across two shipments. Every step is a signed webhook sent to Doorstep's real intake, so the
demo runs the same code as production. Open the printed URL to watch the orders and their
timelines. Nothing to install, no environment variables needed; Ctrl-C stops it.`, stdout)
	defPort := 8080
	if v := strings.TrimSpace(getenv("PORT")); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return &config.Error{Var: "PORT", Reason: fmt.Sprintf("must be a port number 1-65535, got %q", v)}
		}
		defPort = p
	}
	port := fs.Int("port", defPort, "HTTP port to serve the demo on (default from $PORT when set)")
	dbPath := fs.String("db", "", "SQLite file to use; kept afterwards (default: a fresh file in a temporary directory, removed on exit)")
	orders := fs.Int("orders", 12, "how many orders to simulate")
	step := fs.Duration("step", 3*time.Second, "time between simulated events of one order")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo takes no arguments, got %q", strings.Join(fs.Args(), " "))
	}
	if *port < 1 || *port > 65535 {
		return fmt.Errorf("--port must be 1-65535, got %d", *port)
	}
	if *orders < 0 {
		return fmt.Errorf("--orders must not be negative, got %d", *orders)
	}
	if *step <= 0 {
		return fmt.Errorf("--step must be positive, got %s", *step)
	}

	// Fail early and clearly when the port is taken (before creating files).
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		return portError(*port, err)
	}
	_ = ln.Close()

	path := *dbPath
	if path == "" {
		dir, err := os.MkdirTemp("", "doorstep-demo-")
		if err != nil {
			return fmt.Errorf("create a temporary directory for the demo database: %w", err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "doorstep.db")
	}

	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		return err
	}
	secret, err := randomHex(32)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate an encryption key: %w", err)
	}
	cfg.SQLitePath = path
	cfg.Port = *port
	cfg.AppURL = fmt.Sprintf("http://localhost:%d", *port)
	cfg.ShopifyAPIKey = "doorstep-demo"
	cfg.ShopifyAPISecret = secret
	cfg.EncryptionKey = key
	cfg.LogLevel = slog.LevelWarn

	log := newLogger(os.Stderr, cfg.LogLevel)
	a, err := app.New(ctx, cfg, app.Options{
		Demo: true, DemoShop: demoShop, Log: log, ListenHost: "127.0.0.1",
		Dispatcher: jobs.DispatcherConfig{Interval: 300 * time.Millisecond},
	})
	if err != nil {
		return err
	}
	shop, err := a.Store().SaveInstall(ctx, models.Shop{
		Platform: models.PlatformShopify, Domain: demoShop, Name: "Doorstep Demo Store",
		Email: "owner@demo.example", Timezone: "America/New_York", Currency: "USD",
	}, models.Token{AccessToken: "demo-offline-token"})
	if err != nil {
		a.Close()
		return fmt.Errorf("install the demo shop: %w", err)
	}
	// The demo runs a week of post-purchase life in minutes: short delays,
	// no email quiet hours (a demo at night would show only deferrals), and
	// review asks without marketing consent (the simulated customers have none).
	set := jobs.DefaultSettings()
	set.Shipping.Collapse = jobs.Duration(3 * time.Second)
	set.Delay.StalledAfter = jobs.Duration(10 * time.Minute)
	set.Review.After, set.Review.ReminderAfter = jobs.Duration(2*time.Minute), jobs.Duration(2*time.Minute)
	set.Review.HoldExpiry = jobs.Duration(30 * time.Minute)
	set.NPS.After = jobs.Duration(6 * time.Minute)
	set.Cap.Window, set.Cap.MaxDelay = jobs.Duration(time.Minute), jobs.Duration(30*time.Minute)
	set.Quiet.EmailEnabled = false
	set.MarketingWithoutConsent = true
	set.Brand.Color = "#0b7a5b"
	if err := jobs.SaveSettings(ctx, a.Store(), shop.ID, set); err != nil {
		a.Close()
		return fmt.Errorf("demo settings: %w", err)
	}
	// Loyalty on, with a five-minute return window: paid orders earn
	// pending points, refunds and cancellations take them back and the
	// shopper's notice lands in the outbox.
	prog := jobs.DefaultLoyaltyProgram()
	prog.Enabled = true
	prog.ReturnWindow = jobs.Duration(5 * time.Minute)
	if err := jobs.SaveLoyaltyProgram(ctx, a.Store(), shop.ID, prog); err != nil {
		a.Close()
		return fmt.Errorf("demo loyalty program: %w", err)
	}
	// A kept database already has orders: continue the numbering.
	existing, err := a.Store().CountOrders(ctx, shop.ID)
	if err != nil {
		a.Close()
		return err
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ready := make(chan struct{})
	runErr := make(chan error, 1)
	go func() {
		runErr <- a.Run(runCtx, app.RoleAll, func(string) { close(ready) })
	}()
	select {
	case err := <-runErr:
		if isAddrInUse(err) {
			return portError(*port, err)
		}
		return err
	case <-ready:
	}

	base := fmt.Sprintf("http://localhost:%d", *port)
	fmt.Fprintf(stdout, `
Doorstep demo: the post-purchase app for Shopify, on embedded stores (SQLite %s, in-process Redis).
A simulated Shopify sends signed webhooks for %d orders of %s to the real intake.

  Open %s/demo/login to watch the orders, the messages they send and their timelines.
  Ctrl-C to stop.

`, path, *orders, demoShop, base)

	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	simDone := make(chan error, 1)
	sim := app.NewSimulator(app.SimulatorConfig{
		URL:  fmt.Sprintf("http://127.0.0.1:%d/webhooks/shopify", *port),
		Shop: demoShop, Secret: secret, Orders: *orders, Step: *step, Out: stdout,
		Seed: time.Now().UnixNano(), FirstOrder: 1001 + int(existing),
	})
	go func() { simDone <- sim.Run(simCtx) }()

	for {
		select {
		case err := <-simDone:
			simDone = nil
			if err == nil {
				fmt.Fprintf(stdout, "\nEvery order finished its script. Doorstep keeps running: %s/demo/login — Ctrl-C to stop.\n", base)
			}
		case err := <-runErr:
			// Run returned: ctx ended (Ctrl-C) or the server failed.
			stopSim()
			if simDone != nil {
				<-simDone
			}
			if err != nil {
				return err
			}
			if *dbPath != "" {
				fmt.Fprintf(stdout, "Stopped. The demo database is kept at %s.\n", path)
			} else {
				fmt.Fprintln(stdout, "Stopped.")
			}
			return nil
		}
	}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE)
}

func portError(port int, err error) error {
	if isAddrInUse(err) {
		return fmt.Errorf("port %d is already in use (another doorstep?): pick another with --port, e.g. --port %d", port, port+1)
	}
	return fmt.Errorf("cannot listen on port %d (%v): pick another with --port", port, err)
}
