package shopifytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep/doorstep/models"
)

// Webhooks. SendWebhook renders an order the way Shopify's REST webhook
// bodies carry it, signs it with APISecret and POSTs it to the shop's
// subscriptions for the topic, as Shopify does. Because test servers are
// plain http and Shopify (and the fake) only accept https subscriptions,
// SetWebhookTarget redirects every delivery to one URL; a shop with no
// subscriptions at all delivers straight to the target, so a test needn't
// register webhooks to receive them. DropWebhooks and DelayWebhooks make
// deliveries unreliable, as they are.

type webhookState struct {
	target       string
	client       *http.Client
	dropFraction float64
	dropRand     *rand.Rand
	delayFrac    float64
	delayRand    *rand.Rand
	held         []heldWebhook
	log          []WebhookDelivery
	eventID      int64
}

type heldWebhook struct {
	url  string
	hdr  http.Header
	body []byte
	idx  int // in log
}

// WebhookDelivery is one webhook the fake meant to send.
type WebhookDelivery struct {
	Shop, Topic, URL string
	EventID          string
	OrderID          int64
	Body             []byte
	Dropped          bool // never sent (DropWebhooks)
	Delayed          bool // held until FlushDelayedWebhooks
	Status           int  // the receiver's answer; 0 when not (yet) sent or it failed
	Err              string
}

// SetWebhookTarget sends every webhook delivery to url instead of the
// subscription's address.
func (s *Server) SetWebhookTarget(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks.target = url
}

// DropWebhooks makes the fake lose fraction (0..1) of the webhooks it sends
// from now on, chosen by a generator seeded with seed (so the same sends
// lose the same webhooks). Dropped webhooks are logged with Dropped set.
func (s *Server) DropWebhooks(fraction float64, seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks.dropFraction = fraction
	s.webhooks.dropRand = rand.New(rand.NewPCG(uint64(seed), 1))
}

// DelayWebhooks holds back fraction of the webhooks sent from now on until
// FlushDelayedWebhooks, which delivers them newest first (late and out of
// order, as Shopify's retries arrive).
func (s *Server) DelayWebhooks(fraction float64, seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks.delayFrac = fraction
	s.webhooks.delayRand = rand.New(rand.NewPCG(uint64(seed), 2))
}

// FlushDelayedWebhooks delivers the held webhooks and returns how many.
func (s *Server) FlushDelayedWebhooks() int {
	s.mu.Lock()
	held := s.webhooks.held
	s.webhooks.held = nil
	s.mu.Unlock()
	for i := len(held) - 1; i >= 0; i-- {
		h := held[i]
		status, err := s.deliver(h.url, h.hdr, h.body)
		s.mu.Lock()
		s.webhooks.log[h.idx].Status = status
		if err != nil {
			s.webhooks.log[h.idx].Err = err.Error()
		}
		s.mu.Unlock()
	}
	return len(held)
}

// Webhooks returns every delivery the fake meant to make, in order.
func (s *Server) Webhooks() []WebhookDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WebhookDelivery(nil), s.webhooks.log...)
}

// DeleteSubscription removes shop's subscriptions to topic (REST form
// "orders/create" or enum form "ORDERS_CREATE"), as Shopify does after
// repeated failed deliveries. It returns how many it removed.
func (s *Server) DeleteSubscription(shop, topic string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	if !ok {
		return 0
	}
	enum := topicEnum(topic)
	kept := sh.subs[:0]
	n := 0
	for _, sub := range sh.subs {
		if sub.Topic == enum {
			n++
			continue
		}
		kept = append(kept, sub)
	}
	sh.subs = kept
	return n
}

func topicEnum(topic string) string {
	return strings.ToUpper(strings.ReplaceAll(topic, "/", "_"))
}

