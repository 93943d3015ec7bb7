package app

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/models"
)

// browser follows no redirects, keeps cookies, and reports status and Location.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// install runs the whole authorization-code install as a browser would and
// returns the callback's response.
func (e *testEnv) install(c *http.Client, shop string) *http.Response {
	e.t.Helper()
	resp := get(e.t, c, e.srv.URL+"/auth/shopify?"+e.fake.InstallQuery(shop, time.Now()).Encode())
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("install: status %d, want 302", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	state := loc.Query().Get("state")
	return get(e.t, c, e.srv.URL+"/auth/shopify/callback?"+e.callbackQuery(shop, state, e.fake.IssueCode(shop), time.Now()).Encode())
}

func (e *testEnv) callbackQuery(shop, state, code string, now time.Time) url.Values {
	q := url.Values{"shop": {shop}, "code": {code}, "state": {state}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ"},
		"timestamp": {strconv.FormatInt(now.Unix(), 10)}}
	q.Set("hmac", shopifytest.SignQuery(e.fake.APISecret, q))
	return q
}

func TestInstall_HappyPath_StoresShopTokenAndWebhooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shop = "acme.myshopify.com"
	e.fake.AddShop(shop, shopifytest.ShopInfo{Name: "Acme Teas", Email: "owner@acme.test", Timezone: "Europe/Paris", Currency: "EUR"})
	c := browser(t)

	first := get(t, c, e.srv.URL+"/auth/shopify?"+e.fake.InstallQuery(shop, time.Now()).Encode())
	loc, err := url.Parse(first.Header.Get("Location"))
	if err != nil || first.StatusCode != http.StatusFound {
		t.Fatalf("install: %d %q", first.StatusCode, first.Header.Get("Location"))
	}
	if !strings.HasPrefix(loc.String(), e.cfg.ShopBaseURL(shop)+"/admin/oauth/authorize") ||
		loc.Query().Get("client_id") != e.fake.APIKey || loc.Query().Get("state") == "" ||
		loc.Query().Get("redirect_uri") != "https://doorstep.test/auth/shopify/callback" ||
		!strings.Contains(loc.Query().Get("scope"), "read_all_orders") {
		t.Fatalf("authorize redirect = %s", loc)
	}
	cb := get(t, c, e.srv.URL+"/auth/shopify/callback?"+e.callbackQuery(shop, loc.Query().Get("state"), e.fake.IssueCode(shop), time.Now()).Encode())
	if cb.StatusCode != http.StatusFound || cb.Header.Get("Location") != e.cfg.ShopBaseURL(shop)+"/admin/apps/"+e.fake.APIKey {
		t.Fatalf("callback: %d → %q", cb.StatusCode, cb.Header.Get("Location"))
	}
	s, err := e.app.store.ShopByDomain(context.Background(), models.PlatformShopify, shop)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "Acme Teas" || s.Timezone != "Europe/Paris" || s.Currency != "EUR" || !s.Installed() ||
		s.AccessTokenExpiresAt == nil || len(s.RefreshTokenEnc) == 0 {
		t.Fatalf("shop = %+v", s)
	}
	if got := len(e.fake.Subscriptions(shop)); got != len(shopify.Topics) {
		t.Fatalf("subscriptions = %d, want %d", got, len(shopify.Topics))
	}
	for _, sub := range e.fake.Subscriptions(shop) {
		if sub.URI != "https://doorstep.test/webhooks/shopify" {
			t.Fatalf("subscription %s → %s", sub.Topic, sub.URI)
		}
	}
}

func TestInstall_Rejections_4xxAndNoShop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shop = "acme.myshopify.com"
	e.fake.AddShop(shop, shopifytest.ShopInfo{Name: "Acme"})
	signed := func(mut func(q url.Values)) string {
		q := e.fake.InstallQuery(shop, time.Now())
		mut(q)
		return q.Encode()
	}
	resign := func(q url.Values) { q.Del("hmac"); q.Set("hmac", shopifytest.SignQuery(e.fake.APISecret, q)) }
	cases := []struct {
		name  string
		query string
		want  int
	}{
		{"bad hmac", signed(func(q url.Values) { q.Set("hmac", strings.Repeat("0", 64)) }), http.StatusUnauthorized},
		{"tampered shop", signed(func(q url.Values) { q.Set("shop", "evil.myshopify.com") }), http.StatusUnauthorized},
		{"stale timestamp", signed(func(q url.Values) {
			q.Set("timestamp", strconv.FormatInt(time.Now().Add(-5*time.Minute).Unix(), 10))
			resign(q)
		}), http.StatusBadRequest},
		{"future timestamp", signed(func(q url.Values) {
			q.Set("timestamp", strconv.FormatInt(time.Now().Add(5*time.Minute).Unix(), 10))
			resign(q)
		}), http.StatusBadRequest},
		{"bad shop domain", signed(func(q url.Values) { q.Set("shop", "acme.example.com"); resign(q) }), http.StatusBadRequest},
	}
	for _, tc := range cases {
		for _, path := range []string{"/auth/shopify", "/auth/shopify/callback"} {
			resp := get(t, browser(t), e.srv.URL+path+"?"+tc.query)
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s: status %d, want %d", tc.name, path, resp.StatusCode, tc.want)
			}
		}
	}

	// State mismatch: a valid install, then a callback whose state is not the cookie's.
	c := browser(t)
	get(t, c, e.srv.URL+"/auth/shopify?"+e.fake.InstallQuery(shop, time.Now()).Encode())
	resp := get(t, c, e.srv.URL+"/auth/shopify/callback?"+e.callbackQuery(shop, "not-the-state", e.fake.IssueCode(shop), time.Now()).Encode())
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("state mismatch: status %d, want 403", resp.StatusCode)
	}
	// No cookie at all (callback opened in another browser).
	resp = get(t, browser(t), e.srv.URL+"/auth/shopify/callback?"+e.callbackQuery(shop, "anything", e.fake.IssueCode(shop), time.Now()).Encode())
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("no state cookie: status %d, want 403", resp.StatusCode)
	}
	if n := e.count("shops", ""); n != 0 {
		t.Fatalf("shops = %d after rejections, want 0", n)
	}
	if n := len(e.fake.Subscriptions(shop)); n != 0 {
		t.Fatalf("subscriptions = %d after rejections, want 0", n)
	}
}

