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

// Backfill imports a shop's order history through the platform's API: on
// install, and from `doorstep backfill`. Rules, top to bottom:
//
//   - History writes no triggers: applyOrder's triggers are dropped, so a
//     two-year-old order never gets a thank-you.
//   - Each page is one transaction: its orders (newer-wins, so a webhook
//     that arrived meanwhile with a later version is kept) and the cursor
//     after it. A crash or restart resumes at the saved cursor; a page
//     whose transaction did not commit is fetched again.
//   - Running it twice changes nothing: the upserts are newer-wins and the
//     nested rows have unique platform ids.
//   - Two runners on one shop (a worker and the CLI, or a re-dispatched
//     task) can't both advance it: a page commits only if the saved cursor
//     is still the one it was fetched from; the loser stops.

// TypeBackfill is the task that runs (or resumes) a shop's backfill.
const TypeBackfill = "shop:backfill"

// QueueSync carries backfill, reconcile and subscription checks: long,
// API-bound work that must not hold up intake or flows.
const QueueSync = "sync"

// A worker process runs each queue in a pool of its own, sized for the work:
// IntakeQueues (INTAKE_CONCURRENCY tasks) turns deliveries into orders, CPU
// work here and in PostgreSQL that gains nothing from more tasks than cores
// and would make the web role's acks queue for them; SyncQueues
// (WORKER_CONCURRENCY) runs backfills and reconciliation, which mostly wait
// on Shopify's cost throttle and must never hold the intake's slots for
// hours; SendQueues (SEND_CONCURRENCY) sends messages, mostly waiting on a
// relay or an API.
func IntakeQueues() map[string]int { return map[string]int{QueueIntake: 1} }

// SyncQueues is the sync queue's pool (see IntakeQueues).
func SyncQueues() map[string]int { return map[string]int{QueueSync: 1} }

// SendQueues is the flows queue's pool (see IntakeQueues).
func SendQueues() map[string]int { return map[string]int{QueueFlows: 1} }

// OrdersQuery asks for one page of orders updated since a time. PageSize 0
// lets the client pick the largest page under Shopify's 1,000-point
// single-query maximum.
type OrdersQuery struct {
	UpdatedSince time.Time
	After        string
	PageSize     int
}

// OrdersPage is one page of orders and what the page cost.
type OrdersPage struct {
	Orders                    []models.Order
	EndCursor                 string
	HasNext                   bool
	RequestedCost, ActualCost int
	// ReadAllOrders is false when the platform serves only recent orders
	// (Shopify without read_all_orders: the last 60 days).
	ReadAllOrders bool
}

// OrderSource is the platform API backfill and reconcile read orders from.
// Implementations wait for their rate limits and retry transient errors
// themselves; an error returned here is what is left. ErrUnauthorized
// (wrapped) means the platform refused the token.
type OrderSource interface {
	Orders(ctx context.Context, shop, token string, q OrdersQuery) (OrdersPage, error)
	CountOrders(ctx context.Context, shop, token string, since time.Time) (int, error)
	// BulkOrders runs one bulk export of the orders updated since and calls
	// emit for each, in file order.
	BulkOrders(ctx context.Context, shop, token string, since time.Time, emit func(models.Order) error) (int, error)
}

// TokenSource returns a usable access token for a shop (refreshed when
// about to expire). *app.App satisfies it.
type TokenSource interface {
	AccessToken(ctx context.Context, shop models.Shop) (string, error)
}

// ErrUnauthorized is what OrderSource and WebhookAPI implementations wrap
// when the platform answers 401: the shop must authorize the app again.
var ErrUnauthorized = errors.New("the platform refused the access token")

// BackfillConfig tunes backfill; zero values take the defaults.
type BackfillConfig struct {
	// BulkThreshold: shops with at least this many orders to import use
	// one bulk operation instead of pages (default DefaultBulkThreshold).
	BulkThreshold int
	// PageSize is passed to OrdersQuery (default 0: the client's largest).
	PageSize int
	// Overlap is subtracted from the high-water mark when a shop that was
	// backfilled before is installed again (default 5 min).
	Overlap time.Duration
}

