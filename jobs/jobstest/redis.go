// Package jobstest holds test helpers for the jobs package and its callers.
//
// Redis: asynq has no key prefix and Redis has only 16 numbered databases, so
// every test package that needs Redis starts its own throwaway redis-server on
// a free port from TestMain:
//
//	var rdb *jobstest.Redis
//
//	func TestMain(m *testing.M) {
//		var err error
//		rdb, err = jobstest.StartRedis()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		rdb.Close()
//		os.Exit(code)
//	}
//
// The server keeps nothing on disk (--save "" --appendonly no), so Stop then
// Start behaves like a Redis that crashed and lost its data.
package jobstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long StartRedis and Start wait for PING to answer.
const startTimeout = 10 * time.Second

// Redis is one redis-server child process listening on 127.0.0.1:Port.
// Its methods are safe for concurrent use.
type Redis struct {
	Addr string // "127.0.0.1:port"; the same for the life of the Redis

	bin  string
	port int
	dir  string // temp dir: --dir and the server's log

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed once cmd.Wait has returned
	closed bool
}

// StartRedis starts a redis-server on a free 127.0.0.1 port and waits until it
// answers PING. It returns an error naming the fix if the redis-server binary
// is missing. The caller must call Close.
func StartRedis() (*Redis, error) {
	bin, err := findRedisServer()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "doorstep-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis temp dir: %w", err)
	}
	// Finding a free port by listening on :0 and closing is racy: another
	// process may take it before redis-server binds. Retry with a new port
	// when the server dies during startup.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		r := &Redis{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			bin:  bin,
			port: port,
			dir:  dir,
		}
		if lastErr = r.Start(); lastErr == nil {
			return r, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// URL is the address in the form REDIS_URL and asynq.ParseRedisURI take.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Start starts the server again on the same port, with no data. It is a no-op
// if the server is running, and an error after Close.
func (r *Redis) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("redis-server: Start after Close")
	}
	if r.cmd != nil {
		return nil
	}

	logPath := filepath.Join(r.dir, "redis.log")
	// Truncate so a startup failure reports this run's log only.
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("redis-server log: %w", err)
	}
	defer logFile.Close() // the child has its own copy of the descriptor

	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", r.dir,
	)
	// An *os.File as Stdout/Stderr is handed to the child directly, so
	// os/exec starts no copying goroutines.
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // killed on purpose by Stop; the log explains anything else
		close(exited)
	}()
	r.cmd, r.exited = cmd, exited

	if err := r.waitReady(exited); err != nil {
		r.killLocked()
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("redis-server on %s: %w\n%s", r.Addr, err, tail(log, 2000))
	}
	return nil
}

// Stop kills the server (SIGKILL, like a crash) and waits for it to exit.
// It is a no-op if the server is not running.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killLocked()
	return nil
}

// Flush deletes every key in every database (FLUSHALL).
func (r *Redis) Flush(ctx context.Context) error {
	c := r.client()
	defer c.Close()
	if err := c.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("redis flushall: %w", err)
	}
	return nil
}

// Close stops the server and removes its temp dir. It is safe to call more
// than once.
func (r *Redis) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	r.killLocked()
	os.RemoveAll(r.dir)
}

// killLocked kills the process group and waits for the Wait goroutine, so no
// goroutine outlives Stop or Close. r.mu must be held.
func (r *Redis) killLocked() {
	if r.cmd == nil {
		return
	}
	killProcess(r.cmd.Process)
	<-r.exited
	r.cmd, r.exited = nil, nil
}

// waitReady polls PING until it answers, the process exits or startTimeout
// passes.
func (r *Redis) waitReady(exited <-chan struct{}) error {
	c := r.client()
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited during startup")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer to PING within %s: %w", startTimeout, err)
}

func (r *Redis) client() *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:            r.Addr,
		DialTimeout:     500 * time.Millisecond,
		MaxRetries:      -1, // no retries: callers poll or want the failure
		PoolSize:        1,
		DisableIdentity: true,
	})
}

// redisServerFallbacks are tried when redis-server is not in PATH, which may
// lack sbin dirs (non-login shells, some CI images). A var so tests can empty it.
var redisServerFallbacks = []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"}

func findRedisServer() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range redisServerFallbacks {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("redis-server binary not found in PATH: tests start their own redis-server per package; " +
		"run scripts/test.sh (as root it installs Debian's redis-server) or install Redis yourself " +
		"(apt-get install redis-server / brew install redis)")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	return port, nil
}

func tail(b []byte, n int) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return b
}

// killProcess sends SIGKILL to the child's process group (Setpgid made the
// child its leader), falling back to the process itself.
func killProcess(p *os.Process) {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}
