package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// This file is Doorstep's own GraphQL transport for the sync queries
// (orders, counts, bulk operations, subscriptions). go-shopify's
// GraphQL.Query keeps extensions.cost on the per-call go-shopify client and
// folds every GraphQL error except THROTTLED into one opaque error, so
// MAX_COST_EXCEEDED can't be told apart and the cost of a successful answer
// is lost with the throwaway client. The POST here is the same request:
// https://{shop}/admin/api/{version}/graphql.json through apiHC, so it is
// version-pinned and goes through the BaseURL rewriting transport.

// ErrMaxCostExceeded: the query's requested cost is over Shopify's
// single-query maximum (1,000 points, answered MAX_COST_EXCEEDED) or over
// the shop's whole bucket, so it can never run: make the page smaller.
var ErrMaxCostExceeded = errors.New("shopify: query cost exceeds the maximum")

// MaxQueryCost is Shopify's single-query maximum requested cost.
const MaxQueryCost = 1000

// Clock is the time source for throttling and retry waits. The real one
// sleeps; tests may pass a virtual clock (shopifytest.Clock) shared with
// the fake so that minutes of bucket refills take no wall time.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Cost is Shopify's extensions.cost.
type Cost struct {
	RequestedQueryCost int  `json:"requestedQueryCost"`
	ActualQueryCost    *int `json:"actualQueryCost"`
	ThrottleStatus     struct {
		MaximumAvailable   float64 `json:"maximumAvailable"`
		CurrentlyAvailable float64 `json:"currentlyAvailable"`
		RestoreRate        float64 `json:"restoreRate"`
	} `json:"throttleStatus"`
}

func (c Cost) actual() int {
	if c.ActualQueryCost != nil {
		return *c.ActualQueryCost
	}
	return 0
}

// throttle keeps one cost-bucket model per shop, shared by every goroutine
// using the Client. Before a query it waits until the model says the
// estimated cost is available and reserves it; the answer's throttleStatus
// then corrects the model.
type throttle struct {
	clock Clock
	mu    sync.Mutex
	shops map[string]*bucket
}

type bucket struct {
	known            bool // a throttleStatus has been seen
	max, restore     float64
	available        float64 // at time at
	at               time.Time
	probing          bool          // while unknown, one request finds out the bucket
	probed           chan struct{} // closed when the probe ends
	reservedInFlight float64
}

type reservation struct {
	shop  string
	cost  float64
	probe bool
}

func newThrottle(clock Clock) *throttle {
	return &throttle{clock: clock, shops: map[string]*bucket{}}
}

// refill brings the model to now; callers hold t.mu.
func (t *throttle) refill(b *bucket) {
	now := t.clock.Now()
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.available = math.Min(b.max, b.available+el*b.restore)
	}
	b.at = now
}

func (t *throttle) bucket(shop string) *bucket {
	b, ok := t.shops[shop]
	if !ok {
		b = &bucket{probed: make(chan struct{})}
		t.shops[shop] = b
	}
	return b
}

// acquire waits (ctx-aware) until the shop's bucket can pay cost and
// reserves it. While the bucket is unknown, one request at a time goes out
// to learn it, so a burst of goroutines on a fresh shop can't all be
// throttled at once.
func (t *throttle) acquire(ctx context.Context, shop string, cost int) (reservation, error) {
	need := float64(cost)
	for {
		t.mu.Lock()
		b := t.bucket(shop)
		if !b.known {
			if !b.probing {
				b.probing = true
				t.mu.Unlock()
				return reservation{shop: shop, cost: need, probe: true}, nil
			}
			ch := b.probed
			t.mu.Unlock()
			select {
			case <-ctx.Done():
				return reservation{}, ctx.Err()
			case <-ch:
			}
			continue
		}
		t.refill(b)
		if need > b.max {
			max := b.max
			t.mu.Unlock()
			return reservation{}, fmt.Errorf("%w: requested cost %d is more than the shop's whole bucket (%.0f points)", ErrMaxCostExceeded, cost, max)
		}
		if b.available >= need {
			b.available -= need
			b.reservedInFlight += need
			t.mu.Unlock()
			return reservation{shop: shop, cost: need}, nil
		}
		// At least a millisecond: a sliver of a point must not spin.
		wait := max(time.Millisecond, time.Duration(math.Ceil((need-b.available)/b.restore*float64(time.Second))))
		t.mu.Unlock()
		if err := t.clock.Sleep(ctx, wait); err != nil {
			return reservation{}, err
		}
	}
}

