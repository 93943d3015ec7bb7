package models

import "time"

// Audit actions.
const (
	AuditCustomerRedact = "customers_redact"
	AuditShopRedact     = "shop_redact"
	AuditDataRequest    = "customers_data_request"
	AuditUninstalled    = "app_uninstalled"
	AuditRetention      = "retention"
	AuditReplay         = "delivery_replay"
)

// AuditLog records what Doorstep did with personal data: what, when, how
// many rows. It never holds personal data itself (ids only).
type AuditLog struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;index"`
	Action    string `gorm:"size:64;not null"`
	Subject   string `gorm:"size:128;not null;default:''"` // "customer:123", "shop", "delivery:9"
	Rows      int64  `gorm:"not null;default:0"`
	Detail    string `gorm:"size:4096;not null;default:''"` // rows per table, as JSON
	CreatedAt time.Time
}

// Data export statuses.
const (
	ExportPending = "pending"
	ExportReady   = "ready"
)

// DataExport is what Doorstep holds for one customer, assembled for a
// customers/data_request and kept for the merchant to download.
type DataExport struct {
	ID                 uint64 `gorm:"primaryKey"`
	ShopID             uint64 `gorm:"not null;uniqueIndex:ux_data_exports_request"`
	RequestKey         string `gorm:"size:255;not null;uniqueIndex:ux_data_exports_request"` // Shopify's data_request id, or the delivery's event id
	CustomerPlatformID int64  `gorm:"not null;default:0"`
	Status             string `gorm:"size:16;not null;default:'pending'"`
	Export             []byte // JSON
	CreatedAt          time.Time
	CompletedAt        *time.Time
}
