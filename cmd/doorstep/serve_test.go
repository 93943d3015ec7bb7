package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
)

const childEnv = "DOORSTEP_TEST_SERVE_CHILD"

// TestServeChildProcess is not a test: it is `doorstep serve` inside the
// test binary, started by TestServe_SIGTERMUnderLoad so a real signal can be
// sent to a real process.
func TestServeChildProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process for TestServe_SIGTERMUnderLoad")
	}
	os.Args = []string{"doorstep", "serve"}
	main() // exits non-zero on error; returns after a clean shutdown
}

// serveEnv is a complete serve configuration on the embedded stores (a
// SQLite file in dir, in-process Redis), so no service is needed.
func serveEnv(dir string, port int) map[string]string {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	return map[string]string{
		"DATABASE_URL": "", "REDIS_URL": "",
		"DOORSTEP_SQLITE_PATH":    filepath.Join(dir, "doorstep.db"),
		"PORT":                    strconv.Itoa(port),
		"APP_URL":                 "https://doorstep.test",
		"SHOPIFY_API_KEY":         "key",
		"SHOPIFY_API_SECRET":      "secret",
		"DOORSTEP_ENCRYPTION_KEY": key,
		"LOG_LEVEL":               "info",
	}
}

func signedWebhook(t *testing.T, base, eventID string) *http.Request {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"id":%s,"name":"#1","email":"ana@example.com","currency":"EUR","total_price":"10.00","financial_status":"paid","updated_at":"2026-01-02T03:04:05Z","created_at":"2026-01-02T03:04:05Z","line_items":[]}`,
		strings.TrimPrefix(eventID, "ev-")))
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write(body)
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/shopify", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-Shopify-Topic", "orders/paid")
	req.Header.Set("X-Shopify-Shop-Domain", "acme.myshopify.com")
	req.Header.Set("X-Shopify-Event-Id", eventID)
	req.Header.Set("X-Shopify-Webhook-Id", "wh-"+eventID)
	req.Header.Set("X-Shopify-API-Version", "2026-07")
	return req
}

// TestServe_SIGTERMUnderLoad starts `doorstep serve` as a process, drives
// signed webhooks at it from several clients, and sends it SIGTERM
// mid-load. No answer may be a 5xx (a refused connection once the listener
// has closed is expected), the process exits 0, and every acked webhook is
// in the database.
func TestServe_SIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	port := freePort(t)
	env := serveEnv(dir, port)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("serve exited before it was ready: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 60 s\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	const clients = 6
	var (
		stop      atomic.Bool
		refused   atomic.Int64
		cut       atomic.Int64
		mu        sync.Mutex
		acked     []string
		bad       []string
		noReqID   atomic.Int64
		wg        sync.WaitGroup
		transport = &http.Transport{MaxIdleConnsPerHost: clients}
		client    = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	)
	defer transport.CloseIdleConnections()
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				eventID := "ev-" + strconv.Itoa(1_000_000*(g+1)+i)
				resp, err := client.Do(signedWebhook(t, base, eventID))
				if err != nil {
					if errors.Is(err, syscall.ECONNREFUSED) {
						refused.Add(1)
						time.Sleep(5 * time.Millisecond)
					} else {
						cut.Add(1) // a kept-alive connection closed under us: not acked
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.Header.Get("X-Request-Id") == "" {
					noReqID.Add(1)
				}
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
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 {
			break
		}
		if time.Now().After(deadline) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("load never got going: %d acked, %v\n%s", n, bad, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The series are served before the signal.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `doorstep_webhook_deliveries_total{outcome="accepted",topic="orders/paid"}`) {
		t.Errorf("/metrics lacks the accepted deliveries series:\n%.2000s", metrics)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	select {
	case exitErr = <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("serve still running 60 s after SIGTERM\n%s", out.String())
	}
	time.Sleep(100 * time.Millisecond) // load after the exit: refusals only
	stop.Store(true)
	wg.Wait()
	if exitErr != nil {
		t.Fatalf("serve exited with %v after SIGTERM\n%s", exitErr, out.String())
	}
	t.Logf("acked %d, refused %d, connection cut %d, other %d", len(acked), refused.Load(), cut.Load(), len(bad))
	if len(bad) > 0 {
		t.Fatalf("%d answers were not 200 around SIGTERM, e.g. %v", len(bad), bad[:min(5, len(bad))])
	}
	if refused.Load() == 0 {
		t.Fatal("no request was refused: the load did not outlive the process")
	}
	if noReqID.Load() > 0 {
		t.Errorf("%d responses without X-Request-Id", noReqID.Load())
	}

	// The log is JSON lines, and tells the shutdown.
	var shuttingDown, stopped bool
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue // the test binary's own PASS
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		switch rec["msg"] {
		case "shutting down":
			shuttingDown = true
		case "stopped":
			stopped = true
		}
	}
	if !shuttingDown || !stopped {
		t.Errorf("log lacks the shutdown (shutting down %v, stopped %v)\n%s", shuttingDown, stopped, out.String())
	}

	db, err := models.Open(context.Background(), config.Config{SQLitePath: env["DOORSTEP_SQLITE_PATH"]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	stored := map[string]bool{}
	var ids []string
	if err := db.Model(&models.Delivery{}).Pluck("event_id", &ids).Error; err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		stored[id] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("webhook %s was acked with 200 but is not stored", id)
		}
	}
}

func TestServe_WorkerRoleServesOpsOnly(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	env := serveEnv(dir, port)
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"doorstep", "serve", "--role", "worker"}, func(k string) string { return env[k] }, &out)
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	get := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for get("/healthz") != http.StatusOK {
		select {
		case err := <-done:
			t.Fatalf("serve --role worker exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not listening after 30 s\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for path, want := range map[string]int{"/readyz": 200, "/metrics": 200, "/webhooks/shopify": 404, "/admin": 404} {
		if got := get(path); got != want {
			t.Errorf("worker GET %s: %d, want %d", path, got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve --role worker: %v", err)
	}
}

func TestServe_RejectsBadDrainDelay(t *testing.T) {
	err := run(context.Background(), []string{"doorstep", "serve", "--drain-delay", "-1s"}, noEnv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--drain-delay") {
		t.Fatalf("got %v, want an error naming --drain-delay", err)
	}
}
