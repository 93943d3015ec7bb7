package app

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/models"
)

// The shopper pages are the ones behind the links in messages. They are
// public: the signed token in the path is the only credential, so a page
// shows no more than the token's order already says (first name, order
// name, items, statuses) and never an email address or a phone number.

//go:embed templates/shopper/*.html
var shopperFS embed.FS

var shopperPages = template.Must(template.New("").ParseFS(shopperFS, "templates/shopper/*.html"))

const (
	// maxShopperForm bounds a posted form: a comment and a review per
	// product fit easily, a flood does not.
	maxShopperForm = 256 << 10
	// maxFeedbackText bounds a comment or a review, in characters.
	maxFeedbackText = 5000
)

// shopperRoutes are the pages behind the links in messages: /t tracking
// (+ POST /t/:token/problem, a shopper's report), /f feedback,
// /p preferences, /u unsubscribe (GET page + one-click POST).
func (a *App) shopperRoutes(r *gin.Engine) {
	g := r.Group("/", shopperHeaders())
	x := a.newTrackingExtras()
	g.GET("/t/:token", a.handleTracking(x))
	g.POST("/t/:token/problem", a.handleReportProblem(x))
	g.GET("/f/:token", a.handleFeedbackPage())
	g.POST("/f/:token", a.handleFeedbackPost())
	g.GET("/p/:token", a.handlePreferences())
	g.POST("/p/:token", a.handlePreferencesPost())
	g.GET("/u/:token", a.handleUnsubscribePage())
	g.POST("/u/:token", a.handleUnsubscribePost())
}

// shopperHeaders keeps the pages out of caches, search engines and other
// sites' Referer headers: the URL is the credential.
func shopperHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Robots-Tag", "noindex")
		h.Set("X-Content-Type-Options", "nosniff")
		// No script at all; forms post back here only; nobody frames us.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		c.Next()
	}
}

// pageMeta is what every shopper page's header needs: the title, the
// shop's name and brand, the language, and the clock dates are shown in.
type pageMeta struct {
	Title string
	Shop  string
	L     shopperLang
	Brand brandView
	loc   *time.Location
}

// shopperMetaKey holds the page's pageMeta in the gin context once the
// link's shop is known, so a problem page after that point is branded and
// in the shopper's language too.
const shopperMetaKey = "doorstep.shopperMeta"

// pageFor resolves the shop's brand and the page's language (locale, then
// the shop's default locale, then English) and remembers them for c.
func (a *App) pageFor(c *gin.Context, shop models.Shop, locale string) pageMeta {
	s, err := jobs.LoadSettings(c.Request.Context(), a.store, shop.ID)
	if err != nil {
		// A page with the default look beats no page.
		a.log.Warn("shopper page settings", "shop", shop.ID, "err", err)
	}
	loc := time.UTC
	for _, tz := range []string{s.Timezone, shop.Timezone} {
		if l, err := time.LoadLocation(tz); tz != "" && err == nil {
			loc = l
			break
		}
	}
	m := pageMeta{Shop: shopName(shop), L: langOf(shopperLanguage(locale, s.Locale)), Brand: brandOf(s), loc: loc}
	c.Set(shopperMetaKey, m)
	return m
}

// metaOf is the page's pageMeta: the link's shop's, or, before the shop is
// known, the default look in the browser's language.
func metaOf(c *gin.Context) pageMeta {
	if v, ok := c.Get(shopperMetaKey); ok {
		if m, ok := v.(pageMeta); ok {
			return m
		}
	}
	return pageMeta{L: langOf(shopperLanguage(acceptLanguage(c.GetHeader("Accept-Language"))...)),
		Brand: brandOf(jobs.DefaultSettings()), loc: time.UTC}
}

type problemPage struct {
	pageMeta
	Heading string
	Message string
}

