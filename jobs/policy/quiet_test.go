package policy

import (
	"math/rand/v2"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Clock
		wantErr bool
	}{
		{in: "21:00", want: Clock{21, 0}},
		{in: "08:30", want: Clock{8, 30}},
		{in: "8:30", want: Clock{8, 30}},
		{in: "00:00", want: Clock{0, 0}},
		{in: "23:59", want: Clock{23, 59}},
		{in: "24:00", wantErr: true},
		{in: "12:60", wantErr: true},
		{in: "12:5", wantErr: true},
		{in: "+8:00", wantErr: true},
		{in: "-1:00", wantErr: true},
		{in: "1200", wantErr: true},
		{in: "12:00:00", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseClock(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseClock(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseClock(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	if s := (Clock{8, 5}).String(); s != "08:05" {
		t.Errorf("String() = %q, want 08:05", s)
	}
}

func TestWindow_Quiet(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	overnight := DefaultSMSQuiet()
	lunch := Window{Start: Clock{12, 0}, End: Clock{13, 0}}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, ny)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		w    Window
		t    time.Time
		want bool
	}{
		{"evening before start", overnight, at("2026-06-01 20:59:59"), false},
		{"at start", overnight, at("2026-06-01 21:00:00"), true},
		{"midnight", overnight, at("2026-06-02 00:00:00"), true},
		{"just before end", overnight, at("2026-06-02 07:59:59"), true},
		{"at end", overnight, at("2026-06-02 08:00:00"), false},
		{"noon", overnight, at("2026-06-02 12:00:00"), false},
		{"lunch start", lunch, at("2026-06-02 12:00:00"), true},
		{"lunch end", lunch, at("2026-06-02 13:00:00"), false},
		{"before lunch", lunch, at("2026-06-02 11:59:00"), false},
		{"no quiet hours", Window{Clock{9, 0}, Clock{9, 0}}, at("2026-06-02 09:00:00"), false},
		{"zero window", Window{}, at("2026-06-02 00:00:00"), false},
		// 03:00 UTC is 23:00 the evening before in New York.
		{"judged on local clock", overnight, time.Date(2026, 6, 2, 3, 0, 0, 0, time.UTC), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.w.Quiet(tt.t, ny); got != tt.want {
				t.Errorf("Quiet(%v) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
}

func TestWindow_NextAllowed(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	perth := mustLoad(t, "Australia/Perth")
	lordHowe := mustLoad(t, "Australia/Lord_Howe") // moves by 30 minutes
	overnight := DefaultSMSQuiet()
	parse := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		w    Window
		loc  *time.Location
		t    string
		want string
	}{
		{"not quiet is unchanged", overnight, ny, "2026-06-01T15:04:05-04:00", "2026-06-01T15:04:05-04:00"},
		{"evening waits for morning", overnight, ny, "2026-06-01T22:15:00-04:00", "2026-06-02T08:00:00-04:00"},
		{"small hours wait for same morning", overnight, ny, "2026-06-02T03:00:00-04:00", "2026-06-02T08:00:00-04:00"},
		{"seconds before end", overnight, ny, "2026-06-02T07:59:59-04:00", "2026-06-02T08:00:00-04:00"},
		{"month end rolls over", overnight, ny, "2026-06-30T23:00:00-04:00", "2026-07-01T08:00:00-04:00"},
		{"utc input, local clock", overnight, perth, "2026-06-01T14:00:00Z", "2026-06-02T08:00:00+08:00"},
		{"nil location is utc", overnight, nil, "2026-06-01T22:00:00Z", "2026-06-02T08:00:00Z"},
		{"midday window", Window{Clock{12, 0}, Clock{13, 0}}, ny, "2026-06-01T12:30:00-04:00", "2026-06-01T13:00:00-04:00"},
		{"window ending at midnight", Window{Clock{22, 0}, Clock{0, 0}}, ny, "2026-06-01T23:00:00-04:00", "2026-06-02T00:00:00-04:00"},

		// New York springs forward on 2026-03-08 at 02:00 EST to 03:00 EDT:
		// the quiet night is an hour shorter in real time.
		{"spring forward night", overnight, ny, "2026-03-07T22:00:00-05:00", "2026-03-08T08:00:00-04:00"},
		// End 02:30 never shows on the clock; quiet ends when it jumps to 03:00.
		{"end skipped by spring forward", Window{Clock{22, 0}, Clock{2, 30}}, ny, "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"},
		{"start skipped by spring forward", Window{Clock{2, 30}, Clock{6, 0}}, ny, "2026-03-08T03:10:00-04:00", "2026-03-08T06:00:00-04:00"},
		// New York falls back on 2026-11-01 at 02:00 EDT to 01:00 EST.
		{"fall back night", overnight, ny, "2026-10-31T22:00:00-04:00", "2026-11-01T08:00:00-05:00"},
		// 01:30 happens twice; quiet ends the first time.
		{"end repeated by fall back", Window{Clock{22, 0}, Clock{1, 30}}, ny, "2026-10-31T23:00:00-04:00", "2026-11-01T01:30:00-04:00"},
		// After the clock goes back to 01:00 EST it is quiet again until the second 01:30.
		{"quiet again after fall back", Window{Clock{22, 0}, Clock{1, 30}}, ny, "2026-11-01T01:10:00-05:00", "2026-11-01T01:30:00-05:00"},
		// Lord Howe goes from 02:00 +10:30 to 02:30 +11 on 2026-10-04.
		{"half-hour shift skips end", Window{Clock{22, 0}, Clock{2, 15}}, lordHowe, "2026-10-04T01:00:00+10:30", "2026-10-04T02:30:00+11:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, want := parse(tt.t), parse(tt.want)
			if got := tt.w.NextAllowed(in, tt.loc); !got.Equal(want) {
				t.Errorf("NextAllowed(%v) = %v, want %v", in, got, want)
			}
		})
	}
}

// TestWindow_NextAllowed_MatchesMinuteWalk checks the calculated answer
// against the definition — the first instant that is not quiet — around every
// offset change of 2026 in zones with unusual rules.
func TestWindow_NextAllowed_MatchesMinuteWalk(t *testing.T) {
	t.Parallel()
	zones := []string{
		"America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago",
		"Antarctica/Troll", "Asia/Beirut", "America/Havana", "Pacific/Chatham", "Asia/Tokyo",
	}
	windows := []Window{
		DefaultSMSQuiet(),
		{Clock{22, 0}, Clock{2, 30}},
		{Clock{0, 0}, Clock{1, 0}},
		{Clock{23, 30}, Clock{0, 15}},
		{Clock{1, 0}, Clock{3, 0}},
		{Clock{12, 0}, Clock{13, 0}},
		{Clock{2, 0}, Clock{1, 59}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range zones {
		loc := mustLoad(t, name)
		for _, near := range transitions2026(loc) {
			for range 40 {
				in := near.Add(time.Duration(rng.Int64N(int64(36*time.Hour))) - 30*time.Hour)
				w := windows[rng.IntN(len(windows))]
				want := firstNotQuiet(w, in, loc)
				if got := w.NextAllowed(in, loc); !got.Equal(want) {
					t.Errorf("%s %v–%v NextAllowed(%v) = %v, want %v",
						name, w.Start, w.End, in.In(loc), got.In(loc), want.In(loc))
				}
			}
		}
	}
}

func transitions2026(loc *time.Location) []time.Time {
	var out []time.Time
	u := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, loc)
	for {
		_, next := u.ZoneBounds()
		if next.IsZero() || next.After(end) {
			break
		}
		out = append(out, next)
		u = next
	}
	if len(out) == 0 {
		out = append(out, time.Date(2026, 6, 1, 0, 0, 0, 0, loc))
	}
	return out
}

func firstNotQuiet(w Window, t time.Time, loc *time.Location) time.Time {
	if !w.Quiet(t, loc) {
		return t
	}
	for u := t.Truncate(time.Minute); ; u = u.Add(time.Minute) {
		if u.After(t) && !w.Quiet(u, loc) {
			return u
		}
	}
}
