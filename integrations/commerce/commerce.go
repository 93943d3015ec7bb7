// Package commerce is the interface every commerce platform (Shopify, later
// WooCommerce and BigCommerce) implements, and the normalized events its
// webhooks become. Adapters translate; jobs decide.
package commerce

import (
	"context"
	"errors"
	"net/http"

	"github.com/doorstep/doorstep/models"
)

// EventKind names what a normalized event carries.
type EventKind string

const (
	EventOrder               EventKind = "order"
	EventFulfillment         EventKind = "fulfillment"
	EventFulfillmentEvent    EventKind = "fulfillment_event"
	EventRefund              EventKind = "refund"
	EventCustomer            EventKind = "customer"
	EventAppUninstalled      EventKind = "app_uninstalled"
	EventCustomerRedact      EventKind = "customer_redact"
	EventCustomerDataRequest EventKind = "customer_data_request"
	EventShopRedact          EventKind = "shop_redact"
)

// Event is one normalized consequence of a webhook. Exactly one of the
// pointers matching Kind is set.
type Event struct {
	Kind                EventKind
	Order               *models.Order
	Fulfillment         *models.Fulfillment
	FulfillmentEvent    *models.FulfillmentEvent
	Refund              *models.Refund
	Customer            *models.Customer
	AppUninstalled      *models.AppUninstalled
	CustomerRedact      *models.CustomerRedact
	CustomerDataRequest *models.CustomerDataRequest
	ShopRedact          *models.ShopRedact
}

// WebhookMeta is what the intake needs from a verified webhook's headers.
type WebhookMeta struct {
	ShopDomain string
	Topic      string
	EventID    string // the dedup key: the event id, or the webhook id when absent
	WebhookID  string
	APIVersion string
}

// ErrBadSignature means the webhook is not from the platform: answer 401 and store nothing.
var ErrBadSignature = errors.New("webhook signature does not verify")

// ErrUnknownTopic means the platform sent a topic Doorstep does not handle:
// answer 200, store as ignored.
var ErrUnknownTopic = errors.New("unknown webhook topic")

// Webhooks is the webhook half of a platform: verify, then parse.
type Webhooks interface {
	// Name is the platform name stored on deliveries ("shopify").
	Name() string
	// VerifyWebhook checks the signature over the raw body and reads the
	// headers; it returns ErrBadSignature (wrapped) when it does not verify.
	VerifyWebhook(h http.Header, body []byte) (WebhookMeta, error)
	// ParseWebhook turns a verified body into normalized events. It returns
	// ErrUnknownTopic for topics it does not handle and a descriptive error
	// for a payload it cannot parse (never retried).
	ParseWebhook(topic string, body []byte) ([]Event, error)
}

// Platform is everything Doorstep asks of a commerce platform.
type Platform interface {
	Webhooks
	// ShopInfo reads the shop's name, email, timezone and currency.
	ShopInfo(ctx context.Context, shopDomain, accessToken string) (models.Shop, error)
	// RegisterWebhooks makes sure every topic is subscribed to callbackURL,
	// creating only the missing subscriptions.
	RegisterWebhooks(ctx context.Context, shopDomain, accessToken, callbackURL string, topics []string) error
}
