package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
)

// backfill imports a shop's order history in the foreground, with the same
// code the workers run, against the configured database.
func backfill(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlags("backfill", `doorstep backfill imports an installed shop's order history from Shopify in the foreground,
with a progress bar. It is the same job the workers run on install: resumable (interrupt it
and run it again: it goes on from the last saved page), idempotent, and it never causes a
customer message. It reads the same environment variables as serve (DATABASE_URL, REDIS_URL,
DOORSTEP_ENCRYPTION_KEY to read the shop's token, SHOPIFY_API_KEY and SHOPIFY_API_SECRET to
refresh it).`, stdout)
	shop := fs.String("shop", "", "the shop's myshopify.com domain (required)")
	sinceFlag := fs.String("since", "", "import only orders updated on or after this date (2025-01-01 or RFC 3339); default: all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backfill: unexpected arguments %q", fs.Args())
	}
	domain := strings.ToLower(strings.TrimSpace(*shop))
	if domain == "" {
		return errors.New("backfill: --shop is required (e.g. --shop acme.myshopify.com)")
	}
	var since time.Time
	if v := strings.TrimSpace(*sinceFlag); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				return fmt.Errorf("backfill: --since must be a date like 2025-01-01 or an RFC 3339 time, got %q", v)
			}
		}
		since = t.UTC()
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	var missing []error
	if cfg.EncryptionKey == nil {
		missing = append(missing, &config.Error{Var: "DOORSTEP_ENCRYPTION_KEY", Reason: "is required for backfill (it decrypts the shop's token)"})
	}
	for _, v := range [][2]string{{"SHOPIFY_API_KEY", cfg.ShopifyAPIKey}, {"SHOPIFY_API_SECRET", cfg.ShopifyAPISecret}} {
		if v[1] == "" {
			missing = append(missing, &config.Error{Var: v[0], Reason: "is required for backfill (it refreshes the shop's token)"})
		}
	}
	if err := errors.Join(missing...); err != nil {
		return err
	}
	// Warnings only: the bar owns the terminal.
	log := newLogger(stdout, max(cfg.LogLevel, slog.LevelWarn))
	a, err := app.New(ctx, cfg, app.Options{Log: log})
	if err != nil {
		return err
	}
	defer a.Close()

	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(stdout),
		progressbar.OptionSetDescription("backfill "+domain),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("orders"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		// No spinner ticker: its goroutine reads the bar's state without the
		// bar's lock (a data race in progressbar v3.19.1, caught by -race);
		// the bar still redraws on every page imported.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(stdout) }),
	)
	progress := func(st models.SyncState) {
		if st.Total > 0 && bar.GetMax64() != st.Total {
			bar.ChangeMax64(st.Total)
		}
		_ = bar.Set64(st.Done)
	}
	st, err := a.Backfill(ctx, domain, since, progress)
	if err != nil {
		fmt.Fprintln(stdout)
		if ctx.Err() != nil {
			return fmt.Errorf("backfill interrupted after %d orders: run the same command again to resume", st.Done)
		}
		return fmt.Errorf("backfill %s: %w", domain, err)
	}
	_ = bar.Finish()
	switch st.State {
	case models.SyncDone:
		fmt.Fprintf(stdout, "backfill of %s done: %d orders (%s, %.0f orders/s)\n", domain, st.Done, st.Mode, st.Rate)
	default:
		fmt.Fprintf(stdout, "backfill of %s: %s (%d of %d orders) %s\n", domain, st.State, st.Done, st.Total, st.LastError)
	}
	if !st.ReadAllOrders && st.Done > 0 {
		fmt.Fprintln(stdout, "note: the app lacks the read_all_orders scope, so Shopify served only the last 60 days of orders")
	}
	if st.State == models.SyncFailed {
		return fmt.Errorf("backfill %s failed: %s", domain, st.LastError)
	}
	return nil
}
