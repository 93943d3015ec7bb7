package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep/doorstep/models"
)

// The helpdesk sidebar: one picture of a ticket's customer — orders,
// packages, refunds, the messages Doorstep sent, feedback, loyalty and
// referrals — the same in Gorgias, Zendesk and Freshdesk. Gorgias and
// Freshdesk get it as JSON (helpdesk_sidebar_routes.go), Zendesk as a page
// in its iframe (helpdesk_sidebar_zendesk.go).
//
// It answers while an agent waits, so it reads a bounded number of rows
// through indexed lookups only (models/sidebar_store.go): the customer's
// sidebarOrderLimit most recent orders in detail and a count of the rest.

const (
	sidebarOrderLimit    = 10 // orders shown in detail
	sidebarMessageLimit  = 10
	sidebarFeedbackLimit = 10
	sidebarLedgerLimit   = 5
	sidebarReferralLimit = 5
	// sidebarCustomers bounds the customer rows one email may match
	// (a store can hold several, e.g. after a guest checkout).
	sidebarCustomerLimit = 5
)

// holdAgentPause is the hold reason an agent's "pause review requests" sets.
const holdAgentPause = "agent_pause"

// sidebarView is what every desk shows. The JSON is flat enough for a
// Gorgias widget template: "summary" is one line of text and "orders" a
// list (the paths gorgias.Install's widget reads).
type sidebarView struct {
	Found bool `json:"found"`
	// Summary is one line for a text widget; Notice a friendly sentence
	// when there is nothing to show.
	Summary       string             `json:"summary"`
	Notice        string             `json:"notice,omitempty"`
	Shop          string             `json:"shop"`
	Customer      *sidebarCustomer   `json:"customer"`
	Orders        []sidebarOrder     `json:"orders"`
	MoreOrders    int64              `json:"more_orders"`
	Messages      []sidebarMessage   `json:"messages"`
	Feedback      []sidebarFeedback  `json:"feedback"`
	Loyalty       *sidebarLoyalty    `json:"loyalty"`
	Referrals     []sidebarReferral  `json:"referrals"`
	ReviewsPaused bool               `json:"reviews_paused"`
	Actions       []sidebarActionRef `json:"actions"`
}

type sidebarCustomer struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Phone    string `json:"phone"`
	Orders   int64  `json:"orders_count"`
	AdminURL string `json:"admin_url"`
}

type sidebarOrder struct {
	ID                string           `json:"id"`
	Name              string           `json:"name"`
	CreatedAt         time.Time        `json:"created_at"`
	FinancialStatus   string           `json:"financial_status"`
	FulfillmentStatus string           `json:"fulfillment_status"`
	Cancelled         bool             `json:"cancelled"`
	Total             string           `json:"total"`
	Currency          string           `json:"currency"`
	Items             []string         `json:"items"`
	Packages          []sidebarPackage `json:"packages"`
	Refunds           []sidebarRefund  `json:"refunds"`
	Delayed           bool             `json:"delayed"`
	ReviewsPaused     bool             `json:"reviews_paused"`
	TrackingPageURL   string           `json:"tracking_page_url"`
	AdminURL          string           `json:"admin_url"`
}

type sidebarPackage struct {
	ID             string     `json:"id"`
	Label          string     `json:"label"` // "Package 1 of 2"
	Status         string     `json:"status"`
	Carrier        string     `json:"carrier"`
	TrackingNumber string     `json:"tracking_number"`
	TrackingURL    string     `json:"tracking_url"`
	EstimatedAt    *time.Time `json:"estimated_delivery_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	// Delay says what went wrong, empty when nothing did: "late" (past its
	// estimate and not delivered), "delivered late", or the carrier's
	// problem status.
	Delay string `json:"delay"`
}

type sidebarRefund struct {
	Amount   string    `json:"amount"`
	Currency string    `json:"currency"`
	At       time.Time `json:"at"`
	Note     string    `json:"note"`
}

type sidebarMessage struct {
	ID      string    `json:"id"`
	Order   string    `json:"order"`
	Flow    string    `json:"flow"`
	Step    string    `json:"step"`
	Channel string    `json:"channel"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

type sidebarFeedback struct {
	Order   string    `json:"order"`
	Kind    string    `json:"kind"` // delivery (DSAT 1-5), nps (0-10), review (1-5)
	Rating  int       `json:"rating"`
	Product string    `json:"product"`
	Comment string    `json:"comment"`
	At      time.Time `json:"at"`
}

type sidebarLoyalty struct {
	Available    int64           `json:"available"`
	Pending      int64           `json:"pending"`
	Balance      int64           `json:"balance"`
	Tier         string          `json:"tier"`
	ReferralCode string          `json:"referral_code"`
	Ledger       []sidebarLedger `json:"ledger"`
}

type sidebarLedger struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Points int64     `json:"points"`
	Reason string    `json:"reason"`
	Actor  string    `json:"actor"`
}

