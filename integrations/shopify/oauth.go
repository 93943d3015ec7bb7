package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/models"
)

// installSkew is how far a signed query's timestamp may be from now;
// Shopify's own library uses 90 s.
const installSkew = 90 * time.Second

// VerifyInstallQuery checks a query Shopify signed (the install request and
// the OAuth callback): the hex hmac over the sorted query without hmac and
// signature, in constant time, with the current or previous secret; a
// timestamp within 90 s of now; a valid shop domain. It returns the
// normalized shop, or ErrBadHMAC, ErrStaleTimestamp or ErrBadShop (wrapped,
// with a message fit for a 4xx answer).
func (c *Client) VerifyInstallQuery(q url.Values, now time.Time) (string, error) {
	if q.Get("hmac") == "" {
		return "", fmt.Errorf("%w: hmac parameter missing", ErrBadHMAC)
	}
	// go-shopify reads the query back from a URL; Encode sorts by key, which
	// is the order Shopify signs in.
	u := &url.URL{RawQuery: q.Encode()}
	ok := false
	for _, s := range c.secrets() {
		good, err := goshopify.App{ApiKey: c.cfg.APIKey, ApiSecret: s}.VerifyAuthorizationURL(u)
		if err == nil && good {
			ok = true
			break
		}
	}
	if !ok {
		return "", ErrBadHMAC
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: timestamp %q", ErrStaleTimestamp, q.Get("timestamp"))
	}
	if d := now.Sub(time.Unix(ts, 0)); d > installSkew || d < -installSkew {
		return "", fmt.Errorf("%w: %s off", ErrStaleTimestamp, d.Round(time.Second))
	}
	shop, err := NormalizeShopDomain(q.Get("shop"))
	if err != nil {
		return "", err
	}
	return shop, nil
}

// AuthorizeURL is where to send the merchant to grant Doorstep's scopes.
// shop must already be normalized; state is the nonce kept in the signed
// cookie.
func (c *Client) AuthorizeURL(shop, state, redirectURI string) string {
	v := url.Values{
		"client_id":    {c.cfg.APIKey},
		"scope":        {strings.Join(c.cfg.Scopes, ",")},
		"redirect_uri": {redirectURI},
		"state":        {state},
	}
	return c.shopURL(shop) + "/admin/oauth/authorize?" + v.Encode()
}

// ExchangeCode trades the callback's authorization code for an expiring
// offline token and its refresh token. Errors: ErrInvalidGrant (code used or
// unknown), ErrUnauthorized (bad app credentials), *RetryableError.
func (c *Client) ExchangeCode(ctx context.Context, shop, code string) (models.Token, error) {
	return c.tokenRequest(ctx, shop, "exchange code", map[string]string{
		"client_id":     c.cfg.APIKey,
		"client_secret": c.cfg.APISecret,
		"code":          code,
		"expiring":      "1",
	})
}

// RefreshToken trades a refresh token for a new access token and a new
// refresh token (Shopify rotates it on every use: store both). Errors as
// ExchangeCode.
func (c *Client) RefreshToken(ctx context.Context, shop, refreshToken string) (models.Token, error) {
	return c.tokenRequest(ctx, shop, "refresh token", map[string]string{
		"client_id":     c.cfg.APIKey,
		"client_secret": c.cfg.APISecret,
		"grant_type":    "refresh_token",
		"refresh_token": refreshToken,
	})
}

// ExchangeSessionToken trades an App Bridge session token for an expiring
// offline token (the Shopify-managed install). Validate the session token
// with VerifySessionToken first. Returns ErrInvalidSubjectToken (wrapped)
// when Shopify refuses the session token: answer 401 with
// X-Shopify-Retry-Invalid-Session-Request so App Bridge retries.
func (c *Client) ExchangeSessionToken(ctx context.Context, shop, sessionToken string) (models.Token, error) {
	return c.tokenRequest(ctx, shop, "token exchange", map[string]string{
		"client_id":            c.cfg.APIKey,
		"client_secret":        c.cfg.APISecret,
		"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
		"subject_token":        sessionToken,
		"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
		"requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
		"expiring":             "1",
	})
}

