package app

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/models"
)

// intakeTimeout bounds the intake's one INSERT on PostgreSQL, so a
// database that is down or stalled answers 503 within 2 s (reading the body
// and answering fit in the rest) instead of holding Shopify's connection
// until its own timeout. Not on SQLite: a local file is never "down", and
// its one connection is shared with the workers, so a write may queue
// behind theirs for a while (busy_timeout bounds that).
const intakeTimeout = 1500 * time.Millisecond

// handleShopifyWebhook is the intake, in order: size cap → signature (401,
// nothing stored) → one INSERT (a duplicate answers 200 at once) → 200.
// Parsing, upserts and triggers happen in delivery:process, so the ack waits
// on one database write and never on Redis.
func (a *App) handleShopifyWebhook() gin.HandlerFunc {
	max := a.cfg.WebhookMaxBytes
	timeout := time.Duration(0)
	if models.IsPostgres(a.db) {
		timeout = intakeTimeout
	}
	return func(c *gin.Context) {
		start := time.Now()
		topic, verified := c.GetHeader("X-Shopify-Topic"), false
		outcome := outcomeError
		defer func() {
			a.metrics.deliveries.WithLabelValues(webhookTopic(topic, verified), outcome).Inc()
			a.metrics.ack.WithLabelValues(strconv.Itoa(c.Writer.Status())).Observe(time.Since(start).Seconds())
		}()
		c.Set(logShop, c.GetHeader("X-Shopify-Shop-Domain"))
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
		meta, err := a.shopify.VerifyWebhook(c.Request.Header, body)
		if errors.Is(err, commerce.ErrBadSignature) {
			outcome = outcomeBadSignature
			a.reqLog(c).Warn("webhook rejected: bad signature", "shop", c.GetHeader("X-Shopify-Shop-Domain"),
				"topic", topic)
			apiError(c, http.StatusUnauthorized, "bad_signature", "HMAC signature does not verify")
			return
		}
		if err != nil {
			outcome = outcomeBadRequest
			apiError(c, http.StatusBadRequest, "bad_headers", err.Error())
			return
		}
		topic, verified = meta.Topic, true
		c.Set(logShop, meta.ShopDomain)
		d := &models.Delivery{
			Platform: models.PlatformShopify, ShopDomain: meta.ShopDomain, Topic: meta.Topic, EventID: meta.EventID,
			WebhookID: meta.WebhookID, APIVersion: meta.APIVersion, Body: body, ReceivedAt: time.Now().UTC(),
			TriggeredAt: parseTime(c.GetHeader("X-Shopify-Triggered-At")),
		}
		if !handledTopic(meta.Topic) {
			d.Status, d.Error = models.DeliveryIgnored, "unhandled topic"
			a.reqLog(c).Info("webhook of an unhandled topic stored as ignored", "shop", meta.ShopDomain, "topic", meta.Topic)
		}
		ictx, cancel := c.Request.Context(), context.CancelFunc(func() {})
		if timeout > 0 {
			ictx, cancel = context.WithTimeout(ictx, timeout)
		}
		inserted, err := a.store.InsertDelivery(ictx, d)
		cancel()
		if err != nil {
			// Nothing was stored; Shopify retries on any non-2xx. 503 says
			// "try again" (the database is down or slow); 500 is a row the
			// database refused, which needs a person.
			if unavailable(err) {
				outcome = outcomeUnavailable
				a.reqLog(c).Error("store delivery: database unavailable", "shop", meta.ShopDomain, "topic", meta.Topic, "err", err)
				apiError(c, http.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry later")
				return
			}
			a.reqLog(c).Error("store delivery", "shop", meta.ShopDomain, "topic", meta.Topic, "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		if !inserted {
			outcome = outcomeDuplicate
			c.Status(http.StatusOK)
			return
		}
		outcome = outcomeAccepted
		c.Set(logDelivery, d.ID)
		if a.log.Enabled(c.Request.Context(), slog.LevelDebug) {
			a.reqLog(c).Debug("webhook stored", "shop", meta.ShopDomain, "topic", meta.Topic, "delivery", d.ID)
		}
		if d.Status == models.DeliveryReceived {
			a.disp.Wake()
		}
		c.Status(http.StatusOK)
	}
}

// unavailable tells a database that is down, unreachable, overloaded or
// too slow (worth a retry) from one that refused the row.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		switch code := state.SQLState(); {
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"), // insufficient resources (too many connections, disk full)
			strings.HasPrefix(code, "57"), // operator intervention (shutdown, terminated, query canceled)
			strings.HasPrefix(code, "40"), // serialization failure, deadlock
			code == "3D000":               // the database does not exist (dropped)
			return true
		}
		return false
	}
	// No SQLSTATE: the error came from the network or the driver, not from
	// the database's judgement of the row.
	return true
}

func parseTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}

// handledTopic: what Doorstep subscribes to through the API plus the
// compliance topics configured in shopify.app.toml.
func handledTopic(topic string) bool {
	switch topic {
	case "customers/redact", "customers/data_request", "shop/redact":
		return true
	}
	for _, t := range shopify.Topics {
		if t == topic {
			return true
		}
	}
	return false
}