type sidebarReferral struct {
	Code      string    `json:"code"`
	Status    string    `json:"status"`
	OrderID   string    `json:"order_id"`
	CreatedAt time.Time `json:"created_at"`
}

// sidebarActionRef tells a desk's app how to call an action.
type sidebarActionRef struct {
	Name   string   `json:"name"`
	Method string   `json:"method"`
	URL    string   `json:"url"`
	Fields []string `json:"fields"`
}

// sidebarFor builds the view of the customer with this email (or, without
// one, this phone) in the shop. A customer the shop does not know is an
// empty view with a friendly notice, not an error: other shops' customers
// are never looked at.
func (a *App) sidebarFor(ctx context.Context, shop models.Shop, email, phone string) (sidebarView, error) {
	email, phone = strings.TrimSpace(email), strings.TrimSpace(phone)
	v := sidebarView{Shop: firstNonEmpty(shop.Name, shop.Domain), Orders: []sidebarOrder{}, Messages: []sidebarMessage{},
		Feedback: []sidebarFeedback{}, Referrals: []sidebarReferral{}, Actions: []sidebarActionRef{}}
	empty := func() (sidebarView, error) {
		v.Notice = "No orders or rewards for this customer in " + v.Shop + " yet."
		v.Summary = v.Notice
		return v, nil
	}
	if email == "" && phone == "" {
		return empty()
	}
	customers, err := a.store.SidebarCustomers(ctx, shop.ID, email, phone, sidebarCustomerLimit)
	if err != nil {
		return v, err
	}
	customerIDs := make([]int64, 0, len(customers))
	for _, c := range customers {
		customerIDs = append(customerIDs, c.PlatformID)
	}
	ids, total, err := a.store.SidebarOrders(ctx, shop.ID, email, customerIDs, sidebarOrderLimit)
	if err != nil {
		return v, err
	}
	if len(customers) == 0 && len(ids) == 0 {
		return empty()
	}
	// The reads below depend only on the customer and the order ids: they
	// run side by side, each on its own pooled connection, so the answer
	// costs the slowest of them rather than their sum (helpdesks give up
	// on a slow sidebar).
	var (
		byID  map[int64]*models.Order
		holds []models.OrderHold
		msgs  []models.Message
		fb    []models.Feedback
		lv    sidebarView // the loyalty part, merged below
	)
	var readers parallel
	readers.Go(func() (err error) { byID, err = a.store.Orders(ctx, shop.ID, ids); return err })
	readers.Go(func() (err error) { holds, err = a.store.SidebarHolds(ctx, shop.ID, ids); return err })
	readers.Go(func() (err error) {
		msgs, err = a.store.SidebarMessages(ctx, shop.ID, ids, sidebarMessageLimit)
		return err
	})
	readers.Go(func() (err error) {
		fb, err = a.store.SidebarFeedback(ctx, shop.ID, ids, sidebarFeedbackLimit)
		return err
	})
	if len(customers) > 0 {
		readers.Go(func() error { return a.sidebarLoyaltyOf(ctx, shop, customers[0].PlatformID, &lv) })
	}
	if err := readers.Wait(); err != nil {
		return v, err
	}
	orders := make([]*models.Order, 0, len(ids))
	for _, id := range ids {
		if o, ok := byID[id]; ok {
			orders = append(orders, o)
		}
	}
	v.Found = true
	v.MoreOrders = max(total-int64(len(orders)), 0)

	// The customer: their newest row, else the newest order's.
	var cust *models.Customer
	if len(customers) > 0 {
		cust = &customers[0]
	} else {
		for _, o := range orders {
			if o.Customer != nil {
				cust = o.Customer
				break
			}
		}
		if cust != nil {
			if err := a.sidebarLoyaltyOf(ctx, shop, cust.PlatformID, &lv); err != nil {
				return v, err
			}
		}
	}
	v.Customer = a.sidebarCustomerOf(shop, cust, orders, email, phone, total)
	v.Loyalty = lv.Loyalty
	v.Referrals = append(v.Referrals, lv.Referrals...)

	paused := map[int64]bool{}
	for _, h := range holds {
		if h.Reason == holdAgentPause {
			paused[h.OrderPlatformID] = true
			v.ReviewsPaused = true
		}
	}
	names := map[int64]string{}
	products := map[int64]string{}
	now := a.now()
	for _, o := range orders {
		names[o.PlatformID] = o.Name
		for _, l := range o.LineItems {
			products[l.ProductID] = l.Title
		}
		so := sidebarOrderOf(shop, o, now)
		so.ReviewsPaused = paused[o.PlatformID]
		if u, err := a.composer.TrackingURL(shop.ID, o.PlatformID); err == nil {
			so.TrackingPageURL = u
		}
		v.Orders = append(v.Orders, so)
	}
	for _, m := range msgs {
		at := m.DueAt
		if m.SentAt != nil {
			at = *m.SentAt
		}
		v.Messages = append(v.Messages, sidebarMessage{ID: strconv.FormatUint(m.ID, 10), Order: names[m.OrderPlatformID],
			Flow: m.Flow, Step: m.Step, Channel: m.Channel, Status: m.Status, Reason: m.Reason, At: at.UTC()})
	}
	for _, f := range fb {
		v.Feedback = append(v.Feedback, sidebarFeedback{Order: names[f.OrderPlatformID], Kind: f.Kind, Rating: f.Rating,
			Product: products[f.ProductID], Comment: f.Comment, At: f.UpdatedAt.UTC()})
	}
	v.Summary = sidebarSummary(v)
	return v, nil
}

