package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// pageCall is one request for the rewards page as Shopify's app proxy
// forwards it: the query signed, a form (if any) in the body.
type pageCall struct {
	method   string
	path     string // default "/apps/doorstep/"
	customer int64  // 0: logged out
	form     url.Values
	extra    url.Values
	header   http.Header
	secret   string
	at       time.Time
	tamper   func(url.Values)
}

func (e *testEnv) rewardsPage(c pageCall) adminReply {
	e.t.Helper()
	q := url.Values{}
	for k, v := range c.extra {
		q[k] = v
	}
	at := c.at
	if at.IsZero() {
		at = time.Now()
	}
	q.Set("shop", proxyShop)
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
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if c.form != nil {
		body = strings.NewReader(c.form.Encode())
	}
	path := c.path
	if path == "" {
		path = "/apps/doorstep/"
	}
	req, err := http.NewRequest(method, e.srv.URL+path+"?"+q.Encode(), body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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

// page checks an HTML answer's status and headers and that it holds (and
// lacks) the given fragments.
func (r adminReply) page(t *testing.T, what string, status int, has []string, lacks ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want text/html", what, ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	for _, h := range has {
		if !strings.Contains(string(r.body), h) {
			t.Errorf("%s: page lacks %q:\n%s", what, h, r.body)
		}
	}
	for _, l := range lacks {
		if strings.Contains(string(r.body), l) {
			t.Errorf("%s: page shows %q", what, l)
		}
	}
}

var redeemButtonRe = regexp.MustCompile(`name="points" value="(\d+)"><input type="hidden" name="key" value="[0-9a-f]{32}"><button type="submit" class="redeem"`)

func redeemButtons(body []byte) []string {
	var out []string
	for _, m := range redeemButtonRe.FindAllSubmatch(body, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

func TestRewardsPage_Get_ShowsTheCustomersProgram(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 700, "seed") // + the 50-point welcome bonus: 750
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: shopperID}
	if _, _, err := e.app.store.SetTier(context.Background(), time.Now(), key, "Silver", decimal.RequireFromString("300")); err != nil {
		t.Fatal(err)
	}

	r := e.rewardsPage(pageCall{customer: shopperID})
	r.page(t, "rewards page", http.StatusOK, []string{
		`<html lang="en">`, "Your rewards",
		`<dd id="balance">750</dd>`,
		`<span id="tier">Silver</span>`, "Progress to Gold", "Spend 450.00",
		"Adjusted by the shop", "Welcome bonus", "&#43;700", "&#43;50",
		"https://doorstep.test/r/", "mailto:?subject=", "https://wa.me/?text=", "https://x.com/intent/tweet?text=",
		`name="month"`, `name="day"`, `action="/apps/doorstep/"`,
		"1000 points: 250 more points needed",
	}, "test grant")
	if got := redeemButtons(r.body); strings.Join(got, ",") != "500" {
		t.Errorf("redeem buttons for %v, want only 500 (the balance is 750)", got)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// The shop's locale decides the language.
	s := jobs.DefaultSettings()
	s.Locale = "fr"
	if err := jobs.SaveSettings(context.Background(), e.app.store, shop.ID, s); err != nil {
		t.Fatal(err)
	}
	e.rewardsPage(pageCall{customer: shopperID, header: http.Header{"Accept-Language": {"de"}}}).
		page(t, "french", http.StatusOK, []string{`<html lang="fr">`, "Vos récompenses", "Bonus de bienvenue"}, "Your rewards")

	// Program off: a friendly 404 page.
	e.loyaltyOn(shop, func(p *jobs.LoyaltyProgram) { p.Enabled = false })
	e.rewardsPage(pageCall{customer: shopperID}).page(t, "program off", http.StatusNotFound,
		[]string{"Pas de programme de récompenses ici"}, "balance")
}

func TestRewardsPage_BadSignature_401AndNothingCreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 1000, "seed")
	before := e.loyaltyRows()
	redeem := url.Values{"action": {"redeem"}, "points": {"500"}}
	birthday := url.Values{"action": {"birthday"}, "month": {"4"}, "day": {"12"}}
	for _, tc := range []struct {
		name string
		c    pageCall
	}{
		{"wrong secret", pageCall{secret: "not-the-secret"}},
		{"customer swapped", pageCall{tamper: func(q url.Values) { q.Set("logged_in_customer_id", "12345") }}},
		{"no signature", pageCall{tamper: func(q url.Values) { q.Del("signature") }}},
		{"stale", pageCall{at: time.Now().Add(-time.Hour)}},
	} {
		for _, form := range []url.Values{nil, redeem, birthday} {
			c := tc.c
			c.customer, c.form = shopperID, form
			if form != nil {
				c.method = http.MethodPost
			}
			e.rewardsPage(c).page(t, tc.name, http.StatusUnauthorized, []string{"This page can", `role="alert"`}, "balance", "doorstep.test/r/")
		}
	}
	if after := e.loyaltyRows(); after != before {
		t.Fatalf("rows %v → %v: a refused request changed something", before, after)
	}
	if n := len(e.fake.DiscountCodes(proxyShop)); n != 0 {
		t.Fatalf("%d discount codes made by refused requests", n)
	}
	if a := e.account(shop, shopperID); a.Available != 1000 || a.Birthday != "" {
		t.Fatalf("account changed: %+v", a)
	}
}

