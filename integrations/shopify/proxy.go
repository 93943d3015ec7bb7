package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// App proxy: Shopify forwards storefront requests for /apps/doorstep/...
// to the app, adding shop, logged_in_customer_id (empty when logged out),
// path_prefix and timestamp, and signs the whole query.

// ErrBadProxySignature: an app proxy query that doesn't verify or can't be
// trusted: missing or wrong signature, a stale timestamp, an invalid shop
// or customer id. Answer 401.
var ErrBadProxySignature = errors.New("shopify: app proxy signature does not verify")

// proxyMaxSkew is how far a proxy request's timestamp may be from now.
// The signature covers the timestamp but nothing else makes a request
// single-use, so without this a captured URL (from a log, a browser
// history, a Referer) would act for its customer forever.
const proxyMaxSkew = 5 * time.Minute

// ProxyRequest is what a verified app proxy query says.
type ProxyRequest struct {
	Shop       string // x.myshopify.com
	CustomerID int64  // the logged-in customer; 0 when logged out
	PathPrefix string // the storefront prefix, e.g. "/apps/doorstep"
}

// proxyMessage is what Shopify signs: every parameter but signature as
// "key=value" (several values joined by ","), sorted and concatenated with
// no separator. Sorting the "key=value" strings, rather than the keys, is
// what Shopify's documented Ruby example and go-shopify's
// App.VerifySignature do; the two orders differ only for a key that is a
// prefix of another followed by a byte below '='. go-shopify's function
// isn't used because VerifyProxy needs the message itself (see below).
func proxyMessage(q url.Values) string {
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		if k == "signature" {
			continue
		}
		pairs = append(pairs, k+"="+strings.Join(vs, ","))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "")
}

// onlyDigits reports whether s is a non-empty run of ASCII digits (no sign,
// no spaces: strconv.ParseInt alone would accept "+1").
func onlyDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// single is the one value of key in q: "" when absent, an error when the
// key is repeated (a signed "a,b" must not be read as "a").
func single(q url.Values, key string) (string, error) {
	switch vs := q[key]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", fmt.Errorf("%w: %s given %d times", ErrBadProxySignature, key, len(q[key]))
}

// VerifyProxy checks an app proxy query: its hex HMAC-SHA256 signature
// (current or previous app secret, as for webhooks after a rotation,
// compared in constant time), a timestamp within 5 minutes of now, a valid
// shop domain and a numeric customer id. Every failure wraps
// ErrBadProxySignature: answer 401.
func (c *Client) VerifyProxy(q url.Values, now time.Time) (ProxyRequest, error) {
	sig, err := single(q, "signature")
	if err != nil {
		return ProxyRequest{}, err
	}
	if sig == "" {
		return ProxyRequest{}, fmt.Errorf("%w: signature missing", ErrBadProxySignature)
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ProxyRequest{}, fmt.Errorf("%w: signature is not hex SHA-256", ErrBadProxySignature)
	}
	msg := proxyMessage(q)
	ok := false
	for _, s := range c.secrets() {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(msg))
		if hmac.Equal(m.Sum(nil), got) {
			ok = true
			break
		}
	}
	if !ok {
		return ProxyRequest{}, ErrBadProxySignature
	}

	// With no separator between pairs, one signed message can be split
	// into different parameters: a shopper who puts
	// "1logged_in_customer_id=999m=2" in a parameter of their own request
	// gets a signature that also fits a query where logged_in_customer_id
	// is 999. Every such forgery needs a second "logged_in_customer_id=" in
	// the message; Shopify's own appears once, so more is refused. (With
	// one occurrence, the digits-only and single-value checks below leave
	// no other split that changes the customer.)
	if n := strings.Count(msg, "logged_in_customer_id="); n > 1 {
		return ProxyRequest{}, fmt.Errorf("%w: logged_in_customer_id= appears %d times in the signed query", ErrBadProxySignature, n)
	}

	ts, err := single(q, "timestamp")
	if err != nil {
		return ProxyRequest{}, err
	}
	if !onlyDigits(ts) {
		return ProxyRequest{}, fmt.Errorf("%w: timestamp %q is not a number", ErrBadProxySignature, ts)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ProxyRequest{}, fmt.Errorf("%w: timestamp %q: %w", ErrBadProxySignature, ts, err)
	}
	if skew := now.Sub(time.Unix(sec, 0)); skew > proxyMaxSkew || skew < -proxyMaxSkew {
		return ProxyRequest{}, fmt.Errorf("%w: timestamp is %s away from now (replay?)", ErrBadProxySignature, skew.Round(time.Second))
	}

	rawShop, err := single(q, "shop")
	if err != nil {
		return ProxyRequest{}, err
	}
	shop, err := NormalizeShopDomain(rawShop)
	if err != nil {
		return ProxyRequest{}, fmt.Errorf("%w: %w", ErrBadProxySignature, err)
	}

	req := ProxyRequest{Shop: shop}
	cust, err := single(q, "logged_in_customer_id")
	if err != nil {
		return ProxyRequest{}, err
	}
	if cust != "" {
		id, err := strconv.ParseInt(cust, 10, 64)
		if !onlyDigits(cust) || err != nil || id <= 0 {
			return ProxyRequest{}, fmt.Errorf("%w: logged_in_customer_id %q is not a customer id", ErrBadProxySignature, cust)
		}
		req.CustomerID = id
	}
	if req.PathPrefix, err = single(q, "path_prefix"); err != nil {
		return ProxyRequest{}, err
	}
	return req, nil
}
