// Command killworker is the worker process of app/kill_test.go: the real
// App in the worker role, configured from DOORSTEP_KILLTEST_* variables,
// until the test kills it with SIGKILL. It lives under testdata so only
// that test builds it (without -race: the test measures sending, not the
// race detector), and it stops when its stdin closes (the test process
// died), so no worker outlives the test.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/jobs"
)

// readyLine tells the test the worker serves.
const readyLine = "killtest: worker ready"

func main() { os.Exit(run()) }

func run() int {
	cfg, err := config.Load(func(k string) string { return os.Getenv("DOORSTEP_KILLTEST_" + k) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "killtest worker:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// A message left "sending" by a dead worker is handed over again after
	// 8 s instead of 2 min. The claim must outlive the longest batch a live
	// worker sends (a batch claims up to 50 at once; under a loaded CI
	// machine one takes seconds): a shorter one would hand a live worker's
	// claims to another and duplicate them.
	a, err := app.New(ctx, cfg, app.Options{Log: log, NoSync: true,
		Dispatcher: jobs.DispatcherConfig{Interval: 50 * time.Millisecond, RedispatchAfter: time.Second, StaleSending: 8 * time.Second}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "killtest worker:", err)
		return 2
	}
	if err := a.Run(ctx, app.RoleWorker, func(string) { fmt.Println(readyLine) }); err != nil {
		fmt.Fprintln(os.Stderr, "killtest worker:", err)
		return 1
	}
	return 0
}
