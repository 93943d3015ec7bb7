package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorstep/doorstep/app"
	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/models"
)

// The CLI imports a shop's history into the configured database with a
// progress bar, and a second run changes nothing.
func TestBackfillCommand_ImportsHistoryWithProgress(t *testing.T) {
	fake := shopifytest.New(t)
	const shop = "cli.myshopify.com"
	fake.AddShop(shop, shopifytest.ShopInfo{Name: "CLI Shop"})
	fake.SetThrottle(1e9, 1e9) // pacing is tested elsewhere; keep this one fast
	fake.GenerateOrders(shop, 40, 7)
	env := map[string]string{
		"DOORSTEP_SQLITE_PATH":    filepath.Join(t.TempDir(), "cli.db"),
		"SHOPIFY_API_KEY":         fake.APIKey,
		"SHOPIFY_API_SECRET":      fake.APISecret,
		"SHOPIFY_API_BASE_URL":    fake.BaseURL(),
		"DOORSTEP_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"APP_URL":                 "https://doorstep.test",
	}
	getenv := func(k string) string { return env[k] }

	// Install the shop as the OAuth flow would have.
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store().SaveInstall(context.Background(), models.Shop{Platform: models.PlatformShopify, Domain: shop},
		models.Token{AccessToken: fake.AccessToken(shop)}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	count := func() int64 {
		a, err := app.New(context.Background(), cfg, app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		var n, triggers int64
		a.Store().DB().Model(&models.Order{}).Count(&n)
		a.Store().DB().Model(&models.Trigger{}).Count(&triggers)
		if triggers != 0 {
			t.Fatalf("backfill wrote %d triggers, want 0", triggers)
		}
		return n
	}
	for round := 1; round <= 2; round++ {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"doorstep", "backfill", "--shop", shop}, getenv, &out); err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, out.String())
		}
		if !strings.Contains(out.String(), "backfill "+shop) || !strings.Contains(out.String(), "40") {
			t.Fatalf("round %d: output does not show progress for 40 orders:\n%s", round, out.String())
		}
		if n := count(); n != 40 {
			t.Fatalf("round %d: orders = %d, want 40", round, n)
		}
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"doorstep", "backfill"}, getenv, &out); err == nil || !strings.Contains(err.Error(), "--shop") {
		t.Fatalf("no --shop: err = %v", err)
	}
}
