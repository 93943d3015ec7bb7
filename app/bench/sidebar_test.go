package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRunSidebar_TinyBench_RightAnswersUnderWebhookLoad runs the whole
// sidebar bench, small, against the local PostgreSQL (DATABASE_URL or the
// default) and a throwaway redis-server, with the worker role in process.
func TestRunSidebar_TinyBench_RightAnswersUnderWebhookLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs on real PostgreSQL and Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := RunSidebar(ctx, SidebarConfig{Orders: 3000, Requests: 20, Rate: 40, Conns: 2, WebhookRate: 50, Clients: 4,
		Warmup: 2 * time.Second, DatabaseURL: os.Getenv("DATABASE_URL"), Progress: &progress})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if rep.Known.Calls != 20 || rep.Unknown.Calls != 2 {
		t.Errorf("%d calls for the customer and %d for unknown emails, want 20 and 2", rep.Known.Calls, rep.Unknown.Calls)
	}
	// Every answer is checked inside the run; a wrong one is counted.
	for _, m := range []*SidebarTiming{rep.Known, rep.Unknown} {
		if m.Wrong != 0 || m.Quantile(.99) <= 0 {
			t.Errorf("%s: %d wrong answers %q, p99 %s\n%s", m.Name, m.Wrong, m.Problems, m.Quantile(.99), progress.String())
		}
	}
	o := rep.Owned
	if o["orders"] != 50 || o["split orders"] == 0 || o["refunds"] == 0 || o["messages"] == 0 || o["loyalty entries"] == 0 ||
		o["referrals made"] != 2 {
		t.Errorf("the customer owns %v", o)
	}
	if s := rep.Sample; !s.Found || s.Orders != 10 || s.MoreOrders != 40 || s.Packages == 0 || s.Ledger == 0 || s.Referrals == 0 {
		t.Errorf("sample answer: %+v", s)
	}
	l := rep.Load
	if l.Tally.Acked == 0 || l.Tally.Rejected != 0 || l.AckedRate <= 0 || l.Topics["fulfillments/create"] == 0 {
		t.Errorf("load: %d acked, %d rejected, %.0f/s, topics %v", l.Tally.Acked, l.Tally.Rejected, l.AckedRate, l.Topics)
	}
	if !l.DrainedOK {
		t.Errorf("the workers left a backlog of %d", l.PendingEnd)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	for _, want := range []string{"Sidebar benchmark", "GET /helpdesk/gorgias/customer", "p99 < 100.0 ms", rep.Machine.CPU, SidebarCustomerEmail} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
}
