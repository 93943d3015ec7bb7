package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// The API of the Shopify UI extensions in extensions/ (README there):
//
//	GET  /api/ext/thank-you?order_id=…   thank-you block: referral link + survey question
//	POST /api/ext/survey                 thank-you block: {"order_id", "answer", "other"}
//	GET  /api/ext/orders/:id/status      order status block: packages, tracking link, points (:id the numeric order id)
//
// Checkout and customer account extensions run in Shopify's sandbox on
// another origin and send Authorization: Bearer <session token>, which
// VerifyExtensionToken checks (HS256, app secret, aud, exp). The shop is the
// token's dest and the customer its sub, absent for a guest; nothing in a
// body or query names either, so a shopper only ever reads or writes their
// own orders. The admin block calls the admin API (/api/admin/orders/:id)
// with the ID token Shopify adds itself: only CORS is needed there.

const (
	ctxExtShop     = "doorstep.ext.shop"
	ctxExtCustomer = "doorstep.ext.customer"
	// maxExtBody bounds an extension's request body: a survey answer.
	maxExtBody = 4 << 10
	// guestSurveyWindow is how long after checkout a guest (a token with no
	// sub) may answer for an order with no customer. Nothing ties a guest's
	// token to their order, so any buyer of the shop could answer for a
	// recent guest order whose id they guess; the window keeps that to
	// orders whose thank-you page is plausibly still open, and the first
	// answer stays, so at worst one answer is wrong.
	guestSurveyWindow = 24 * time.Hour
	// maxSurveyOther is how long the "other" answer may be, in characters.
	maxSurveyOther = 200
	// corsMaxAge lets a browser reuse a preflight for two hours (Chromium's
	// cap).
	corsMaxAge = "7200"
)

// extensionOrigins are the origins Shopify's UI extension sandboxes fetch
// from: extensions.shopifycdn.com for admin, checkout and customer account
// extensions; cdn.shopify.com for older checkout and customer account
// sandboxes (seen in Shopify/ui-extensions issues #489 and #1646). CORS is
// not what keeps others out — the bearer token is, and no cookie is ever
// read — so the list only has to let Shopify's sandboxes read answers.
var extensionOrigins = map[string]bool{
	"https://extensions.shopifycdn.com": true,
	"https://cdn.shopify.com":           true,
}

// surveyHeardAbout is the thank-you survey's one question; its choices are
// the answers it takes (labels live in the extension's locales).
const surveyHeardAbout = "heard_about"

var surveyChoices = []string{"search", "social", "friend", "ad", "press", "other"}

// extensionRoutes mounts the extension API and the preflights for it and
// for the admin API (the admin block's fetch). The /api/admin group itself
// needs extensionCORS in its middleware for the answers' headers.
func (a *App) extensionRoutes(r *gin.Engine) {
	r.OPTIONS("/api/ext/*path", a.extensionCORS())
	r.OPTIONS("/api/admin/*path", a.extensionCORS())
	g := r.Group("/api/ext", a.extensionCORS(), proxyHeaders(), a.extensionAuth())
	g.GET("/thank-you", a.handleExtThankYou())
	g.POST("/survey", a.handleExtSurvey())
	g.GET("/orders/:id/status", a.handleExtOrderStatus())
}

// extensionCORS answers preflights from Shopify's extension sandboxes and
// lets them read the answers. The origin is echoed, never "*", and no
// credentials are allowed: the token travels in Authorization. A request
// from any other origin gets no CORS headers (a preflight from one, 403),
// so a browser keeps its answer from the page that made it.
func (a *App) extensionCORS() gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		h := c.Writer.Header()
		// The answer depends on the origin: caches must keep them apart.
		h.Add("Vary", "Origin")
		allowed := extensionOrigins[origin]
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			// App Bridge's retry hint on a 401 from sessionAuth.
			h.Set("Access-Control-Expose-Headers", "X-Shopify-Retry-Invalid-Session-Request")
		}
		if c.Request.Method != http.MethodOptions {
			c.Next()
			return
		}
		if origin != "" && c.GetHeader("Access-Control-Request-Method") != "" {
			if !allowed {
				c.AbortWithStatus(http.StatusForbidden)
				return
			}
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", corsMaxAge)
		}
		h.Set("Allow", "GET, POST, PUT, DELETE, OPTIONS")
		c.AbortWithStatus(http.StatusNoContent)
	}
}

