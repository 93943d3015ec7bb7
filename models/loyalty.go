package models

import (
	"time"

	"github.com/shopspring/decimal"
)

// Loyalty entry kinds. The ledger is append-only: a mistake is corrected
// by a new entry, never by editing an old one.
const (
	EntryEarn           = "earn"            // points for an order line or a bonus
	EntryRedeem         = "redeem"          // points spent on a discount code
	EntryReverse        = "reverse"         // an earn taken back (refund, cancellation) or a redemption undone
	EntryExpire         = "expire"          // points lost to inactivity
	EntryAdjust         = "adjust"          // a merchant's manual change, with reason and actor
	EntryReferralReward = "referral_reward" // the referrer's reward for a friend's first order
)

// LoyaltyEntry is one line of a customer's points ledger. Its source key
// (shop, kind, source type, source id) is unique, so a replayed webhook or
// a task run twice posts nothing new.
//
// Points are signed: credits positive, debits negative. An entry with
// PendingUntil counts as pending until then (earned points wait out the
// return window), then as available.
type LoyaltyEntry struct {
	ID                 uint64     `gorm:"primaryKey"`
	ShopID             uint64     `gorm:"not null;uniqueIndex:ux_loyalty_entries_source,priority:1;index:ix_loyalty_entries_customer,priority:1;index:ix_loyalty_entries_order,priority:1;index:ix_loyalty_entries_pending,priority:1"`
	CustomerPlatformID int64      `gorm:"not null;index:ix_loyalty_entries_customer,priority:2"`
	Kind               string     `gorm:"size:24;not null;uniqueIndex:ux_loyalty_entries_source,priority:2"`
	SourceType         string     `gorm:"size:32;not null;uniqueIndex:ux_loyalty_entries_source,priority:3"`
	SourceID           string     `gorm:"size:128;not null;uniqueIndex:ux_loyalty_entries_source,priority:4"`
	Points             int64      `gorm:"not null"`
	PendingUntil       *time.Time `gorm:"index:ix_loyalty_entries_pending,priority:2"`
	// Rate (points per currency unit) and Multiplier (the tier's) are
	// frozen at earn time: a reversal takes back exactly what was given,
	// whatever the program says today.
	Rate       decimal.Decimal `gorm:"type:numeric(20,6);not null;default:0"`
	Multiplier decimal.Decimal `gorm:"type:numeric(10,4);not null;default:1"`
	// Basis is the money the points were computed on (shop currency).
	Basis           decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	Currency        string          `gorm:"size:3;not null;default:''"`
	OrderPlatformID int64           `gorm:"not null;default:0;index:ix_loyalty_entries_order,priority:2"`
	// RelatedID is the entry this one reverses, when it reverses one.
	RelatedID uint64    `gorm:"not null;default:0"`
	Reason    string    `gorm:"size:1024;not null;default:''"`
	Actor     string    `gorm:"size:255;not null;default:''"`
	At        time.Time `gorm:"not null"`
	CreatedAt time.Time
}

// Pending reports whether the entry still counts as pending for an
// account that has matured everything up to through.
func (e LoyaltyEntry) Pending(through time.Time) bool {
	return e.PendingUntil != nil && e.PendingUntil.After(through)
}

