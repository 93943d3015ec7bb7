package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// scrape fetches /metrics and returns the exposition text.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// series returns the value of one series in an exposition, and whether it
// is there. labels are matched exactly (the exposition sorts them).
func series(text, name string, labels map[string]string) (float64, bool) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	if len(keys) > 0 {
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%s=%q", k, labels[k])
		}
		b.WriteString("}")
	}
	prefix := b.String() + " "
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(prefix):]), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func wantSeries(t *testing.T, text, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := series(text, name, labels)
	if !ok {
		t.Errorf("series %s%v missing from /metrics", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func TestMetrics_WebhookOutcomesByTopic_TasksAndQueues(t *testing.T) {
	t.Parallel()
	redis := ownRedis(t)
	e := newEnv(t, func(c *config.Config, _ *Options) { c.RedisURL = redis.URL() })
	e.installShop("acme.myshopify.com")
	t0 := time.Now().UTC().Truncate(time.Second)

	paid := webhook{shop: "acme.myshopify.com", topic: "orders/paid", eventID: "ev-paid", body: orderJSON(9001, t0, "paid", false)}
	for i, want := range []int{200, 200} { // the second is a duplicate
		if got := e.post(paid); got != want {
			t.Fatalf("post %d: %d, want %d", i, got, want)
		}
	}
	if got := e.post(webhook{shop: "acme.myshopify.com", topic: "orders/create", body: orderJSON(9002, t0, "pending", false)}); got != 200 {
		t.Fatalf("orders/create: %d", got)
	}
	if got := e.post(webhook{shop: "acme.myshopify.com", topic: "orders/paid", body: orderJSON(9003, t0, "paid", false), secret: "wrong"}); got != 401 {
		t.Fatalf("bad signature: %d, want 401", got)
	}
	// An attacker's made-up topic must not become a label value.
	if got := e.post(webhook{shop: "acme.myshopify.com", topic: "evil/" + strconv.Itoa(int(t0.Unix())), body: []byte(`{}`), secret: "wrong"}); got != 401 {
		t.Fatalf("bad signature, odd topic: %d, want 401", got)
	}
	if got := e.post(webhook{shop: "acme.myshopify.com", topic: "orders/updated", body: bytes.Repeat([]byte("x"), int(e.cfg.WebhookMaxBytes)+1)}); got != 413 {
		t.Fatalf("too large: %d, want 413", got)
	}

	// Process the deliveries through asynq, plus one poison task.
	runWorker(t, e.app)
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: redis.Addr})
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask(jobs.TypeDeliveryProcess, []byte("not json")), asynq.Queue(jobs.QueueIntake)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deliveries processed and the poison task skipped", 30*time.Second, func() bool {
		m := scrape(t, e.srv.URL)
		ok, _ := series(m, "doorstep_task_results_total", map[string]string{"type": jobs.TypeDeliveryProcess, "result": jobs.ResultOK})
		skipped, _ := series(m, "doorstep_task_results_total", map[string]string{"type": jobs.TypeDeliveryProcess, "result": jobs.ResultSkipped})
		var processed int64
		e.app.db.Model(&models.Delivery{}).Where("status = ?", models.DeliveryProcessed).Count(&processed)
		// The two deliveries may share one batch task.
		return ok >= 1 && skipped == 1 && processed == 2
	})

	m := scrape(t, e.srv.URL)
	const deliveries = "doorstep_webhook_deliveries_total"
	wantSeries(t, m, deliveries, map[string]string{"topic": "orders/paid", "outcome": "accepted"}, 1)
	wantSeries(t, m, deliveries, map[string]string{"topic": "orders/paid", "outcome": "duplicate"}, 1)
	wantSeries(t, m, deliveries, map[string]string{"topic": "orders/create", "outcome": "accepted"}, 1)
	wantSeries(t, m, deliveries, map[string]string{"topic": "orders/paid", "outcome": "bad_signature"}, 1)
	wantSeries(t, m, deliveries, map[string]string{"topic": "unknown", "outcome": "bad_signature"}, 1)
	wantSeries(t, m, deliveries, map[string]string{"topic": "orders/updated", "outcome": "too_large"}, 1)
	if strings.Contains(m, "evil/") {
		t.Error("an unverified topic became a label value")
	}
	wantSeries(t, m, "doorstep_webhook_ack_seconds_count", map[string]string{"code": "200"}, 3)
	wantSeries(t, m, "doorstep_webhook_ack_seconds_count", map[string]string{"code": "401"}, 2)
	wantSeries(t, m, "doorstep_webhook_ack_seconds_count", map[string]string{"code": "413"}, 1)
	if n, ok := series(m, "doorstep_dispatch_lag_seconds_count", map[string]string{"work": "delivery"}); !ok || n < 2 {
		t.Errorf("dispatch lag observations for deliveries = %v (present %v), want >= 2", n, ok)
	}
	okTasks, _ := series(m, "doorstep_task_results_total", map[string]string{"type": jobs.TypeDeliveryProcess, "result": jobs.ResultOK})
	if n, ok := series(m, "doorstep_task_duration_seconds_count", map[string]string{"type": jobs.TypeDeliveryProcess}); !ok || n != okTasks+1 {
		t.Errorf("task duration observations = %v (present %v), want one per task (%v ok + 1 skipped)", n, ok, okTasks)
	}
	// asynq's queue collector, reading the same Redis.
	if _, ok := series(m, "asynq_queue_size", map[string]string{"queue": jobs.QueueIntake}); !ok {
		t.Error("asynq_queue_size{queue=intake} missing")
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if !strings.Contains(m, "\n"+name+" ") {
			t.Errorf("%s missing", name)
		}
	}
	// The registry is the App's own: nothing lands in the global default.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "doorstep_") || strings.HasPrefix(mf.GetName(), "asynq_") {
			t.Errorf("%s registered on the global default registry", mf.GetName())
		}
	}
}

