package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/models"
)

// TypeStatsRollup recomputes one shop's dashboard figures (stat_days) for
// its recent days.
const TypeStatsRollup = "stats:rollup"

// Days a rollup rewrites: the first one fills the longest window the
// dashboard shows; later ones only today and yesterday (in the shop's
// zone), where figures still move: messages get sent, packages arrive,
// shoppers answer. Older days keep what they had; a status that changes
// later than that (a referral reversed a month on) is not reflected.
const (
	StatsFirstDays    = 90
	StatsPeriodicDays = 2
)

type statsRollupPayload struct {
	ShopID uint64 `json:"shop_id"`
}

// NewStatsRollupTask builds the rollup for one shop and window (one per
// window however many schedulers run), on the sync queue: background work
// that may wait behind the flows.
func NewStatsRollupTask(shopID uint64, window time.Time, period time.Duration) (*asynq.Task, []asynq.Option) {
	b, _ := json.Marshal(statsRollupPayload{ShopID: shopID})
	id := "statsrollup:" + strconv.FormatUint(shopID, 10) + ":" + strconv.FormatInt(window.Unix(), 10)
	return asynq.NewTask(TypeStatsRollup, b), []asynq.Option{asynq.TaskID(id), asynq.Queue(QueueSync), asynq.MaxRetry(3),
		asynq.Retention(period)}
}

// StatsRoller handles stats:rollup.
type StatsRoller struct {
	store *models.Store
	now   func() time.Time
	log   *slog.Logger
}

// NewStatsRoller builds the rollup handler; now nil is the real clock.
func NewStatsRoller(store *models.Store, now func() time.Time, log *slog.Logger) *StatsRoller {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &StatsRoller{store: store, now: now, log: log}
}

// ProcessTask implements asynq.Handler. A shop that no longer exists is
// not retried.
func (r *StatsRoller) ProcessTask(ctx context.Context, task *asynq.Task) error {
	pl, err := decode[statsRollupPayload](task)
	if err != nil {
		return err
	}
	_, err = r.Rollup(ctx, pl.ShopID)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

// Rollup rewrites the shop's last StatsPeriodicDays days, or the last
// StatsFirstDays if the shop was never rolled up, and returns how many days
// it rewrote. Returns ErrNotFound if the shop does not exist.
func (r *StatsRoller) Rollup(ctx context.Context, shopID uint64) (int, error) {
	shop, err := r.store.ShopByID(ctx, shopID)
	if err != nil {
		return 0, err
	}
	days := StatsPeriodicDays
	if _, err := r.store.StatState(ctx, shopID); errors.Is(err, models.ErrNotFound) {
		days = StatsFirstDays
	} else if err != nil {
		return 0, err
	}
	// Counted back in the shop's zone: a day there is not always 24 hours.
	now := r.now().In(models.ShopZone(shop.Timezone))
	start := time.Now()
	if err := r.store.RollupStats(ctx, shopID, now.AddDate(0, 0, 1-days), now); err != nil {
		return 0, err
	}
	r.log.Debug("stats rolled up", "shop", shop.Domain, "days", days, "took", time.Since(start))
	return days, nil
}

// Dashboards answers the admin dashboard: the store's figures, with the
// outstanding points valued as the shop's loyalty program values them
// (the store can't: the program's rules live here).
type Dashboards struct {
	store *models.Store
}

// NewDashboards builds the dashboard source.
func NewDashboards(store *models.Store) *Dashboards { return &Dashboards{store: store} }

// Dashboard is models.Store.Dashboard with Loyalty.Liability filled.
// Returns ErrNotFound if the shop does not exist.
func (d *Dashboards) Dashboard(ctx context.Context, shopID uint64, days int, now time.Time) (models.Dashboard, error) {
	dash, err := d.store.Dashboard(ctx, shopID, days, now)
	if err != nil {
		return models.Dashboard{}, err
	}
	prog, err := LoadLoyaltyProgram(ctx, d.store, shopID)
	if err != nil {
		return models.Dashboard{}, fmt.Errorf("dashboard of shop %d: %w", shopID, err)
	}
	dash.Loyalty.Liability = prog.PointsValue(dash.Loyalty.OutstandingPoints)
	return dash, nil
}