// SendWebhook sends topic (REST form) for order to each of shop's
// subscriptions to it (see SetWebhookTarget). orders/* topics carry the
// order; fulfillments/create and fulfillments/update its last fulfillment;
// fulfillment_events/create that fulfillment's last event; refunds/create
// its last refund; customers/create and customers/update its customer. It
// returns an error when a receiver answers other than 2xx or can't be
// reached (a dropped or delayed webhook is not an error).
func (s *Server) SendWebhook(shop, topic string, order models.Order) error {
	body, err := webhookBody(shop, topic, order)
	if err != nil {
		return err
	}
	s.mu.Lock()
	sh, ok := s.shops[shop]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("shopifytest: unknown shop %s", shop)
	}
	var urls []string
	enum := topicEnum(topic)
	for _, sub := range sh.subs {
		if sub.Topic == enum {
			urls = append(urls, sub.URI)
		}
	}
	w := &s.webhooks
	if len(sh.subs) == 0 && w.target != "" {
		urls = []string{w.target}
	}
	type send struct {
		url string
		hdr http.Header
		idx int
	}
	var sends []send
	for _, u := range urls {
		if w.target != "" {
			u = w.target
		}
		w.eventID++
		eventID := strconv.FormatInt(w.eventID, 10) + "-" + randHex(4)
		hdr := http.Header{}
		hdr.Set("Content-Type", "application/json")
		hdr.Set("X-Shopify-Topic", topic)
		hdr.Set("X-Shopify-Shop-Domain", shop)
		hdr.Set("X-Shopify-API-Version", Version)
		hdr.Set("X-Shopify-Webhook-Id", randHex(16))
		hdr.Set("X-Shopify-Event-Id", eventID)
		hdr.Set("X-Shopify-Triggered-At", s.now().UTC().Format(time.RFC3339Nano))
		hdr.Set("X-Shopify-Hmac-Sha256", SignWebhook(s.APISecret, body))
		d := WebhookDelivery{Shop: shop, Topic: topic, URL: u, EventID: eventID, OrderID: order.PlatformID, Body: body}
		switch {
		case w.dropRand != nil && w.dropRand.Float64() < w.dropFraction:
			d.Dropped = true
			w.log = append(w.log, d)
		case w.delayRand != nil && w.delayRand.Float64() < w.delayFrac:
			d.Delayed = true
			w.log = append(w.log, d)
			w.held = append(w.held, heldWebhook{url: u, hdr: hdr, body: body, idx: len(w.log) - 1})
		default:
			w.log = append(w.log, d)
			sends = append(sends, send{url: u, hdr: hdr, idx: len(w.log) - 1})
		}
	}
	s.mu.Unlock()

	var errs []string
	for _, sd := range sends {
		status, err := s.deliver(sd.url, sd.hdr, body)
		s.mu.Lock()
		s.webhooks.log[sd.idx].Status = status
		if err != nil {
			s.webhooks.log[sd.idx].Err = err.Error()
			errs = append(errs, err.Error())
		}
		s.mu.Unlock()
	}
	if len(errs) > 0 {
		return fmt.Errorf("shopifytest: webhook %s: %s", topic, strings.Join(errs, "; "))
	}
	return nil
}