// settle ends a reservation. With a cost extension the model pays the actual
// cost instead of the estimate and is pulled down to what Shopify reports
// (never up: other requests of this process may be in flight and not yet
// charged there). Without one (network error, HTTP error) nothing was spent.
func (t *throttle) settle(r reservation, c *Cost) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(r.shop)
	if r.probe {
		b.probing = false
		close(b.probed)
		b.probed = make(chan struct{})
	} else {
		b.reservedInFlight -= r.cost
	}
	if c == nil || c.ThrottleStatus.RestoreRate <= 0 {
		if b.known && !r.probe {
			b.available = math.Min(b.max, b.available+r.cost)
		}
		return
	}
	ts := c.ThrottleStatus
	if !b.known || r.probe {
		b.known = true
		b.max, b.restore = ts.MaximumAvailable, ts.RestoreRate
		b.available, b.at = ts.CurrentlyAvailable, t.clock.Now()
		return
	}
	t.refill(b)
	b.max, b.restore = ts.MaximumAvailable, ts.RestoreRate
	b.available += r.cost - float64(c.actual())
	// What Shopify reports already counts requests it has processed; ones
	// still in flight are reserved here only, so take it minus those.
	b.available = math.Min(b.available, math.Max(0, ts.CurrentlyAvailable-b.reservedInFlight))
	b.available = math.Min(b.available, b.max)
}

// maxAvailable is the shop's bucket size, 0 when not known yet.
func (t *throttle) maxAvailable(shop string) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b, ok := t.shops[shop]; ok && b.known {
		return b.max
	}
	return 0
}

// gqlError is one entry of "errors".
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

type gqlAnswer struct {
	Data       json.RawMessage `json:"data"`
	Errors     json.RawMessage `json:"errors"`
	Extensions struct {
		Cost *Cost `json:"cost"`
	} `json:"extensions"`
}

// errors decodes "errors", which Shopify sends as a list of objects, a
// string or an object depending on the failure.
func (a *gqlAnswer) errorList() []gqlError {
	if len(a.Errors) == 0 || string(a.Errors) == "null" {
		return nil
	}
	var list []gqlError
	if err := json.Unmarshal(a.Errors, &list); err == nil {
		return list
	}
	return []gqlError{{Message: strings.TrimSpace(string(a.Errors))}}
}

// retry schedule for 5xx, 429 and network errors.
const transientAttempts = 4

func transientDelay(attempt int) time.Duration {
	return time.Duration(250<<attempt) * time.Millisecond // 250 ms, 500 ms, 1 s, 2 s
}

