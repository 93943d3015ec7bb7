package models

// Frozen copy of the schema as migration 202611220004_sync created it.
// Never edit it: a later change adds a new migration with its own structs.

import "time"

type v4SyncState struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;uniqueIndex:ux_sync_states_shop"`
	State           string `gorm:"size:16;not null;default:'idle'"`
	Run             int    `gorm:"not null;default:0"`
	Mode            string `gorm:"size:16;not null;default:''"`
	Cursor          string `gorm:"size:2048;not null;default:''"`
	Since           *time.Time
	Done            int64   `gorm:"not null;default:0"`
	Total           int64   `gorm:"not null;default:0"`
	Rate            float64 `gorm:"not null;default:0"`
	LastError       string  `gorm:"size:4096;not null;default:''"`
	ReadAllOrders   bool    `gorm:"not null;default:false"`
	StartedAt       *time.Time
	FinishedAt      *time.Time
	HighWaterMark   *time.Time
	ReconcileWindow *time.Time
	LastReconcileAt *time.Time
	ReconcileRuns   int64 `gorm:"not null;default:0"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (v4SyncState) TableName() string { return "sync_states" }
