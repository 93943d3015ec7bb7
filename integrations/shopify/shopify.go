// Package shopify is Doorstep's Shopify adapter: install (OAuth code grant,
// token exchange, expiring offline tokens and their refresh), session-token,
// webhook and app proxy verification, webhook parsing into the normalized
// models types, and the Admin GraphQL calls the app needs (shop info,
// webhook subscriptions, order sync, discount codes).
//
// Adapters translate, they don't decide: nothing here knows what a thank-you
// message is. Errors say what Shopify answered so callers can decide:
// ErrUnauthorized (the token is revoked or expired), *RetryableError (429,
// 5xx, THROTTLED, network), anything else is permanent.
//
// go-shopify does the HMAC checks and the GraphQL transport; the token
// endpoints it lacks are plain net/http. A go-shopify Client is not safe for
// concurrent use, so one is built per call; Client itself is.
package shopify

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Config is what the adapter needs from config.Config.
type Config struct {
	APIKey, APISecret, APISecretPrevious string
	Scopes                               []string
	APIVersion                           string // e.g. "2026-07"
	// BaseURL is a template, "https://{shop}" by default; "{shop}" is
	// replaced by the shop domain. A fake uses "http://127.0.0.1:PORT/{shop}".
	BaseURL    string
	HTTPClient *http.Client // optional; nil → a client with a 30 s timeout
	// Clock paces cost throttling and retries; nil → real time. Tests pass
	// a shopifytest.Clock shared with the fake.
	Clock Clock
}

// Client talks to Shopify for any number of shops. It is safe for
// concurrent use.
type Client struct {
	cfg Config
	// hc makes requests to URLs already built from BaseURL (token endpoints).
	hc *http.Client
	// apiHC is handed to go-shopify, which always builds https://{shop}
	// URLs; its transport rewrites them onto BaseURL.
	apiHC *http.Client
	now   func() time.Time

	clock    Clock
	throttle *throttle // per-shop cost buckets, shared by every caller
	// allOrders caches, per shop, whether the app holds read_all_orders.
	scopesMu  sync.Mutex
	allOrders map[string]bool
}

// New returns a Client. Defaults: BaseURL "https://{shop}", APIVersion
// "2026-07", a 30 s HTTP timeout.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://{shop}"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.APIVersion == "" {
		cfg.APIVersion = "2026-07"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	api := &http.Client{
		Transport:     &rewriteTransport{base: base, template: cfg.BaseURL},
		CheckRedirect: hc.CheckRedirect,
		Jar:           hc.Jar,
		Timeout:       hc.Timeout,
	}
	clock := cfg.Clock
	if clock == nil {
		clock = realClock{}
	}
	return &Client{cfg: cfg, hc: hc, apiHC: api, now: time.Now,
		clock: clock, throttle: newThrottle(clock), allOrders: map[string]bool{}}
}

// Name is the platform name stored on deliveries.
func (c *Client) Name() string { return "shopify" }

// shopURL is BaseURL with the shop filled in, no trailing slash.
func (c *Client) shopURL(shop string) string {
	return strings.ReplaceAll(c.cfg.BaseURL, "{shop}", shop)
}

// secrets lists the secrets a signature may be made with: after a rotation
// Shopify may keep signing with the previous one for up to an hour.
func (c *Client) secrets() []string {
	s := []string{c.cfg.APISecret}
	if c.cfg.APISecretPrevious != "" && c.cfg.APISecretPrevious != c.cfg.APISecret {
		s = append(s, c.cfg.APISecretPrevious)
	}
	return s
}

// Topics are the REST-style webhook topics Doorstep subscribes to through
// the API. The compliance topics (customers/data_request, customers/redact,
// shop/redact) are not here: Shopify accepts them only from the Partner
// dashboard or shopify.app.toml.
var Topics = []string{
	"orders/create",
	"orders/updated",
	"orders/paid",
	"orders/cancelled",
	"orders/fulfilled",
	"orders/partially_fulfilled",
	"fulfillments/create",
	"fulfillments/update",
	"fulfillment_events/create",
	"refunds/create",
	"customers/create",
	"customers/update",
	"app/uninstalled",
}

// Errors. They are wrapped with context; test with errors.Is.
var (
	// ErrBadHMAC: the install/callback query's hmac does not verify.
	ErrBadHMAC = errors.New("shopify: query hmac does not verify")
	// ErrStaleTimestamp: the query's timestamp is missing or more than 90 s from now.
	ErrStaleTimestamp = errors.New("shopify: query timestamp is missing or too far from now")
	// ErrBadShop: not a valid x.myshopify.com domain.
	ErrBadShop = errors.New("shopify: invalid shop domain")
	// ErrInvalidSubjectToken: token exchange refused the session token;
	// App Bridge should retry with a fresh one.
	ErrInvalidSubjectToken = errors.New("shopify: invalid subject token")
	// ErrInvalidGrant: the token endpoint refused the authorization code or
	// refresh token (used, expired, revoked); the merchant must re-authorize.
	ErrInvalidGrant = errors.New("shopify: authorization code or refresh token refused")
	// ErrUnauthorized: Shopify answered 401 — the access token is revoked or
	// expired (or, at the token endpoint, the app's credentials are wrong).
	ErrUnauthorized = errors.New("shopify: unauthorized")
)

// RetryableError is a transient failure: HTTP 408, 429, 5xx, a THROTTLED
// GraphQL answer, or a network error. RetryAfter is Shopify's hint, zero
// when it gave none. Match it with errors.As(err, new(*RetryableError)).
type RetryableError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RetryableError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// retryableStatus reports whether an HTTP status is worth retrying.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

var shopDomainRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-_]*\.myshopify\.com$`)

// NormalizeShopDomain turns what a merchant or Shopify may hand us
// ("X.myshopify.com", "https://x.myshopify.com/", "admin.shopify.com/store/x")
// into "x.myshopify.com". It returns ErrBadShop (wrapped) for anything else,
// so a shop domain can never point requests at another host.
func NormalizeShopDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"https://", "http://"} {
		d = strings.TrimPrefix(d, p)
	}
	d = strings.TrimRight(d, "/")
	if rest, ok := strings.CutPrefix(d, "admin.shopify.com/store/"); ok {
		// The admin URL may go on to a page: /store/x/apps/doorstep.
		name, _, _ := strings.Cut(rest, "/")
		d = name + ".myshopify.com"
	}
	if !shopDomainRE.MatchString(d) {
		return "", fmt.Errorf("%w: %q", ErrBadShop, s)
	}
	return d, nil
}

// rewriteTransport moves go-shopify's https://{shop}/... requests onto the
// configured BaseURL template (go-shopify has no base-URL option).
type rewriteTransport struct {
	base     http.RoundTripper
	template string
}

func (t *rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.template == "https://{shop}" {
		return t.base.RoundTrip(req)
	}
	target, err := url.Parse(strings.ReplaceAll(t.template, "{shop}", req.URL.Host))
	if err != nil {
		return nil, fmt.Errorf("shopify base url: %w", err)
	}
	r := req.Clone(req.Context())
	u := *req.URL
	u.Scheme = target.Scheme
	u.Host = target.Host
	u.Path = strings.TrimRight(target.Path, "/") + req.URL.Path
	u.RawPath = ""
	r.URL = &u
	r.Host = ""
	return t.base.RoundTrip(r)
}
