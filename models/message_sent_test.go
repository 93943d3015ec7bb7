package models_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func TestMarkSentMany_RecordsOnlySendsWhoseClaimStillHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "sent.myshopify.com", models.Token{AccessToken: "x"})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ms := modelstest.ClaimedMessages(t, s, shop.ID, "thank_you", 1000, 3, now)
	for i := range ms {
		ms[i].ProviderID = "relay-" + string(rune('a'+i))
	}
	// The second was taken over by another worker meanwhile: its claim
	// (attempt) is no longer ours, so our send must not overwrite it.
	stale := ms[1]
	stale.Attempts--

	done, err := s.MarkSentMany(ctx, now.Add(time.Second), []models.Message{ms[0], stale, ms[2]})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(done)
	if want := []uint64{ms[0].ID, ms[2].ID}; !slices.Equal(done, want) {
		t.Fatalf("recorded %v, want %v", done, want)
	}
	for i, m := range ms {
		got, err := s.Message(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus, wantPID := models.MessageSent, m.ProviderID
		if i == 1 {
			wantStatus, wantPID = models.MessageSending, ""
		}
		if got.Status != wantStatus || got.ProviderID != wantPID {
			t.Errorf("message %d: status %q provider id %q, want %q %q", i, got.Status, got.ProviderID, wantStatus, wantPID)
		}
		if i != 1 && (got.SentAt == nil || !got.SentAt.Equal(now.Add(time.Second))) {
			t.Errorf("message %d: sent_at %v", i, got.SentAt)
		}
	}
	var events int64
	if err := s.DB().Model(&models.MessageEvent{}).Where("status = ?", models.MessageSent).Count(&events).Error; err != nil {
		t.Fatal(err)
	}
	if events != 2 {
		t.Errorf("%d sent events in the trace, want 2 (one per recorded send)", events)
	}

	// Recording the same sends again changes nothing: they are no longer
	// "sending".
	again, err := s.MarkSentMany(ctx, now.Add(2*time.Second), []models.Message{ms[0], ms[2]})
	if err != nil || len(again) != 0 {
		t.Fatalf("second record: %v, %v (want nothing recorded)", again, err)
	}
}

// Recording a group of sends must reach its messages by primary key, even
// when the statistics were taken while nothing was sending and a backlog
// is now being sent: walking every sending message for each group of
// seven cost the flows benchmark a third of PostgreSQL's time.
func TestMarkSentMany_FindsItsMessagesByPrimaryKeyWhateverTheStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "plan.myshopify.com", models.Token{AccessToken: "x"})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const n = 3000
	err := s.InTxAt(ctx, now, func(tx *models.Tx) error {
		for i := range n {
			m := models.Message{ShopID: shop.ID, OrderPlatformID: int64(1000 + i), Flow: "thank_you", Channel: "email",
				Recipient: "shopper@example.com", DueAt: now}
			if _, err := tx.QueueMessage(&m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Statistics from before the backlog was claimed: nothing sending.
	if err := s.DB().Exec("ANALYZE messages").Error; err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Exec("UPDATE messages SET status = ?, attempts = 1, sending_at = ?", models.MessageSending, now).Error; err != nil {
		t.Fatal(err)
	}
	var ms []models.Message
	if err := s.DB().Order("id").Limit(7).Find(&ms).Error; err != nil {
		t.Fatal(err)
	}
	plan, err := s.ExplainMarkSentMany(ctx, now, ms)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "messages_pkey") || strings.Contains(plan, "ix_messages_dispatch") {
		t.Errorf("recording 7 sends among %d sending messages does not go by primary key:\n%s", n, plan)
	}
	done, err := s.MarkSentMany(ctx, now, ms)
	if err != nil || len(done) != len(ms) {
		t.Fatalf("recorded %d of %d: %v", len(done), len(ms), err)
	}
}