// extensionAuth verifies the extension's session token and loads its
// installed shop; anything wrong answers 401 before anything is read or
// written.
func (a *App) extensionAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		scheme, raw, _ := strings.Cut(strings.TrimSpace(c.GetHeader("Authorization")), " ")
		raw = strings.TrimSpace(raw)
		if !strings.EqualFold(scheme, "Bearer") || raw == "" {
			apiError(c, http.StatusUnauthorized, "unauthorized", "missing session token")
			return
		}
		sess, err := a.shopify.VerifyExtensionToken(raw)
		if err != nil {
			apiError(c, http.StatusUnauthorized, "unauthorized", "invalid session token")
			return
		}
		shop, err := a.store.ShopByDomain(c.Request.Context(), models.PlatformShopify, sess.Shop)
		if errors.Is(err, models.ErrNotFound) || (err == nil && !shop.Installed()) {
			apiError(c, http.StatusUnauthorized, "unauthorized", "shop is not installed")
			return
		}
		if err != nil {
			a.log.Error("extension api: load shop", "shop", sess.Shop, "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		c.Set(ctxExtShop, shop)
		c.Set(ctxExtCustomer, sess.CustomerID)
		c.Next()
	}
}

// extSession is the token's shop and customer (0: a guest).
func extSession(c *gin.Context) (models.Shop, int64) {
	return c.MustGet(ctxExtShop).(models.Shop), c.MustGet(ctxExtCustomer).(int64)
}

func (a *App) extError(c *gin.Context, what string, shop models.Shop, err error) {
	a.log.Error("extension api", "what", what, "shop", shop.Domain, "err", err)
	apiError(c, http.StatusInternalServerError, "internal", "Something went wrong. Please try again in a moment.")
}

// surveyOrder loads the order a survey request is about and says whether
// the token may answer for it: a customer's order only with that
// customer's token; an order with no customer only with a guest token,
// within guestSurveyWindow of its creation. found is false when the shop
// has no such order (yet: the thank-you page can be faster than the
// orders/create webhook).
func (a *App) surveyOrder(ctx context.Context, shop models.Shop, customer, orderID int64) (o models.Order, found, allowed bool, err error) {
	o, err = a.store.Order(ctx, shop.ID, orderID)
	if errors.Is(err, models.ErrNotFound) {
		return models.Order{}, false, false, nil
	}
	if err != nil {
		return models.Order{}, false, false, err
	}
	if o.CustomerPlatformID != 0 {
		return o, true, customer == o.CustomerPlatformID, nil
	}
	return o, true, customer == 0 && a.now().Sub(o.PlatformCreatedAt) <= guestSurveyWindow, nil
}

// ---- GET /thank-you ----

// The JSON below is a contract with extensions/thank-you/src: change them
// together.
type extThankYouReply struct {
	Referral *referralJSON `json:"referral"` // null: a guest, or no referral program
	Survey   extSurveyJSON `json:"survey"`
}

type extSurveyJSON struct {
	Question string   `json:"question"`
	Choices  []string `json:"choices"`
	OtherMax int      `json:"other_max"`
	Answered bool     `json:"answered"`
}

func (a *App) handleExtThankYou() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, customer := extSession(c)
		orderID, err := shopify.OrderIDFromExtension(c.Query("order_id"))
		if err != nil {
			apiError(c, http.StatusBadRequest, "bad_order_id", "order_id must be the order's id or GID")
			return
		}
		ctx := c.Request.Context()
		out := extThankYouReply{Survey: extSurveyJSON{Question: surveyHeardAbout, Choices: surveyChoices, OtherMax: maxSurveyOther}}
		_, found, allowed, err := a.surveyOrder(ctx, shop, customer, orderID)
		if err != nil {
			a.extError(c, "thank-you: order", shop, err)
			return
		}
		if found && allowed {
			_, err := a.store.SurveyAnswerOf(ctx, shop.ID, orderID, surveyHeardAbout)
			switch {
			case err == nil:
				out.Survey.Answered = true
			case !errors.Is(err, models.ErrNotFound):
				a.extError(c, "thank-you: survey", shop, err)
				return
			}
		}
		if customer != 0 {
			prog, err := jobs.LoadLoyaltyProgram(ctx, a.store, shop.ID)
			if err != nil {
				a.extError(c, "thank-you: program", shop, err)
				return
			}
			if prog.Enabled && prog.Referral.Enabled {
				// The first time, this makes the referee's discount on
				// Shopify: let it finish even if the shopper leaves.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redeemTimeout)
				out.Referral = a.referralFor(rctx, shop, customer, prog)
				cancel()
			}
		}
		c.JSON(http.StatusOK, out)
	}
}

// ---- POST /survey ----

