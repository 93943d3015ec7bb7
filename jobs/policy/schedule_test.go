package policy

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, ny)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	quiet := DefaultSMSQuiet()
	daily := Cap{Max: 1, Window: 24 * time.Hour}
	tests := []struct {
		name       string
		now        time.Time
		quiet      Window
		cap        Cap
		sent       []time.Time
		wantAt     time.Time
		wantReason string
	}{
		{"free afternoon goes now", at("2026-06-01 15:00"), quiet, daily, nil, at("2026-06-01 15:00"), ""},
		{"quiet evening waits for morning", at("2026-06-01 22:00"), quiet, daily, nil, at("2026-06-02 08:00"), ReasonQuietHours},
		{"cap moves to tomorrow", at("2026-06-01 15:00"), quiet, daily, []time.Time{at("2026-06-01 10:00")}, at("2026-06-02 10:00"), ReasonFrequencyCap},
		{"cap slot in quiet hours goes to morning", at("2026-06-01 15:00"), quiet, daily, []time.Time{at("2026-06-01 06:30")}, at("2026-06-02 08:00"), ReasonQuietHours},
		{"cap slot lands exactly at end of quiet", at("2026-06-01 15:00"), quiet, daily, []time.Time{at("2026-06-01 08:00")}, at("2026-06-02 08:00"), ReasonFrequencyCap},
		// Morning after quiet hours would crowd a text booked for 09:00, so the
		// cap pushes again to 09:00 the day after.
		{"morning crowds a booking", at("2026-06-01 22:00"), quiet, daily, []time.Time{at("2026-06-02 09:00")}, at("2026-06-03 09:00"), ReasonFrequencyCap},
		// ...and when that lands in quiet hours too, quiet hours push again.
		{"cap and quiet alternate", at("2026-06-01 22:00"), quiet, daily, []time.Time{at("2026-06-02 07:00")}, at("2026-06-03 08:00"), ReasonQuietHours},
		{"no rules", at("2026-06-01 23:00"), Window{}, Cap{}, []time.Time{at("2026-06-01 22:59")}, at("2026-06-01 23:00"), ""},
		{"quiet across spring forward", at("2026-03-07 23:00"), quiet, Cap{}, nil, at("2026-03-08 08:00"), ReasonQuietHours},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Schedule(tt.now, ny, tt.quiet, tt.cap, tt.sent)
			if !got.At.Equal(tt.wantAt) || got.Reason != tt.wantReason {
				t.Errorf("Schedule() = %v %q, want %v %q", got.At.In(ny), got.Reason, tt.wantAt, tt.wantReason)
			}
			if wantDeferred := tt.wantAt.After(tt.now); got.Deferred != wantDeferred {
				t.Errorf("Deferred = %v, want %v", got.Deferred, wantDeferred)
			}
			if tt.quiet.Quiet(got.At, ny) {
				t.Errorf("At %v is in quiet hours", got.At)
			}
			if slot := tt.cap.NextSlot(got.At, tt.sent); !slot.Equal(got.At) {
				t.Errorf("At %v breaks the cap (next slot %v)", got.At, slot)
			}
		})
	}
}
