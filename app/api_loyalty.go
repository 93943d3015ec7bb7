package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// loyaltyAPI: the loyalty program, its liability, customers' accounts and
// referrals, for the embedded admin.
//
//	GET  /api/admin/loyalty                      the program
//	PUT  /api/admin/loyalty                      change it (fields left out keep their values)
//	GET  /api/admin/loyalty/liability            outstanding points and their value
//	GET  /api/admin/customers/:id                a customer's account (:id is the platform's customer id)
//	GET  /api/admin/customers/:id/ledger         their ledger, newest first (?limit=&cursor=)
//	POST /api/admin/customers/:id/points         a manual adjustment {"points","reason","idempotency_key"}
//	GET  /api/admin/referrals                    referrals, newest first (?status=&limit=&cursor=)
//	POST /api/admin/referrals/:id/approve        a flagged referral goes on to its reward
//	POST /api/admin/referrals/:id/reject         a flagged referral never pays
//
// Changes write an audit row (ids and numbers only: never a reason text,
// which may name the shopper).
func (a *App) loyaltyAPI(api *gin.RouterGroup) {
	api.GET("/loyalty", a.handleGetProgram())
	api.PUT("/loyalty", a.handlePutProgram())
	api.GET("/loyalty/liability", a.handleLiability())
	api.GET("/customers/:id", a.handleGetLoyaltyCustomer())
	api.GET("/customers/:id/ledger", a.handleCustomerLedger())
	api.POST("/customers/:id/points", a.handleAdjustPoints())
	api.GET("/referrals", a.handleListReferrals())
	api.POST("/referrals/:id/approve", a.handleReviewReferral(true))
	api.POST("/referrals/:id/reject", a.handleReviewReferral(false))
}

// Audit actions of the loyalty admin.
const (
	auditLoyaltyProgram = "loyalty_program_update"
	auditLoyaltyAdjust  = "loyalty_adjust"
	auditReferralReview = "referral_review"
)

const (
	maxAdjustPoints   = 1_000_000_000
	maxAdjustReason   = 1000 // the ledger keeps 1024 bytes
	maxIdempotencyKey = 100  // the ledger's source id holds 128, with the customer id before it
)

// sessionUser is the session token's sub: the id of the Shopify staff
// member acting. sessionAuth has verified this very token (signature,
// audience, expiry) before any handler runs, so its claims are only read
// here. A token without one (not a staff member's) says "shopify_admin".
func sessionUser(c *gin.Context) string {
	_, raw, _ := strings.Cut(strings.TrimSpace(c.GetHeader("Authorization")), " ")
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(strings.TrimSpace(raw), &claims); err != nil || claims.Subject == "" {
		return "shopify_admin"
	}
	return claims.Subject
}

// audit records one change; a failure is logged, not shown: the change
// itself is made.
func (a *App) audit(c *gin.Context, shop models.Shop, action, subject string, detail map[string]any) {
	b, _ := json.Marshal(detail)
	err := a.store.WriteAudit(c.Request.Context(), models.AuditLog{ShopID: shop.ID, Action: action, Subject: subject,
		Rows: 1, Detail: string(b), CreatedAt: a.now().UTC()})
	if err != nil {
		a.log.Error("write audit", "shop", shop.Domain, "action", action, "err", err)
	}
}

// ---- program ----

func (a *App) handleGetProgram() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := jobs.LoadLoyaltyProgram(c.Request.Context(), a.store, shopOf(c).ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, p)
	}
}

// handlePutProgram overlays the body on the current program: 422
// invalid_program naming the field on a bad value, nothing saved.
func (a *App) handlePutProgram() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		body, ok := readBody(c)
		if !ok {
			return
		}
		cur, err := jobs.LoadLoyaltyProgram(ctx, a.store, shop.ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		next, err := jobs.ParseLoyaltyProgram(cur, body)
		if err != nil {
			apiError(c, http.StatusUnprocessableEntity, "invalid_program", programProblem(body, err))
			return
		}
		if err := jobs.SaveLoyaltyProgram(ctx, a.store, shop.ID, next); err != nil {
			a.storeError(c, err)
			return
		}
		var fields []string
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) == nil {
			for k := range top {
				fields = append(fields, k)
			}
		}
		a.audit(c, shop, auditLoyaltyProgram, "loyalty_program", map[string]any{
			"fields": sortedStrings(fields), "enabled": next.Enabled, "referrals": next.Referral.Enabled, "user": sessionUser(c)})
		c.JSON(http.StatusOK, next)
	}
}

