package app

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// ordersAPI: GET /api/admin/orders, GET /api/admin/orders/:id.
//
// Platform ids are JSON strings: Shopify's are 64-bit and JavaScript numbers
// lose precision above 2^53. Money is a decimal string ("99.90") beside its
// currency.
func (a *App) ordersAPI(api *gin.RouterGroup) {
	api.GET("/orders", a.handleListOrders())
	api.GET("/orders/:id", a.handleGetOrder())
}

// ---- list ----

type orderListQuery struct {
	Q string `form:"q"`
}

type orderSummary struct {
	ID                string         `json:"id"`
	Name              string         `json:"name"`
	Email             string         `json:"email"`
	CreatedAt         time.Time      `json:"created_at"`
	UpdatedAt         time.Time      `json:"updated_at"`
	FinancialStatus   string         `json:"financial_status"`
	FulfillmentStatus string         `json:"fulfillment_status"`
	Cancelled         bool           `json:"cancelled"`
	Total             string         `json:"total"`
	Currency          string         `json:"currency"`
	Shipments         shipmentsBrief `json:"shipments"`
}

// shipmentsBrief summarizes an order's fulfillments: how many, and how many
// are in each shipment status.
type shipmentsBrief struct {
	Count    int            `json:"count"`
	Statuses map[string]int `json:"statuses"`
}

func (a *App) handleListOrders() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		var in orderListQuery
		if err := c.ShouldBindQuery(&in); err != nil {
			apiError(c, http.StatusBadRequest, "bad_query", "query parameters are malformed")
			return
		}
		p, ok := readPage(c)
		if !ok {
			return
		}
		orders, err := a.store.SearchOrders(c.Request.Context(), shop.ID, models.OrderSearch{Q: in.Q, Limit: p.Limit, After: p.After})
		if errors.Is(err, models.ErrBadCursor) {
			apiError(c, http.StatusBadRequest, "bad_cursor", "cursor is not one this API returned")
			return
		}
		if err != nil {
			a.storeError(c, err)
			return
		}
		orders, next := pageOf(orders, p.Limit, func(o models.Order) uint64 { return o.ID })
		items := make([]orderSummary, len(orders))
		for i, o := range orders {
			items[i] = orderSummary{
				ID: platformID(o.PlatformID), Name: o.Name, Email: o.Email,
				CreatedAt: o.PlatformCreatedAt.UTC(), UpdatedAt: o.PlatformUpdatedAt.UTC(),
				FinancialStatus: o.FinancialStatus, FulfillmentStatus: o.FulfillmentStatus, Cancelled: o.Cancelled(),
				Total: money(o.Total), Currency: o.Currency, Shipments: briefShipments(o.Fulfillments),
			}
		}
		list(c, items, next)
	}
}

// pageOf trims rows fetched with one extra (limit+1) to the page and says
// whether another page follows.
func pageOf[T any](rows []T, limit int, id func(T) uint64) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, nextCursor(limit, limit, id(rows[limit-1]))
}

func briefShipments(fs []models.Fulfillment) shipmentsBrief {
	b := shipmentsBrief{Count: len(fs), Statuses: map[string]int{}}
	for _, f := range fs {
		b.Statuses[shipmentStatus(f)]++
	}
	return b
}

// shipmentStatus is where a shipment is: a cancelled fulfillment says so,
// one with no carrier scan yet is "confirmed".
func shipmentStatus(f models.Fulfillment) string {
	switch {
	case f.Status == "cancelled":
		return "cancelled"
	case f.ShipmentStatus == "":
		return models.ShipmentConfirmed
	}
	return f.ShipmentStatus
}

// ---- detail ----

