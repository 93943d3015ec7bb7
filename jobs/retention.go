package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/doorstep/doorstep/models"
)

// Retention timings: the first run comes shortly after a worker starts (a
// worker that restarts often still gets there), then hourly. Several
// workers running it at once is safe: each skips the rows another holds.
const (
	retentionFirstRun = 30 * time.Second
	retentionInterval = time.Hour
	retentionBatch    = 1000
)

// Retention drops raw delivery bodies older than the retention period: they
// hold personal data. The delivery's metadata (topic, times, status, the
// order it changed) stays.
type Retention struct {
	store *models.Store
	keep  time.Duration
	log   *slog.Logger
	now   func() time.Time
}

// NewRetention builds the retention job. keep <= 0 disables it.
func NewRetention(store *models.Store, keep time.Duration, log *slog.Logger) *Retention {
	return &Retention{store: store, keep: keep, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// Run applies retention periodically until ctx ends.
func (r *Retention) Run(ctx context.Context) {
	if r.keep <= 0 {
		r.log.Warn("delivery retention disabled: raw webhook bodies are kept forever")
		return
	}
	timer := time.NewTimer(retentionFirstRun)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("retention run failed; the next run picks up where it stopped", "err", err)
		}
		timer.Reset(retentionInterval)
	}
}

// RunOnce drops the bodies of deliveries received more than the retention
// period ago and returns how many it dropped. Each shop gets one audit row
// per run.
func (r *Retention) RunOnce(ctx context.Context) (int64, error) {
	if r.keep <= 0 {
		return 0, nil
	}
	before := r.now().Add(-r.keep)
	n, err := r.store.DropOldBodies(ctx, before, retentionBatch)
	if n > 0 {
		r.log.Info("dropped old delivery bodies", "count", n, "received_before", before)
	}
	return n, err
}
