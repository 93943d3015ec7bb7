package models

import "time"

// Message states. A message row is written before anything is sent; its
// unique key makes every effect happen at most once per cause.
const (
	MessageQueued     = "queued"     // waiting for its due time
	MessageDeferred   = "deferred"   // moved later by the policy (quiet hours, cap, hold), with the reason
	MessageSending    = "sending"    // claimed by one worker; a second run of the task leaves it alone
	MessageSent       = "sent"       // accepted by the provider
	MessageFailed     = "failed"     // the provider refused it for good, with its reason
	MessageSuppressed = "suppressed" // decided not to send, with the reason
)

// Message is one message to one recipient about one thing. The unique key
// is (shop, order, flow, step, subject, channel, recipient), empty strings
// for "none" (NULLs never collide in a unique index).
type Message struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;uniqueIndex:ux_messages_key,priority:1"`
	OrderPlatformID int64  `gorm:"not null;default:0;uniqueIndex:ux_messages_key,priority:2"`
	Flow            string `gorm:"size:32;not null;uniqueIndex:ux_messages_key,priority:3"`
	Step            string `gorm:"size:32;not null;default:'';uniqueIndex:ux_messages_key,priority:4"`
	Subject         string `gorm:"size:64;not null;default:'';uniqueIndex:ux_messages_key,priority:5"`
	Channel         string `gorm:"size:16;not null;uniqueIndex:ux_messages_key,priority:6"`
	Recipient       string `gorm:"size:320;not null;uniqueIndex:ux_messages_key,priority:7"`
	// ToMerchant marks internal alerts (recipient is the shop's address).
	ToMerchant         bool   `gorm:"not null;default:false"`
	Marketing          bool   `gorm:"not null;default:false"`
	CustomerPlatformID int64  `gorm:"not null;default:0"`
	Locale             string `gorm:"size:16;not null;default:''"`
	// Covers lists the fulfillment ids a collapsed shipping notice is about
	// (comma-separated), beyond Subject's.
	Covers string `gorm:"size:1024;not null;default:''"`
	Status string `gorm:"size:16;not null"` // ix_messages_dispatch (status, dispatched_at, due_at, id)
	Reason string `gorm:"size:1024;not null;default:''"`
	// DueAt is when it should go (the policy may move it); FirstDueAt is
	// when the flow first wanted it, for the cap's and the hold's maximum delay.
	DueAt        time.Time `gorm:"not null"`
	FirstDueAt   time.Time `gorm:"not null"`
	HeldSince    *time.Time
	DispatchedAt *time.Time
	SendingAt    *time.Time
	SentAt       *time.Time
	ProviderID   string `gorm:"size:255;not null;default:''"`
	Attempts     int    `gorm:"not null;default:0"`
	TriggerID    uint64 `gorm:"not null;default:0"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// MessageEvent is one decision about a message, for the order's timeline:
// queued, deferred until when and why, sending, sent, failed, suppressed.
type MessageEvent struct {
	ID              uint64     `gorm:"primaryKey"`
	ShopID          uint64     `gorm:"not null;index:ix_message_events_order,priority:1"`
	OrderPlatformID int64      `gorm:"not null;default:0;index:ix_message_events_order,priority:2"`
	MessageID       uint64     `gorm:"not null;index"`
	Status          string     `gorm:"size:16;not null"`
	Reason          string     `gorm:"size:1024;not null;default:''"`
	Until           *time.Time // for deferrals
	At              time.Time  `gorm:"not null"`
}

// ShopSettings holds a shop's flow settings as JSON (see jobs.Settings):
// one row per shop, absent until the merchant saves.
type ShopSettings struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;uniqueIndex"`
	Data      string `gorm:"type:text;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// MessageTemplate is a shop's saved template for one flow and locale (JSON
// of the template set: subject, html, text, sms).
type MessageTemplate struct {
	ID        uint64 `gorm:"primaryKey"`
	ShopID    uint64 `gorm:"not null;uniqueIndex:ux_message_templates_key"`
	Flow      string `gorm:"size:32;not null;uniqueIndex:ux_message_templates_key"`
	Locale    string `gorm:"size:16;not null;uniqueIndex:ux_message_templates_key"`
	Data      string `gorm:"type:text;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// OrderHold is a merchant's manual hold on an order's review and
