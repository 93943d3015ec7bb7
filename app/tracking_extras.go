package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/models"
)

// Two extras on the tracking page (issue 8):
//
//   - "Report a problem": a form, no JavaScript, that records an Alert the
//     helpdesk integration turns into a ticket, and holds the order's
//     review and NPS asks as an open ticket would — a shopper who just
//     reported a broken parcel is not asked for five stars.
//   - "You may also like": up to four products of the shop's online store
//     that are not in the order, from a per-shop cache of the catalog. The
//     page never waits long on Shopify and never fails because of it.

const (
	// reportAlertKind and reportHoldReason mark what a shopper's report
	// leaves behind, for the helpdesk integration and the merchant.
	reportAlertKind  = "shopper_report"
	reportHoldReason = "shopper_report"
	// maxReportText bounds the optional message, in characters: it is
	// stored in Alert.Detail (1,024).
	maxReportText = 1000
	// maxReportForm bounds a posted report: a reason and a message.
	maxReportForm = 16 << 10
	// reportsPerOrder reports per reportWindow are accepted per order.
	// Stored rows are bounded anyway (one alert per order and reason, one
	// active hold); this caps the writes a script can cause.
	reportsPerOrder = 5
	reportWindow    = time.Hour
)

// reportReasons are the form's choices, in its order; the catalog has
// report.reason.<value> for each.
var reportReasons = []string{"not_received", "damaged", "wrong_item", "late", "other"}

const (
	// recommendCount products are shown at most.
	recommendCount = 4
	// catalogSize products are cached per shop: enough for four once an
	// order's own products are left out.
	catalogSize = 12
	// catalogTTL is how long a shop's catalog is served from the cache;
	// catalogMissTTL how long a failed fetch is remembered, so a Shopify
	// that is down costs one short wait per shop and minute, not one per
	// page view.
	catalogTTL     = time.Hour
	catalogMissTTL = time.Minute
	// catalogDeadline is the longest a page waits for the catalog (token
	// and query), once an hour per shop; past it the page goes without.
	catalogDeadline = 1500 * time.Millisecond
	// catalogShops bounds the cache; the shops not seen for longest go
	// first.
	catalogShops = 2000
)

// trackingExtras is the state the extras keep between requests: the
// catalog cache and the report limiter. shopperRoutes makes one.
type trackingExtras struct {
	catalog *catalogCache
	reports *reportLimiter
}

func (a *App) newTrackingExtras() *trackingExtras {
	cc := newCatalogCache(a.fetchCatalog, time.Now, catalogDeadline)
	cc.log = func(shop models.Shop, err error) {
		a.log.Warn("tracking page: no recommendations", "shop", shop.ID, "err", err)
	}
	return &trackingExtras{catalog: cc, reports: newReportLimiter(time.Now)}
}

// reportView is the report form (or its thanks) on the tracking page.
type reportView struct {
	Action  string
	Reasons []reasonOption
	MaxText int
	// Done is set on the redirect after a report.
	Done bool
}

type reasonOption struct {
	Value, Label string
}

// recommendationView is one product card.
type recommendationView struct {
	Title, URL, Image, Price string
}

// trackingExtrasFor builds the extras of the order's tracking page.
func (a *App) trackingExtrasFor(c *gin.Context, x *trackingExtras, shop models.Shop, o models.Order) (*reportView, []recommendationView) {
	l := metaOf(c).L
	// The thanks trusts the query: a stranger adding ?reported=1 only thanks
	// themselves.
	r := &reportView{Action: "/t/" + url.PathEscape(c.Param("token")) + "/problem", MaxText: maxReportText, Done: c.Query("reported") == "1"}
	for _, v := range reportReasons {
		r.Reasons = append(r.Reasons, reasonOption{Value: v, Label: l.t("report.reason." + v)})
	}
	// A cancelled order is no moment to sell more.
	if o.Cancelled() || !a.catalogWanted(shop) {
		return r, nil
	}
	return r, recommend(l, x.catalog.get(c.Request.Context(), shop), o)
}