type extSurveyRequest struct {
	OrderID extOrderID `json:"order_id"`
	Answer  string     `json:"answer"`
	Other   string     `json:"other"`
	// Anything else in the body (a customer id, say) is ignored: who is
	// answering comes from the token.
}

// extOrderID takes the order id as a JSON string (id or GID) or number.
type extOrderID string

func (id *extOrderID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*id = extOrderID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*id = extOrderID(n.String())
	return nil
}

func (a *App) handleExtSurvey() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, customer := extSession(c)
		b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxExtBody))
		if err != nil {
			apiError(c, http.StatusRequestEntityTooLarge, "too_large", "request body is too large")
			return
		}
		var req extSurveyRequest
		if err := json.Unmarshal(b, &req); err != nil {
			apiError(c, http.StatusBadRequest, "bad_request", "the body is not the JSON this endpoint takes")
			return
		}
		orderID, err := shopify.OrderIDFromExtension(string(req.OrderID))
		if err != nil {
			apiError(c, http.StatusBadRequest, "bad_order_id", "order_id must be the order's id or GID")
			return
		}
		answer, other, msg := validSurveyAnswer(req.Answer, req.Other)
		if msg != "" {
			apiError(c, http.StatusUnprocessableEntity, "invalid_answer", msg)
			return
		}
		ctx := c.Request.Context()
		_, found, allowed, err := a.surveyOrder(ctx, shop, customer, orderID)
		if err != nil {
			a.extError(c, "survey: order", shop, err)
			return
		}
		if !found {
			// Most likely the orders/create webhook has not landed yet: the
			// extension retries after a few seconds.
			apiError(c, http.StatusNotFound, "order_not_found", "We don't know this order yet. Please try again in a moment.")
			return
		}
		if !allowed {
			// Someone else's order reads as no order at all.
			apiError(c, http.StatusNotFound, "not_found", "not found")
			return
		}
		_, saved, err := a.store.SaveSurveyAnswer(ctx, models.SurveyAnswer{ShopID: shop.ID, OrderPlatformID: orderID,
			Question: surveyHeardAbout, CustomerPlatformID: customer, Answer: answer, Other: other, AnsweredAt: a.now()})
		if err != nil {
			a.extError(c, "survey: save", shop, err)
			return
		}
		status := http.StatusOK // answered before: the first answer stays
		if saved {
			status = http.StatusCreated
		}
		c.JSON(status, gin.H{"saved": saved})
	}
}

// validSurveyAnswer checks an answer against the fixed choices: "other"
// needs the shopper's words (trimmed, at most maxSurveyOther characters),
// any other choice drops them. msg says what is wrong, "" when nothing.
func validSurveyAnswer(answer, other string) (string, string, string) {
	answer = strings.TrimSpace(answer)
	known := false
	for _, ch := range surveyChoices {
		known = known || ch == answer
	}
	if !known {
		return "", "", "answer must be one of " + strings.Join(surveyChoices, ", ")
	}
	if answer != "other" {
		return answer, "", ""
	}
	other = strings.Join(strings.Fields(other), " ")
	switch {
	case !utf8.ValidString(other):
		return "", "", "other is not valid text"
	case other == "":
		return "", "", "tell us where you heard about us"
	case utf8.RuneCountInString(other) > maxSurveyOther:
		return "", "", "other must be at most " + strconv.Itoa(maxSurveyOther) + " characters"
	}
	return answer, other, ""
}

// ---- GET /orders/:id/status ----

// The JSON below is a contract with extensions/order-status/src: change
// them together. Times are RFC 3339 UTC; the extension formats them.
type extOrderStatusReply struct {
	OrderID   string `json:"order_id"`
	Name      string `json:"name"`
	Cancelled bool   `json:"cancelled"`
	// TrackingURL is Doorstep's signed tracking page for the whole order
	// (every package, with carrier scans); "" if it could not be signed.
	TrackingURL string       `json:"tracking_url"`
	Packages    []extPackage `json:"packages"`
	// Points is null when the shop runs no loyalty program.
	Points *extPoints `json:"points"`
}

type extPackage struct {
	Number int `json:"number"`
	// Status is the shipment status vocabulary: confirmed, in_transit,
	// out_for_delivery, attempted_delivery, ready_for_pickup, delivered,
	// failure.
	Status         string `json:"status"`
	Step           int    `json:"step"` // 1 shipped, 2 out for delivery, 3 delivered (0 is "ordered")
	Late           bool   `json:"late"` // the estimate passed without delivery
	Problem        bool   `json:"problem"`
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
	// CarrierURL is the carrier's own page, when it is an http(s) link.
	CarrierURL          string     `json:"carrier_url"`
	EstimatedDeliveryAt *time.Time `json:"estimated_delivery_at"`
	DeliveredAt         *time.Time `json:"delivered_at"`
}

