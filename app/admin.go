package app

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/models"
)

// The embedded admin is server-rendered: every page is a document Shopify
// admin frames, authenticated by the id_token (a session token) Shopify puts
// on the URL. Without one, the document goes to the bounce page, where App
// Bridge fetches a fresh token and reloads. Edits go through the admin API
// with the session token App Bridge hands out; no cookies anywhere.

//go:embed templates/*.html templates/admin/*.html
var templatesFS embed.FS

//go:embed admin_assets
var adminAssets embed.FS

var templateFuncs = template.FuncMap{
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
	"num":    formatCount,
	"pct":    func(v float64) string { return strconv.FormatFloat(v*100, 'f', 0, 64) + "%" },
	"fixed1": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"bars":   barChart,
	"line":   lineChart,
	"dist":   distChart,
	"tone":   badgeTone,
	"words":  func(s string) string { return strings.ReplaceAll(s, "_", " ") },
}

// pages are the documents outside the admin's layout (bounce, outside).
var pages = template.Must(template.New("").Funcs(templateFuncs).ParseFS(templatesFS, "templates/*.html"))

// adminPages holds one template set per admin page: the layout plus the
// page's file, each defining "content".
var adminPages = func() map[string]*template.Template {
	files, err := fs.Glob(templatesFS, "templates/admin/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.New("").Funcs(templateFuncs).ParseFS(templatesFS, "templates/admin/layout.html", f))
	}
	return out
}()

// adminView is what every admin page's layout reads; Data is the page's.
type adminView struct {
	Shop   models.Shop
	APIKey string
	Demo   bool
	Page   string // the nav entry to mark current
	Title  string
	Data   any
	// Notice is a one-line message shown above the page (a saved form).
	Notice string
	query  url.Values // shop, host, embedded: carried by every link
}

// Link is an admin URL that keeps Shopify's shop/host/embedded parameters,
// so the next document load can bounce for a fresh id_token.
func (v adminView) Link(p string, kv ...string) string {
	q := url.Values{}
	for k, vs := range v.query {
		q[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
			continue
		}
		q.Set(kv[i], kv[i+1])
	}
	if len(q) == 0 {
		return p
	}
	return p + "?" + q.Encode()
}

// Hidden are the parameters a GET form must carry as hidden fields.
func (v adminView) Hidden() map[string]string {
	out := map[string]string{}
	for k := range v.query {
		out[k] = v.query.Get(k)
	}
	return out
}

// ShopAdminURL opens a page of the shop's own Shopify admin.
func (v adminView) ShopAdminURL(p string) string {
	return "https://admin.shopify.com/store/" + strings.TrimSuffix(v.Shop.Domain, ".myshopify.com") + p
}

// adminDocument authenticates a document load of the admin and puts the
// shop in the context. id_token verified (and, when Shopify signed the URL,
// the hmac too) → the page; missing or invalid inside Shopify → bounce;
// opened outside Shopify → a page that says how to open it.
func (a *App) adminDocument() gin.HandlerFunc {
	return func(c *gin.Context) {
		q := c.Request.URL.Query()
		idToken := q.Get("id_token")
		if idToken == "" {
			if q.Get("shop") != "" || q.Get("host") != "" || q.Get("embedded") == "1" {
				a.renderBounce(c)
			} else {
				renderOutside(c)
			}
			c.Abort()
			return
		}
		shop, err := a.shopify.VerifySessionToken(idToken)
		if err == nil && q.Get("shop") != "" {
			if p, perr := shopify.NormalizeShopDomain(q.Get("shop")); perr != nil || p != shop {
				err = errors.New("shop parameter does not match the session token")
			}
		}
		if err == nil && q.Get("hmac") != "" {
			_, err = a.shopify.VerifyInstallQuery(q, a.now())
		}
		if err != nil {
			a.log.Info("admin document: bouncing for a fresh session token", "err", err)
			a.renderBounce(c)
			c.Abort()
			return
		}
		s, err := a.store.ShopByDomain(c.Request.Context(), models.PlatformShopify, shop)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			a.adminFailure(c, "load shop", err)
			return
		}
		if errors.Is(err, models.ErrNotFound) || !s.Installed() || s.NeedsReauth {
			tok, err := a.shopify.ExchangeSessionToken(c.Request.Context(), shop, idToken)
			if err != nil {
				a.log.Warn("token exchange failed", "shop", shop, "err", err)
				a.renderBounce(c)
				c.Abort()
				return
			}
			if s, err = a.completeInstall(c.Request.Context(), shop, tok); err != nil {
				a.log.Error("install by token exchange failed", "shop", shop, "err", err)
				apiError(c, http.StatusBadGateway, "install_failed", "could not finish the install with Shopify: reload to try again")
				return
			}
			a.log.Info("shop installed by token exchange", "shop", shop)
		}
		c.Set(ctxShop, s)
		c.Next()
	}
}