// programProblem says "<field>: <reason>" for a rejected program body.
func programProblem(body []byte, err error) string {
	var se *jobs.SettingsError
	if errors.As(err, &se) {
		return se.Field + ": " + se.Reason
	}
	var raw json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return "body: not valid JSON"
	}
	if field, reason := jsonFieldError(raw, reflect.TypeFor[jobs.LoyaltyProgram](), ""); field != "" {
		return field + ": " + reason
	}
	msg := strings.TrimPrefix(err.Error(), jobs.ErrBadSettings.Error()+": ")
	return "body: " + strings.TrimPrefix(msg, "json: ")
}

func sortedStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	slices.Sort(s)
	return s
}

// ---- liability ----

type pointsMoneyJSON struct {
	Points int64  `json:"points"`
	Value  string `json:"value"`
}

type liabilityReply struct {
	Accounts  int64           `json:"accounts"`
	Currency  string          `json:"currency"`
	Available pointsMoneyJSON `json:"available"`
	Pending   pointsMoneyJSON `json:"pending"`
	Debt      pointsMoneyJSON `json:"debt"`
	// Outstanding is what the shop may yet give away: available and
	// pending points, less the debt future earnings pay off first.
	Outstanding pointsMoneyJSON `json:"outstanding"`
}

func (a *App) handleLiability() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		prog, err := jobs.LoadLoyaltyProgram(ctx, a.store, shop.ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		l, err := a.store.LoyaltyLiability(ctx, shop.ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		pm := func(p int64) pointsMoneyJSON { return pointsMoneyJSON{Points: p, Value: money(prog.PointsValue(p))} }
		c.JSON(http.StatusOK, liabilityReply{Accounts: l.Accounts, Currency: shop.Currency,
			Available: pm(l.Available), Pending: pm(l.Pending), Debt: pm(l.Debt),
			Outstanding: pm(l.Available + l.Pending - l.Debt)})
	}
}

// ---- customers ----

type ledgerEntryJSON struct {
	ID           string     `json:"id"`
	At           time.Time  `json:"at"`
	Kind         string     `json:"kind"`
	Points       int64      `json:"points"`
	Pending      bool       `json:"pending"`
	PendingUntil *time.Time `json:"pending_until"`
	SourceType   string     `json:"source_type"`
	SourceID     string     `json:"source_id"`
	OrderID      string     `json:"order_id"`
	RelatedID    string     `json:"related_id"`
	Rate         string     `json:"rate"`
	Multiplier   string     `json:"multiplier"`
	Reason       string     `json:"reason"`
	Actor        string     `json:"actor"`
}

