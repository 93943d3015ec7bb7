package app

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// adminRoutes mounts the embedded admin's documents. Each page reads
// through the same store calls the admin API uses; edits are made by the
// page's forms through the admin API with a session token.
func (a *App) adminRoutes(r *gin.Engine) {
	doc := a.adminDocument()
	r.GET("/admin", doc, a.handleDashboardPage())
	r.GET("/admin/orders", doc, a.handleOrdersPage())
	r.GET("/admin/orders/:id", doc, a.handleOrderPage())
	r.GET("/admin/customers", doc, a.handleCustomersPage())
	r.GET("/admin/customers/:id", doc, a.handleCustomerPage())
	r.GET("/admin/flows", doc, a.handleFlowsPage())
	r.GET("/admin/settings", doc, a.handleSettingsPage())
	r.GET("/admin/session-token-bounce", a.handleBounce())
	r.GET("/admin/assets/*file", adminAssetsHandler())
}

// ---- dashboard ----

// dashboardSource is the store's KPI query.
type dashboardSource interface {
	Dashboard(ctx context.Context, shopID uint64, days int, now time.Time) (models.Dashboard, error)
}

type dashboardPage struct {
	models.Dashboard
	Sync     syncStatus
	SyncNote string
	// Updating says a rollup was asked for because the figures are stale.
	Updating bool
}

// dashboardStale is how old the rollups may be before opening the
// dashboard asks for fresh ones (the scheduler refreshes them every few
// minutes anyway; the demo has no scheduler).
const dashboardStale = 2 * time.Minute

// refreshDashboard enqueues the shop's rollup, at most once per
// dashboardStale window however many merchants look; it reports whether
// one is on its way.
func (a *App) refreshDashboard(ctx context.Context, shopID uint64, now time.Time) bool {
	task, opts := jobs.NewStatsRollupTask(shopID, jobs.Window(now, dashboardStale), dashboardStale)
	_, err := a.queue.EnqueueContext(ctx, task, opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		a.log.Warn("enqueue dashboard rollup", "shop_id", shopID, "err", err)
		return false
	}
	return true
}

func (a *App) handleDashboardPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		v := a.adminView(c, "dashboard", "Dashboard")
		days := 30
		if c.Query("days") == "90" {
			days = 90
		}
		ctx := c.Request.Context()
		var p dashboardPage
		var err error
		now := a.now()
		if p.Dashboard, err = a.dashboard.Dashboard(ctx, v.Shop.ID, days, now); err != nil {
			a.adminFailure(c, "dashboard", err)
			return
		}
		if now.Sub(p.RolledUpAt) > dashboardStale {
			p.Updating = a.refreshDashboard(ctx, v.Shop.ID, now)
		}
		st, err := a.store.SyncState(ctx, v.Shop.ID)
		switch {
		case errors.Is(err, models.ErrNotFound):
			p.Sync = syncStatus{State: models.SyncIdle}
		case err != nil:
			a.adminFailure(c, "sync state", err)
			return
		default:
			p.Sync = syncStatus{State: st.State, Done: st.Done, Total: st.Total, LastError: st.LastError, ReadAllOrders: st.ReadAllOrders,
				FinishedAt: utc(st.FinishedAt), LastReconcileAt: utc(st.LastReconcileAt)}
			if !st.ReadAllOrders {
				p.SyncNote = noteLimited
			}
		}
		v.Data = p
		a.renderAdmin(c, "dashboard", v)
	}
}

// ---- orders ----

type ordersPage struct {
	Q      string
	Orders []orderSummary
	Next   string // id of the last order shown, when more follow
}

const adminPageSize = 50

func (a *App) handleOrdersPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		v := a.adminView(c, "orders", "Orders")
		p := ordersPage{Q: c.Query("q")}
		after, _ := strconv.ParseUint(c.Query("after"), 10, 64)
		orders, err := a.store.SearchOrders(c.Request.Context(), v.Shop.ID, models.OrderSearch{Q: p.Q, Limit: adminPageSize, After: after})
		if err != nil && !errors.Is(err, models.ErrBadCursor) {
			a.adminFailure(c, "orders", err)
			return
		}
		if len(orders) > adminPageSize {
			orders = orders[:adminPageSize]
			p.Next = strconv.FormatUint(orders[adminPageSize-1].ID, 10)
		}
		for _, o := range orders {
			p.Orders = append(p.Orders, orderSummary{
				ID: platformID(o.PlatformID), Name: o.Name, Email: o.Email, CreatedAt: o.PlatformCreatedAt.UTC(),
				FinancialStatus: o.FinancialStatus, FulfillmentStatus: o.FulfillmentStatus, Cancelled: o.Cancelled(),
				Total: money(o.Total), Currency: o.Currency, Shipments: briefShipments(o.Fulfillments),
			})
		}
		v.Data = p
		a.renderAdmin(c, "orders", v)
	}
}

type orderPageView struct {
	orderDetail
	Holds []models.OrderHold
	Held  bool // a manual hold the merchant can clear here
}

