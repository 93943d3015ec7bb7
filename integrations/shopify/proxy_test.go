package shopify

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
)

var proxyNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// proxyQuery is what Shopify forwards for /apps/doorstep/rewards, signed
// with secret; customer "" is a logged-out shopper.
func proxyQuery(secret, customer string, extra url.Values) url.Values {
	q := url.Values{
		"shop":                  {"tea-shop.myshopify.com"},
		"logged_in_customer_id": {customer},
		"path_prefix":           {"/apps/doorstep"},
		"timestamp":             {strconv.FormatInt(proxyNow.Unix(), 10)},
	}
	for k, v := range extra {
		q[k] = v
	}
	return shopifytest.SignProxyQuery(secret, q)
}

// Shopify's documentation signs this query with the secret "hush"; its
// published signature begins 4c68c8624d737112c91818c11017d24d334b.
func TestVerifyProxy_ShopifyDocumentationExample(t *testing.T) {
	t.Parallel()
	raw := "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555" +
		"&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := shopifytest.SignProxyQuery("hush", q).Get("signature"); got != q.Get("signature") {
		t.Errorf("SignProxyQuery = %s, want the documented %s", got, q.Get("signature"))
	}
	c := New(Config{APISecret: "hush"})
	req, err := c.VerifyProxy(q, time.Unix(1317327555, 0).Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := (ProxyRequest{Shop: "shop-name.myshopify.com", CustomerID: 1, PathPrefix: "/apps/awesome_reviews"}); req != want {
		t.Errorf("VerifyProxy = %+v, want %+v", req, want)
	}
}

