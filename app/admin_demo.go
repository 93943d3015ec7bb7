package app

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/models"
)

// The demo has no Shopify admin around it, so it stands in for the two
// things Shopify does: it signs session tokens for the demo shop (with the
// demo's own app secret), and it serves a small App Bridge stand-in that
// hands them out and performs the bounce. The admin pages are the same ones
// Shopify frames. The demo listens on 127.0.0.1 only.

// demoSessionToken signs a one-minute session token for the demo shop, as
// App Bridge's would be.
func (a *App) demoSessionToken() (string, error) {
	now := a.now()
	shop := a.opts.DemoShop
	claims := jwt.MapClaims{
		"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": a.cfg.ShopifyAPIKey,
		"sub": "1", "exp": now.Add(time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(),
		"jti": strconv.FormatInt(now.UnixNano(), 36), "sid": "demo",
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(a.cfg.ShopifyAPISecret))
}

// handleDemoLogin opens the admin as Shopify would: /admin with the shop,
// host, embedded and a fresh id_token.
func (a *App) handleDemoLogin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, err := a.store.ShopByDomain(c.Request.Context(), models.PlatformShopify, a.opts.DemoShop); errors.Is(err, models.ErrNotFound) {
			c.String(http.StatusServiceUnavailable, "The demo shop is still being installed: reload in a second.\n")
			return
		}
		tok, err := a.demoSessionToken()
		if err != nil {
			a.adminFailure(c, "demo token", err)
			return
		}
		q := url.Values{"shop": {a.opts.DemoShop}, "host": {"ZGVtbw"}, "embedded": {"1"}, "id_token": {tok}}
		c.Redirect(http.StatusFound, "/admin?"+q.Encode())
	}
}

// handleDemoSessionToken is what the stand-in's shopify.idToken() calls.
func (a *App) handleDemoSessionToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		tok, err := a.demoSessionToken()
		if err != nil {
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		c.Header("Cache-Control", "no-store")
		c.String(http.StatusOK, tok)
	}
}

// handleDemoOutbox shows a message the demo sent, as the shopper would see
// it (the demo's channels are the outbox).
func (a *App) handleDemoOutbox() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := strconv.ParseUint(c.Param("id"), 10, 64)
		if err != nil {
			c.String(http.StatusNotFound, "no such message")
			return
		}
		s, err := a.store.ShopByDomain(c.Request.Context(), models.PlatformShopify, a.opts.DemoShop)
		if err != nil {
			c.String(http.StatusNotFound, "no demo shop")
			return
		}
		m, err := a.store.OutboxMessage(c.Request.Context(), s.ID, "msg-"+strconv.FormatUint(id, 10))
		if err != nil {
			c.String(http.StatusNotFound, "no such message in the outbox")
			return
		}
		c.Header("Content-Security-Policy", "script-src 'none'")
		if m.Channel == "sms" {
			c.String(http.StatusOK, "SMS to %s:\n\n%s\n", m.To, m.Text)
			return
		}
		c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(m.HTML))
	}
}
