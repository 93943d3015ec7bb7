package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// proxyCall is one storefront request as Shopify's app proxy forwards it.
type proxyCall struct {
	method, path string // path under /apps/doorstep
	shop         string
	customer     int64 // 0: logged out
	body         string
	extra        url.Values // more query parameters (signed, as Shopify signs whatever the shopper sent)
	secret       string     // default: the app secret
	at           time.Time  // the timestamp; default now
	tamper       func(url.Values)
}

// proxy sends c signed like Shopify's app proxy and returns the answer.
func (e *testEnv) proxy(c proxyCall) adminReply {
	e.t.Helper()
	q := url.Values{}
	for k, v := range c.extra {
		q[k] = v
	}
	at := c.at
	if at.IsZero() {
		at = time.Now()
	}
	q.Set("shop", c.shop)
	q.Set("path_prefix", "/apps/doorstep")
	q.Set("timestamp", strconv.FormatInt(at.Unix(), 10))
	q.Set("logged_in_customer_id", "")
	if c.customer != 0 {
		q.Set("logged_in_customer_id", strconv.FormatInt(c.customer, 10))
	}
	secret := c.secret
	if secret == "" {
		secret = e.fake.APISecret
	}
	q = shopifytest.SignProxyQuery(secret, q)
	if c.tamper != nil {
		c.tamper(q)
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, e.srv.URL+"/apps/doorstep"+c.path+"?"+q.Encode(), body)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return adminReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// loyaltyOn saves an enabled program (referrals on too), after edit.
func (e *testEnv) loyaltyOn(shop models.Shop, edit func(*jobs.LoyaltyProgram)) jobs.LoyaltyProgram {
	e.t.Helper()
	p := jobs.DefaultLoyaltyProgram()
	p.Enabled, p.Referral.Enabled = true, true
	if edit != nil {
		edit(&p)
	}
	if err := jobs.SaveLoyaltyProgram(context.Background(), e.app.store, shop.ID, p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// grant posts available points to a customer straight into the ledger.
func (e *testEnv) grant(shop models.Shop, customer, points int64, source string) models.LoyaltyAccount {
	e.t.Helper()
	_, acct, err := e.app.store.PostEntries(context.Background(), models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer},
		[]models.LoyaltyEntry{{Kind: models.EntryAdjust, SourceType: models.SourceManual, SourceID: source, Points: points,
			Reason: "test grant", Actor: "test"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return acct
}

func (e *testEnv) account(shop models.Shop, customer int64) models.LoyaltyAccount {
	e.t.Helper()
	a, err := e.app.store.Account(context.Background(), models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *testEnv) ledgerOK(shop models.Shop) {
	e.t.Helper()
	bad, err := e.app.store.VerifyLedger(context.Background(), shop.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(bad) > 0 {
		e.t.Fatalf("ledger mismatches: %+v", bad)
	}
}

func (e *testEnv) loyaltyRows() [3]int64 {
	return [3]int64{e.count("loyalty_accounts", ""), e.count("loyalty_entries", ""), e.count("loyalty_redemptions", "")}
}

const (
	proxyShop = "rewards-shop.myshopify.com"
	shopperID = int64(9007199254740993) // orderJSON's customer (Ana): above 2^53
)

func TestStorefront_BadSignature_401AndNothingChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 1000, "seed")
	before := e.loyaltyRows()

	cases := []struct {
		name string
		c    proxyCall
	}{
		{"wrong secret", proxyCall{secret: "not-the-secret"}},
		{"customer swapped after signing", proxyCall{tamper: func(q url.Values) { q.Set("logged_in_customer_id", "12345") }}},
		{"shop swapped after signing", proxyCall{tamper: func(q url.Values) { q.Set("shop", "other.myshopify.com") }}},
		{"no signature", proxyCall{tamper: func(q url.Values) { q.Del("signature") }}},
		{"stale timestamp", proxyCall{at: time.Now().Add(-time.Hour)}},
	}
	endpoints := []struct{ method, path, body string }{
		{http.MethodGet, "/rewards", ""},
		{http.MethodPost, "/redeem", `{"points": 500}`},
		{http.MethodPost, "/profile", `{"birthday": "04-12"}`},
	}
	for _, tc := range cases {
		for _, ep := range endpoints {
			c := tc.c
			c.method, c.path, c.body, c.shop, c.customer = ep.method, ep.path, ep.body, proxyShop, shopperID
			r := e.proxy(c)
			r.isError(t, tc.name+" "+ep.method+" "+ep.path, http.StatusUnauthorized, "bad_signature")
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s %s: Cache-Control %q, want no-store", tc.name, ep.path, got)
			}
		}
	}
	if after := e.loyaltyRows(); after != before {
		t.Fatalf("rows (accounts, entries, redemptions) %v → %v: a refused request changed something", before, after)
	}
	if n := len(e.fake.DiscountCodes(proxyShop)); n != 0 {
		t.Fatalf("%d discount codes created by refused requests", n)
	}
	if a := e.account(shop, shopperID); a.Available != 1000 || a.Birthday != "" {
		t.Fatalf("account changed: %+v", a)
	}
}

func TestStorefront_LoggedOutOrNotInstalled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	for _, ep := range []struct{ method, path, body string }{
		{http.MethodGet, "/rewards", ""},
		{http.MethodPost, "/redeem", `{"points": 500}`},
		{http.MethodPost, "/profile", `{"birthday": "04-12"}`},
	} {
		// Logged out: a customer id in the body or the query is no login.
		r := e.proxy(proxyCall{method: ep.method, path: ep.path, shop: proxyShop, body: ep.body,
			extra: url.Values{"customer_id": {"555"}, "logged_in_customer_id_x": {"555"}}})
		r.isError(t, "logged out "+ep.path, http.StatusUnauthorized, "login_required")

		// A validly signed request for a shop without the app.
		r = e.proxy(proxyCall{method: ep.method, path: ep.path, shop: "stranger.myshopify.com", customer: shopperID, body: ep.body})
		r.isError(t, "not installed "+ep.path, http.StatusNotFound, "not_installed")
	}
	if rows := e.loyaltyRows(); rows != [3]int64{} {
		t.Fatalf("rows (accounts, entries, redemptions) = %v, want none", rows)
	}
}

func TestStorefront_Rewards_JSONContract(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	ctx := context.Background()
	// An order (#1001) of Ana's, so the customer has a first name and the
	// history an order name.
	const orderID = 7_000_000_001_001
	if got := e.post(webhook{shop: proxyShop, topic: "orders/paid", body: orderJSON(orderID, time.Now().Add(-time.Hour), "paid", false)}); got != http.StatusOK {
		t.Fatalf("order webhook: %d", got)
	}
	e.processAll()
	e.loyaltyOn(shop, nil)
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: shopperID}
	future := time.Now().Add(30 * 24 * time.Hour)
	var entries []models.LoyaltyEntry
	for i := range 22 { // more than the page shows
		entries = append(entries, models.LoyaltyEntry{Kind: models.EntryEarn, SourceType: models.SourceBonus,
			SourceID: fmt.Sprintf("review:%d", i), Points: 1, At: time.Now().Add(-time.Hour)})
	}
	entries = append(entries,
		models.LoyaltyEntry{Kind: models.EntryEarn, SourceType: models.SourceLineItem, SourceID: "line-1", Points: 120, PendingUntil: &future,
			OrderPlatformID: orderID, Reason: "order #1001: Tea", At: time.Now().Add(-3 * time.Minute)},
		models.LoyaltyEntry{Kind: models.EntryAdjust, SourceType: models.SourceManual, SourceID: "k1", Points: 1300,
			Reason: "goodwill: Ana complained about the parcel", Actor: "42", At: time.Now().Add(-2 * time.Minute)})
	if _, _, err := e.app.store.PostEntries(ctx, key, entries); err != nil {
		t.Fatal(err)
	}
	// Spend that reaches Silver, with Gold next.
	if _, _, err := e.app.store.SetTier(ctx, time.Now(), key, "Silver", decimal.RequireFromString("300")); err != nil {
		t.Fatal(err)
	}

	r := e.proxy(proxyCall{method: http.MethodGet, path: "/rewards", shop: proxyShop, customer: shopperID})
	if r.status != http.StatusOK {
		t.Fatalf("rewards: %d %s", r.status, r.body)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"balance", "birthday", "debt", "history", "next_tier", "pending", "points_value", "redeem_options", "referral", "tier"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	var got struct {
		Balance, Pending, Debt int64
		Tier                   *struct{ Name, Multiplier string }
		NextTier               *struct {
			Name        string
			SpendNeeded string `json:"spend_needed"`
			Currency    *string
		} `json:"next_tier"`
		PointsValue struct {
			Points   int64
			Amount   string
			Currency *string
		} `json:"points_value"`
		RedeemOptions []struct {
			Points   int64
			Amount   string
			Currency *string
		} `json:"redeem_options"`
		History  []map[string]any
		Referral *struct {
			Code, Link, Reward string
			RefereeDiscount    string `json:"referee_discount"`
		}
		Birthday *string
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	// 1322 plus the 50-point account bonus, credited on the first visit.
	if got.Balance != 1372 || got.Pending != 120 || got.Debt != 0 {
		t.Errorf("balance/pending/debt = %d/%d/%d, want 1372/120/0", got.Balance, got.Pending, got.Debt)
	}
	if got.Tier == nil || got.Tier.Name != "Silver" || got.Tier.Multiplier != "1.25" {
		t.Errorf("tier = %+v, want Silver 1.25", got.Tier)
	}
	if got.NextTier == nil || got.NextTier.Name != "Gold" || got.NextTier.SpendNeeded != "450.00" || got.NextTier.Currency == nil {
		t.Errorf("next_tier = %+v, want Gold, 450.00", got.NextTier)
	}
	if got.PointsValue.Points != 100 || got.PointsValue.Amount != "1.00" || got.PointsValue.Currency == nil {
		t.Errorf("points_value = %+v", got.PointsValue)
	}
	if len(got.RedeemOptions) != 3 || got.RedeemOptions[0].Points != 500 || got.RedeemOptions[0].Amount != "5.00" ||
		got.RedeemOptions[2].Amount != "20.00" {
		t.Errorf("redeem_options = %+v", got.RedeemOptions)
	}
	if len(got.History) != 20 {
		t.Fatalf("history has %d entries, want the last 20", len(got.History))
	}
	for _, h := range got.History {
		var hk []string
		for k := range h {
			hk = append(hk, k)
		}
		sort.Strings(hk)
		if !slices.Equal(hk, []string{"at", "description", "kind", "pending", "points"}) {
			t.Fatalf("history entry keys %v", hk)
		}
		if _, ok := h["pending"].(bool); !ok {
			t.Fatalf("history pending is not a bool: %v", h)
		}
		if _, err := time.Parse(time.RFC3339, h["at"].(string)); err != nil {
			t.Fatalf("history at: %v", err)
		}
	}
	// Newest first: the account bonus of this first visit, the
	// adjustment, then the order's (pending) points.
	if h := got.History[0]; h["kind"] != "earn" || h["points"] != float64(50) || h["description"] != "Welcome bonus" || h["pending"] != false {
		t.Errorf("history[0] = %v", h)
	}
	if h := got.History[1]; h["kind"] != "adjust" || h["points"] != float64(1300) || h["description"] != "Adjusted by the shop" || h["pending"] != false {
		t.Errorf("history[1] = %v", h)
	}
	if h := got.History[2]; h["kind"] != "earn" || h["points"] != float64(120) || h["description"] != "Order #1001" || h["pending"] != true {
		t.Errorf("history[2] = %v", h)
	}
	if strings.Contains(string(r.body), "complained") {
		t.Error("the merchant's adjustment reason reached the storefront")
	}
	if got.Referral == nil || !strings.HasPrefix(got.Referral.Code, "ANA-") ||
		got.Referral.Link != "https://doorstep.test/r/"+got.Referral.Code ||
		got.Referral.Reward != "500 points" || got.Referral.RefereeDiscount != "10% off" {
		t.Errorf("referral = %+v", got.Referral)
	}
	if string(raw["birthday"]) != "null" {
		t.Errorf("birthday = %s, want null", raw["birthday"])
	}
	// The referee's discount was made under the referral code, once.
	r2 := e.proxy(proxyCall{method: http.MethodGet, path: "/rewards", shop: proxyShop, customer: shopperID})
	if !strings.Contains(string(r2.body), got.Referral.Code) {
		t.Errorf("second load has another code: %s", r2.body)
	}
	ds := e.fake.DiscountCodes(proxyShop)
	if len(ds) != 1 || !strings.EqualFold(ds[0].Code, got.Referral.Code) || ds[0].Percentage == nil ||
		!ds[0].Percentage.Equal(decimal.RequireFromString("0.1")) {
		t.Fatalf("discounts on the fake: %+v, want the referral code at 10%%", ds)
	}

	// Referrals off: no referral block, no code made.
	e.loyaltyOn(shop, func(p *jobs.LoyaltyProgram) { p.Referral.Enabled = false })
	r3 := e.proxy(proxyCall{method: http.MethodGet, path: "/rewards", shop: proxyShop, customer: 77})
	var off map[string]json.RawMessage
	r3.ok(t, "rewards with referrals off", &off)
	if string(off["referral"]) != "null" {
		t.Errorf("referral with referrals off = %s, want null", off["referral"])
	}

	// Program off: 404 loyalty_disabled.
	e.loyaltyOn(shop, func(p *jobs.LoyaltyProgram) { p.Enabled = false })
	e.proxy(proxyCall{method: http.MethodGet, path: "/rewards", shop: proxyShop, customer: shopperID}).
		isError(t, "program off", http.StatusNotFound, "loyalty_disabled")
}

type redeemAnswer struct {
	Code, Amount, Currency string
	Balance                int64
}

func TestStorefront_Redeem_OneCodeForTheCustomer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 1200, "seed")

	// The customer is the proxy's: ids in the body or query are ignored.
	r := e.proxy(proxyCall{method: http.MethodPost, path: "/redeem", shop: proxyShop, customer: shopperID,
		body: `{"points": 500, "customer_id": 555}`, extra: url.Values{"customer_id": {"555"}}})
	var got redeemAnswer
	r.ok(t, "redeem", &got)
	if r.status != http.StatusOK || got.Balance != 700 || got.Amount != "5.00" || !strings.HasPrefix(got.Code, "DS-") {
		t.Fatalf("redeem: %d %+v", r.status, got)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("redeem answer may be cached")
	}
	ds := e.fake.DiscountCodes(proxyShop)
	if len(ds) != 1 {
		t.Fatalf("%d discount codes, want 1: %+v", len(ds), ds)
	}
	d := ds[0]
	if d.Code != got.Code || !slices.Equal(d.CustomerIDs, []int64{shopperID}) || d.UsageLimit != 1 ||
		d.Amount == nil || !d.Amount.Equal(decimal.RequireFromString("5")) || d.Percentage != nil || d.EndsAt == nil {
		t.Fatalf("discount %+v: want %s for customer %d only, single use, 5.00 off, with an end", d, got.Code, shopperID)
	}
	if a := e.account(shop, shopperID); a.Available != 700 {
		t.Fatalf("available %d, want 700", a.Available)
	}
	if e.count("loyalty_accounts", "customer_platform_id = ?", 555) != 0 {
		t.Fatal("an account was made for the id in the body")
	}
	var red models.LoyaltyRedemption
	if err := e.app.db.Where("code = ?", got.Code).Take(&red).Error; err != nil || red.Status != models.RedemptionActive || red.DiscountID == "" {
		t.Fatalf("redemption %+v (%v), want active with the discount id", red, err)
	}

	// Too few points for the next option: 409, no code.
	e.proxy(proxyCall{method: http.MethodPost, path: "/redeem", shop: proxyShop, customer: shopperID, body: `{"points": 1000}`}).
		isError(t, "insufficient", http.StatusConflict, "insufficient_points")
	// Not an option: 422.
	e.proxy(proxyCall{method: http.MethodPost, path: "/redeem", shop: proxyShop, customer: shopperID, body: `{"points": 123}`}).
		isError(t, "not an option", http.StatusUnprocessableEntity, "not_a_redeem_option")
	// Not JSON: 400.
	e.proxy(proxyCall{method: http.MethodPost, path: "/redeem", shop: proxyShop, customer: shopperID, body: `points=500`}).
		isError(t, "not json", http.StatusBadRequest, "bad_request")
	if n := len(e.fake.DiscountCodes(proxyShop)); n != 1 {
		t.Fatalf("%d discount codes after refused redemptions, want 1", n)
	}
	if a := e.account(shop, shopperID); a.Available != 700 {
		t.Fatalf("available %d after refused redemptions, want 700", a.Available)
	}

	// Program off: 404.
	e.loyaltyOn(shop, func(p *jobs.LoyaltyProgram) { p.Enabled = false })
	e.proxy(proxyCall{method: http.MethodPost, path: "/redeem", shop: proxyShop, customer: shopperID, body: `{"points": 500}`}).
		isError(t, "program off", http.StatusNotFound, "loyalty_disabled")
	e.ledgerOK(shop)
}

func TestStorefront_Redeem_Concurrent_OneWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 700, "seed") // covers one 500, not two

	const n = 20
	var wg sync.WaitGroup
	statuses := make([]int, n)
	bodies := make([]string, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := e.proxy(proxyCall{method: http.MethodPost, path: "/redeem", shop: proxyShop, customer: shopperID, body: `{"points": 500}`})
			statuses[i], bodies[i] = r.status, string(r.body)
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, s := range statuses {
		count[s]++
		if s != http.StatusOK && s != http.StatusConflict {
			t.Errorf("request %d: %d %s", i, s, bodies[i])
		}
	}
	if count[http.StatusOK] != 1 || count[http.StatusConflict] != n-1 {
		t.Fatalf("statuses %v, want one 200 and %d × 409", count, n-1)
	}
	if ds := e.fake.DiscountCodes(proxyShop); len(ds) != 1 {
		t.Fatalf("%d discount codes, want 1", len(ds))
	}
	if a := e.account(shop, shopperID); a.Available != 200 || a.Debt != 0 {
		t.Fatalf("account %+v, want 200 available", a)
	}
	if got := e.count("loyalty_redemptions", "shop_id = ?", shop.ID); got != 1 {
		t.Fatalf("%d redemptions, want 1", got)
	}
	e.ledgerOK(shop)
}

func TestStorefront_Redeem_ShopifyFails_PointsComeBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 1000, "seed")

	// Shopify answers 500 before doing anything: no code, the points return.
	e.fake.FailNext(proxyShop, "discountCodeBasicCreate", 1, shopifytest.FailHTTP500)
	r := e.proxy(proxyCall{method: http.MethodPost, path: "/redeem", shop: proxyShop, customer: shopperID, body: `{"points": 500}`})
	r.isError(t, "create fails", http.StatusBadGateway, "redemption_failed")
	if !strings.Contains(string(r.body), "points are back") {
		t.Errorf("message %s should say the points are back", r.body)
	}
	if a := e.account(shop, shopperID); a.Available != 1000 || a.Debt != 0 {
		t.Fatalf("account %+v after a failed create, want 1000 available", a)
	}
	for _, d := range e.fake.DiscountCodes(proxyShop) {
		if !d.Deleted {
			t.Fatalf("live discount %+v after a failed create", d)
		}
	}
	var red models.LoyaltyRedemption
	if err := e.app.db.Where("shop_id = ?", shop.ID).Take(&red).Error; err != nil || red.Status != models.RedemptionFailed {
		t.Fatalf("redemption %+v (%v), want failed", red, err)
	}

	// Shopify makes the code but the answer is lost: the code is found and
	// the shopper gets it; the points are spent once.
	e.fake.FailNext(proxyShop, "discountCodeBasicCreate", 1, shopifytest.FailHTTP500AfterCommit)
	var got redeemAnswer
	e.proxy(proxyCall{method: http.MethodPost, path: "/redeem", shop: proxyShop, customer: shopperID, body: `{"points": 500}`}).
		ok(t, "create answer lost", &got)
	if got.Balance != 500 {
		t.Fatalf("balance %d, want 500", got.Balance)
	}
	live := 0
	for _, d := range e.fake.DiscountCodes(proxyShop) {
		if !d.Deleted {
			live++
			if d.Code != got.Code {
				t.Fatalf("live discount %s, want %s", d.Code, got.Code)
			}
		}
	}
	if live != 1 {
		t.Fatalf("%d live discounts, want 1", live)
	}
	if a := e.account(shop, shopperID); a.Available != 500 {
		t.Fatalf("available %d, want 500", a.Available)
	}
	e.ledgerOK(shop)
}

