package app

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/jobs/jobstest"
	"github.com/doorstep/doorstep/models"
)

// ownRedis gives a test a redis-server of its own, to stop and flush.
func ownRedis(t *testing.T) *jobstest.Redis {
	t.Helper()
	r, err := jobstest.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// countingFlow records how often each trigger reached it.
type countingFlow struct {
	mu   sync.Mutex
	seen map[uint64]int
}

func (f *countingFlow) Name() string    { return "counting" }
func (f *countingFlow) Kinds() []string { return []string{models.TriggerOrderPaid} }
func (f *countingFlow) Handle(_ context.Context, t models.Trigger) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[t.ID]++
	return nil
}

func (f *countingFlow) counts() (triggers, runs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.seen {
		triggers++
		runs += n
	}
	return
}

func runWorker(t *testing.T, a *App) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, RoleWorker, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDurability_RedisDownDuringIntake_NothingLost(t *testing.T) {
	t.Parallel()
	redis := ownRedis(t)
	flow := &countingFlow{seen: map[uint64]int{}}
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.RedisURL = redis.URL()
		o.Flows = append(o.Flows, flow)
		// Work handed over while Redis was down failed to enqueue and was
		// never marked dispatched: nothing here needs a quick re-dispatch,
		// and on a loaded machine a 500 ms one re-runs triggers still
		// queued (harmless for real flows, which are idempotent, but this
		// test counts runs).
		o.Dispatcher.RedispatchAfter = 10 * time.Second
	})
	e.installShop("acme.myshopify.com")
	runWorker(t, e.app)

	if err := redis.Stop(); err != nil {
		t.Fatal(err)
	}
	const n = 30
	t0 := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < n; i++ {
		start := time.Now()
		got := e.post(webhook{shop: "acme.myshopify.com", topic: "orders/paid", body: orderJSON(int64(7000+i), t0, "paid", false)})
		if got != http.StatusOK {
			t.Fatalf("webhook %d with Redis down: status %d, want 200", i, got)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("webhook %d took %s with Redis down: the ack must not wait on Redis", i, time.Since(start))
		}
	}
	if got := e.count("deliveries", "status = ?", models.DeliveryReceived); got != n {
		t.Fatalf("pending deliveries while Redis is down = %d, want %d", got, n)
	}
	if err := redis.Start(); err != nil { // back, and empty
		t.Fatal(err)
	}
	waitFor(t, "every delivery processed after Redis returns", 60*time.Second, func() bool {
		return e.count("deliveries", "status = ?", models.DeliveryProcessed) == n
	})
	if got := e.count("orders", ""); got != n {
		t.Fatalf("orders = %d, want %d", got, n)
	}
	waitFor(t, "every thank-you trigger run", 30*time.Second, func() bool {
		triggers, _ := flow.counts()
		return triggers == n && e.count("triggers", "kind = ? AND status = ?", models.TriggerOrderPaid, models.TriggerDone) == n
	})
	if triggers, runs := flow.counts(); runs != triggers {
		t.Fatalf("flow ran %d times for %d triggers, want once each", runs, triggers)
	}
}

func TestDurability_RedisFlushed_PendingWorkRedispatched(t *testing.T) {
	t.Parallel()
	redis := ownRedis(t)
	e := newEnv(t, func(c *config.Config, _ *Options) { c.RedisURL = redis.URL() })
	e.installShop("acme.myshopify.com")
	const n = 10
	t0 := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < n; i++ {
		e.post(webhook{shop: "acme.myshopify.com", topic: "orders/create", body: orderJSON(int64(8000+i), t0, "pending", false)})
	}
	// Handed to Redis, then Redis loses everything before a worker runs.
	sent, err := e.app.Dispatcher().DispatchOnce(context.Background())
	if err != nil || sent != n {
		t.Fatalf("dispatched %d, %v; want %d", sent, err, n)
	}
	if got := e.count("deliveries", "dispatched_at IS NOT NULL"); got != n {
		t.Fatalf("dispatched deliveries = %d, want %d", got, n)
	}
	if err := redis.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	runWorker(t, e.app)
	waitFor(t, "flushed deliveries re-dispatched and processed", 60*time.Second, func() bool {
		return e.count("deliveries", "status = ?", models.DeliveryProcessed) == n
	})
	if got := e.count("orders", ""); got != n {
		t.Fatalf("orders = %d, want %d", got, n)
	}
}
