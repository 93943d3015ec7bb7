package app

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/models"
)

// The admin API: /api/admin/..., authenticated by the App Bridge session
// token (Authorization: Bearer). The shop comes from the token, never from a
// request parameter, and every query below is scoped by it.

const ctxShop = "doorstep.shop"

// apiRoutes mounts the admin API. Each feature adds its routes in its own
// file through a function called here.
func (a *App) apiRoutes(r *gin.Engine) {
	api := r.Group("/api/admin", a.extensionCORS(), a.sessionAuth())
	a.ordersAPI(api)
	a.deliveriesAPI(api)
	a.privacyAPI(api)
	a.syncAPI(api)
	a.messagesAPI(api)
	a.templatesTestAPI(api)
	a.helpdeskAPI(api)
	a.shopChannelsAPI(api)
}

// sessionAuth verifies the session token and loads its shop. Anything
// invalid answers 401 with X-Shopify-Retry-Invalid-Session-Request: 1, so
// App Bridge fetches a fresh token and retries.
func (a *App) sessionAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		// The scheme is case-insensitive (RFC 9110 §11.1).
		scheme, raw, _ := strings.Cut(strings.TrimSpace(c.GetHeader("Authorization")), " ")
		raw = strings.TrimSpace(raw)
		if !strings.EqualFold(scheme, "Bearer") || raw == "" {
			unauthorized(c, "missing session token")
			return
		}
		domain, err := a.shopify.VerifySessionToken(raw)
		if err != nil {
			unauthorized(c, "invalid session token")
			return
		}
		shop, err := a.store.ShopByDomain(c.Request.Context(), models.PlatformShopify, domain)
		if errors.Is(err, models.ErrNotFound) || (err == nil && !shop.Installed()) {
			unauthorized(c, "shop is not installed")
			return
		}
		if err != nil {
			a.log.Error("load shop", "shop", domain, "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		c.Set(ctxShop, shop)
		c.Next()
	}
}

func unauthorized(c *gin.Context, msg string) {
	c.Header("X-Shopify-Retry-Invalid-Session-Request", "1")
	apiError(c, http.StatusUnauthorized, "unauthorized", msg)
}

// shopOf is the authenticated shop (set by sessionAuth).
func shopOf(c *gin.Context) models.Shop {
	return c.MustGet(ctxShop).(models.Shop)
}

// storeError maps store errors to the one error shape.
func (a *App) storeError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, models.ErrNotFound):
		apiError(c, http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, models.ErrConflict):
		apiError(c, http.StatusConflict, "conflict", err.Error())
	default:
		a.log.Error("admin api", "path", c.FullPath(), "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "internal error")
	}
}

// page reads ?limit=&cursor=. The cursor is an opaque token wrapping the
// last row's id; limit is 1..100 (default 50).
type page struct {
	Limit int
	After uint64
}

func readPage(c *gin.Context) (page, bool) {
	p := page{Limit: 50}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			apiError(c, http.StatusBadRequest, "bad_limit", "limit must be 1-100")
			return p, false
		}
		p.Limit = n
	}
	if v := c.Query("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		id, perr := strconv.ParseUint(string(b), 10, 64)
		if err != nil || perr != nil {
			apiError(c, http.StatusBadRequest, "bad_cursor", "cursor is not one this API returned")
			return p, false
		}
		p.After = id
	}
	return p, true
}

// nextCursor is "" when the page was not full (no more rows).
func nextCursor(n, limit int, lastID uint64) string {
	if n < limit || lastID == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(lastID, 10)))
}

// list answers {"items": [...], "next_cursor": "..."}.
func list[T any](c *gin.Context, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "next_cursor": next})
}
