package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/models"
)

// Reconcile repairs what webhooks missed. Webhooks are at-least-once,
// unordered, and sometimes never arrive; every RECONCILE_INTERVAL each shop
// asks the API for orders updated since its high-water mark (minus an
// overlap: Shopify's search index lags writes by a little), upserts them
// newer-wins, and writes the triggers a webhook would have written. A
// change a webhook already brought applies nothing (not newer) and writes
// nothing; the triggers' unique keys make a repeated consequence one row.
//
// Once per shop per period, with any number of schedulers and workers:
// the task id is reconcile:<shop>:<window start> and asynq keeps a finished
// task (and so its id) for longer than the period (Retention), so every
// scheduler's enqueue for that window after the first is refused. We chose
// this over a Postgres lease row because the window id also dedups tasks
// that are queued but not started, which a lease taken at run time can't.
// As a second line, should Redis lose its data, the window a run finished
// is stored in the sync state and a later copy of the same window's task
// returns at once — so Postgres, not Redis, has the last word.

// TypeReconcile is the periodic per-shop reconcile.
const TypeReconcile = "shop:reconcile"

// DefaultReconcileOverlap is subtracted from the high-water mark.
const DefaultReconcileOverlap = 5 * time.Minute

// WindowPayload names a shop and the period a periodic task is for.
type WindowPayload struct {
	ShopID uint64 `json:"shop_id"`
	Window int64  `json:"window"` // unix seconds of the window's start
}

// windowTask builds a periodic task whose id is per shop and window, kept
// after it finishes for longer than the period. A failed attempt retries
// a few times within the period; the next window covers the rest.
func windowTask(typ, prefix string, shopID uint64, window time.Time, period time.Duration) (*asynq.Task, []asynq.Option) {
	b := mustJSON(WindowPayload{ShopID: shopID, Window: window.Unix()})
	id := prefix + ":" + strconv.FormatUint(shopID, 10) + ":" + strconv.FormatInt(window.Unix(), 10)
	keep := 2 * period
	if keep < period+10*time.Minute {
		keep = period + 10*time.Minute
	}
	timeout := period
	if timeout > 30*time.Minute {
		timeout = 30 * time.Minute
	}
	return asynq.NewTask(typ, b), []asynq.Option{asynq.TaskID(id), asynq.Queue(QueueSync), asynq.MaxRetry(3),
		asynq.Retention(keep), asynq.Timeout(timeout), asynq.Deadline(window.Add(period + keep))}
}

// NewReconcileTask builds the reconcile task of one shop for the window
// starting at window (period long).
func NewReconcileTask(shopID uint64, window time.Time, period time.Duration) (*asynq.Task, []asynq.Option) {
	return windowTask(TypeReconcile, "reconcile", shopID, window, period)
}

// ReconcileConfig tunes reconcile; zero values take the defaults.
type ReconcileConfig struct {
	Overlap  time.Duration // default DefaultReconcileOverlap
	PageSize int           // default 0: the client's largest
	// Metrics, if set, counts repaired orders.
	Metrics *Metrics
}

// Reconciler handles shop:reconcile.
type Reconciler struct {
	store      *models.Store
	api        OrderSource
	tokens     TokenSource
	cfg        ReconcileConfig
	log        *slog.Logger
	onTriggers func()
}

// NewReconciler builds the reconcile handler. onTriggers (may be nil) is
// told when a run wrote new triggers, so the dispatcher goes at once.
func NewReconciler(store *models.Store, api OrderSource, tokens TokenSource, cfg ReconcileConfig, log *slog.Logger, onTriggers func()) *Reconciler {
	if cfg.Overlap <= 0 {
		cfg.Overlap = DefaultReconcileOverlap
	}
	if onTriggers == nil {
		onTriggers = func() {}
	}
	return &Reconciler{store: store, api: api, tokens: tokens, cfg: cfg, log: log, onTriggers: onTriggers}
}

// ReconcileResult says what one run did.
type ReconcileResult struct {
	Skipped  string // why nothing ran ("" when it ran)
	Orders   int    // orders read from the API
	Repaired int    // orders the API had newer than the database
	Triggers int    // new triggers written
}