func TestRewardsPage_LoggedOut_LoginLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	for _, c := range []pageCall{
		{},
		{path: "/apps/doorstep"}, // the proxy URL itself, without the slash
		// A customer id of our own in the query or the form is no login.
		{extra: url.Values{"customer_id": {"555"}}},
		{method: http.MethodPost, form: url.Values{"action": {"redeem"}, "points": {"500"}, "customer_id": {"555"}}},
	} {
		e.rewardsPage(c).page(t, "logged out", http.StatusOK,
			[]string{"Log in to see your rewards", `href="/account/login?return_url=%2Fapps%2Fdoorstep%2F"`}, "balance")
	}
	if rows := e.loyaltyRows(); rows != [3]int64{} {
		t.Fatalf("rows %v, want none", rows)
	}
}

func TestRewardsPage_PostRedeem_ShowsTheCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 1000, "seed")
	e.rewardsPage(pageCall{customer: shopperID}) // first visit: the welcome bonus, 1050

	r := e.rewardsPage(pageCall{method: http.MethodPost, customer: shopperID,
		form: url.Values{"action": {"redeem"}, "points": {"500"}, "customer_id": {"555"}}})
	ds := e.fake.DiscountCodes(proxyShop)
	var codes []models.LoyaltyRedemption
	if err := e.app.db.Where("shop_id = ?", shop.ID).Find(&codes).Error; err != nil {
		t.Fatal(err)
	}
	// Referral discount and the redeemed code: pick the redeemed one.
	if len(codes) != 1 {
		t.Fatalf("%d redemptions, want 1", len(codes))
	}
	code := codes[0].Code
	live := 0
	for _, d := range ds {
		if d.Code == code {
			live++
			if len(d.CustomerIDs) != 1 || d.CustomerIDs[0] != shopperID {
				t.Errorf("discount %+v is not for the customer alone", d)
			}
		}
	}
	if live != 1 {
		t.Fatalf("the fake holds %d discounts %q, want 1: %+v", live, code, ds)
	}
	r.page(t, "redeemed", http.StatusOK, []string{`role="status"`, "Here&#39;s your code for 5.00", `<p class="code" id="new-code">` + code + `</p>`,
		`<dd id="balance">550</dd>`, `<span class="c">` + code + `</span>`})
	if got := redeemButtons(r.body); strings.Join(got, ",") != "500" {
		t.Errorf("redeem buttons after redeeming: %v, want only 500", got)
	}
	if a := e.account(shop, shopperID); a.Available != 550 {
		t.Fatalf("available %d, want 550", a.Available)
	}
	if e.count("loyalty_accounts", "customer_platform_id = ?", 555) != 0 {
		t.Fatal("an account was made for the id in the form")
	}

	// Too few points: the message, no code.
	r = e.rewardsPage(pageCall{method: http.MethodPost, customer: shopperID, form: url.Values{"action": {"redeem"}, "points": {"1000"}}})
	r.page(t, "too few points", http.StatusOK, []string{`role="alert"`, "You have 550 points; this reward needs 1000."}, "new-code")
	// Not an option; a form without an action.
	e.rewardsPage(pageCall{method: http.MethodPost, customer: shopperID, form: url.Values{"action": {"redeem"}, "points": {"123"}}}).
		page(t, "not an option", http.StatusOK, []string{"123 points is not one of this shop&#39;s rewards."}, "new-code")
	e.rewardsPage(pageCall{method: http.MethodPost, customer: shopperID, form: url.Values{"points": {"500"}}}).
		page(t, "no action", http.StatusOK, []string{"Please use the buttons on the page."}, "new-code")
	if n := e.count("loyalty_redemptions", "shop_id = ?", shop.ID); n != 1 {
		t.Fatalf("%d redemptions after refused ones, want 1", n)
	}
	if a := e.account(shop, shopperID); a.Available != 550 {
		t.Fatalf("available %d after refused redemptions, want 550", a.Available)
	}
	e.ledgerOK(shop)
}