// renderShopper renders into a buffer first, so a template error becomes a
// clean 500 rather than half a page with a 200.
func (a *App) renderShopper(c *gin.Context, status int, name string, data any) {
	var buf bytes.Buffer
	if err := shopperPages.ExecuteTemplate(&buf, name, data); err != nil {
		a.log.Error("render shopper page", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("Something went wrong on our side. Please try again later.\n"))
		c.Abort()
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	c.Abort()
}

// shopperProblem renders the problem page with English words (callers
// outside the shopper pages have no catalog keys).
func (a *App) shopperProblem(c *gin.Context, status int, heading, message string) {
	m := metaOf(c)
	m.L = langOf("en")
	m.Title = heading
	a.renderShopper(c, status, "problem.html", problemPage{pageMeta: m, Heading: heading, Message: message})
}

// localProblem renders the problem page in the page's language:
// headingKey is a catalog key, message is already translated.
func (a *App) localProblem(c *gin.Context, status int, headingKey, message string) {
	m := metaOf(c)
	m.Title = m.L.t(headingKey)
	a.renderShopper(c, status, "problem.html", problemPage{pageMeta: m, Heading: m.Title, Message: message})
}

// shopperProblemOf renders problem.<name>.heading and .message.
func (a *App) shopperProblemOf(c *gin.Context, status int, name string) {
	a.localProblem(c, status, "problem."+name+".heading", metaOf(c).L.t("problem."+name+".message"))
}

func (a *App) shopperInternal(c *gin.Context, what string, err error) {
	a.log.Error("shopper page", "page", what, "err", err)
	a.shopperProblemOf(c, http.StatusInternalServerError, "internal")
}

func (a *App) shopperNotFound(c *gin.Context) {
	a.shopperProblemOf(c, http.StatusNotFound, "notfound")
}

// linkClaims verifies the path's token for purpose. On failure it has
// answered 404 with a friendly page (saying whether the link expired or is
// broken), never a hint of what the token was about.
func (a *App) linkClaims(c *gin.Context, purpose string) (links.Claims, bool) {
	cl, err := a.composer.Signer().Verify(c.Param("token"), purpose, a.now())
	switch {
	case errors.Is(err, links.ErrExpired):
		a.shopperProblemOf(c, http.StatusNotFound, "expired")
		return links.Claims{}, false
	case err != nil:
		a.shopperProblemOf(c, http.StatusNotFound, "invalid")
		return links.Claims{}, false
	}
	return cl, true
}

// linkOrder loads the shop and order a tracking or feedback token names.
func (a *App) linkOrder(c *gin.Context, cl links.Claims) (models.Shop, models.Order, bool) {
	ctx := c.Request.Context()
	if cl.ShopID <= 0 || cl.OrderID <= 0 {
		a.shopperNotFound(c)
		return models.Shop{}, models.Order{}, false
	}
	shop, err := a.store.ShopByID(ctx, uint64(cl.ShopID))
	if err == nil {
		var o models.Order
		if o, err = a.store.Order(ctx, shop.ID, cl.OrderID); err == nil {
			a.pageFor(c, shop, o.Locale)
			return shop, o, true
		}
	}
	if errors.Is(err, models.ErrNotFound) {
		a.shopperNotFound(c)
	} else {
		a.shopperInternal(c, "load order", err)
	}
	return models.Shop{}, models.Order{}, false
}

// linkMessage loads the message a preferences or unsubscribe token names
// ("message:<id>"): its channel and recipient are what the page acts on,
// so the address never has to be in the URL.
func (a *App) linkMessage(c *gin.Context, cl links.Claims) (models.Shop, models.Message, bool) {
	ctx := c.Request.Context()
	raw, ok := strings.CutPrefix(cl.Subject, "message:")
	id, err := strconv.ParseUint(raw, 10, 64)
	if !ok || err != nil || id == 0 {
		a.shopperNotFound(c)
		return models.Shop{}, models.Message{}, false
	}
	m, err := a.store.Message(ctx, id)
	if errors.Is(err, models.ErrNotFound) || (err == nil && (m.ShopID != uint64(cl.ShopID) || m.Recipient == "")) {
		// A message of another shop is as unknown as a missing one; an
		// erased recipient (privacy request) leaves nothing to manage.
		a.shopperNotFound(c)
		return models.Shop{}, models.Message{}, false
	}
	if err != nil {
		a.shopperInternal(c, "load message", err)
		return models.Shop{}, models.Message{}, false
	}
	shop, err := a.store.ShopByID(ctx, m.ShopID)
	if errors.Is(err, models.ErrNotFound) {
		a.shopperNotFound(c)
		return models.Shop{}, models.Message{}, false
	}
	if err != nil {
		a.shopperInternal(c, "load shop", err)
		return models.Shop{}, models.Message{}, false
	}
	a.pageFor(c, shop, m.Locale)
	return shop, m, true
}

func shopName(s models.Shop) string {
	if s.Name != "" {
		return s.Name
	}
	return s.Domain
}

// firstName is the only personal detail the pages show.
func firstName(o models.Order) string {
	if o.Customer != nil && o.Customer.FirstName != "" {
		return o.Customer.FirstName
	}
	first, _, _ := strings.Cut(strings.TrimSpace(o.ShippingAddress.Name), " ")
	return first
}

// ---- tracking ----

type trackingPage struct {
	pageMeta
	FirstName string
	OrderName string
	Placed    string
	Cancelled bool
	// Delay is "problem" (a failed or attempted delivery), "late" (an
	// estimated delivery passed without delivery) or "".
	Delay     string
	DelayDay  string     // the passed estimate, for "late"
	Steps     []stepView // for an order not shipped yet
	Shipments []shipmentView
	Items     []itemView
	// Report is the report-a-problem form; Recommendations the shop's
	// products to look at next (tracking_extras.go).
	Report          *reportView
	Recommendations []recommendationView
}

type shipmentView struct {
	Number, Count  int
	Carrier        string
	TrackingNumber string
	TrackingURL    string
	Status         string
	Tone           string // ok, warn, bad or "" (the badge's colour)
	Estimated      string
	Delivered      string
	Steps          []stepView
	Events         []eventView
	Items          []itemView
}

// stepView is one step of ordered → shipped → out for delivery →
// delivered; State is done, current or todo.
type stepView struct {
	Label, State string
}

type eventView struct {
	When, Status, Place, Message string
}

type itemView struct {
	Title, Variant string
	Quantity       int
}

// trackingSteps are the progress list's steps, as catalog keys.
var trackingSteps = []string{"step.ordered", "step.shipped", "step.out_for_delivery", "step.delivered"}

// stepOf places a shipment status on the progress list: a problem stays on
// the step it was reached from.
func stepOf(status string, delivered bool) int {
	switch {
	case delivered || status == models.ShipmentDelivered:
		return 3
	case status == models.ShipmentOutForDelivery, status == models.ShipmentAttemptedDeliver, status == models.ShipmentReadyForPickup:
		return 2
	}
	return 1
}

func stepsAt(l shopperLang, current int) []stepView {
	out := make([]stepView, len(trackingSteps))
	for i, key := range trackingSteps {
		state := "todo"
		if i < current {
			state = "done"
		} else if i == current {
			state = "current"
		}
		out[i] = stepView{Label: l.t(key), State: state}
	}
	return out
}

func statusTone(s string) string {
	switch s {
	case models.ShipmentDelivered, models.ShipmentReadyForPickup:
		return "ok"
	case models.ShipmentAttemptedDeliver:
		return "warn"
	case models.ShipmentFailure:
		return "bad"
	}
	return ""
}

// webURL keeps only http(s) links: a carrier URL comes from the platform
// and html/template would otherwise turn anything odd into #ZgotmplZ.
func webURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return s
}