// catalogWanted says whether the shop's catalog can be asked for: a real,
// installed Shopify store (the demo's shop is not one).
func (a *App) catalogWanted(shop models.Shop) bool {
	return !a.opts.Demo && shop.Platform == models.PlatformShopify && shop.Installed() && !shop.NeedsReauth
}

// fetchCatalog asks Shopify for the shop's newest products. It does not
// retry a 401 with a refreshed token as the jobs do: AccessToken already
// refreshes a token about to expire, and a shopper's page is no place to
// repair a revoked one.
func (a *App) fetchCatalog(ctx context.Context, shop models.Shop) ([]shopify.CatalogProduct, error) {
	tok, err := a.AccessToken(ctx, shop)
	if err != nil {
		return nil, fmt.Errorf("access token for %s: %w", shop.Domain, err)
	}
	return a.shopify.CatalogProducts(ctx, shop.Domain, tok, catalogSize)
}

// recommend picks up to recommendCount products the order doesn't hold
// and that have an https page on the online store.
func recommend(l shopperLang, catalog []shopify.CatalogProduct, o models.Order) []recommendationView {
	ordered := map[int64]bool{}
	for _, li := range o.LineItems {
		ordered[li.ProductID] = true
	}
	var out []recommendationView
	for _, p := range catalog {
		if len(out) == recommendCount {
			break
		}
		link := storefrontURL(p.URL)
		if ordered[p.ID] || link == "" || strings.TrimSpace(p.Title) == "" {
			continue
		}
		v := recommendationView{Title: p.Title, URL: link, Price: l.money(p.MinPrice, p.Currency)}
		if !p.MinPrice.Equal(p.MaxPrice) {
			v.Price = l.t("rec.from", v.Price)
		}
		// Only https images: the page is https, and its CSP allows no more.
		if u, err := url.Parse(p.ImageURL); err == nil && u.Scheme == "https" && u.Host != "" {
			v.Image = p.ImageURL
		}
		out = append(out, v)
	}
	return out
}

// storefrontURL is the product page with the link's origin marked for the
// merchant's analytics, or "" for anything but an https URL.
func storefrontURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return ""
	}
	q := u.Query()
	q.Set("utm_source", "doorstep")
	q.Set("utm_medium", "tracking_page")
	u.RawQuery = q.Encode()
	return u.String()
}

// ---- report a problem ----

