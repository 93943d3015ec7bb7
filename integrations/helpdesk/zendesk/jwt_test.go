package zendesk_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/zendesk"
)

const audience = "https://doorstep.test/helpdesk/zendesk/sidebar"

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifySidebarJWT(t *testing.T) {
	t.Parallel()
	key, other := rsaKey(t), rsaKey(t)
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": "acme.zendesk.com", "sub": "user-123", "aud": audience,
			"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(4 * time.Minute).Unix(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	good := sign(t, jwt.SigningMethodRS256, key, claims(nil))
	forged := good[:len(good)-4] + "AAAA"
	if forged == good {
		forged = good[:len(good)-4] + "BBBB"
	}
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"good", good, true},
		{"expired 5s ago: within leeway", sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-5 * time.Second).Unix() })), true},
		{"aud as a list", sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["aud"] = []string{"x", audience} })), true},
		{"forged signature", forged, false},
		{"signed by another key", sign(t, jwt.SigningMethodRS256, other, claims(nil)), false},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["aud"] = "https://evil.test/" })), false},
		{"no audience", sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { delete(c, "aud") })), false},
		{"expired", sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), false},
		{"no exp", sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"issued in the future", sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), false},
		{"HS256 with the public key as secret", sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&key.PublicKey), claims(nil)), false},
		{"RS512", sign(t, jwt.SigningMethodRS512, key, claims(nil)), false},
		{"garbage", "not.a.jwt", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := zendesk.VerifySidebarJWT(tt.token, &key.PublicKey, audience, now)
			if !tt.ok {
				if !errors.Is(err, helpdesk.ErrBadSignature) {
					t.Fatalf("err = %v, want ErrBadSignature", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.Issuer != "acme.zendesk.com" || got.Subject != "user-123" || got.ExpiresAt.IsZero() || got.Claims["iss"] != "acme.zendesk.com" {
				t.Errorf("claims = %+v", got)
			}
		})
	}
	t.Run("no key or audience configured", func(t *testing.T) {
		t.Parallel()
		if _, err := zendesk.VerifySidebarJWT(good, nil, audience, now); !errors.Is(err, helpdesk.ErrBadSignature) {
			t.Errorf("nil key: err = %v", err)
		}
		if _, err := zendesk.VerifySidebarJWT(good, &key.PublicKey, "", now); !errors.Is(err, helpdesk.ErrBadSignature) {
			t.Errorf("empty audience: err = %v", err)
		}
	})
}

func TestParsePublicKeyPEM(t *testing.T) {
	t.Parallel()
	key := rsaKey(t)
	pkix, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"PKIX":    {Type: "PUBLIC KEY", Bytes: pkix},
		"PKCS #1": {Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)},
	} {
		got, err := zendesk.ParsePublicKeyPEM(pem.EncodeToMemory(block))
		if err != nil || !got.Equal(&key.PublicKey) {
			t.Errorf("%s: key %v, err %v", name, got != nil, err)
		}
	}
	if _, err := zendesk.ParsePublicKeyPEM([]byte("not pem")); err == nil {
		t.Error("parsed garbage")
	}
}