func (s *Server) deliver(url string, hdr http.Header, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = hdr.Clone()
	hc := s.webhooks.client
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second} // Shopify waits 5 s
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("deliver to %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("deliver to %s: HTTP %d", url, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// WebhookBody is the REST webhook body the fake sends for topic and order.
func WebhookBody(shop, topic string, order models.Order) ([]byte, error) {
	return webhookBody(shop, topic, order)
}

func webhookBody(shop, topic string, o models.Order) ([]byte, error) {
	var v any
	switch {
	case strings.HasPrefix(topic, "orders/"):
		v = restOrder(o)
	case topic == "fulfillments/create" || topic == "fulfillments/update":
		if len(o.Fulfillments) == 0 {
			return nil, fmt.Errorf("shopifytest: %s for order %d: it has no fulfillment", topic, o.PlatformID)
		}
		v = restFulfillment(o.Fulfillments[len(o.Fulfillments)-1], o.PlatformID)
	case topic == "fulfillment_events/create":
		if len(o.Fulfillments) == 0 || len(o.Fulfillments[len(o.Fulfillments)-1].Events) == 0 {
			return nil, fmt.Errorf("shopifytest: %s for order %d: its last fulfillment has no event", topic, o.PlatformID)
		}
		f := o.Fulfillments[len(o.Fulfillments)-1]
		e := f.Events[len(f.Events)-1]
		v = map[string]any{
			"id": e.PlatformID, "fulfillment_id": f.PlatformID, "order_id": o.PlatformID, "status": e.Status,
			"message": e.Message, "happened_at": ts(e.HappenedAt), "city": e.City, "province": e.Province,
			"country": e.Country, "estimated_delivery_at": timeOrNil(e.EstimatedDeliveryAt), "created_at": ts(e.HappenedAt),
			"shop_id": 0,
		}
	case topic == "refunds/create":
		if len(o.Refunds) == 0 {
			return nil, fmt.Errorf("shopifytest: %s for order %d: it has no refund", topic, o.PlatformID)
		}
		v = restRefund(o.Refunds[len(o.Refunds)-1], o)
	case topic == "customers/create" || topic == "customers/update":
		if o.Customer == nil {
			return nil, fmt.Errorf("shopifytest: %s for order %d: it has no customer", topic, o.PlatformID)
		}
		v = restCustomer(*o.Customer)
	case topic == "app/uninstalled":
		v = map[string]any{"myshopify_domain": shop, "domain": shop}
	default:
		return nil, fmt.Errorf("shopifytest: SendWebhook does not render %s", topic)
	}
	return json.Marshal(v)
}

func restMoneySet(amount string, currency string) map[string]any {
	m := map[string]any{"amount": amount, "currency_code": currency}
	return map[string]any{"shop_money": m, "presentment_money": m}
}

func restCustomer(c models.Customer) map[string]any {
	return map[string]any{
		"id": c.PlatformID, "email": nilIfEmpty(c.Email), "phone": nilIfEmpty(c.Phone), "first_name": nilIfEmpty(c.FirstName),
		"last_name": nilIfEmpty(c.LastName), "locale": c.Locale, "state": c.State,
		"created_at": ts(c.PlatformCreatedAt), "updated_at": ts(c.PlatformUpdatedAt),
	}
}

func restOrder(o models.Order) map[string]any {
	cur := o.Currency
	m := map[string]any{
		"id": o.PlatformID, "admin_graphql_api_id": gid("Order", o.PlatformID), "name": o.Name, "order_number": o.Number,
		"number": o.Number - 1000, "email": o.Email, "contact_email": o.Email, "phone": nilIfEmpty(o.Phone),
		"customer_locale": nilIfEmpty(o.Locale), "currency": cur, "presentment_currency": cur,
		"current_subtotal_price": o.Subtotal.String(), "subtotal_price": o.OriginalSubtotal.String(),
		"subtotal_price_set":      restMoneySet(o.OriginalSubtotal.String(), cur),
		"current_total_discounts": o.TotalDiscounts.String(), "total_discounts": o.TotalDiscounts.String(),
		"total_shipping_price_set": restMoneySet(o.TotalShipping.String(), cur),
		"current_total_tax":        o.TotalTax.String(), "total_tax": o.TotalTax.String(),
		"current_total_price": o.Total.String(), "total_price": o.Total.String(),
		"financial_status": nilIfEmpty(o.FinancialStatus), "fulfillment_status": nilIfEmpty(o.FulfillmentStatus),
		"cancelled_at": timeOrNil(o.CancelledAt), "cancel_reason": nilIfEmpty(o.CancelReason),
		"closed_at": timeOrNil(o.ClosedAt), "processed_at": timeOrNil(o.ProcessedAt),
		"created_at": ts(o.PlatformCreatedAt), "updated_at": ts(o.PlatformUpdatedAt),
		"tags": o.Tags, "test": o.Test, "order_status_url": o.StatusPageURL,
		"shipping_address": nil, "customer": nil,
		"discount_codes": []any{}, "landing_site": nilIfEmpty(o.LandingSite), "note_attributes": []any{},
		"browser_ip": nilIfEmpty(o.BrowserIP), "client_details": nil,
	}
	if o.PresentmentCurrency != "" {
		m["presentment_currency"] = o.PresentmentCurrency
	}
	if o.DiscountCodes != "" {
		var codes []any
		for _, c := range strings.Split(o.DiscountCodes, ",") {
			codes = append(codes, map[string]any{"code": c, "amount": "0.00", "type": "percentage"})
		}
		m["discount_codes"] = codes
	}
	if o.ReferralCode != "" {
		m["note_attributes"] = []any{map[string]any{"name": "doorstep_ref", "value": o.ReferralCode}}
	}
	if o.BrowserIP != "" {
		m["client_details"] = map[string]any{"browser_ip": o.BrowserIP, "accept_language": nil, "user_agent": nil}
	}
	if o.ShippingAddress != (models.Address{}) {
		a := o.ShippingAddress
		first, last, _ := strings.Cut(a.Name, " ")
		m["shipping_address"] = map[string]any{
			"name": a.Name, "first_name": first, "last_name": last, "company": nilIfEmpty(a.Company),
			"address1": a.Address1, "address2": nilIfEmpty(a.Address2), "city": a.City, "province": a.Province,
			"zip": a.Zip, "country_code": a.CountryCode, "phone": nilIfEmpty(a.Phone),
		}
	}
	if o.Customer != nil {
		m["customer"] = restCustomer(*o.Customer)
	}
	lines := []any{}
	for _, li := range o.LineItems {
		allocs := []any{}
		if !li.DiscountAllocated.IsZero() {
			allocs = append(allocs, map[string]any{"amount": li.DiscountAllocated.String(),
				"amount_set": restMoneySet(li.DiscountAllocated.String(), cur), "discount_application_index": 0})
		}
		lines = append(lines, map[string]any{
			"id": li.PlatformID, "product_id": li.ProductID, "variant_id": li.VariantID, "sku": li.SKU,
			"title": li.Title, "name": li.Title, "variant_title": nilIfEmpty(li.VariantTitle), "quantity": li.Quantity,
			"price": li.Price.String(), "total_discount": li.TotalDiscount.String(),
			"fulfillable_quantity": li.FulfillableQuantity, "fulfillment_status": nilIfEmpty(li.FulfillmentStatus),
			"requires_shipping": li.RequiresShipping, "discount_allocations": allocs,
		})
	}
	m["line_items"] = lines
	fuls := []any{}
	for _, f := range o.Fulfillments {
		fuls = append(fuls, restFulfillment(f, o.PlatformID))
	}
	m["fulfillments"] = fuls
	refunds := []any{}
	for _, r := range o.Refunds {
		refunds = append(refunds, restRefund(r, o))
	}
	m["refunds"] = refunds
	return m
}

func restFulfillment(f models.Fulfillment, orderID int64) map[string]any {
	lines := []any{}
	for _, l := range f.LineItems {
		lines = append(lines, map[string]any{"id": l.LineItemID, "quantity": l.Quantity})
	}
	shipment := f.ShipmentStatus
	if shipment == models.ShipmentConfirmed {
		shipment = "" // REST says null until the first carrier scan
	}
	return map[string]any{
		"id": f.PlatformID, "order_id": orderID, "name": f.Name, "status": f.Status,
		"shipment_status": nilIfEmpty(shipment), "tracking_company": nilIfEmpty(f.TrackingCompany),
		"tracking_number": nilIfEmpty(f.TrackingNumber), "tracking_numbers": []string{f.TrackingNumber},
		"tracking_url": nilIfEmpty(f.TrackingURL), "tracking_urls": []string{f.TrackingURL},
		"estimated_delivery_at": timeOrNil(f.EstimatedDeliveryAt),
		"created_at":            ts(f.PlatformCreatedAt), "updated_at": ts(f.PlatformUpdatedAt), "line_items": lines,
	}
}

func restRefund(r models.Refund, o models.Order) map[string]any {
	cur := r.Currency
	if cur == "" {
		cur = o.Currency
	}
	lines := []any{}
	for _, l := range r.Lines {
		lines = append(lines, map[string]any{
			"id": l.PlatformID, "line_item_id": l.LineItemPlatformID, "quantity": l.Quantity,
			"subtotal": l.Subtotal.String(), "total_tax": l.TotalTax.String(), "restock_type": l.RestockType,
			"subtotal_set": restMoneySet(l.Subtotal.String(), cur),
		})
	}
	return map[string]any{
		"id": r.PlatformID, "order_id": r.OrderPlatformID, "note": nilIfEmpty(r.Note), "restock": r.Restock,
		"processed_at": timeOrNil(r.ProcessedAt), "created_at": ts(r.PlatformCreatedAt),
		"transactions":      []any{map[string]any{"kind": "refund", "status": "success", "amount": r.Amount.String(), "currency": cur}},
		"refund_line_items": lines,
	}
}