func TestRequestID_GeneratedEchoedOrKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	get := func(id string) string {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/healthz", nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Request-Id")
	}
	a, b := get(""), get("")
	if len(a) < 16 || a == b {
		t.Fatalf("generated request ids %q, %q: want long and distinct", a, b)
	}
	if got := get("lb-7f3a-42"); got != "lb-7f3a-42" {
		t.Fatalf("a proxy's request id became %q, want it kept", got)
	}
	if got := get(`x" injected="1`); got == `x" injected="1` || len(got) < 16 {
		t.Fatalf("a malformed request id was kept: %q", got)
	}
}

// getTimed GETs url and returns status, body and how long it took.
func getTimed(t *testing.T, url string) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start)
}

func TestReadyz_RedisStopped_503Quickly(t *testing.T) {
	t.Parallel()
	redis := ownRedis(t)
	e := newEnv(t, func(c *config.Config, _ *Options) { c.RedisURL = redis.URL() })
	if code, body, _ := getTimed(t, e.srv.URL+"/readyz"); code != 200 {
		t.Fatalf("/readyz with everything up: %d %s", code, body)
	}
	if err := redis.Stop(); err != nil {
		t.Fatal(err)
	}
	code, body, took := getTimed(t, e.srv.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"redis"`) || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("/readyz with Redis stopped: %d %s, want 503 naming redis", code, body)
	}
	if took > 1500*time.Millisecond {
		t.Fatalf("/readyz took %s with Redis stopped, want within ~1 s", took)
	}
	// The intake does not care.
	if got := e.post(webhook{shop: "acme.myshopify.com", topic: "orders/paid", body: orderJSON(1, time.Now(), "paid", false)}); got != 200 {
		t.Fatalf("webhook with Redis stopped: %d, want 200", got)
	}
}

// blackHole accepts TCP connections and never answers: a Redis behind a
// dead network path, which hangs instead of refusing.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestRedisBlackHoled_StallsNothing(t *testing.T) {
	t.Parallel()
	addr := blackHole(t)
	e := newEnv(t, func(c *config.Config, _ *Options) { c.RedisURL = "redis://" + addr + "/0" })
	e.installShop("acme.myshopify.com")
	runWorker(t, e.app) // its dispatcher keeps trying; nothing may wait on it

	t0 := time.Now().UTC()
	for i := 0; i < 10; i++ {
		start := time.Now()
		if got := e.post(webhook{shop: "acme.myshopify.com", topic: "orders/paid", body: orderJSON(int64(500+i), t0, "paid", false)}); got != 200 {
			t.Fatalf("webhook %d with Redis black-holed: %d, want 200", i, got)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("webhook %d took %s with Redis black-holed", i, took)
		}
	}
	code, body, took := getTimed(t, e.srv.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"redis"`) {
		t.Fatalf("/readyz with Redis black-holed: %d %s, want 503", code, body)
	}
	if took > 1500*time.Millisecond {
		t.Fatalf("/readyz took %s with Redis black-holed, want within ~1 s", took)
	}
	start := time.Now()
	m := scrape(t, e.srv.URL) // the queue collector fails; the rest is served
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("/metrics took %s with Redis black-holed", took)
	}
	wantSeries(t, m, "doorstep_webhook_deliveries_total", map[string]string{"topic": "orders/paid", "outcome": "accepted"}, 10)
}