type orderDetail struct {
	ID                string              `json:"id"`
	Name              string              `json:"name"`
	Number            int64               `json:"number"`
	Email             string              `json:"email"`
	Phone             string              `json:"phone"`
	CreatedAt         time.Time           `json:"created_at"`
	UpdatedAt         time.Time           `json:"updated_at"`
	ProcessedAt       *time.Time          `json:"processed_at"`
	ClosedAt          *time.Time          `json:"closed_at"`
	FinancialStatus   string              `json:"financial_status"`
	FulfillmentStatus string              `json:"fulfillment_status"`
	Cancelled         bool                `json:"cancelled"`
	CancelledAt       *time.Time          `json:"cancelled_at"`
	CancelReason      string              `json:"cancel_reason"`
	Currency          string              `json:"currency"`
	Subtotal          string              `json:"subtotal"`
	TotalDiscounts    string              `json:"total_discounts"`
	TotalShipping     string              `json:"total_shipping"`
	TotalTax          string              `json:"total_tax"`
	Total             string              `json:"total"`
	Tags              string              `json:"tags"`
	Test              bool                `json:"test"`
	Redacted          bool                `json:"redacted"`
	ShippingAddress   addressJSON         `json:"shipping_address"`
	Customer          *customerJSON       `json:"customer"`
	LineItems         []lineItemJSON      `json:"line_items"`
	Fulfillments      []fulfillmentJSON   `json:"fulfillments"`
	Refunds           []refundJSON        `json:"refunds"`
	Shipments         shipmentsBrief      `json:"shipments"`
	Timeline          []timelineEntryJSON `json:"timeline"`
}

type addressJSON struct {
	Name         string `json:"name"`
	Company      string `json:"company"`
	Address1     string `json:"address1"`
	Address2     string `json:"address2"`
	City         string `json:"city"`
	Province     string `json:"province"`
	ProvinceCode string `json:"province_code"`
	Zip          string `json:"zip"`
	CountryCode  string `json:"country_code"`
	Phone        string `json:"phone"`
}

type customerJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Locale    string `json:"locale"`
	State     string `json:"state"`
}

type lineItemJSON struct {
	ID                  string `json:"id"`
	ProductID           string `json:"product_id"`
	VariantID           string `json:"variant_id"`
	SKU                 string `json:"sku"`
	Title               string `json:"title"`
	VariantTitle        string `json:"variant_title"`
	Quantity            int    `json:"quantity"`
	Price               string `json:"price"`
	TotalDiscount       string `json:"total_discount"`
	FulfillableQuantity int    `json:"fulfillable_quantity"`
	FulfillmentStatus   string `json:"fulfillment_status"`
	RequiresShipping    bool   `json:"requires_shipping"`
}

type fulfillmentJSON struct {
	ID                  string                `json:"id"`
	Name                string                `json:"name"`
	Status              string                `json:"status"`
	ShipmentStatus      string                `json:"shipment_status"`
	TrackingCompany     string                `json:"tracking_company"`
	TrackingNumber      string                `json:"tracking_number"`
	TrackingURL         string                `json:"tracking_url"`
	EstimatedDeliveryAt *time.Time            `json:"estimated_delivery_at"`
	DeliveredAt         *time.Time            `json:"delivered_at"`
	CreatedAt           time.Time             `json:"created_at"`
	UpdatedAt           time.Time             `json:"updated_at"`
	LineItems           []fulfillmentLineJSON `json:"line_items"`
	Events              []carrierEventJSON    `json:"events"`
}

type fulfillmentLineJSON struct {
	LineItemID string `json:"line_item_id"`
	Quantity   int    `json:"quantity"`
}

type carrierEventJSON struct {
	ID                  string     `json:"id"`
	Status              string     `json:"status"`
	Message             string     `json:"message"`
	City                string     `json:"city"`
	Province            string     `json:"province"`
	Country             string     `json:"country"`
	EstimatedDeliveryAt *time.Time `json:"estimated_delivery_at"`
	HappenedAt          time.Time  `json:"happened_at"`
}

type refundJSON struct {
	ID          string           `json:"id"`
	Note        string           `json:"note"`
	Amount      string           `json:"amount"`
	Currency    string           `json:"currency"`
	Restock     bool             `json:"restock"`
	ProcessedAt *time.Time       `json:"processed_at"`
	CreatedAt   time.Time        `json:"created_at"`
	Lines       []refundLineJSON `json:"lines"`
}

type refundLineJSON struct {
	ID          string `json:"id"`
	LineItemID  string `json:"line_item_id"`
	Quantity    int    `json:"quantity"`
	Subtotal    string `json:"subtotal"`
	TotalTax    string `json:"total_tax"`
	RestockType string `json:"restock_type"`
}