func (a *App) handleTracking(x *trackingExtras) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl, ok := a.linkClaims(c, links.Tracking)
		if !ok {
			return
		}
		shop, o, ok := a.linkOrder(c, cl)
		if !ok {
			return
		}
		m := metaOf(c)
		m.Title = m.L.t("title.order", o.Name)
		now := a.now()
		p := trackingPage{
			pageMeta:  m,
			FirstName: firstName(o), OrderName: o.Name, Placed: m.L.day(m.loc, o.PlatformCreatedAt), Cancelled: o.Cancelled(),
		}
		for _, l := range o.LineItems {
			p.Items = append(p.Items, itemView{Title: l.Title, Variant: l.VariantTitle, Quantity: l.Quantity})
		}
		// A cancelled or failed fulfillment was replaced or called off:
		// showing it would only confuse.
		var live []models.Fulfillment
		for _, f := range o.Fulfillments {
			if f.Status != "cancelled" && f.Status != "error" && f.Status != "failure" {
				live = append(live, f)
			}
		}
		var lateBy *time.Time
		for i, f := range live {
			delivered := f.DeliveredAt != nil || f.ShipmentStatus == models.ShipmentDelivered
			s := shipmentView{
				Number: i + 1, Count: len(live), Carrier: f.TrackingCompany, TrackingNumber: f.TrackingNumber,
				TrackingURL: webURL(f.TrackingURL), Status: m.L.status(f.ShipmentStatus), Tone: statusTone(f.ShipmentStatus),
				Steps: stepsAt(m.L, stepOf(f.ShipmentStatus, delivered)),
			}
			if f.DeliveredAt != nil {
				s.Delivered = m.L.day(m.loc, *f.DeliveredAt)
			} else if f.EstimatedDeliveryAt != nil && !delivered {
				s.Estimated = m.L.day(m.loc, *f.EstimatedDeliveryAt)
			}
			switch {
			case delivered:
			case f.ShipmentStatus == models.ShipmentFailure || f.ShipmentStatus == models.ShipmentAttemptedDeliver:
				p.Delay = "problem"
			case f.EstimatedDeliveryAt != nil && f.EstimatedDeliveryAt.Before(now) && f.ShipmentStatus != models.ShipmentReadyForPickup:
				if s.Tone == "" {
					s.Tone = "warn"
				}
				if lateBy == nil || f.EstimatedDeliveryAt.Before(*lateBy) {
					lateBy = f.EstimatedDeliveryAt
				}
			}
			for j := len(f.Events) - 1; j >= 0; j-- { // newest first
				ev := f.Events[j]
				s.Events = append(s.Events, eventView{When: m.L.moment(m.loc, ev.HappenedAt), Status: m.L.status(ev.Status),
					Place: joinNonEmpty(", ", ev.City, ev.Province, ev.Country), Message: ev.Message})
			}
			if len(live) > 1 {
				s.Items = packageItems(o, f)
			}
			p.Shipments = append(p.Shipments, s)
		}
		if p.Delay == "" && lateBy != nil {
			p.Delay, p.DelayDay = "late", m.L.day(m.loc, *lateBy)
		}
		if p.Cancelled {
			p.Delay = ""
		}
		if len(live) == 0 && !p.Cancelled {
			p.Steps = stepsAt(m.L, 0)
		}
		p.Report, p.Recommendations = a.trackingExtrasFor(c, x, shop, o)
		a.renderShopper(c, http.StatusOK, "tracking.html", p)
	}
}

