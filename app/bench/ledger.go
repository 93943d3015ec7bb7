package bench

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// Ledger is the run's exact accounting, counted after the load stopped and
// the backlog emptied. Any entry in Problems makes the run void.
type Ledger struct {
	// HTTP, Doorstep (all phases, warm-ups included).
	Sent, Acked, Rejected, Dups int64
	AckedDistinct               int64 // distinct event ids with an acked copy
	// Rows in deliveries.
	Rows          int64
	MissingAcked  int64 // acked event ids with no row: an ack that lied
	StoredUnacked int64 // rows for event ids never acked (a reject after the commit)
	Unknown       int64 // rows for event ids never sent
	ByStatus      map[string]int64
	// Orders: one per distinct order among the stored deliveries.
	Workers        bool
	Orders         int64
	OrdersExpected int64
	// Tasks in asynq's intake queue.
	TasksSucceeded, TasksFailed, TasksLeft int
	TasksKnown                             bool
	// The baseline (phase 1).
	BaseSent, BaseAcked, BaseRejected, BaseAckedDistinct, BaseRows int64
	Baseline                                                       bool

	Problems []string
}

// Balanced: nothing unaccounted for.
func (l Ledger) Balanced() bool { return len(l.Problems) == 0 }

func (l *Ledger) problem(format string, args ...any) {
	l.Problems = append(l.Problems, fmt.Sprintf(format, args...))
}

func (r *runner) ledger(ctx context.Context) Ledger {
	a := r.all
	l := Ledger{Sent: a.Sent, Acked: a.Acked, Rejected: a.Rejected, Dups: a.Dups, AckedDistinct: int64(len(a.acked)),
		ByStatus: map[string]int64{}, Workers: r.workers}
	if !a.Balanced() {
		l.problem("Doorstep: sent %d ≠ acked %d + rejected %d", a.Sent, a.Acked, a.Rejected)
	}

	// Every acked event id must have its row; every row must be one we sent.
	rows, err := r.mon.Query(ctx, "SELECT event_id FROM deliveries WHERE shop_domain = $1", benchShop)
	if err != nil {
		l.problem("read deliveries: %v", err)
		return l
	}
	stored := map[string]bool{}
	orders := map[int64]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			l.problem("read deliveries: %v", err)
			rows.Close()
			return l
		}
		stored[id] = true
		switch o, ok := a.acked[id]; {
		case ok:
			orders[o] = true
		default:
			if o, ok := a.rejected[id]; ok {
				l.StoredUnacked++
				orders[o] = true
			} else {
				l.Unknown++
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		l.problem("read deliveries: %v", err)
	}
	var total int64
	_ = r.mon.QueryRow(ctx, "SELECT count(*) FROM deliveries").Scan(&total)
	l.Rows = int64(len(stored))
	for id := range a.acked {
		if !stored[id] {
			l.MissingAcked++
		}
	}
	if l.MissingAcked > 0 {
		l.problem("%d acked webhooks have no row", l.MissingAcked)
	}
	if l.Unknown > 0 || total != l.Rows {
		l.problem("%d rows the bench never sent (%d rows in all, %d for the bench shop)", l.Unknown, total, l.Rows)
	}
	if l.Rows != l.AckedDistinct+l.StoredUnacked {
		l.problem("rows %d ≠ distinct acked %d + stored unacked %d", l.Rows, l.AckedDistinct, l.StoredUnacked)
	}
	if l.StoredUnacked > a.Rejected {
		l.problem("%d rows stored for rejected webhooks, more than the %d rejects", l.StoredUnacked, a.Rejected)
	}

	st, err := r.mon.Query(ctx, "SELECT status, count(*) FROM deliveries GROUP BY status")
	if err == nil {
		for st.Next() {
			var s string
			var n int64
			if st.Scan(&s, &n) == nil {
				l.ByStatus[s] = n
			}
		}
		st.Close()
	}

	if r.workers {
		l.OrdersExpected = int64(len(orders))
		_ = r.mon.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&l.Orders)
		if l.Orders != l.OrdersExpected {
			l.problem("orders %d ≠ distinct orders among the stored deliveries %d", l.Orders, l.OrdersExpected)
		}
		if n := l.Rows - l.ByStatus[models.DeliveryProcessed]; n != 0 {
			l.problem("%d deliveries not processed (%v)", n, l.ByStatus)
		}
		insp := asynq.NewInspector(r.redisOpt)
		qi, err := insp.GetQueueInfo(jobs.QueueIntake)
		insp.Close()
		if err != nil {
			l.problem("asynq queue %s: %v", jobs.QueueIntake, err)
		} else {
			l.TasksKnown = true
			l.TasksSucceeded = qi.ProcessedTotal - qi.FailedTotal
			l.TasksFailed = qi.FailedTotal
			l.TasksLeft = qi.Pending + qi.Active + qi.Scheduled + qi.Retry + qi.Archived
			// A task carries a batch of deliveries, so tasks and rows
			// don't pair up; that every delivery ran is the status check
			// above. Some task must have run them, though.
			if l.Rows > 0 && l.TasksSucceeded == 0 {
				l.problem("no task succeeded for %d deliveries", l.Rows)
			}
			if l.TasksLeft != 0 {
				l.problem("%d tasks left in the %s queue", l.TasksLeft, jobs.QueueIntake)
			}
		}
	}

	if b := r.baseAll; b.Sent > 0 {
		l.Baseline = true
		l.BaseSent, l.BaseAcked, l.BaseRejected, l.BaseAckedDistinct = b.Sent, b.Acked, b.Rejected, int64(len(b.acked))
		if !b.Balanced() {
			l.problem("baseline: sent %d ≠ acked %d + rejected %d", b.Sent, b.Acked, b.Rejected)
		}
		_ = r.mon.QueryRow(ctx, "SELECT count(*) FROM "+baselineTable).Scan(&l.BaseRows)
		if l.BaseRows < l.BaseAckedDistinct || l.BaseRows > l.BaseAckedDistinct+int64(len(b.rejected)) {
			l.problem("baseline rows %d ≠ distinct acked %d", l.BaseRows, l.BaseAckedDistinct)
		}
	}
	return l
}