// ProcessTask implements asynq.Handler for shop:reconcile.
func (r *Reconciler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	pl, err := decode[WindowPayload](t)
	if err != nil {
		return err
	}
	shop, err := r.store.ShopByID(ctx, pl.ShopID)
	if errors.Is(err, models.ErrNotFound) {
		return nil // deleted (shop redact): nothing to reconcile
	}
	if err != nil {
		return err
	}
	_, err = r.Reconcile(ctx, shop, time.Unix(pl.Window, 0).UTC())
	return err
}

// Reconcile runs one shop's reconcile for window. It skips shops that are
// not installed, still being backfilled (the backfill sets the first
// high-water mark), or already reconciled for this window.
func (r *Reconciler) Reconcile(ctx context.Context, shop models.Shop, window time.Time) (ReconcileResult, error) {
	var res ReconcileResult
	if !shop.Installed() || shop.NeedsReauth {
		res.Skipped = "not installed"
		return res, nil
	}
	st, err := r.store.SyncState(ctx, shop.ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		res.Skipped = "no backfill yet"
		return res, nil
	case err != nil:
		return res, err
	case st.State == models.SyncRunning || st.HighWaterMark == nil:
		res.Skipped = "backfill running"
		return res, nil
	case st.ReconcileWindow != nil && !window.After(*st.ReconcileWindow):
		res.Skipped = "window already reconciled"
		return res, nil
	}
	token, err := r.tokens.AccessToken(ctx, shop)
	if err != nil {
		if errors.Is(err, models.ErrNoToken) {
			res.Skipped = "no token"
			return res, nil
		}
		return res, fmt.Errorf("reconcile %s: access token: %w", shop.Domain, err)
	}
	since := st.HighWaterMark.Add(-r.cfg.Overlap)
	hwm := *st.HighWaterMark
	cursor := ""
	for {
		page, err := r.api.Orders(ctx, shop.Domain, token, OrdersQuery{UpdatedSince: since, After: cursor, PageSize: r.cfg.PageSize})
		if err != nil {
			if errors.Is(err, ErrUnauthorized) {
				if merr := r.store.MarkNeedsReauth(ctx, shop.ID); merr != nil {
					r.log.Error("mark needs reauth", "shop", shop.Domain, "err", merr)
				}
				return res, fmt.Errorf("reconcile %s: %w: %w", shop.Domain, err, asynq.SkipRetry)
			}
			return res, fmt.Errorf("reconcile %s: orders since %s: %w", shop.Domain, since.Format(time.RFC3339), err)
		}
		err = r.store.InTx(ctx, func(tx *models.Tx) error {
			var triggers []models.Trigger
			for i := range page.Orders {
				o := &page.Orders[i]
				ts, err := applyOrderWithEvents(tx, shop, o)
				if err != nil {
					return err
				}
				if len(ts) > 0 {
					res.Repaired++
				}
				triggers = append(triggers, ts...)
				if o.PlatformUpdatedAt.After(hwm) {
					hwm = o.PlatformUpdatedAt.UTC()
				}
			}
			n, err := tx.InsertTriggers(triggers)
			res.Triggers += n
			return err
		})
		if err != nil {
			return res, fmt.Errorf("reconcile %s: apply page: %w", shop.Domain, err)
		}
		res.Orders += len(page.Orders)
		if !page.HasNext || page.EndCursor == "" {
			break
		}
		cursor = page.EndCursor
	}
	// The mark moves only after every page is in: a run that stops half-way
	// is repeated whole, harmlessly.
	if _, err := r.store.UpdateSyncState(ctx, shop.ID, func(s *models.SyncState) error {
		advance(&s.HighWaterMark, hwm)
		if s.ReconcileWindow == nil || window.After(*s.ReconcileWindow) {
			w := window.UTC()
			s.ReconcileWindow = &w
		}
		now := time.Now().UTC()
		s.LastReconcileAt = &now
		s.ReconcileRuns++
		return nil
	}); err != nil {
		return res, fmt.Errorf("reconcile %s: save high-water mark: %w", shop.Domain, err)
	}
	if res.Triggers > 0 {
		r.onTriggers()
	}
	if res.Repaired > 0 {
		r.log.Info("reconcile repaired orders webhooks missed", "shop", shop.Domain, "orders", res.Repaired, "triggers", res.Triggers)
		if r.cfg.Metrics != nil {
			r.cfg.Metrics.ReconcileRepaired.Add(float64(res.Repaired))
		}
	}
	return res, nil
}
