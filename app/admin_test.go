package app

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/models"
)

// The embedded admin's documents: what a merchant sees when Shopify frames
// Doorstep, and what anyone else gets.

// adminGet loads an admin document as Shopify would: shop, host, embedded
// and an id_token (empty: none), without following redirects.
func adminGet(t *testing.T, e *testEnv, path, shop, token string, extra url.Values) (*http.Response, string) {
	t.Helper()
	q := url.Values{"shop": {shop}, "host": {"YWRtaW4"}, "embedded": {"1"}}
	if token != "" {
		q.Set("id_token", token)
	}
	for k, v := range extra {
		q[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.srv.URL + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestAdminPages_ShowTheShopsOrdersCustomersAndTimeline(t *testing.T) {
	t.Parallel()
	b := newBrandedShop(t, nil)
	e := b.e
	dom := b.shop.Domain
	tok := e.fake.SessionToken(dom, time.Minute)
	wantCSP := "frame-ancestors https://" + dom + " https://admin.shopify.com;"

	for _, path := range []string{"/admin", "/admin/orders", "/admin/customers", "/admin/flows", "/admin/settings"} {
		resp, body := adminGet(t, e, path, dom, tok, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d\n%s", path, resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); csp != wantCSP {
			t.Errorf("%s: CSP = %q", path, csp)
		}
		if !strings.Contains(body, `<meta name="shopify-api-key" content="`+e.fake.APIKey+`">`) ||
			!strings.Contains(body, `src="https://cdn.shopify.com/shopifycloud/app-bridge.js"`) {
			t.Errorf("%s: no App Bridge", path)
		}
		// Every link keeps Shopify's parameters, so the next load can bounce
		// for a token, and none leaks the id_token.
		if strings.Contains(body, "id_token=") {
			t.Errorf("%s: a link carries the id_token", path)
		}
	}

	_, list := adminGet(t, e, "/admin/orders", dom, tok, nil)
	for _, name := range []string{"#2001", "#2002", "#2003"} {
		if !strings.Contains(list, name) {
			t.Fatalf("orders page lacks %s", name)
		}
	}
	// Search by tracking number finds the one order.
	_, found := adminGet(t, e, "/admin/orders", dom, tok, url.Values{"q": {"1ZLATE"}})
	if !strings.Contains(found, "#2002") || strings.Contains(found, "#2001") || strings.Contains(found, "#2003") {
		t.Fatal("tracking-number search did not find exactly #2002")
	}
	_, none := adminGet(t, e, "/admin/orders", dom, tok, url.Values{"q": {"nobody@example.com"}})
	if !strings.Contains(none, "No orders match") {
		t.Fatal("an empty search does not say so")
	}

	resp, order := adminGet(t, e, "/admin/orders/"+strconv.FormatInt(b.split, 10), dom, tok, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("order page: %d", resp.StatusCode)
	}
	for _, want := range []string{"#2001", "1ZSPLITA", "1ZSPLITB", "Webhook orders/paid", "Webhook fulfillment_events/create", "out for delivery", "Hold asks for this order"} {
		if !strings.Contains(order, want) {
			t.Errorf("order page lacks %q", want)
		}
	}

	var cust models.Customer
	if err := e.app.db.Where("shop_id = ?", b.shop.ID).First(&cust).Error; err != nil {
		t.Fatal(err)
	}
	cid := strconv.FormatInt(cust.PlatformID, 10)
	_, customers := adminGet(t, e, "/admin/customers", dom, tok, url.Values{"q": {strings.ToUpper(cust.Email)}})
	if !strings.Contains(customers, "/admin/customers/"+cid) {
		t.Fatal("customer search by email (any case) did not find the customer")
	}
	if _, _, _, err := e.app.loyalty.Adjust(context.Background(), b.shop, cust.PlatformID, 250, "Sorry for the wait", "staff", "k1"); err != nil {
		t.Fatal(err)
	}
	_, customer := adminGet(t, e, "/admin/customers/"+cid, dom, tok, nil)
	for _, want := range []string{cust.Email, "Sorry for the wait", "+250", "#2001", "Adjust points", `name="idempotency_key"`} {
		if !strings.Contains(customer, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
}

func TestAdminPages_AnotherShopsTokenSeesNothing(t *testing.T) {
	t.Parallel()
	b := newBrandedShop(t, nil)
	e := b.e
	other := e.installShop("other-admin.myshopify.com")
	tok := e.fake.SessionToken(other.Domain, time.Minute)

	var cust models.Customer
	if err := e.app.db.Where("shop_id = ?", b.shop.ID).First(&cust).Error; err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/admin/orders/" + strconv.FormatInt(b.split, 10), "/admin/customers/" + strconv.FormatInt(cust.PlatformID, 10)} {
		resp, body := adminGet(t, e, path, other.Domain, tok, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s with another shop's token: status %d", path, resp.StatusCode)
		}
		for _, leak := range []string{"#2001", cust.Email, "1ZSPLITA"} {
			if strings.Contains(body, leak) {
				t.Fatalf("%s leaked %q to another shop", path, leak)
			}
		}
	}
	for _, path := range []string{"/admin/orders", "/admin/customers"} {
		_, body := adminGet(t, e, path, other.Domain, tok, url.Values{"q": {cust.Email}})
		if strings.Contains(body, "#2001") || strings.Contains(body, "/admin/customers/"+strconv.FormatInt(cust.PlatformID, 10)) {
			t.Fatalf("%s search found another shop's data", path)
		}
	}
	// A token for one shop with another shop's name on the URL is not
	// believed: bounce, no data.
	resp, body := adminGet(t, e, "/admin/orders", b.shop.Domain, tok, nil)
	if resp.StatusCode != http.StatusFound || strings.Contains(body, "#2001") {
		t.Fatalf("mismatched shop parameter: %d", resp.StatusCode)
	}
}

func TestAdminPages_WithoutAValidTokenBounceOrExplain(t *testing.T) {
	t.Parallel()
	b := newBrandedShop(t, nil)
	e := b.e
	dom := b.shop.Domain

	bounced := func(what string, resp *http.Response, body string) {
		t.Helper()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil || loc.Path != "/admin/session-token-bounce" {
			t.Fatalf("%s: %d → %q, want the bounce page", what, resp.StatusCode, resp.Header.Get("Location"))
		}
		reload := loc.Query().Get("shopify-reload")
		if !strings.HasPrefix(reload, "/admin/orders?") || strings.Contains(reload, "id_token") || strings.Contains(reload, "hmac") {
			t.Fatalf("%s: reload URL %q", what, reload)
		}
		if strings.Contains(body, "#2001") {
			t.Fatalf("%s: data on a bounce", what)
		}
	}
	resp, body := adminGet(t, e, "/admin/orders", dom, "", nil)
	bounced("no token", resp, body)
	resp, body = adminGet(t, e, "/admin/orders", dom, e.fake.SessionToken(dom, -time.Minute), nil)
	bounced("expired token", resp, body)
	claims := sessionClaims(e.fake.APIKey, dom, time.Now())
	resp, body = adminGet(t, e, "/admin/orders", dom, signHS(t, jwt.SigningMethodHS256, "not-the-secret", claims), nil)
	bounced("wrong secret", resp, body)
	// Shopify's signature on the URL, when present, must hold.
	resp, body = adminGet(t, e, "/admin/orders", dom, e.fake.SessionToken(dom, time.Minute),
		url.Values{"hmac": {strings.Repeat("0", 64)}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}})
	bounced("bad hmac", resp, body)

	// The bounce page is App Bridge alone, framed only by the shop.
	c := &http.Client{}
	br, err := c.Get(e.srv.URL + "/admin/session-token-bounce?shop=" + dom + "&shopify-reload=%2Fadmin")
	if err != nil {
		t.Fatal(err)
	}
	bb, _ := io.ReadAll(br.Body)
	br.Body.Close()
	if br.StatusCode != http.StatusOK || !strings.Contains(string(bb), "app-bridge.js") ||
		br.Header.Get("Content-Security-Policy") != "frame-ancestors https://"+dom+" https://admin.shopify.com;" {
		t.Fatalf("bounce page: %d %q", br.StatusCode, br.Header.Get("Content-Security-Policy"))
	}

	// Opened outside Shopify: an explanation, not a crash and not a bounce.
	out, err := http.Get(e.srv.URL + "/admin/orders")
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if out.StatusCode != http.StatusOK || !strings.Contains(string(ob), "Open Doorstep from your Shopify admin") {
		t.Fatalf("outside Shopify: %d", out.StatusCode)
	}
}
