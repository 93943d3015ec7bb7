package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// syncAPI: GET /api/admin/sync, the shop's order sync (backfill progress
// and reconcile).
func (a *App) syncAPI(api *gin.RouterGroup) {
	api.GET("/sync", a.getSync())
}

// syncStatus is what the admin shows. Times are null until they happen.
type syncStatus struct {
	State         string  `json:"state"` // idle, running, done, failed
	Mode          string  `json:"mode,omitempty"`
	Done          int64   `json:"done"`
	Total         int64   `json:"total"`
	Rate          float64 `json:"rate"` // orders per second
	LastError     string  `json:"last_error"`
	ReadAllOrders bool    `json:"read_all_orders"`
	// Note explains a limit the merchant should know about.
	Note            string     `json:"note,omitempty"`
	Since           *time.Time `json:"since"`
	StartedAt       *time.Time `json:"started_at"`
	UpdatedAt       *time.Time `json:"updated_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	HighWaterMark   *time.Time `json:"high_water_mark"`
	LastReconcileAt *time.Time `json:"last_reconcile_at"`
}

// noteLimited is shown while Shopify serves only recent orders.
const noteLimited = "Shopify serves only the last 60 days of orders: the app does not have the read_all_orders scope, so older orders are not imported."

func (a *App) getSync() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		st, err := a.store.SyncState(c.Request.Context(), shop.ID)
		if errors.Is(err, models.ErrNotFound) {
			c.JSON(http.StatusOK, syncStatus{State: models.SyncIdle})
			return
		}
		if err != nil {
			a.storeError(c, err)
			return
		}
		out := syncStatus{State: st.State, Mode: st.Mode, Done: st.Done, Total: st.Total, Rate: st.Rate, LastError: st.LastError,
			ReadAllOrders: st.ReadAllOrders, Since: utc(st.Since), StartedAt: utc(st.StartedAt), FinishedAt: utc(st.FinishedAt),
			HighWaterMark: utc(st.HighWaterMark), LastReconcileAt: utc(st.LastReconcileAt)}
		if !st.UpdatedAt.IsZero() {
			out.UpdatedAt = utc(&st.UpdatedAt)
		}
		// Until a first page is read the scope is unknown: say nothing.
		if !st.ReadAllOrders && (st.Done > 0 || st.State == models.SyncDone) {
			out.Note = noteLimited
		}
		c.JSON(http.StatusOK, out)
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// StartBackfill starts (or resumes) the shop's order backfill in the
// workers. Call it once the shop is installed; the scheduler also starts
// one within a minute for any installed shop that has none.
func (a *App) StartBackfill(ctx context.Context, shop models.Shop) error {
	_, err := a.backfill.Start(ctx, shop)
	return err
}

// Backfill runs the shop's backfill in this process (doorstep backfill):
// it resumes the shop's running or failed run with the same since, or
// starts a new one, and returns the state at the end. progress is called
// after every committed page.
func (a *App) Backfill(ctx context.Context, domain string, since time.Time, progress func(models.SyncState)) (models.SyncState, error) {
	shop, err := a.store.ShopByDomain(ctx, models.PlatformShopify, domain)
	if err != nil {
		return models.SyncState{}, err
	}
	if !shop.Installed() {
		return models.SyncState{}, fmt.Errorf("shop %s does not have the app installed", domain)
	}
	st, err := a.backfill.Begin(ctx, shop, since)
	if err != nil {
		return st, err
	}
	if progress != nil {
		progress(st)
	}
	return a.backfill.Run(ctx, shop, st.Run, progress)
}

// Backfiller, Reconciler and Scheduler expose the sync jobs (tests, CLI).
func (a *App) Backfiller() *jobs.Backfiller { return a.backfill }

// Reconciler exposes the reconcile job.
func (a *App) Reconciler() *jobs.Reconciler { return a.reconcile }

// Scheduler exposes the periodic scheduler.
func (a *App) Scheduler() *jobs.Scheduler { return a.sched }

// shopifySync adapts the Shopify client to the interfaces the sync jobs
// declare (jobs.OrderSource, jobs.WebhookAPI): it converts the types, and on
// a 401 refreshes the token once and retries; a second 401 becomes
// jobs.ErrUnauthorized (the job then marks the shop for re-authorization).
type shopifySync struct {
	c       *shopify.Client
	refresh func(ctx context.Context, shop, rejected string) (string, error)
}

// withAuthRetry runs call with token and, if Shopify refuses it, once more
// with a refreshed token.
func (s shopifySync) withAuthRetry(ctx context.Context, shop, token string, call func(token string) error) error {
	err := call(token)
	if errors.Is(err, shopify.ErrUnauthorized) && s.refresh != nil {
		fresh, rerr := s.refresh(ctx, shop, token)
		if rerr == nil && fresh != token {
			err = call(fresh)
		}
	}
	return syncErr(err)
}

func syncErr(err error) error {
	if errors.Is(err, shopify.ErrUnauthorized) {
		return fmt.Errorf("%w: %w", jobs.ErrUnauthorized, err)
	}
	return err
}

func (s shopifySync) Orders(ctx context.Context, shop, token string, q jobs.OrdersQuery) (jobs.OrdersPage, error) {
	var p shopify.OrdersPage
	err := s.withAuthRetry(ctx, shop, token, func(tok string) (err error) {
		p, err = s.c.Orders(ctx, shop, tok, shopify.OrdersQuery{UpdatedSince: q.UpdatedSince, After: q.After, PageSize: q.PageSize})
		return err
	})
	if err != nil {
		return jobs.OrdersPage{}, err
	}
	return jobs.OrdersPage{Orders: p.Orders, EndCursor: p.EndCursor, HasNext: p.HasNext,
		RequestedCost: p.RequestedCost, ActualCost: p.ActualCost, ReadAllOrders: p.ReadAllOrders}, nil
}

func (s shopifySync) CountOrders(ctx context.Context, shop, token string, since time.Time) (int, error) {
	var n int
	err := s.withAuthRetry(ctx, shop, token, func(tok string) (err error) {
		n, err = s.c.CountOrders(ctx, shop, tok, since)
		return err
	})
	return n, err
}

func (s shopifySync) BulkOrders(ctx context.Context, shop, token string, since time.Time, emit func(models.Order) error) (int, error) {
	var n int
	err := s.withAuthRetry(ctx, shop, token, func(tok string) (err error) {
		n, err = s.c.BulkOrders(ctx, shop, tok, since, emit)
		return err
	})
	return n, err
}

func (s shopifySync) WebhookSubscriptions(ctx context.Context, shop, token string) ([]jobs.WebhookSubscription, error) {
	var subs []shopify.Subscription
	err := s.withAuthRetry(ctx, shop, token, func(tok string) (err error) {
		subs, err = s.c.WebhookSubscriptions(ctx, shop, tok)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]jobs.WebhookSubscription, len(subs))
	for i, sub := range subs {
		out[i] = jobs.WebhookSubscription{ID: sub.ID, Topic: sub.Topic, URI: sub.URI}
	}
	return out, nil
}

func (s shopifySync) RegisterWebhooks(ctx context.Context, shop, token, callbackURL string, topics []string) error {
	return s.withAuthRetry(ctx, shop, token, func(tok string) error {
		return s.c.RegisterWebhooks(ctx, shop, tok, callbackURL, topics)
	})
}
