package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// The storefront side of loyalty, behind Shopify's app proxy: the theme
// block (extensions/rewards) calls https://{shop}/apps/doorstep/..., and
// Shopify forwards the request here with a signed query naming the shop and
// the logged-in customer.
//
//	GET  /apps/doorstep/rewards   the customer's points, tier, options, history, referral link
//	POST /apps/doorstep/redeem    {"points": N}: points for a single-use discount code
//	POST /apps/doorstep/profile   {"birthday": "MM-DD"}: set once
//
// The signature is the only credential. The customer is the proxy's
// logged_in_customer_id and nothing else: a customer id in a body or a
// query parameter of our own is never read, so a shopper can only ever act
// on their own account.
//
// No CSRF token: a POST is only accepted with a valid signature, which only
// Shopify can make, over a timestamp VerifyProxy refuses once stale. A
// forged cross-site request to the shop's /apps/doorstep/... is signed by
// Shopify for the customer who is logged in — the same as a click in the
// block — and can only redeem one of the shop's fixed options for that
// customer's own code or set their birthday once; a captured signed URL
// stops working within minutes.

const (
	ctxProxyShop     = "doorstep.proxy.shop"
	ctxProxyCustomer = "doorstep.proxy.customer"
	// maxProxyBody bounds a storefront request body: {"points": 1000}.
	maxProxyBody = 4 << 10
	// historyOnPage is how many ledger entries the rewards block gets.
	historyOnPage = 20
	// redeemTimeout bounds a redemption once the points are taken: it goes
	// on if the shopper's connection drops, so the code gets made (or the
	// points come back) rather than waiting for the reconciler.
	redeemTimeout = 30 * time.Second
)

// storefrontRoutes mounts the app proxy routes.
func (a *App) storefrontRoutes(r *gin.Engine) {
	g := r.Group("/apps/doorstep", proxyHeaders(), a.proxyAuth())
	g.GET("/rewards", a.handleProxyRewards())
	g.POST("/redeem", a.handleProxyRedeem())
	g.POST("/profile", a.handleProxyProfile())
	a.rewardsPageRoutes(r) // the HTML rewards page at /apps/doorstep/ (rewards_page.go)
}

// proxyHeaders: every answer is one customer's data, so no cache on the
// way (Shopify's, a CDN's, the browser's) may keep it.
func proxyHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		c.Next()
	}
}

// proxyAuth verifies the app proxy signature, loads the installed shop and
// requires a logged-in customer. Bad signature: 401 bad_signature; shop
// not installed: 404; logged out: 401 login_required. Nothing is read or
// written before it passes.
func (a *App) proxyAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		pr, err := a.shopify.VerifyProxy(c.Request.URL.Query(), a.now())
		if err != nil {
			apiError(c, http.StatusUnauthorized, "bad_signature", "the request is not signed by Shopify, or is too old")
			return
		}
		shop, err := a.store.ShopByDomain(c.Request.Context(), models.PlatformShopify, pr.Shop)
		if errors.Is(err, models.ErrNotFound) || (err == nil && !shop.Installed()) {
			apiError(c, http.StatusNotFound, "not_installed", "this shop does not have the app installed")
			return
		}
		if err != nil {
			a.log.Error("app proxy: load shop", "shop", pr.Shop, "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		if pr.CustomerID <= 0 {
			apiError(c, http.StatusUnauthorized, "login_required", "Log in to your account to see your rewards.")
			return
		}
		c.Set(ctxProxyShop, shop)
		c.Set(ctxProxyCustomer, pr.CustomerID)
		c.Next()
	}
}

// proxyCustomer is the shop and the logged-in customer (set by proxyAuth).
func proxyCustomer(c *gin.Context) (models.Shop, int64) {
	return c.MustGet(ctxProxyShop).(models.Shop), c.MustGet(ctxProxyCustomer).(int64)
}

// proxyError answers an unexpected error without details.
func (a *App) proxyError(c *gin.Context, what string, shop models.Shop, err error) {
	a.log.Error("app proxy", "what", what, "shop", shop.Domain, "err", err)
	apiError(c, http.StatusInternalServerError, "internal", "Something went wrong. Please try again in a moment.")
}

