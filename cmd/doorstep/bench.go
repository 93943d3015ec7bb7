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

	ingest "github.com/doorstep/doorstep/app/bench"
)

const benchUsage = `doorstep bench runs the benchmarks.

Usage:
  doorstep bench ingest [flags]   webhook intake on real PostgreSQL and Redis (docs/BENCHMARKS.md)

Run "doorstep bench ingest --help" for its flags.
`

// bench runs the benchmarks (doorstep bench ingest).
func bench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, benchUsage)
		if len(args) == 0 {
			return errors.New("bench: which benchmark? (ingest)")
		}
		return nil
	}
	if args[0] != "ingest" {
		fmt.Fprint(stdout, benchUsage)
		return fmt.Errorf("bench: unknown benchmark %q", args[0])
	}
	return benchIngest(ctx, args[1:], getenv, stdout)
}

func benchIngest(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("bench ingest", `doorstep bench ingest measures webhook intake: it starts Doorstep in this process on
127.0.0.1 with a fresh PostgreSQL database (created on --database-url's server, migrated,
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
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile per phase to PREFIX.<phase>.pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench ingest: unexpected arguments %q", fs.Args())
	}
	switch {
	case *clients < 1:
		return errors.New("bench ingest: --clients must be at least 1")
	case *duration <= 0:
		return errors.New("bench ingest: --duration must be positive")
	case *rate <= 0:
		return errors.New("bench ingest: --rate must be positive")
	case *dup < 0 || *dup >= 1:
		return errors.New("bench ingest: --dup must be in [0, 1)")
	}
	ph, err := ingest.ParsePhases(*phases)
	if err != nil {
		return fmt.Errorf("bench ingest: --phases: %w", err)
	}
	rep, err := ingest.Run(ctx, ingest.Config{
		Clients: *clients, Duration: *duration, Rate: *rate, Dup: *dup,
		DatabaseURL: *dbURL, RedisURL: *redisURL, Phases: ph, Progress: stdout, CPUProfile: *cpuprofile,
	})
	if err != nil {
		return fmt.Errorf("bench ingest: %w", err)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	fmt.Fprintln(stdout)
	_, _ = stdout.Write(md.Bytes())
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("bench ingest: --out: %w", err)
		}
		if _, err := f.Write(md.Bytes()); err != nil {
			f.Close()
			return fmt.Errorf("bench ingest: --out: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("bench ingest: --out: %w", err)
		}
		fmt.Fprintf(stdout, "appended to %s\n", *out)
	}
	if rep.Void() {
		return fmt.Errorf("bench ingest: VOID run: %s", strings.Join(rep.Ledger.Problems, "; "))
	}
	return nil
}
