package models

// Frozen copies of the schema as migration 202611230008_loyalty created it.
// Never edit them: a later change adds a new migration with its own structs.

import (
	"time"

	"github.com/shopspring/decimal"
)

type v8LoyaltyEntry struct {
	ID                 uint64          `gorm:"primaryKey"`
	ShopID             uint64          `gorm:"not null;uniqueIndex:ux_loyalty_entries_source,priority:1;index:ix_loyalty_entries_customer,priority:1;index:ix_loyalty_entries_order,priority:1;index:ix_loyalty_entries_pending,priority:1"`
	CustomerPlatformID int64           `gorm:"not null;index:ix_loyalty_entries_customer,priority:2"`
	Kind               string          `gorm:"size:24;not null;uniqueIndex:ux_loyalty_entries_source,priority:2"`
	SourceType         string          `gorm:"size:32;not null;uniqueIndex:ux_loyalty_entries_source,priority:3"`
	SourceID           string          `gorm:"size:128;not null;uniqueIndex:ux_loyalty_entries_source,priority:4"`
	Points             int64           `gorm:"not null"`
	PendingUntil       *time.Time      `gorm:"index:ix_loyalty_entries_pending,priority:2"`
	Rate               decimal.Decimal `gorm:"type:numeric(20,6);not null;default:0"`
	Multiplier         decimal.Decimal `gorm:"type:numeric(10,4);not null;default:1"`
	Basis              decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	Currency           string          `gorm:"size:3;not null;default:''"`
	OrderPlatformID    int64           `gorm:"not null;default:0;index:ix_loyalty_entries_order,priority:2"`
	RelatedID          uint64          `gorm:"not null;default:0"`
	Reason             string          `gorm:"size:1024;not null;default:''"`
	Actor              string          `gorm:"size:255;not null;default:''"`
	At                 time.Time       `gorm:"not null"`
	CreatedAt          time.Time
}

func (v8LoyaltyEntry) TableName() string { return "loyalty_entries" }

type v8LoyaltyAccount struct {
	ID                 uint64    `gorm:"primaryKey"`
	ShopID             uint64    `gorm:"not null;uniqueIndex:ux_loyalty_accounts_customer,priority:1"`
	CustomerPlatformID int64     `gorm:"not null;uniqueIndex:ux_loyalty_accounts_customer,priority:2"`
	Available          int64     `gorm:"not null;default:0"`
	Pending            int64     `gorm:"not null;default:0"`
	Debt               int64     `gorm:"not null;default:0"`
	MaturedThrough     time.Time `gorm:"not null"`
	Earned             int64     `gorm:"not null;default:0"` // lifetime credits from earn, referral and positive adjustments
	Redeemed           int64     `gorm:"not null;default:0"` // lifetime points spent (net of undone redemptions)
	Tier               string    `gorm:"size:64;not null;default:''"`
	TierSince          *time.Time
	Spend12m           decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	Birthday           string          `gorm:"size:5;not null;default:''"` // "MM-DD", set once by the shopper
	ReferralCode       string          `gorm:"size:32;not null;default:''"`
	LastActivityAt     time.Time
	ExpiryNoticeFor    *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (v8LoyaltyAccount) TableName() string { return "loyalty_accounts" }

type v8LoyaltyRedemption struct {
	ID                 uint64          `gorm:"primaryKey"`
	ShopID             uint64          `gorm:"not null;uniqueIndex:ux_loyalty_redemptions_code,priority:1;index:ix_loyalty_redemptions_customer,priority:1"`
	CustomerPlatformID int64           `gorm:"not null;index:ix_loyalty_redemptions_customer,priority:2"`
	Code               string          `gorm:"size:64;not null;uniqueIndex:ux_loyalty_redemptions_code,priority:2"`
	Points             int64           `gorm:"not null"`
	Value              decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	Currency           string          `gorm:"size:3;not null;default:''"`
	Status             string          `gorm:"size:16;not null;index:ix_loyalty_redemptions_status,priority:1"`
	DiscountID         string          `gorm:"size:128;not null;default:''"`
	Error              string          `gorm:"size:1024;not null;default:''"`
	Attempts           int             `gorm:"not null;default:0"`
	CreatedAt          time.Time
	UpdatedAt          time.Time `gorm:"index:ix_loyalty_redemptions_status,priority:2"`
}

func (v8LoyaltyRedemption) TableName() string { return "loyalty_redemptions" }

type v8Referral struct {
	ID                 uint64 `gorm:"primaryKey"`
	ShopID             uint64 `gorm:"not null;uniqueIndex:ux_referrals_order,priority:1;index:ix_referrals_referrer,priority:1;index:ix_referrals_status,priority:1"`
	OrderPlatformID    int64  `gorm:"not null;uniqueIndex:ux_referrals_order,priority:2"`
	ReferrerPlatformID int64  `gorm:"not null;index:ix_referrals_referrer,priority:2"`
	RefereePlatformID  int64  `gorm:"not null;default:0"`
	Code               string `gorm:"size:32;not null"`
	Via                string `gorm:"size:16;not null;default:''"` // "discount_code" or "link"
	Status             string `gorm:"size:16;not null;index:ix_referrals_status,priority:2"`
	Reasons            string `gorm:"size:1024;not null;default:''"`
	RewardDueAt        *time.Time
	ReviewedBy         string `gorm:"size:255;not null;default:''"`
	ReviewedAt         *time.Time
	CreatedAt          time.Time `gorm:"index:ix_referrals_referrer,priority:3"`
	UpdatedAt          time.Time
}

func (v8Referral) TableName() string { return "referrals" }

type v8ReferralClick struct {
	ID     uint64    `gorm:"primaryKey"`
	ShopID uint64    `gorm:"not null;index:ix_referral_clicks_shop,priority:1"`
	Code   string    `gorm:"size:32;not null"`
	At     time.Time `gorm:"not null;index:ix_referral_clicks_shop,priority:2"`
}

func (v8ReferralClick) TableName() string { return "referral_clicks" }

type v8LoyaltyProgram struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;uniqueIndex"`
	Data      string `gorm:"type:text;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (v8LoyaltyProgram) TableName() string { return "loyalty_programs" }

// v8Order adds what loyalty and referrals read from an order.
type v8Order struct {
	OriginalSubtotal    decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	PresentmentCurrency string          `gorm:"size:3;not null;default:''"`
	DiscountCodes       string          `gorm:"size:1024;not null;default:''"`
	LandingSite         string          `gorm:"size:2048;not null;default:''"`
	ReferralCode        string          `gorm:"size:64;not null;default:''"`
	BrowserIP           string          `gorm:"size:64;not null;default:''"`
}

func (v8Order) TableName() string { return "orders" }

// v8LineItem adds the discounts allocated to a line.
type v8LineItem struct {
	DiscountAllocated decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
}

func (v8LineItem) TableName() string { return "line_items" }