type redemptionJSON struct {
	ID        string    `json:"id"`
	Code      string    `json:"code"`
	Points    int64     `json:"points"`
	Value     string    `json:"value"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type referralItem struct {
	ID          string     `json:"id"`
	OrderID     string     `json:"order_id"`
	ReferrerID  string     `json:"referrer_id"`
	RefereeID   string     `json:"referee_id"`
	Code        string     `json:"code"`
	Via         string     `json:"via"`
	Status      string     `json:"status"`
	Reasons     []string   `json:"reasons"`
	RewardDueAt *time.Time `json:"reward_due_at"`
	ReviewedBy  string     `json:"reviewed_by"`
	ReviewedAt  *time.Time `json:"reviewed_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

type accountJSON struct {
	Available int64 `json:"available"`
	Pending   int64 `json:"pending"`
	Debt      int64 `json:"debt"`
	Balance   int64 `json:"balance"`
}

type loyaltyCustomerReply struct {
	CustomerID string `json:"customer_id"`
	accountJSON
	Earned         int64             `json:"earned"`
	Redeemed       int64             `json:"redeemed"`
	Tier           *tierJSON         `json:"tier"`
	TierSince      *time.Time        `json:"tier_since"`
	Spend12m       string            `json:"spend_12m"`
	Currency       string            `json:"currency"`
	BirthdaySet    bool              `json:"birthday_set"`
	ReferralCode   string            `json:"referral_code"`
	LastActivityAt *time.Time        `json:"last_activity_at"`
	Ledger         []ledgerEntryJSON `json:"ledger"`
	Redemptions    []redemptionJSON  `json:"redemptions"`
	Referrals      []referralItem    `json:"referrals"`
}

func accountOf(acct models.LoyaltyAccount) accountJSON {
	return accountJSON{Available: acct.Available, Pending: acct.Pending, Debt: acct.Debt, Balance: acct.Balance()}
}

func ledgerEntryOf(e models.LoyaltyEntry, maturedThrough time.Time) ledgerEntryJSON {
	out := ledgerEntryJSON{ID: strconv.FormatUint(e.ID, 10), At: e.At.UTC(), Kind: e.Kind, Points: e.Points,
		Pending: e.Pending(maturedThrough), PendingUntil: utcPtr(e.PendingUntil), SourceType: e.SourceType, SourceID: e.SourceID,
		OrderID: platformID(e.OrderPlatformID), Rate: e.Rate.String(), Multiplier: e.Multiplier.String(),
		Reason: e.Reason, Actor: e.Actor}
	if e.RelatedID != 0 {
		out.RelatedID = strconv.FormatUint(e.RelatedID, 10)
	}
	return out
}

func referralItemOf(r models.Referral) referralItem {
	reasons := []string{}
	for _, s := range strings.Split(r.Reasons, ",") {
		if s = strings.TrimSpace(s); s != "" {
			reasons = append(reasons, s)
		}
	}
	return referralItem{ID: strconv.FormatUint(r.ID, 10), OrderID: platformID(r.OrderPlatformID),
		ReferrerID: platformID(r.ReferrerPlatformID), RefereeID: platformID(r.RefereePlatformID), Code: r.Code, Via: r.Via,
		Status: r.Status, Reasons: reasons, RewardDueAt: utcPtr(r.RewardDueAt), ReviewedBy: r.ReviewedBy,
		ReviewedAt: utcPtr(r.ReviewedAt), CreatedAt: r.CreatedAt.UTC()}
}

// loyaltyCustomer reads the path's customer: their account, or a blank one
// for a customer of the shop who has none yet. A customer the shop does
// not know (another shop's, or none at all) is 404; on failure it has
// answered.
func (a *App) loyaltyCustomer(c *gin.Context) (models.AccountKey, models.LoyaltyAccount, bool) {
	shop := shopOf(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		apiError(c, http.StatusNotFound, "not_found", "not found")
		return models.AccountKey{}, models.LoyaltyAccount{}, false
	}
	ctx := c.Request.Context()
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: id}
	acct, err := a.store.Account(ctx, key)
	if errors.Is(err, models.ErrNotFound) {
		if _, err = a.store.CustomerByPlatformID(ctx, shop.ID, id); err == nil {
			return key, models.LoyaltyAccount{ShopID: shop.ID, CustomerPlatformID: id}, true
		}
	}
	if err != nil {
		a.storeError(c, err)
		return models.AccountKey{}, models.LoyaltyAccount{}, false
	}
	return key, acct, true
}