func TestVerifyProxy(t *testing.T) {
	t.Parallel()
	c := testClient() // secret "secret", previous "old-secret"
	with := func(q url.Values, k string, v ...string) url.Values {
		out := url.Values{}
		for kk, vv := range q {
			out[kk] = append([]string(nil), vv...)
		}
		if v == nil {
			out.Del(k)
		} else {
			out[k] = v
		}
		return out
	}
	resign := func(q url.Values) url.Values { return shopifytest.SignProxyQuery("secret", q) }
	stale := func(d time.Duration) url.Values {
		return resign(with(proxyQuery("secret", "", nil), "timestamp", strconv.FormatInt(proxyNow.Add(d).Unix(), 10)))
	}
	valid := proxyQuery("secret", "7421983047807", nil)

	for _, tc := range []struct {
		name string
		q    url.Values
		want ProxyRequest // when the query is accepted
		bad  string       // in the error, when it is refused
	}{
		{name: "logged-in customer", q: valid,
			want: ProxyRequest{Shop: "tea-shop.myshopify.com", CustomerID: 7421983047807, PathPrefix: "/apps/doorstep"}},
		{name: "logged out", q: proxyQuery("secret", "", nil),
			want: ProxyRequest{Shop: "tea-shop.myshopify.com", PathPrefix: "/apps/doorstep"}},
		{name: "shopper's own parameters, one repeated", q: proxyQuery("secret", "", url.Values{"ref": {"REF-ALICE"}, "tag": {"a", "b"}, "empty": {""}}),
			want: ProxyRequest{Shop: "tea-shop.myshopify.com", PathPrefix: "/apps/doorstep"}},
		{name: "previous secret during rotation", q: proxyQuery("old-secret", "42", nil),
			want: ProxyRequest{Shop: "tea-shop.myshopify.com", CustomerID: 42, PathPrefix: "/apps/doorstep"}},
		{name: "uppercase hex signature", q: with(valid, "signature", strings.ToUpper(valid.Get("signature"))),
			want: ProxyRequest{Shop: "tea-shop.myshopify.com", CustomerID: 7421983047807, PathPrefix: "/apps/doorstep"}},
		{name: "four minutes old", q: stale(-4 * time.Minute),
			want: ProxyRequest{Shop: "tea-shop.myshopify.com", PathPrefix: "/apps/doorstep"}},

		{name: "wrong secret", q: proxyQuery("other", "42", nil), bad: "does not verify"},
		{name: "customer changed", q: with(valid, "logged_in_customer_id", "42"), bad: "does not verify"},
		{name: "shop changed", q: with(valid, "shop", "other.myshopify.com"), bad: "does not verify"},
		{name: "parameter added", q: with(valid, "admin", "1"), bad: "does not verify"},
		{name: "parameter removed", q: with(valid, "path_prefix"), bad: "does not verify"},
		{name: "repeated value reordered", q: with(proxyQuery("secret", "", url.Values{"tag": {"a", "b"}}), "tag", "b", "a"), bad: "does not verify"},
		{name: "signature missing", q: with(valid, "signature"), bad: "signature missing"},
		{name: "signature not hex", q: with(valid, "signature", "zz"+valid.Get("signature")[2:]), bad: "not hex"},
		{name: "signature truncated", q: with(valid, "signature", valid.Get("signature")[:62]), bad: "not hex SHA-256"},
		{name: "signature given twice", q: with(valid, "signature", valid.Get("signature"), valid.Get("signature")), bad: "2 times"},
		{name: "six minutes old (replay)", q: stale(-6 * time.Minute), bad: "replay"},
		{name: "six minutes ahead", q: stale(6 * time.Minute), bad: "away from now"},
		{name: "timestamp missing", q: resign(with(valid, "timestamp")), bad: "timestamp"},
		{name: "timestamp not a number", q: resign(with(valid, "timestamp", "soon")), bad: "timestamp"},
		{name: "shop missing", q: resign(with(valid, "shop")), bad: "invalid shop domain"},
		{name: "shop not myshopify", q: resign(with(valid, "shop", "evil.example.com")), bad: "invalid shop domain"},
		{name: "shop given twice", q: resign(with(valid, "shop", "tea-shop.myshopify.com", "tea-shop.myshopify.com")), bad: "2 times"},
		{name: "customer not a number", q: resign(with(valid, "logged_in_customer_id", "abc")), bad: "not a customer id"},
		{name: "customer with a sign", q: resign(with(valid, "logged_in_customer_id", "+42")), bad: "not a customer id"},
		{name: "customer zero", q: resign(with(valid, "logged_in_customer_id", "0")), bad: "not a customer id"},
		{name: "customer given twice", q: resign(with(valid, "logged_in_customer_id", "1", "2")), bad: "2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.VerifyProxy(tc.q, proxyNow)
			if tc.bad == "" {
				if err != nil || got != tc.want {
					t.Errorf("VerifyProxy = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrBadProxySignature) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("err = %v, want ErrBadProxySignature mentioning %q", err, tc.bad)
			}
			if got != (ProxyRequest{}) {
				t.Errorf("refused query still returned %+v", got)
			}
		})
	}
}

func TestVerifyProxy_NoPreviousSecret_OnlyCurrentAccepted(t *testing.T) {
	t.Parallel()
	c := New(Config{APISecret: "secret"})
	if _, err := c.VerifyProxy(proxyQuery("secret", "", nil), proxyNow); err != nil {
		t.Errorf("current secret: %v", err)
	}
	if _, err := c.VerifyProxy(proxyQuery("", "", nil), proxyNow); !errors.Is(err, ErrBadProxySignature) {
		t.Errorf("empty secret: err = %v, want ErrBadProxySignature", err)
	}
}

// With no separator between pairs, a logged-out shopper can put
// "1logged_in_customer_id=999m=2" in a parameter of their own; Shopify signs
// it, and the same signature then fits a query saying they are customer
// 999. The HMAC verifies; VerifyProxy must still refuse.
func TestVerifyProxy_ConcatenationForgery_Refused(t *testing.T) {
	t.Parallel()
	c := testClient()
	signed := proxyQuery("secret", "", url.Values{"a": {"1logged_in_customer_id=999m=2"}})
	forged := url.Values{
		"a":                     {"1"},
		"logged_in_customer_id": {"999"},
		"m":                     {"2logged_in_customer_id="},
		"path_prefix":           signed["path_prefix"],
		"shop":                  signed["shop"],
		"timestamp":             signed["timestamp"],
		"signature":             signed["signature"],
	}
	if proxyMessage(forged) != proxyMessage(signed) {
		t.Fatalf("test premise: the two queries should sign the same message:\n%s\n%s", proxyMessage(forged), proxyMessage(signed))
	}
	// The shopper's own query carries the same smuggled text, so it is
	// refused too; no real storefront link looks like that.
	if _, err := c.VerifyProxy(signed, proxyNow); !errors.Is(err, ErrBadProxySignature) {
		t.Errorf("smuggling query: err = %v, want ErrBadProxySignature", err)
	}
	got, err := c.VerifyProxy(forged, proxyNow)
	if !errors.Is(err, ErrBadProxySignature) || got.CustomerID != 0 {
		t.Errorf("forged query: %+v, %v; want ErrBadProxySignature", got, err)
	}
}

// go-shopify's App.VerifySignature computes the same message; the fake's
// signatures satisfy both.
func TestSignProxyQuery_AgreesWithGoShopify(t *testing.T) {
	t.Parallel()
	for _, q := range []url.Values{
		proxyQuery("secret", "", nil),
		proxyQuery("secret", "42", url.Values{"ref": {"R"}, "tags": {"x", "y", "z"}, "é": {"ü=&?"}}),
	} {
		u := &url.URL{RawQuery: q.Encode()}
		if !(goshopify.App{ApiSecret: "secret"}).VerifySignature(u) {
			t.Errorf("go-shopify refuses %s", u.RawQuery)
		}
		if _, err := testClient().VerifyProxy(q, proxyNow); err != nil {
			t.Errorf("VerifyProxy refuses %s: %v", u.RawQuery, err)
		}
	}
}

func FuzzVerifyProxy(f *testing.F) {
	f.Add(proxyQuery("secret", "42", nil).Encode())
	f.Add(proxyQuery("secret", "", url.Values{"a": {"1logged_in_customer_id=999m=2"}}).Encode())
	f.Add("signature=00&shop=x.myshopify.com&timestamp=1")
	f.Add("")
	c := testClient()
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := c.VerifyProxy(q, proxyNow)
		if err != nil {
			if !errors.Is(err, ErrBadProxySignature) {
				t.Fatalf("error %v does not wrap ErrBadProxySignature", err)
			}
			return
		}
		// Accepted: it must carry a signature made with one of our secrets.
		s := q.Get("signature")
		if !strings.EqualFold(s, shopifytest.SignProxyQuery("secret", q).Get("signature")) &&
			!strings.EqualFold(s, shopifytest.SignProxyQuery("old-secret", q).Get("signature")) {
			t.Fatalf("accepted %q without a valid signature: %+v", raw, req)
		}
	})
}
