package app

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/models"
)

//go:embed templates/*.html
var templatesFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"money": func(d decimal.Decimal) string { return d.StringFixed(2) },
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04")
		}
		return ""
	},
}).ParseFS(templatesFS, "templates/*.html"))

// handleAdmin is the embedded admin's document load: Shopify opens
// /admin?shop=…&host=…&embedded=1&id_token=…; the id_token is a session
// token. A shop without an offline token gets one by token exchange (the
// Shopify-managed install). An invalid token renders the bounce page so App
// Bridge fetches a fresh one and reloads.
func (a *App) handleAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		idToken := c.Query("id_token")
		if idToken == "" {
			c.Header("Content-Type", "text/html; charset=utf-8")
			c.Status(http.StatusOK)
			_ = pages.ExecuteTemplate(c.Writer, "outside.html", nil)
			return
		}
		shop, err := a.shopify.VerifySessionToken(idToken)
		if err != nil {
			a.renderBounce(c)
			return
		}
		s, err := a.store.ShopByDomain(c.Request.Context(), models.PlatformShopify, shop)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		if errors.Is(err, models.ErrNotFound) || !s.Installed() || s.NeedsReauth {
			tok, err := a.shopify.ExchangeSessionToken(c.Request.Context(), shop, idToken)
			if err != nil {
				a.log.Warn("token exchange failed", "shop", shop, "err", err)
				a.renderBounce(c)
				return
			}
			if s, err = a.completeInstall(c.Request.Context(), shop, tok); err != nil {
				a.log.Error("install by token exchange failed", "shop", shop, "err", err)
				apiError(c, http.StatusBadGateway, "install_failed", "could not finish the install with Shopify: reload to try again")
				return
			}
			a.log.Info("shop installed by token exchange", "shop", shop)
		}
		a.renderOrders(c, s)
	}
}

// handleDemoLogin opens the same page for the demo shop, with no token.
func (a *App) handleDemoLogin() gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := a.store.ShopByDomain(c.Request.Context(), models.PlatformShopify, a.opts.DemoShop)
		if errors.Is(err, models.ErrNotFound) {
			apiError(c, http.StatusNotFound, "no_demo_shop", "the demo shop is not installed yet")
			return
		}
		if err != nil {
			a.log.Error("load demo shop", "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		a.renderOrders(c, s)
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

// frameAncestors is the CSP every admin HTML response carries, per shop, so
// only that shop's admin can frame it.
func frameAncestors(c *gin.Context, shop string) {
	c.Header("Content-Security-Policy", "frame-ancestors https://"+shop+" https://admin.shopify.com;")
}

// renderBounce sends the document to Shopify's bounce page: App Bridge
// loads there, sees shopify-reload, and reloads that URL with a fresh
// id_token.
func (a *App) renderBounce(c *gin.Context) {
	q := c.Request.URL.Query()
	q.Del("id_token")
	reload := (&url.URL{Path: c.Request.URL.Path, RawQuery: q.Encode()}).String()
	bq := url.Values{"shopify-reload": {reload}}
	for _, k := range []string{"shop", "host", "embedded"} {
		if v := q.Get(k); v != "" {
			bq.Set(k, v)
		}
	}
	c.Redirect(http.StatusFound, "/admin/session-token-bounce?"+bq.Encode())
}

// handleBounce renders App Bridge alone; it does the reload.
func (a *App) handleBounce() gin.HandlerFunc {
	return func(c *gin.Context) {
		if shop := c.Query("shop"); shop != "" {
			if norm, err := shopify.NormalizeShopDomain(shop); err == nil {
				frameAncestors(c, norm)
			}
		}
		c.Header("Content-Type", "text/html; charset=utf-8")
		c.Status(http.StatusOK)
		_ = pages.ExecuteTemplate(c.Writer, "bounce.html", map[string]any{"APIKey": a.cfg.ShopifyAPIKey})
	}
}

type orderView struct {
	models.Order
	Triggers []models.Trigger
	Messages []models.Message
}

func (a *App) loadOrderViews(ctx context.Context, shop models.Shop) ([]orderView, error) {
	orders, err := a.store.ListOrders(ctx, shop.ID, 50)
	if err != nil {
		return nil, err
	}
	views := make([]orderView, 0, len(orders))
	for _, o := range orders {
		full, err := a.store.Order(ctx, shop.ID, o.PlatformID)
		if err != nil {
			return nil, err
		}
		ts, err := a.store.TriggersForOrder(ctx, shop.ID, o.PlatformID)
		if err != nil {
			return nil, err
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].CreatedAt.Before(ts[j].CreatedAt) })
		ms, _, err := a.store.OrderMessages(ctx, shop.ID, o.PlatformID)
		if err != nil {
			return nil, err
		}
		views = append(views, orderView{Order: full, Triggers: ts, Messages: ms})
	}
	return views, nil
}

func (a *App) renderOrders(c *gin.Context, shop models.Shop) {
	views, err := a.loadOrderViews(c.Request.Context(), shop)
	if err != nil {
		a.log.Error("load orders", "shop", shop.Domain, "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	total, _ := a.store.CountOrders(c.Request.Context(), shop.ID)
	frameAncestors(c, shop.Domain)
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	err = pages.ExecuteTemplate(c.Writer, "orders.html", map[string]any{
		"Shop": shop, "Orders": views, "Total": total, "APIKey": a.cfg.ShopifyAPIKey, "Demo": a.opts.Demo,
	})
	if err != nil {
		a.log.Error("render orders", "err", err)
	}
}
