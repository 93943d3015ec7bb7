package models

// Frozen copies of the schema as migration 202611230011_stats created it.
// Never edit them: a later change adds a new migration with its own structs.

import (
	"time"

	"github.com/shopspring/decimal"
)

type v9StatDay struct {
	ID     uint64          `gorm:"primaryKey"`
	ShopID uint64          `gorm:"not null;uniqueIndex:ux_stat_days_key,priority:1"`
	Day    time.Time       `gorm:"type:date;not null;uniqueIndex:ux_stat_days_key,priority:2"`
	Metric string          `gorm:"size:32;not null;uniqueIndex:ux_stat_days_key,priority:3"`
	Dim    string          `gorm:"size:128;not null;default:'';uniqueIndex:ux_stat_days_key,priority:4"`
	Value  decimal.Decimal `gorm:"type:numeric(24,4);not null;default:0"`
}

func (v9StatDay) TableName() string { return "stat_days" }

type v9StatState struct {
	ID                uint64    `gorm:"primaryKey"`
	ShopID            uint64    `gorm:"not null;uniqueIndex"`
	RolledUpAt        time.Time `gorm:"not null"`
	FirstDay          time.Time `gorm:"type:date;not null"`
	OrdersTotal       int64     `gorm:"not null;default:0"`
	OrdersMaxID       uint64    `gorm:"not null;default:0"`
	OutstandingPoints int64     `gorm:"not null;default:0"`
	LoyaltyAccounts   int64     `gorm:"not null;default:0"`
}

func (v9StatState) TableName() string { return "stat_states" }

// v9Indexes are what the rollup reads by (shop, day) and what the
// dashboard's live "currently delayed" figure counts: without them each
// day's figures would scan a big shop's whole table.
var v9Indexes = []struct{ name, create string }{
	{"ix_messages_shop_created", "CREATE INDEX IF NOT EXISTS ix_messages_shop_created ON messages (shop_id, created_at)"},
	{"ix_fulfillments_shop_delivered", "CREATE INDEX IF NOT EXISTS ix_fulfillments_shop_delivered ON fulfillments (shop_id, delivered_at) WHERE delivered_at IS NOT NULL"},
	// Only packages still on their way: a big shop's delivered history
	// stays out of the index the dashboard counts on every load.
	{"ix_fulfillments_open", "CREATE INDEX IF NOT EXISTS ix_fulfillments_open ON fulfillments (shop_id, estimated_delivery_at) WHERE delivered_at IS NULL AND shipment_status <> 'delivered'"},
	{"ix_fulfillments_problem", "CREATE INDEX IF NOT EXISTS ix_fulfillments_problem ON fulfillments (shop_id, platform_created_at) WHERE delivered_at IS NULL AND shipment_status IN ('failure', 'attempted_delivery')"},
	{"ix_feedback_shop_created", "CREATE INDEX IF NOT EXISTS ix_feedback_shop_created ON feedback (shop_id, created_at)"},
	{"ix_review_asks_shop_asked", "CREATE INDEX IF NOT EXISTS ix_review_asks_shop_asked ON review_asks (shop_id, asked_at)"},
	{"ix_loyalty_entries_shop_at", "CREATE INDEX IF NOT EXISTS ix_loyalty_entries_shop_at ON loyalty_entries (shop_id, at)"},
	{"ix_referrals_shop_created", "CREATE INDEX IF NOT EXISTS ix_referrals_shop_created ON referrals (shop_id, created_at)"},
}