func (a *App) handleOrderPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		v := a.adminView(c, "orders", "Order")
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		ctx := c.Request.Context()
		var o models.Order
		if err == nil && id > 0 {
			o, err = a.store.Order(ctx, v.Shop.ID, id)
		} else {
			err = models.ErrNotFound
		}
		if errors.Is(err, models.ErrNotFound) {
			a.adminNotFound(c, v, "orders", "This order is not in Doorstep", "It may belong to another store, or Shopify has not sent it yet.")
			return
		}
		if err != nil {
			a.adminFailure(c, "order", err)
			return
		}
		timeline, err := a.orderTimeline(ctx, v.Shop, o)
		if err != nil {
			a.adminFailure(c, "order timeline", err)
			return
		}
		p := orderPageView{orderDetail: detailOf(o)}
		p.Timeline = timeline
		holds, err := a.store.OrderHolds(ctx, v.Shop.ID, o.PlatformID)
		if err != nil {
			a.adminFailure(c, "order holds", err)
			return
		}
		p.Holds = holds
		for _, h := range holds {
			if h.Reason == holdManual {
				p.Held = true
			}
		}
		v.Title = "Order " + o.Name
		v.Data = p
		a.renderAdmin(c, "order", v)
	}
}

// adminNotFound renders a page-level 404 inside the admin's layout.
func (a *App) adminNotFound(c *gin.Context, v adminView, page, heading, text string) {
	v.Page, v.Title = page, heading
	v.Data = map[string]string{"Heading": heading, "Text": text}
	t := adminPages["notfound"]
	frameAncestors(c, v.Shop.Domain)
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusNotFound)
	if err := t.ExecuteTemplate(c.Writer, "layout", v); err != nil {
		a.log.Error("render admin 404", "err", err)
	}
}

// ---- customers ----

type customersPage struct {
	Q         string
	Customers []models.CustomerSummary
	Next      string
}

func (a *App) handleCustomersPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		v := a.adminView(c, "customers", "Customers")
		p := customersPage{Q: c.Query("q")}
		after, _ := strconv.ParseUint(c.Query("after"), 10, 64)
		rows, err := a.store.SearchCustomers(c.Request.Context(), v.Shop.ID, models.CustomerSearch{Q: p.Q, Limit: adminPageSize, After: after})
		if err != nil {
			a.adminFailure(c, "customers", err)
			return
		}
		if len(rows) > adminPageSize {
			rows = rows[:adminPageSize]
			p.Next = strconv.FormatUint(rows[adminPageSize-1].ID, 10)
		}
		p.Customers = rows
		v.Data = p
		a.renderAdmin(c, "customers", v)
	}
}

type customerPage struct {
	Customer models.Customer
	// AdjustKey makes the points form post once however often it is
	// submitted; a reload gets a new one.
	AdjustKey string
	Loyalty   loyaltyCustomerReply
	Orders    []orderSummary
	Feedback  []models.Feedback
}

func (a *App) handleCustomerPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		v := a.adminView(c, "customers", "Customer")
		ctx := c.Request.Context()
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		var cust models.Customer
		if err == nil && id > 0 {
			cust, err = a.store.CustomerByPlatformID(ctx, v.Shop.ID, id)
		} else {
			err = models.ErrNotFound
		}
		if errors.Is(err, models.ErrNotFound) {
			a.adminNotFound(c, v, "customers", "This customer is not in Doorstep", "They may belong to another store, or have been erased at their request.")
			return
		}
		if err != nil {
			a.adminFailure(c, "customer", err)
			return
		}
		key := models.AccountKey{ShopID: v.Shop.ID, CustomerPlatformID: id}
		acct, err := a.store.Account(ctx, key)
		if errors.Is(err, models.ErrNotFound) {
			acct, err = models.LoyaltyAccount{ShopID: v.Shop.ID, CustomerPlatformID: id}, nil
		}
		if err != nil {
			a.adminFailure(c, "loyalty account", err)
			return
		}
		p := customerPage{Customer: cust, AdjustKey: "admin-" + rand.Text()}
		if p.Loyalty, err = a.loyaltyCustomerOf(ctx, v.Shop, key, acct); err != nil {
			a.adminFailure(c, "loyalty", err)
			return
		}
		orders, err := a.store.CustomerOrders(ctx, v.Shop.ID, id, adminPageSize)
		if err != nil {
			a.adminFailure(c, "customer orders", err)
			return
		}
		for _, o := range orders {
			p.Orders = append(p.Orders, orderSummary{ID: platformID(o.PlatformID), Name: o.Name, CreatedAt: o.PlatformCreatedAt.UTC(),
				FinancialStatus: o.FinancialStatus, FulfillmentStatus: o.FulfillmentStatus, Cancelled: o.Cancelled(),
				Total: money(o.Total), Currency: o.Currency})
		}
		if p.Feedback, err = a.store.CustomerFeedback(ctx, v.Shop.ID, id, adminPageSize); err != nil {
			a.adminFailure(c, "customer feedback", err)
			return
		}
		name := cust.FirstName + " " + cust.LastName
		if name == " " {
			name = cust.Email
		}
		v.Title = name
		v.Data = p
		a.renderAdmin(c, "customer", v)
	}
}
