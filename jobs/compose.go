package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// Link lifetimes: long enough for a shopper to come back to an old email.
const (
	trackingLinkTTL = 180 * 24 * time.Hour
	feedbackLinkTTL = 120 * 24 * time.Hour
	consentLinkTTL  = 2 * 365 * 24 * time.Hour
)

// Composer turns a message row and its order into rendered content: the
// template data (order, shipment, links) and the shop's templates. The
// sender uses it at send time and the admin's preview uses it on a real
// order.
type Composer struct {
	store    *models.Store
	renderer *msgtmpl.Renderer
	signer   *links.Signer
	appURL   string
	now      func() time.Time

	mu        sync.Mutex
	templates map[string]cachedTemplates
}

// NewComposer builds a composer; appURL is where the shopper pages live.
func NewComposer(store *models.Store, renderer *msgtmpl.Renderer, signer *links.Signer, appURL string) *Composer {
	return &Composer{store: store, renderer: renderer, signer: signer, appURL: strings.TrimRight(appURL, "/"),
		now: func() time.Time { return time.Now().UTC() }, templates: map[string]cachedTemplates{}}
}

// WithClock sets the clock link expiries count from (tests fake it).
func (c *Composer) WithClock(now func() time.Time) *Composer {
	if now != nil {
		c.now = now
	}
	return c
}

// Renderer is the template renderer (for validation in the admin API).
func (c *Composer) Renderer() *msgtmpl.Renderer { return c.renderer }

// Signer signs and verifies the shopper links.
func (c *Composer) Signer() *links.Signer { return c.signer }

// Composed is a rendered message and the links its headers need.
type Composed struct {
	msgtmpl.Rendered
	Unsubscribe string // the one-click unsubscribe URL (List-Unsubscribe)
}

// Compose renders m for its order.
func (c *Composer) Compose(ctx context.Context, shop models.Shop, set Settings, m models.Message, o *models.Order) (Composed, error) {
	data, err := c.data(shop, set, m, o)
	if err != nil {
		return Composed{}, err
	}
	if isLoyaltyFlow(m.Flow) {
		if err := c.loyaltyData(ctx, shop, m, o, &data); err != nil {
			return Composed{}, err
		}
	}
	custom, err := c.cachedTemplates(ctx, shop.ID, m.Flow)
	if err != nil {
		return Composed{}, err
	}
	r, err := c.renderer.Render(m.Flow, custom, set.Locale, data)
	if err != nil {
		return Composed{}, fmt.Errorf("render %s: %w", m.Flow, err)
	}
	return Composed{Rendered: r, Unsubscribe: data.Links.Unsubscribe}, nil
}

