package bench

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
)

// workerReady is the line a worker process prints once its role runs.
const workerReady = "doorstep-bench-worker-ready"

// RunWorker is the bench's worker process: the worker role, configured from
// getenv as `serve` would be, without the periodic Shopify sync and the
// message flows (the ingest bench measures intake and processing only). It
// prints a ready line on stdout once the role runs and returns when ctx
// ends (the bench sends SIGTERM).
func RunWorker(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := app.New(ctx, cfg, app.Options{Log: log, NoSync: true, NoMessages: true})
	if err != nil {
		return fmt.Errorf("start the worker app: %w", err)
	}
	return w.Run(ctx, app.RoleWorker, func(string) { fmt.Fprintln(stdout, workerReady) })
}

// startWorkerProcess runs WorkerCommand with the app's configuration in its
// environment and waits for its ready line. Its warnings join the bench's
// through stderr.
func (r *runner) startWorkerProcess(ctx context.Context) error {
	cmd := exec.Command(r.cfg.WorkerCommand[0], r.cfg.WorkerCommand[1:]...)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+r.appCfg.DatabaseURL,
		"REDIS_URL="+r.appCfg.RedisURL,
		"APP_URL="+r.appCfg.AppURL,
		"SHOPIFY_API_KEY="+r.appCfg.ShopifyAPIKey,
		"SHOPIFY_API_SECRET="+r.appCfg.ShopifyAPISecret,
		"SHOPIFY_API_BASE_URL="+r.appCfg.ShopifyAPIBaseURL,
		"DOORSTEP_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(r.appCfg.EncryptionKey),
		"INTAKE_CONCURRENCY="+strconv.Itoa(r.appCfg.IntakeConcurrency),
		"LOG_LEVEL=warn",
	)
	cmd.Stderr = r.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("worker process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the worker process %q: %w", strings.Join(r.cfg.WorkerCommand, " "), err)
	}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled && sc.Text() == workerReady {
				signalled = true
				close(ready)
			}
		}
		done <- cmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-done:
		return fmt.Errorf("worker process exited before it was ready: %w", err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("worker process not ready after 30 s")
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
	r.workers, r.workerPID = true, cmd.Process.Pid
	r.say("worker role runs as its own process (pid %d, INTAKE_CONCURRENCY=%d)", r.workerPID, r.appCfg.IntakeConcurrency)
	r.stopWork = func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			r.workerPID = 0
			if err != nil {
				return fmt.Errorf("worker process: %w", err)
			}
			return nil
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-done
			r.workerPID = 0
			return errors.New("worker process did not stop within a minute of SIGTERM")
		}
	}
	return nil
}
