package models_test

import (
	"context"
	"slices"
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
