package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/models"
)

// SchedulerConfig tunes the scheduler; zero values take the defaults.
type SchedulerConfig struct {
	Tick                time.Duration // how often to look (default 1 min)
	ReconcileEvery      time.Duration // RECONCILE_INTERVAL (default 10 min)
	SubscriptionsEvery  time.Duration // SUBSCRIPTION_CHECK_INTERVAL (default 1 h)
	BackfillStaleAfter  time.Duration // re-enqueue a running backfill not advanced for this long (default 5 min)
	DelayScanEvery      time.Duration // predicted-delay scan per shop (default 1 h)
	LoyaltyScanEvery    time.Duration // loyalty scan per shop (default 1 h)
	StatsEvery          time.Duration // dashboard rollup per shop (default 5 min)
	DisableReconcile    bool
	DisableSubscription bool
	DisableDelayScan    bool
	DisableLoyaltyScan  bool
	DisableStats        bool
}

// Scheduler is the periodic loop of the worker role. Every tick, for every
// installed shop, it enqueues that period's reconcile and subscription
// check with ids per shop and window, so any number of workers running it
// enqueue each once. It also keeps backfills going: a shop without a sync
// state gets one started (shops installed before backfill existed, or an
// install whose own enqueue failed), and a running backfill that has not
// moved for a while is enqueued again (Redis may have lost its task: the
// state in Postgres is the truth; a task still queued or running keeps its
// id, so the enqueue is then a no-op).
type Scheduler struct {
	store    *models.Store
	q        Enqueuer
	backfill *Backfiller
	cfg      SchedulerConfig
	log      *slog.Logger
	now      func() time.Time
}

// NewScheduler builds the scheduler.
func NewScheduler(store *models.Store, q Enqueuer, backfill *Backfiller, cfg SchedulerConfig, log *slog.Logger) *Scheduler {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Minute
	}
	if cfg.ReconcileEvery <= 0 {
		cfg.ReconcileEvery = 10 * time.Minute
	}
	if cfg.SubscriptionsEvery <= 0 {
		cfg.SubscriptionsEvery = time.Hour
	}
	if cfg.BackfillStaleAfter <= 0 {
		cfg.BackfillStaleAfter = 5 * time.Minute
	}
	if cfg.DelayScanEvery <= 0 {
		cfg.DelayScanEvery = time.Hour
	}
	if cfg.LoyaltyScanEvery <= 0 {
		cfg.LoyaltyScanEvery = time.Hour
	}
	if cfg.StatsEvery <= 0 {
		cfg.StatsEvery = 5 * time.Minute
	}
	return &Scheduler{store: store, q: q, backfill: backfill, cfg: cfg, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// Run ticks until ctx ends. The first tick comes one Tick after the start,
// not at once: a worker that restarts in a crash loop (or a test's short
// run) doesn't fire a round of API calls per start, and nothing is late for
// it — the windows are long and the install path starts backfills itself.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.TickOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduler round failed; the next one tries again", "err", err)
		}
	}
}

// Window is the start of the period-long window holding t (windows are
// aligned on the Unix epoch, so every process computes the same ones).
func Window(t time.Time, period time.Duration) time.Time {
	return time.Unix(0, 0).UTC().Add(t.Sub(time.Unix(0, 0)).Truncate(period))
}

// TickOnce runs one round.
func (s *Scheduler) TickOnce(ctx context.Context) error {
	shops, err := s.store.ListShops(ctx)
	if err != nil {
		return err
	}
	states, err := s.store.ListSyncStates(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	var errs []error
	for _, shop := range shops {
		if shop.NeedsReauth {
			continue
		}
		st, ok := states[shop.ID]
		switch {
		case !ok:
			if _, err := s.backfill.Start(ctx, shop); err != nil {
				errs = append(errs, err)
			}
		case st.State == models.SyncRunning && now.Sub(st.UpdatedAt) > s.cfg.BackfillStaleAfter:
			if err := s.backfill.enqueue(ctx, st); err != nil {
				errs = append(errs, err)
			}
		}
		if !s.cfg.DisableReconcile {
			task, opts := NewReconcileTask(shop.ID, Window(now, s.cfg.ReconcileEvery), s.cfg.ReconcileEvery)
			if err := s.enqueue(ctx, task, opts); err != nil {
				errs = append(errs, fmt.Errorf("enqueue reconcile of %s: %w", shop.Domain, err))
			}
		}
		if !s.cfg.DisableDelayScan {
			task, opts := NewDelayScanTask(shop.ID, Window(now, s.cfg.DelayScanEvery), s.cfg.DelayScanEvery)
			if err := s.enqueue(ctx, task, opts); err != nil {
				errs = append(errs, fmt.Errorf("enqueue delay scan of %s: %w", shop.Domain, err))
			}
		}
		if !s.cfg.DisableLoyaltyScan {
			task, opts := NewLoyaltyScanTask(shop.ID, Window(now, s.cfg.LoyaltyScanEvery), s.cfg.LoyaltyScanEvery)
			if err := s.enqueue(ctx, task, opts); err != nil {
				errs = append(errs, fmt.Errorf("enqueue loyalty scan of %s: %w", shop.Domain, err))
			}
		}
		if !s.cfg.DisableStats {
			task, opts := NewStatsRollupTask(shop.ID, Window(now, s.cfg.StatsEvery), s.cfg.StatsEvery)
			if err := s.enqueue(ctx, task, opts); err != nil {
				errs = append(errs, fmt.Errorf("enqueue stats rollup of %s: %w", shop.Domain, err))
			}
		}
		if !s.cfg.DisableSubscription {
			task, opts := NewSubscriptionsTask(shop.ID, Window(now, s.cfg.SubscriptionsEvery), s.cfg.SubscriptionsEvery)
			if err := s.enqueue(ctx, task, opts); err != nil {
				errs = append(errs, fmt.Errorf("enqueue subscription check of %s: %w", shop.Domain, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) enqueue(ctx context.Context, task *asynq.Task, opts []asynq.Option) error {
	_, err := s.q.EnqueueContext(ctx, task, opts...)
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}

// RegisterSync adds the sync task types to mux (Register lists the rest),
// and the dashboard rollup, which the same scheduler enqueues.
func RegisterSync(mux *asynq.ServeMux, b *Backfiller, r *Reconciler, c *SubscriptionChecker) {
	mux.Handle(TypeBackfill, b)
	mux.Handle(TypeReconcile, r)
	mux.Handle(TypeSubscriptionsCheck, c)
	mux.Handle(TypeStatsRollup, NewStatsRoller(b.store, nil, b.log))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return b
}