// do runs one GraphQL document for one shop through the cost throttle.
// estimate is the requested cost the client computed for the document; it
// is what the model reserves before sending. It retries THROTTLED (after
// exactly the time the bucket needs), 429/5xx and network errors (a few
// times, with exponential backoff). Errors: ErrUnauthorized (401),
// ErrMaxCostExceeded, *RetryableError (transient failures that outlasted
// the retries), anything else is permanent (GraphQL errors, other 4xx).
func (c *Client) do(ctx context.Context, shop, token, doc string, vars map[string]any, estimate int, out any) (Cost, error) {
	body, err := json.Marshal(map[string]any{"query": doc, "variables": vars})
	if err != nil {
		return Cost{}, fmt.Errorf("encode graphql request: %w", err)
	}
	endpoint := fmt.Sprintf("https://%s/admin/api/%s/graphql.json", shop, c.cfg.APIVersion)
	transient := 0
	for {
		res, err := c.throttle.acquire(ctx, shop, estimate)
		if err != nil {
			return Cost{}, err
		}
		status, hdr, raw, err := c.post(ctx, endpoint, token, body)
		if err != nil {
			c.throttle.settle(res, nil)
			if ctx.Err() != nil {
				return Cost{}, ctx.Err()
			}
			if transient++; transient >= transientAttempts {
				return Cost{}, &RetryableError{Err: fmt.Errorf("graphql request: %w", err)}
			}
			if err := c.clock.Sleep(ctx, transientDelay(transient)); err != nil {
				return Cost{}, err
			}
			continue
		}
		var ans gqlAnswer
		decodeErr := json.Unmarshal(raw, &ans)
		if decodeErr == nil {
			c.throttle.settle(res, ans.Extensions.Cost)
		} else {
			c.throttle.settle(res, nil)
		}
		switch {
		case status == http.StatusUnauthorized:
			return Cost{}, fmt.Errorf("%w: HTTP 401: %s", ErrUnauthorized, snippet(raw))
		case retryableStatus(status):
			wait := retryAfter(hdr.Get("Retry-After"))
			if transient++; transient >= transientAttempts {
				return Cost{}, &RetryableError{RetryAfter: wait, Err: fmt.Errorf("HTTP %d: %s", status, snippet(raw))}
			}
			if wait <= 0 {
				wait = transientDelay(transient)
			}
			if err := c.clock.Sleep(ctx, wait); err != nil {
				return Cost{}, err
			}
			continue
		case status != http.StatusOK:
			return Cost{}, fmt.Errorf("HTTP %d: %s", status, snippet(raw))
		case decodeErr != nil:
			return Cost{}, fmt.Errorf("decode graphql answer: %w", decodeErr)
		}
		cost := Cost{}
		if ans.Extensions.Cost != nil {
			cost = *ans.Extensions.Cost
		}
		if errs := ans.errorList(); len(errs) > 0 {
			codes := map[string]bool{}
			msgs := make([]string, len(errs))
			for i, e := range errs {
				codes[e.Extensions.Code] = true
				msgs[i] = e.Message
			}
			msg := strings.Join(msgs, "; ")
			switch {
			case codes["THROTTLED"]:
				wait, err := throttledWait(ans.Extensions.Cost)
				if err != nil {
					return cost, err
				}
				if err := c.clock.Sleep(ctx, wait); err != nil {
					return cost, err
				}
				continue
			case codes["MAX_COST_EXCEEDED"]:
				return cost, fmt.Errorf("%w: %s", ErrMaxCostExceeded, msg)
			}
			return cost, fmt.Errorf("graphql errors: %s", msg)
		}
		if out != nil {
			if err := json.Unmarshal(ans.Data, out); err != nil {
				return cost, fmt.Errorf("decode graphql data: %w", err)
			}
		}
		return cost, nil
	}
}

// throttledWait is how long a THROTTLED query must wait: exactly the time
// the bucket needs to restore the missing points. A query the bucket can
// never hold is an error, not a wait.
func throttledWait(c *Cost) (time.Duration, error) {
	if c == nil || c.ThrottleStatus.RestoreRate <= 0 {
		return time.Second, nil
	}
	ts := c.ThrottleStatus
	if float64(c.RequestedQueryCost) > ts.MaximumAvailable {
		return 0, fmt.Errorf("%w: requested cost %d is more than the shop's whole bucket (%.0f points)", ErrMaxCostExceeded, c.RequestedQueryCost, ts.MaximumAvailable)
	}
	missing := float64(c.RequestedQueryCost) - ts.CurrentlyAvailable
	if missing <= 0 {
		return 0, nil
	}
	return time.Duration(missing / ts.RestoreRate * float64(time.Second)), nil
}

func (c *Client) post(ctx context.Context, endpoint, token string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := c.apiHC.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, raw, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
