package bench

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRunDashboard_TinyBench_SeedsRollsUpAndTimesThePage runs the whole
// dashboard bench, small, against the local PostgreSQL (DATABASE_URL or
// the default).
func TestRunDashboard_TinyBench_SeedsRollsUpAndTimesThePage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs on real PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := RunDashboard(ctx, DashboardConfig{Orders: 3000, Span: 120, Requests: 3, DatabaseURL: os.Getenv("DATABASE_URL"), Progress: &progress})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	rows := map[string]int64{}
	for _, s := range rep.Seed {
		rows[s.Table] = s.Rows
	}
	if rows["orders"] != 3000 {
		t.Errorf("seeded %d orders, want 3000", rows["orders"])
	}
	// The generator's ratios, loosely: they are what makes the bench's
	// shop look like a real one.
	for table, per := range map[string][2]float64{
		"fulfillments": {1.05, 1.25}, "messages": {2.5, 3.3}, "fulfillment_events": {1.8, 2.6}, "feedback": {0.2, 0.45},
		"loyalty_entries": {1.0, 1.1}, "referrals": {0.01, 0.03}, "referral_clicks": {0.09, 0.11},
	} {
		if r := float64(rows[table]) / 3000; r < per[0] || r > per[1] {
			t.Errorf("%s: %.2f per order, want %.2f..%.2f", table, r, per[0], per[1])
		}
	}
	if rep.StatRows == 0 || rep.RollupFirst <= 0 {
		t.Errorf("rollup: %d rows in %s", rep.StatRows, rep.RollupFirst)
	}
	if len(rep.Store) != 2 || len(rep.HTTP) != 2 {
		t.Fatalf("%d store and %d HTTP measures, want 2 and 2", len(rep.Store), len(rep.HTTP))
	}
	for _, m := range append(rep.Store, rep.HTTP...) {
		if len(m.lat) != 3 || m.Quantile(.99) <= 0 {
			t.Errorf("%s %d days: %d timings, p99 %s", m.Name, m.Days, len(m.lat), m.Quantile(.99))
		}
	}
	for _, m := range rep.HTTP {
		if m.Status != http.StatusOK || m.Bytes == 0 {
			t.Errorf("GET /admin %d days: status %d, %d bytes\n%s", m.Days, m.Status, m.Bytes, progress.String())
		}
	}
	d := rep.Sample
	if d.Days != 90 || d.Orders.Total != 3000 || d.Orders.InWindow == 0 || d.Messages.Sent == 0 || d.Delivery.Delivered == 0 ||
		d.Feedback.DSATCount == 0 || d.Feedback.NPSCount == 0 || d.Loyalty.Issued == 0 || d.Loyalty.OutstandingPoints == 0 ||
		d.Referrals.Clicks == 0 || len(d.Delivery.ByCarrier) != 5 || len(d.Messages.ByFlow) == 0 {
		t.Errorf("90-day sample looks empty: %+v", d)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	for _, want := range []string{"Dashboard benchmark", "store.Dashboard", "GET /admin", "p99 < 300.0 ms", rep.Machine.CPU, "generate_series"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
}
