package shopify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Checkout and customer account UI extensions call the app with a session
// token from shopify.sessionToken.get(): an HS256 JWT signed with the app
// secret, aud = API key, a lifetime of about five minutes, dest naming the
// shop (a bare domain or an https URL, depending on the surface) and sub the
// customer's GID when the buyer is logged in and the app may read customers.
// Unlike App Bridge tokens there is no iss to cross-check.

// maxExtensionTokenLife bounds how far in the future a token's exp may be.
// Shopify's are valid for five minutes; a token that claims much longer was
// not minted by a checkout, whatever its signature says.
const maxExtensionTokenLife = 10 * time.Minute

// ExtensionSession is what a verified extension session token vouches for.
type ExtensionSession struct {
	Shop string // normalized x.myshopify.com
	// CustomerID is the logged-in customer's platform id, 0 for a guest
	// (no sub).
	CustomerID int64
}

// ErrBadExtensionToken: the extension session token does not verify. It is
// wrapped with the reason; answer 401 whatever it is.
var ErrBadExtensionToken = errors.New("shopify: invalid extension session token")

type extensionClaims struct {
	jwt.RegisteredClaims
	Dest string `json:"dest"`
}

// VerifyExtensionToken checks a checkout or customer account UI extension's
// session token: HS256 with the app secret (or the previous one during a
// rotation), aud = API key, exp required and at most ten minutes ahead,
// exp/nbf with 10 s leeway, dest a myshopify shop, sub absent or a customer
// GID. Any error wraps ErrBadExtensionToken.
//
// An App Bridge (admin) token fails here: its sub is a staff user id, not a
// customer GID, so it can never be read as "customer 42".
func (c *Client) VerifyExtensionToken(token string) (ExtensionSession, error) {
	var claims extensionClaims
	if err := c.parseAppToken(token, func() jwt.Claims { claims = extensionClaims{}; return &claims }); err != nil {
		return ExtensionSession{}, fmt.Errorf("%w: %w", ErrBadExtensionToken, err)
	}
	if claims.ExpiresAt.Sub(c.now()) > maxExtensionTokenLife {
		return ExtensionSession{}, fmt.Errorf("%w: exp %s is too far ahead", ErrBadExtensionToken, claims.ExpiresAt.UTC().Format(time.RFC3339))
	}
	shop, err := extensionDest(claims.Dest)
	if err != nil {
		return ExtensionSession{}, err
	}
	out := ExtensionSession{Shop: shop}
	if claims.Subject != "" {
		id, err := CustomerIDFromGID(claims.Subject)
		if err != nil {
			return ExtensionSession{}, fmt.Errorf("%w: sub: %w", ErrBadExtensionToken, err)
		}
		out.CustomerID = id
	}
	return out, nil
}

// extensionDest reads dest: "x.myshopify.com" or "https://x.myshopify.com"
// (with at most a trailing slash). NormalizeShopDomain alone would also take
// http:// and admin.shopify.com/store/x, which no token carries.
func extensionDest(dest string) (string, error) {
	d := dest
	if rest, ok := strings.CutPrefix(d, "https://"); ok {
		d = strings.TrimSuffix(rest, "/")
	}
	if d == "" || strings.ContainsAny(d, "/:@?#") {
		return "", fmt.Errorf("%w: dest %q is not a shop", ErrBadExtensionToken, dest)
	}
	shop, err := NormalizeShopDomain(d)
	if err != nil {
		return "", fmt.Errorf("%w: dest: %w", ErrBadExtensionToken, err)
	}
	return shop, nil
}

// CustomerIDFromGID turns "gid://shopify/Customer/123" into 123.
func CustomerIDFromGID(gid string) (int64, error) {
	return idFromGID(gid, "Customer")
}

// idFromGID reads the positive numeric id of a GID of the given type.
func idFromGID(gid, typ string) (int64, error) {
	raw, ok := strings.CutPrefix(gid, "gid://shopify/"+typ+"/")
	if !ok {
		return 0, fmt.Errorf("%q is not a %s GID", gid, typ)
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw {
		return 0, fmt.Errorf("%q is not a %s GID", gid, typ)
	}
	return id, nil
}

// OrderIDFromExtension reads the order id an extension sends: the numeric
// id, or the GID it has — "gid://shopify/Order/123" on the order status
// page, "gid://shopify/OrderIdentity/123" on the thank-you page (the same
// number once the order exists).
func OrderIDFromExtension(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "gid://") {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return 0, fmt.Errorf("%q is not an order id", s)
		}
		return id, nil
	}
	for _, typ := range []string{"Order", "OrderIdentity"} {
		if id, err := idFromGID(s, typ); err == nil {
			return id, nil
		}
	}
	return 0, fmt.Errorf("%q is not an order GID", s)
}