// packageItems are the lines a fulfillment ships (none listed: all).
func packageItems(o models.Order, f models.Fulfillment) []itemView {
	var out []itemView
	for _, fl := range f.LineItems {
		for _, l := range o.LineItems {
			if l.PlatformID == fl.LineItemID {
				q := fl.Quantity
				if q <= 0 {
					q = l.Quantity
				}
				out = append(out, itemView{Title: l.Title, Variant: l.VariantTitle, Quantity: q})
			}
		}
	}
	return out
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// ---- feedback ----

type feedbackPage struct {
	pageMeta
	Action    string
	FirstName string
	OrderName string
	Saved     bool
	Scores    []scoreView
	// Delivery offers the delivery rating (with DeliveryComment) when the
	// page was not opened with a score: the saved one is checked.
	Delivery        []starOption
	DeliveryComment string
	Products        []productView
}

// scoreView is a delivery rating or an NPS score the shopper just gave;
// the form carries it back with the comment.
type scoreView struct {
	Field   string // "rating" or "nps"
	Value   int
	Max     int
	Comment string
}

type productView struct {
	ID    int64
	Title string
	Stars []starOption
	Text  string
}

type starOption struct {
	Value   int
	Label   string
	Glyph   string // "★★★★", shown beside Label and hidden from screen readers
	Checked bool
}

func starOptions(l shopperLang, checked int) []starOption {
	out := make([]starOption, 0, 5)
	for n := 1; n <= 5; n++ {
		out = append(out, starOption{Value: n, Label: l.stars(n), Glyph: strings.Repeat("★", n), Checked: checked == n})
	}
	return out
}

// orderProduct is one product of the order that can be reviewed.
type orderProduct struct {
	ID    int64
	Title string
}

// orderProducts lists the order's products once each (two variants of one
// product get one review); custom lines without a product are left out.
func orderProducts(o models.Order) []orderProduct {
	var out []orderProduct
	seen := map[int64]bool{}
	for _, l := range o.LineItems {
		if l.ProductID <= 0 || seen[l.ProductID] {
			continue
		}
		seen[l.ProductID] = true
		out = append(out, orderProduct{ID: l.ProductID, Title: l.Title})
	}
	return out
}

// scoreParam reads ?rating= or ?nps= (or the form's). Absent is fine;
// anything else outside lo..hi is not.
func scoreParam(v string, lo, hi int) (int, bool, bool) {
	if v == "" {
		return 0, false, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false, false
	}
	return n, true, true
}

// badFeedback answers a rejected score or form: key (with args) says what
// was wrong, in the page's language.
func (a *App) badFeedback(c *gin.Context, key string, args ...any) {
	l := metaOf(c).L
	a.localProblem(c, http.StatusBadRequest, "problem.unsaved.heading", l.t(key, args...)+" "+l.t("problem.try_again"))
}

// feedbackPageData builds the page from what the order has stored, with
// scores (just given) on top.
func feedbackPageData(c *gin.Context, o models.Order, saved []models.Feedback, scores []scoreView) feedbackPage {
	m := metaOf(c)
	m.Title = m.L.t("title.feedback", o.Name)
	p := feedbackPage{
		pageMeta: m,
		Action:   c.Request.URL.Path, FirstName: firstName(o), OrderName: o.Name, Scores: scores,
	}
	reviews := map[int64]models.Feedback{}
	var delivery models.Feedback
	for _, f := range saved {
		switch f.Kind {
		case models.FeedbackReview:
			reviews[f.ProductID] = f
		case models.FeedbackDelivery:
			delivery = f
		}
	}
	if len(scores) == 0 {
		p.Delivery, p.DeliveryComment = starOptions(m.L, delivery.Rating), delivery.Comment
	}
	for _, pr := range orderProducts(o) {
		r := reviews[pr.ID]
		p.Products = append(p.Products, productView{ID: pr.ID, Title: pr.Title, Text: r.Comment, Stars: starOptions(m.L, r.Rating)})
	}
	return p
}

// handleFeedbackPage records a one-click score from the message (?rating=
// 1..5 for the delivery, ?nps=0..10) on the GET itself, so it needs no
// JavaScript, then offers a comment and product reviews.
func (a *App) handleFeedbackPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		cl, ok := a.linkClaims(c, links.Feedback)
		if !ok {
			return
		}
		rating, hasRating, okRating := scoreParam(c.Query("rating"), 1, 5)
		nps, hasNPS, okNPS := scoreParam(c.Query("nps"), 0, 10)
		if !okRating || !okNPS {
			a.badFeedback(c, "problem.score_range")
			return
		}
		shop, o, ok := a.linkOrder(c, cl)
		if !ok {
			return
		}
		ctx := c.Request.Context()
		saved, err := a.store.OrderFeedback(ctx, shop.ID, o.PlatformID)
		if err != nil {
			a.shopperInternal(c, "load feedback", err)
			return
		}
		// A second click replaces the score but keeps a comment already
		// written, which the click did not mean to erase.
		comments := map[string]string{}
		for _, f := range saved {
			comments[f.Kind] = f.Comment
		}
		var scores []scoreView
		give := func(kind, field string, value, max int) bool {
			f := models.Feedback{ShopID: shop.ID, OrderPlatformID: o.PlatformID, Kind: kind,
				CustomerPlatformID: o.CustomerPlatformID, Rating: value, Comment: comments[kind]}
			if err := a.store.SaveFeedback(ctx, &f); err != nil {
				a.shopperInternal(c, "save feedback", err)
				return false
			}
			scores = append(scores, scoreView{Field: field, Value: value, Max: max, Comment: comments[kind]})
			return true
		}
		if hasRating && !give(models.FeedbackDelivery, "rating", rating, 5) {
			return
		}
		if hasNPS && !give(models.FeedbackNPS, "nps", nps, 10) {
			return
		}
		p := feedbackPageData(c, o, saved, scores)
		p.Saved = len(scores) > 0
		a.renderShopper(c, http.StatusOK, "feedback.html", p)
	}
}

