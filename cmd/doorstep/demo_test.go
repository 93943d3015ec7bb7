package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) string { return "" }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDemo runs `doorstep demo` with extra args on a free port until its
// banner shows, retrying on another port if the chosen one was taken in the
// meantime (free ports are only free at the moment they are probed).
func startDemo(t *testing.T, ctx context.Context, out *syncBuffer, extra ...string) (int, chan error) {
	t.Helper()
attempts:
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		done := make(chan error, 1)
		args := append([]string{"doorstep", "demo", "--port", strconv.Itoa(port)}, extra...)
		go func() { done <- run(ctx, args, noEnv, out) }()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "Ctrl-C to stop") {
			select {
			case err := <-done:
				if attempt < 3 && err != nil && strings.Contains(err.Error(), "already in use") {
					t.Logf("port %d taken meanwhile, retrying: %v", port, err)
					continue attempts
				}
				t.Fatalf("demo returned before its banner: %v\noutput:\n%s", err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no banner within 30 s:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return port, done
	}
}

func fetch(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestDemoRunsSimulatedOrdersThroughTheApp(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	port, done := startDemo(t, ctx, &out, "--orders", "4", "--step", "50ms", "--db", db)

	url := fmt.Sprintf("http://127.0.0.1:%d/demo/login", port)
	deadline := time.Now().Add(60 * time.Second)
	var page string
	for {
		select {
		case err := <-done:
			t.Fatalf("demo returned early: %v\noutput:\n%s", err, out.String())
		default:
		}
		// /demo/login opens the dashboard; the orders page is one click
		// away, with a session token the demo signs as Shopify would.
		code, body, err := fetch(url)
		if err == nil && code == http.StatusOK && strings.Contains(body, "Dashboard") {
			var tok string
			if code, tok, err = fetch(fmt.Sprintf("http://127.0.0.1:%d/demo/session-token", port)); err == nil && code == http.StatusOK {
				code, body, err = fetch(fmt.Sprintf("http://127.0.0.1:%d/admin/orders?id_token=%s", port, tok))
			}
		}
		if err == nil && code == http.StatusOK {
			page = body
			ok := strings.Contains(body, "delivered")
			for _, name := range []string{"#1001", "#1002", "#1003", "#1004"} {
				ok = ok && strings.Contains(body, name)
			}
			if ok && strings.Contains(out.String(), "Simulation finished") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo page never listed the 4 orders with progress (last error %v)\npage:\n%s\noutput:\n%s", err, page, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	text := out.String()
	for _, want := range []string{
		fmt.Sprintf("Open http://localhost:%d/demo/login", port),
		"Ctrl-C to stop",
		"#1001  created · pending",
		"→ 200",
		"Simulation finished",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "did not.") && !strings.Contains(text, " 0 did not.") {
		t.Errorf("some webhooks were not answered 200:\n%s", text)
	}

	// The root redirects to the demo page, and a bad signature is refused.
	if code, _, err := fetch(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || code != http.StatusOK {
		t.Errorf("GET / → %d %v, want the demo page", code, err)
	}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/webhooks/shopify", port), strings.NewReader(`{"id":1}`))
	req.Header.Set("X-Shopify-Hmac-Sha256", "bm9wZQ==")
	req.Header.Set("X-Shopify-Topic", "orders/create")
	req.Header.Set("X-Shopify-Shop-Domain", "doorstep-demo.myshopify.com")
	req.Header.Set("X-Shopify-Event-Id", "forged")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged webhook: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo returned %v after cancel, want nil", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not stop within 60 s of cancel")
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the --db file should be kept: %v", err)
	}
}

func TestDemoTempDatabaseIsRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	_, done := startDemo(t, ctx, &out, "--orders", "0")
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "doorstep-demo-") {
		t.Errorf("temp dir holds %v, want one doorstep-demo-* directory", entries)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary database left behind: %v", entries)
	}
}

func TestDemoPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var out syncBuffer
	err = run(context.Background(), []string{"doorstep", "demo", "--port", strconv.Itoa(port)}, noEnv, &out)
	if err == nil || !strings.Contains(err.Error(), "--port") || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("err = %v, want a message naming the port and --port", err)
	}
}

func TestDemoHelp(t *testing.T) {
	var out syncBuffer
	err := run(context.Background(), []string{"doorstep", "demo", "--help"}, noEnv, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"doorstep demo", "simulat", "-port", "-db", "-orders", "-step"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--port", "70000"},
		{"--step", "0s"},
		{"--orders", "-1"},
		{"--nope"},
		{"extra"},
	} {
		var out syncBuffer
		err := run(context.Background(), append([]string{"doorstep", "demo"}, args...), noEnv, &out)
		if err == nil {
			t.Errorf("demo %v: no error", args)
		}
	}
	var out syncBuffer
	err := run(context.Background(), []string{"doorstep", "demo"}, func(k string) string {
		if k == "PORT" {
			return "not-a-port"
		}
		return ""
	}, &out)
	if err == nil || !strings.Contains(err.Error(), "PORT") {
		t.Errorf("bad PORT: err = %v, want one naming PORT", err)
	}
}

func TestServeWithoutEnvNamesTheVariables(t *testing.T) {
	var out syncBuffer
	err := run(context.Background(), []string{"doorstep", "serve"}, noEnv, &out)
	if err == nil {
		t.Fatal("serve with no environment: no error")
	}
	for _, v := range []string{"APP_URL", "SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "DOORSTEP_ENCRYPTION_KEY"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s: %v", v, err)
		}
	}
}

func TestUnknownAndMissingCommands(t *testing.T) {
	var out syncBuffer
	err := run(context.Background(), []string{"doorstep", "bogus"}, noEnv, &out)
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("bogus: err = %v", err)
	}
	if !strings.Contains(out.String(), "Usage:") {
		t.Errorf("bogus: usage not printed:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"doorstep"}, noEnv, &out); err == nil {
		t.Error("no command: no error")
	}
	var help syncBuffer
	if err := run(context.Background(), []string{"doorstep", "help"}, noEnv, &help); err != nil || !strings.Contains(help.String(), "doorstep demo") {
		t.Errorf("help: %v\n%s", err, help.String())
	}
}
