package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/doorstep/doorstep/models"
)

// Retention drops raw delivery bodies older than the retention period.
type Retention struct {
	store *models.Store
	keep  time.Duration
	log   *slog.Logger
}

// NewRetention builds the retention job.
func NewRetention(store *models.Store, keep time.Duration, log *slog.Logger) *Retention {
	return &Retention{store: store, keep: keep, log: log}
}

// Run applies retention periodically until ctx ends.
func (r *Retention) Run(ctx context.Context) {}