type tokenResponse struct {
	AccessToken           string `json:"access_token"`
	Scope                 string `json:"scope"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
}

type tokenError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// maxTokenBody caps what we read from the token endpoint; its answers are
// a few hundred bytes.
const maxTokenBody = 1 << 20

func (c *Client) tokenRequest(ctx context.Context, shop, what string, body map[string]string) (models.Token, error) {
	shop, err := NormalizeShopDomain(shop)
	if err != nil {
		return models.Token{}, fmt.Errorf("%s: %w", what, err)
	}
	js, err := json.Marshal(body)
	if err != nil {
		return models.Token{}, fmt.Errorf("%s: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.shopURL(shop)+"/admin/oauth/access_token", bytes.NewReader(js))
	if err != nil {
		return models.Token{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return models.Token{}, c.transportError(ctx, what+" for "+shop, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return models.Token{}, c.transportError(ctx, what+" for "+shop, err)
	}
	if resp.StatusCode != http.StatusOK {
		return models.Token{}, tokenStatusError(what+" for "+shop, resp, raw)
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return models.Token{}, fmt.Errorf("%s for %s: decode answer: %w", what, shop, err)
	}
	if tr.AccessToken == "" {
		return models.Token{}, fmt.Errorf("%s for %s: answer has no access_token", what, shop)
	}
	t := models.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, Scopes: tr.Scope}
	// Expiry counts from when we asked, so a slow answer errs early.
	if tr.ExpiresIn > 0 {
		t.AccessTokenExpiresAt = start.Add(time.Duration(tr.ExpiresIn) * time.Second).UTC()
	}
	if tr.RefreshTokenExpiresIn > 0 {
		t.RefreshTokenExpiresAt = start.Add(time.Duration(tr.RefreshTokenExpiresIn) * time.Second).UTC()
	}
	return t, nil
}

func tokenStatusError(what string, resp *http.Response, raw []byte) error {
	var te tokenError
	_ = json.Unmarshal(raw, &te) // an HTML error page leaves te empty
	reason := te.Error
	if te.ErrorDescription != "" {
		reason += ": " + te.ErrorDescription
	}
	if reason == "" {
		reason = strings.TrimSpace(string(raw))
		if len(reason) > 200 {
			reason = reason[:200]
		}
	}
	base := fmt.Errorf("%s: HTTP %d: %s", what, resp.StatusCode, reason)
	switch {
	case te.Error == "invalid_subject_token":
		return fmt.Errorf("%w: %w", ErrInvalidSubjectToken, base)
	case te.Error == "invalid_grant":
		return fmt.Errorf("%w: %w", ErrInvalidGrant, base)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrUnauthorized, base)
	case retryableStatus(resp.StatusCode):
		return &RetryableError{RetryAfter: retryAfter(resp.Header.Get("Retry-After")), Err: base}
	}
	return base
}

// transportError classifies a failure to get an answer at all: transient,
// unless our own context ended (then retrying now is pointless).
func (c *Client) transportError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return &RetryableError{Err: fmt.Errorf("%s: %w", what, err)}
}

// retryAfter reads a Retry-After header in seconds (Shopify sends seconds,
// sometimes fractional).
func retryAfter(h string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(h), 64)
	if err != nil || f <= 0 || f > 3600 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// sessionLeeway absorbs clock skew between Shopify and us; session tokens
// live only a minute.
const sessionLeeway = 10 * time.Second

type sessionClaims struct {
	jwt.RegisteredClaims
	Dest string `json:"dest"`
	Sid  string `json:"sid,omitempty"`
}

// parseAppToken parses a token Shopify signed for the app (App Bridge's and
// the UI extensions' session tokens): HS256 with the app secret, or the
// previous one during a rotation, aud = API key, exp required, 10 s leeway.
// fresh returns the claims to fill, blank, for each secret tried.
func (c *Client) parseAppToken(token string, fresh func() jwt.Claims) error {
	var err error
	for _, s := range c.secrets() {
		key := []byte(s)
		_, err = jwt.ParseWithClaims(token, fresh(), func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithValidMethods([]string{"HS256"}),
			jwt.WithAudience(c.cfg.APIKey),
			jwt.WithLeeway(sessionLeeway),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(c.now),
		)
		// Only a signature mismatch is worth trying the previous secret on.
		if err == nil || !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			return err
		}
	}
	return err
}

// VerifySessionToken checks an App Bridge session token (HS256 with the app
// secret, aud = API key, exp required, 10 s leeway) and returns the shop it
// is for, taken from dest and cross-checked with iss. Any error means
// "answer 401 / bounce".
func (c *Client) VerifySessionToken(token string) (string, error) {
	var claims sessionClaims
	if err := c.parseAppToken(token, func() jwt.Claims { claims = sessionClaims{}; return &claims }); err != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	dest, err := url.Parse(claims.Dest)
	if err != nil || dest.Scheme != "https" || dest.Host == "" || (dest.Path != "" && dest.Path != "/") {
		return "", fmt.Errorf("session token: dest %q is not https://{shop}", claims.Dest)
	}
	shop, err := NormalizeShopDomain(dest.Host)
	if err != nil {
		return "", fmt.Errorf("session token: dest: %w", err)
	}
	if !strings.EqualFold(claims.Issuer, "https://"+shop+"/admin") {
		return "", fmt.Errorf("session token: iss %q does not name dest shop %s", claims.Issuer, shop)
	}
	return shop, nil
}
