package bench

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Tally is the exact ledger of one load run against one server: every
// request sent is either acked (200) or rejected (any other status or a
// transport error), and the event ids of each side are kept so the rows
// can be checked against them afterwards.
type Tally struct {
	Sent, Acked, Rejected int64
	Dups                  int64 // copies of an earlier request among Sent
	Status                map[int]int64
	Errors                map[string]int64 // transport errors by message
	Lat                   []time.Duration  // of acked requests
	Start, End            time.Time        // first send, last answer

	acked    map[string]int64 // event id → order id
	rejected map[string]int64 // event ids with no acked copy (yet)
}

func newTally() *Tally {
	return &Tally{Status: map[int]int64{}, Errors: map[string]int64{}, acked: map[string]int64{}, rejected: map[string]int64{}}
}

func (t *Tally) record(r *Request, dup bool, status int, err error, lat time.Duration, start, end time.Time) {
	t.Sent++
	if dup {
		t.Dups++
	}
	if t.Start.IsZero() || start.Before(t.Start) {
		t.Start = start
	}
	if end.After(t.End) {
		t.End = end
	}
	if err == nil && status == http.StatusOK {
		t.Acked++
		t.Lat = append(t.Lat, lat)
		t.acked[r.EventID] = r.Order
		delete(t.rejected, r.EventID)
		t.Status[status]++
		return
	}
	t.Rejected++
	if err != nil {
		msg := err.Error()
		if len(msg) > 120 {
			msg = msg[:120]
		}
		t.Errors[msg]++
	} else {
		t.Status[status]++
	}
	if _, ok := t.acked[r.EventID]; !ok {
		t.rejected[r.EventID] = r.Order
	}
}

// merge folds o into t.
func (t *Tally) merge(o *Tally) {
	t.Sent += o.Sent
	t.Acked += o.Acked
	t.Rejected += o.Rejected
	t.Dups += o.Dups
	for k, v := range o.Status {
		t.Status[k] += v
	}
	for k, v := range o.Errors {
		t.Errors[k] += v
	}
	t.Lat = append(t.Lat, o.Lat...)
	if !o.Start.IsZero() && (t.Start.IsZero() || o.Start.Before(t.Start)) {
		t.Start = o.Start
	}
	if o.End.After(t.End) {
		t.End = o.End
	}
	for k, v := range o.acked {
		t.acked[k] = v
		delete(t.rejected, k)
	}
	for k, v := range o.rejected {
		if _, ok := t.acked[k]; !ok {
			t.rejected[k] = v
		}
	}
}

// Balanced: sent = acked + rejected.
func (t *Tally) Balanced() bool { return t.Sent == t.Acked+t.Rejected }