func TestStorefront_Profile_BirthdaySetOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	call := func(body string) adminReply {
		return e.proxy(proxyCall{method: http.MethodPost, path: "/profile", shop: proxyShop, customer: shopperID, body: body})
	}
	call(`{"birthday": "13-01"}`).isError(t, "month 13", http.StatusUnprocessableEntity, "invalid_birthday")
	call(`{"birthday": "02-30"}`).isError(t, "Feb 30", http.StatusUnprocessableEntity, "invalid_birthday")
	var got struct{ Birthday *string }
	call(`{"birthday": "02-29"}`).ok(t, "set", &got)
	if got.Birthday == nil || *got.Birthday != "02-29" {
		t.Fatalf("birthday %v, want 02-29", got.Birthday)
	}
	call(`{"birthday": "02-29"}`).ok(t, "same again", &got)
	call(`{"birthday": "05-01"}`).isError(t, "change", http.StatusConflict, "birthday_already_set")
	if a := e.account(shop, shopperID); a.Birthday != "02-29" {
		t.Fatalf("stored birthday %q", a.Birthday)
	}
	var rw struct{ Birthday *string }
	e.proxy(proxyCall{method: http.MethodGet, path: "/rewards", shop: proxyShop, customer: shopperID}).ok(t, "rewards", &rw)
	if rw.Birthday == nil || *rw.Birthday != "02-29" {
		t.Fatalf("rewards birthday %v", rw.Birthday)
	}
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestReferral_Link_RedirectsToDiscountAndCountsClick(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	other := e.installShop("other-shop.myshopify.com")
	e.loyaltyOn(shop, nil)
	e.loyaltyOn(other, nil)
	var rw struct{ Referral struct{ Code, Link string } }
	e.proxy(proxyCall{method: http.MethodGet, path: "/rewards", shop: proxyShop, customer: shopperID}).ok(t, "rewards", &rw)
	code := rw.Referral.Code
	if code == "" || !strings.HasPrefix(rw.Referral.Link, "https://doorstep.test/r/") {
		t.Fatalf("referral %+v", rw.Referral)
	}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := noRedirects.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	want := "https://" + proxyShop + "/discount/" + code + "?redirect=/%3Fref%3D" + code
	for _, path := range []string{"/r/" + code, "/r/" + strings.ToLower(code), "/r/" + code + "?shop=" + proxyShop} {
		resp := get(path)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Fatalf("%s: %d → %q, want 302 → %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	if n := e.count("referral_clicks", "shop_id = ? AND code = ?", shop.ID, code); n != 3 {
		t.Fatalf("%d clicks recorded, want 3", n)
	}
	var cols []string
	if err := e.app.db.Raw(`SELECT column_name FROM information_schema.columns WHERE table_name = 'referral_clicks' ORDER BY column_name`).
		Scan(&cols).Error; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cols, []string{"at", "code", "id", "shop_id"}) {
		t.Errorf("referral_clicks columns %v: a click must hold no personal data", cols)
	}

	// Unknown code, or the code asked of another shop: a friendly 404 page.
	for _, path := range []string{"/r/NOPE-1234", "/r/" + code + "?shop=other-shop.myshopify.com", "/r/" + code + "?shop=not_a_shop%21"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(b), "referral link doesn") {
			t.Fatalf("%s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	// In the visitor's language.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/r/NOPE-1234", nil)
	req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(fb), "Ce lien de parrainage ne fonctionne pas") || !strings.Contains(string(fb), `lang="fr"`) {
		t.Fatalf("French visitor: %d %s", resp.StatusCode, fb)
	}
	if n := e.count("referral_clicks", ""); n != 3 {
		t.Fatalf("%d clicks after unknown codes, want 3", n)
	}

	// Referrals switched off: the visitor still reaches the shop, no click.
	e.loyaltyOn(shop, func(p *jobs.LoyaltyProgram) { p.Referral.Enabled = false })
	if resp := get("/r/" + code); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://"+proxyShop+"/" {
		t.Fatalf("referrals off: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := e.count("referral_clicks", ""); n != 3 {
		t.Fatalf("%d clicks with referrals off, want 3", n)
	}
}
