package app

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/models"
)

// deliveriesAPI: GET /api/admin/deliveries, POST /api/admin/deliveries/:id/replay.
//
// Replay semantics: only a failed or ignored delivery can be replayed (a
// fixed parser, or a shop installed after its webhooks arrived). Anything
// else answers 409 "not_replayable" with the reason (already processed,
// already waiting to be processed, body dropped by retention); nothing
// changes. So a double-clicked or concurrent replay makes one processing
// and one set of effects: one request gets 200, the others 409.
func (a *App) deliveriesAPI(api *gin.RouterGroup) {
	api.GET("/deliveries", a.handleListDeliveries())
	api.POST("/deliveries/:id/replay", a.handleReplayDelivery())
}

// deliveryJSON is a delivery without its body.
type deliveryJSON struct {
	ID          uint64     `json:"id"`
	Topic       string     `json:"topic"`
	EventID     string     `json:"event_id"`
	Status      string     `json:"status"`
	Error       string     `json:"error"`
	Attempts    int        `json:"attempts"`
	ReceivedAt  time.Time  `json:"received_at"`
	ProcessedAt *time.Time `json:"processed_at"`
	OrderID     *string    `json:"order_id"` // platform id; null when it changed no order
}

func deliveryOf(d models.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, Topic: d.Topic, EventID: d.EventID, Status: d.Status, Error: d.Error,
		Attempts: d.Attempts, ReceivedAt: d.ReceivedAt.UTC(), ProcessedAt: utcPtr(d.ProcessedAt)}
	if d.OrderPlatformID != 0 {
		id := platformID(d.OrderPlatformID)
		out.OrderID = &id
	}
	return out
}

type deliveryListQuery struct {
	Status string `form:"status"`
}

func (a *App) handleListDeliveries() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		var in deliveryListQuery
		if err := c.ShouldBindQuery(&in); err != nil {
			apiError(c, http.StatusBadRequest, "bad_query", "query parameters are malformed")
			return
		}
		if in.Status != "" && !slices.Contains(models.DeliveryStatuses, in.Status) {
			apiError(c, http.StatusBadRequest, "bad_status",
				"status must be one of: "+strings.Join(models.DeliveryStatuses, ", "))
			return
		}
		p, ok := readPage(c)
		if !ok {
			return
		}
		ds, err := a.store.ListDeliveries(c.Request.Context(), shop, models.DeliverySearch{Status: in.Status, Limit: p.Limit, After: p.After})
		if err != nil {
			a.storeError(c, err)
			return
		}
		ds, next := pageOf(ds, p.Limit, func(d models.Delivery) uint64 { return d.ID })
		items := make([]deliveryJSON, len(ds))
		for i, d := range ds {
			items[i] = deliveryOf(d)
		}
		list(c, items, next)
	}
}

// replayTimeout bounds the processing a replay does inline.
const replayTimeout = 30 * time.Second

func (a *App) handleReplayDelivery() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		id, err := strconv.ParseUint(c.Param("id"), 10, 64)
		if err != nil || id == 0 {
			apiError(c, http.StatusNotFound, "not_found", "not found")
			return
		}
		err = a.store.ReplayDelivery(c.Request.Context(), shop, id)
		var refused *models.ReplayRefused
		if errors.As(err, &refused) {
			apiError(c, http.StatusConflict, "not_replayable", refused.Reason)
			return
		}
		if err != nil {
			a.storeError(c, err)
			return
		}
		a.log.Info("delivery replayed", "shop", shop.Domain, "delivery", id)
		// Process now, and finish even if the admin goes away: the
		// delivery is marked dispatched, so the dispatcher would only pick
		// it up again after its redispatch delay.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), replayTimeout)
		defer cancel()
		n, perr := a.proc.Process(ctx, id)
		if n > 0 {
			a.disp.Wake()
		}
		d, err := a.store.ShopDelivery(ctx, shop, id)
		if err != nil {
			a.storeError(c, err)
			return
		}
		status := http.StatusOK
		if perr != nil && d.Status == models.DeliveryReceived {
			// A transient failure (database): it stays received and the
			// dispatcher retries it; say it was accepted, not done.
			a.log.Warn("replayed delivery not processed yet", "shop", shop.Domain, "delivery", id, "err", perr)
			status = http.StatusAccepted
		}
		c.JSON(status, deliveryOf(d))
	}
}
