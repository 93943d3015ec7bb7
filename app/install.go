package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/models"
)

const stateCookie = "doorstep_oauth_state"

// handleInstall starts the authorization-code install: verify Shopify's
// signed query, set a signed state nonce cookie, redirect to the authorize
// URL. Every rejection is a 4xx with a clear message and stores nothing.
func (a *App) handleInstall() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, err := a.shopify.VerifyInstallQuery(c.Request.URL.Query(), a.now())
		if err != nil {
			installError(c, err)
			return
		}
		nonce := make([]byte, 16)
		if _, err := rand.Read(nonce); err != nil {
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		state := hex.EncodeToString(nonce)
		a.setStateCookie(c, shop, state)
		c.Redirect(http.StatusFound, a.shopify.AuthorizeURL(shop, state, a.cfg.AppURL+"/auth/shopify/callback"))
	}
}

// handleCallback finishes the install: verify HMAC, timestamp and state;
// exchange the code for an expiring offline token; read the shop and
// register webhooks; only then store the shop, so a failure stores nothing.
func (a *App) handleCallback() gin.HandlerFunc {
	return func(c *gin.Context) {
		q := c.Request.URL.Query()
		shop, err := a.shopify.VerifyInstallQuery(q, a.now())
		if err != nil {
			installError(c, err)
			return
		}
		if !a.checkStateCookie(c, shop, q.Get("state")) {
			apiError(c, http.StatusForbidden, "bad_state", "the install state does not match: start the install again from Shopify")
			return
		}
		a.clearStateCookie(c)
		code := q.Get("code")
		if code == "" {
			apiError(c, http.StatusBadRequest, "missing_code", "the callback has no authorization code")
			return
		}
		tok, err := a.shopify.ExchangeCode(c.Request.Context(), shop, code)
		if err != nil {
			a.log.Warn("code exchange failed", "shop", shop, "err", err)
			apiError(c, http.StatusBadRequest, "exchange_failed", "Shopify refused the authorization code: start the install again")
			return
		}
		if _, err := a.completeInstall(c.Request.Context(), shop, tok); err != nil {
			a.log.Error("install failed", "shop", shop, "err", err)
			apiError(c, http.StatusBadGateway, "install_failed", "could not finish the install with Shopify: please try again")
			return
		}
		a.log.Info("shop installed", "shop", shop)
		c.Redirect(http.StatusFound, a.cfg.ShopBaseURL(shop)+"/admin/apps/"+a.cfg.ShopifyAPIKey)
	}
}

// completeInstall reads the shop, registers webhooks (idempotently) and
// stores the shop with its token. A reinstall reuses the shop's row.
func (a *App) completeInstall(ctx context.Context, shop string, tok models.Token) (models.Shop, error) {
	info, err := a.shopify.ShopInfo(ctx, shop, tok.AccessToken)
	if err != nil {
		return models.Shop{}, fmt.Errorf("read shop: %w", err)
	}
	info.Platform, info.Domain = models.PlatformShopify, shop
	if err := a.shopify.RegisterWebhooks(ctx, shop, tok.AccessToken, a.cfg.AppURL+"/webhooks/shopify", shopify.Topics); err != nil {
		return models.Shop{}, fmt.Errorf("register webhooks: %w", err)
	}
	saved, err := a.store.SaveInstall(ctx, info, tok)
	if err != nil {
		return models.Shop{}, fmt.Errorf("save install: %w", err)
	}
	// Import the shop's history (no triggers). A failure here is not an
	// install failure: the scheduler starts any missing backfill.
	if err := a.StartBackfill(ctx, saved); err != nil {
		a.log.Warn("start backfill", "shop", shop, "err", err)
	}
	return saved, nil
}

func installError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, shopify.ErrBadHMAC):
		apiError(c, http.StatusUnauthorized, "bad_hmac", "the request is not signed by Shopify")
	case errors.Is(err, shopify.ErrStaleTimestamp):
		apiError(c, http.StatusBadRequest, "stale_request", "the request is too old (or from the future): start the install again from Shopify")
	case errors.Is(err, shopify.ErrBadShop):
		apiError(c, http.StatusBadRequest, "bad_shop", "the shop parameter is not a valid myshopify.com domain")
	default:
		apiError(c, http.StatusBadRequest, "bad_request", err.Error())
	}
}

// The state cookie is "<nonce>.<mac>", the MAC binding nonce and shop under
// the app secret, so it can't be forged or replayed for another shop.
func (a *App) stateMAC(shop, nonce string) string {
	m := hmac.New(sha256.New, []byte(a.cfg.ShopifyAPISecret))
	m.Write([]byte("oauth-state\x00" + shop + "\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *App) secureCookies() bool { return strings.HasPrefix(a.cfg.AppURL, "https://") }

func (a *App) setStateCookie(c *gin.Context, shop, nonce string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: stateCookie, Value: nonce + "." + a.stateMAC(shop, nonce), Path: "/auth/shopify",
		MaxAge: int((10 * time.Minute).Seconds()), HttpOnly: true, Secure: a.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func (a *App) clearStateCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: stateCookie, Value: "", Path: "/auth/shopify", MaxAge: -1,
		HttpOnly: true, Secure: a.secureCookies(), SameSite: http.SameSiteLaxMode})
}

func (a *App) checkStateCookie(c *gin.Context, shop, state string) bool {
	ck, err := c.Request.Cookie(stateCookie)
	if err != nil || state == "" {
		return false
	}
	nonce, mac, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return false
	}
	macOK := subtle.ConstantTimeCompare([]byte(mac), []byte(a.stateMAC(shop, nonce))) == 1
	stateOK := subtle.ConstantTimeCompare([]byte(nonce), []byte(state)) == 1
	return macOK && stateOK
}

// refreshWithin: refresh an expiring offline token this long before it
// expires, so a long GraphQL job never starts with a token about to die.
const refreshWithin = 5 * time.Minute

// refreshRejected gets a new token after Shopify answered 401 to
// `rejected`: refresh once (or pick up the one another worker just got).
// The caller retries once with it; a second 401 means the merchant must
// authorize the app again.
func (a *App) refreshRejected(ctx context.Context, shopDomain, rejected string) (string, error) {
	shop, err := a.store.ShopByDomain(ctx, models.PlatformShopify, shopDomain)
	if err != nil {
		return "", err
	}
	tok, err := a.store.RefreshRejected(ctx, shop.ID, rejected, func(ctx context.Context, s models.Shop, old models.Token) (models.Token, error) {
		return a.shopify.RefreshToken(ctx, s.Domain, old.RefreshToken)
	})
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// AccessToken returns a usable offline token for the shop, refreshing it
// first when it is about to expire (at most one refresh at a time per
// shop, across processes). When Shopify refuses the refresh the shop is
// marked as needing re-authorization.
func (a *App) AccessToken(ctx context.Context, shop models.Shop) (string, error) {
	tok, err := a.store.FreshToken(ctx, shop.ID, refreshWithin, func(ctx context.Context, s models.Shop, old models.Token) (models.Token, error) {
		return a.shopify.RefreshToken(ctx, s.Domain, old.RefreshToken)
	})
	if errors.Is(err, shopify.ErrUnauthorized) {
		if merr := a.store.MarkNeedsReauth(ctx, shop.ID); merr != nil {
			a.log.Error("mark needs reauth", "shop", shop.Domain, "err", merr)
		}
	}
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}