func (a *App) handleGetLoyaltyCustomer() gin.HandlerFunc {
	return func(c *gin.Context) {
		key, acct, ok := a.loyaltyCustomer(c)
		if !ok {
			return
		}
		out, err := a.loyaltyCustomerOf(c.Request.Context(), shopOf(c), key, acct)
		if err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

// loyaltyCustomerOf gathers what the admin shows about a customer's
// loyalty: account, tier, recent ledger, redemptions and referrals.
func (a *App) loyaltyCustomerOf(ctx context.Context, shop models.Shop, key models.AccountKey, acct models.LoyaltyAccount) (loyaltyCustomerReply, error) {
	// Four independent reads, side by side (the helpdesk sidebar waits on
	// this).
	var (
		prog    jobs.LoyaltyProgram
		entries []models.LoyaltyEntry
		reds    []models.LoyaltyRedemption
		refs    []models.Referral
		reads   parallel
	)
	reads.Go(func() (err error) { prog, err = jobs.LoadLoyaltyProgram(ctx, a.store, shop.ID); return err })
	reads.Go(func() (err error) { entries, err = a.store.Ledger(ctx, key, 0, historyOnPage); return err })
	reads.Go(func() (err error) { reds, err = a.store.Redemptions(ctx, key, historyOnPage); return err })
	reads.Go(func() (err error) {
		refs, err = a.store.Referrals(ctx, shop.ID, models.ReferralSearch{Referrer: key.CustomerPlatformID, Limit: 100})
		return err
	})
	if err := reads.Wait(); err != nil {
		return loyaltyCustomerReply{}, err
	}
	out := loyaltyCustomerReply{CustomerID: platformID(key.CustomerPlatformID), accountJSON: accountOf(acct),
		Earned: acct.Earned, Redeemed: acct.Redeemed, TierSince: utcPtr(acct.TierSince), Spend12m: money(acct.Spend12m),
		Currency: shop.Currency, BirthdaySet: acct.Birthday != "", ReferralCode: acct.ReferralCode,
		Ledger: make([]ledgerEntryJSON, 0, len(entries)), Redemptions: make([]redemptionJSON, 0, len(reds)),
		Referrals: make([]referralItem, 0, len(refs))}
	tier := prog.TierFor(acct.Spend12m)
	if t, ok := prog.TierNamed(acct.Tier); ok {
		tier = t
	}
	if tier.Name != "" {
		out.Tier = &tierJSON{Name: tier.Name, Multiplier: tier.Multiplier.String()}
	}
	if !acct.LastActivityAt.IsZero() {
		out.LastActivityAt = utcPtr(&acct.LastActivityAt)
	}
	for _, e := range entries {
		out.Ledger = append(out.Ledger, ledgerEntryOf(e, acct.MaturedThrough))
	}
	for _, r := range reds {
		out.Redemptions = append(out.Redemptions, redemptionJSON{ID: strconv.FormatUint(r.ID, 10), Code: r.Code, Points: r.Points,
			Value: money(r.Value), Currency: r.Currency, Status: r.Status, Error: r.Error,
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()})
	}
	for _, r := range refs {
		out.Referrals = append(out.Referrals, referralItemOf(r))
	}
	return out, nil
}

// handleCustomerLedger pages through a customer's ledger, newest first;
// the cursor is the last entry's id.
func (a *App) handleCustomerLedger() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := readPage(c)
		if !ok {
			return
		}
		key, acct, ok := a.loyaltyCustomer(c)
		if !ok {
			return
		}
		entries, err := a.store.Ledger(c.Request.Context(), key, p.After, p.Limit+1)
		if err != nil {
			a.storeError(c, err)
			return
		}
		entries, next := pageOf(entries, p.Limit, func(e models.LoyaltyEntry) uint64 { return e.ID })
		items := make([]ledgerEntryJSON, len(entries))
		for i, e := range entries {
			items[i] = ledgerEntryOf(e, acct.MaturedThrough)
		}
		list(c, items, next)
	}
}

type adjustRequest struct {
	Points         int64  `json:"points"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotency_key"`
}

type adjustReply struct {
	Posted  bool             `json:"posted"`
	Entry   *ledgerEntryJSON `json:"entry"`
	Account accountJSON      `json:"account"`
}