func (a *App) handleGetOrder() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			apiError(c, http.StatusNotFound, "not_found", "not found")
			return
		}
		ctx := c.Request.Context()
		o, err := a.store.Order(ctx, shop.ID, id)
		if err != nil {
			a.storeError(c, err)
			return
		}
		timeline, err := a.orderTimeline(ctx, shop, o)
		if err != nil {
			a.storeError(c, err)
			return
		}
		out := detailOf(o)
		out.Timeline = timeline
		c.JSON(http.StatusOK, out)
	}
}

func detailOf(o models.Order) orderDetail {
	out := orderDetail{
		ID: platformID(o.PlatformID), Name: o.Name, Number: o.Number, Email: o.Email, Phone: o.Phone,
		CreatedAt: o.PlatformCreatedAt.UTC(), UpdatedAt: o.PlatformUpdatedAt.UTC(),
		ProcessedAt: utcPtr(o.ProcessedAt), ClosedAt: utcPtr(o.ClosedAt),
		FinancialStatus: o.FinancialStatus, FulfillmentStatus: o.FulfillmentStatus,
		Cancelled: o.Cancelled(), CancelledAt: utcPtr(o.CancelledAt), CancelReason: o.CancelReason,
		Currency: o.Currency, Subtotal: money(o.Subtotal), TotalDiscounts: money(o.TotalDiscounts),
		TotalShipping: money(o.TotalShipping), TotalTax: money(o.TotalTax), Total: money(o.Total),
		Tags: o.Tags, Test: o.Test, Redacted: o.RedactedAt != nil,
		ShippingAddress: addressJSON(o.ShippingAddress),
		LineItems:       []lineItemJSON{}, Fulfillments: []fulfillmentJSON{}, Refunds: []refundJSON{},
		Shipments: briefShipments(o.Fulfillments),
	}
	if cu := o.Customer; cu != nil {
		out.Customer = &customerJSON{ID: platformID(cu.PlatformID), Email: cu.Email, Phone: cu.Phone,
			FirstName: cu.FirstName, LastName: cu.LastName, Locale: cu.Locale, State: cu.State}
	}
	for _, l := range o.LineItems {
		out.LineItems = append(out.LineItems, lineItemJSON{
			ID: platformID(l.PlatformID), ProductID: platformID(l.ProductID), VariantID: platformID(l.VariantID),
			SKU: l.SKU, Title: l.Title, VariantTitle: l.VariantTitle, Quantity: l.Quantity,
			Price: money(l.Price), TotalDiscount: money(l.TotalDiscount), FulfillableQuantity: l.FulfillableQuantity,
			FulfillmentStatus: l.FulfillmentStatus, RequiresShipping: l.RequiresShipping,
		})
	}
	for _, f := range o.Fulfillments {
		fj := fulfillmentJSON{
			ID: platformID(f.PlatformID), Name: f.Name, Status: f.Status, ShipmentStatus: shipmentStatus(f),
			TrackingCompany: f.TrackingCompany, TrackingNumber: f.TrackingNumber, TrackingURL: f.TrackingURL,
			EstimatedDeliveryAt: utcPtr(f.EstimatedDeliveryAt), DeliveredAt: utcPtr(f.DeliveredAt),
			CreatedAt: f.PlatformCreatedAt.UTC(), UpdatedAt: f.PlatformUpdatedAt.UTC(),
			LineItems: []fulfillmentLineJSON{}, Events: []carrierEventJSON{},
		}
		for _, l := range f.LineItems {
			fj.LineItems = append(fj.LineItems, fulfillmentLineJSON{LineItemID: platformID(l.LineItemID), Quantity: l.Quantity})
		}
		for _, ev := range f.Events {
			fj.Events = append(fj.Events, carrierEventJSON{
				ID: platformID(ev.PlatformID), Status: ev.Status, Message: ev.Message, City: ev.City,
				Province: ev.Province, Country: ev.Country, EstimatedDeliveryAt: utcPtr(ev.EstimatedDeliveryAt),
				HappenedAt: ev.HappenedAt.UTC(),
			})
		}
		out.Fulfillments = append(out.Fulfillments, fj)
	}
	for _, r := range o.Refunds {
		rj := refundJSON{
			ID: platformID(r.PlatformID), Note: r.Note, Amount: money(r.Amount), Currency: r.Currency,
			Restock: r.Restock, ProcessedAt: utcPtr(r.ProcessedAt), CreatedAt: r.PlatformCreatedAt.UTC(),
			Lines: []refundLineJSON{},
		}
		if rj.Currency == "" {
			rj.Currency = o.Currency
		}
		for _, l := range r.Lines {
			rj.Lines = append(rj.Lines, refundLineJSON{
				ID: platformID(l.PlatformID), LineItemID: platformID(l.LineItemPlatformID), Quantity: l.Quantity,
				Subtotal: money(l.Subtotal), TotalTax: money(l.TotalTax), RestockType: l.RestockType,
			})
		}
		out.Refunds = append(out.Refunds, rj)
	}
	return out
}