type extPoints struct {
	// Earned is the net points the order brought the customer (earned
	// minus taken back); Pending is the part still waiting out the return
	// window.
	Earned  int64 `json:"earned"`
	Pending int64 `json:"pending"`
}

func (a *App) handleExtOrderStatus() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, customer := extSession(c)
		if customer == 0 {
			apiError(c, http.StatusUnauthorized, "login_required", "Log in to your account to see this order.")
			return
		}
		orderID, err := shopify.OrderIDFromExtension(c.Param("id"))
		if err != nil {
			apiError(c, http.StatusNotFound, "not_found", "not found")
			return
		}
		ctx := c.Request.Context()
		o, err := a.store.Order(ctx, shop.ID, orderID)
		if errors.Is(err, models.ErrNotFound) || (err == nil && o.CustomerPlatformID != customer) {
			// Someone else's order reads as no order at all.
			apiError(c, http.StatusNotFound, "not_found", "not found")
			return
		}
		if err != nil {
			a.extError(c, "order status: order", shop, err)
			return
		}
		out := extOrderStatusReply{OrderID: strconv.FormatInt(o.PlatformID, 10), Name: o.Name, Cancelled: o.Cancelled(),
			Packages: extPackages(o, a.now())}
		if u, err := a.composer.TrackingURL(shop.ID, o.PlatformID); err == nil {
			out.TrackingURL = u
		} else {
			a.log.Warn("extension api: tracking link", "shop", shop.Domain, "order", o.PlatformID, "err", err)
		}
		prog, err := jobs.LoadLoyaltyProgram(ctx, a.store, shop.ID)
		if err != nil {
			a.extError(c, "order status: program", shop, err)
			return
		}
		if prog.Enabled {
			p, err := a.orderPoints(ctx, shop, customer, o.PlatformID)
			if err != nil {
				a.extError(c, "order status: points", shop, err)
				return
			}
			out.Points = &p
		}
		c.JSON(http.StatusOK, out)
	}
}

// extPackages is the tracking page's view of the shipments (shopper.go):
// a cancelled or failed fulfillment was replaced or called off and is left
// out; a package is late once its estimate passed without delivery.
func extPackages(o models.Order, now time.Time) []extPackage {
	out := []extPackage{}
	for _, f := range o.Fulfillments {
		if f.Status == "cancelled" || f.Status == "error" || f.Status == "failure" {
			continue
		}
		delivered := f.DeliveredAt != nil || f.ShipmentStatus == models.ShipmentDelivered
		p := extPackage{
			Number: len(out) + 1, Status: shipmentStatus(f), Step: stepOf(f.ShipmentStatus, delivered),
			Carrier: f.TrackingCompany, TrackingNumber: f.TrackingNumber, CarrierURL: webURL(f.TrackingURL),
			Problem: !delivered && (f.ShipmentStatus == models.ShipmentFailure || f.ShipmentStatus == models.ShipmentAttemptedDeliver),
		}
		if delivered {
			p.Status = models.ShipmentDelivered
			if f.DeliveredAt != nil {
				t := f.DeliveredAt.UTC()
				p.DeliveredAt = &t
			}
		} else if f.EstimatedDeliveryAt != nil {
			t := f.EstimatedDeliveryAt.UTC()
			p.EstimatedDeliveryAt = &t
			p.Late = t.Before(now) && f.ShipmentStatus != models.ShipmentReadyForPickup && !o.Cancelled()
		}
		out = append(out, p)
	}
	return out
}

// orderPoints sums the customer's ledger entries about the order (earns
// and their reversals; another customer's referral reward for it is not
// theirs). Pending follows the account's matured-through time, as the
// balance does.
func (a *App) orderPoints(ctx context.Context, shop models.Shop, customer, orderID int64) (extPoints, error) {
	es, err := a.store.OrderEntries(ctx, shop.ID, orderID)
	if err != nil {
		return extPoints{}, err
	}
	through := a.now()
	acct, err := a.store.Account(ctx, models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer})
	switch {
	case err == nil:
		through = acct.MaturedThrough
	case !errors.Is(err, models.ErrNotFound):
		return extPoints{}, err
	}
	var p extPoints
	for _, e := range es {
		if e.CustomerPlatformID != customer || (e.Kind != models.EntryEarn && e.Kind != models.EntryReverse) {
			continue
		}
		p.Earned += e.Points
		if e.Pending(through) {
			p.Pending += e.Points
		}
	}
	return p, nil
}
