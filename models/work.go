package models

import "time"

// Delivery statuses.
const (
	DeliveryReceived  = "received"  // stored, waiting for (re)dispatch and processing
	DeliveryProcessed = "processed" // applied to orders etc., triggers written
	DeliveryFailed    = "failed"    // could not be parsed or applied; Error says why; replayable
	DeliveryIgnored   = "ignored"   // a topic Doorstep does not handle, or a shop it does not know
)

// Delivery is one webhook as received, kept raw so a fixed parser can replay
// it. Unique on (platform, shop domain, topic, event id): the durable dedup.
// ShopID is resolved when the delivery is processed (intake does one INSERT
// and nothing else).
type Delivery struct {
	ID         uint64 `gorm:"primaryKey"`
	Platform   string `gorm:"size:32;not null;uniqueIndex:ux_deliveries_event"`
	ShopDomain string `gorm:"size:255;not null;uniqueIndex:ux_deliveries_event"`
	Topic      string `gorm:"size:128;not null;uniqueIndex:ux_deliveries_event"`
	EventID    string `gorm:"size:255;not null;uniqueIndex:ux_deliveries_event"`
	ShopID     uint64 `gorm:"not null;default:0;index"`
	// OrderPlatformID is the order the delivery changed (0 if none), set
	// when processed, so an order's timeline lists its deliveries.
	OrderPlatformID int64  `gorm:"not null;default:0;index:ix_deliveries_order"`
	WebhookID       string `gorm:"size:255;not null;default:''"`
	APIVersion      string `gorm:"size:16;not null;default:''"`
	TriggeredAt     *time.Time
	Body            []byte
	Status          string     `gorm:"size:16;not null;default:'received';index:ix_deliveries_pending,priority:1"`
	Error           string     `gorm:"size:4096;not null;default:''"`
	Attempts        int        `gorm:"not null;default:0"`
	DispatchedAt    *time.Time `gorm:"index:ix_deliveries_pending,priority:2"` // and id, third (migration 0015)
	ProcessedAt     *time.Time
	ReceivedAt      time.Time `gorm:"not null"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Trigger kinds: what flows subscribe to. Triggers come from the normalized
// state change, never from a topic's name.
const (
	TriggerOrderCreated      = "order_created"
	TriggerOrderPaid         = "order_paid"
	TriggerOrderCancelled    = "order_cancelled"
	TriggerFulfillmentStatus = "fulfillment_status" // Version is the shipment status
	TriggerRefundCreated     = "refund_created"
	TriggerCustomerRedact    = "customer_redact"
	TriggerCustomerDataReq   = "customer_data_request"
	TriggerShopRedact        = "shop_redact"
	TriggerUninstalled       = "uninstalled"
)

// Trigger statuses.
const (
	TriggerPending    = "pending"    // due and waiting for a subscriber
	TriggerDispatched = "dispatched" // handed to the flow tasks; re-dispatched if not done in time
	TriggerDone       = "done"       // every subscriber finished
	TriggerExpired    = "expired"    // nobody subscribed in time
	TriggerCancelled  = "cancelled"  // its work was stopped (the shop uninstalled)
)

// Trigger is one consequence of a state change, unique on (shop, kind,
// subject, version) so the same change seen twice makes one trigger.
// Subject is what it is about ("order:123", "fulfillment:456", "refund:7",
// "customer:9", "shop"); Version distinguishes repeated consequences for the
// same subject (a shipment status, an uninstall time) and is "" when there
// is only one.
type Trigger struct {
	ID              uint64    `gorm:"primaryKey"`
	ShopID          uint64    `gorm:"not null;uniqueIndex:ux_triggers_key"`
	Kind            string    `gorm:"size:64;not null;uniqueIndex:ux_triggers_key"`
	Subject         string    `gorm:"size:128;not null;uniqueIndex:ux_triggers_key"`
	Version         string    `gorm:"size:128;not null;default:'';uniqueIndex:ux_triggers_key"`
	OrderPlatformID int64     `gorm:"not null;default:0;index"`
	DeliveryID      uint64    `gorm:"not null;default:0"`
	Status          string    `gorm:"size:16;not null;default:'pending'"` // ix_triggers_kind_due (kind, status, due_at), ix_triggers_lost (status, dispatched_at)
	DueAt           time.Time `gorm:"not null"`
	DispatchedAt    *time.Time
	CreatedAt       time.Time
}
