package shopifytest

import (
	"context"
	"sync"
	"time"
)

// Clock is a virtual clock for throttling tests: Sleep returns at once and
// moves the clock forward by d instead. Share one between the fake
// (SetClock) and the client (shopify.Config.Clock) and a bucket that
// restores 100 points a second can be drained and refilled a hundred times
// in a test that takes a second: the fake refills by the clock, the client
// waits by it, and a client that doesn't wait gets throttled as it would
// for real. Safe for concurrent use; concurrent sleepers each advance it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Sleep advances the clock by d, unless ctx is already done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// SetClock makes the fake read time from now (token expiry, the cost
// bucket's refill, generated and touched orders' timestamps).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
	for _, sh := range s.shops {
		sh.filledAt = now()
	}
}