func TestInstall_ReinstallAfterUninstall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shop = "acme.myshopify.com"
	e.fake.AddShop(shop, shopifytest.ShopInfo{Name: "Acme"})
	if resp := e.install(browser(t), shop); resp.StatusCode != http.StatusFound {
		t.Fatalf("install: %d", resp.StatusCode)
	}
	first, _ := e.app.store.ShopByDomain(context.Background(), models.PlatformShopify, shop)
	e.fake.RevokeTokens(shop)
	e.post(webhook{shop: shop, topic: "app/uninstalled", body: []byte(`{"id":1,"name":"Acme"}`)})
	e.processAll()
	if s, _ := e.app.store.ShopByID(context.Background(), first.ID); s.Installed() {
		t.Fatal("shop still installed after app/uninstalled")
	}
	if resp := e.install(browser(t), shop); resp.StatusCode != http.StatusFound {
		t.Fatalf("reinstall: %d", resp.StatusCode)
	}
	again, _ := e.app.store.ShopByDomain(context.Background(), models.PlatformShopify, shop)
	if again.ID != first.ID || !again.Installed() {
		t.Fatalf("reinstall: id %d (was %d), installed %v", again.ID, first.ID, again.Installed())
	}
	if _, err := e.app.AccessToken(context.Background(), again); err != nil {
		t.Fatalf("token after reinstall: %v", err)
	}
	if n := len(e.fake.Subscriptions(shop)); n != len(shopify.Topics) {
		t.Fatalf("subscriptions after reinstall = %d, want %d (no duplicates)", n, len(shopify.Topics))
	}
}

func TestInstall_RefreshBeforeExpiry_OneRefreshForConcurrentCallers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shop = "acme.myshopify.com"
	e.fake.AddShop(shop, shopifytest.ShopInfo{Name: "Acme"})
	e.fake.SetAccessTokenTTL(2 * time.Minute) // inside the refresh window
	e.install(browser(t), shop)
	s, _ := e.app.store.ShopByDomain(context.Background(), models.PlatformShopify, shop)
	e.fake.SetAccessTokenTTL(time.Hour)

	var wg sync.WaitGroup
	tokens := make(chan string, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := e.app.AccessToken(context.Background(), s)
			if err != nil {
				t.Error(err)
				return
			}
			tokens <- tok
		}()
	}
	wg.Wait()
	close(tokens)
	seen := map[string]bool{}
	for tok := range tokens {
		seen[tok] = true
	}
	if got := e.fake.RefreshCount(shop); got != 1 {
		t.Fatalf("refreshes = %d, want 1", got)
	}
	if len(seen) != 1 {
		t.Fatalf("callers got %d different tokens, want 1", len(seen))
	}
	// The refreshed token works against Shopify.
	for tok := range seen {
		if _, err := e.app.shopify.ShopInfo(context.Background(), shop, tok); err != nil {
			t.Fatalf("refreshed token refused: %v", err)
		}
	}
	// Not yet near expiry: no further refresh.
	if _, err := e.app.AccessToken(context.Background(), s); err != nil || e.fake.RefreshCount(shop) != 1 {
		t.Fatalf("second call: err %v, refreshes %d", err, e.fake.RefreshCount(shop))
	}
}

func TestAdmin_TokenExchangeInstallsOnFirstLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shop = "managed.myshopify.com"
	e.fake.AddShop(shop, shopifytest.ShopInfo{Name: "Managed Shop", Currency: "USD"})
	c := browser(t)
	q := url.Values{"shop": {shop}, "host": {"x"}, "embedded": {"1"}, "id_token": {e.fake.SessionToken(shop, time.Minute)}}
	resp, err := c.Get(e.srv.URL + "/admin?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin: status %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "frame-ancestors https://"+shop+" https://admin.shopify.com;" {
		t.Fatalf("CSP = %q", csp)
	}
	s, err := e.app.store.ShopByDomain(context.Background(), models.PlatformShopify, shop)
	if err != nil || !s.Installed() || s.Name != "Managed Shop" {
		t.Fatalf("shop after token exchange = %+v, %v", s, err)
	}
	if n := len(e.fake.Subscriptions(shop)); n != len(shopify.Topics) {
		t.Fatalf("subscriptions = %d", n)
	}

	// An expired id_token goes to the bounce page and installs nothing more.
	q.Set("id_token", e.fake.SessionToken(shop, -time.Minute))
	bounce := get(t, c, e.srv.URL+"/admin?"+q.Encode())
	if bounce.StatusCode != http.StatusFound || !strings.HasPrefix(bounce.Header.Get("Location"), "/admin/session-token-bounce?") {
		t.Fatalf("expired token: %d → %q", bounce.StatusCode, bounce.Header.Get("Location"))
	}
	// Outside Shopify with no token: an explanation, not a crash.
	outside, err := http.Get(e.srv.URL + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	outside.Body.Close()
	if outside.StatusCode != http.StatusOK {
		t.Fatalf("outside: status %d", outside.StatusCode)
	}
}
