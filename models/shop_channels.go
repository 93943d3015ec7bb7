package models

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ShopChannel is a shop's own provider for one message channel: its SMTP
// relay for "email", its Twilio account for "sms". A shop without a row
// sends through the deployment's channel. The whole configuration is
// sealed, not just the password: an SMTP URL carries its credentials.
type ShopChannel struct {
	ID      uint64 `gorm:"primaryKey"`
	ShopID  uint64 `gorm:"not null;uniqueIndex:ux_shop_channels_shop_channel,priority:1"`
	Channel string `gorm:"size:8;not null;uniqueIndex:ux_shop_channels_shop_channel,priority:2"`
	// ConfigEnc seals ShopChannelConfig as JSON.
	ConfigEnc []byte
	// Version grows with every save, so the senders built from a row know
	// when they are stale (timestamps can tie).
	Version    int64 `gorm:"not null;default:1"`
	VerifiedAt *time.Time
	// LastError is the provider's latest refusal while sending, for the
	// admin; cleared by a successful send or a new save.
	LastError string `gorm:"size:1024;not null;default:''"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ShopChannelConfig is what a shop's own channel sends with. Email uses
// SMTPURL (smtp:// or smtps://, credentials inside) and From; SMS uses
// AccountSID, AuthToken and From (a number, sender id or Messaging
// Service SID).
type ShopChannelConfig struct {
	SMTPURL    string `json:"smtp_url,omitempty"`
	AccountSID string `json:"account_sid,omitempty"`
	AuthToken  string `json:"auth_token,omitempty"`
	From       string `json:"from"`
}

func shopChannelAAD(shopID uint64, channel string) []byte {
	return []byte("shop_channel:" + strconv.FormatUint(shopID, 10) + ":" + channel)
}

// SaveShopChannel stores a shop's own channel, replacing any earlier one
// of that channel (its Version then grows and its last error is cleared).
// verifiedAt is when the caller checked the credentials with the provider.
func (s *Store) SaveShopChannel(ctx context.Context, shopID uint64, channel string, cfg ShopChannelConfig, verifiedAt time.Time) (ShopChannel, error) {
	js, err := json.Marshal(cfg)
	if err != nil {
		return ShopChannel{}, fmt.Errorf("shop channel config: %w", err)
	}
	enc, err := s.cipher.Seal(string(js), shopChannelAAD(shopID, channel))
	if err != nil {
		return ShopChannel{}, fmt.Errorf("seal shop channel config: %w", err)
	}
	now := time.Now().UTC()
	verified := verifiedAt.UTC()
	row := ShopChannel{ShopID: shopID, Channel: channel, ConfigEnc: enc, Version: 1, VerifiedAt: &verified,
		CreatedAt: now, UpdatedAt: now}
	err = s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "shop_id"}, {Name: "channel"}},
		DoUpdates: clause.Assignments(map[string]any{
			"config_enc": enc, "version": gorm.Expr("shop_channels.version + 1"), "verified_at": verified,
			"last_error": "", "updated_at": now,
		}),
	}).Create(&row).Error
	if err != nil {
		return ShopChannel{}, fmt.Errorf("save %s channel of shop %d: %w", channel, shopID, err)
	}
	// The upsert's RETURNING differs between drivers; read the row back.
	return s.ShopChannel(ctx, shopID, channel)
}

// ShopChannel returns the shop's own channel; ErrNotFound when the shop
// uses the deployment's.
func (s *Store) ShopChannel(ctx context.Context, shopID uint64, channel string) (ShopChannel, error) {
	var c ShopChannel
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND channel = ?", shopID, channel).Take(&c).Error; err != nil {
		return ShopChannel{}, fmt.Errorf("%s channel of shop %d: %w", channel, shopID, notFound(err))
	}
	return c, nil
}

// ShopChannelsOf returns the shop's own channels, by channel name.
func (s *Store) ShopChannelsOf(ctx context.Context, shopID uint64) (map[string]ShopChannel, error) {
	var rows []ShopChannel
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("channels of shop %d: %w", shopID, err)
	}
	out := make(map[string]ShopChannel, len(rows))
	for _, r := range rows {
		out[r.Channel] = r
	}
	return out, nil
}

// ShopChannelConfigOf opens a channel's sealed configuration.
func (s *Store) ShopChannelConfigOf(c ShopChannel) (ShopChannelConfig, error) {
	js, err := s.cipher.Open(c.ConfigEnc, shopChannelAAD(c.ShopID, c.Channel))
	if err != nil {
		return ShopChannelConfig{}, fmt.Errorf("open %s channel of shop %d: %w", c.Channel, c.ShopID, err)
	}
	var cfg ShopChannelConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		return ShopChannelConfig{}, fmt.Errorf("%s channel of shop %d: %w", c.Channel, c.ShopID, err)
	}
	return cfg, nil
}

// DeleteShopChannel makes the shop use the deployment's channel again. It
// reports whether the shop had its own.
func (s *Store) DeleteShopChannel(ctx context.Context, shopID uint64, channel string) (bool, error) {
	res := s.db.WithContext(ctx).Where("shop_id = ? AND channel = ?", shopID, channel).Delete(&ShopChannel{})
	if res.Error != nil {
		return false, fmt.Errorf("delete %s channel of shop %d: %w", channel, shopID, res.Error)
	}
	return res.RowsAffected > 0, nil
}

// SetShopChannelError records (or, with "", clears) the last sending error
// of one version of a channel. A sender built from an older version writes
// nothing: its errors say nothing about the configuration saved since.
func (s *Store) SetShopChannelError(ctx context.Context, id uint64, version int64, msg string) error {
	if len(msg) > 1024 {
		// Cut to the column, dropping a rune split at the cut (PostgreSQL
		// refuses invalid UTF-8).
		msg = strings.ToValidUTF8(msg[:1024], "")
	}
	// UpdateColumn: the error is not a change of configuration, so
	// updated_at stays the time of the last save.
	err := s.db.WithContext(ctx).Model(&ShopChannel{}).Where("id = ? AND version = ?", id, version).
		UpdateColumn("last_error", msg).Error
	if err != nil {
		return fmt.Errorf("shop channel %d error: %w", id, err)
	}
	return nil
}
