package shopify

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func extensionTestClaims(dest, sub string) jwt.MapClaims {
	now := time.Now()
	m := jwt.MapClaims{
		"dest": dest, "aud": "key",
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Add(-time.Second).Unix(), "jti": "j",
	}
	if sub != "" {
		m["sub"] = sub
	}
	return m
}

func TestVerifyExtensionToken(t *testing.T) {
	t.Parallel()
	c := New(Config{APIKey: "key", APISecret: "secret", APISecretPrevious: "old-secret"})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		m := extensionTestClaims("x.myshopify.com", "gid://shopify/Customer/9007199254740993")
		if mut != nil {
			mut(m)
		}
		return m
	}
	hs := func(mut func(jwt.MapClaims)) string {
		return signClaims(t, jwt.SigningMethodHS256, []byte("secret"), claims(mut))
	}
	const customer = int64(9007199254740993)
	for _, tc := range []struct {
		name     string
		token    string
		ok       bool
		customer int64
	}{
		{"logged in, bare dest", hs(nil), true, customer},
		{"https dest", hs(func(m jwt.MapClaims) { m["dest"] = "https://x.myshopify.com" }), true, customer},
		{"https dest with slash, upper case", hs(func(m jwt.MapClaims) { m["dest"] = "https://X.myshopify.com/" }), true, customer},
		{"guest: no sub", hs(func(m jwt.MapClaims) { delete(m, "sub") }), true, 0},
		{"previous secret", signClaims(t, jwt.SigningMethodHS256, []byte("old-secret"), claims(nil)), true, customer},
		{"expired within leeway", hs(func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-5 * time.Second).Unix() }), true, customer},

		{"expired beyond leeway", hs(func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-30 * time.Second).Unix() }), false, 0},
		{"no exp", hs(func(m jwt.MapClaims) { delete(m, "exp") }), false, 0},
		{"exp a day ahead", hs(func(m jwt.MapClaims) { m["exp"] = time.Now().Add(24 * time.Hour).Unix() }), false, 0},
		{"not yet valid", hs(func(m jwt.MapClaims) { m["nbf"] = time.Now().Add(time.Minute).Unix() }), false, 0},
		{"wrong aud", hs(func(m jwt.MapClaims) { m["aud"] = "someone-else" }), false, 0},
		{"no aud", hs(func(m jwt.MapClaims) { delete(m, "aud") }), false, 0},
		{"wrong secret", signClaims(t, jwt.SigningMethodHS256, []byte("nope"), claims(nil)), false, 0},
		{"HS512", signClaims(t, jwt.SigningMethodHS512, []byte("secret"), claims(nil)), false, 0},
		{"RS256", signClaims(t, jwt.SigningMethodRS256, rsaKey, claims(nil)), false, 0},
		{"alg none", signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), false, 0},
		{"dest not a shop", hs(func(m jwt.MapClaims) { m["dest"] = "evil.example" }), false, 0},
		{"dest over http", hs(func(m jwt.MapClaims) { m["dest"] = "http://x.myshopify.com" }), false, 0},
		{"dest with a path", hs(func(m jwt.MapClaims) { m["dest"] = "https://x.myshopify.com/admin" }), false, 0},
		{"dest admin URL", hs(func(m jwt.MapClaims) { m["dest"] = "admin.shopify.com/store/x" }), false, 0},
		{"dest with userinfo", hs(func(m jwt.MapClaims) { m["dest"] = "https://evil.example@x.myshopify.com" }), false, 0},
		{"no dest", hs(func(m jwt.MapClaims) { delete(m, "dest") }), false, 0},
		{"admin token's staff sub", hs(func(m jwt.MapClaims) { m["sub"] = "42" }), false, 0},
		{"sub another type", hs(func(m jwt.MapClaims) { m["sub"] = "gid://shopify/StaffMember/42" }), false, 0},
		{"sub not a number", hs(func(m jwt.MapClaims) { m["sub"] = "gid://shopify/Customer/abc" }), false, 0},
		{"sub zero", hs(func(m jwt.MapClaims) { m["sub"] = "gid://shopify/Customer/0" }), false, 0},
		{"garbage", "a.b.c", false, 0},
		{"empty", "", false, 0},
	} {
		got, err := c.VerifyExtensionToken(tc.token)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %+v, err %v; want ok=%v", tc.name, got, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBadExtensionToken) {
				t.Errorf("%s: err %v does not wrap ErrBadExtensionToken", tc.name, err)
			}
			continue
		}
		if got.Shop != "x.myshopify.com" || got.CustomerID != tc.customer {
			t.Errorf("%s: %+v, want x.myshopify.com customer %d", tc.name, got, tc.customer)
		}
	}
}

func TestOrderIDFromExtension(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"5001":                                 5001,
		" 5001 ":                               5001,
		"gid://shopify/Order/5001":             5001,
		"gid://shopify/OrderIdentity/5001":     5001,
		"gid://shopify/Order/9007199254740993": 9007199254740993,
		"":                                     0,
		"-1":                                   0,
		"0":                                    0,
		"abc":                                  0,
		"gid://shopify/Customer/5001":          0,
		"gid://shopify/Order/":                 0,
		"gid://shopify/Order/05001":            0,
		"gid://shopify/Order/1/2":              0,
	} {
		got, err := OrderIDFromExtension(in)
		if got != want || (want == 0) != (err != nil) {
			t.Errorf("OrderIDFromExtension(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func FuzzVerifyExtensionToken(f *testing.F) {
	c := New(Config{APIKey: "key", APISecret: "secret"})
	f.Add(signClaimsF(f, extensionTestClaims("x.myshopify.com", "gid://shopify/Customer/1")))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		s, err := c.VerifyExtensionToken(token)
		if err != nil {
			return
		}
		if _, nerr := NormalizeShopDomain(s.Shop); nerr != nil || s.CustomerID < 0 {
			t.Fatalf("verified token gave %+v", s)
		}
	})
}

func signClaimsF(f *testing.F, c jwt.Claims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("secret"))
	if err != nil {
		f.Fatal(err)
	}
	return s
}