// bindProxyBody decodes a small JSON body into v; on failure it has
// answered 400.
func bindProxyBody(c *gin.Context, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxProxyBody))
	if err != nil {
		apiError(c, http.StatusRequestEntityTooLarge, "too_large", "request body is too large")
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		apiError(c, http.StatusBadRequest, "bad_request", "the body is not the JSON this endpoint takes")
		return false
	}
	return true
}

// programOn loads the shop's program; a program switched off answers 404
// loyalty_disabled (and false).
func (a *App) programOn(c *gin.Context, shop models.Shop) (jobs.LoyaltyProgram, bool) {
	prog, err := jobs.LoadLoyaltyProgram(c.Request.Context(), a.store, shop.ID)
	if err != nil {
		a.proxyError(c, "load program", shop, err)
		return prog, false
	}
	if !prog.Enabled {
		apiError(c, http.StatusNotFound, "loyalty_disabled", "This shop has no rewards program.")
		return prog, false
	}
	return prog, true
}

// ---- GET /rewards ----

// The rewards JSON is a contract with extensions/rewards/assets/rewards.js:
// change them together. Money is a decimal string with two decimals.
type rewardsReply struct {
	Balance       int64             `json:"balance"` // available − debt
	Pending       int64             `json:"pending"`
	Debt          int64             `json:"debt"`
	Tier          *tierJSON         `json:"tier"`
	NextTier      *nextTierJSON     `json:"next_tier"`
	PointsValue   moneyPointsJSON   `json:"points_value"`
	RedeemOptions []moneyPointsJSON `json:"redeem_options"`
	History       []historyJSON     `json:"history"`
	Referral      *referralJSON     `json:"referral"`
	Birthday      *string           `json:"birthday"`
}

type tierJSON struct {
	Name       string `json:"name"`
	Multiplier string `json:"multiplier"`
}

type nextTierJSON struct {
	Name        string `json:"name"`
	SpendNeeded string `json:"spend_needed"`
	Currency    string `json:"currency"`
}

