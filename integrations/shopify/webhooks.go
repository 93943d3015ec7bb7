package shopify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	goshopify "github.com/bold-commerce/go-shopify/v4"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/models"
)

// Webhook headers Shopify sends.
const (
	HeaderHmac       = "X-Shopify-Hmac-Sha256"
	HeaderTopic      = "X-Shopify-Topic"
	HeaderShopDomain = "X-Shopify-Shop-Domain"
	HeaderEventID    = "X-Shopify-Event-Id"
	HeaderWebhookID  = "X-Shopify-Webhook-Id"
	HeaderAPIVersion = "X-Shopify-API-Version"
)

// VerifyWebhook checks the base64 HMAC-SHA256 of the raw body (current or
// previous secret, constant time) and reads the headers the intake needs.
// A missing or wrong signature returns commerce.ErrBadSignature (wrapped):
// answer 401 and store nothing. A signed delivery with unusable headers (no
// topic, an invalid shop domain, no event or webhook id) returns another
// descriptive error.
func (c *Client) VerifyWebhook(h http.Header, body []byte) (commerce.WebhookMeta, error) {
	if h.Get(HeaderHmac) == "" {
		return commerce.WebhookMeta{}, fmt.Errorf("%w: %s header missing", commerce.ErrBadSignature, HeaderHmac)
	}
	req, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return commerce.WebhookMeta{}, fmt.Errorf("verify webhook: %w", err)
	}
	req.Header.Set(HeaderHmac, h.Get(HeaderHmac))
	ok := false
	for _, s := range c.secrets() {
		// VerifyWebhookRequest reads the body and puts it back, so the same
		// request serves the second attempt.
		if (goshopify.App{ApiKey: c.cfg.APIKey, ApiSecret: s}).VerifyWebhookRequest(req) {
			ok = true
			break
		}
	}
	if !ok {
		return commerce.WebhookMeta{}, commerce.ErrBadSignature
	}

	m := commerce.WebhookMeta{
		Topic:      h.Get(HeaderTopic),
		WebhookID:  h.Get(HeaderWebhookID),
		EventID:    h.Get(HeaderEventID),
		APIVersion: h.Get(HeaderAPIVersion),
	}
	if m.Topic == "" {
		return commerce.WebhookMeta{}, fmt.Errorf("webhook: %s header missing", HeaderTopic)
	}
	shop, err := NormalizeShopDomain(h.Get(HeaderShopDomain))
	if err != nil {
		return commerce.WebhookMeta{}, fmt.Errorf("webhook: %s: %w", HeaderShopDomain, err)
	}
	m.ShopDomain = shop
	if m.EventID == "" {
		// Older deliveries carry only the webhook id; it is stable across
		// Shopify's retries, which is what dedup needs.
		m.EventID = m.WebhookID
	}
	if m.EventID == "" {
		return commerce.WebhookMeta{}, fmt.Errorf("webhook: neither %s nor %s header present", HeaderEventID, HeaderWebhookID)
	}
	return m, nil
}

// ParseWebhook turns a verified body into normalized events. It returns
// commerce.ErrUnknownTopic (wrapped) for topics Doorstep does not handle,
// and a descriptive error for invalid JSON or a payload without its id.
func (c *Client) ParseWebhook(topic string, body []byte) ([]commerce.Event, error) {
	ev, err := parseWebhook(topic, body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", topic, err)
	}
	return []commerce.Event{ev}, nil
}

func parseWebhook(topic string, body []byte) (commerce.Event, error) {
	switch topic {
	case "orders/create", "orders/updated", "orders/paid", "orders/cancelled",
		"orders/fulfilled", "orders/partially_fulfilled":
		var p orderPayload
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		o, err := p.order()
		if err != nil {
			return commerce.Event{}, err
		}
		return commerce.Event{Kind: commerce.EventOrder, Order: &o}, nil

	case "fulfillments/create", "fulfillments/update":
		var p fulfillmentPayload
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		f, err := p.fulfillment(0)
		if err != nil {
			return commerce.Event{}, err
		}
		return commerce.Event{Kind: commerce.EventFulfillment, Fulfillment: &f}, nil

	case "fulfillment_events/create":
		var p fulfillmentEventPayload
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		fe, err := p.event()
		if err != nil {
			return commerce.Event{}, err
		}
		return commerce.Event{Kind: commerce.EventFulfillmentEvent, FulfillmentEvent: &fe}, nil

	case "refunds/create":
		var p refundPayload
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		r, err := p.refund(0, "")
		if err != nil {
			return commerce.Event{}, err
		}
		return commerce.Event{Kind: commerce.EventRefund, Refund: &r}, nil

	case "customers/create", "customers/update":
		var p customerPayload
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		if p.ID == 0 {
			return commerce.Event{}, errMissingID
		}
		cu := p.customer()
		return commerce.Event{Kind: commerce.EventCustomer, Customer: &cu}, nil

	case "app/uninstalled":
		var p struct {
			MyshopifyDomain string `json:"myshopify_domain"`
			Domain          string `json:"domain"`
		}
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		d := p.MyshopifyDomain
		if d == "" {
			d = p.Domain
		}
		return commerce.Event{Kind: commerce.EventAppUninstalled, AppUninstalled: &models.AppUninstalled{ShopDomain: d}}, nil

	case "customers/redact":
		var p compliancePayload
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		return commerce.Event{Kind: commerce.EventCustomerRedact, CustomerRedact: &models.CustomerRedact{
			ShopDomain:     p.ShopDomain,
			CustomerID:     p.Customer.ID,
			Email:          p.Customer.Email,
			Phone:          p.Customer.Phone,
			OrdersToRedact: p.OrdersToRedact,
		}}, nil

	case "customers/data_request":
		var p compliancePayload
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		return commerce.Event{Kind: commerce.EventCustomerDataRequest, CustomerDataRequest: &models.CustomerDataRequest{
			ShopDomain:      p.ShopDomain,
			CustomerID:      p.Customer.ID,
			Email:           p.Customer.Email,
			Phone:           p.Customer.Phone,
			OrdersRequested: p.OrdersRequested,
			DataRequestID:   p.DataRequest.ID,
		}}, nil

	case "shop/redact":
		var p compliancePayload
		if err := decode(body, &p); err != nil {
			return commerce.Event{}, err
		}
		return commerce.Event{Kind: commerce.EventShopRedact, ShopRedact: &models.ShopRedact{ShopDomain: p.ShopDomain}}, nil
	}
	return commerce.Event{}, commerce.ErrUnknownTopic
}

var errMissingID = errors.New("payload has no id")

// decode insists on one JSON object. IDs land in int64 fields and money in
// decimal.Decimal, so nothing passes through float64.
func decode(body []byte, v any) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return errors.New("payload is not a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}
