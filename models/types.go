// Package models holds Doorstep's normalized domain types (what every
// platform adapter produces), their gorm mapping, the versioned migrations,
// and the store: the queries and transactions that keep data correct.
//
// Platform IDs are int64 (Shopify, WooCommerce and BigCommerce all use
// integers up to 2^63); they are never float64. Money is decimal.Decimal with
// a currency code beside it. Every row carries ShopID and every store method
// is scoped by it.
package models

import (
	"time"

	"github.com/shopspring/decimal"
)

// Platform names.
const (
	PlatformShopify = "shopify"
)

// Shop is an installed store. Tokens are stored encrypted; the plain values
// only ever live in a Token returned by the store.
type Shop struct {
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

// Installed reports whether the shop currently has the app installed.
func (s Shop) Installed() bool { return s.InstalledAt != nil && s.UninstalledAt == nil }

// Token is a decrypted access token with its refresh token.
type Token struct {
	AccessToken           string
	AccessTokenExpiresAt  time.Time // zero: does not expire
	RefreshToken          string
	RefreshTokenExpiresAt time.Time
	Scopes                string
}

// Customer is a shopper of one shop.
type Customer struct {
	ID         uint64 `gorm:"primaryKey"`
	ShopID     uint64 `gorm:"not null;uniqueIndex:ux_customers_shop_platform"`
	PlatformID int64  `gorm:"not null;uniqueIndex:ux_customers_shop_platform"`
	Email      string `gorm:"size:320;not null;default:'';index"`
	Phone      string `gorm:"size:64;not null;default:''"`
	FirstName  string `gorm:"size:255;not null;default:''"`
	LastName   string `gorm:"size:255;not null;default:''"`
	Locale     string `gorm:"size:16;not null;default:''"`
	State      string `gorm:"size:32;not null;default:''"`
	// Marketing consent as the platform reports it (transactional messages
	// need none).
	EmailMarketing    bool `gorm:"not null;default:false"`
	SMSMarketing      bool `gorm:"not null;default:false"`
	PlatformCreatedAt time.Time
	PlatformUpdatedAt time.Time
	RedactedAt        *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Address is embedded in orders with a column prefix.
type Address struct {
	Name     string `gorm:"size:255;not null;default:''"`
	Company  string `gorm:"size:255;not null;default:''"`
	Address1 string `gorm:"size:255;not null;default:''"`
	Address2 string `gorm:"size:255;not null;default:''"`
	City     string `gorm:"size:255;not null;default:''"`
	Province string `gorm:"size:255;not null;default:''"`
	// ProvinceCode ("CA", "BC", "NSW") picks the recipient's time zone.
	ProvinceCode string `gorm:"size:16;not null;default:''"`
	Zip          string `gorm:"size:32;not null;default:''"`
	CountryCode  string `gorm:"size:2;not null;default:''"`
	Phone        string `gorm:"size:64;not null;default:''"`
}

// Order is the normalized order. LineItems, Fulfillments, Refunds and
// Customer are filled by parsers and by the store's loaders; the store
// writes them to their own tables (they are not gorm associations).
type Order struct {
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
	// OriginalSubtotal is the subtotal as placed (after discounts, before
	// shipping and tax, in the shop's currency); unlike Subtotal, later
	// refunds and edits don't lower it. Loyalty points are earned on it.
	OriginalSubtotal decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	// PresentmentCurrency is what the shopper paid in, when it differs
	// from the shop's currency (Currency); amounts here are all in the
	// shop's currency.
	PresentmentCurrency string `gorm:"size:3;not null;default:''"`
	// DiscountCodes are the codes applied at checkout, comma-separated as
	// entered (a referral is attributed by its code).
	DiscountCodes string `gorm:"size:1024;not null;default:''"`
	// LandingSite is the first storefront URL of the shopper's visit
	// (a referral link's ?ref= lands here).
	LandingSite string `gorm:"size:2048;not null;default:''"`
	// ReferralCode is Doorstep's cart attribute "doorstep_ref", set by the
	// referral link or the rewards block.
	ReferralCode string `gorm:"size:64;not null;default:''"`
	// BrowserIP is the checkout's client IP (personal data: redacted with
	// the order), for the referral fraud checks.
	BrowserIP         string `gorm:"size:64;not null;default:''"`
	FinancialStatus   string `gorm:"size:32;not null;default:''"` // pending, authorized, paid, partially_paid, partially_refunded, refunded, voided
	FulfillmentStatus string `gorm:"size:32;not null;default:''"` // "", partial, fulfilled, restocked
	CancelledAt       *time.Time
	CancelReason      string `gorm:"size:64;not null;default:''"`
	ClosedAt          *time.Time
	ProcessedAt       *time.Time
	Tags              string  `gorm:"size:2048;not null;default:''"`
	Test              bool    `gorm:"not null;default:false"`
	StatusPageURL     string  `gorm:"size:2048;not null;default:''"`
	ShippingAddress   Address `gorm:"embedded;embeddedPrefix:ship_"`
	PlatformCreatedAt time.Time
	PlatformUpdatedAt time.Time `gorm:"not null"`
	RedactedAt        *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time

	LineItems    []LineItem    `gorm:"-"`
	Fulfillments []Fulfillment `gorm:"-"`
	Refunds      []Refund      `gorm:"-"`
	Customer     *Customer     `gorm:"-"`
}

// Cancelled reports whether the order has been cancelled.
func (o Order) Cancelled() bool { return o.CancelledAt != nil }

// Paid reports whether money was captured for the order at some point.
func (o Order) Paid() bool {
	switch o.FinancialStatus {
	case "paid", "partially_paid", "partially_refunded", "refunded":
		return true
	}
	return false
}

// LineItem is one line of an order.
type LineItem struct {
	ID            uint64          `gorm:"primaryKey"`
	ShopID        uint64          `gorm:"not null;uniqueIndex:ux_line_items_shop_platform"`
	OrderID       uint64          `gorm:"not null;index"`
	PlatformID    int64           `gorm:"not null;uniqueIndex:ux_line_items_shop_platform"`
	ProductID     int64           `gorm:"not null;default:0"`
	VariantID     int64           `gorm:"not null;default:0"`
	SKU           string          `gorm:"size:255;not null;default:''"`
	Title         string          `gorm:"size:512;not null;default:''"`
	VariantTitle  string          `gorm:"size:512;not null;default:''"`
	Quantity      int             `gorm:"not null;default:0"`
	Price         decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"` // unit price
	TotalDiscount decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	// DiscountAllocated is every discount allocated to this line, order-level
	// ones included (Shopify's discount_allocations, shop money).
	DiscountAllocated   decimal.Decimal `gorm:"type:numeric(20,4);not null;default:0"`
	FulfillableQuantity int             `gorm:"not null;default:0"`
	FulfillmentStatus   string          `gorm:"size:32;not null;default:''"`
	RequiresShipping    bool            `gorm:"not null;default:true"`
	ImageURL            string          `gorm:"size:2048;not null;default:''"`
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Shipment statuses (DESIGN.md). "confirmed" is a fulfillment created with
// no carrier scan yet.
const (
	ShipmentConfirmed        = "confirmed"
	ShipmentInTransit        = "in_transit"
	ShipmentOutForDelivery   = "out_for_delivery"
	ShipmentAttemptedDeliver = "attempted_delivery"
	ShipmentDelivered        = "delivered"
	ShipmentFailure          = "failure"
	ShipmentReadyForPickup   = "ready_for_pickup"
)

// Fulfillment is one shipment of (part of) an order.
type Fulfillment struct {
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
	LineItems           []FulfillmentLine `gorm:"serializer:json;type:text"`
	PlatformCreatedAt   time.Time
	PlatformUpdatedAt   time.Time `gorm:"not null"`
	CreatedAt           time.Time
	UpdatedAt           time.Time

	Events []FulfillmentEvent `gorm:"-"`
}

// FulfillmentLine says how many units of an order line a fulfillment ships.
type FulfillmentLine struct {
	LineItemID int64 `json:"line_item_id"`
	Quantity   int   `json:"quantity"`
}

// FulfillmentEvent is one carrier scan (fulfillment_events/create).
type FulfillmentEvent struct {
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

// Refund is money returned on an order, with the lines it covers.
type Refund struct {
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

	Lines []RefundLine `gorm:"-"`
}

// RefundLine is one refunded order line.
type RefundLine struct {
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

// Lifecycle events carry no table of their own; they are what parsers
// produce for app/uninstalled and the compliance topics.
type (
	// AppUninstalled: the token is already revoked.
	AppUninstalled struct{ ShopDomain string }
	// CustomerRedact asks to erase one customer's data.
	CustomerRedact struct {
		ShopDomain     string
		CustomerID     int64
		Email          string
		Phone          string
		OrdersToRedact []int64
	}
	// CustomerDataRequest asks for an export of one customer's data.
	CustomerDataRequest struct {
		ShopDomain      string
		CustomerID      int64
		Email           string
		Phone           string
		OrdersRequested []int64
		DataRequestID   int64
	}
	// ShopRedact asks to delete a shop's data (48 h after uninstall).
	ShopRedact struct{ ShopDomain string }
)