// adminView starts a page's view for the authenticated shop.
func (a *App) adminView(c *gin.Context, page, title string) adminView {
	q := url.Values{}
	for _, k := range []string{"shop", "host", "embedded"} {
		if v := c.Query(k); v != "" {
			q.Set(k, v)
		}
	}
	return adminView{Shop: shopOf(c), APIKey: a.cfg.ShopifyAPIKey, Demo: a.opts.Demo, Page: page, Title: title, query: q}
}

// renderAdmin writes an admin page with its CSP.
func (a *App) renderAdmin(c *gin.Context, name string, v adminView) {
	t, ok := adminPages[name]
	if !ok {
		a.adminFailure(c, "render", errors.New("no admin page "+name))
		return
	}
	frameAncestors(c, v.Shop.Domain)
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if err := t.ExecuteTemplate(c.Writer, "layout", v); err != nil {
		a.log.Error("render admin page", "page", name, "err", err)
	}
}

// adminFailure answers a document load that failed on our side.
func (a *App) adminFailure(c *gin.Context, what string, err error) {
	a.log.Error("admin: "+what, "err", err)
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.AbortWithStatus(http.StatusInternalServerError)
	_, _ = c.Writer.WriteString("<!doctype html><title>Doorstep</title><p>Something went wrong on our side. Reload the page to try again.</p>")
}

func renderOutside(c *gin.Context) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	_ = pages.ExecuteTemplate(c.Writer, "outside.html", nil)
}

// frameAncestors is the CSP every admin HTML response carries, per shop, so
// only that shop's admin can frame it.
func frameAncestors(c *gin.Context, shop string) {
	c.Header("Content-Security-Policy", "frame-ancestors https://"+shop+" https://admin.shopify.com;")
}

// renderBounce sends the document to Shopify's bounce page: App Bridge
// loads there, sees shopify-reload, and reloads that URL with a fresh
// id_token. The reload URL drops the old token and Shopify's signature
// (which covered the old token).
func (a *App) renderBounce(c *gin.Context) {
	q := c.Request.URL.Query()
	for _, k := range []string{"id_token", "hmac", "timestamp", "session"} {
		q.Del(k)
	}
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
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		_ = pages.ExecuteTemplate(c.Writer, "bounce.html", map[string]any{"APIKey": a.cfg.ShopifyAPIKey, "Demo": a.opts.Demo})
	}
}

// adminAssetsHandler serves the admin's one script (no auth: it holds no
// data).
func adminAssetsHandler() gin.HandlerFunc {
	sub, _ := fs.Sub(adminAssets, "admin_assets")
	files := http.FileServer(http.FS(sub))
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Request.URL.Path = c.Param("file")
		files.ServeHTTP(c.Writer, c.Request)
	}
}

// formatCount writes 1234567 as "1,234,567".
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// badgeTone maps a status word to a badge colour.
func badgeTone(s string) string {
	switch s {
	case "sent", "paid", "delivered", "done", "processed", "active", "approved", "granted", "earned":
		return "ok"
	case "deferred", "queued", "pending", "held", "attempted_delivery", "partially_refunded", "review", "running":
		return "warn"
	case "failed", "suppressed", "failure", "refunded", "voided", "cancelled", "rejected", "reversed":
		return "bad"
	}
	return ""
}
