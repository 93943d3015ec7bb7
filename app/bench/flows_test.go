package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
)

// TestRunFlows_TinyBench_EveryMessageOnceAtTheSink runs the whole flows
// bench, small, against the local PostgreSQL (DATABASE_URL or the default)
// and a throwaway redis-server: 20 warm-up messages, then 50 timed.
func TestRunFlows_TinyBench_EveryMessageOnceAtTheSink(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the app on real PostgreSQL and Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := RunFlows(ctx, FlowsConfig{N: 50, Warmup: 20, Batch: 10, DatabaseURL: os.Getenv("DATABASE_URL"), Progress: &progress,
		Timeout: 60 * time.Second})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if rep.Void() {
		t.Fatalf("ledger does not balance: %v\n%s", rep.Ledger.Problems, progress.String())
	}
	l := rep.Ledger
	// The warm-up's messages are in the ledger (each exactly once), not
	// in the timed run.
	if l.N != 70 || l.SinkAccepted != 70 || l.SinkDistinct != 70 || l.ByStatus[models.MessageSent] != 70 || l.NoopHandled != 50 {
		t.Errorf("ledger: %+v", l)
	}
	if rep.Flows.N != 50 || rep.Flows.Done != 50 {
		t.Errorf("timed run: %d of %d done, want 50 of 50 (the warm-up's 20 not counted)", rep.Flows.Done, rep.Flows.N)
	}
	if !rep.Flows.Finished || rep.Flows.Rate <= 0 || !rep.Noop.Finished || rep.Noop.Rate <= 0 || rep.Ratio <= 0 {
		t.Errorf("rates: flows %+v, no-op %+v, ratio %.2f", rep.Flows, rep.Noop, rep.Ratio)
	}
	if rep.Connections < 1 || rep.Connections > int64(rep.Config.Concurrency) {
		t.Errorf("%d SMTP connections for 70 messages, want at most the email channel's pool of %d persistent ones",
			rep.Connections, rep.Config.Concurrency)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	for _, want := range []string{"Flows benchmark", "ledger balanced", "thank-you emails per second", "no-op", rep.Machine.CPU, "sent 70 ✓",
		"--warmup 20", "**Warm-up:**"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	if !strings.Contains(progress.String(), "warm-up: 20 thank-yous sent") {
		t.Errorf("no warm-up in the progress:\n%s", progress.String())
	}
	if !strings.Contains(progress.String(), "dropped") {
		t.Errorf("bench database not dropped:\n%s", progress.String())
	}
}

// The ledger voids a run for anything but every queued message exactly
// once at the sink, to its row's recipient, every row sent, and every no-op
// task handled once.
func TestBalance_AnythingButExactlyOnce_Void(t *testing.T) {
	t.Parallel()
	want := map[string]string{"msg-1@doorstep": "a@example.com", "msg-2@doorstep": "b@example.com"}
	allSent := map[string]int64{models.MessageSent: 2}
	tests := []struct {
		name     string
		seen     map[string]int
		rcpt     map[string]string
		accepted int
		status   map[string]int64
		noop     []int32
		wantVoid string // "" balanced, else a word of the problem
	}{
		{"exactly once", map[string]int{"msg-1@doorstep": 1, "msg-2@doorstep": 1},
			map[string]string{"msg-1@doorstep": "a@example.com", "msg-2@doorstep": "B@example.com"}, 2, allSent, []int32{1, 1}, ""},
		{"sent twice", map[string]int{"msg-1@doorstep": 2, "msg-2@doorstep": 1}, nil, 3, allSent, []int32{1, 1}, "more than once"},
		{"never arrived", map[string]int{"msg-1@doorstep": 1}, nil, 1, allSent, []int32{1, 1}, "never reached"},
		{"not ours", map[string]int{"msg-1@doorstep": 1, "msg-2@doorstep": 1, "x@doorstep": 1}, nil, 3, allSent, []int32{1, 1}, "none of the queued"},
		{"wrong recipient", map[string]int{"msg-1@doorstep": 1, "msg-2@doorstep": 1},
			map[string]string{"msg-1@doorstep": "b@example.com"}, 2, allSent, []int32{1, 1}, "another recipient"},
		{"row not sent", map[string]int{"msg-1@doorstep": 1, "msg-2@doorstep": 1}, nil, 2,
			map[string]int64{models.MessageSent: 1, models.MessageSending: 1}, []int32{1, 1}, "want 2 sent"},
		{"no-op task twice", map[string]int{"msg-1@doorstep": 1, "msg-2@doorstep": 1}, nil, 2, allSent, []int32{2, 1}, "exactly once"},
		{"no-op task lost", map[string]int{"msg-1@doorstep": 1, "msg-2@doorstep": 1}, nil, 2, allSent, []int32{1, 0}, "exactly once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := FlowsLedger{ByStatus: tt.status}
			balance(&l, want, tt.seen, tt.rcpt, tt.accepted, tt.noop)
			got := strings.Join(l.Problems, "; ")
			switch {
			case tt.wantVoid == "" && !l.Balanced():
				t.Errorf("void: %s", got)
			case tt.wantVoid != "" && !strings.Contains(got, tt.wantVoid):
				t.Errorf("problems %q, want one about %q", got, tt.wantVoid)
			}
		})
	}
}