// handleReportProblem records a shopper's report: an Alert (one per order
// and reason, so sending the same report again changes nothing) and a hold
// on the order's review and NPS asks. Everything is checked before
// anything is written; then it redirects back to the page, which thanks.
func (a *App) handleReportProblem(x *trackingExtras) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl, ok := a.linkClaims(c, links.Tracking)
		if !ok {
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxReportForm)
		formErr := c.Request.ParseForm()
		// The order first, so a refusal speaks the shopper's language.
		shop, o, ok := a.linkOrder(c, cl)
		if !ok {
			return
		}
		if formErr != nil {
			a.badFeedback(c, "problem.form")
			return
		}
		form := c.Request.PostForm
		reason := form.Get("reason")
		if !slices.Contains(reportReasons, reason) {
			a.badFeedback(c, "problem.report_reason")
			return
		}
		message := strings.TrimSpace(form.Get("message"))
		if utf8.RuneCountInString(message) > maxReportText {
			a.badFeedback(c, "problem.report_long", maxReportText)
			return
		}
		if !x.reports.allow(strconv.FormatUint(shop.ID, 10) + ":" + strconv.FormatInt(o.PlatformID, 10)) {
			l := metaOf(c).L
			a.localProblem(c, http.StatusTooManyRequests, "problem.report_limit.heading", l.t("problem.report_limit.message"))
			return
		}

		ctx := c.Request.Context()
		// The hold first: if the alert then fails, the shopper sees an
		// error and sends again, and the one thing that must not happen —
		// a review ask after a complaint — already can't.
		if _, _, err := a.store.SetHold(ctx, shop.ID, o.PlatformID, reportHoldReason, "the shopper reported a problem on the tracking page: "+reason); err != nil {
			a.shopperInternal(c, "report hold", err)
			return
		}
		var fresh bool
		alert := models.Alert{ShopID: shop.ID, OrderPlatformID: o.PlatformID, Kind: reportAlertKind,
			Subject: strconv.FormatInt(o.PlatformID, 10), Reason: reason, Detail: message}
		err := a.store.InTx(ctx, func(tx *models.Tx) error {
			var err error
			fresh, err = tx.RaiseAlert(&alert)
			return err
		})
		if err != nil {
			a.shopperInternal(c, "report alert", err)
			return
		}
		if fresh {
			a.log.Info("shopper reported a problem", "shop", shop.ID, "order", o.PlatformID, "reason", reason)
			// The shop's helpdesks get a ticket now; the worker's sweep
			// would find the alert within seconds anyway.
			if _, err := a.tickets.OpenFor(ctx, alert); err != nil {
				a.log.Warn("open helpdesk ticket for a report", "shop", shop.ID, "order", o.PlatformID, "err", err)
			}
		}
		// Post/redirect/get: a reload of the thanks doesn't post again.
		c.Redirect(http.StatusSeeOther, "/t/"+url.PathEscape(c.Param("token"))+"?reported=1")
		c.Abort()
	}
}

// reportLimiter counts accepted reports per order in this process.
type reportLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	at  map[string][]time.Time // order key → recent reports, oldest first
}

// reportOrders bounds the limiter's memory: past it, orders without a
// report in the window are forgotten.
const reportOrders = 10000

func newReportLimiter(now func() time.Time) *reportLimiter {
	return &reportLimiter{now: now, at: map[string][]time.Time{}}
}

// allow records a report for key unless reportsPerOrder were accepted in
// the last reportWindow.
func (l *reportLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	recent := l.at[key][:0:0]
	for _, t := range l.at[key] {
		if now.Sub(t) < reportWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) >= reportsPerOrder {
		l.at[key] = recent
		return false
	}
	if len(l.at) >= reportOrders {
		for k, ts := range l.at {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= reportWindow {
				delete(l.at, k)
			}
		}
	}
	l.at[key] = append(recent, now)
	return true
}

// ---- the catalog cache ----

// catalogCache keeps each shop's catalog for catalogTTL (a failure for
// catalogMissTTL). One fetch per shop runs at a time; pages arriving
// meanwhile wait for it, no longer than the deadline.
type catalogCache struct {
	fetch    func(ctx context.Context, shop models.Shop) ([]shopify.CatalogProduct, error)
	now      func() time.Time
	deadline time.Duration
	log      func(shop models.Shop, err error)

	mu      sync.Mutex
	entries map[uint64]*catalogEntry
}

type catalogEntry struct {
	products []shopify.CatalogProduct
	expires  time.Time
	used     time.Time     // last asked for, for eviction
	ready    chan struct{} // closed when the fetch ended
	// stale is the previous catalog, served while this one is fetched.
	stale []shopify.CatalogProduct
}

func newCatalogCache(fetch func(context.Context, models.Shop) ([]shopify.CatalogProduct, error), now func() time.Time, deadline time.Duration) *catalogCache {
	return &catalogCache{fetch: fetch, now: now, deadline: deadline, entries: map[uint64]*catalogEntry{}}
}

