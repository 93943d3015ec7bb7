package policy

import (
	"slices"
	"time"
)

// Cap limits non-transactional messages per customer: at most Max in any
// span of Window. Max <= 0 or Window <= 0 means no cap. Two messages exactly
// Window apart do not share a span, so with Max 1 and Window 24h a message
// at 10:00 frees the slot at 10:00 the next day.
type Cap struct {
	Max    int
	Window time.Duration
}

// NextSlot returns the earliest time at or after now at which one more
// message fits, given the times of the customer's messages already sent or
// scheduled, in any order. Scheduled messages count too: a slot that would
// crowd a message already booked for tomorrow is not free.
func (c Cap) NextSlot(now time.Time, sent []time.Time) time.Time {
	if c.Max <= 0 || c.Window <= 0 {
		return now
	}
	// Only messages within Window of a candidate can share a span with it,
	// and candidates are never before now.
	times := make([]time.Time, 0, len(sent))
	for _, s := range sent {
		if s.After(now.Add(-c.Window)) {
			times = append(times, s)
		}
	}
	if len(times) < c.Max {
		return now
	}
	slices.SortFunc(times, time.Time.Compare)

	// A slot only opens when an earlier message leaves the span, at its time
	// plus Window, so the answer is now or one of those instants.
	if c.fits(now, times) {
		return now
	}
	for _, s := range times {
		if candidate := s.Add(c.Window); candidate.After(now) && c.fits(candidate, times) {
			return candidate
		}
	}
	// Unreachable: past the last message plus Window nothing is in the span.
	return times[len(times)-1].Add(c.Window)
}

// fits reports whether a message at t keeps every span of length Window that
// contains t at or under Max. The fullest such span starts at t or at one of
// the messages in (t-Window, t], so only those starts are checked.
func (c Cap) fits(t time.Time, sorted []time.Time) bool {
	if count(sorted, t, t.Add(c.Window))+1 > c.Max {
		return false
	}
	for _, s := range sorted {
		if s.After(t.Add(-c.Window)) && !s.After(t) && count(sorted, s, s.Add(c.Window))+1 > c.Max {
			return false
		}
	}
	return true
}

// count returns how many of sorted lie in [from, to).
func count(sorted []time.Time, from, to time.Time) int {
	lo, _ := slices.BinarySearchFunc(sorted, from, time.Time.Compare)
	hi, _ := slices.BinarySearchFunc(sorted, to, time.Time.Compare)
	return hi - lo
}