// DefaultBulkThreshold is where bulk beats pages. Paged import is paced by
// the cost bucket: on the standard plan (100 points/s restored) a page of 7
// orders is charged ~290–350 points, so paging moves about 2 orders/s once
// the first bucket is spent — 2,500 orders take about 20 minutes (see
// docs/BENCHMARKS.md). A bulk operation costs 10 points whatever its size
// but has a fixed start-up (Shopify queues the job and builds the JSONL
// file; tens of seconds to minutes), after which only the download and our
// writes limit it. Below a few thousand orders paging finishes soon enough,
// shows progress from the first page and resumes mid-way; above it bulk
// wins by a wide margin. It matches shopify.BulkThreshold.
const DefaultBulkThreshold = 2500

// bulkBatch is how many bulk-exported orders go in one transaction.
const bulkBatch = 250

// errSuperseded: another runner moved the backfill on (or a newer run
// started); this one stops without error.
var errSuperseded = errors.New("backfill superseded")

// Backfiller runs backfills, as the shop:backfill task or in the
// foreground (the CLI).
type Backfiller struct {
	store  *models.Store
	api    OrderSource
	tokens TokenSource
	q      Enqueuer
	cfg    BackfillConfig
	log    *slog.Logger
	now    func() time.Time
}

// NewBackfiller builds the backfill runner. q may be nil when nothing is
// enqueued (the CLI).
func NewBackfiller(store *models.Store, api OrderSource, tokens TokenSource, q Enqueuer, cfg BackfillConfig, log *slog.Logger) *Backfiller {
	if cfg.BulkThreshold <= 0 {
		cfg.BulkThreshold = DefaultBulkThreshold
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = DefaultReconcileOverlap
	}
	return &Backfiller{store: store, api: api, tokens: tokens, q: q, cfg: cfg, log: log,
		now: func() time.Time { return time.Now().UTC() }}
}

// BackfillPayload names the shop and the run.
type BackfillPayload struct {
	ShopID uint64 `json:"shop_id"`
	Run    int    `json:"run"`
}

// NewBackfillTask builds the task for one run of a shop's backfill. The id
// is per shop and run, so enqueuing it again while it is queued or running
// is a no-op. A run can be long: the timeout only bounds one attempt (the
// next resumes at the cursor).
func NewBackfillTask(shopID uint64, run int) (*asynq.Task, []asynq.Option) {
	b := mustJSON(BackfillPayload{ShopID: shopID, Run: run})
	id := "backfill:" + strconv.FormatUint(shopID, 10) + ":" + strconv.Itoa(run)
	return asynq.NewTask(TypeBackfill, b),
		[]asynq.Option{asynq.TaskID(id), asynq.Queue(QueueSync), asynq.MaxRetry(20), asynq.Timeout(6 * time.Hour)}
}

// Start begins or resumes the shop's backfill and enqueues it: on install,
// and from the scheduler for shops that have none. A shop backfilled before
// (a reinstall) imports only what changed since its high-water mark, still
// without triggers: what happened while the app was away is history too.
func (b *Backfiller) Start(ctx context.Context, shop models.Shop) (models.SyncState, error) {
	var since time.Time
	st, err := b.store.SyncState(ctx, shop.ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
	case err != nil:
		return models.SyncState{}, err
	case st.State == models.SyncRunning || st.State == models.SyncFailed:
		if st.Since != nil {
			since = *st.Since // resume the same run
		}
	case st.HighWaterMark != nil:
		since = st.HighWaterMark.Add(-b.cfg.Overlap)
	}
	st, err = b.store.BeginBackfill(ctx, shop.ID, since)
	if err != nil {
		return models.SyncState{}, fmt.Errorf("begin backfill of %s: %w", shop.Domain, err)
	}
	if err := b.enqueue(ctx, st); err != nil {
		// The state says running: the scheduler enqueues it again.
		return st, err
	}
	b.log.Info("backfill started", "shop", shop.Domain, "run", st.Run, "since", st.Since)
	return st, nil
}

func (b *Backfiller) enqueue(ctx context.Context, st models.SyncState) error {
	if b.q == nil {
		return nil
	}
	task, opts := NewBackfillTask(st.ShopID, st.Run)
	_, err := b.q.EnqueueContext(ctx, task, opts...)
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return fmt.Errorf("enqueue backfill of shop %d: %w", st.ShopID, err)
}