// Rate is acked requests per second between the first send and the last answer.
func (t *Tally) Rate() float64 {
	d := t.End.Sub(t.Start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(t.Acked) / d
}

// Quantile of the acked latencies (q in [0,1]).
func (t *Tally) Quantile(q float64) time.Duration {
	if len(t.Lat) == 0 {
		return 0
	}
	if !sort.SliceIsSorted(t.Lat, func(i, j int) bool { return t.Lat[i] < t.Lat[j] }) {
		sort.Slice(t.Lat, func(i, j int) bool { return t.Lat[i] < t.Lat[j] })
	}
	i := int(q*float64(len(t.Lat))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(t.Lat) {
		i = len(t.Lat) - 1
	}
	return t.Lat[i]
}

// client sends webhooks to one URL over keep-alive connections.
type client struct {
	url  string
	http *http.Client
}

func newClient(url string, conns int) *client {
	tr := &http.Transport{
		Proxy:               nil, // 127.0.0.1 only, never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  true,
	}
	return &client{url: url, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

func (c *client) send(ctx context.Context, shop string, r *Request) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(r.Body))
	if err != nil {
		return 0, err
	}
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["X-Shopify-Hmac-Sha256"] = []string{r.HMAC}
	h["X-Shopify-Topic"] = []string{r.Topic}
	h["X-Shopify-Shop-Domain"] = []string{shop}
	h["X-Shopify-Event-Id"] = []string{r.EventID}
	h["X-Shopify-Webhook-Id"] = []string{r.WebhookID}
	h["X-Shopify-Api-Version"] = []string{"2026-07"}
	h["X-Shopify-Triggered-At"] = []string{r.TriggeredAt}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// source hands out requests: a new distinct order, or (with probability
// dup) an exact copy of one this worker sent recently, as Shopify's
// retries and double deliveries are.
type source struct {
	gen    *Generator
	dup    float64
	rng    *rand.Rand
	recent []*Request
	next   int
}

func newSource(gen *Generator, dup float64, seed uint64) *source {
	return &source{gen: gen, dup: dup, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), recent: make([]*Request, 0, 64)}
}

func (s *source) take() (*Request, bool) {
	if len(s.recent) > 0 && s.rng.Float64() < s.dup {
		return s.recent[s.rng.IntN(len(s.recent))], true
	}
	r := s.gen.Next()
	if len(s.recent) < cap(s.recent) {
		s.recent = append(s.recent, &r)
	} else {
		s.recent[s.next] = &r
		s.next = (s.next + 1) % len(s.recent)
	}
	return &r, false
}

// closedLoop runs clients workers, each sending its next webhook as soon as
// the previous one is answered, until d has passed.
func closedLoop(ctx context.Context, c *client, shop string, gen *Generator, clients int, dup float64, d time.Duration) *Tally {
	deadline := time.Now().Add(d)
	tallies := make([]*Tally, clients)
	var wg sync.WaitGroup
	for i := range clients {
		tallies[i] = newTally()
		wg.Add(1)
		go func(t *Tally, src *source) {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				r, isDup := src.take()
				start := time.Now()
				status, err := c.send(ctx, shop, r)
				end := time.Now()
				t.record(r, isDup, status, err, end.Sub(start), start, end)
			}
		}(tallies[i], newSource(gen, dup, uint64(time.Now().UnixNano())+uint64(i)))
	}
	wg.Wait()
	out := newTally()
	for _, t := range tallies {
		out.merge(t)
	}
	return out
}

// openLoop sends rate webhooks per second for d on a fixed schedule,
// whatever the answers do, through clients connections. Latency runs from
// each request's scheduled time, so a stalled server is charged for the
// requests that queued behind it (no coordinated omission).
func openLoop(ctx context.Context, c *client, shop string, gen *Generator, clients int, dup float64, rate float64, d time.Duration) *Tally {
	total := int(rate * d.Seconds())
	if total < 1 {
		total = 1
	}
	interval := time.Duration(float64(time.Second) / rate)
	tickets := make(chan time.Time, total)
	start := time.Now()
	go func() {
		defer close(tickets)
		next := start
		for i := 0; i < total; {
			now := time.Now()
			for ; i < total && !next.After(now); i++ {
				tickets <- next
				next = next.Add(interval)
			}
			if i < total {
				select {
				case <-ctx.Done():
					return
				case <-time.After(next.Sub(now)):
				}
			}
		}
	}()
	tallies := make([]*Tally, clients)
	var wg sync.WaitGroup
	for i := range clients {
		tallies[i] = newTally()
		wg.Add(1)
		go func(t *Tally, src *source) {
			defer wg.Done()
			for sched := range tickets {
				if ctx.Err() != nil {
					return
				}
				r, isDup := src.take()
				status, err := c.send(ctx, shop, r)
				end := time.Now()
				t.record(r, isDup, status, err, end.Sub(sched), sched, end)
			}
		}(tallies[i], newSource(gen, dup, uint64(time.Now().UnixNano())+uint64(i)*7919))
	}
	wg.Wait()
	out := newTally()
	for _, t := range tallies {
		out.merge(t)
	}
	return out
}
