package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// The dispatcher's read of triggers: due pending ones of the kinds some flow
// takes and lost hand-overs, in due order; nothing of another kind, not yet
// due, handed over recently or finished; never more than asked for.
func TestDueTriggers_SubscribedKindsAndLostHandOversInDueOrder(t *testing.T) {
	t.Parallel()
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			redispatchBefore := now.Add(-time.Minute)
			lost, recent := now.Add(-2*time.Minute), now.Add(-10*time.Second)
			paid, shipped, created := models.TriggerOrderPaid, models.TriggerFulfillmentStatus, models.TriggerOrderCreated
			// due is minutes before now (negative: in the future); want
			// is the position it must have in the answer, -1 if absent.
			rows := []struct {
				kind, status string
				due          int
				dispatched   *time.Time
				want         int
			}{
				{paid, models.TriggerPending, 5, nil, 2},
				{created, models.TriggerPending, 20, nil, -1}, // no flow takes it
				{shipped, models.TriggerPending, 9, nil, 0},
				{paid, models.TriggerPending, -5, nil, -1}, // not yet due
				{shipped, models.TriggerDispatched, 7, &recent, -1},
				{paid, models.TriggerDispatched, 6, &lost, 1}, // Redis lost its task
				{created, models.TriggerDispatched, 30, &lost, -1},
				{paid, models.TriggerDone, 10, &lost, -1},
				{shipped, models.TriggerCancelled, 10, nil, -1},
				{shipped, models.TriggerPending, 2, nil, 3},
				{paid, models.TriggerExpired, 10, nil, -1},
				{paid, models.TriggerDispatched, 1, &lost, 4},
			}
			want := make([]uint64, 5)
			for i, r := range rows {
				tr := models.Trigger{ShopID: 1, Kind: r.kind, Subject: fmt.Sprintf("order/%d", i), OrderPlatformID: int64(i),
					Status: r.status, DueAt: now.Add(-time.Duration(r.due) * time.Minute), DispatchedAt: r.dispatched, CreatedAt: now}
				if err := s.DB().Create(&tr).Error; err != nil {
					t.Fatal(err)
				}
				if r.want >= 0 {
					want[r.want] = tr.ID
				}
			}
			ids := func(limit int) []uint64 {
				t.Helper()
				ts, err := s.DueTriggers(ctx, []string{paid, shipped}, now, redispatchBefore, limit)
				if err != nil {
					t.Fatal(err)
				}
				out := make([]uint64, len(ts))
				for i, tr := range ts {
					out[i] = tr.ID
					if tr.ShopID != 1 || tr.Subject == "" || tr.Kind == "" {
						t.Errorf("trigger %d read without its shop, subject or kind: %+v", tr.ID, tr)
					}
				}
				return out
			}
			if got := ids(100); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("due = %v, want %v (in due order)", got, want)
			}
			// A round smaller than the backlog takes the longest overdue
			// first, whichever kind or read they come from.
			if got := ids(2); fmt.Sprint(got) != fmt.Sprint(want[:2]) {
				t.Fatalf("due, limit 2 = %v, want %v", got, want[:2])
			}
			if err := s.MarkTriggersDispatched(ctx, want, now); err != nil {
				t.Fatal(err)
			}
			if got := ids(100); len(got) != 0 {
				t.Fatalf("due right after the hand-over = %v, want none", got)
			}
		})
	}
}

// A week of triggers no flow takes must not be read on every round, even
// when the statistics were taken before they piled up.
func TestDueTriggers_DoesNotVisitKindsNoFlowTakes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const n = 3000
	ts := make([]models.Trigger, n)
	for i := range ts {
		ts[i] = models.Trigger{ShopID: 1, Kind: models.TriggerOrderCreated, Subject: fmt.Sprintf("order/%d", i),
			Status: models.TriggerDone, DueAt: now.Add(-time.Hour), CreatedAt: now}
	}
	if err := s.DB().CreateInBatches(&ts, 500).Error; err != nil {
		t.Fatal(err)
	}
	// Statistics from before: nothing pending. Then a backlog nobody takes.
	if err := s.DB().Exec("ANALYZE triggers").Error; err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Exec("UPDATE triggers SET status = ?", models.TriggerPending).Error; err != nil {
		t.Fatal(err)
	}
	plan, err := s.ExplainDueTriggers(ctx, []string{models.TriggerOrderPaid, models.TriggerFulfillmentStatus}, now, now.Add(-time.Minute), 500)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(plan, "ix_triggers_kind_due") != 2 || strings.Contains(plan, "Seq Scan") {
		t.Errorf("the due read does not go by kind, one index read per subscribed kind:\n%s", plan)
	}
	due, err := s.DueTriggers(ctx, []string{models.TriggerOrderPaid, models.TriggerFulfillmentStatus}, now, now.Add(-time.Minute), 500)
	if err != nil || len(due) != 0 {
		t.Fatalf("due = %d triggers, %v; want none", len(due), err)
	}
}
