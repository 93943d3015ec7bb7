package app

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/models"
)

// handleShopifyWebhook is the intake, in order: size cap → signature (401,
// nothing stored) → one INSERT (a duplicate answers 200 at once) → 200.
// Parsing, upserts and triggers happen in delivery:process, so the ack waits
// on one database write and never on Redis.
func (a *App) handleShopifyWebhook() gin.HandlerFunc {
	max := a.cfg.WebhookMaxBytes
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			apiError(c, http.StatusRequestEntityTooLarge, "too_large", "webhook body exceeds WEBHOOK_MAX_BYTES")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, max))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				apiError(c, http.StatusRequestEntityTooLarge, "too_large", "webhook body exceeds WEBHOOK_MAX_BYTES")
				return
			}
			apiError(c, http.StatusBadRequest, "bad_body", "could not read the body")
			return
		}
		meta, err := a.shopify.VerifyWebhook(c.Request.Header, body)
		if errors.Is(err, commerce.ErrBadSignature) {
			a.log.Warn("webhook rejected: bad signature", "shop", c.GetHeader("X-Shopify-Shop-Domain"),
				"topic", c.GetHeader("X-Shopify-Topic"))
			apiError(c, http.StatusUnauthorized, "bad_signature", "HMAC signature does not verify")
			return
		}
		if err != nil {
			apiError(c, http.StatusBadRequest, "bad_headers", err.Error())
			return
		}
		d := &models.Delivery{
			Platform: models.PlatformShopify, ShopDomain: meta.ShopDomain, Topic: meta.Topic, EventID: meta.EventID,
			WebhookID: meta.WebhookID, APIVersion: meta.APIVersion, Body: body, ReceivedAt: time.Now().UTC(),
			TriggeredAt: parseTime(c.GetHeader("X-Shopify-Triggered-At")),
		}
		if !handledTopic(meta.Topic) {
			d.Status, d.Error = models.DeliveryIgnored, "unhandled topic"
			a.log.Info("webhook of an unhandled topic stored as ignored", "shop", meta.ShopDomain, "topic", meta.Topic)
		}
		inserted, err := a.store.InsertDelivery(c.Request.Context(), d)
		if err != nil {
			// Shopify retries on 5xx; nothing was stored.
			a.log.Error("store delivery", "shop", meta.ShopDomain, "topic", meta.Topic, "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		if inserted && d.Status == models.DeliveryReceived {
			a.disp.Wake()
		}
		c.Status(http.StatusOK)
	}
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
