package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/shopify"
)

func TestGenerator_SignedShopifyOrdersThatParse(t *testing.T) {
	t.Parallel()
	const secret = "s3cret"
	g := NewGenerator(benchShop, secret, "0a1b2c3d")
	sh := shopify.New(shopify.Config{APIKey: "k", APISecret: secret})
	seenEvents, seenOrders := map[string]bool{}, map[int64]bool{}
	for i := 0; i < 60; i++ {
		r := g.Next()
		if !json.Valid(r.Body) {
			t.Fatalf("request %d: body is not JSON: %s", i, r.Body)
		}
		if seenEvents[r.EventID] || seenOrders[r.Order] {
			t.Fatalf("request %d repeats an event id or order: %s %d", i, r.EventID, r.Order)
		}
		seenEvents[r.EventID], seenOrders[r.Order] = true, true
		h := http.Header{}
		h.Set("X-Shopify-Hmac-Sha256", r.HMAC)
		h.Set("X-Shopify-Topic", r.Topic)
		h.Set("X-Shopify-Shop-Domain", benchShop)
		h.Set("X-Shopify-Event-Id", r.EventID)
		h.Set("X-Shopify-Webhook-Id", r.WebhookID)
		h.Set("X-Shopify-API-Version", "2026-07")
		h.Set("X-Shopify-Triggered-At", r.TriggeredAt)
		if _, err := sh.VerifyWebhook(h, r.Body); err != nil {
			t.Fatalf("request %d: signature: %v", i, err)
		}
		evs, err := sh.ParseWebhook(r.Topic, r.Body)
		if err != nil {
			t.Fatalf("request %d (%s): parse: %v", i, r.Topic, err)
		}
		var got int64
		for _, ev := range evs {
			if ev.Order != nil {
				got = ev.Order.PlatformID
				if len(ev.Order.LineItems) == 0 {
					t.Fatalf("request %d: order without line items", i)
				}
			}
		}
		if got != r.Order {
			t.Fatalf("request %d: parsed order %d, want %d", i, got, r.Order)
		}
	}
}

// TestRun_TinyBench_LedgerBalancesAndThreePhasesReported runs the whole
// bench, small, against the local PostgreSQL (DATABASE_URL or the default)
// and a throwaway redis-server.
func TestRun_TinyBench_LedgerBalancesAndThreePhasesReported(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the app on real PostgreSQL and Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, Config{
		Clients: 2, Duration: time.Second, Rate: 40, Dup: 0.2,
		DatabaseURL: os.Getenv("DATABASE_URL"), Progress: &progress, DrainTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if rep.Void() {
		t.Fatalf("ledger does not balance: %v\n%s", rep.Ledger.Problems, progress.String())
	}
	if rep.Ack == nil || rep.Drain == nil || rep.Mixed == nil {
		t.Fatalf("phases missing: ack %v drain %v mixed %v", rep.Ack != nil, rep.Drain != nil, rep.Mixed != nil)
	}
	l := rep.Ledger
	if l.Sent == 0 || l.Sent != l.Acked+l.Rejected || l.Dups == 0 {
		t.Errorf("ledger: sent %d acked %d rejected %d dups %d", l.Sent, l.Acked, l.Rejected, l.Dups)
	}
	if l.Rows != l.AckedDistinct || l.Orders != l.Rows || l.TasksSucceeded == 0 || l.TasksLeft != 0 || l.BaseRows != l.BaseAckedDistinct {
		t.Errorf("ledger: rows %d acked distinct %d orders %d tasks %d baseline rows %d/%d",
			l.Rows, l.AckedDistinct, l.Orders, l.TasksSucceeded, l.BaseRows, l.BaseAckedDistinct)
	}
	if rep.Mixed.Tally.Sent != 40 {
		t.Errorf("mixed sent %d, want 40 (rate × duration)", rep.Mixed.Tally.Sent)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	for _, want := range []string{"ledger balanced", "Phase 1, ack only", "Phase 2, drain", "Phase 3, mixed", "AMD", "baseline"} {
		if want == "AMD" {
			want = rep.Machine.CPU
		}
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	if !strings.Contains(progress.String(), "dropped") {
		t.Errorf("bench database not dropped:\n%s", progress.String())
	}
}

// workerArg makes this test binary the bench's worker process (see
// TestMain), so the worker-process path runs without building doorstep.
const workerArg = "doorstep-bench-test-worker"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[len(os.Args)-1] == workerArg {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := RunWorker(ctx, os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRun_WorkerProcess_DrainsTheBacklogAndStops runs the worker role as its
// own process, as `doorstep bench ingest` does by default: the backlog the
// ack phase left is drained by that process, its CPU is counted, and it
// stops on SIGTERM when the run ends.
func TestRun_WorkerProcess_DrainsTheBacklogAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the app on real PostgreSQL and Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, Config{
		Clients: 2, Duration: time.Second, Dup: 0.1, Phases: []string{PhaseAck, PhaseDrain},
		DatabaseURL: os.Getenv("DATABASE_URL"), Progress: &progress, DrainTimeout: 45 * time.Second,
		IntakeConcurrency: 3, WorkerCommand: []string{os.Args[0], "-test.run=^$", workerArg},
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if rep.Void() {
		t.Fatalf("ledger does not balance: %v\n%s", rep.Ledger.Problems, progress.String())
	}
	d := rep.Drain
	if d == nil || !d.Done || d.Backlog == 0 || d.Orders != d.Backlog {
		t.Fatalf("drain: %+v\n%s", d, progress.String())
	}
	if !strings.Contains(progress.String(), "worker role runs as its own process") || !strings.Contains(progress.String(), "INTAKE_CONCURRENCY=3") {
		t.Errorf("progress does not name the worker process:\n%s", progress.String())
	}
	if d.CPU.Known && d.CPU.Self <= 0 {
		t.Errorf("drain CPU of the bench and its worker = %.2f cores, want > 0", d.CPU.Self)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	for _, want := range []string{"worker role in a second", "INTAKE_CONCURRENCY 3", "not counted: the worker runs in its own process"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
}