// adminDB connects to the server the test databases live on, outside them.
func adminDB(t *testing.T) *models.Store {
	t.Helper()
	db, err := models.Open(context.Background(), config.Config{DatabaseURL: modelstest.BaseURL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	return models.NewStore(db, nil)
}

// postTimed sends a signed webhook and returns status, body and duration.
func (e *testEnv) postTimed(w webhook) (int, string, time.Duration) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/webhooks/shopify", bytes.NewReader(w.body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("X-Shopify-Hmac-Sha256", shopifytest.SignWebhook(e.fake.APISecret, w.body))
	req.Header.Set("X-Shopify-Topic", w.topic)
	req.Header.Set("X-Shopify-Shop-Domain", w.shop)
	req.Header.Set("X-Shopify-Event-Id", w.eventID)
	req.Header.Set("X-Shopify-Webhook-Id", "wh-"+w.eventID)
	req.Header.Set("X-Shopify-API-Version", "2026-07")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start)
}

func wantUnavailable(t *testing.T, what string, code int, body string, took time.Duration) {
	t.Helper()
	var shape struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &shape) != nil || shape.Error.Code != "unavailable" {
		t.Fatalf("%s: %d %s, want 503 with the error shape", what, code, body)
	}
	if took > 2*time.Second {
		t.Fatalf("%s: answered after %s, want within 2 s", what, took)
	}
}

