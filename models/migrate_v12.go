package models

import "time"

// Frozen structs of migration 202611230014_shop_channels.

type v12ShopChannel struct {
	ID         uint64 `gorm:"primaryKey"`
	ShopID     uint64 `gorm:"not null;uniqueIndex:ux_shop_channels_shop_channel,priority:1"`
	Channel    string `gorm:"size:8;not null;uniqueIndex:ux_shop_channels_shop_channel,priority:2"`
	ConfigEnc  []byte
	Version    int64 `gorm:"not null;default:1"`
	VerifiedAt *time.Time
	LastError  string `gorm:"size:1024;not null;default:''"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (v12ShopChannel) TableName() string { return "shop_channels" }
