package shopify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
)

func TestNormalizeShopDomain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"x.myshopify.com", "x.myshopify.com"},
		{"My-Shop.MyShopify.com", "my-shop.myshopify.com"},
		{"  https://x.myshopify.com/ ", "x.myshopify.com"},
		{"http://x.myshopify.com", "x.myshopify.com"},
		{"admin.shopify.com/store/x", "x.myshopify.com"},
		{"https://admin.shopify.com/store/My_Shop/apps/doorstep", "my_shop.myshopify.com"},
		{"shop_1-2.myshopify.com", "shop_1-2.myshopify.com"},
		{"", ""},
		{"x", ""},
		{"x.myshopify.com.evil.com", ""},
		{"evil.com/x.myshopify.com", ""},
		{"-x.myshopify.com", ""},
		{"x.y.myshopify.com", ""},
		{"x.myshopify.com/admin", ""},
		{"x.myshopify.com:443", ""},
		{"user@x.myshopify.com", ""},
		{"admin.shopify.com/store/", ""},
		{"xn--caf-dma.myshopify.com", "xn--caf-dma.myshopify.com"},
		{"x.myshopify.com\n", "x.myshopify.com"},
		{"x.myshopify.com%2f", ""},
	} {
		got, err := NormalizeShopDomain(tc.in)
		if tc.want == "" {
			if err == nil || !errors.Is(err, ErrBadShop) {
				t.Errorf("NormalizeShopDomain(%q) = %q, %v; want ErrBadShop", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeShopDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func signedQuery(secret, shop string, ts time.Time) url.Values {
	q := url.Values{"shop": {shop}, "timestamp": {strconv.FormatInt(ts.Unix(), 10)}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUveA"}}
	q.Set("hmac", shopifytest.SignQuery(secret, q))
	return q
}

func TestVerifyInstallQuery(t *testing.T) {
	t.Parallel()
	c := testClient()
	now := time.Unix(1_800_000_000, 0)
	tampered := signedQuery("secret", "x.myshopify.com", now)
	tampered.Set("shop", "y.myshopify.com")
	noHmac := signedQuery("secret", "x.myshopify.com", now)
	noHmac.Del("hmac")
	withSig := signedQuery("secret", "x.myshopify.com", now)
	withSig.Set("signature", "ignored") // excluded from the hmac, like Shopify
	for _, tc := range []struct {
		name string
		q    url.Values
		want error
	}{
		{"good", signedQuery("secret", "x.myshopify.com", now), nil},
		{"previous secret", signedQuery("old-secret", "x.myshopify.com", now), nil},
		{"signature param ignored", withSig, nil},
		{"89 s old", signedQuery("secret", "x.myshopify.com", now.Add(-89*time.Second)), nil},
		{"bad hmac", signedQuery("other", "x.myshopify.com", now), ErrBadHMAC},
		{"tampered shop", tampered, ErrBadHMAC},
		{"no hmac", noHmac, ErrBadHMAC},
		{"91 s old", signedQuery("secret", "x.myshopify.com", now.Add(-91*time.Second)), ErrStaleTimestamp},
		{"91 s ahead", signedQuery("secret", "x.myshopify.com", now.Add(91*time.Second)), ErrStaleTimestamp},
		{"bad shop domain", signedQuery("secret", "x.example.com", now), ErrBadShop},
	} {
		shop, err := c.VerifyInstallQuery(tc.q, now)
		if tc.want == nil {
			if err != nil || shop != "x.myshopify.com" {
				t.Errorf("%s: %q, %v", tc.name, shop, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || shop != "" {
			t.Errorf("%s: %q, %v; want %v", tc.name, shop, err, tc.want)
		}
	}
}

func TestVerifyInstallQuery_FakeInstallQuery_Verifies(t *testing.T) {
	t.Parallel()
	fake := shopifytest.New(t)
	c := New(Config{APIKey: fake.APIKey, APISecret: fake.APISecret})
	now := time.Now()
	if shop, err := c.VerifyInstallQuery(fake.InstallQuery("x.myshopify.com", now), now); err != nil || shop != "x.myshopify.com" {
		t.Errorf("%q, %v", shop, err)
	}
}

func FuzzVerifyInstallQuery(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(signedQuery("secret", "x.myshopify.com", now).Encode())
	f.Add("hmac=zz&shop=x.myshopify.com&timestamp=1800000000")
	f.Add("hmac=&shop=&timestamp=-99999999999999999999")
	c := testClient()
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		shop, err := c.VerifyInstallQuery(q, now)
		if err == nil && !shopDomainRE.MatchString(shop) {
			t.Fatalf("accepted shop %q", shop)
		}
	})
}

func TestAuthorizeURL(t *testing.T) {
	t.Parallel()
	c := New(Config{APIKey: "key", APISecret: "s", Scopes: []string{"read_orders", "write_discounts"}, BaseURL: "http://127.0.0.1:1/{shop}/"})
	u, err := url.Parse(c.AuthorizeURL("x.myshopify.com", "nonce", "https://app.example/auth/shopify/callback"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "127.0.0.1:1" || u.Path != "/x.myshopify.com/admin/oauth/authorize" ||
		q.Get("client_id") != "key" || q.Get("scope") != "read_orders,write_discounts" ||
		q.Get("redirect_uri") != "https://app.example/auth/shopify/callback" || q.Get("state") != "nonce" {
		t.Errorf("AuthorizeURL = %s", u)
	}
	if got := New(Config{APIKey: "k"}).AuthorizeURL("x.myshopify.com", "n", "r"); !strings.HasPrefix(got, "https://x.myshopify.com/admin/oauth/authorize?") {
		t.Errorf("default AuthorizeURL = %s", got)
	}
}

// fakeClient returns a fake Shopify with shop x.myshopify.com and a client
// pointed at it.
func fakeClient(t *testing.T) (*shopifytest.Server, *Client) {
	t.Helper()
	fake := shopifytest.New(t)
	fake.AddShop("x.myshopify.com", shopifytest.ShopInfo{Name: "X Store", Email: "owner@x.example", Timezone: "Europe/Paris", Currency: "EUR"})
	return fake, New(Config{APIKey: fake.APIKey, APISecret: fake.APISecret, APIVersion: shopifytest.Version, BaseURL: fake.BaseURL(), Scopes: []string{"read_orders"}})
}

func TestExchangeCode_ExpiringTokenAndOneTimeCode(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	ctx := context.Background()
	code := fake.IssueCode("x.myshopify.com")
	before := time.Now()
	tok, err := c.ExchangeCode(ctx, "x.myshopify.com", code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Scopes == "" {
		t.Errorf("token = %+v", tok)
	}
	if d := tok.AccessTokenExpiresAt.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("AccessTokenExpiresAt in %s, want ~1h", d)
	}
	if tok.RefreshTokenExpiresAt.Before(tok.AccessTokenExpiresAt) {
		t.Errorf("RefreshTokenExpiresAt %v before access expiry", tok.RefreshTokenExpiresAt)
	}
	if _, err := c.ShopInfo(ctx, "x.myshopify.com", tok.AccessToken); err != nil {
		t.Errorf("new token refused: %v", err)
	}
	if _, err := c.ExchangeCode(ctx, "x.myshopify.com", code); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("code reused: err = %v, want ErrInvalidGrant", err)
	}
}

func TestRefreshToken_Rotates_OldAcceptedUntilNewAccessTokenUsed(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	ctx := context.Background()
	t0, err := c.ExchangeCode(ctx, "x.myshopify.com", fake.IssueCode("x.myshopify.com"))
	if err != nil {
		t.Fatal(err)
	}
	t1, err := c.RefreshToken(ctx, "x.myshopify.com", t0.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if t1.RefreshToken == t0.RefreshToken || t1.AccessToken == t0.AccessToken {
		t.Fatal("refresh did not rotate the tokens")
	}
	// The answer was "lost": the old refresh token still works.
	t2, err := c.RefreshToken(ctx, "x.myshopify.com", t0.RefreshToken)
	if err != nil {
		t.Fatalf("old refresh token refused before the new access token was used: %v", err)
	}
	if _, err := c.ShopInfo(ctx, "x.myshopify.com", t2.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RefreshToken(ctx, "x.myshopify.com", t0.RefreshToken); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("old refresh token after the new one was used: err = %v, want ErrInvalidGrant", err)
	}
	if _, err := c.RefreshToken(ctx, "x.myshopify.com", t2.RefreshToken); err != nil {
		t.Errorf("current refresh token refused: %v", err)
	}
	if n := fake.RefreshCount("x.myshopify.com"); n != 3 {
		t.Errorf("RefreshCount = %d, want 3", n)
	}
}

func TestAccessToken_Expired_ErrUnauthorized(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	fake.SetAccessTokenTTL(-time.Second)
	tok, err := c.ExchangeCode(context.Background(), "x.myshopify.com", fake.IssueCode("x.myshopify.com"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ShopInfo(context.Background(), "x.myshopify.com", tok.AccessToken); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", err)
	}
}

func TestExchangeSessionToken(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	ctx := context.Background()
	tok, err := c.ExchangeSessionToken(ctx, "x.myshopify.com", fake.SessionToken("x.myshopify.com", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.AccessTokenExpiresAt.IsZero() {
		t.Errorf("token = %+v, want an expiring offline token", tok)
	}
	for name, st := range map[string]string{
		"expired":        fake.SessionToken("x.myshopify.com", -time.Minute),
		"other shop":     fake.SessionToken("y.myshopify.com", time.Minute),
		"not a jwt":      "garbage",
		"wrong secret":   signSession(t, "x.myshopify.com", "key", "other", time.Minute),
		"empty":          "",
		"wrong audience": signSession(t, "x.myshopify.com", "not-our-key", fake.APISecret, time.Minute),
	} {
		if _, err := c.ExchangeSessionToken(ctx, "x.myshopify.com", st); !errors.Is(err, ErrInvalidSubjectToken) {
			t.Errorf("%s: err = %v, want ErrInvalidSubjectToken", name, err)
		}
	}
}

func TestTokenEndpoints_BadClientSecret_ErrUnauthorized(t *testing.T) {
	t.Parallel()
	fake, _ := fakeClient(t)
	c := New(Config{APIKey: fake.APIKey, APISecret: "wrong", BaseURL: fake.BaseURL()})
	ctx := context.Background()
	if _, err := c.ExchangeCode(ctx, "x.myshopify.com", fake.IssueCode("x.myshopify.com")); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("ExchangeCode: err = %v, want ErrUnauthorized", err)
	}
	if _, err := c.RefreshToken(ctx, "x.myshopify.com", "shprt_x"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("RefreshToken: err = %v, want ErrUnauthorized", err)
	}
	if _, err := c.ExchangeSessionToken(ctx, "x.myshopify.com", fake.SessionToken("x.myshopify.com", time.Minute)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("ExchangeSessionToken: err = %v, want ErrUnauthorized", err)
	}
}

func TestTokenEndpoint_ServerErrors_Retryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status    int
		header    string
		wantRetry bool
		wantAfter time.Duration
	}{
		{http.StatusTooManyRequests, "2", true, 2 * time.Second},
		{http.StatusBadGateway, "", true, 0},
		{http.StatusServiceUnavailable, "", true, 0},
		{http.StatusBadRequest, "", false, 0},
	} {
		srv := stubServer(t, tc.status, tc.header, `<html>oops</html>`)
		c := New(Config{APIKey: "k", APISecret: "s", BaseURL: srv + "/{shop}"})
		_, err := c.ExchangeCode(context.Background(), "x.myshopify.com", "code")
		var re *RetryableError
		if errors.As(err, &re) != tc.wantRetry {
			t.Errorf("HTTP %d: err = %v, retryable = %v", tc.status, err, !tc.wantRetry)
			continue
		}
		if tc.wantRetry && re.RetryAfter != tc.wantAfter {
			t.Errorf("HTTP %d: RetryAfter = %s, want %s", tc.status, re.RetryAfter, tc.wantAfter)
		}
	}
	// Nobody listening: a network error is transient.
	c := New(Config{APIKey: "k", APISecret: "s", BaseURL: "http://127.0.0.1:1/{shop}"})
	_, err := c.RefreshToken(context.Background(), "x.myshopify.com", "r")
	if !errors.As(err, new(*RetryableError)) {
		t.Errorf("connection refused: err = %v, want RetryableError", err)
	}
}

func signSession(t *testing.T, shop, aud, secret string, ttl time.Duration) string {
	t.Helper()
	return signClaims(t, jwt.SigningMethodHS256, []byte(secret), sessionTestClaims(shop, aud, ttl))
}

func sessionTestClaims(shop, aud string, ttl time.Duration) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": aud, "sub": "1",
		"exp": now.Add(ttl).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(), "jti": "j", "sid": "s",
	}
}

func signClaims(t *testing.T, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifySessionToken(t *testing.T) {
	t.Parallel()
	c := New(Config{APIKey: "key", APISecret: "secret", APISecretPrevious: "old-secret"})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		m := sessionTestClaims("x.myshopify.com", "key", time.Minute)
		if mut != nil {
			mut(m)
		}
		return m
	}
	hs := func(mut func(jwt.MapClaims)) string {
		return signClaims(t, jwt.SigningMethodHS256, []byte("secret"), claims(mut))
	}
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", hs(nil), true},
		{"previous secret", signClaims(t, jwt.SigningMethodHS256, []byte("old-secret"), claims(nil)), true},
		{"expired within leeway", hs(func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-5 * time.Second).Unix() }), true},
		{"expired beyond leeway", hs(func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-30 * time.Second).Unix() }), false},
		{"no exp", hs(func(m jwt.MapClaims) { delete(m, "exp") }), false},
		{"not yet valid", hs(func(m jwt.MapClaims) { m["nbf"] = time.Now().Add(time.Minute).Unix() }), false},
		{"wrong aud", hs(func(m jwt.MapClaims) { m["aud"] = "someone-else" }), false},
		{"wrong secret", signClaims(t, jwt.SigningMethodHS256, []byte("nope"), claims(nil)), false},
		{"HS512", signClaims(t, jwt.SigningMethodHS512, []byte("secret"), claims(nil)), false},
		{"RS256", signClaims(t, jwt.SigningMethodRS256, rsaKey, claims(nil)), false},
		{"alg none", signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), false},
		{"iss names another shop", hs(func(m jwt.MapClaims) { m["iss"] = "https://y.myshopify.com/admin" }), false},
		{"dest not a shop", hs(func(m jwt.MapClaims) { m["dest"] = "https://evil.example"; m["iss"] = "https://evil.example/admin" }), false},
		{"dest over http", hs(func(m jwt.MapClaims) { m["dest"] = "http://x.myshopify.com" }), false},
		{"garbage", "a.b.c", false},
	} {
		shop, err := c.VerifySessionToken(tc.token)
		if tc.ok != (err == nil) || (tc.ok && shop != "x.myshopify.com") {
			t.Errorf("%s: shop %q, err %v; want ok=%v", tc.name, shop, err, tc.ok)
		}
	}
}

func TestVerifySessionToken_FakeSessionToken_Verifies(t *testing.T) {
	t.Parallel()
	fake := shopifytest.New(t)
	c := New(Config{APIKey: fake.APIKey, APISecret: fake.APISecret})
	if shop, err := c.VerifySessionToken(fake.SessionToken("x.myshopify.com", time.Minute)); err != nil || shop != "x.myshopify.com" {
		t.Errorf("%q, %v", shop, err)
	}
}