// LoyaltyAccount is a customer's cached balance, updated in the same
// transaction as every entry, plus their loyalty profile. The ledger is the
// truth: Available − Debt + Pending always equals the sum of the entries'
// points (VerifyLedger checks it).
type LoyaltyAccount struct {
	ID                 uint64 `gorm:"primaryKey"`
	ShopID             uint64 `gorm:"not null;uniqueIndex:ux_loyalty_accounts_customer,priority:1"`
	CustomerPlatformID int64  `gorm:"not null;uniqueIndex:ux_loyalty_accounts_customer,priority:2"`
	// Available can be spent; it never goes below zero. A reversal of points
	// already spent records Debt instead, which later credits pay off first.
	Available int64 `gorm:"not null;default:0"`
	Pending   int64 `gorm:"not null;default:0"`
	Debt      int64 `gorm:"not null;default:0"`
	// MaturedThrough: entries pending until this time or earlier are
	// counted in Available.
	MaturedThrough time.Time `gorm:"not null"`
	Earned         int64     `gorm:"not null;default:0"` // lifetime credits from earn, referral and positive adjustments
	Redeemed       int64     `gorm:"not null;default:0"` // lifetime points spent (net of undone redemptions)
	Tier           string    `gorm:"size:64;not null;default:''"`
	TierSince      *time.Time
	// Spend12m is the rolling 12-month spend the tier was last judged on.
	Spend12m decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	Birthday string          `gorm:"size:5;not null;default:''"` // "MM-DD", set once by the shopper
	// ReferralCode is unique per shop when set (a partial unique index).
	ReferralCode   string `gorm:"size:32;not null;default:''"`
	LastActivityAt time.Time
	// ExpiryNoticeFor is the expiry date the last reminder was about, so
	// one period gets one reminder.
	ExpiryNoticeFor *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Balance is what the shopper can spend, net of debt (negative when in debt).
func (a LoyaltyAccount) Balance() int64 { return a.Available - a.Debt }

// Redemption statuses.
const (
	RedemptionCreating  = "creating"  // points taken; the platform's code not confirmed yet
	RedemptionActive    = "active"    // the code exists on the platform
	RedemptionFailed    = "failed"    // the platform refused: points given back
	RedemptionCancelled = "cancelled" // the code was withdrawn unused: points given back
)

// LoyaltyRedemption is points exchanged for a single-use discount code.
// The points are taken (a redeem entry) in the same transaction that
// creates this row in state creating; the code is then created on the
// platform. If that fails the points come back; if the process dies in
// between, the reconciler finds the row and finishes or undoes it.
type LoyaltyRedemption struct {
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

// Referral statuses.
const (
	ReferralPending  = "pending"  // waiting for the referee's order to pass the return window
	ReferralFlagged  = "flagged"  // a fraud check fired: the merchant decides
	ReferralRewarded = "rewarded" // the referrer got the reward
	ReferralRejected = "rejected" // the merchant (or a hard rule) said no
	ReferralReversed = "reversed" // the referee's order was refunded or cancelled
)

// Referral is one referee order attributed to a referrer.
type Referral struct {
	ID                 uint64 `gorm:"primaryKey"`
	ShopID             uint64 `gorm:"not null;uniqueIndex:ux_referrals_order,priority:1;index:ix_referrals_referrer,priority:1;index:ix_referrals_status,priority:1"`
	OrderPlatformID    int64  `gorm:"not null;uniqueIndex:ux_referrals_order,priority:2"`
	ReferrerPlatformID int64  `gorm:"not null;index:ix_referrals_referrer,priority:2"`
	RefereePlatformID  int64  `gorm:"not null;default:0"`
	Code               string `gorm:"size:32;not null"`
	Via                string `gorm:"size:16;not null;default:''"` // "discount_code" or "link"
	Status             string `gorm:"size:16;not null;index:ix_referrals_status,priority:2"`
	// Reasons lists the fraud checks that fired, comma-separated.
	Reasons     string `gorm:"size:1024;not null;default:''"`
	RewardDueAt *time.Time
	ReviewedBy  string `gorm:"size:255;not null;default:''"`
	ReviewedAt  *time.Time
	CreatedAt   time.Time `gorm:"index:ix_referrals_referrer,priority:3"`
	UpdatedAt   time.Time
}

// ReferralClick is one visit through a referral link (for the dashboard:
// clicks → conversions). It holds no personal data.
type ReferralClick struct {
	ID     uint64    `gorm:"primaryKey"`
	ShopID uint64    `gorm:"not null;index:ix_referral_clicks_shop,priority:1"`
	Code   string    `gorm:"size:32;not null"`
	At     time.Time `gorm:"not null;index:ix_referral_clicks_shop,priority:2"`
}

// LoyaltyProgram is a shop's program settings as JSON (jobs parses and
// validates them).
type LoyaltyProgram struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;uniqueIndex"`
	Data      string `gorm:"type:text;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}