// Begin starts a backfill run from since (zero: everything), or resumes the
// running or failed one with the same since, without enqueuing it (the CLI
// runs it in the foreground with Run).
func (b *Backfiller) Begin(ctx context.Context, shop models.Shop, since time.Time) (models.SyncState, error) {
	return b.store.BeginBackfill(ctx, shop.ID, since)
}

// ProcessTask implements asynq.Handler for shop:backfill.
func (b *Backfiller) ProcessTask(ctx context.Context, t *asynq.Task) error {
	pl, err := decode[BackfillPayload](t)
	if err != nil {
		return err
	}
	shop, err := b.store.ShopByID(ctx, pl.ShopID)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("backfill: %w: %w", err, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	if !shop.Installed() {
		return nil // a reinstall starts it again
	}
	_, err = b.Run(ctx, shop, pl.Run, nil)
	if err != nil && ctx.Err() == nil {
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		if retried >= maxRetry && !errors.Is(err, asynq.SkipRetry) {
			b.fail(context.WithoutCancel(ctx), shop, pl.Run, "gave up after retries: "+err.Error())
		}
	}
	return err
}

// Run imports the shop's orders for run, from the saved cursor, and returns
// the state afterwards. A run that is not the shop's current running one
// returns at once. progress, if set, is called after every committed page.
// Cancelling ctx stops it between or inside pages; nothing is lost (the
// next Run resumes).
func (b *Backfiller) Run(ctx context.Context, shop models.Shop, run int, progress func(models.SyncState)) (models.SyncState, error) {
	if progress == nil {
		progress = func(models.SyncState) {}
	}
	st, err := b.store.SyncState(ctx, shop.ID)
	if err != nil {
		return st, err
	}
	if st.Run != run || st.State != models.SyncRunning {
		return st, nil
	}
	log := b.log.With("shop", shop.Domain, "run", run)
	token, err := b.tokens.AccessToken(ctx, shop)
	if err != nil {
		if errors.Is(err, models.ErrNoToken) || errors.Is(err, ErrUnauthorized) {
			b.fail(ctx, shop, run, "no usable access token: the merchant must open the app again to re-authorize it")
			return st, fmt.Errorf("backfill %s: %w: %w", shop.Domain, err, asynq.SkipRetry)
		}
		return st, b.noteError(ctx, shop, run, fmt.Errorf("access token: %w", err))
	}
	since := time.Time{}
	if st.Since != nil {
		since = *st.Since
	}

	if st.Mode == "" {
		total, err := b.api.CountOrders(ctx, shop.Domain, token, since)
		if err != nil {
			return st, b.apiError(ctx, shop, run, fmt.Errorf("count orders: %w", err))
		}
		mode := models.SyncModePaged
		if total >= b.cfg.BulkThreshold {
			mode = models.SyncModeBulk
		}
		if st, err = b.store.UpdateSyncState(ctx, shop.ID, func(s *models.SyncState) error {
			if s.Run != run || s.State != models.SyncRunning {
				return errSuperseded
			}
			s.Total, s.Mode = int64(total), mode
			return nil
		}); err != nil {
			return st, ignoreSuperseded(err)
		}
		log.Info("backfill planned", "total", total, "mode", mode, "since", st.Since)
		progress(st)
	}

	switch st.Mode {
	case models.SyncModeBulk:
		st, err = b.runBulk(ctx, shop, st, token, since, progress)
	default:
		st, err = b.runPaged(ctx, shop, st, token, since, progress)
	}
	if err != nil {
		return st, err
	}
	if st.State == models.SyncDone {
		log.Info("backfill done", "orders", st.Done, "rate", st.Rate)
	}
	return st, nil
}

// runPaged walks the cursor from where the state says.
func (b *Backfiller) runPaged(ctx context.Context, shop models.Shop, st models.SyncState, token string, since time.Time,
	progress func(models.SyncState)) (models.SyncState, error) {
	run, cursor := st.Run, st.Cursor
	start, done0 := time.Now(), st.Done
	tokenAt := time.Now()
	for {
		// A long backfill outlives an expiring token: ask again now and
		// then (AccessToken refreshes it when it is close to expiry).
		if time.Since(tokenAt) > time.Minute {
			t, err := b.tokens.AccessToken(ctx, shop)
			if err != nil {
				return st, b.apiError(ctx, shop, run, fmt.Errorf("access token: %w", err))
			}
			token, tokenAt = t, time.Now()
		}
		page, err := b.api.Orders(ctx, shop.Domain, token, OrdersQuery{UpdatedSince: since, After: cursor, PageSize: b.cfg.PageSize})
		if err != nil {
			return st, b.apiError(ctx, shop, run, fmt.Errorf("orders after %q: %w", cursor, err))
		}
		last := !page.HasNext || page.EndCursor == ""
		next, err := b.savePage(ctx, shop, run, true, cursor, page.Orders, page.EndCursor, last, page.ReadAllOrders,
			func(s *models.SyncState) { s.Rate = rate(s.Done-done0, start) })
		if err != nil {
			return st, ignoreSuperseded(err)
		}
		st = next
		progress(st)
		if last {
			return st, nil
		}
		cursor = page.EndCursor
	}
}

// runBulk runs one bulk export and imports it in batches. A bulk operation
// can't be resumed part-way, so an interrupted one runs again from the
// start: harmless, the upserts are idempotent; Done restarts with it.
func (b *Backfiller) runBulk(ctx context.Context, shop models.Shop, st models.SyncState, token string, since time.Time,
	progress func(models.SyncState)) (models.SyncState, error) {
	run := st.Run
	// The bulk file doesn't say whether Shopify limits it to 60 days; one
	// single-order page does.
	probe, err := b.api.Orders(ctx, shop.Domain, token, OrdersQuery{UpdatedSince: since, PageSize: 1})
	if err != nil {
		return st, b.apiError(ctx, shop, run, fmt.Errorf("probe orders: %w", err))
	}
	if st, err = b.store.UpdateSyncState(ctx, shop.ID, func(s *models.SyncState) error {
		if s.Run != run || s.State != models.SyncRunning {
			return errSuperseded
		}
		s.Done, s.ReadAllOrders = 0, probe.ReadAllOrders
		return nil
	}); err != nil {
		return st, ignoreSuperseded(err)
	}
	start := time.Now()
	batch := make([]models.Order, 0, bulkBatch)
	flush := func(last bool) error {
		next, err := b.savePage(ctx, shop, run, false, "", batch, "", last, probe.ReadAllOrders,
			func(s *models.SyncState) { s.Rate = rate(s.Done, start) })
		if err != nil {
			return err
		}
		st = next
		batch = batch[:0]
		progress(st)
		return nil
	}
	_, err = b.api.BulkOrders(ctx, shop.Domain, token, since, func(o models.Order) error {
		batch = append(batch, o)
		if len(batch) >= bulkBatch {
			return flush(false)
		}
		return nil
	})
	if err == nil {
		err = flush(true)
	}
	if err != nil {
		if errors.Is(err, errSuperseded) {
			return st, nil
		}
		return st, b.apiError(ctx, shop, run, fmt.Errorf("bulk orders: %w", err))
	}
	return st, nil
}

// savePage commits one page: its orders, newer-wins, with their triggers
// dropped (history), and the state after it, in one transaction. With
// checkCursor, the page commits only if the saved cursor is still from.
func (b *Backfiller) savePage(ctx context.Context, shop models.Shop, run int, checkCursor bool, from string,
	orders []models.Order, next string, last, readAll bool, update func(*models.SyncState)) (models.SyncState, error) {
	var out models.SyncState
	err := b.store.InTx(ctx, func(tx *models.Tx) error {
		st, err := tx.LockSyncState(shop.ID)
		if err != nil {
			return err
		}
		if st.Run != run || st.State != models.SyncRunning || (checkCursor && st.Cursor != from) {
			return errSuperseded
		}
		for i := range orders {
			// The triggers are dropped on purpose: see the file comment.
			if _, err := applyOrderWithEvents(tx, shop, &orders[i]); err != nil {
				return err
			}
			advance(&st.HighWaterMark, orders[i].PlatformUpdatedAt)
		}
		st.Done += int64(len(orders))
		st.ReadAllOrders = readAll
		if checkCursor {
			st.Cursor = next
		}
		st.LastError = ""
		update(&st)
		if last {
			now := tx.Now()
			st.State, st.FinishedAt = models.SyncDone, &now
			if st.Done > st.Total {
				st.Total = st.Done // orders created while it ran
			}
		}
		if err := tx.SaveSyncState(&st); err != nil {
			return err
		}
		out = st
		return nil
	})
	if err != nil {
		return out, err
	}
	return out, nil
}

// apiError records a failed call: a refused token fails the run for good
// (and flags the shop for re-authorization); anything else is noted and
// retried by the queue, resuming at the cursor.
func (b *Backfiller) apiError(ctx context.Context, shop models.Shop, run int, err error) error {
	if ctx.Err() != nil {
		return err // cancelled or timed out: not the run's fault
	}
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, models.ErrNoToken) {
		if merr := b.store.MarkNeedsReauth(ctx, shop.ID); merr != nil {
			b.log.Error("mark needs reauth", "shop", shop.Domain, "err", merr)
		}
		b.fail(ctx, shop, run, "Shopify refused the access token: the merchant must open the app again to re-authorize it")
		return fmt.Errorf("backfill %s: %w: %w", shop.Domain, err, asynq.SkipRetry)
	}
	return b.noteError(ctx, shop, run, err)
}