// handleFeedbackPost stores the page's form: a comment on the score given
// (carried back in the form), and a star rating and text per product.
// Everything is checked before anything is stored.
func (a *App) handleFeedbackPost() gin.HandlerFunc {
	return func(c *gin.Context) {
		cl, ok := a.linkClaims(c, links.Feedback)
		if !ok {
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxShopperForm)
		if err := c.Request.ParseForm(); err != nil {
			a.badFeedback(c, "problem.form")
			return
		}
		form := c.Request.PostForm
		shop, o, ok := a.linkOrder(c, cl)
		if !ok {
			return
		}
		rating, hasRating, okRating := scoreParam(form.Get("rating"), 1, 5)
		nps, hasNPS, okNPS := scoreParam(form.Get("nps"), 0, 10)
		if !okRating || !okNPS {
			a.badFeedback(c, "problem.score_range")
			return
		}
		comment := strings.TrimSpace(form.Get("comment"))
		if utf8.RuneCountInString(comment) > maxFeedbackText {
			a.badFeedback(c, "problem.comment_long", maxFeedbackText)
			return
		}
		if comment != "" && !hasRating && !hasNPS {
			a.badFeedback(c, "problem.comment_alone")
			return
		}

		base := models.Feedback{ShopID: shop.ID, OrderPlatformID: o.PlatformID, CustomerPlatformID: o.CustomerPlatformID}
		var rows []models.Feedback
		var scores []scoreView
		if hasRating {
			f := base
			f.Kind, f.Rating, f.Comment = models.FeedbackDelivery, rating, comment
			rows = append(rows, f)
			scores = append(scores, scoreView{Field: "rating", Value: rating, Max: 5, Comment: comment})
		}
		if hasNPS {
			f := base
			f.Kind, f.Rating, f.Comment = models.FeedbackNPS, nps, comment
			rows = append(rows, f)
			scores = append(scores, scoreView{Field: "nps", Value: nps, Max: 10, Comment: comment})
		}

		products := map[int64]bool{}
		for _, p := range orderProducts(o) {
			products[p.ID] = true
		}
		// Every review field must name one of the order's products: a
		// forged form cannot review what this shopper did not buy.
		for key := range form {
			rest, ok := strings.CutPrefix(key, "review_")
			if !ok {
				continue
			}
			id, err := strconv.ParseInt(strings.TrimSuffix(rest, "_text"), 10, 64)
			if err != nil || !products[id] {
				a.badFeedback(c, "problem.foreign_product")
				return
			}
		}
		for _, p := range orderProducts(o) {
			key := "review_" + strconv.FormatInt(p.ID, 10)
			text := strings.TrimSpace(form.Get(key + "_text"))
			stars, has, okStars := scoreParam(form.Get(key), 1, 5)
			switch {
			case !okStars:
				a.badFeedback(c, "problem.stars_range")
				return
			case utf8.RuneCountInString(text) > maxFeedbackText:
				a.badFeedback(c, "problem.review_long", p.Title, maxFeedbackText)
				return
			case !has && text != "":
				a.badFeedback(c, "problem.review_no_stars", p.Title)
				return
			case !has:
				continue // not reviewed: a review saved earlier stays
			}
			f := base
			f.Kind, f.ProductID, f.Rating, f.Comment = models.FeedbackReview, p.ID, stars, text
			rows = append(rows, f)
		}

		ctx := c.Request.Context()
		for i := range rows {
			if err := a.store.SaveFeedback(ctx, &rows[i]); err != nil {
				a.shopperInternal(c, "save feedback", err)
				return
			}
			// A product review earns the review bonus, once per order and
			// product however often the page is sent.
			if rows[i].Kind == models.FeedbackReview {
				if _, err := a.loyalty.ReviewBonus(ctx, shop, o.CustomerPlatformID, o.PlatformID, rows[i].ProductID); err != nil {
					a.shopperInternal(c, "review bonus", err)
					return
				}
			}
		}
		saved, err := a.store.OrderFeedback(ctx, shop.ID, o.PlatformID)
		if err != nil {
			a.shopperInternal(c, "load feedback", err)
			return
		}
		p := feedbackPageData(c, o, saved, scores)
		p.Saved = true
		a.renderShopper(c, http.StatusOK, "feedback.html", p)
	}
}

