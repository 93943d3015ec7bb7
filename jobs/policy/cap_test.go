package policy

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestCap_NextSlot(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	h := func(hours float64) time.Time { return day.Add(time.Duration(hours * float64(time.Hour))) }
	daily := Cap{Max: 1, Window: 24 * time.Hour}
	tests := []struct {
		name string
		cap  Cap
		now  time.Time
		sent []time.Time
		want time.Time
	}{
		{"no cap", Cap{}, h(15), []time.Time{h(10), h(11)}, h(15)},
		{"negative max is no cap", Cap{Max: -1, Window: time.Hour}, h(15), []time.Time{h(14)}, h(15)},
		{"zero window is no cap", Cap{Max: 1}, h(15), []time.Time{h(14)}, h(15)},
		{"nothing sent", daily, h(15), nil, h(15)},
		{"one sent this morning waits a day", daily, h(15), []time.Time{h(10)}, h(34)},
		{"exactly window apart fits", daily, h(34), []time.Time{h(10)}, h(34)},
		{"sent long ago is ignored", daily, h(15), []time.Time{h(-30)}, h(15)},
		{"scheduled soon blocks now", daily, h(15), []time.Time{h(20)}, h(44)},
		{"scheduled far ahead leaves now free", daily, h(15), []time.Time{h(40)}, h(15)},
		{"gap too small between bookings", daily, h(15), []time.Time{h(10), h(40)}, h(64)},
		{"gap big enough between bookings", daily, h(15), []time.Time{h(10), h(60)}, h(34)},
		{"two per day with room", Cap{Max: 2, Window: 24 * time.Hour}, h(15), []time.Time{h(10)}, h(15)},
		{"two per day full", Cap{Max: 2, Window: 24 * time.Hour}, h(15), []time.Time{h(12), h(10)}, h(34)},
		{"three per week", Cap{Max: 3, Window: 7 * 24 * time.Hour}, h(15), []time.Time{h(-100), h(-50), h(1)}, h(68)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.cap.NextSlot(tt.now, tt.sent); !got.Equal(tt.want) {
				t.Errorf("NextSlot(%v, %v) = %v, want %v", tt.now, tt.sent, got, tt.want)
			}
		})
	}
}

func TestCap_NextSlot_DoesNotReorderInput(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	sent := []time.Time{day.Add(5 * time.Hour), day.Add(time.Hour)}
	Cap{Max: 1, Window: time.Hour}.NextSlot(day, sent)
	if !sent[0].Equal(day.Add(5 * time.Hour)) {
		t.Error("NextSlot sorted the caller's slice")
	}
}

// TestCap_NextSlot_MatchesDefinition compares against a minute-by-minute search
// that checks every span directly.
func TestCap_NextSlot_MatchesDefinition(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for range 300 {
		c := Cap{Max: 1 + rng.IntN(3), Window: time.Duration(30+rng.IntN(300)) * time.Minute}
		var sent []time.Time
		for range rng.IntN(6) {
			sent = append(sent, base.Add(time.Duration(rng.IntN(1200)-400)*time.Minute))
		}
		now := base
		want := now
		for !fitsByDefinition(c, want, sent) {
			want = want.Add(time.Minute)
		}
		if got := c.NextSlot(now, sent); !got.Equal(want) {
			t.Fatalf("%+v NextSlot(%v, %v) = %v, want %v", c, now, sent, got, want)
		}
	}
}

func fitsByDefinition(c Cap, at time.Time, sent []time.Time) bool {
	all := append([]time.Time{at}, sent...)
	for x := at.Add(-c.Window + time.Minute); !x.After(at); x = x.Add(time.Minute) {
		n := 0
		for _, s := range all {
			if !s.Before(x) && s.Before(x.Add(c.Window)) {
				n++
			}
		}
		if n > c.Max {
			return false
		}
	}
	return true
}