type moneyPointsJSON struct {
	Points   int64  `json:"points"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

type historyJSON struct {
	At          time.Time `json:"at"`
	Kind        string    `json:"kind"`
	Points      int64     `json:"points"`
	Description string    `json:"description"`
	Pending     bool      `json:"pending"`
}

type referralJSON struct {
	Code            string `json:"code"`
	Link            string `json:"link"`
	Reward          string `json:"reward"`
	RefereeDiscount string `json:"referee_discount"`
}

func (a *App) handleProxyRewards() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, customer := proxyCustomer(c)
		if _, ok := a.programOn(c, shop); !ok {
			return
		}
		ctx := c.Request.Context()
		v, err := a.loyalty.Rewards(ctx, shop, customer, historyOnPage)
		if err != nil {
			a.proxyError(c, "rewards", shop, err)
			return
		}
		prog, acct := v.Program, v.Account
		out := rewardsReply{
			Balance: acct.Balance(), Pending: acct.Pending, Debt: acct.Debt,
			PointsValue:   moneyPointsJSON{Points: prog.PointValuePoints, Amount: money(prog.PointValueAmount), Currency: shop.Currency},
			RedeemOptions: []moneyPointsJSON{},
		}
		if v.Tier.Name != "" {
			out.Tier = &tierJSON{Name: v.Tier.Name, Multiplier: v.Tier.Multiplier.String()}
		}
		if v.NextTier != nil {
			need := v.SpendNeeded
			if need.IsNegative() {
				need = decimal.Zero // the nightly tier job is behind: nothing left to spend
			}
			out.NextTier = &nextTierJSON{Name: v.NextTier.Name, SpendNeeded: money(need.Round(2)), Currency: shop.Currency}
		}
		for _, p := range prog.RedeemOptions {
			out.RedeemOptions = append(out.RedeemOptions, moneyPointsJSON{Points: p, Amount: money(prog.PointsValue(p)), Currency: shop.Currency})
		}
		names, err := a.orderNames(ctx, shop, v.History)
		if err != nil {
			a.proxyError(c, "order names", shop, err)
			return
		}
		out.History = make([]historyJSON, 0, len(v.History))
		for _, e := range v.History {
			out.History = append(out.History, historyJSON{At: e.At.UTC(), Kind: e.Kind, Points: e.Points,
				Description: entryDescription(e, names), Pending: e.Pending(acct.MaturedThrough)})
		}
		if prog.Referral.Enabled {
			// The first time, this makes the referee's discount on Shopify:
			// let it finish even if the shopper leaves.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redeemTimeout)
			out.Referral = a.referralFor(rctx, shop, customer, prog)
			cancel()
		}
		if acct.Birthday != "" {
			b := acct.Birthday
			out.Birthday = &b
		}
		c.JSON(http.StatusOK, out)
	}
}

// referralFor is the customer's referral block, creating their code on
// first sight. A failure (the platform down while the referee's discount
// is made) leaves the block out this time rather than failing the page.
func (a *App) referralFor(ctx context.Context, shop models.Shop, customer int64, prog jobs.LoyaltyProgram) *referralJSON {
	first := ""
	if cu, err := a.store.CustomerByPlatformID(ctx, shop.ID, customer); err == nil {
		first = cu.FirstName
	} else if !errors.Is(err, models.ErrNotFound) {
		a.log.Warn("app proxy: load customer", "shop", shop.Domain, "err", err)
	}
	code, err := a.loyalty.ReferralCode(ctx, shop, customer, first)
	if err != nil {
		a.log.Warn("app proxy: referral code", "shop", shop.Domain, "err", err)
		return nil
	}
	return &referralJSON{
		Code: code, Link: a.referralLink(code),
		Reward:          fmt.Sprintf("%d points", prog.Referral.RewardPoints),
		RefereeDiscount: prog.Referral.RefereePercent.String() + "% off",
	}
}

// referralLink is the link a customer shares: /r/{code} on the app.
func (a *App) referralLink(code string) string {
	return strings.TrimRight(a.cfg.AppURL, "/") + "/r/" + code
}

// orderNames maps the entries' orders to their names ("#1001").
func (a *App) orderNames(ctx context.Context, shop models.Shop, es []models.LoyaltyEntry) (map[int64]string, error) {
	seen := map[int64]bool{}
	var ids []int64
	for _, e := range es {
		if e.OrderPlatformID != 0 && !seen[e.OrderPlatformID] {
			seen[e.OrderPlatformID] = true
			ids = append(ids, e.OrderPlatformID)
		}
	}
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	orders, err := a.store.Orders(ctx, shop.ID, ids)
	if err != nil {
		return nil, err
	}
	for id, o := range orders {
		out[id] = o.Name
	}
	return out, nil
}

// entryDescription says what a ledger entry was, for the shopper. It is
// built from the entry's kind and source, never from its reason: a
// merchant's adjustment reason is a note for the merchant's staff.
func entryDescription(e models.LoyaltyEntry, orderNames map[int64]string) string {
	order := func(format, fallback string) string {
		if name := orderNames[e.OrderPlatformID]; name != "" {
			return fmt.Sprintf(format, name)
		}
		return fallback
	}
	switch e.Kind {
	case models.EntryEarn:
		if e.SourceType == models.SourceBonus {
			kind, _, _ := strings.Cut(e.SourceID, ":")
			switch kind {
			case "first_order":
				return "First order bonus"
			case "review":
				return "Review bonus"
			case "birthday":
				return "Birthday bonus"
			case "account", "account_created":
				return "Welcome bonus"
			}
			return "Bonus"
		}
		return order("Order %s", "Order")
	case models.EntryRedeem:
		return "Discount code " + e.SourceID
	case models.EntryReverse:
		switch e.SourceType {
		case models.SourceRedemption:
			return "Points returned for discount code " + e.SourceID
		case models.SourceReferral:
			return "Referral reward reversed"
		}
		return order("Order %s refunded or cancelled", "Points reversed")
	case models.EntryExpire:
		return "Points expired"
	case models.EntryAdjust:
		return "Adjusted by the shop"
	case models.EntryReferralReward:
		return "Referral reward"
	}
	return e.Kind
}

// ---- POST /redeem ----

type redeemRequest struct {
	Points int64 `json:"points"`
}

type redeemReply struct {
	Code     string `json:"code"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Balance  int64  `json:"balance"`
}