// ---- preferences and unsubscribe ----

type consentPage struct {
	pageMeta
	Action       string
	Address      string // masked
	Channel      string // "emails" or "text messages"
	Unsubscribed bool
	Done         string // "unsubscribed", "resubscribed" or ""
}

// maskAddress shows enough of an address for its owner to recognise it
// and nothing a stranger holding the link could use: a***@example.com,
// or a phone number's last two digits.
func maskAddress(channel, addr string) string {
	if channel == notify.SMSChannel {
		if len(addr) <= 2 {
			return "***"
		}
		return "***" + addr[len(addr)-2:]
	}
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(local)
	if first == utf8.RuneError {
		return "***@" + domain
	}
	return string(first) + "***@" + domain
}

func channelWords(l shopperLang, channel string) string {
	if channel == notify.SMSChannel {
		return l.t("channel.sms")
	}
	return l.t("channel.email")
}

// consentPageData builds the preferences or unsubscribe page; titleKey is
// a catalog key.
func (a *App) consentPageData(c *gin.Context, m models.Message, titleKey string) (consentPage, bool) {
	unsub, err := a.store.IsSuppressed(c.Request.Context(), m.ShopID, m.Channel, m.Recipient, models.SuppressUnsubscribed)
	if err != nil {
		a.shopperInternal(c, "consent", err)
		return consentPage{}, false
	}
	meta := metaOf(c)
	meta.Title = meta.L.t(titleKey)
	return consentPage{pageMeta: meta, Action: c.Request.URL.Path,
		Address: maskAddress(m.Channel, m.Recipient), Channel: channelWords(meta.L, m.Channel), Unsubscribed: unsub}, true
}

