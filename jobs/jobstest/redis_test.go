package jobstest

import (
	"context"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func ping(ctx context.Context, url string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	opt.MaxRetries = -1
	opt.DialTimeout = 500 * time.Millisecond
	c := redis.NewClient(opt)
	defer c.Close()
	return c.Ping(ctx).Err()
}

func TestRedis_StopLosesServerStartReturnsEmptyOnSamePort(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx := context.Background()

	r, err := StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") {
		t.Fatalf("URL() = %q, want redis://127.0.0.1:<port>/0", r.URL())
	}
	if err := ping(ctx, r.URL()); err != nil {
		t.Fatalf("ping after StartRedis: %v", err)
	}

	opt, _ := redis.ParseURL(r.URL())
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	pid := r.cmd.Process.Pid
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := ping(ctx, r.URL()); err == nil {
		t.Fatal("ping after Stop succeeded, want a connection error")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("redis-server pid %d still alive after Stop", pid)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	addr := r.Addr
	if err := r.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if r.Addr != addr {
		t.Fatalf("Addr after Start = %s, want the same %s", r.Addr, addr)
	}
	if err := ping(ctx, r.URL()); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("Exists(k) after restart = %d, %v; want 0 (data lost)", n, err)
	}

	if err := c.Set(ctx, "k2", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("DBSize after Flush = %d, %v; want 0", n, err)
	}
	c.Close()

	dir := r.dir
	pid = r.cmd.Process.Pid
	r.Close()
	r.Close() // safe twice
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s still exists after Close (err=%v)", dir, err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("redis-server pid %d still alive after Close", pid)
	}
	if err := r.Start(); err == nil {
		t.Fatal("Start after Close succeeded, want an error")
	}

	// Every goroutine the helper started has ended (the clients' pools may
	// take a moment to wind down).
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestStartRedis_MissingBinary_ErrorSaysHowToInstall(t *testing.T) {
	// Not parallel: changes PATH and a package var.
	t.Setenv("PATH", t.TempDir())
	saved := redisServerFallbacks
	redisServerFallbacks = nil
	t.Cleanup(func() { redisServerFallbacks = saved })

	_, err := StartRedis()
	if err == nil || !strings.Contains(err.Error(), "scripts/test.sh") {
		t.Fatalf("StartRedis() error = %v, want one that mentions scripts/test.sh", err)
	}
}

func TestStartRedis_TwoServersDoNotShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Addr == b.Addr {
		t.Fatalf("both servers on %s", a.Addr)
	}
	oa, _ := redis.ParseURL(a.URL())
	ca := redis.NewClient(oa)
	defer ca.Close()
	ob, _ := redis.ParseURL(b.URL())
	cb := redis.NewClient(ob)
	defer cb.Close()
	if err := ca.Set(ctx, "only-in-a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := cb.Exists(ctx, "only-in-a").Result(); err != nil || n != 0 {
		t.Fatalf("Exists in b = %d, %v; want 0", n, err)
	}
}