type redeemPendingReply struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Balance int64  `json:"balance"`
}

func (a *App) handleProxyRedeem() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, customer := proxyCustomer(c)
		var in redeemRequest
		if !bindProxyBody(c, &in) {
			return
		}
		if in.Points <= 0 {
			apiError(c, http.StatusBadRequest, "bad_request", `send {"points": N} with one of the reward options`)
			return
		}
		// Once the points are taken the code must be made or the points
		// given back, whether or not the shopper is still waiting.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), redeemTimeout)
		defer cancel()
		red, acct, err := a.loyalty.Redeem(ctx, shop, customer, in.Points)
		switch {
		case err == nil:
			c.JSON(http.StatusOK, redeemReply{Code: red.Code, Amount: money(red.Value), Currency: red.Currency, Balance: acct.Balance()})
		case errors.Is(err, jobs.ErrLoyaltyDisabled):
			apiError(c, http.StatusNotFound, "loyalty_disabled", "This shop has no rewards program.")
		case errors.Is(err, jobs.ErrNotARedeemOption):
			apiError(c, http.StatusUnprocessableEntity, "not_a_redeem_option", fmt.Sprintf("%d points is not one of this shop's rewards.", in.Points))
		case errors.Is(err, models.ErrInsufficientPoints):
			a.insufficientPoints(c, shop, customer, in.Points)
		case errors.Is(err, jobs.ErrRedemptionPending):
			a.log.Warn("app proxy: redemption pending", "shop", shop.Domain, "redemption_id", red.ID, "err", err)
			c.JSON(http.StatusAccepted, redeemPendingReply{Status: "pending", Message: jobs.ErrRedemptionPending.Error(), Balance: acct.Balance()})
		case errors.Is(err, jobs.ErrRedemptionFailed):
			a.log.Warn("app proxy: redemption failed", "shop", shop.Domain, "redemption_id", red.ID, "err", err)
			apiError(c, http.StatusBadGateway, "redemption_failed", "The shop could not create your discount code; your points are back. Please try again later.")
		default:
			a.proxyError(c, "redeem", shop, err)
		}
	}
}

// insufficientPoints answers 409 with what the customer has.
func (a *App) insufficientPoints(c *gin.Context, shop models.Shop, customer, want int64) {
	msg := fmt.Sprintf("This reward needs %d points.", want)
	if acct, err := a.store.Account(c.Request.Context(), models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer}); err == nil {
		msg = fmt.Sprintf("You have %d points; this reward needs %d.", max(acct.Balance(), 0), want)
	}
	apiError(c, http.StatusConflict, "insufficient_points", msg)
}

// ---- POST /profile ----

type profileRequest struct {
	Birthday string `json:"birthday"`
}

type profileReply struct {
	Birthday *string `json:"birthday"`
}

func (a *App) handleProxyProfile() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, customer := proxyCustomer(c)
		var in profileRequest
		if !bindProxyBody(c, &in) {
			return
		}
		if _, ok := a.programOn(c, shop); !ok {
			return
		}
		acct, err := a.loyalty.SetBirthday(c.Request.Context(), shop, customer, strings.TrimSpace(in.Birthday))
		switch {
		case err == nil:
			b := acct.Birthday
			c.JSON(http.StatusOK, profileReply{Birthday: &b})
		case errors.Is(err, jobs.ErrBadBirthday):
			apiError(c, http.StatusUnprocessableEntity, "invalid_birthday", "Choose a real day: month and day, such as 04-12.")
		case errors.Is(err, models.ErrConflict):
			apiError(c, http.StatusConflict, "birthday_already_set", "Your birthday is already saved. Contact the shop to change it.")
		default:
			a.proxyError(c, "set birthday", shop, err)
		}
	}
}