func (b *Backfiller) noteError(ctx context.Context, shop models.Shop, run int, err error) error {
	_, uerr := b.store.UpdateSyncState(ctx, shop.ID, func(s *models.SyncState) error {
		if s.Run != run {
			return errSuperseded
		}
		s.LastError = err.Error()
		return nil
	})
	if uerr != nil && !errors.Is(uerr, errSuperseded) {
		b.log.Warn("record backfill error", "shop", shop.Domain, "err", uerr)
	}
	return fmt.Errorf("backfill %s: %w", shop.Domain, err)
}

func (b *Backfiller) fail(ctx context.Context, shop models.Shop, run int, reason string) {
	_, err := b.store.UpdateSyncState(ctx, shop.ID, func(s *models.SyncState) error {
		if s.Run != run || s.State != models.SyncRunning {
			return errSuperseded
		}
		now := b.now()
		s.State, s.LastError, s.FinishedAt = models.SyncFailed, reason, &now
		return nil
	})
	if err != nil && !errors.Is(err, errSuperseded) {
		b.log.Error("record backfill failure", "shop", shop.Domain, "err", err)
		return
	}
	b.log.Warn("backfill failed", "shop", shop.Domain, "run", run, "reason", reason)
}

func ignoreSuperseded(err error) error {
	if errors.Is(err, errSuperseded) {
		return nil
	}
	return err
}

