package app

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// referralRoutes: GET /r/:code, the link a customer shares.
//
// It needs no credential and stores nothing about the visitor: it counts a
// click (shop, code, time) and sends the visitor to the shop's
// /discount/{CODE} URL, where Shopify applies the referee's discount (the
// same code) and then redirects to /?ref={CODE}; the theme block keeps the
// ref as the cart attribute that attributes the order.
func (a *App) referralRoutes(r *gin.Engine) {
	r.GET("/r/:code", shopperHeaders(), a.handleReferralLink())
}

// maxReferralCode is the column's size; anything longer is no code of ours.
const maxReferralCode = 32

func (a *App) handleReferralLink() gin.HandlerFunc {
	return func(c *gin.Context) {
		code := strings.ToUpper(strings.TrimSpace(c.Param("code")))
		if code == "" || len(code) > maxReferralCode || strings.ContainsAny(code, "/?#%") {
			a.referralNotFound(c)
			return
		}
		ctx := c.Request.Context()
		shop, acct, err := a.referralOwner(ctx, c.Query("shop"), code)
		if errors.Is(err, models.ErrNotFound) {
			a.referralNotFound(c)
			return
		}
		if err != nil {
			a.shopperInternal(c, "referral link", err)
			return
		}
		prog, err := jobs.LoadLoyaltyProgram(ctx, a.store, shop.ID)
		if err != nil {
			a.shopperInternal(c, "referral link: program", err)
			return
		}
		if !prog.Enabled || !prog.Referral.Enabled {
			// The shop stopped its referral program: the visitor still gets
			// to the shop, without a discount or attribution.
			c.Redirect(http.StatusFound, "https://"+shop.Domain+"/")
			return
		}
		if err := a.store.RecordReferralClick(ctx, shop.ID, acct.ReferralCode, a.now()); err != nil {
			// A lost click only skews the dashboard: the visitor goes on.
			a.log.Warn("record referral click", "shop", shop.Domain, "err", err)
		}
		c.Redirect(http.StatusFound, referralTarget(shop.Domain, acct.ReferralCode))
	}
}

// referralTarget is Shopify's discount URL for the code, which then sends
// the visitor to the home page with ?ref={CODE}.
func referralTarget(domain, code string) string {
	return "https://" + domain + "/discount/" + url.PathEscape(code) + "?redirect=/%3Fref%3D" + url.QueryEscape(code)
}

// referralOwner finds the account holding code. The code alone does not say
// which shop it is from: the link may carry ?shop=, else every installed
// shop is searched. A code held in two shops at once (codes are unique per
// shop only, and random enough that this is rare) is refused rather than
// sending a visitor to the wrong shop.
func (a *App) referralOwner(ctx context.Context, shopParam, code string) (models.Shop, models.LoyaltyAccount, error) {
	if shopParam != "" {
		domain, err := shopify.NormalizeShopDomain(shopParam)
		if err != nil {
			return models.Shop{}, models.LoyaltyAccount{}, models.ErrNotFound
		}
		shop, err := a.store.ShopByDomain(ctx, models.PlatformShopify, domain)
		if err != nil {
			return models.Shop{}, models.LoyaltyAccount{}, err
		}
		if !shop.Installed() {
			return models.Shop{}, models.LoyaltyAccount{}, models.ErrNotFound
		}
		acct, err := a.store.AccountByReferralCode(ctx, shop.ID, code)
		return shop, acct, err
	}
	accts, err := a.store.AccountsByReferralCode(ctx, code, 10)
	if err != nil {
		return models.Shop{}, models.LoyaltyAccount{}, err
	}
	var found []models.Shop
	var owner models.LoyaltyAccount
	for _, acct := range accts {
		s, err := a.store.ShopByID(ctx, acct.ShopID)
		if errors.Is(err, models.ErrNotFound) {
			continue
		}
		if err != nil {
			return models.Shop{}, models.LoyaltyAccount{}, err
		}
		if !s.Installed() {
			continue
		}
		found, owner = append(found, s), acct
	}
	switch len(found) {
	case 0:
		return models.Shop{}, models.LoyaltyAccount{}, models.ErrNotFound
	case 1:
		return found[0], owner, nil
	}
	a.log.Warn("referral code held by several shops; the link needs ?shop=", "shops", len(found))
	return models.Shop{}, models.LoyaltyAccount{}, models.ErrNotFound
}

func (a *App) referralNotFound(c *gin.Context) {
	a.shopperProblemOf(c, http.StatusNotFound, "referral")
}