// handleConsentPage shows the preferences or the unsubscribe page for the
// token's message. It only shows: changes are POSTs (mail scanners follow
// every link in a message).
func (a *App) handleConsentPage(purpose, titleKey, page string) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl, ok := a.linkClaims(c, purpose)
		if !ok {
			return
		}
		_, m, ok := a.linkMessage(c, cl)
		if !ok {
			return
		}
		p, ok := a.consentPageData(c, m, titleKey)
		if !ok {
			return
		}
		a.renderShopper(c, http.StatusOK, page, p)
	}
}

func (a *App) handlePreferences() gin.HandlerFunc {
	return a.handleConsentPage(links.Preferences, "title.preferences", "preferences.html")
}

func (a *App) handlePreferencesPost() gin.HandlerFunc {
	return func(c *gin.Context) {
		cl, ok := a.linkClaims(c, links.Preferences)
		if !ok {
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxShopperForm)
		if err := c.Request.ParseForm(); err != nil {
			a.badFeedback(c, "problem.form")
			return
		}
		action := c.Request.PostForm.Get("action")
		if action != "unsubscribe" && action != "resubscribe" {
			a.localProblem(c, http.StatusBadRequest, "problem.unsaved.heading", metaOf(c).L.t("problem.use_buttons"))
			return
		}
		_, m, ok := a.linkMessage(c, cl)
		if !ok {
			return
		}
		ctx := c.Request.Context()
		var err error
		if action == "unsubscribe" {
			err = a.store.Suppress(ctx, m.ShopID, m.Channel, m.Recipient, models.SuppressUnsubscribed,
				"preferences page (message "+strconv.FormatUint(m.ID, 10)+")")
		} else {
			err = a.store.Unsuppress(ctx, m.ShopID, m.Channel, m.Recipient, models.SuppressUnsubscribed)
		}
		if err != nil {
			a.shopperInternal(c, "preferences", err)
			return
		}
		p, ok := a.consentPageData(c, m, "title.preferences")
		if !ok {
			return
		}
		p.Done = action + "d"
		a.renderShopper(c, http.StatusOK, "preferences.html", p)
	}
}

// handleUnsubscribePage only asks: mail scanners open every link in a
// message, so a GET must never unsubscribe anybody.
func (a *App) handleUnsubscribePage() gin.HandlerFunc {
	return a.handleConsentPage(links.Unsubscribe, "title.unsubscribe", "unsubscribe.html")
}

// handleUnsubscribePost is both the page's button and RFC 8058 one-click
// unsubscribe (mail clients POST "List-Unsubscribe=One-Click", as
// urlencoded or multipart). The signed token is the whole authority, so any
// POST with a valid one unsubscribes; doing it twice changes nothing.
func (a *App) handleUnsubscribePost() gin.HandlerFunc {
	return func(c *gin.Context) {
		cl, ok := a.linkClaims(c, links.Unsubscribe)
		if !ok {
			return
		}
		_, m, ok := a.linkMessage(c, cl)
		if !ok {
			return
		}
		err := a.store.Suppress(c.Request.Context(), m.ShopID, m.Channel, m.Recipient, models.SuppressUnsubscribed,
			"unsubscribe link (message "+strconv.FormatUint(m.ID, 10)+")")
		if err != nil {
			a.shopperInternal(c, "unsubscribe", err)
			return
		}
		p, ok := a.consentPageData(c, m, "title.unsubscribed")
		if !ok {
			return
		}
		p.Done = "unsubscribed"
		a.renderShopper(c, http.StatusOK, "unsubscribe.html", p)
	}
}