func (a *App) sidebarCustomerOf(shop models.Shop, c *models.Customer, orders []*models.Order, email, phone string, total int64) *sidebarCustomer {
	out := &sidebarCustomer{Email: email, Phone: phone, Orders: total}
	if c != nil {
		out.ID = platformID(c.PlatformID)
		out.Name = strings.TrimSpace(c.FirstName + " " + c.LastName)
		out.Email = firstNonEmpty(c.Email, email)
		out.Phone = firstNonEmpty(c.Phone, phone)
		out.AdminURL = shopifyAdminURL(shop, "customers", c.PlatformID)
	}
	if out.Name == "" && len(orders) > 0 {
		out.Name = orders[0].ShippingAddress.Name
	}
	return out
}

// sidebarLoyaltyOf adds the customer's points, tier, last ledger entries
// and referrals; a customer without an account has none.
func (a *App) sidebarLoyaltyOf(ctx context.Context, shop models.Shop, customer int64, v *sidebarView) error {
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer}
	acct, err := a.store.Account(ctx, key)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	lc, err := a.loyaltyCustomerOf(ctx, shop, key, acct)
	if err != nil {
		return err
	}
	l := &sidebarLoyalty{Available: lc.Available, Pending: lc.Pending, Balance: lc.Balance,
		ReferralCode: lc.ReferralCode, Ledger: []sidebarLedger{}}
	if lc.Tier != nil {
		l.Tier = lc.Tier.Name
	}
	for i, e := range lc.Ledger {
		if i == sidebarLedgerLimit {
			break
		}
		l.Ledger = append(l.Ledger, sidebarLedger{At: e.At, Kind: e.Kind, Points: e.Points, Reason: e.Reason, Actor: e.Actor})
	}
	for i, r := range lc.Referrals {
		if i == sidebarReferralLimit {
			break
		}
		v.Referrals = append(v.Referrals, sidebarReferral{Code: r.Code, Status: r.Status, OrderID: r.OrderID, CreatedAt: r.CreatedAt})
	}
	v.Loyalty = l
	return nil
}

