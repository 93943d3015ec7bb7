package app

import (
	"context"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/models"
)

// A 401 from Shopify refreshes the token once and retries; only when the
// refreshed token is refused too is the shop marked for re-authorization.
func TestSync_Unauthorized_RefreshOnceThenReauth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "rejected.myshopify.com"
	e.fake.AddShop(dom, shopifytest.ShopInfo{Name: "Rejected"})
	e.fake.SetThrottle(1e9, 1e9)
	e.fake.GenerateOrders(dom, 12, 3)
	ctx := context.Background()

	// The stored access token is one Shopify no longer accepts (not expired
	// by our clock), but the refresh token is good.
	real, err := e.app.shopify.ExchangeCode(ctx, dom, e.fake.IssueCode(dom))
	if err != nil {
		t.Fatal(err)
	}
	shop, err := e.app.store.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: dom},
		models.Token{AccessToken: "shpat_revoked_early", RefreshToken: real.RefreshToken,
			AccessTokenExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.app.Backfill(ctx, dom, time.Time{}, nil)
	if err != nil {
		t.Fatalf("backfill after a rejected token: %v", err)
	}
	if st.State != models.SyncDone || st.Done != 12 {
		t.Fatalf("sync state = %s, %d done; want done, 12", st.State, st.Done)
	}
	if got := e.fake.RefreshCount(dom); got != 1 {
		t.Fatalf("refreshes = %d, want 1", got)
	}
	if s, _ := e.app.store.ShopByID(ctx, shop.ID); s.NeedsReauth {
		t.Fatal("shop marked for re-authorization although the refresh worked")
	}

	// Now Shopify refuses everything (the merchant revoked the app): the
	// refresh fails, the shop is marked, and nothing loops.
	e.fake.RevokeTokens(dom)
	_, _ = e.app.Backfill(ctx, dom, time.Time{}, nil)
	if s, _ := e.app.store.ShopByID(ctx, shop.ID); !s.NeedsReauth {
		t.Fatal("shop not marked for re-authorization after Shopify refused the refreshed token")
	}
}
