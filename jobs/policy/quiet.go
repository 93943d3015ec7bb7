package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Clock is a local wall-clock time of day with minute precision.
// Hour is 0–23 and Minute 0–59; ParseClock guarantees both.
type Clock struct {
	Hour, Minute int
}

// ParseClock parses "HH:MM" (24-hour; "8:00" is accepted too).
func ParseClock(s string) (Clock, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || !digits(hh, 1, 2) || !digits(mm, 2, 2) {
		return Clock{}, fmt.Errorf("parse clock %q: want HH:MM", s)
	}
	h, _ := strconv.Atoi(hh) // cannot fail on one or two digits
	m, _ := strconv.Atoi(mm)
	if h > 23 || m > 59 {
		return Clock{}, fmt.Errorf("parse clock %q: out of range", s)
	}
	return Clock{Hour: h, Minute: m}, nil
}

func digits(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (c Clock) String() string {
	return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute)
}

func (c Clock) minutes() int {
	return c.Hour*60 + c.Minute
}

// Window is a daily span of local wall-clock time in which messages must not
// go out, from Start (inclusive) to End (exclusive). Start after End means the
// span crosses midnight (21:00–08:00 is overnight); Start equal to End means
// there are no quiet hours at all.
type Window struct {
	Start, End Clock
}

// DefaultSMSQuiet is the window texts are held back in unless a shop sets its
// own: late evening to morning, which is what carriers and TCPA-style rules
// expect of marketing texts.
func DefaultSMSQuiet() Window {
	return Window{Start: Clock{Hour: 21}, End: Clock{Hour: 8}}
}

// Quiet reports whether t falls in the window on the wall clock of loc
// (nil means UTC).
func (w Window) Quiet(t time.Time, loc *time.Location) bool {
	start, end := w.Start.minutes(), w.End.minutes()
	if start == end {
		return false
	}
	local := t.In(orUTC(loc))
	m := local.Hour()*60 + local.Minute()
	if start < end {
		return start <= m && m < end
	}
	return m >= start || m < end
}

// NextAllowed returns t when t is not quiet, else the first instant after t
// at which the wall clock of loc (nil means UTC) has left the window — End on
// the right day, or, when a daylight-saving change skips End, the moment the
// clock jumps past it.
func (w Window) NextAllowed(t time.Time, loc *time.Location) time.Time {
	loc = orUTC(loc)
	if !w.Quiet(t, loc) {
		return t
	}
	local := t.In(loc)
	y, mo, d := local.Date()
	if w.Start.minutes() > w.End.minutes() && local.Hour()*60+local.Minute() >= w.Start.minutes() {
		d++ // quiet began this evening, so it ends tomorrow
	}
	end := time.Date(y, mo, d, w.End.Hour, w.End.Minute, 0, 0, loc)

	// When no UTC offset change lies between t and end, the wall clock runs
	// straight from t to End and end is exact. Otherwise End may be skipped or
	// repeated, and time.Date does not promise which side it picks, so walk
	// the minutes instead; that happens twice a year per zone at most.
	_, stop := t.ZoneBounds()
	sameOffset := stop.IsZero() || end.Before(stop)
	if end.After(t) && sameOffset && w.End.minutes() == end.Hour()*60+end.Minute() {
		return end
	}
	return w.walk(t, loc)
}

// walk returns the first whole minute after t that is not quiet. Quiet
// depends only on the wall-clock minute, and offsets change on whole minutes,
// so nothing in between can be the answer.
func (w Window) walk(t time.Time, loc *time.Location) time.Time {
	// The window is shorter than a day and offsets move by at most a few
	// hours, so two days of minutes hold the answer in every real zone; the
	// bound only guards against a corrupt zone, and then the caller still
	// gets a time after t.
	const limit = 48 * 60
	u := t.Truncate(time.Minute).Add(time.Minute)
	for range limit {
		if !w.Quiet(u, loc) {
			return u
		}
		u = u.Add(time.Minute)
	}
	return u
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}