// handleAdjustPoints posts a manual adjustment once per idempotency key:
// 201 when posted, 200 with "posted": false when the key was used before
// (a retried request), the account as it stands either way.
func (a *App) handleAdjustPoints() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		var in adjustRequest
		if !bindBody(c, &in) {
			return
		}
		in.Reason, in.IdempotencyKey = strings.TrimSpace(in.Reason), strings.TrimSpace(in.IdempotencyKey)
		switch {
		case in.Points == 0 || in.Points > maxAdjustPoints || in.Points < -maxAdjustPoints:
			apiError(c, http.StatusUnprocessableEntity, "invalid_adjustment", fmt.Sprintf("points: a non-zero number of points, at most %d either way", maxAdjustPoints))
			return
		case in.Reason == "" || utf8.RuneCountInString(in.Reason) > maxAdjustReason || len(in.Reason) > 1024:
			apiError(c, http.StatusUnprocessableEntity, "invalid_adjustment", fmt.Sprintf("reason: required, at most %d characters", maxAdjustReason))
			return
		case in.IdempotencyKey == "" || len(in.IdempotencyKey) > maxIdempotencyKey:
			apiError(c, http.StatusUnprocessableEntity, "invalid_adjustment", fmt.Sprintf("idempotency_key: required, at most %d characters", maxIdempotencyKey))
			return
		}
		key, _, ok := a.loyaltyCustomer(c)
		if !ok {
			return
		}
		user := sessionUser(c)
		// The ledger's source key is unique per shop: the customer goes in
		// it, so a key reused for another customer is not taken for a replay.
		idem := platformID(key.CustomerPlatformID) + ":" + in.IdempotencyKey
		e, acct, posted, err := a.loyalty.Adjust(c.Request.Context(), shop, key.CustomerPlatformID, in.Points, in.Reason, user, idem)
		if err != nil {
			a.storeError(c, err)
			return
		}
		out := adjustReply{Posted: posted, Account: accountOf(acct)}
		status := http.StatusOK
		if posted {
			status = http.StatusCreated
			je := ledgerEntryOf(e, acct.MaturedThrough)
			out.Entry = &je
			a.audit(c, shop, auditLoyaltyAdjust, "customer:"+platformID(key.CustomerPlatformID), map[string]any{
				"entry_id": je.ID, "points": in.Points, "user": user})
		}
		c.JSON(status, out)
	}
}

// ---- referrals ----

var referralStatuses = map[string]bool{models.ReferralPending: true, models.ReferralFlagged: true,
	models.ReferralRewarded: true, models.ReferralRejected: true, models.ReferralReversed: true}

func (a *App) handleListReferrals() gin.HandlerFunc {
	return func(c *gin.Context) {
		status := c.Query("status")
		if status != "" && !referralStatuses[status] {
			apiError(c, http.StatusBadRequest, "bad_status", "status must be pending, flagged, rewarded, rejected or reversed")
			return
		}
		p, ok := readPage(c)
		if !ok {
			return
		}
		rows, err := a.store.Referrals(c.Request.Context(), shopOf(c).ID,
			models.ReferralSearch{Status: status, Before: p.After, Limit: p.Limit + 1})
		if err != nil {
			a.storeError(c, err)
			return
		}
		rows, next := pageOf(rows, p.Limit, func(r models.Referral) uint64 { return r.ID })
		items := make([]referralItem, len(rows))
		for i, r := range rows {
			items[i] = referralItemOf(r)
		}
		list(c, items, next)
	}
}

// handleReviewReferral approves or rejects a flagged referral: 409
// not_flagged when it is in any other state (reviewed already, rewarded).
func (a *App) handleReviewReferral(approve bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		id, err := strconv.ParseUint(c.Param("id"), 10, 64)
		if err != nil || id == 0 {
			apiError(c, http.StatusNotFound, "not_found", "not found")
			return
		}
		user := sessionUser(c)
		r, err := a.loyalty.ReviewReferral(c.Request.Context(), shop, id, approve, user)
		switch {
		case errors.Is(err, models.ErrConflict):
			apiError(c, http.StatusConflict, "not_flagged", fmt.Sprintf("referral %d is %s: only a flagged referral can be approved or rejected", id, r.Status))
			return
		case err != nil:
			a.storeError(c, err)
			return
		}
		decision := "rejected"
		if approve {
			decision = "approved"
		}
		a.audit(c, shop, auditReferralReview, "referral:"+strconv.FormatUint(id, 10), map[string]any{"decision": decision, "user": user})
		c.JSON(http.StatusOK, referralItemOf(r))
	}
}