func TestIntake_PostgresGone_503Within2s(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t0 := time.Now().UTC()
	if code, body, _ := e.postTimed(webhook{shop: "acme.myshopify.com", topic: "orders/paid", eventID: "a", body: orderJSON(1, t0, "paid", false)}); code != 200 {
		t.Fatalf("webhook with Postgres up: %d %s", code, body)
	}
	u, err := url.Parse(e.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin := adminDB(t).DB()
	if err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?", name).Error; err != nil {
		t.Fatal(err)
	}
	if err := admin.Exec(`DROP DATABASE "` + name + `" WITH (FORCE)`).Error; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // dead pooled connections first, then failed dials
		code, body, took := e.postTimed(webhook{shop: "acme.myshopify.com", topic: "orders/paid", eventID: "b" + strconv.Itoa(i), body: orderJSON(2, t0, "paid", false)})
		wantUnavailable(t, fmt.Sprintf("webhook %d with the database gone", i), code, body, took)
	}
	code, body, took := getTimed(t, e.srv.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"database"`) || took > 1500*time.Millisecond {
		t.Fatalf("/readyz with the database gone: %d %s after %s, want 503 naming the database within ~1 s", code, body, took)
	}
}

func TestIntake_PostgresStalled_503Within2s_ThenRecovers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t0 := time.Now().UTC()
	// Another session holds the deliveries table: the INSERT waits, as it
	// would on a database that stopped answering.
	db, err := models.Open(context.Background(), config.Config{DatabaseURL: e.cfg.DatabaseURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	tx := db.Begin()
	if err := tx.Exec("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE").Error; err != nil {
		t.Fatal(err)
	}
	code, body, took := e.postTimed(webhook{shop: "acme.myshopify.com", topic: "orders/paid", eventID: "s1", body: orderJSON(3, t0, "paid", false)})
	wantUnavailable(t, "webhook with the deliveries table locked", code, body, took)
	if err := tx.Rollback().Error; err != nil {
		t.Fatal(err)
	}
	// Shopify retries the same delivery: now it is stored, once.
	for i := 0; i < 2; i++ {
		if code, body, _ := e.postTimed(webhook{shop: "acme.myshopify.com", topic: "orders/paid", eventID: "s1", body: orderJSON(3, t0, "paid", false)}); code != 200 {
			t.Fatalf("retry %d after the stall: %d %s", i, code, body)
		}
	}
	if got := e.count("deliveries", "event_id = ?", "s1"); got != 1 {
		t.Fatalf("deliveries stored = %d, want 1", got)
	}
}

// TestShutdown_SIGTERMUnderLoad_No5xx runs the whole app (web and
// workers) on a real port, drives signed webhooks at it from several
// clients, and cancels its context (what SIGTERM does in main) mid-load.
// Every answer must be a 200: a refused connection once the listener has
// closed is expected, a 5xx is a failure. Every acked webhook is stored.
func TestShutdown_SIGTERMUnderLoad_No5xx(t *testing.T) {
	t.Parallel()
	redis := ownRedis(t)
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.RedisURL = redis.URL()
		c.Port = 0
		o.ListenHost = "127.0.0.1"
	})
	e.installShop("acme.myshopify.com")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	runErr := make(chan error, 1)
	go func() { runErr <- e.app.Run(ctx, RoleAll, func(addr string) { addrc <- addr }) }()
	var base string
	select {
	case addr := <-addrc:
		base = "http://" + addr
	case err := <-runErr:
		t.Fatalf("Run: %v", err)
	}

	const clients = 8
	var (
		stop       atomic.Bool
		sent       atomic.Int64
		refused    atomic.Int64 // the listener is closed: fine
		cut        atomic.Int64 // a kept-alive connection closed under a request: fine (not acked)
		mu         sync.Mutex
		acked      []string
		bad        []string
		wg         sync.WaitGroup
		t0         = time.Now().UTC().Truncate(time.Second)
		transport  = &http.Transport{MaxIdleConnsPerHost: clients}
		httpClient = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	)
	defer transport.CloseIdleConnections()
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := int64(g*1_000_000 + i)
				eventID := "load-" + strconv.FormatInt(id, 10)
				body := orderJSON(10_000+id, t0, "paid", false)
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/shopify", bytes.NewReader(body))
				req.Header.Set("X-Shopify-Hmac-Sha256", shopifytest.SignWebhook(e.fake.APISecret, body))
				req.Header.Set("X-Shopify-Topic", "orders/paid")
				req.Header.Set("X-Shopify-Shop-Domain", "acme.myshopify.com")
				req.Header.Set("X-Shopify-Event-Id", eventID)
				req.Header.Set("X-Shopify-Webhook-Id", "wh-"+eventID)
				req.Header.Set("X-Shopify-API-Version", "2026-07")
				sent.Add(1)
				resp, err := httpClient.Do(req)
				if err != nil {
					if errors.Is(err, syscall.ECONNREFUSED) {
						refused.Add(1)
						time.Sleep(5 * time.Millisecond)
					} else {
						cut.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusOK {
					acked = append(acked, eventID)
				} else {
					bad = append(bad, fmt.Sprintf("%s: %d", eventID, resp.StatusCode))
				}
				mu.Unlock()
			}
		}(g)
	}

	// Load for a while, with workers processing, then "SIGTERM".
	waitFor(t, "load under way", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200
	})
	cancel()
	var err error
	select {
	case err = <-runErr:
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60 s of the cancel")
	}
	// Keep hammering a moment after Run returned: only refusals now.
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	t.Logf("sent %d: acked %d, refused after close %d, connection cut %d, other %d",
		sent.Load(), len(acked), refused.Load(), cut.Load(), len(bad))
	if len(bad) > 0 {
		t.Fatalf("%d answers were not 200 during shutdown, e.g. %v", len(bad), bad[:min(len(bad), 5)])
	}
	if refused.Load() == 0 {
		t.Fatal("no request was refused: the load did not outlive the listener, so the test proved nothing")
	}

	// Run closed the App's pools; look with a connection of our own.
	db, err := models.Open(context.Background(), config.Config{DatabaseURL: e.cfg.DatabaseURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	stored := map[string]bool{}
	for chunk := range slices.Chunk(acked, 1000) {
		var ids []string
		if err := db.Model(&models.Delivery{}).Where("event_id IN ?", chunk).Pluck("event_id", &ids).Error; err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			stored[id] = true
		}
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("webhook %s was acked with 200 but is not stored", id)
		}
	}
	var failed int64
	if err := db.Model(&models.Delivery{}).Where("status = ?", models.DeliveryFailed).Count(&failed).Error; err != nil {
		t.Fatal(err)
	}
	if failed != 0 {
		t.Fatalf("%d deliveries failed: shutdown cut tasks short", failed)
	}
}

func TestShutdown_DrainDelay_NotReadyButServing(t *testing.T) {
	t.Parallel()
	redis := ownRedis(t)
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.RedisURL = redis.URL()
		c.Port = 0
		o.ListenHost = "127.0.0.1"
		o.DrainDelay = 2 * time.Second
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	runErr := make(chan error, 1)
	go func() { runErr <- e.app.Run(ctx, RoleAll, func(addr string) { addrc <- addr }) }()
	base := "http://" + <-addrc
	if code, body, _ := getTimed(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz before shutdown: %d %s", code, body)
	}
	cancel()
	waitFor(t, "/readyz to turn 503", 2*time.Second, func() bool {
		code, _, _ := getTimed(t, base+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	// Still serving webhooks while the load balancer catches up.
	e.srv.URL = base
	if got := e.post(webhook{shop: "acme.myshopify.com", topic: "orders/paid", body: orderJSON(77, time.Now(), "paid", false)}); got != 200 {
		t.Fatalf("webhook during the drain delay: %d, want 200", got)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("after Run returned: %v, want connection refused", err)
	}
}

func TestRedisTimeouts_SetOnEveryKindOfConnOpt(t *testing.T) {
	for _, uri := range []string{"redis://127.0.0.1:6379/0", "rediss://user:pw@example.com:6380/1", "redis-socket:///tmp/redis.sock", "redis-sentinel://10.0.0.1:26379?master=mymaster"} {
		opt, err := asynq.ParseRedisURI(uri)
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		var dial, read, write time.Duration
		switch v := withRedisTimeouts(opt).(type) {
		case asynq.RedisClientOpt:
			dial, read, write = v.DialTimeout, v.ReadTimeout, v.WriteTimeout
		case asynq.RedisFailoverClientOpt:
			dial, read, write = v.DialTimeout, v.ReadTimeout, v.WriteTimeout
		default:
			t.Fatalf("%s: unexpected %T", uri, v)
		}
		if dial != redisDialTimeout || read != redisIOTimeout || write != redisIOTimeout {
			t.Errorf("%s: timeouts %s/%s/%s, want %s/%s/%s", uri, dial, read, write, redisDialTimeout, redisIOTimeout, redisIOTimeout)
		}
	}
	c := withRedisTimeouts(&asynq.RedisClusterClientOpt{Addrs: []string{"a:1"}}).(asynq.RedisClusterClientOpt)
	if c.DialTimeout != redisDialTimeout || c.ReadTimeout != redisIOTimeout {
		t.Errorf("cluster: %+v", c)
	}
}