// get returns the shop's cached catalog, fetching it when missing or
// stale. It returns nil, never an error, when Shopify fails or is slow.
func (cc *catalogCache) get(ctx context.Context, shop models.Shop) []shopify.CatalogProduct {
	cc.mu.Lock()
	now := cc.now()
	e, ok := cc.entries[shop.ID]
	if ok {
		e.used = now
		select {
		case <-e.ready:
			if now.Before(e.expires) {
				cc.mu.Unlock()
				return e.products
			}
			// Stale: fetched again below.
		default:
			// Another page is fetching: serve what it replaces, or wait
			// for it within the deadline.
			stale := e.stale
			cc.mu.Unlock()
			if stale != nil {
				return stale
			}
			t := time.NewTimer(cc.deadline)
			defer t.Stop()
			select {
			case <-e.ready:
				return e.products
			case <-t.C:
				return nil
			case <-ctx.Done():
				return nil
			}
		}
	}
	fresh := &catalogEntry{used: now, ready: make(chan struct{})}
	if e != nil {
		fresh.stale = e.products
	}
	e = fresh
	cc.evict()
	cc.entries[shop.ID] = e
	cc.mu.Unlock()

	// The fetch serves every page waiting on it, so the shopper who
	// started it closing the tab must not cut it short.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cc.deadline)
	ps, err := cc.fetchSafely(fctx, shop)
	cancel()

	cc.mu.Lock()
	ttl := catalogTTL
	if err != nil {
		// The last catalog that came back beats none; either way, ask
		// again in a minute.
		ps, ttl = e.stale, catalogMissTTL
	}
	e.stale = nil
	e.products, e.expires = ps, cc.now().Add(ttl)
	close(e.ready)
	cc.mu.Unlock()
	if err != nil && cc.log != nil {
		cc.log(shop, err)
	}
	return ps
}

// fetchSafely is fetch with a panic turned into an error: a fetch that
// never ended would leave every later page of the shop waiting.
func (cc *catalogCache) fetchSafely(ctx context.Context, shop models.Shop) (ps []shopify.CatalogProduct, err error) {
	defer func() {
		if r := recover(); r != nil {
			ps, err = nil, fmt.Errorf("catalog fetch panicked: %v", r)
		}
	}()
	return cc.fetch(ctx, shop)
}

// evict makes room for one more shop; callers hold cc.mu. Expired
// catalogs go first, then the one asked for least recently; a fetch in
// flight stays.
func (cc *catalogCache) evict() {
	if len(cc.entries) < catalogShops {
		return
	}
	now := cc.now()
	var oldest uint64
	var oldestAt time.Time
	for id, e := range cc.entries {
		select {
		case <-e.ready:
		default:
			continue
		}
		if !now.Before(e.expires) {
			delete(cc.entries, id)
			continue
		}
		if oldestAt.IsZero() || e.used.Before(oldestAt) {
			oldest, oldestAt = id, e.used
		}
	}
	if len(cc.entries) >= catalogShops && !oldestAt.IsZero() {
		delete(cc.entries, oldest)
	}
}

// ---- prices ----

// currencySymbols are the symbols shoppers read without doubt; other
// currencies show their code.
var currencySymbols = map[string]string{"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}

// money formats a price the page's way: "$1,234.50" in English,
// "1 234,50 €" in French; no decimals for currencies without minor units.
func (l shopperLang) money(d decimal.Decimal, currency string) string {
	places := int32(2)
	if currency == "JPY" || currency == "KRW" {
		places = 0
	}
	whole, frac, _ := strings.Cut(d.Abs().StringFixed(places), ".")
	var b strings.Builder
	if d.IsNegative() {
		b.WriteByte('-')
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(l.t("fmt.group_sep"))
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString(l.t("fmt.decimal_sep"))
		b.WriteString(frac)
	}
	amount := b.String()
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency
	}
	switch {
	case sym == "":
		return amount
	case l.t("fmt.symbol_first") == "yes" && ok:
		return sym + amount
	case l.t("fmt.symbol_first") == "yes":
		return sym + "\u00a0" + amount
	}
	return amount + "\u00a0" + sym
}