// advance moves a high-water mark forward to t.
func advance(hwm **time.Time, t time.Time) {
	if t.IsZero() {
		return
	}
	if *hwm == nil || t.After(**hwm) {
		u := t.UTC()
		*hwm = &u
	}
}

func rate(n int64, since time.Time) float64 {
	s := time.Since(since).Seconds()
	if s <= 0 || n <= 0 {
		return 0
	}
	return float64(n) / s
}

// applyOrderWithEvents is applyOrder plus the carrier events nested in the
// order's fulfillments: an API read brings them inside the order, where a
// webhook brings each as its own fulfillment_events/create. It returns the
// triggers the change implies, the events' included (a scan that moves a
// shipment to a new status), each once: the fulfillment's own upsert and
// its latest event report the same status, and a status reached twice is
// one trigger by its unique key.
func applyOrderWithEvents(tx *models.Tx, shop models.Shop, o *models.Order) ([]models.Trigger, error) {
	triggers, err := applyOrder(tx, shop, o)
	if err != nil {
		return nil, err
	}
	for i := range o.Fulfillments {
		f := &o.Fulfillments[i]
		for j := range f.Events {
			ev := &f.Events[j]
			ev.FulfillmentPlatformID, ev.OrderPlatformID = f.PlatformID, o.PlatformID
			fl, prevStatus, inserted, err := tx.ApplyFulfillmentEvent(shop.ID, ev)
			if err != nil {
				return nil, err
			}
			if inserted && fl != nil {
				triggers = append(triggers, fulfillmentTrigger(shop, prevStatus, fl)...)
			}
		}
	}
	return triggers, nil
}
