package policy

import "time"

// Reasons a Decision was deferred.
const (
	ReasonQuietHours   = "quiet_hours"
	ReasonFrequencyCap = "frequency_cap"
)

// Decision is when a message should go out. Reason names the rule that set
// At ("" when the message can go now); when both rules pushed it, that is the
// one applied last.
type Decision struct {
	At       time.Time
	Deferred bool
	Reason   string
}

// Schedule returns the earliest time at or after now that satisfies both the
// frequency cap and quiet hours in loc. The rules are applied in turn until
// neither moves the time, because a free cap slot can land in quiet hours and
// the morning after may in turn crowd a message already booked.
func Schedule(now time.Time, loc *time.Location, quiet Window, freq Cap, sent []time.Time) Decision {
	d := Decision{At: now}
	// Terminates: each pass moves At forward, the cap stops moving it once At
	// is past the last booked message plus its window, and quiet hours then
	// move it at most once.
	for {
		if slot := freq.NextSlot(d.At, sent); !slot.Equal(d.At) {
			d.At, d.Reason = slot, ReasonFrequencyCap
		}
		allowed := quiet.NextAllowed(d.At, loc)
		if allowed.Equal(d.At) {
			break
		}
		d.At, d.Reason = allowed, ReasonQuietHours
	}
	d.Deferred = d.At.After(now)
	return d
}
