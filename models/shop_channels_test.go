package models_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func TestShopChannel_SealedVersionedPerShop(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "own-smtp.myshopify.com", models.Token{AccessToken: "x"})
	other := installShop(t, s, "other-smtp.myshopify.com", models.Token{AccessToken: "y"})

	if _, err := s.ShopChannel(ctx, shop.ID, "email"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("no row yet: %v", err)
	}
	cfg := models.ShopChannelConfig{SMTPURL: "smtp://mailer:hunter2-pass@mail.shop.test:587", From: "orders@shop.test"}
	first, err := s.SaveShopChannel(ctx, shop.ID, "email", cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if first.Version != 1 || first.VerifiedAt == nil {
		t.Fatalf("first save: %+v", first)
	}
	// Nothing readable at rest, not even the host.
	var raw models.ShopChannel
	if err := s.DB().Take(&raw, first.ID).Error; err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2-pass", "mailer", "mail.shop.test"} {
		if len(raw.ConfigEnc) == 0 || strings.Contains(string(raw.ConfigEnc), secret) {
			t.Fatalf("%q stored in the clear: %q", secret, raw.ConfigEnc)
		}
	}
	got, err := s.ShopChannelConfigOf(raw)
	if err != nil || got != cfg {
		t.Fatalf("open: %+v %v", got, err)
	}
	// The seal is bound to its shop and channel: a row moved to another
	// shop does not open.
	moved := raw
	moved.ShopID = other.ID
	if _, err := s.ShopChannelConfigOf(moved); err == nil {
		t.Fatal("a config moved to another shop opened")
	}

	// An error is recorded on its version only; a new save clears it and
	// bumps the version.
	if err := s.SetShopChannelError(ctx, first.ID, first.Version, "smtp connect: 535 bad credentials"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ShopChannel(ctx, shop.ID, "email"); c.LastError == "" {
		t.Fatalf("error not recorded: %+v", c)
	}
	cfg.From = "hello@shop.test"
	second, err := s.SaveShopChannel(ctx, shop.ID, "email", cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.Version != 2 || second.LastError != "" {
		t.Fatalf("second save: %+v", second)
	}
	if err := s.SetShopChannelError(ctx, first.ID, first.Version, "late error of the old relay"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ShopChannel(ctx, shop.ID, "email"); c.LastError != "" {
		t.Fatalf("a stale sender's error was recorded: %+v", c)
	}

	if _, err := s.SaveShopChannel(ctx, shop.ID, "sms", models.ShopChannelConfig{AccountSID: "AC1", AuthToken: "tok", From: "+15550001111"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	all, err := s.ShopChannelsOf(ctx, shop.ID)
	if err != nil || len(all) != 2 {
		t.Fatalf("channels of shop: %v %v", all, err)
	}
	if none, err := s.ShopChannelsOf(ctx, other.ID); err != nil || len(none) != 0 {
		t.Fatalf("other shop: %v %v", none, err)
	}

	if ok, err := s.DeleteShopChannel(ctx, shop.ID, "sms"); err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if ok, err := s.DeleteShopChannel(ctx, shop.ID, "sms"); err != nil || ok {
		t.Fatalf("delete again: %v %v", ok, err)
	}
}

func TestShopChannel_ShopDeletionRemovesIt(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	ctx := context.Background()
	shop := installShop(t, s, "gone-smtp.myshopify.com", models.Token{AccessToken: "x"})
	if _, err := s.SaveShopChannel(ctx, shop.ID, "email", models.ShopChannelConfig{SMTPURL: "smtp://u:p@mail.test", From: "a@b.test"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Model(&models.Shop{}).Where("id = ?", shop.ID).Update("uninstalled_at", time.Now()).Error; err != nil {
		t.Fatal(err)
	}
	counts, err := s.DeleteShopData(ctx, shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counts["shop_channels"] != 1 {
		t.Errorf("deleted %d shop_channels rows, want 1", counts["shop_channels"])
	}
	if _, err := s.ShopChannel(ctx, shop.ID, "email"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("after deletion: %v", err)
	}
}

// The upsert is one statement on SQLite too (single-process installs).
func TestShopChannel_SQLiteSaveTwiceBumpsVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := models.Open(ctx, config.Config{SQLitePath: filepath.Join(t.TempDir(), "d.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	if err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	c, _ := models.NewCipher(modelstest.Key)
	s := models.NewStore(db, c)
	shop := installShop(t, s, "lite-smtp.myshopify.com", models.Token{AccessToken: "x"})
	cfg := models.ShopChannelConfig{SMTPURL: "smtp://u:p@mail.test", From: "a@b.test"}
	for want := int64(1); want <= 2; want++ {
		row, err := s.SaveShopChannel(ctx, shop.ID, "email", cfg, time.Now())
		if err != nil || row.Version != want {
			t.Fatalf("save %d: %+v %v", want, row, err)
		}
	}
}
