package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// helpdeskWebhookRoutes mounts the ticket webhooks each desk's Install
// points at: /webhooks/<kind>/<connection id>.
func (a *App) helpdeskWebhookRoutes(r *gin.Engine) {
	for _, kind := range []helpdesk.Kind{helpdesk.Gorgias, helpdesk.Zendesk, helpdesk.Freshdesk} {
		r.POST("/webhooks/"+string(kind)+"/:connection", a.handleTicketWebhook(kind))
	}
}

// handleTicketWebhook is the platform webhook intake for a helpdesk's
// ticket events, in the same order: size cap → verify with the
// connection's desk (401, nothing stored) → one INSERT of the delivery (a
// duplicate answers 200 at once) → 200. delivery:process upserts the
// ticket (jobs/helpdesk_sync.go).
//
// Every verification failure answers the same 401, whether the connection
// is unknown, disconnected, of another desk or the secret is wrong, so the
// answer says nothing about which connection ids exist.
func (a *App) handleTicketWebhook(kind helpdesk.Kind) gin.HandlerFunc {
	max := a.cfg.WebhookMaxBytes
	timeout := time.Duration(0)
	if models.IsPostgres(a.db) {
		timeout = intakeTimeout
	}
	topic := string(kind) + "/" + jobs.TopicTicket
	return func(c *gin.Context) {
		start := time.Now()
		outcome := outcomeError
		defer func() {
			a.metrics.deliveries.WithLabelValues(topic, outcome).Inc()
			a.metrics.ack.WithLabelValues(strconv.Itoa(c.Writer.Status())).Observe(time.Since(start).Seconds())
		}()
		rejected := func() {
			outcome = outcomeBadSignature
			apiError(c, http.StatusUnauthorized, "bad_signature", "the webhook does not verify for this connection")
		}
		if c.Request.ContentLength > max {
			outcome = outcomeTooLarge
			apiError(c, http.StatusRequestEntityTooLarge, "too_large", "webhook body exceeds WEBHOOK_MAX_BYTES")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, max))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				outcome = outcomeTooLarge
				apiError(c, http.StatusRequestEntityTooLarge, "too_large", "webhook body exceeds WEBHOOK_MAX_BYTES")
				return
			}
			outcome = outcomeBadRequest
			apiError(c, http.StatusBadRequest, "bad_body", "could not read the body")
			return
		}
		connID, err := strconv.ParseUint(c.Param("connection"), 10, 64)
		if err != nil {
			rejected()
			return
		}
		ctx := c.Request.Context()
		conn, shopDomain, err := a.store.HelpdeskWebhookTarget(ctx, connID)
		if errors.Is(err, models.ErrNotFound) || (err == nil && conn.Kind != string(kind)) {
			a.reqLog(c).Warn("ticket webhook rejected: no such connection", "kind", kind, "connection", connID)
			rejected()
			return
		}
		if err != nil {
			a.intakeStoreError(c, &outcome, err)
			return
		}
		c.Set(logShop, shopDomain)
		desk, err := jobs.OpenDesk(a.store, conn, nil)
		if err != nil {
			a.reqLog(c).Error("ticket webhook: open connection", "connection", connID, "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		ev, err := desk.ParseWebhook(c.Request.Header, body)
		if errors.Is(err, helpdesk.ErrBadSignature) {
			a.reqLog(c).Warn("ticket webhook rejected: bad signature", "kind", kind, "connection", connID, "err", err)
			rejected()
			return
		}
		// Any other error came after verification: the body is the desk's
		// but not a shape the client reads. It is stored all the same, so
		// delivery:process records why it failed and a fixed parser can
		// replay it.
		d := &models.Delivery{
			Platform: string(kind), ShopDomain: shopDomain, Topic: jobs.TopicTicket,
			EventID:   ticketEventID(connID, body, err == nil && ev.Ticket.UpdatedAt.IsZero(), time.Now()),
			WebhookID: strconv.FormatUint(connID, 10), Body: body, ReceivedAt: time.Now().UTC(),
		}
		ictx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			ictx, cancel = context.WithTimeout(ctx, timeout)
		}
		inserted, err := a.store.InsertDelivery(ictx, d)
		cancel()
		if err != nil {
			a.intakeStoreError(c, &outcome, err)
			return
		}
		if !inserted {
			outcome = outcomeDuplicate
			c.Status(http.StatusOK)
			return
		}
		outcome = outcomeAccepted
		c.Set(logDelivery, d.ID)
		a.disp.Wake()
		c.Status(http.StatusOK)
	}
}

// ticketEventID is the dedup key of a ticket webhook. None of the desks
// sends an event id header Doorstep could rely on (Zendesk's
// X-Zendesk-Webhook-Id names the webhook, not the event), so it is the
// body's hash: a retry of the same event carries the same body, and a new
// event changes the ticket's update time, so its body differs. A desk
// whose body has no update time (Freshdesk's automation rule) would make a
// ticket reopened after being closed look like the first "open" event, so
// there the minute of receipt joins the key: a retry within the minute is
// still one delivery, and storing a late retry twice is harmless because
// applying a ticket event is idempotent.
func ticketEventID(connID uint64, body []byte, untimed bool, now time.Time) string {
	sum := sha256.Sum256(body)
	id := strconv.FormatUint(connID, 10) + ":" + hex.EncodeToString(sum[:])
	if untimed {
		id += ":" + now.UTC().Format("200601021504")
	}
	return id
}

// intakeStoreError answers a failed intake read or write: 503 when the
// database is down or slow (the desk retries), 500 when it refused.
func (a *App) intakeStoreError(c *gin.Context, outcome *string, err error) {
	if unavailable(err) {
		*outcome = outcomeUnavailable
		a.reqLog(c).Error("ticket webhook: database unavailable", "err", err)
		apiError(c, http.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry later")
		return
	}
	a.reqLog(c).Error("ticket webhook: store", "err", err)
	apiError(c, http.StatusInternalServerError, "internal", "internal error")
}
