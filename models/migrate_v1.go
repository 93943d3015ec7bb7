package models

// Frozen copies of the schema as migration 202611220001 created it. Never
// edit these: a later change adds a new migration with its own frozen
// structs, so old databases and new ones end up with the same schema.

import (
	"time"

	"github.com/shopspring/decimal"
)

type v1Shop struct {
	ID       uint64 `gorm:"primaryKey"`
	Platform string `gorm:"size:32;not null;uniqueIndex:ux_shops_platform_domain"`
	Domain   string `gorm:"size:255;not null;uniqueIndex:ux_shops_platform_domain"`
	Name     string `gorm:"size:255;not null;default:''"`
	Email    string `gorm:"size:255;not null;default:''"`
	Timezone string `gorm:"size:64;not null;default:''"` // IANA name
	Currency string `gorm:"size:3;not null;default:''"`

	AccessTokenEnc        []byte
	AccessTokenExpiresAt  *time.Time
	RefreshTokenEnc       []byte
	RefreshTokenExpiresAt *time.Time
	Scopes                string `gorm:"size:1024;not null;default:''"`
	NeedsReauth           bool   `gorm:"not null;default:false"`

	InstalledAt   *time.Time
	UninstalledAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (v1Shop) TableName() string { return "shops" }

type v1Customer struct {
	ID                uint64 `gorm:"primaryKey"`
	ShopID            uint64 `gorm:"not null;uniqueIndex:ux_customers_shop_platform"`
	PlatformID        int64  `gorm:"not null;uniqueIndex:ux_customers_shop_platform"`
	Email             string `gorm:"size:320;not null;default:'';index"`
	Phone             string `gorm:"size:64;not null;default:''"`
	FirstName         string `gorm:"size:255;not null;default:''"`
	LastName          string `gorm:"size:255;not null;default:''"`
	Locale            string `gorm:"size:16;not null;default:''"`
	State             string `gorm:"size:32;not null;default:''"`
	PlatformCreatedAt time.Time
	PlatformUpdatedAt time.Time
	RedactedAt        *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

func (v1Customer) TableName() string { return "customers" }

type v1Address struct {
	Name        string `gorm:"size:255;not null;default:''"`
	Company     string `gorm:"size:255;not null;default:''"`
	Address1    string `gorm:"size:255;not null;default:''"`
	Address2    string `gorm:"size:255;not null;default:''"`
	City        string `gorm:"size:255;not null;default:''"`
	Province    string `gorm:"size:255;not null;default:''"`
	Zip         string `gorm:"size:32;not null;default:''"`
	CountryCode string `gorm:"size:2;not null;default:''"`
	Phone       string `gorm:"size:64;not null;default:''"`
}

type v1Order struct {
	ID                 uint64          `gorm:"primaryKey"`
	ShopID             uint64          `gorm:"not null;uniqueIndex:ux_orders_shop_platform"`
	PlatformID         int64           `gorm:"not null;uniqueIndex:ux_orders_shop_platform"`
	Name               string          `gorm:"size:64;not null;default:'';index"` // "#1001"
	Number             int64           `gorm:"not null;default:0"`
	Email              string          `gorm:"size:320;not null;default:'';index"`
	Phone              string          `gorm:"size:64;not null;default:''"`
	CustomerPlatformID int64           `gorm:"not null;default:0;index"`
	Locale             string          `gorm:"size:16;not null;default:''"`
	Currency           string          `gorm:"size:3;not null;default:''"`
	Subtotal           decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"` // after discounts, before shipping and tax
	TotalDiscounts     decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	TotalShipping      decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	TotalTax           decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	Total              decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	FinancialStatus    string          `gorm:"size:32;not null;default:''"` // pending, authorized, paid, partially_paid, partially_refunded, refunded, voided
	FulfillmentStatus  string          `gorm:"size:32;not null;default:''"` // "", partial, fulfilled, restocked
	CancelledAt        *time.Time
	CancelReason       string `gorm:"size:64;not null;default:''"`
	ClosedAt           *time.Time
	ProcessedAt        *time.Time
	Tags               string    `gorm:"size:2048;not null;default:''"`
	Test               bool      `gorm:"not null;default:false"`
	StatusPageURL      string    `gorm:"size:2048;not null;default:''"`
	ShippingAddress    v1Address `gorm:"embedded;embeddedPrefix:ship_"`
	PlatformCreatedAt  time.Time
	PlatformUpdatedAt  time.Time `gorm:"not null"`
	RedactedAt         *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (v1Order) TableName() string { return "orders" }

type v1LineItem struct {
	ID                  uint64          `gorm:"primaryKey"`
	ShopID              uint64          `gorm:"not null;uniqueIndex:ux_line_items_shop_platform"`
	OrderID             uint64          `gorm:"not null;index"`
	PlatformID          int64           `gorm:"not null;uniqueIndex:ux_line_items_shop_platform"`
	ProductID           int64           `gorm:"not null;default:0"`
	VariantID           int64           `gorm:"not null;default:0"`
	SKU                 string          `gorm:"size:255;not null;default:''"`
	Title               string          `gorm:"size:512;not null;default:''"`
	VariantTitle        string          `gorm:"size:512;not null;default:''"`
	Quantity            int             `gorm:"not null;default:0"`
	Price               decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"` // unit price
	TotalDiscount       decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	FulfillableQuantity int             `gorm:"not null;default:0"`
	FulfillmentStatus   string          `gorm:"size:32;not null;default:''"`
	RequiresShipping    bool            `gorm:"not null;default:true"`
	ImageURL            string          `gorm:"size:2048;not null;default:''"`
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

func (v1LineItem) TableName() string { return "line_items" }

type v1Fulfillment struct {
	ID                  uint64 `gorm:"primaryKey"`
	ShopID              uint64 `gorm:"not null;uniqueIndex:ux_fulfillments_shop_platform"`
	OrderID             uint64 `gorm:"not null;index"`
	PlatformID          int64  `gorm:"not null;uniqueIndex:ux_fulfillments_shop_platform"`
	OrderPlatformID     int64  `gorm:"not null;default:0"`
	Name                string `gorm:"size:64;not null;default:''"`
	Status              string `gorm:"size:32;not null;default:''"` // pending, open, success, cancelled, error, failure
	ShipmentStatus      string `gorm:"size:32;not null;default:''"` // see Shipment* constants
	TrackingCompany     string `gorm:"size:255;not null;default:''"`
	TrackingNumber      string `gorm:"size:255;not null;default:'';index"`
	TrackingURL         string `gorm:"size:2048;not null;default:''"`
	EstimatedDeliveryAt *time.Time
	DeliveredAt         *time.Time
	LineItems           []v1FulfillmentLine `gorm:"serializer:json;type:text"`
	PlatformCreatedAt   time.Time
	PlatformUpdatedAt   time.Time `gorm:"not null"`
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

func (v1Fulfillment) TableName() string { return "fulfillments" }

type v1FulfillmentLine struct {
	LineItemID int64 `json:"line_item_id"`
	Quantity   int   `json:"quantity"`
}

type v1FulfillmentEvent struct {
	ID                    uint64 `gorm:"primaryKey"`
	ShopID                uint64 `gorm:"not null;uniqueIndex:ux_fulfillment_events_shop_platform"`
	FulfillmentID         uint64 `gorm:"not null;index"`
	PlatformID            int64  `gorm:"not null;uniqueIndex:ux_fulfillment_events_shop_platform"`
	FulfillmentPlatformID int64  `gorm:"not null;default:0"`
	OrderPlatformID       int64  `gorm:"not null;default:0"`
	Status                string `gorm:"size:32;not null;default:''"` // shipment status vocabulary
	Message               string `gorm:"size:1024;not null;default:''"`
	City                  string `gorm:"size:255;not null;default:''"`
	Province              string `gorm:"size:255;not null;default:''"`
	Country               string `gorm:"size:255;not null;default:''"`
	EstimatedDeliveryAt   *time.Time
	HappenedAt            time.Time `gorm:"not null"`
	CreatedAt             time.Time
}

func (v1FulfillmentEvent) TableName() string { return "fulfillment_events" }

type v1Refund struct {
	ID                uint64          `gorm:"primaryKey"`
	ShopID            uint64          `gorm:"not null;uniqueIndex:ux_refunds_shop_platform"`
	OrderID           uint64          `gorm:"not null;index"`
	PlatformID        int64           `gorm:"not null;uniqueIndex:ux_refunds_shop_platform"`
	OrderPlatformID   int64           `gorm:"not null;default:0"`
	Note              string          `gorm:"size:2048;not null;default:''"`
	Amount            decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"` // sum of successful refund transactions
	Currency          string          `gorm:"size:3;not null;default:''"`
	Restock           bool            `gorm:"not null;default:false"`
	ProcessedAt       *time.Time
	PlatformCreatedAt time.Time
	CreatedAt         time.Time
}

func (v1Refund) TableName() string { return "refunds" }

type v1RefundLine struct {
	ID                 uint64          `gorm:"primaryKey"`
	ShopID             uint64          `gorm:"not null;uniqueIndex:ux_refund_lines_shop_platform"`
	RefundID           uint64          `gorm:"not null;index"`
	PlatformID         int64           `gorm:"not null;uniqueIndex:ux_refund_lines_shop_platform"`
	LineItemPlatformID int64           `gorm:"not null;default:0"`
	Quantity           int             `gorm:"not null;default:0"`
	Subtotal           decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	TotalTax           decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	RestockType        string          `gorm:"size:32;not null;default:''"`
	CreatedAt          time.Time
}

func (v1RefundLine) TableName() string { return "refund_lines" }

type v1Delivery struct {
	ID           uint64 `gorm:"primaryKey"`
	Platform     string `gorm:"size:32;not null;uniqueIndex:ux_deliveries_event"`
	ShopDomain   string `gorm:"size:255;not null;uniqueIndex:ux_deliveries_event"`
	Topic        string `gorm:"size:128;not null;uniqueIndex:ux_deliveries_event"`
	EventID      string `gorm:"size:255;not null;uniqueIndex:ux_deliveries_event"`
	ShopID       uint64 `gorm:"not null;default:0;index"`
	WebhookID    string `gorm:"size:255;not null;default:''"`
	APIVersion   string `gorm:"size:16;not null;default:''"`
	TriggeredAt  *time.Time
	Body         []byte
	Status       string     `gorm:"size:16;not null;default:'received';index:ix_deliveries_pending,priority:1"`
	Error        string     `gorm:"size:4096;not null;default:''"`
	Attempts     int        `gorm:"not null;default:0"`
	DispatchedAt *time.Time `gorm:"index:ix_deliveries_pending,priority:2"`
	ProcessedAt  *time.Time
	ReceivedAt   time.Time `gorm:"not null"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (v1Delivery) TableName() string { return "deliveries" }

type v1Trigger struct {
	ID              uint64    `gorm:"primaryKey"`
	ShopID          uint64    `gorm:"not null;uniqueIndex:ux_triggers_key"`
	Kind            string    `gorm:"size:64;not null;uniqueIndex:ux_triggers_key"`
	Subject         string    `gorm:"size:128;not null;uniqueIndex:ux_triggers_key"`
	Version         string    `gorm:"size:128;not null;default:'';uniqueIndex:ux_triggers_key"`
	OrderPlatformID int64     `gorm:"not null;default:0;index"`
	DeliveryID      uint64    `gorm:"not null;default:0"`
	Status          string    `gorm:"size:16;not null;default:'pending';index:ix_triggers_due,priority:1"`
	DueAt           time.Time `gorm:"not null;index:ix_triggers_due,priority:2"`
	DispatchedAt    *time.Time
	CreatedAt       time.Time
}

func (v1Trigger) TableName() string { return "triggers" }

// Frozen copies for migration 202611220002: the order a delivery changed,
// the audit log and customer data exports.
type v2Delivery struct {
	ID              uint64 `gorm:"primaryKey"`
	OrderPlatformID int64  `gorm:"not null;default:0;index:ix_deliveries_order"`
}

func (v2Delivery) TableName() string { return "deliveries" }

type v2AuditLog struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;index"`
	Action    string `gorm:"size:64;not null"`
	Subject   string `gorm:"size:128;not null;default:''"`
	Rows      int64  `gorm:"not null;default:0"`
	Detail    string `gorm:"size:4096;not null;default:''"`
	CreatedAt time.Time
}

func (v2AuditLog) TableName() string { return "audit_logs" }

type v2DataExport struct {
	ID                 uint64 `gorm:"primaryKey"`
	ShopID             uint64 `gorm:"not null;uniqueIndex:ux_data_exports_request"`
	RequestKey         string `gorm:"size:255;not null;uniqueIndex:ux_data_exports_request"`
	CustomerPlatformID int64  `gorm:"not null;default:0"`
	Status             string `gorm:"size:16;not null;default:'pending'"`
	Export             []byte
	CreatedAt          time.Time
	CompletedAt        *time.Time
}

func (v2DataExport) TableName() string { return "data_exports" }