func TestRewardsPage_PostBirthday_SetOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	post := func(month, day string) adminReply {
		return e.rewardsPage(pageCall{method: http.MethodPost, customer: shopperID,
			form: url.Values{"action": {"birthday"}, "month": {month}, "day": {day}}})
	}
	post("2", "30").page(t, "Feb 30", http.StatusOK, []string{"Choose a real day"})
	post("13", "1").page(t, "month 13", http.StatusOK, []string{"Choose a real day"})
	if a := e.account(shop, shopperID); a.Birthday != "" {
		t.Fatalf("birthday %q after invalid dates", a.Birthday)
	}
	post("4", "12").page(t, "set", http.StatusOK, []string{"Thank you! Your birthday is saved.", "Your birthday is saved: 12 April."}, `name="month"`)
	post("5", "1").page(t, "change", http.StatusOK, []string{`role="alert"`, "Your birthday is already saved. Contact the shop to change it.", "12 April"})
	if a := e.account(shop, shopperID); a.Birthday != "04-12" {
		t.Fatalf("stored birthday %q, want 04-12", a.Birthday)
	}
}

// Every catalog key rewards_page.go names exists (the shopper catalog
// test scans shopper.go and the templates, not this file).
func TestRewardsPage_CatalogKeys(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("rewards_page.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`"(rw\.[a-z_.]+[a-z_])"`).FindAllStringSubmatch(string(src), -1) {
		used[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`rewardsProblem\(c, [^,]+, "([a-z]+)"\)`).FindAllStringSubmatch(string(src), -1) {
		used["rw.problem."+m[1]+".heading"], used["rw.problem."+m[1]+".message"] = true, true
	}
	if len(used) < 40 {
		t.Fatalf("found only %d keys: the scan is broken", len(used))
	}
	for k := range used {
		if _, ok := shopperCatalogs["en"][k]; !ok {
			t.Errorf("rewards_page.go uses %q, which the catalog lacks", k)
		}
	}
}

// fakeAppProxy stands in for https://{shop}/apps/doorstep/...: it signs
// whatever the browser asks (query and form) for the logged-in customer
// and forwards it to the app, as Shopify's app proxy does.
func fakeAppProxy(t *testing.T, e *testEnv, customer int64) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		for _, k := range []string{"signature", "shop", "logged_in_customer_id", "timestamp", "path_prefix"} {
			q.Del(k)
		}
		q.Set("shop", proxyShop)
		q.Set("path_prefix", "/apps/doorstep")
		q.Set("timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		q.Set("logged_in_customer_id", strconv.FormatInt(customer, 10))
		q = shopifytest.SignProxyQuery(e.fake.APISecret, q)
		req, err := http.NewRequestWithContext(r.Context(), r.Method, e.srv.URL+r.URL.Path+"?"+q.Encode(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(s.Close)
	return s
}

type rewardsPageState struct {
	Text        string   `json:"text"`
	ScrollWidth int      `json:"scrollWidth"`
	Code        string   `json:"code"`
	Buttons     int      `json:"buttons"`
	SmallTarget []string `json:"smallTargets"`
}

const rewardsPageJS = `(() => {
  const small = [...document.querySelectorAll('button, select, .share a, input.link')]
    .filter((e) => e.getBoundingClientRect().height < 44)
    .map((e) => e.outerHTML.slice(0, 80));
  const code = document.querySelector('#new-code');
  return {
    text: document.body.innerText,
    scrollWidth: document.documentElement.scrollWidth,
    code: code ? code.textContent : '',
    buttons: document.querySelectorAll('button.redeem').length,
    smallTargets: small,
  };
})()`

func TestRewardsPage_Browser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	s := jobs.DefaultSettings()
	s.Brand.Color = "#ffb400"
	if err := jobs.SaveSettings(context.Background(), e.app.store, shop.ID, s); err != nil {
		t.Fatal(err)
	}
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 1200, "seed")
	proxy := fakeAppProxy(t, e, shopperID)

	bctx := headlessChromium(t, 30*time.Second)
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	state := func(what string) rewardsPageState {
		t.Helper()
		st, err := chromedp.Run(bctx, chromedp.Evaluate[rewardsPageState](rewardsPageJS))
		if err != nil {
			t.Fatalf("%s: read the page: %v", what, err)
		}
		if st.ScrollWidth > shopperWidth {
			t.Errorf("%s: scrolls sideways at %dpx (scrollWidth %d)", what, shopperWidth, st.ScrollWidth)
		}
		if len(st.SmallTarget) > 0 {
			t.Errorf("%s: targets under 44px: %q", what, st.SmallTarget)
		}
		return st
	}

	do("phone viewport", chromedp.EmulateViewport(shopperWidth, shopperHeight))
	do("open", chromedp.Navigate(proxy.URL+"/apps/doorstep/"))
	st := state("rewards page")
	if st.Buttons != 2 || !strings.Contains(st.Text, "1250") || !strings.Contains(st.Text, "Invite your friends") {
		t.Fatalf("rewards page: %d redeem buttons (want 500 and 1000), text:\n%s", st.Buttons, st.Text)
	}
	do("redeem", chromedp.Click(chromedp.CSS(`button.redeem`)), chromedp.WaitVisible(chromedp.CSS(`#new-code`)))
	st = state("redeemed")
	if !strings.HasPrefix(st.Code, "DS-") || !strings.Contains(st.Text, "750") {
		t.Fatalf("redeemed: code %q, text:\n%s", st.Code, st.Text)
	}
	var red models.LoyaltyRedemption
	if err := e.app.db.Where("shop_id = ?", shop.ID).Take(&red).Error; err != nil || red.Code != st.Code {
		t.Fatalf("redemption %+v (%v), want the code the page shows, %q", red, err, st.Code)
	}
	if a := e.account(shop, shopperID); a.Available != 750 {
		t.Fatalf("available %d, want 750", a.Available)
	}
}

// A reloaded redeem form (the same form key sent again) shows the first
// code again instead of spending a second time.
func TestRewardsPage_ReloadedRedeemFormSpendsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	shop := e.installShop(proxyShop)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 1000, "seed")
	page := e.rewardsPage(pageCall{customer: shopperID}) // 1050 with the welcome bonus
	m := regexp.MustCompile(`name="key" value="([0-9a-f]{32})"`).FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("the redeem form has no key:\n%s", page.body)
	}
	form := url.Values{"action": {"redeem"}, "points": {"500"}, "key": {string(m[1])}}
	first := e.rewardsPage(pageCall{method: http.MethodPost, customer: shopperID, form: form})
	again := e.rewardsPage(pageCall{method: http.MethodPost, customer: shopperID, form: form})
	var reds []models.LoyaltyRedemption
	if err := e.app.db.Where("shop_id = ?", shop.ID).Find(&reds).Error; err != nil {
		t.Fatal(err)
	}
	if len(reds) != 1 {
		t.Fatalf("%d redemptions after a reload, want 1", len(reds))
	}
	for _, r := range []adminReply{first, again} {
		r.page(t, "redeemed", http.StatusOK, []string{`<p class="code" id="new-code">` + reds[0].Code + `</p>`, `<dd id="balance">550</dd>`})
	}
	if a := e.account(shop, shopperID); a.Available != 550 {
		t.Fatalf("available %d, want 550", a.Available)
	}
	e.ledgerOK(shop)
}
