package shopifytest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	grantRefresh       = "refresh_token"
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	typeIDToken        = "urn:ietf:params:oauth:token-type:id_token"
	typeOffline        = "urn:shopify:params:oauth:token-type:offline-access-token"
	defaultScopes      = "read_orders,read_customers,read_fulfillments,write_discounts"
)

// handleToken is POST /{shop}/admin/oauth/access_token: the code grant, the
// refresh grant and token exchange. It takes JSON or a form, like Shopify.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	status, resp := s.token(r, body)
	s.record(r, body, "", nil, status)
	writeJSON(w, status, resp)
}

func oauthError(code, desc string) map[string]any {
	return map[string]any{"error": code, "error_description": desc}
}

func (s *Server) token(r *http.Request, body []byte) (int, map[string]any) {
	p := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			return http.StatusBadRequest, oauthError("invalid_request", "body is not valid JSON")
		}
		for k, v := range raw {
			if str, ok := v.(string); ok {
				p[k] = str
			}
		}
	} else {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return http.StatusBadRequest, oauthError("invalid_request", "body is not a valid form")
		}
		for k := range q {
			p[k] = q.Get(k)
		}
	}

	shopDomain := r.PathValue("shop")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.shops[shopDomain]; !ok {
		return http.StatusNotFound, map[string]any{"errors": "Not Found"}
	}
	if p["client_id"] != s.APIKey || p["client_secret"] != s.APISecret {
		return http.StatusUnauthorized, oauthError("invalid_client", "Client authentication failed: wrong client_id or client_secret")
	}
	expiring := p["expiring"] == "1"

	switch p["grant_type"] {
	case "", "authorization_code":
		shop, ok := s.codes[p["code"]]
		if !ok || shop != shopDomain {
			return http.StatusBadRequest, oauthError("invalid_grant", "The authorization code was not found or was already used")
		}
		delete(s.codes, p["code"]) // one-time
		return http.StatusOK, s.grantResponse(shopDomain, expiring)

	case grantRefresh:
		rt, ok := s.refreshes[p["refresh_token"]]
		now := s.now()
		switch {
		case !ok || rt.shop != shopDomain || rt.revoked || now.After(rt.expires):
			return http.StatusBadRequest, oauthError("invalid_grant", "The refresh token is invalid, expired or revoked")
		case rt.successor != nil && rt.successor.used:
			return http.StatusBadRequest, oauthError("invalid_grant", "The refresh token was rotated and its replacement is in use")
		}
		if rt.successor != nil {
			// The app lost the previous answer and retries with the old
			// token: the unused replacement is dropped.
			rt.successor.refresh.revoked = true
		}
		// Using this grant's refresh token is using the replacement, which
		// retires its predecessor.
		rt.grant.used = true
		resp := s.grantResponse(shopDomain, true)
		rt.successor = s.tokens[resp["access_token"].(string)].grant
		s.shops[shopDomain].refreshes++
		return http.StatusOK, resp

	case grantTokenExchange:
		if p["subject_token_type"] != typeIDToken {
			return http.StatusBadRequest, oauthError("invalid_request", "subject_token_type must be "+typeIDToken)
		}
		if p["requested_token_type"] != typeOffline {
			return http.StatusBadRequest, oauthError("invalid_request", "the fake issues offline tokens only: requested_token_type must be "+typeOffline)
		}
		if !s.validSessionToken(p["subject_token"], shopDomain) {
			return http.StatusBadRequest, oauthError("invalid_subject_token", "The subject token is invalid or expired")
		}
		return http.StatusOK, s.grantResponse(shopDomain, expiring)
	}
	return http.StatusBadRequest, oauthError("unsupported_grant_type", "unsupported grant_type "+p["grant_type"])
}

func (s *Server) validSessionToken(tok, shop string) bool {
	var claims struct {
		jwt.RegisteredClaims
		Dest string `json:"dest"`
	}
	_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return []byte(s.APISecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(s.APIKey), jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second), jwt.WithTimeFunc(s.now))
	return err == nil && claims.Dest == "https://"+shop
}

// grantResponse issues tokens and shapes Shopify's answer; callers hold s.mu.
func (s *Server) grantResponse(shop string, expiring bool) map[string]any {
	at, rt := s.issue(shop, expiring)
	resp := map[string]any{"access_token": at, "scope": defaultScopes}
	if expiring {
		resp["expires_in"] = int64(s.accessTTL / time.Second)
		resp["refresh_token"] = rt
		resp["refresh_token_expires_in"] = int64(s.refreshTTL / time.Second)
	}
	return resp
}

// issue mints an access token (and a refresh token when expiring); callers
// hold s.mu.
func (s *Server) issue(shop string, expiring bool) (access, refresh string) {
	now := s.now()
	g := &grant{}
	access = "shpat_" + randHex(16)
	g.access = &accessToken{shop: shop, grant: g}
	if expiring {
		g.access.expires = now.Add(s.accessTTL)
		refresh = "shprt_" + randHex(16)
		g.refresh = &refreshToken{shop: shop, expires: now.Add(s.refreshTTL), grant: g}
		s.refreshes[refresh] = g.refresh
	}
	s.tokens[access] = g.access
	return access, refresh
}

// authorize checks X-Shopify-Access-Token for shop and marks its grant
// used; callers hold s.mu.
func (s *Server) authorize(r *http.Request, shop string) bool {
	t, ok := s.tokens[strings.TrimSpace(r.Header.Get("X-Shopify-Access-Token"))]
	if !ok || t.shop != shop || t.revoked || (!t.expires.IsZero() && s.now().After(t.expires)) {
		return false
	}
	t.grant.used = true
	return true
}
