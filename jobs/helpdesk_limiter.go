package jobs

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

// Helpdesk APIs are rate-limited per account, and every worker process
// calls them, so the limiter lives in Redis: one key per connection
// holding the earliest time the next call may start (GCRA without burst).
// A call that would wait a little reserves its slot and sleeps; one that
// would wait longer is not made, and its task comes back later
// (*Throttled), so a burst of tickets for one desk never holds every
// worker.

// deskInterval is the spacing of calls to one helpdesk account.
//
//   - Gorgias: 2 requests/s (../shared/PLATFORMS.md).
//   - Zendesk: the smallest plan allows 200 requests/min; 3/s stays under
//     it. Unverified against the account's actual plan.
//   - Freshdesk: trial accounts allow 50 requests/min, paid plans more;
//     one call per 1.2 s stays under the smallest. Unverified.
var deskInterval = map[helpdesk.Kind]time.Duration{
	helpdesk.Gorgias:   500 * time.Millisecond,
	helpdesk.Zendesk:   time.Second / 3,
	helpdesk.Freshdesk: 1200 * time.Millisecond,
}

// DeskInterval is the spacing of calls to a desk of a kind; an unknown
// kind gets the slowest.
func DeskInterval(kind string) time.Duration {
	if d, ok := deskInterval[helpdesk.Kind(kind)]; ok {
		return d
	}
	return deskInterval[helpdesk.Freshdesk]
}

// Limiter spaces calls per key across processes through Redis.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	close  bool
}

// NewLimiter uses rdb (not closed by Close).
func NewLimiter(rdb redis.UniversalClient) *Limiter {
	return &Limiter{rdb: rdb, prefix: "doorstep:limit:"}
}

// NewRedisLimiter opens its own client to the Redis asynq uses; Close
// closes it.
func NewRedisLimiter(opt asynq.RedisConnOpt) (*Limiter, error) {
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("limiter: %T does not make a go-redis client", opt)
	}
	return &Limiter{rdb: rdb, prefix: "doorstep:limit:", close: true}, nil
}

// Close closes the client NewRedisLimiter opened.
func (l *Limiter) Close() error {
	if l.close {
		return l.rdb.Close()
	}
	return nil
}

// reserveScript is GCRA with a burst of one, in milliseconds of the Redis
// server's clock (so workers on hosts with skewed clocks agree;
// milliseconds, because Redis turns Lua numbers into strings with 14
// significant digits). KEYS[1]: the key. ARGV[1]: interval, ARGV[2]: the
// longest wait to reserve. Returns {1, wait} when the caller has a slot in
// wait ms, {0, wait} when the slot is further off than ARGV[2] (and
// nothing was reserved).
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local maxwait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > maxwait then
  return {0, wait}
end
local nexttat = tat + interval
redis.call('SET', KEYS[1], nexttat, 'PX', nexttat - now + 1000)
return {1, wait}
`)

// Reserve asks for a call slot under key, one per interval. ok: the slot
// is the caller's in wait (sleep, then call). Not ok: the next slot is
// further off than maxWait, in wait, and nothing was reserved.
func (l *Limiter) Reserve(ctx context.Context, key string, interval, maxWait time.Duration) (wait time.Duration, ok bool, err error) {
	res, err := reserveScript.Run(ctx, l.rdb, []string{l.prefix + key}, interval.Milliseconds(), maxWait.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("limiter %s: %w", key, err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("limiter %s: unexpected answer %v", key, res)
	}
	return time.Duration(res[1]) * time.Millisecond, res[0] == 1, nil
}

// Throttled is returned (wrapped) by a limited HTTP call that was not made
// because the connection's next slot is RetryAfter away.
type Throttled struct {
	RetryAfter time.Duration
}

func (e *Throttled) Error() string {
	return "helpdesk calls throttled by doorstep, next slot in " + e.RetryAfter.String()
}

// limitedTransport makes every request through it take a slot of the
// connection's limiter first.
type limitedTransport struct {
	base     http.RoundTripper
	lim      *Limiter
	key      string
	interval time.Duration
	maxWait  time.Duration
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	wait, ok, err := t.lim.Reserve(req.Context(), t.key, t.interval, t.maxWait)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Throttled{RetryAfter: wait}
	}
	if wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
	}
	return t.base.RoundTrip(req)
}

// limitedClient is base (nil: a client with a 30 s timeout) with every
// call spaced by the connection's limiter.
func (l *Limiter) limitedClient(base *http.Client, connectionID uint64, kind string, maxWait time.Duration) *http.Client {
	c := &http.Client{Timeout: 30 * time.Second}
	if base != nil {
		c = &http.Client{Timeout: base.Timeout, Jar: base.Jar, CheckRedirect: base.CheckRedirect, Transport: base.Transport}
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	interval := DeskInterval(kind)
	// A ticket is two calls (the dedup lookup, then the create): a task
	// must be able to wait for its second slot, or it would be sent back
	// after every lookup and never get to create.
	maxWait = max(maxWait, 2*interval)
	c.Transport = &limitedTransport{base: rt, lim: l, key: "helpdesk:" + strconv.FormatUint(connectionID, 10),
		interval: interval, maxWait: maxWait}
	return c
}
