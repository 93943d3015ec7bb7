package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
)

// The dispatcher's read of messages: due waiting ones never handed over or
// handed over too long ago, and stuck sends, in due order; nothing not yet
// due, handed over recently, or finished; never more than asked for.
func TestDueMessages_WaitingLostAndStuckInDueOrder(t *testing.T) {
	t.Parallel()
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			redispatchBefore, staleBefore := now.Add(-time.Minute), now.Add(-10*time.Minute)
			lost, recent := now.Add(-2*time.Minute), now.Add(-10*time.Second)
			stuck, fresh := now.Add(-20*time.Minute), now.Add(-time.Minute)
			// due is minutes before now (negative: in the future); want
			// is the position it must have in the answer, -1 if absent.
			rows := []struct {
				status     string
				due        int
				dispatched *time.Time
				sendingAt  *time.Time
				want       int
			}{
				{models.MessageQueued, 5, nil, nil, 2},
				{models.MessageQueued, -5, nil, nil, -1}, // not yet due
				{models.MessageDeferred, 9, nil, nil, 0},
				{models.MessageQueued, 7, &recent, nil, -1}, // its task is in the queue
				{models.MessageDeferred, 6, &lost, nil, 1},  // Redis lost its task
				{models.MessageSending, 8, &recent, &stuck, -1},
				{models.MessageSending, 4, &lost, &stuck, 3}, // its worker died mid-send
				{models.MessageSending, 3, nil, &fresh, -1},  // still sending
				{models.MessageSent, 10, nil, nil, -1},
				{models.MessageQueued, 2, nil, nil, 4},
				{models.MessageDeferred, -1, &lost, nil, -1}, // deferred past now
				{models.MessageQueued, 1, &lost, nil, 5},
			}
			want := make([]uint64, 6)
			for i, r := range rows {
				m := models.Message{ShopID: 1, OrderPlatformID: int64(100 + i), Flow: "thank_you", Channel: "email",
					Recipient: "due@example.com", Status: r.status, DueAt: now.Add(-time.Duration(r.due) * time.Minute),
					FirstDueAt: now, DispatchedAt: r.dispatched, SendingAt: r.sendingAt}
				if err := s.DB().Create(&m).Error; err != nil {
					t.Fatal(err)
				}
				if r.want >= 0 {
					want[r.want] = m.ID
				}
			}
			ids := func(limit int) []uint64 {
				t.Helper()
				ms, err := s.DueMessages(ctx, now, redispatchBefore, staleBefore, limit)
				if err != nil {
					t.Fatal(err)
				}
				out := make([]uint64, len(ms))
				for i, m := range ms {
					out[i] = m.ID
					if m.ShopID != 1 || m.DueAt.IsZero() || m.Status == "" {
						t.Errorf("message %d read without its shop, due time or status: %+v", m.ID, m)
					}
				}
				return out
			}
			if got := ids(100); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("due = %v, want %v (in due order)", got, want)
			}
			// A round smaller than the backlog takes the longest overdue
			// first, whichever read they come from.
			if got := ids(3); fmt.Sprint(got) != fmt.Sprint(want[:3]) {
				t.Fatalf("due, limit 3 = %v, want %v", got, want[:3])
			}
			// Handed over now: none comes back until redispatchBefore
			// passes the hand-over.
			if err := s.MarkMessagesDispatched(ctx, want, now); err != nil {
				t.Fatal(err)
			}
			if got := ids(100); len(got) != 0 {
				t.Fatalf("due right after the hand-over = %v, want none", got)
			}
			ms, err := s.DueMessages(ctx, now, now.Add(time.Second), staleBefore, 100)
			if err != nil {
				t.Fatal(err)
			}
			// Those and the two handed over "recently" (10 s before now).
			if len(ms) != len(want)+2 {
				t.Fatalf("%d due once every hand-over is old, want %d", len(ms), len(want)+2)
			}
		})
	}
}
