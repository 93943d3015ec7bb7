package zendesk

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

// JWTLeeway is the clock skew allowed on exp, nbf and iat.
const JWTLeeway = 10 * time.Second

// SidebarClaims are the verified claims of a sidebar first-load token.
// Zendesk's claim names beyond the registered ones are not documented
// where we could check, so they are passed through in Claims.
type SidebarClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ExpiresAt time.Time
	Claims    map[string]any // every claim, as decoded
}

// VerifySidebarJWT verifies the token Zendesk posts in the "token" form
// field when a signedUrls app loads: RS256 only, signed by pub, aud
// containing audience, exp present and not past (JWTLeeway allowed), nbf
// and iat not in the future. Any failure returns an error wrapping
// helpdesk.ErrBadSignature.
func VerifySidebarJWT(token string, pub *rsa.PublicKey, audience string, now time.Time) (SidebarClaims, error) {
	bad := func(err error) (SidebarClaims, error) {
		return SidebarClaims{}, fmt.Errorf("zendesk sidebar token: %w: %w", helpdesk.ErrBadSignature, err)
	}
	if pub == nil {
		return bad(errors.New("no public key"))
	}
	if audience == "" {
		return bad(errors.New("no audience to check"))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims,
		func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(JWTLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return bad(err)
	}
	out := SidebarClaims{Claims: map[string]any(claims)}
	out.Issuer, _ = claims.GetIssuer()
	out.Subject, _ = claims.GetSubject()
	aud, _ := claims.GetAudience()
	out.Audience = []string(aud)
	if exp, _ := claims.GetExpirationTime(); exp != nil {
		out.ExpiresAt = exp.Time
	}
	return out, nil
}

// ParsePublicKeyPEM reads an RSA public key from PEM: a PKIX "PUBLIC KEY",
// a PKCS #1 "RSA PUBLIC KEY", or a certificate.
func ParsePublicKeyPEM(pemBytes []byte) (*rsa.PublicKey, error) {
	k, err := jwt.ParseRSAPublicKeyFromPEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("zendesk public key: %w", err)
	}
	return k, nil
}