// Preview renders flow for one of the shop's real orders, with override
// (when set) in place of the saved template for locale.
func (c *Composer) Preview(ctx context.Context, shop models.Shop, set Settings, orderPlatformID int64, flow, locale string, override *msgtmpl.Set) (msgtmpl.Rendered, error) {
	o, err := c.store.Order(ctx, shop.ID, orderPlatformID)
	if err != nil {
		return msgtmpl.Rendered{}, err
	}
	m := models.Message{ID: 0, ShopID: shop.ID, OrderPlatformID: o.PlatformID, Flow: flow, Locale: locale,
		Marketing: flow == msgtmpl.ReviewRequest || flow == msgtmpl.NPSRequest, CustomerPlatformID: o.CustomerPlatformID}
	switch flow {
	case msgtmpl.ShippingNotice, msgtmpl.DelayAlert, msgtmpl.MerchantDelay:
		if len(o.Fulfillments) == 0 {
			return msgtmpl.Rendered{}, fmt.Errorf("order %s has no shipment to preview a %s with: %w", o.Name, flow, models.ErrConflict)
		}
		f := o.Fulfillments[len(o.Fulfillments)-1]
		m.Subject, m.Step = fulfillmentSubject(f.PlatformID), f.ShipmentStatus
		if flow != msgtmpl.ShippingNotice {
			m.Step = msgtmpl.ReasonStalled
		}
	case msgtmpl.ReviewRequest:
		m.Step = msgtmpl.StepAsk
	case msgtmpl.LoyaltyReversed:
		m.Subject = reversalSubject("cancel")
	case msgtmpl.LoyaltyTierUp:
		m.Subject = tierSubject("Gold")
	case msgtmpl.LoyaltyExpiring:
		m.Subject = expirySubject(c.now().AddDate(0, 0, 30))
	}
	data, err := c.data(shop, set, m, &o)
	if err != nil {
		return msgtmpl.Rendered{}, err
	}
	if isLoyaltyFlow(flow) {
		if err := c.loyaltyData(ctx, shop, m, &o, &data); err != nil {
			return msgtmpl.Rendered{}, err
		}
	}
	if locale != "" {
		data.Locale = locale
	}
	custom, err := c.customTemplates(ctx, shop.ID, flow)
	if err != nil {
		return msgtmpl.Rendered{}, err
	}
	if override != nil {
		if custom == nil {
			custom = map[string]msgtmpl.Set{}
		}
		custom[orDefault(locale, set.Locale)] = *override
	}
	return c.renderer.Render(flow, custom, set.Locale, data)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

type cachedTemplates struct {
	sets map[string]msgtmpl.Set
	at   time.Time
}

// cachedTemplates is customTemplates cached for a few seconds (sending
// reads them for every message; the admin saves them rarely).
func (c *Composer) cachedTemplates(ctx context.Context, shopID uint64, flow string) (map[string]msgtmpl.Set, error) {
	key := strconv.FormatUint(shopID, 10) + "/" + flow
	c.mu.Lock()
	e, ok := c.templates[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < settingsTTL {
		return e.sets, nil
	}
	sets, err := c.customTemplates(ctx, shopID, flow)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.templates[key] = cachedTemplates{sets: sets, at: time.Now()}
	c.mu.Unlock()
	return sets, nil
}

func (c *Composer) customTemplates(ctx context.Context, shopID uint64, flow string) (map[string]msgtmpl.Set, error) {
	raw, err := c.store.Templates(ctx, shopID, flow)
	if err != nil || len(raw) == 0 {
		return nil, err
	}
	out := make(map[string]msgtmpl.Set, len(raw))
	for locale, js := range raw {
		var s msgtmpl.Set
		if err := json.Unmarshal([]byte(js), &s); err != nil {
			return nil, fmt.Errorf("saved %s template for %s: %w", flow, locale, err)
		}
		out[locale] = s
	}
	return out, nil
}

func fulfillmentSubject(id int64) string { return "fulfillment:" + strconv.FormatInt(id, 10) }

func subjectID(subject string) int64 {
	_, rest, _ := strings.Cut(subject, ":")
	// A resent notice's subject is "fulfillment:<id>:resend:<key>".
	id, _, _ := strings.Cut(rest, ":")
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// data builds the template data for m.
func (c *Composer) data(shop models.Shop, set Settings, m models.Message, o *models.Order) (msgtmpl.Data, error) {
	d := msgtmpl.Data{
		Locale:    m.Locale,
		Step:      m.Step,
		Marketing: m.Marketing,
		Shop: msgtmpl.Shop{Name: orDefault(shop.Name, shop.Domain), Email: shop.Email, LogoURL: set.Brand.LogoURL,
			BrandColor: set.Brand.Color, Domain: shop.Domain, Address: set.Brand.Address},
	}
	cur := o.Currency
	d.Order = msgtmpl.Order{Name: o.Name, CreatedAt: o.PlatformCreatedAt, Currency: cur,
		Subtotal: money(o.Subtotal, cur), Shipping: money(o.TotalShipping, cur), Tax: money(o.TotalTax, cur),
		Discounts: money(o.TotalDiscounts, cur), Total: money(o.Total, cur)}
	for _, l := range o.LineItems {
		d.Order.Items = append(d.Order.Items, item(l, cur))
	}
	if o.Customer != nil {
		d.Customer = msgtmpl.Customer{FirstName: o.Customer.FirstName, Name: strings.TrimSpace(o.Customer.FirstName + " " + o.Customer.LastName)}
	}
	if d.Customer.Name == "" {
		d.Customer.Name = o.ShippingAddress.Name
	}
	if d.Customer.FirstName == "" {
		d.Customer.FirstName, _, _ = strings.Cut(d.Customer.Name, " ")
	}

	switch m.Flow {
	case msgtmpl.ShippingNotice, msgtmpl.DelayAlert, msgtmpl.MerchantDelay:
		d.Shipment = shipment(o, m, cur)
		if d.Shipment == nil {
			return d, fmt.Errorf("%s about %s: the order has no such shipment", m.Flow, m.Subject)
		}
		if m.Flow == msgtmpl.ShippingNotice {
			d.Shipment.Status = m.Step
		} else {
			d.Delay = &msgtmpl.Delay{Reason: m.Step, DaysLate: daysLate(o, m, c.now())}
		}
	case msgtmpl.ReviewRequest:
		// The delivered items, not what is still on its way.
		var delivered []msgtmpl.Item
		for _, l := range deliveredLines(o) {
			delivered = append(delivered, item(l, cur))
		}
		if len(delivered) > 0 {
			d.Order.Items = delivered
		}
	}
	if err := c.links(&d, shop, m, o); err != nil {
		return d, err
	}
	return d, nil
}

func (c *Composer) links(d *msgtmpl.Data, shop models.Shop, m models.Message, o *models.Order) error {
	now := c.now()
	base := c.appURL
	sign := func(purpose, subject string, ttl time.Duration) (string, error) {
		return c.signer.URL(base, purpose, links.Claims{ShopID: int64(shop.ID), OrderID: o.PlatformID, Purpose: purpose,
			Subject: subject, Expires: now.Add(ttl)})
	}
	var err error
	if d.Links.Tracking, err = sign(links.Tracking, "", trackingLinkTTL); err != nil {
		return err
	}
	if d.Links.Feedback, err = sign(links.Feedback, "", feedbackLinkTTL); err != nil {
		return err
	}
	d.Links.Review = d.Links.Feedback + "#review"
	for i := range d.Links.Rating {
		d.Links.Rating[i] = d.Links.Feedback + "?rating=" + strconv.Itoa(i+1)
	}
	for i := range d.Links.NPS {
		d.Links.NPS[i] = d.Links.Feedback + "?nps=" + strconv.Itoa(i)
	}
	// Consent links name the message (its channel and address are looked
	// up server-side: no address in the URL).
	msg := "message:" + strconv.FormatUint(m.ID, 10)
	if d.Links.Preferences, err = sign(links.Preferences, msg, consentLinkTTL); err != nil {
		return err
	}
	if d.Links.Unsubscribe, err = sign(links.Unsubscribe, msg, consentLinkTTL); err != nil {
		return err
	}
	return nil
}

// shipment describes the fulfillment m is about; a collapsed notice that
// covers every package reads as one shipment with all tracking numbers.
func shipment(o *models.Order, m models.Message, cur string) *msgtmpl.Shipment {
	id := subjectID(m.Subject)
	var live []models.Fulfillment
	for _, f := range o.Fulfillments {
		if f.Status != "cancelled" && f.Status != "error" && f.Status != "failure" {
			live = append(live, f)
		}
	}
	for i, f := range live {
		if f.PlatformID != id {
			continue
		}
		s := &msgtmpl.Shipment{Status: f.ShipmentStatus, Carrier: f.TrackingCompany, TrackingNumber: f.TrackingNumber,
			TrackingURL: f.TrackingURL, Index: i + 1, Count: len(live), EstimatedDelivery: f.EstimatedDeliveryAt}
		if m.Covers != "" {
			covered := 1 + strings.Count(m.Covers, ",") + 1
			numbers := []string{f.TrackingNumber}
			for _, g := range live {
				if g.PlatformID != id && strings.Contains(","+m.Covers+",", ","+fulfillmentSubject(g.PlatformID)+",") && g.TrackingNumber != "" {
					numbers = append(numbers, g.TrackingNumber)
				}
			}
			s.TrackingNumber = strings.Join(numbers, ", ")
			if covered >= len(live) {
				s.Index, s.Count = 1, 1
			}
		}
		s.Items = shipmentItems(o, f, cur)
		return s
	}
	return nil
}

// shipmentItems are the lines in a package (all the order's lines when the
// platform did not say).
func shipmentItems(o *models.Order, f models.Fulfillment, cur string) []msgtmpl.Item {
	var out []msgtmpl.Item
	for _, fl := range f.LineItems {
		for _, l := range o.LineItems {
			if l.PlatformID == fl.LineItemID {
				it := item(l, cur)
				if fl.Quantity > 0 {
					it.Quantity = fl.Quantity
				}
				out = append(out, it)
			}
		}
	}
	if len(out) == 0 {
		for _, l := range o.LineItems {
			out = append(out, item(l, cur))
		}
	}
	return out
}

func daysLate(o *models.Order, m models.Message, now time.Time) int {
	id := subjectID(m.Subject)
	for _, f := range o.Fulfillments {
		if f.PlatformID == id && f.EstimatedDeliveryAt != nil && now.After(*f.EstimatedDeliveryAt) {
			return int(now.Sub(*f.EstimatedDeliveryAt).Hours() / 24)
		}
	}
	return 0
}

// deliveredLines are the order's lines when some shipment was delivered
// (Doorstep keeps no per-fulfillment lines; a delivered order's lines are
// what the shopper has).
func deliveredLines(o *models.Order) []models.LineItem {
	for _, f := range o.Fulfillments {
		if f.ShipmentStatus == models.ShipmentDelivered {
			return o.LineItems
		}
	}
	return nil
}

func item(l models.LineItem, cur string) msgtmpl.Item {
	return msgtmpl.Item{Title: l.Title, Variant: l.VariantTitle, ImageURL: l.ImageURL, Price: money(l.Price, cur), Quantity: l.Quantity}
}

var currencySymbols = map[string]string{"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$",
	"CHF": "CHF ", "SEK": "SEK ", "NOK": "NOK ", "DKK": "DKK ", "INR": "₹", "BRL": "R$", "MXN": "MX$"}

// money formats an amount for a message: symbol and two decimals (no
// decimals for currencies without minor units).
func money(v decimal.Decimal, cur string) string {
	places := int32(2)
	if cur == "JPY" || cur == "KRW" {
		places = 0
	}
	amount := v.StringFixed(places)
	if sym, ok := currencySymbols[cur]; ok {
		return sym + amount
	}
	if cur == "" {
		return amount
	}
	return amount + " " + cur
}

// TrackingURL is a tracking link for pages that have only the order.
func (c *Composer) TrackingURL(shopID uint64, orderPlatformID int64) (string, error) {
	return c.signer.URL(c.appURL, links.Tracking, links.Claims{ShopID: int64(shopID), OrderID: orderPlatformID,
		Purpose: links.Tracking, Expires: c.now().Add(trackingLinkTTL)})
}