func sidebarOrderOf(shop models.Shop, o *models.Order, now time.Time) sidebarOrder {
	so := sidebarOrder{ID: platformID(o.PlatformID), Name: o.Name, CreatedAt: o.PlatformCreatedAt.UTC(),
		FinancialStatus: o.FinancialStatus, FulfillmentStatus: firstNonEmpty(o.FulfillmentStatus, "unfulfilled"),
		Cancelled: o.Cancelled(), Total: money(o.Total), Currency: o.Currency, Items: []string{},
		Packages: []sidebarPackage{}, Refunds: []sidebarRefund{}, AdminURL: shopifyAdminURL(shop, "orders", o.PlatformID)}
	for _, l := range o.LineItems {
		title := l.Title
		if l.VariantTitle != "" {
			title += " (" + l.VariantTitle + ")"
		}
		so.Items = append(so.Items, fmt.Sprintf("%s × %d", title, l.Quantity))
	}
	var live []models.Fulfillment
	for _, f := range o.Fulfillments {
		if f.Status != "cancelled" && f.Status != "error" && f.Status != "failure" {
			live = append(live, f)
		}
	}
	for i, f := range live {
		p := sidebarPackage{ID: platformID(f.PlatformID), Label: fmt.Sprintf("Package %d of %d", i+1, len(live)),
			Status: firstNonEmpty(f.ShipmentStatus, models.ShipmentConfirmed), Carrier: f.TrackingCompany,
			TrackingNumber: f.TrackingNumber, TrackingURL: f.TrackingURL,
			EstimatedAt: utcPtr(f.EstimatedDeliveryAt), DeliveredAt: utcPtr(f.DeliveredAt)}
		switch {
		case f.ShipmentStatus == models.ShipmentFailure || f.ShipmentStatus == models.ShipmentAttemptedDeliver:
			p.Delay = f.ShipmentStatus
		case f.DeliveredAt == nil && f.EstimatedDeliveryAt != nil && now.After(*f.EstimatedDeliveryAt):
			p.Delay = "late"
		case f.DeliveredAt != nil && f.EstimatedDeliveryAt != nil && f.DeliveredAt.After(f.EstimatedDeliveryAt.Add(24*time.Hour)):
			p.Delay = "delivered late"
		}
		so.Delayed = so.Delayed || p.Delay != ""
		so.Packages = append(so.Packages, p)
	}
	for _, r := range o.Refunds {
		so.Refunds = append(so.Refunds, sidebarRefund{Amount: money(r.Amount), Currency: firstNonEmpty(r.Currency, o.Currency),
			At: r.PlatformCreatedAt.UTC(), Note: r.Note})
	}
	return so
}

// sidebarSummary is the one line a Gorgias text widget shows.
func sidebarSummary(v sidebarView) string {
	parts := []string{}
	if v.Customer != nil && v.Customer.Name != "" {
		parts = append(parts, v.Customer.Name)
	}
	n := int64(len(v.Orders)) + v.MoreOrders
	parts = append(parts, plural(n, "order", "orders"))
	if v.Loyalty != nil {
		pts := plural(v.Loyalty.Available, "point", "points")
		if v.Loyalty.Tier != "" {
			pts += " (" + v.Loyalty.Tier + ")"
		}
		parts = append(parts, pts)
	}
	if len(v.Orders) > 0 {
		o := v.Orders[0]
		last := "last " + o.Name
		if len(o.Packages) > 0 {
			last += " " + shipmentLabel(o.Packages[len(o.Packages)-1].Status)
		} else {
			last += " " + o.FulfillmentStatus
		}
		parts = append(parts, last)
	}
	delayed := 0
	for _, o := range v.Orders {
		if o.Delayed {
			delayed++
		}
	}
	if delayed > 0 {
		parts = append(parts, plural(int64(delayed), "delayed order", "delayed orders"))
	}
	if v.ReviewsPaused {
		parts = append(parts, "review requests paused")
	}
	return strings.Join(parts, " · ")
}

// shipmentLabel says a shipment status in words: "confirmed" is a package
// handed over with tracking, which agents call shipped.
func shipmentLabel(status string) string {
	if status == models.ShipmentConfirmed {
		return "shipped"
	}
	return strings.ReplaceAll(status, "_", " ")
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// shopifyAdminURL opens an order or customer in the Shopify admin.
func shopifyAdminURL(shop models.Shop, what string, id int64) string {
	handle := strings.TrimSuffix(shop.Domain, ".myshopify.com")
	return "https://admin.shopify.com/store/" + handle + "/" + what + "/" + strconv.FormatInt(id, 10)
}

// firstNonEmpty returns s, or def when s is empty.
func firstNonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