// satisfaction asks (later: an open support ticket), until cleared.
type OrderHold struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;index:ix_order_holds_order,priority:1"`
	OrderPlatformID int64  `gorm:"not null;index:ix_order_holds_order,priority:2"`
	Reason          string `gorm:"size:64;not null"`
	Note            string `gorm:"size:1024;not null;default:''"`
	CreatedAt       time.Time
	ClearedAt       *time.Time
}

// Feedback kinds.
const (
	FeedbackDelivery = "delivery" // DSAT 1-5 from the delivered message
	FeedbackNPS      = "nps"      // 0-10
	FeedbackReview   = "review"   // per product: rating 1-5 and text
)

// Feedback is a shopper's answer about an order: one delivery rating, one
// NPS score and one review per product; answering again replaces it.
type Feedback struct {
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

// Suppression reasons.
const (
	SuppressUnsubscribed = "unsubscribed" // marketing only
	SuppressSMSStop      = "sms_stop"     // every SMS
	SuppressBounced      = "bounced"      // the provider said no such mailbox/number: everything, until the address changes
)

// Suppression stops messages to an address. The address is stored hashed
// (AddressHash): it must outlive a customer's redaction, and it needs no
// personal data to work. ShopID 0 applies to every shop (an SMS STOP to
// the operator's shared number).
type Suppression struct {
	ID          uint64 `gorm:"primaryKey"`
	ShopID      uint64 `gorm:"not null;uniqueIndex:ux_suppressions_key"`
	Channel     string `gorm:"size:16;not null;uniqueIndex:ux_suppressions_key"`
	AddressHash string `gorm:"size:64;not null;uniqueIndex:ux_suppressions_key"`
	Reason      string `gorm:"size:32;not null;uniqueIndex:ux_suppressions_key"`
	Detail      string `gorm:"size:1024;not null;default:''"`
	CreatedAt   time.Time
}

// Alert is an internal event about an order (a delay) that a helpdesk
// integration turns into a ticket; unique per cause.
type Alert struct {
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

// ReviewAsk records that a customer was asked to review a product, so no
// product is asked about twice within a year.
type ReviewAsk struct {
	ID        uint64    `gorm:"primaryKey"`
	ShopID    uint64    `gorm:"not null;uniqueIndex:ux_review_asks_key"`
	Recipient string    `gorm:"size:64;not null;uniqueIndex:ux_review_asks_key"` // hash of the customer's address
	ProductID int64     `gorm:"not null;uniqueIndex:ux_review_asks_key"`
	MessageID uint64    `gorm:"not null;uniqueIndex:ux_review_asks_key"`
	AskedAt   time.Time `gorm:"not null"`
}

// OutboxMessage is a rendered message kept by the outbox channel (the demo
// and installs with no SMTP or Twilio configured).
type OutboxMessage struct {
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

// Waiting reports whether the message still waits to be sent.
func (m Message) Waiting() bool { return m.Status == MessageQueued || m.Status == MessageDeferred }

// Table names are fixed (gorm would pluralize "feedback" as "feedbacks").
func (Message) TableName() string         { return "messages" }
func (MessageEvent) TableName() string    { return "message_events" }
func (ShopSettings) TableName() string    { return "shop_settings" }
func (MessageTemplate) TableName() string { return "message_templates" }
func (OrderHold) TableName() string       { return "order_holds" }
func (Feedback) TableName() string        { return "feedback" }
func (Suppression) TableName() string     { return "suppressions" }
func (Alert) TableName() string           { return "alerts" }
func (ReviewAsk) TableName() string       { return "review_asks" }
func (OutboxMessage) TableName() string   { return "outbox_messages" }
