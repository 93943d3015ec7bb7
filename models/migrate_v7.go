package models

// Frozen copies of the schema as migration 202611220007_messages created it.
// Never edit them: a later change adds a new migration with its own structs.

import "time"

type v7Message struct {
	ID                 uint64    `gorm:"primaryKey"`
	ShopID             uint64    `gorm:"not null;uniqueIndex:ux_messages_key,priority:1"`
	OrderPlatformID    int64     `gorm:"not null;default:0;uniqueIndex:ux_messages_key,priority:2"`
	Flow               string    `gorm:"size:32;not null;uniqueIndex:ux_messages_key,priority:3"`
	Step               string    `gorm:"size:32;not null;default:'';uniqueIndex:ux_messages_key,priority:4"`
	Subject            string    `gorm:"size:64;not null;default:'';uniqueIndex:ux_messages_key,priority:5"`
	Channel            string    `gorm:"size:16;not null;uniqueIndex:ux_messages_key,priority:6"`
	Recipient          string    `gorm:"size:320;not null;uniqueIndex:ux_messages_key,priority:7"`
	ToMerchant         bool      `gorm:"not null;default:false"`
	Marketing          bool      `gorm:"not null;default:false"`
	CustomerPlatformID int64     `gorm:"not null;default:0"`
	Locale             string    `gorm:"size:16;not null;default:''"`
	Covers             string    `gorm:"size:1024;not null;default:''"`
	Status             string    `gorm:"size:16;not null;index:ix_messages_due,priority:1"`
	Reason             string    `gorm:"size:1024;not null;default:''"`
	DueAt              time.Time `gorm:"not null;index:ix_messages_due,priority:2"`
	FirstDueAt         time.Time `gorm:"not null"`
	HeldSince          *time.Time
	DispatchedAt       *time.Time
	SendingAt          *time.Time
	SentAt             *time.Time
	ProviderID         string `gorm:"size:255;not null;default:''"`
	Attempts           int    `gorm:"not null;default:0"`
	TriggerID          uint64 `gorm:"not null;default:0"`
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (v7Message) TableName() string { return "messages" }

type v7MessageEvent struct {
	ID              uint64     `gorm:"primaryKey"`
	ShopID          uint64     `gorm:"not null;index:ix_message_events_order,priority:1"`
	OrderPlatformID int64      `gorm:"not null;default:0;index:ix_message_events_order,priority:2"`
	MessageID       uint64     `gorm:"not null;index"`
	Status          string     `gorm:"size:16;not null"`
	Reason          string     `gorm:"size:1024;not null;default:''"`
	Until           *time.Time // for deferrals
	At              time.Time  `gorm:"not null"`
}

func (v7MessageEvent) TableName() string { return "message_events" }

type v7ShopSettings struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;uniqueIndex"`
	Data      string `gorm:"type:text;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (v7ShopSettings) TableName() string { return "shop_settings" }

type v7MessageTemplate struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;uniqueIndex:ux_message_templates_key"`
	Flow      string `gorm:"size:32;not null;uniqueIndex:ux_message_templates_key"`
	Locale    string `gorm:"size:16;not null;uniqueIndex:ux_message_templates_key"`
	Data      string `gorm:"type:text;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (v7MessageTemplate) TableName() string { return "message_templates" }

type v7OrderHold struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;index:ix_order_holds_order,priority:1"`
	OrderPlatformID int64  `gorm:"not null;index:ix_order_holds_order,priority:2"`
	Reason          string `gorm:"size:64;not null"`
	Note            string `gorm:"size:1024;not null;default:''"`
	CreatedAt       time.Time
	ClearedAt       *time.Time
}

func (v7OrderHold) TableName() string { return "order_holds" }

type v7Feedback struct {
	ID                 uint64 `gorm:"primaryKey"`
	ShopID             uint64 `gorm:"not null;uniqueIndex:ux_feedback_key"`
	OrderPlatformID    int64  `gorm:"not null;uniqueIndex:ux_feedback_key"`
	Kind               string `gorm:"size:16;not null;uniqueIndex:ux_feedback_key"`
	ProductID          int64  `gorm:"not null;default:0;uniqueIndex:ux_feedback_key"`
	CustomerPlatformID int64  `gorm:"not null;default:0"`
	Rating             int    `gorm:"not null"`
	Comment            string `gorm:"type:text;not null;default:''"`
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (v7Feedback) TableName() string { return "feedback" }

type v7Suppression struct {
	ID          uint64 `gorm:"primaryKey"`
	ShopID      uint64 `gorm:"not null;uniqueIndex:ux_suppressions_key"`
	Channel     string `gorm:"size:16;not null;uniqueIndex:ux_suppressions_key"`
	AddressHash string `gorm:"size:64;not null;uniqueIndex:ux_suppressions_key"`
	Reason      string `gorm:"size:32;not null;uniqueIndex:ux_suppressions_key"`
	Detail      string `gorm:"size:1024;not null;default:''"`
	CreatedAt   time.Time
}

func (v7Suppression) TableName() string { return "suppressions" }

type v7Alert struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;uniqueIndex:ux_alerts_key"`
	OrderPlatformID int64  `gorm:"not null;default:0"`
	Kind            string `gorm:"size:32;not null;uniqueIndex:ux_alerts_key"`
	Subject         string `gorm:"size:64;not null;uniqueIndex:ux_alerts_key"`
	Reason          string `gorm:"size:64;not null;uniqueIndex:ux_alerts_key"`
	Detail          string `gorm:"size:1024;not null;default:''"`
	HandledAt       *time.Time
	CreatedAt       time.Time
}

func (v7Alert) TableName() string { return "alerts" }

type v7ReviewAsk struct {
	ID        uint64    `gorm:"primaryKey"`
	ShopID    uint64    `gorm:"not null;uniqueIndex:ux_review_asks_key"`
	Recipient string    `gorm:"size:64;not null;uniqueIndex:ux_review_asks_key"` // hash of the customer's address
	ProductID int64     `gorm:"not null;uniqueIndex:ux_review_asks_key"`
	MessageID uint64    `gorm:"not null;uniqueIndex:ux_review_asks_key"`
	AskedAt   time.Time `gorm:"not null"`
}

func (v7ReviewAsk) TableName() string { return "review_asks" }

type v7OutboxMessage struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;index"`
	MessageID string `gorm:"size:64;not null;uniqueIndex"`
	Channel   string `gorm:"size:16;not null"`
	To        string `gorm:"size:320;not null"`
	Subject   string `gorm:"size:1024;not null;default:''"`
	HTML      string `gorm:"type:text;not null;default:''"`
	Text      string `gorm:"type:text;not null;default:''"`
	Headers   string `gorm:"type:text;not null;default:''"`
	CreatedAt time.Time
}

func (v7OutboxMessage) TableName() string { return "outbox_messages" }

// v7Customer adds marketing consent to customers.
type v7Customer struct {
	EmailMarketing bool `gorm:"not null;default:false"`
	SMSMarketing   bool `gorm:"not null;default:false"`
}

func (v7Customer) TableName() string { return "customers" }

// v7Order adds the shipping address's province code (the recipient's time zone).
type v7Order struct {
	ShipProvinceCode string `gorm:"size:16;not null;default:''"`
}

func (v7Order) TableName() string { return "orders" }
