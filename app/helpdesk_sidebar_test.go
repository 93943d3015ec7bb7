package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// sidebarShop is the branded shop (#2001 split in two packages, #2002
// late, #2003 French: all ana.secret@example.com's) with points, a review
// and a bad delivery rating, connected to all three helpdesks; and a second
// shop with a customer of its own, connected to Gorgias.
type sidebarShop struct {
	brandedShop
	keys      map[string]string // connection secret by desk
	zendesk   models.HelpdeskConnection
	zkey      *rsa.PrivateKey
	otherKey  string // the other shop's Gorgias secret
	customer  int64  // the customer whose account holds the points
	otherMail string
}

const (
	sidebarOtherEmail = "only.elsewhere@example.com"
	sidebarOtherOrder = 5_400_000_000_000_091
)

func newSidebarShop(t *testing.T) sidebarShop {
	t.Helper()
	b := newBrandedShop(t, func(s *jobs.Settings) { s.MarketingWithoutConsent = true })
	e, ctx := b.e, context.Background()
	s := sidebarShop{brandedShop: b, keys: map[string]string{}, otherMail: sidebarOtherEmail}

	// The newest customer row for the email holds the account (see
	// sidebarFor): #2003's customer (shopOrder gives each order its own).
	s.customer = b.french + 7
	if _, _, _, err := e.app.loyalty.Adjust(ctx, b.shop, s.customer, 120, "Welcome bonus", "merchant", "seed-1"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*models.Feedback{
		{ShopID: b.shop.ID, OrderPlatformID: b.split, Kind: models.FeedbackReview, ProductID: 22, CustomerPlatformID: b.split + 7,
			Rating: 5, Comment: "Lovely mug"},
		{ShopID: b.shop.ID, OrderPlatformID: b.late, Kind: models.FeedbackDelivery, CustomerPlatformID: b.late + 7,
			Rating: 2, Comment: "Box was crushed"},
	} {
		if err := e.app.store.SaveFeedback(ctx, f); err != nil {
			t.Fatal(err)
		}
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s.zkey = key
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	for _, kind := range []string{"gorgias", "freshdesk", "zendesk"} {
		c := &models.HelpdeskConnection{ShopID: b.shop.ID, Kind: kind, BaseURL: "https://acme." + kind + ".com", Email: "agent@acme.test"}
		if kind == "zendesk" {
			c.PublicKeyPEM = pemKey
		}
		secret := "secret-" + kind + "-" + strconv.FormatUint(b.shop.ID, 10)
		if err := e.app.store.CreateHelpdeskConnection(ctx, c, models.HelpdeskCredentials{APIKey: "k"}, secret); err != nil {
			t.Fatal(err)
		}
		s.keys[kind] = secret
		if kind == "zendesk" {
			s.zendesk = *c
		}
	}

	const other = "elsewhere.myshopify.com"
	otherShop := e.installShop(other)
	e.post(webhook{shop: other, topic: "orders/paid", body: shopperOrder(sidebarOtherOrder, 9001, sidebarOtherEmail, time.Now().Add(-time.Hour), false)})
	e.processAll()
	s.otherKey = "secret-gorgias-other"
	oc := &models.HelpdeskConnection{ShopID: otherShop.ID, Kind: "gorgias", BaseURL: "https://other.gorgias.test"}
	if err := e.app.store.CreateHelpdeskConnection(ctx, oc, models.HelpdeskCredentials{APIKey: "k"}, s.otherKey); err != nil {
		t.Fatal(err)
	}
	return s
}

type sidebarReply struct {
	status int
	header http.Header
	body   string
}

// call sends a request without following redirects.
func (s sidebarShop) call(t *testing.T, method, path string, header map[string]string, body io.Reader) sidebarReply {
	t.Helper()
	req, err := http.NewRequest(method, s.e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sidebarReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (s sidebarShop) customerJSON(t *testing.T, kind, key, query string) sidebarReply {
	t.Helper()
	return s.call(t, http.MethodGet, "/helpdesk/"+kind+"/customer?"+query, map[string]string{helpdesk.SecretHeader: key}, nil)
}

func (s sidebarShop) action(t *testing.T, kind, action string, body map[string]any) sidebarReply {
	t.Helper()
	js, _ := json.Marshal(body)
	return s.call(t, http.MethodPost, "/helpdesk/"+kind+"/actions/"+action,
		map[string]string{helpdesk.SecretHeader: s.keys[kind], "Content-Type": "application/json"}, bytes.NewReader(js))
}

// zendeskToken is a sidebar JWT as Zendesk signs it.
func zendeskToken(t *testing.T, key *rsa.PrivateKey, edit func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": "acme.zendesk.com", "sub": "zendesk-agent-42", "aud": "https://doorstep.test" + zendeskSidebarPath,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if edit != nil {
		edit(c)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s sidebarShop) zendeskFirstLoad(t *testing.T, token string, form url.Values) sidebarReply {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("token", token)
	return s.call(t, http.MethodPost, zendeskSidebarPath+"?c="+strconv.FormatUint(s.zendesk.ID, 10),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(form.Encode()))
}

// zendeskFirstLoadAt posts a first load with the ticket requester's email
// to the sidebar URL with query.
func (s sidebarShop) zendeskFirstLoadAt(t *testing.T, query, token string) sidebarReply {
	t.Helper()
	form := url.Values{"token": {token}, "email": {shopperEmail}}
	return s.call(t, http.MethodPost, zendeskSidebarPath+query,
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(form.Encode()))
}

var sessionInPage = regexp.MustCompile(`name="session" value="([^"]+)"`)

// normalizeSidebar blanks what changes from run to run: times, dates,
// signed tokens, sessions and form keys.
func normalizeSidebar(s string) string {
	for _, r := range []struct{ re, with string }{
		{`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`, `<time>`},
		{`/t/[A-Za-z0-9_-]+`, `/t/<token>`},
		{`name="session" value="[^"]+"`, `name="session" value="<session>"`},
		{`name="key" value="[0-9a-f]+`, `name="key" value="<key>`},
		{`\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\b`, `<date>`},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	return s
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "helpdesk", name)
	if *update || os.Getenv("DOORSTEP_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, got)
	}
}

func indentJSON(t *testing.T, body string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(body), "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	return buf.String() + "\n"
}

func TestSidebar_ReadsAndAuth(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)

	t.Run("gorgias JSON golden", func(t *testing.T) {
		r := s.customerJSON(t, "gorgias", s.keys["gorgias"], "email="+url.QueryEscape(shopperEmail))
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		got := normalizeSidebar(indentJSON(t, r.body))
		checkGolden(t, "gorgias_customer.json.golden", got)

		var v sidebarView
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Fatal(err)
		}
		if !v.Found || len(v.Orders) != 3 || v.Loyalty == nil || v.Loyalty.Available != 120 {
			t.Fatalf("view: found %v, %d orders, loyalty %+v", v.Found, len(v.Orders), v.Loyalty)
		}
		split := v.Orders[len(v.Orders)-1]
		if len(v.Feedback) != 2 || len(split.Packages) != 2 || split.Packages[1].Label != "Package 2 of 2" {
			t.Fatalf("feedback %d, split packages %+v", len(v.Feedback), split.Packages)
		}
		if want := "https://admin.shopify.com/store/branded/orders/" + strconv.FormatInt(s.split, 10); split.AdminURL != want {
			t.Errorf("admin url %q, want %q", split.AdminURL, want)
		}

		// Freshdesk answers the same, its own action URLs aside.
		fr := s.customerJSON(t, "freshdesk", s.keys["freshdesk"], "email="+url.QueryEscape(shopperEmail))
		if fr.status != http.StatusOK {
			t.Fatalf("freshdesk status %d: %s", fr.status, fr.body)
		}
		if f := strings.ReplaceAll(normalizeSidebar(indentJSON(t, fr.body)), "/helpdesk/freshdesk/", "/helpdesk/gorgias/"); f != got {
			t.Errorf("freshdesk JSON differs from gorgias:\n%s", f)
		}
	})

	t.Run("email matches in any case", func(t *testing.T) {
		r := s.customerJSON(t, "gorgias", s.keys["gorgias"], "email="+url.QueryEscape(strings.ToUpper(shopperEmail)))
		if r.status != http.StatusOK || !strings.Contains(r.body, `"found":true`) {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})

	t.Run("wrong secret is 401", func(t *testing.T) {
		for _, tt := range []struct {
			name, kind, key string
		}{
			{"no key", "gorgias", ""},
			{"wrong key", "gorgias", "secret-gorgias-nope"},
			{"a prefix of the key", "gorgias", s.keys["gorgias"][:len(s.keys["gorgias"])-1]},
			{"freshdesk key on gorgias", "gorgias", s.keys["freshdesk"]},
			{"gorgias key on freshdesk", "freshdesk", s.keys["gorgias"]},
			{"zendesk key on gorgias", "gorgias", s.keys["zendesk"]},
		} {
			r := s.customerJSON(t, tt.kind, tt.key, "email="+url.QueryEscape(shopperEmail))
			if r.status != http.StatusUnauthorized || strings.Contains(r.body, "ana") || !strings.Contains(r.body, `"unauthorized"`) {
				t.Errorf("%s: status %d, body %s", tt.name, r.status, r.body)
			}
			act := s.call(t, http.MethodPost, "/helpdesk/"+tt.kind+"/actions/goodwill",
				map[string]string{helpdesk.SecretHeader: tt.key}, strings.NewReader(`{"email":"`+shopperEmail+`","points":5}`))
			if act.status != http.StatusUnauthorized {
				t.Errorf("%s action: status %d, body %s", tt.name, act.status, act.body)
			}
		}
	})

	t.Run("another shop's customer is nothing", func(t *testing.T) {
		r := s.customerJSON(t, "gorgias", s.keys["gorgias"], "email="+url.QueryEscape(sidebarOtherEmail))
		if r.status != http.StatusOK || !strings.Contains(r.body, `"found":false`) || strings.Contains(r.body, "9001") {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		// The other shop's own key sees its customer, and not ours.
		mine := s.customerJSON(t, "gorgias", s.otherKey, "email="+url.QueryEscape(sidebarOtherEmail))
		if mine.status != http.StatusOK || !strings.Contains(mine.body, `"found":true`) || !strings.Contains(mine.body, "#9001") {
			t.Fatalf("other shop: status %d: %s", mine.status, mine.body)
		}
		ours := s.customerJSON(t, "gorgias", s.otherKey, "email="+url.QueryEscape(shopperEmail))
		if !strings.Contains(ours.body, `"found":false`) || strings.Contains(ours.body, "#2001") {
			t.Fatalf("other shop sees ours: %s", ours.body)
		}
	})

	t.Run("unknown email is a friendly empty answer", func(t *testing.T) {
		for _, q := range []string{"email=nobody%40example.com", "", "phone=%2B33600000000"} {
			r := s.customerJSON(t, "gorgias", s.keys["gorgias"], q)
			var v sidebarView
			if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &v) != nil || v.Found || v.Notice == "" ||
				v.Orders == nil || len(v.Orders) != 0 || len(v.Actions) != 0 {
				t.Errorf("%q: status %d: %s", q, r.status, r.body)
			}
		}
		checkGolden(t, "gorgias_unknown.json.golden",
			normalizeSidebar(indentJSON(t, s.customerJSON(t, "gorgias", s.keys["gorgias"], "email=nobody%40example.com").body)))
	})

	t.Run("zendesk page golden", func(t *testing.T) {
		r := s.zendeskFirstLoad(t, zendeskToken(t, s.zkey, nil), url.Values{"email": {shopperEmail}, "ticket": {"7001"}})
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://acme.zendesk.com") ||
			!strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
		if r.header.Get("Set-Cookie") != "" {
			t.Errorf("the iframe page sets a cookie: %q", r.header.Get("Set-Cookie"))
		}
		for _, bad := range []string{"<script", "src=\"http", "@import"} {
			if strings.Contains(r.body, bad) {
				t.Errorf("page has %q: it must load nothing from elsewhere", bad)
			}
		}
		checkGolden(t, "zendesk_sidebar.html.golden", normalizeSidebar(r.body))

		// The session opens the page again, and a lookup.
		m := sessionInPage.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatal("no session on the page")
		}
		again := s.call(t, http.MethodGet, zendeskSidebarPath+"?session="+url.QueryEscape(m[1])+"&email="+url.QueryEscape(shopperEmail), nil, nil)
		if again.status != http.StatusOK || !strings.Contains(again.body, "#2001") {
			t.Fatalf("with the session: status %d", again.status)
		}
		other := s.call(t, http.MethodGet, zendeskSidebarPath+"?session="+url.QueryEscape(m[1])+"&email="+url.QueryEscape(sidebarOtherEmail), nil, nil)
		if other.status != http.StatusOK || strings.Contains(other.body, "#9001") || !strings.Contains(other.body, "No orders or rewards") {
			t.Fatalf("another shop's customer through zendesk: status %d\n%s", other.status, other.body)
		}
		// No email yet: the page asks for one.
		bare := s.zendeskFirstLoad(t, zendeskToken(t, s.zkey, nil), nil)
		if bare.status != http.StatusOK || !strings.Contains(bare.body, `id="lookup-email"`) || strings.Contains(bare.body, "Orders") {
			t.Fatalf("first load without email: status %d\n%s", bare.status, bare.body)
		}
	})

	t.Run("forged or expired zendesk JWT is 401", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": "https://doorstep.test" + zendeskSidebarPath,
			"exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(s.zendesk.PublicKeyPEM))
		for _, tt := range []struct{ name, token string }{
			{"signed by another key", zendeskToken(t, other, nil)},
			{"expired", zendeskToken(t, s.zkey, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })},
			{"no expiry", zendeskToken(t, s.zkey, func(c jwt.MapClaims) { delete(c, "exp") })},
			{"another audience", zendeskToken(t, s.zkey, func(c jwt.MapClaims) { c["aud"] = "https://evil.test/helpdesk/zendesk/sidebar" })},
			{"HS256 keyed with the public key", hs},
			{"another Zendesk account", zendeskToken(t, s.zkey, func(c jwt.MapClaims) { c["iss"] = "evil.zendesk.com" })},
			{"no issuer", zendeskToken(t, s.zkey, func(c jwt.MapClaims) { delete(c, "iss") })},
			{"tampered", zendeskToken(t, s.zkey, nil) + "x"},
			{"none", ""},
		} {
			r := s.zendeskFirstLoad(t, tt.token, url.Values{"email": {shopperEmail}})
			if r.status != http.StatusUnauthorized || strings.Contains(r.body, "#2001") || sessionInPage.MatchString(r.body) {
				t.Errorf("%s: status %d\n%s", tt.name, r.status, r.body)
			}
		}
		// A good token, for a connection that is not this Zendesk's.
		conns, err := s.e.app.store.HelpdeskConnections(context.Background(), s.shop.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range append([]models.HelpdeskConnection{{ID: 999999}}, conns...) {
			if c.ID == s.zendesk.ID {
				continue
			}
			if r := s.zendeskFirstLoadAt(t, "?c="+strconv.FormatUint(c.ID, 10), zendeskToken(t, s.zkey, nil)); r.status != http.StatusUnauthorized {
				t.Errorf("connection %d (%s): status %d", c.ID, c.Kind, r.status)
			}
		}
	})

	t.Run("zendesk connection from the issuer when the URL has no c", func(t *testing.T) {
		for _, q := range []string{"", "?c=", "?c=abc"} {
			if r := s.zendeskFirstLoadAt(t, q, zendeskToken(t, s.zkey, nil)); r.status != http.StatusOK || !strings.Contains(r.body, "#2001") {
				t.Errorf("%q: status %d", q, r.status)
			}
		}
		for _, iss := range []string{"evil.zendesk.com", "acme.zendesk.com.evil.test", ""} {
			tok := zendeskToken(t, s.zkey, func(c jwt.MapClaims) { c["iss"] = iss })
			if r := s.zendeskFirstLoadAt(t, "", tok); r.status != http.StatusUnauthorized {
				t.Errorf("iss %q: status %d", iss, r.status)
			}
		}
	})

	t.Run("forged or expired session is 401", func(t *testing.T) {
		a := s.e.app
		good := sidebarSession{Connection: s.zendesk.ID, Shop: s.shop.ID, Agent: "x", Expires: time.Now().Add(time.Minute).Unix()}
		expired := good
		expired.Expires = time.Now().Add(-time.Second).Unix()
		otherShop := good
		otherShop.Shop++
		tok := a.signSidebarSession(good)
		payload, _, _ := strings.Cut(tok, ".")
		for _, tt := range []struct{ name, session string }{
			{"expired", a.signSidebarSession(expired)},
			{"another shop", a.signSidebarSession(otherShop)},
			{"bad mac", payload + ".AAAA"},
			{"no mac", payload},
			{"none", ""},
		} {
			r := s.call(t, http.MethodGet, zendeskSidebarPath+"?session="+url.QueryEscape(tt.session)+"&email="+url.QueryEscape(shopperEmail), nil, nil)
			if r.status != http.StatusUnauthorized || strings.Contains(r.body, "#2001") {
				t.Errorf("%s: status %d", tt.name, r.status)
			}
			form := url.Values{"session": {tt.session}, "email": {shopperEmail}, "points": {"5"}, "key": {"k1"}}
			act := s.call(t, http.MethodPost, "/helpdesk/zendesk/actions/goodwill",
				map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(form.Encode()))
			if act.status != http.StatusUnauthorized {
				t.Errorf("%s action: status %d", tt.name, act.status)
			}
		}
		if r := s.call(t, http.MethodGet, zendeskSidebarPath+"?session="+url.QueryEscape(tok)+"&email="+url.QueryEscape(shopperEmail), nil, nil); r.status != http.StatusOK {
			t.Errorf("good session: status %d", r.status)
		}
		// A disconnected desk ends its sessions at once.
		if err := a.store.DisconnectHelpdesk(context.Background(), s.shop.ID, s.zendesk.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if r := s.call(t, http.MethodGet, zendeskSidebarPath+"?session="+url.QueryEscape(tok)+"&email="+url.QueryEscape(shopperEmail), nil, nil); r.status != http.StatusUnauthorized {
			t.Errorf("disconnected: status %d", r.status)
		}
	})
}

func TestSidebar_ZendeskConnectedToTwoShops_NeedsTheConnectionID(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)
	second := s.e.installShop("second.myshopify.com")
	c := &models.HelpdeskConnection{ShopID: second.ID, Kind: "zendesk", BaseURL: s.zendesk.BaseURL, PublicKeyPEM: s.zendesk.PublicKeyPEM}
	if err := s.e.app.store.CreateHelpdeskConnection(context.Background(), c, models.HelpdeskCredentials{APIToken: "t"}, "secret-second"); err != nil {
		t.Fatal(err)
	}
	tok := zendeskToken(t, s.zkey, nil)
	if r := s.zendeskFirstLoadAt(t, "", tok); r.status != http.StatusUnauthorized {
		t.Fatalf("ambiguous without c: status %d", r.status)
	}
	if r := s.zendeskFirstLoadAt(t, "?c="+strconv.FormatUint(s.zendesk.ID, 10), tok); r.status != http.StatusOK || !strings.Contains(r.body, "#2001") {
		t.Fatalf("with c: status %d", r.status)
	}
	// The second shop's connection opens the second shop, which has no Ana.
	if r := s.zendeskFirstLoadAt(t, "?c="+strconv.FormatUint(c.ID, 10), tok); r.status != http.StatusOK || strings.Contains(r.body, "#2001") {
		t.Fatalf("second shop: status %d", r.status)
	}
}

func TestSidebar_DisconnectedDeskIs401(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)
	conns, err := s.e.app.store.HelpdeskConnections(context.Background(), s.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if c.Kind == "gorgias" {
			if err := s.e.app.store.DisconnectHelpdesk(context.Background(), s.shop.ID, c.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r := s.customerJSON(t, "gorgias", s.keys["gorgias"], "email="+url.QueryEscape(shopperEmail)); r.status != http.StatusUnauthorized {
		t.Fatalf("disconnected: status %d: %s", r.status, r.body)
	}
	if r := s.customerJSON(t, "freshdesk", s.keys["freshdesk"], "email="+url.QueryEscape(shopperEmail)); r.status != http.StatusOK {
		t.Fatalf("the other desk: status %d", r.status)
	}
}

func TestSidebar_Goodwill_LedgerWithAgentAndTicket_Capped(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)
	ctx := context.Background()
	grant := func(points int64, key string) sidebarReply {
		return s.action(t, "gorgias", "goodwill", map[string]any{"email": shopperEmail, "points": points, "reason": "parcel was late",
			"idempotency_key": key, "agent": "agent-17", "ticket": "T-555"})
	}
	r := grant(300, "g1")
	if r.status != http.StatusOK || !strings.Contains(r.body, `"done":true`) || !strings.Contains(r.body, `"points":420`) {
		t.Fatalf("grant: status %d: %s", r.status, r.body)
	}
	// The same request again: nothing new, still 200.
	if r := grant(300, "g1"); r.status != http.StatusOK || !strings.Contains(r.body, `"done":false`) {
		t.Fatalf("replay: status %d: %s", r.status, r.body)
	}
	key := models.AccountKey{ShopID: s.shop.ID, CustomerPlatformID: s.customer}
	entries, err := s.e.app.store.Ledger(ctx, key, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var goodwill []models.LoyaltyEntry
	for _, e := range entries {
		if strings.Contains(e.SourceID, ":helpdesk:") {
			goodwill = append(goodwill, e)
		}
	}
	if len(goodwill) != 1 {
		t.Fatalf("want one goodwill entry, got %+v", goodwill)
	}
	e := goodwill[0]
	if e.Points != 300 || e.Actor != "helpdesk:gorgias:agent-17" || !strings.Contains(e.Reason, "ticket T-555") ||
		!strings.Contains(e.Reason, "parcel was late") || e.Kind != models.EntryAdjust {
		t.Fatalf("entry: %+v", e)
	}
	if n := s.e.count("audit_logs", "shop_id = ? AND action = ? AND detail LIKE ? AND detail LIKE ?", s.shop.ID, auditSidebarGoodwill,
		"%agent-17%", "%T-555%"); n != 1 {
		t.Fatalf("audit rows: %d", n)
	}

	// The caps: per grant, then per customer per day, across desks.
	if r := grant(goodwillMaxPerGrant+1, "g2"); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "goodwill_cap") {
		t.Fatalf("over the grant cap: status %d: %s", r.status, r.body)
	}
	if r := grant(500, "g3"); r.status != http.StatusOK {
		t.Fatalf("within the day: status %d: %s", r.status, r.body)
	}
	fd := s.action(t, "freshdesk", "goodwill", map[string]any{"email": shopperEmail, "points": 201, "idempotency_key": "f1",
		"agent": "fd-agent", "ticket": "99"})
	if fd.status != http.StatusUnprocessableEntity || !strings.Contains(fd.body, "goodwill_cap") {
		t.Fatalf("over the day cap from freshdesk: status %d: %s", fd.status, fd.body)
	}
	if r := s.action(t, "freshdesk", "goodwill", map[string]any{"email": shopperEmail, "points": 200, "idempotency_key": "f2",
		"agent": "fd-agent", "ticket": "99"}); r.status != http.StatusOK {
		t.Fatalf("up to the day cap: status %d: %s", r.status, r.body)
	}
	// A replay of the first grant still answers at the cap.
	if r := grant(300, "g1"); r.status != http.StatusOK || !strings.Contains(r.body, `"done":false`) {
		t.Fatalf("replay at the cap: status %d: %s", r.status, r.body)
	}
	acct, err := s.e.app.store.Account(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Available != 120+300+500+200 {
		t.Fatalf("available %d", acct.Available)
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"no agent", map[string]any{"email": shopperEmail, "points": 1, "idempotency_key": "x1"}, http.StatusUnprocessableEntity},
		{"no key", map[string]any{"email": shopperEmail, "points": 1, "agent": "a"}, http.StatusUnprocessableEntity},
		{"negative", map[string]any{"email": shopperEmail, "points": -5, "agent": "a", "idempotency_key": "x2"}, http.StatusUnprocessableEntity},
		{"unknown customer", map[string]any{"email": "nobody@example.com", "points": 1, "agent": "a", "idempotency_key": "x3"}, http.StatusNotFound},
		{"another shop's customer", map[string]any{"email": sidebarOtherEmail, "points": 1, "agent": "a", "idempotency_key": "x4"}, http.StatusNotFound},
	} {
		if r := s.action(t, "gorgias", "goodwill", tt.body); r.status != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.want, r.body)
		}
	}
}

