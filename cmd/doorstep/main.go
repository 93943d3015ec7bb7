// Command doorstep is the one Doorstep binary: serve (web and/or worker),
// migrate, and demo (embedded stores, simulated orders, no services).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	// Time zone data inside the binary: the distroless image has no
	// /usr/share/zoneinfo, and shops' time zones (quiet hours, reports) need it.
	_ "time/tzdata"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "doorstep:", err)
		os.Exit(1)
	}
}

const usage = `doorstep — the post-purchase app for Shopify.

Usage:
  doorstep serve [--role web|worker|all]   run the app (configured by environment variables)
  doorstep migrate                         bring the database schema up to date and exit
  doorstep demo [--port N] [--db PATH]     run a demo shop on embedded stores; no services needed
  doorstep backfill --shop X [--since D]  import a shop's order history now, with a progress bar
  doorstep bench ingest [flags]            measure webhook intake on real PostgreSQL and Redis
  doorstep bench flows [flags]             measure message sending (email to an SMTP sink) beside asynq's no-op rate
  doorstep bench loyalty [flags]           measure the points ledger under concurrent awards, reversals and redemptions

Run "doorstep <command> --help" for a command's flags. Configuration is in README.md.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command given")
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout)
	case "demo":
		return demo(ctx, rest, getenv, stdout)
	case "bench":
		return bench(ctx, rest, getenv, stdout)
	case "backfill":
		return backfill(ctx, rest, getenv, stdout)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newFlags(name, help string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "%s\n\nFlags:\n", help)
		fs.PrintDefaults()
	}
	return fs
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("serve", `doorstep serve runs Doorstep: the web role answers installs, webhooks and the admin;
the worker role processes deliveries and runs the flows. "all" runs both in one process.
Configuration comes from environment variables (see README.md); a bad value stops the
process with a message naming the variable.`, stdout)
	role := fs.String("role", app.RoleAll, "web, worker or all")
	drainDelay := fs.Duration("drain-delay", 0, "on SIGTERM, keep serving this long with /readyz answering 503 before closing "+
		"the listener, so a load balancer stops routing here first (e.g. 5s; 0: close at once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *role != app.RoleWeb && *role != app.RoleWorker && *role != app.RoleAll {
		return fmt.Errorf("--role must be web, worker or all, got %q", *role)
	}
	if *drainDelay < 0 || *drainDelay > time.Minute {
		return fmt.Errorf("--drain-delay must be between 0 and 1m, got %s", *drainDelay)
	}
	cfg, err := config.Load(getenv)
	if err == nil {
		err = cfg.RequireServe()
	}
	if err != nil {
		return err
	}
	log := newLogger(stdout, cfg.LogLevel)
	if cfg.RedisURL == "" {
		log.Warn("REDIS_URL is empty: using in-process Redis, which is for single-process installs only (run one `serve --role all`)")
	}
	if cfg.DatabaseURL == "" {
		log.Warn("DATABASE_URL is empty: using the SQLite file " + cfg.SQLitePath + " (single-node installs)")
	}
	log.Info("starting", "role", *role, "config", cfg.String())
	// A worker listens too, for /healthz, /readyz and /metrics only.
	a, err := app.New(ctx, cfg, app.Options{Log: log, OpsListen: true, DrainDelay: *drainDelay})
	if err != nil {
		return err
	}
	return a.Run(ctx, *role, func(addr string) {
		if addr != "" {
			log.Info("listening", "addr", addr)
		}
	})
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("migrate", `doorstep migrate brings the database schema up to date and exits. It reads DATABASE_URL
(empty: the SQLite file doorstep.db). It is safe to run while other processes start.`, stdout)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(func(k string) string {
		if k == "DATABASE_URL" || k == "DOORSTEP_SQLITE_PATH" || k == "LOG_LEVEL" {
			return getenv(k)
		}
		return ""
	})
	if err != nil {
		return err
	}
	db, err := models.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer models.Close(db)
	if err := models.Migrate(ctx, db); err != nil {
		return err
	}
	where := "sqlite:" + cfg.SQLitePath
	if cfg.DatabaseURL != "" {
		where = "postgres"
	}
	fmt.Fprintf(stdout, "migrated %s\n", strings.TrimSpace(where))
	return nil
}
