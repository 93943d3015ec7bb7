package app

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/models"
)

// sessionClaims are the claims App Bridge puts in a session token for shop,
// valid now for a minute; tests then spoil one of them.
func sessionClaims(apiKey, shop string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  "https://" + shop + "/admin",
		"dest": "https://" + shop,
		"aud":  apiKey,
		"sub":  "42",
		"exp":  now.Add(time.Minute).Unix(),
		"nbf":  now.Unix(),
		"iat":  now.Unix(),
		"jti":  "jti-1",
		"sid":  "sid-1",
	}
}

func signHS(t *testing.T, method jwt.SigningMethod, secret string, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAdminAPI_BadSessionTokens_401WithRetryHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "auth.myshopify.com"
	e.installShop(dom)
	gone := e.installShop("gone.myshopify.com")
	if err := e.app.store.InTx(context.Background(), func(tx *models.Tx) error {
		_, err := tx.MarkUninstalled(gone.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	key, secret := e.fake.APIKey, e.fake.APISecret
	now := time.Now()
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := sessionClaims(key, dom, now)
		mod(c)
		return c
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, sessionClaims(key, dom, now)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
	}{
		{"no header", ""},
		{"no token", "Bearer "},
		{"not bearer", "Basic " + signHS(t, jwt.SigningMethodHS256, secret, sessionClaims(key, dom, now))},
		{"garbage", "Bearer not.a.jwt"},
		{"wrong secret", "Bearer " + signHS(t, jwt.SigningMethodHS256, "not-the-secret", sessionClaims(key, dom, now))},
		{"alg none", "Bearer " + none},
		{"HS512", "Bearer " + signHS(t, jwt.SigningMethodHS512, secret, sessionClaims(key, dom, now))},
		{"expired beyond leeway", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(func(c jwt.MapClaims) {
			c["exp"], c["nbf"], c["iat"] = now.Add(-15*time.Second).Unix(), now.Add(-75*time.Second).Unix(), now.Add(-75*time.Second).Unix()
		}))},
		{"no exp", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"future nbf", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(30 * time.Second).Unix() }))},
		{"wrong aud", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(func(c jwt.MapClaims) { c["aud"] = "another-app" }))},
		{"dest not myshopify", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(func(c jwt.MapClaims) {
			c["dest"], c["iss"] = "https://evil.example.com", "https://evil.example.com/admin"
		}))},
		{"dest lookalike", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(func(c jwt.MapClaims) {
			c["dest"], c["iss"] = "https://auth.myshopify.com.evil.example", "https://auth.myshopify.com.evil.example/admin"
		}))},
		{"dest with a path", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(func(c jwt.MapClaims) {
			c["dest"] = "https://" + dom + "/admin"
		}))},
		{"iss names another shop", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, with(func(c jwt.MapClaims) {
			c["iss"] = "https://other.myshopify.com/admin"
		}))},
		{"unknown shop", "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, sessionClaims(key, "ghost.myshopify.com", now))},
		{"uninstalled shop", "Bearer " + e.fake.SessionToken("gone.myshopify.com", time.Minute)},
	}
	paths := []struct{ method, path string }{
		{"GET", "/api/admin/orders"},
		{"GET", "/api/admin/orders/1"},
		{"GET", "/api/admin/deliveries"},
		{"POST", "/api/admin/deliveries/1/replay"},
	}
	for _, c := range cases {
		for _, p := range paths {
			req, err := http.NewRequest(p.method, e.srv.URL+p.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Shopify-Retry-Invalid-Session-Request") != "1" {
				t.Errorf("%s %s with %s: status %d, retry header %q; want 401 and \"1\"", p.method, p.path, c.name,
					resp.StatusCode, resp.Header.Get("X-Shopify-Retry-Invalid-Session-Request"))
			}
		}
	}
	r := e.callAdmin("GET", "/api/admin/orders", signHS(t, jwt.SigningMethodHS256, "not-the-secret", sessionClaims(key, dom, now)))
	r.isError(t, "wrong secret", http.StatusUnauthorized, "unauthorized")
}

func TestAdminAPI_GoodSessionTokens_Accepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "good.myshopify.com"
	e.installShop(dom)
	key, secret := e.fake.APIKey, e.fake.APISecret
	now := time.Now()
	withinLeeway := sessionClaims(key, dom, now)
	withinLeeway["exp"] = now.Add(-5 * time.Second).Unix()
	withinLeeway["nbf"] = now.Add(-65 * time.Second).Unix()
	upper := sessionClaims(key, dom, now)
	upper["dest"], upper["iss"] = "https://GOOD.myshopify.com", "https://GOOD.myshopify.com/admin"

	for name, header := range map[string]string{
		"fake's token":           "Bearer " + e.fake.SessionToken(dom, time.Minute),
		"expired within leeway":  "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, withinLeeway),
		"nbf skew within leeway": "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, jwt.MapClaims(mod(sessionClaims(key, dom, now), "nbf", now.Add(5*time.Second).Unix()))),
		"lowercase scheme":       "bearer " + e.fake.SessionToken(dom, time.Minute),
		"upper-case shop":        "Bearer " + signHS(t, jwt.SigningMethodHS256, secret, upper),
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/admin/orders", nil)
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, want 200", name, resp.StatusCode)
		}
	}
}

func mod(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	return c
}