func TestSidebar_Resend_OncePerRequestKey(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)
	resends := func() int64 {
		return s.e.count("messages", "shop_id = ? AND order_platform_id = ? AND flow = ? AND subject LIKE ?",
			s.shop.ID, s.split, jobs.FlowShipping, "fulfillment:%:resend:%")
	}
	body := map[string]any{"email": shopperEmail, "order_id": strconv.FormatInt(s.split, 10), "idempotency_key": "click-1",
		"agent": "agent-17", "ticket": "T-1"}
	r := s.action(t, "gorgias", "resend", body)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"done":true`) {
		t.Fatalf("resend: status %d: %s", r.status, r.body)
	}
	if r := s.action(t, "gorgias", "resend", body); r.status != http.StatusOK || !strings.Contains(r.body, `"done":false`) {
		t.Fatalf("double click: status %d: %s", r.status, r.body)
	}
	if n := resends(); n != 1 {
		t.Fatalf("%d resent notices after a double click, want 1", n)
	}
	var m models.Message
	if err := s.e.app.db.Where("shop_id = ? AND subject LIKE ?", s.shop.ID, "fulfillment:%:resend:%").Take(&m).Error; err != nil {
		t.Fatal(err)
	}
	// The latest package with tracking, as it stands now, to the order's address.
	if !strings.HasPrefix(m.Subject, "fulfillment:6100000000000002:resend:") || m.Step != models.ShipmentConfirmed ||
		m.Recipient != shopperEmail || m.Status != models.MessageQueued || m.Channel != "email" {
		t.Fatalf("message: %+v", m)
	}
	// The resent notice goes out through the message policy like any other.
	if err := s.e.app.messages.Send(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	// (At night in the shop's zone it waits for the morning instead.)
	if err := s.e.app.db.Take(&m, m.ID).Error; err != nil ||
		!(m.Status == models.MessageSent || m.Status == models.MessageDeferred && strings.HasPrefix(m.Reason, "quiet hours")) {
		t.Fatalf("resent notice after sending: %+v, %v", m, err)
	}
	body["idempotency_key"] = "click-2"
	if r := s.action(t, "gorgias", "resend", body); r.status != http.StatusOK || !strings.Contains(r.body, `"done":true`) {
		t.Fatalf("second request: status %d: %s", r.status, r.body)
	}
	if n := resends(); n != 2 {
		t.Fatalf("%d resent notices after two requests, want 2", n)
	}
	if n := s.e.count("audit_logs", "shop_id = ? AND action = ? AND subject = ?", s.shop.ID, auditSidebarResend,
		"order:"+strconv.FormatInt(s.split, 10)); n != 2 {
		t.Fatalf("audit rows: %d", n)
	}
	for _, tt := range []struct {
		name    string
		orderID string
		want    int
	}{
		{"another shop's order", strconv.FormatInt(sidebarOtherOrder, 10), http.StatusNotFound},
		{"no such order", "42", http.StatusNotFound},
		{"not an id", "abc", http.StatusUnprocessableEntity},
	} {
		b := map[string]any{"order_id": tt.orderID, "idempotency_key": "x-" + tt.name, "agent": "a"}
		if r := s.action(t, "gorgias", "resend", b); r.status != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.want, r.body)
		}
	}
}

func TestSidebar_PauseHoldsReviewAsk_ResumeReleasesIt(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)
	ctx := context.Background()
	a := s.e.app
	body := map[string]any{"email": shopperEmail, "idempotency_key": "p1", "agent": "agent-17", "ticket": "T-9"}
	r := s.action(t, "freshdesk", "pause", body)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"orders":3`) {
		t.Fatalf("pause: status %d: %s", r.status, r.body)
	}
	if n := s.e.count("order_holds", "shop_id = ? AND reason = ? AND cleared_at IS NULL", s.shop.ID, holdAgentPause); n != 3 {
		t.Fatalf("%d holds, want one per order", n)
	}
	if r := s.customerJSON(t, "gorgias", s.keys["gorgias"], "email="+url.QueryEscape(shopperEmail)); !strings.Contains(r.body, `"reviews_paused":true`) {
		t.Fatalf("the sidebar does not show the pause: %s", r.body)
	}

	// The review ask is held.
	if err := a.messages.Send(ctx, s.messageID); err != nil {
		t.Fatal(err)
	}
	m, err := a.store.Message(ctx, s.messageID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != models.MessageDeferred || !strings.Contains(m.Reason, "manual hold") {
		t.Fatalf("paused ask: %s (%s)", m.Status, m.Reason)
	}

	r = s.action(t, "freshdesk", "resume", body)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"orders":3`) {
		t.Fatalf("resume: status %d: %s", r.status, r.body)
	}
	if n := s.e.count("order_holds", "shop_id = ? AND reason = ? AND cleared_at IS NULL", s.shop.ID, holdAgentPause); n != 0 {
		t.Fatalf("%d holds left", n)
	}
	// Released: due again now, and no longer held when it is decided.
	if m, err = a.store.Message(ctx, s.messageID); err != nil {
		t.Fatal(err)
	}
	if m.DueAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("resumed ask is due %v", m.DueAt)
	}
	if err := a.messages.Send(ctx, s.messageID); err != nil {
		t.Fatal(err)
	}
	if m, err = a.store.Message(ctx, s.messageID); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Reason, "held") {
		t.Fatalf("resumed ask is still held: %s (%s)", m.Status, m.Reason)
	}
	if n := s.e.count("audit_logs", "shop_id = ? AND action IN ? AND detail LIKE ?", s.shop.ID,
		[]string{auditSidebarPause, auditSidebarResume}, "%T-9%"); n != 2 {
		t.Fatalf("audit rows: %d", n)
	}
	// Resuming again changes nothing and says so.
	if r := s.action(t, "freshdesk", "resume", body); r.status != http.StatusOK || !strings.Contains(r.body, `"done":false`) {
		t.Fatalf("resume again: status %d: %s", r.status, r.body)
	}
}

// TestSidebar_Zendesk_ActionsFromThePage posts the page's own forms: the
// session and key they carry are enough, and a double submit acts once.
func TestSidebar_Zendesk_ActionsFromThePage(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)
	page := s.zendeskFirstLoad(t, zendeskToken(t, s.zkey, nil), url.Values{"email": {shopperEmail}, "ticket": {"7001"}})
	m := sessionInPage.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no session:\n%s", page.body)
	}
	post := func(action string, form url.Values) sidebarReply {
		form.Set("session", m[1])
		form.Set("email", shopperEmail)
		return s.call(t, http.MethodPost, "/helpdesk/zendesk/actions/"+action,
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(form.Encode()))
	}
	for i := 0; i < 2; i++ {
		r := post("goodwill", url.Values{"points": {"50"}, "reason": {"sorry"}, "key": {"render-1-goodwill"}})
		if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "notice=granted") {
			t.Fatalf("goodwill #%d: status %d, location %q\n%s", i, r.status, r.header.Get("Location"), r.body)
		}
		if i == 1 && !strings.Contains(r.header.Get("Location"), "notice=granted_before") {
			t.Fatalf("second submit: location %q", r.header.Get("Location"))
		}
	}
	e, err := s.e.app.store.EntryBySource(context.Background(), s.shop.ID, models.EntryAdjust, models.SourceManual,
		strconv.FormatInt(s.customer, 10)+":helpdesk:"+strconv.FormatUint(s.zendesk.ID, 10)+":render-1-goodwill")
	if err != nil {
		t.Fatal(err)
	}
	if e.Points != 50 || e.Actor != "helpdesk:zendesk:zendesk-agent-42" || !strings.Contains(e.Reason, "ticket 7001") {
		t.Fatalf("entry %+v", e)
	}
	if r := post("goodwill", url.Values{"points": {"9999"}, "key": {"render-2"}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "at most 500 per grant") {
		t.Fatalf("over the cap: status %d\n%s", r.status, r.body)
	}
	r := post("resend", url.Values{"order_id": {strconv.FormatInt(s.split, 10)}, "key": {"render-1-" + strconv.FormatInt(s.split, 10)}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "notice=resent") {
		t.Fatalf("resend: status %d, location %q", r.status, r.header.Get("Location"))
	}
	loc := r.header.Get("Location")
	after := s.call(t, http.MethodGet, loc, nil, nil)
	if after.status != http.StatusOK || !strings.Contains(after.body, "The tracking notice is on its way again.") {
		t.Fatalf("after the redirect: status %d\n%s", after.status, after.body)
	}
}

func TestSidebar_ZendeskIssuerMatchesTheConnection(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		iss, base string
		want      bool
	}{
		{"acme.zendesk.com", "https://acme.zendesk.com", true},
		{"https://acme.zendesk.com/", "https://acme.zendesk.com", true},
		{"ACME.zendesk.com", "https://acme.zendesk.com", true},
		{"127.0.0.1:9000", "http://127.0.0.1:9000", true},
		{"evil.zendesk.com", "https://acme.zendesk.com", false},
		{"acme.zendesk.com.evil.test", "https://acme.zendesk.com", false},
		{"", "https://acme.zendesk.com", false},
		{"acme.zendesk.com", "", false},
	} {
		if got := zendeskIssuerMatches(tt.iss, tt.base); got != tt.want {
			t.Errorf("zendeskIssuerMatches(%q, %q) = %v, want %v", tt.iss, tt.base, got, tt.want)
		}
	}
}

// TestSidebar_QueriesDoNotGrowWithOrders guards the sidebar's budget: the
// number of queries stays within a fixed budget and does not grow with
// the customer's orders (the ten newest in detail, a count of the rest).
func TestSidebar_QueriesDoNotGrowWithOrders(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)
	e, ctx := s.e, context.Background()
	var queries atomic.Int64
	count := func(*gorm.DB) { queries.Add(1) }
	cb := e.app.db.Callback()
	if err := cb.Query().After("gorm:query").Register("sidebar_test:count", count); err != nil {
		t.Fatal(err)
	}
	if err := cb.Row().After("gorm:row").Register("sidebar_test:count", count); err != nil {
		t.Fatal(err)
	}
	measure := func(what string) (int64, time.Duration) {
		t.Helper()
		queries.Store(0)
		start := time.Now()
		v, err := e.app.sidebarFor(ctx, s.shop, shopperEmail, "")
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if len(v.Orders) > sidebarOrderLimit {
			t.Fatalf("%s: %d orders in detail", what, len(v.Orders))
		}
		t.Logf("%s: %d orders in detail, %d more, %d queries, %v", what, len(v.Orders), v.MoreOrders, queries.Load(), took)
		return queries.Load(), took
	}
	addOrders := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			id := int64(5_400_000_000_001_000 + i*10)
			e.post(webhook{shop: s.shop.Domain, topic: "orders/paid",
				body: shopperOrder(id, int64(3000+i), shopperEmail, time.Now().Add(-time.Duration(i)*time.Hour), false)})
		}
		e.processAll()
	}
	// The budget: customers, order ids (+ their count), the ten orders with
	// lines, packages, scans, refunds and customers, holds, messages,
	// feedback, and the loyalty account with its program, ledger,
	// redemptions and referrals. Fewer when there is less to read (no
	// packages, no account).
	const budget = 20
	few, _ := measure("3 orders")
	addOrders(0, 9)
	twelve, _ := measure("12 orders")
	addOrders(9, 28)
	forty, _ := measure("40 orders")
	for _, n := range []int64{few, twelve, forty} {
		if n > budget {
			t.Errorf("%d queries: over the budget of %d", n, budget)
		}
	}
	if forty > twelve {
		t.Errorf("%d queries for 40 orders, %d for 12: the sidebar reads more as orders grow", forty, twelve)
	}
}

// FuzzSidebarSession: no input makes the session check panic, and nothing
// verifies but what the key signed.
func FuzzSidebarSession(f *testing.F) {
	a := &App{cfg: config.Config{EncryptionKey: bytes.Repeat([]byte{7}, 32)}}
	now := time.Unix(1_800_000_000, 0)
	good := a.signSidebarSession(sidebarSession{Connection: 3, Shop: 4, Agent: "agent", Ticket: "9", Expires: now.Add(time.Minute).Unix()})
	f.Add(good)
	f.Add(good + "x")
	f.Add("")
	f.Add(".")
	f.Add("e30.AAAA")
	f.Fuzz(func(t *testing.T, token string) {
		s, err := a.verifySidebarSession(token, now)
		if err != nil {
			return
		}
		if a.signSidebarSession(s) != token && token != good {
			// A second spelling of a signed payload would still need the
			// MAC of its exact bytes: anything else accepted is a forgery.
			payload, _, _ := strings.Cut(token, ".")
			goodPayload, _, _ := strings.Cut(good, ".")
			if payload != goodPayload {
				t.Fatalf("forged session verified: %q → %+v", token, s)
			}
		}
	})
}