// ---- timeline ----

// timelineEntryJSON is one thing that happened to an order. At and Type
// are always there; the other fields depend on Type.
type timelineEntryJSON struct {
	At   time.Time `json:"at"`
	Type string    `json:"type"` // "delivery", "trigger", "message", "feedback", "ledger"

	// type "delivery": a webhook that changed the order.
	DeliveryID  uint64     `json:"delivery_id,omitempty"`
	Topic       string     `json:"topic,omitempty"`
	ReceivedAt  *time.Time `json:"received_at,omitempty"`
	ProcessedAt *time.Time `json:"processed_at,omitempty"`
	Error       string     `json:"error,omitempty"`

	// type "trigger": a consequence flows subscribe to.
	TriggerID uint64     `json:"trigger_id,omitempty"`
	Kind      string     `json:"kind,omitempty"`
	Version   *string    `json:"version,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty"`

	// type "message": one decision about a message — queued, deferred
	// (until when, and why), sending, sent, failed or suppressed (why).
	MessageID uint64     `json:"message_id,omitempty"`
	Flow      string     `json:"flow,omitempty"`
	Step      string     `json:"step,omitempty"`
	Channel   string     `json:"channel,omitempty"`
	Recipient string     `json:"recipient,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Until     *time.Time `json:"until,omitempty"`

	// type "feedback": a rating, NPS score or review the shopper gave.
	FeedbackKind string `json:"feedback_kind,omitempty"`
	Rating       *int   `json:"rating,omitempty"`
	Comment      string `json:"comment,omitempty"`
	ProductID    string `json:"product_id,omitempty"`

	// type "ledger": a loyalty points entry about the order (kind, signed
	// points, and until when they are pending).
	EntryID      uint64     `json:"entry_id,omitempty"`
	EntryKind    string     `json:"entry_kind,omitempty"`
	Points       *int64     `json:"points,omitempty"`
	PendingUntil *time.Time `json:"pending_until,omitempty"`
	CustomerID   string     `json:"customer_id,omitempty"`

	// Status of the delivery, trigger or message.
	Status string `json:"status,omitempty"`

	seq uint64 // id within its source, to order ties
}

// timelineSource lists one kind of thing that happened to an order. Adding
// a source (messages, ledger entries) is one function and one line in
// timelineSources.
type timelineSource func(a *App, ctx context.Context, shop models.Shop, o models.Order) ([]timelineEntryJSON, error)

// timelineSources are merged in this order; on equal times, an earlier
// source's entry comes first (a delivery before the triggers it wrote).
var timelineSources = []timelineSource{
	deliveriesTimeline,
	triggersTimeline,
	messagesTimeline,
	feedbackTimeline,
	ledgerTimeline,
}

// orderTimeline merges every source's entries in time order.
func (a *App) orderTimeline(ctx context.Context, shop models.Shop, o models.Order) ([]timelineEntryJSON, error) {
	out := []timelineEntryJSON{}
	for _, src := range timelineSources {
		es, err := src(a, ctx, shop, o)
		if err != nil {
			return nil, err
		}
		sort.SliceStable(es, func(i, j int) bool {
			if !es[i].At.Equal(es[j].At) {
				return es[i].At.Before(es[j].At)
			}
			return es[i].seq < es[j].seq
		})
		out = append(out, es...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

func deliveriesTimeline(a *App, ctx context.Context, shop models.Shop, o models.Order) ([]timelineEntryJSON, error) {
	ds, err := a.store.DeliveriesForOrder(ctx, shop.ID, o.PlatformID)
	if err != nil {
		return nil, err
	}
	es := make([]timelineEntryJSON, len(ds))
	for i, d := range ds {
		received := d.ReceivedAt.UTC()
		es[i] = timelineEntryJSON{At: received, Type: "delivery", seq: d.ID,
			DeliveryID: d.ID, Topic: d.Topic, ReceivedAt: &received, ProcessedAt: utcPtr(d.ProcessedAt),
			Status: d.Status, Error: d.Error}
	}
	return es, nil
}

func triggersTimeline(a *App, ctx context.Context, shop models.Shop, o models.Order) ([]timelineEntryJSON, error) {
	ts, err := a.store.TriggersForOrder(ctx, shop.ID, o.PlatformID)
	if err != nil {
		return nil, err
	}
	es := make([]timelineEntryJSON, len(ts))
	for i, t := range ts {
		version := t.Version
		es[i] = timelineEntryJSON{At: t.CreatedAt.UTC(), Type: "trigger", seq: t.ID,
			TriggerID: t.ID, Kind: t.Kind, Version: &version, Subject: t.Subject, DueAt: utcPtr(&t.DueAt),
			Status: t.Status, DeliveryID: t.DeliveryID}
	}
	return es, nil
}

// messagesTimeline has an entry per decision about each of the order's
// messages: the trace of why a message did or didn't go out.
func messagesTimeline(a *App, ctx context.Context, shop models.Shop, o models.Order) ([]timelineEntryJSON, error) {
	ms, evs, err := a.store.OrderMessages(ctx, shop.ID, o.PlatformID)
	if err != nil {
		return nil, err
	}
	byID := make(map[uint64]models.Message, len(ms))
	for _, m := range ms {
		byID[m.ID] = m
	}
	es := make([]timelineEntryJSON, 0, len(evs))
	for _, ev := range evs {
		m := byID[ev.MessageID]
		es = append(es, timelineEntryJSON{At: ev.At.UTC(), Type: "message", seq: ev.ID, MessageID: m.ID, Flow: m.Flow,
			Step: m.Step, Subject: m.Subject, Channel: m.Channel, Recipient: m.Recipient, Status: ev.Status, Reason: ev.Reason,
			Until: utcPtr(ev.Until)})
	}
	return es, nil
}

func feedbackTimeline(a *App, ctx context.Context, shop models.Shop, o models.Order) ([]timelineEntryJSON, error) {
	fb, err := a.store.OrderFeedback(ctx, shop.ID, o.PlatformID)
	if err != nil {
		return nil, err
	}
	es := make([]timelineEntryJSON, len(fb))
	for i, f := range fb {
		rating := f.Rating
		es[i] = timelineEntryJSON{At: f.UpdatedAt.UTC(), Type: "feedback", seq: f.ID, FeedbackKind: f.Kind, Rating: &rating,
			Comment: f.Comment, ProductID: platformID(f.ProductID)}
	}
	return es, nil
}

func ledgerTimeline(a *App, ctx context.Context, shop models.Shop, o models.Order) ([]timelineEntryJSON, error) {
	entries, err := a.store.OrderEntries(ctx, shop.ID, o.PlatformID)
	if err != nil {
		return nil, err
	}
	es := make([]timelineEntryJSON, len(entries))
	for i, e := range entries {
		points := e.Points
		es[i] = timelineEntryJSON{At: e.At.UTC(), Type: "ledger", seq: e.ID, EntryID: e.ID, EntryKind: e.Kind, Points: &points,
			PendingUntil: e.PendingUntil, CustomerID: platformID(e.CustomerPlatformID), Reason: e.Reason}
	}
	return es, nil
}

// ---- JSON helpers ----

// platformID renders a platform id as a string ("" for none).
func platformID(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// money renders an amount with two decimals ("99.90"), or more when the
// amount has them (currencies with three), never losing precision.
func money(d decimal.Decimal) string {
	if d.Round(2).Equal(d) {
		return d.StringFixed(2)
	}
	return d.String()
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
