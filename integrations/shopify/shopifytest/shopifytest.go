// Package shopifytest is a fake Shopify for tests: an httptest.Server that
// signs, issues and rotates tokens, and answers Admin GraphQL the way
// Shopify does — including refusing, with HTTP 200 and "errors", any
// document that does not validate against Shopify's real 2026-07 schema
// (read from ../shared/shopify beside the checkout).
//
// Routes mirror Shopify's behind a "/{shop}" prefix, so BaseURL() is the
// SHOPIFY_API_BASE_URL template:
//
//	POST /{shop}/admin/oauth/access_token
//	POST /{shop}/admin/api/{version}/graphql.json
//
// The fake is independent of package shopify on purpose: it checks the
// adapter, it doesn't reuse it.
package shopifytest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/models"
)

// Version is the Admin API version the fake serves (its schema's version).
const Version = "2026-07"

// SharedDir returns the shared folder beside the checkout (the directory
// holding go.mod, then "../shared"), where Shopify's schema and the
// third-party fixtures live. It skips the test when the folder is absent.
func SharedDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("shopifytest: working directory: %v", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			shared := filepath.Clean(filepath.Join(dir, "..", "shared"))
			if fi, err := os.Stat(shared); err == nil && fi.IsDir() {
				return shared
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	t.Skip("../shared not found: the Shopify schema and fixtures live beside the checkout (CI has them)")
	return ""
}

// ShopInfo is what the fake answers for `shop`.
type ShopInfo struct {
	Name, Email, Timezone, Currency string
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Shop   string
	Body   []byte
	// GraphQL is the operation text of a GraphQL request ("" otherwise);
	// Variables its variables as sent.
	GraphQL   string
	Variables json.RawMessage
	Status    int // what the fake answered
}

// Subscription is a webhook subscription the fake stores.
type Subscription struct {
	ID     int64
	Topic  string // enum form: ORDERS_CREATE
	URI    string
	Format string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	URL, APIKey, APISecret string

	srv *httptest.Server
	t   testing.TB

	mu            sync.Mutex
	now           func() time.Time
	accessTTL     time.Duration
	refreshTTL    time.Duration
	shops         map[string]*shop
	codes         map[string]string // code → shop
	tokens        map[string]*accessToken
	refreshes     map[string]*refreshToken
	requests      []Request
	nextID        int64
	bucketMax     float64
	bucketRestore float64
	objectID      int64 // ids of generated orders, lines, fulfillments…
	bulkFiles     map[string][]byte
	webhooks      webhookState
}

type shop struct {
	domain    string
	id        int64
	info      ShopInfo
	subs      []Subscription
	refreshes int
	available float64 // cost bucket
	filledAt  time.Time

	minAvailable float64
	throttled    int
	costs        []QueryCost
	scopes       []string // access scope handles; nil = defaults
	orders       map[int64]*models.Order
	bulkOps      []*bulkOp
	discounts    []*FakeDiscount
	products     []FakeProduct        // the catalog, as AddProducts left it
	failNext     map[string]*failPlan // root field → failures still to inject
}

type accessToken struct {
	shop    string
	expires time.Time // zero: never
	revoked bool
	grant   *grant
}

// grant is one access/refresh pair from one token-endpoint answer.
type grant struct {
	access  *accessToken
	refresh *refreshToken
	used    bool // the access token (or the refresh token) was used
}

type refreshToken struct {
	shop    string
	expires time.Time
	revoked bool
	// successor is the grant issued when this token was last used. Shopify
	// keeps the old refresh token valid until the app first uses the new
	// access token, so a lost refresh answer is recoverable.
	successor *grant
	grant     *grant
}

// New starts a fake Shopify closed on t.Cleanup, with a fresh API key and
// secret. It skips the test when ../shared (the schema) is absent.
func New(t testing.TB) *Server {
	t.Helper()
	if _, err := loadSchema(t); err != nil {
		t.Fatalf("shopifytest: %v", err)
	}
	s := &Server{
		APIKey:        randHex(16),
		APISecret:     "shpss_" + randHex(16),
		t:             t,
		now:           time.Now,
		accessTTL:     time.Hour,
		refreshTTL:    90 * 24 * time.Hour,
		shops:         map[string]*shop{},
		codes:         map[string]string{},
		tokens:        map[string]*accessToken{},
		refreshes:     map[string]*refreshToken{},
		nextID:        1000,
		bucketMax:     2000,
		bucketRestore: 100,
		objectID:      1 << 53, // past float64's exact integers: ids must stay int64
		bulkFiles:     map[string][]byte{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{shop}/admin/oauth/access_token", s.handleToken)
	mux.HandleFunc("POST /{shop}/admin/api/{version}/graphql.json", s.handleGraphQL)
	mux.HandleFunc("GET /bulk/{file}", s.handleBulkFile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.record(r, nil, "", nil, http.StatusNotFound)
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// BaseURL is the SHOPIFY_API_BASE_URL template pointing at the fake.
func (s *Server) BaseURL() string { return s.URL + "/{shop}" }

// AddShop makes a shop known (tokens, GraphQL). Unknown shops get 404 like
// a myshopify domain that doesn't exist.
func (s *Server) AddShop(domain string, info ShopInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[domain]; ok {
		sh.info = info
		return
	}
	s.nextID++
	s.shops[domain] = &shop{domain: domain, id: s.nextID, info: info, available: s.bucketMax, minAvailable: s.bucketMax, filledAt: s.now()}
}

// ensureShop adds a shop with plausible defaults; callers hold s.mu.
func (s *Server) ensureShop(domain string) {
	if _, ok := s.shops[domain]; ok {
		return
	}
	s.nextID++
	name, _, _ := strings.Cut(domain, ".")
	s.shops[domain] = &shop{domain: domain, id: s.nextID, available: s.bucketMax, minAvailable: s.bucketMax, filledAt: s.now(),
		info: ShopInfo{Name: name, Email: "owner@" + name + ".example", Timezone: "America/New_York", Currency: "USD"}}
}

// IssueCode returns a one-time authorization code for shop, as the OAuth
// callback would carry it. An unknown shop is added with default info.
func (s *Server) IssueCode(shop string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureShop(shop)
	code := randHex(16)
	s.codes[code] = shop
	return code
}

// AccessToken issues an access token for shop directly (as if installed),
// for tests that don't exercise OAuth. Like a legacy offline token it does
// not expire (RevokeTokens still revokes it).
func (s *Server) AccessToken(shop string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureShop(shop)
	at, _ := s.issue(shop, false)
	return at
}

// SessionToken returns an App Bridge session token for shop: HS256 with the
// API secret, claims iss/dest/aud/sub/exp/nbf/iat/jti/sid. A negative ttl
// gives a token that has already expired.
func (s *Server) SessionToken(shop string, ttl time.Duration) string {
	s.mu.Lock()
	s.ensureShop(shop)
	now := s.now()
	s.mu.Unlock()
	iat := now
	if ttl < 0 {
		iat = now.Add(ttl).Add(-time.Minute)
	}
	claims := jwt.MapClaims{
		"iss":  "https://" + shop + "/admin",
		"dest": "https://" + shop,
		"aud":  s.APIKey,
		"sub":  "42",
		"exp":  now.Add(ttl).Unix(),
		"nbf":  iat.Unix(),
		"iat":  iat.Unix(),
		"jti":  randHex(16),
		"sid":  randHex(16),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(s.APISecret))
	if err != nil {
		s.t.Fatalf("shopifytest: sign session token: %v", err)
	}
	return tok
}

// InstallQuery is the query Shopify sends to the app URL on install:
// shop, timestamp, host and a hex hmac over the rest, signed with APISecret.
func (s *Server) InstallQuery(shop string, now time.Time) url.Values {
	q := url.Values{
		"shop":      {shop},
		"timestamp": {strconv.FormatInt(now.Unix(), 10)},
		"host":      {base64.RawURLEncoding.EncodeToString([]byte("admin.shopify.com/store/" + strings.TrimSuffix(shop, ".myshopify.com")))},
	}
	q.Set("hmac", SignQuery(s.APISecret, q))
	return q
}

// SignQuery is Shopify's query hmac: hex HMAC-SHA256 over the pairs other
// than hmac and signature, sorted by key, "k=v" joined by "&".
func SignQuery(secret string, q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "hmac" && k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, k+"="+v)
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strings.Join(parts, "&")))
	return hex.EncodeToString(m.Sum(nil))
}

// SignWebhook is the X-Shopify-Hmac-Sha256 value for body.
func (s *Server) SignWebhook(body []byte) string { return SignWebhook(s.APISecret, body) }

// SignWebhook is base64 HMAC-SHA256 of body with secret.
func SignWebhook(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RefreshCount is how many refresh_token grants succeeded for shop.
func (s *Server) RefreshCount(shop string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[shop]; ok {
		return sh.refreshes
	}
	return 0
}

// Subscriptions returns shop's webhook subscriptions.
func (s *Server) Subscriptions(shop string) []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[shop]; ok {
		return append([]Subscription(nil), sh.subs...)
	}
	return nil
}

// SetAccessTokenTTL sets the lifetime of access tokens issued from now on
// (default 1 h, like Shopify's expiring offline tokens).
func (s *Server) SetAccessTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessTTL = d
}

// SetThrottle sets the cost bucket (default 2000 points, restoring 100/s)
// and refills every shop's. A query requesting more than what is available
// is answered THROTTLED; MinAvailable starts over from maximum.
func (s *Server) SetThrottle(maximum, restorePerSecond float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucketMax, s.bucketRestore = maximum, restorePerSecond
	for _, sh := range s.shops {
		sh.available, sh.filledAt, sh.minAvailable = maximum, s.now(), maximum
	}
}

// RevokeTokens revokes every token of shop, as an uninstall does: later
// GraphQL calls get 401 and refreshes are refused.
func (s *Server) RevokeTokens(shop string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.shop == shop {
			t.revoked = true
		}
	}
	for _, r := range s.refreshes {
		if r.shop == shop {
			r.revoked = true
		}
	}
}

// record appends to the request log; callers must not hold s.mu.
func (s *Server) record(r *http.Request, body []byte, gql string, vars json.RawMessage, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Shop: r.PathValue("shop"),
		Body: body, GraphQL: gql, Variables: vars, Status: status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
