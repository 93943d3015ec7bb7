package shopify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// The payload types mirror Shopify's REST webhook bodies, reading only what
// Doorstep keeps. Strings that Shopify sends as null decode to "".

// jtime accepts an RFC 3339 string, null or "" (Shopify sends all three).
type jtime struct{ t time.Time }

func (j *jtime) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" || s == `""` {
		j.t = time.Time{}
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("time: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return err
	}
	j.t = t.UTC()
	return nil
}

func (j jtime) ptr() *time.Time {
	if j.t.IsZero() {
		return nil
	}
	t := j.t
	return &t
}

type money struct {
	Amount       decimal.Decimal `json:"amount"`
	CurrencyCode string          `json:"currency_code"`
}

type moneySet struct {
	ShopMoney money `json:"shop_money"`
}

type addressPayload struct {
	Name         string `json:"name"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
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

func (a *addressPayload) address() models.Address {
	if a == nil {
		return models.Address{}
	}
	name := a.Name
	if name == "" {
		name = strings.TrimSpace(a.FirstName + " " + a.LastName)
	}
	return models.Address{
		Name: name, Company: a.Company, Address1: a.Address1, Address2: a.Address2,
		City: a.City, Province: a.Province, ProvinceCode: a.ProvinceCode, Zip: a.Zip, CountryCode: a.CountryCode, Phone: a.Phone,
	}
}

type customerPayload struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Locale    string `json:"locale"`
	State     string `json:"state"`
	CreatedAt jtime  `json:"created_at"`
	UpdatedAt jtime  `json:"updated_at"`
	// Consent: the current objects, and the legacy flag older payloads carry.
	EmailMarketingConsent *struct {
		State string `json:"state"`
	} `json:"email_marketing_consent"`
	SMSMarketingConsent *struct {
		State string `json:"state"`
	} `json:"sms_marketing_consent"`
	AcceptsMarketing bool `json:"accepts_marketing"`
}

func (p *customerPayload) customer() models.Customer {
	updated := p.UpdatedAt.t
	if updated.IsZero() {
		updated = p.CreatedAt.t
	}
	return models.Customer{
		PlatformID:        p.ID,
		Email:             p.Email,
		Phone:             p.Phone,
		FirstName:         p.FirstName,
		LastName:          p.LastName,
		Locale:            p.Locale,
		State:             p.State,
		EmailMarketing:    p.AcceptsMarketing || (p.EmailMarketingConsent != nil && p.EmailMarketingConsent.State == "subscribed"),
		SMSMarketing:      p.SMSMarketingConsent != nil && p.SMSMarketingConsent.State == "subscribed",
		PlatformCreatedAt: p.CreatedAt.t,
		PlatformUpdatedAt: updated,
	}
}

type lineItemPayload struct {
	ID                  int64           `json:"id"`
	ProductID           int64           `json:"product_id"`
	VariantID           int64           `json:"variant_id"`
	SKU                 string          `json:"sku"`
	Title               string          `json:"title"`
	VariantTitle        string          `json:"variant_title"`
	Quantity            int             `json:"quantity"`
	Price               decimal.Decimal `json:"price"`
	TotalDiscount       decimal.Decimal `json:"total_discount"`
	FulfillableQuantity int             `json:"fulfillable_quantity"`
	FulfillmentStatus   string          `json:"fulfillment_status"`
	RequiresShipping    *bool           `json:"requires_shipping"`
	// DiscountAllocations are every discount on the line, order-level
	// ones (a discount code on the whole order) included; total_discount
	// leaves those out.
	DiscountAllocations []struct {
		Amount    decimal.Decimal `json:"amount"`
		AmountSet *moneySet       `json:"amount_set"`
	} `json:"discount_allocations"`
}

// discountAllocated sums the line's discount allocations in shop money;
// amount_set is the explicit shop-currency figure, amount the older one.
func (li *lineItemPayload) discountAllocated() decimal.Decimal {
	sum := decimal.Zero
	for _, a := range li.DiscountAllocations {
		if a.AmountSet != nil {
			sum = sum.Add(a.AmountSet.ShopMoney.Amount)
		} else {
			sum = sum.Add(a.Amount)
		}
	}
	return sum
}

// looseString decodes a JSON string, and tolerates whatever else a
// shopper-set value might become on the way: null is "", anything else is
// kept as its JSON text. A cart attribute must never make a whole order
// unparseable.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = ""
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = looseString(str)
		return nil
	}
	*s = looseString(b)
	return nil
}

// ReferralAttribute is the cart (note) attribute Doorstep's storefront code
// sets to the referral code a shopper arrived with.
const ReferralAttribute = "doorstep_ref"

// Column sizes of the models.Order fields a shopper can make as long as
// they like. Postgres refuses a longer value, and one overlong field must
// not cost the whole order, so they are cut here.
const (
	maxReferralCode  = 64
	maxLandingSite   = 2048
	maxDiscountCodes = 1024
	maxBrowserIP     = 64
)

// clip cuts s to at most n characters (not bytes: the columns count
// characters, and a cut must not split one).
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// joinCodes joins discount codes with "," as entered, skipping blanks and
// leaving out whole codes past maxDiscountCodes rather than keeping half
// of one.
func joinCodes(codes []string) string {
	var b strings.Builder
	n := 0
	for _, c := range codes {
		if c == "" {
			continue
		}
		l := utf8.RuneCountInString(c)
		if n > 0 {
			l++ // the comma
		}
		if n+l > maxDiscountCodes {
			break
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c)
		n += l
	}
	return b.String()
}

// referralCode is the trimmed value of the first non-empty doorstep_ref
// attribute, cut to maxReferralCode characters. Shoppers can set cart
// attributes to anything, so the value is only a claim: the loyalty flow
// checks it against real codes.
func referralCode(attrs []attribute) string {
	for _, a := range attrs {
		if a.Name != ReferralAttribute {
			continue
		}
		v := strings.TrimSpace(a.Value)
		if v == "" {
			continue
		}
		return strings.TrimSpace(clip(v, maxReferralCode))
	}
	return ""
}

// attribute is one name/value pair of an order's note_attributes (REST)
// or customAttributes (GraphQL, where the name is called key).
type attribute struct {
	Name  string
	Value string
}

type orderPayload struct {
	ID                    int64                `json:"id"`
	Name                  string               `json:"name"`
	OrderNumber           int64                `json:"order_number"`
	Email                 string               `json:"email"`
	ContactEmail          string               `json:"contact_email"`
	Phone                 string               `json:"phone"`
	CustomerLocale        string               `json:"customer_locale"`
	Currency              string               `json:"currency"`
	CurrentSubtotalPrice  decimal.NullDecimal  `json:"current_subtotal_price"`
	SubtotalPrice         decimal.Decimal      `json:"subtotal_price"`
	CurrentTotalDiscounts decimal.NullDecimal  `json:"current_total_discounts"`
	TotalDiscounts        decimal.Decimal      `json:"total_discounts"`
	TotalShippingPriceSet *moneySet            `json:"total_shipping_price_set"`
	CurrentTotalTax       decimal.NullDecimal  `json:"current_total_tax"`
	TotalTax              decimal.Decimal      `json:"total_tax"`
	CurrentTotalPrice     decimal.NullDecimal  `json:"current_total_price"`
	TotalPrice            decimal.Decimal      `json:"total_price"`
	FinancialStatus       string               `json:"financial_status"`
	FulfillmentStatus     string               `json:"fulfillment_status"`
	CancelledAt           jtime                `json:"cancelled_at"`
	CancelReason          string               `json:"cancel_reason"`
	ClosedAt              jtime                `json:"closed_at"`
	ProcessedAt           jtime                `json:"processed_at"`
	CreatedAt             jtime                `json:"created_at"`
	UpdatedAt             jtime                `json:"updated_at"`
	Tags                  string               `json:"tags"`
	Test                  bool                 `json:"test"`
	OrderStatusURL        string               `json:"order_status_url"`
	ShippingAddress       *addressPayload      `json:"shipping_address"`
	Customer              *customerPayload     `json:"customer"`
	LineItems             []lineItemPayload    `json:"line_items"`
	Fulfillments          []fulfillmentPayload `json:"fulfillments"`
	Refunds               []refundPayload      `json:"refunds"`

	// What the loyalty and referral flows read.
	SubtotalPriceSet    *moneySet `json:"subtotal_price_set"`
	PresentmentCurrency string    `json:"presentment_currency"`
	DiscountCodes       []struct {
		Code string `json:"code"`
	} `json:"discount_codes"`
	LandingSite    string `json:"landing_site"`
	NoteAttributes []struct {
		Name  looseString `json:"name"`
		Value looseString `json:"value"`
	} `json:"note_attributes"`
	BrowserIP     string `json:"browser_ip"`
	ClientDetails *struct {
		BrowserIP string `json:"browser_ip"`
	} `json:"client_details"`
}

// current prefers Shopify's current_* amount (after edits, returns and
// refunds) and falls back to the original one on older payloads.
func current(cur decimal.NullDecimal, orig decimal.Decimal) decimal.Decimal {
	if cur.Valid {
		return cur.Decimal
	}
	return orig
}

func (p *orderPayload) order() (models.Order, error) {
	if p.ID == 0 {
		return models.Order{}, errMissingID
	}
	updated := p.UpdatedAt.t
	if updated.IsZero() {
		updated = p.CreatedAt.t
	}
	if updated.IsZero() {
		// The store orders updates by this; without it newer-wins is blind.
		return models.Order{}, errors.New("order has neither updated_at nor created_at")
	}
	email := p.Email
	if email == "" {
		email = p.ContactEmail
	}
	o := models.Order{
		PlatformID:        p.ID,
		Name:              p.Name,
		Number:            p.OrderNumber,
		Email:             email,
		Phone:             p.Phone,
		Locale:            p.CustomerLocale,
		Currency:          p.Currency,
		Subtotal:          current(p.CurrentSubtotalPrice, p.SubtotalPrice),
		TotalDiscounts:    current(p.CurrentTotalDiscounts, p.TotalDiscounts),
		TotalTax:          current(p.CurrentTotalTax, p.TotalTax),
		Total:             current(p.CurrentTotalPrice, p.TotalPrice),
		FinancialStatus:   p.FinancialStatus,
		FulfillmentStatus: p.FulfillmentStatus,
		CancelledAt:       p.CancelledAt.ptr(),
		CancelReason:      p.CancelReason,
		ClosedAt:          p.ClosedAt.ptr(),
		ProcessedAt:       p.ProcessedAt.ptr(),
		Tags:              p.Tags,
		Test:              p.Test,
		StatusPageURL:     p.OrderStatusURL,
		LandingSite:       clip(p.LandingSite, maxLandingSite),
		ShippingAddress:   p.ShippingAddress.address(),
		PlatformCreatedAt: p.CreatedAt.t,
		PlatformUpdatedAt: updated,
	}
	if p.TotalShippingPriceSet != nil {
		o.TotalShipping = p.TotalShippingPriceSet.ShopMoney.Amount
	}
	// The subtotal as placed: subtotal_price, not current_subtotal_price,
	// which refunds and edits lower afterwards. The _set form names the
	// shop currency explicitly; older payloads have only the plain one.
	o.OriginalSubtotal = p.SubtotalPrice
	if p.SubtotalPriceSet != nil {
		o.OriginalSubtotal = p.SubtotalPriceSet.ShopMoney.Amount
	}
	if p.PresentmentCurrency != p.Currency {
		o.PresentmentCurrency = p.PresentmentCurrency
	}
	codes := make([]string, 0, len(p.DiscountCodes))
	for _, d := range p.DiscountCodes {
		codes = append(codes, d.Code)
	}
	o.DiscountCodes = joinCodes(codes)
	attrs := make([]attribute, 0, len(p.NoteAttributes))
	for _, a := range p.NoteAttributes {
		attrs = append(attrs, attribute{Name: string(a.Name), Value: string(a.Value)})
	}
	o.ReferralCode = referralCode(attrs)
	o.BrowserIP = p.BrowserIP
	if o.BrowserIP == "" && p.ClientDetails != nil {
		o.BrowserIP = p.ClientDetails.BrowserIP
	}
	o.BrowserIP = clip(o.BrowserIP, maxBrowserIP)
	if p.Customer != nil && p.Customer.ID != 0 {
		cu := p.Customer.customer()
		o.Customer = &cu
		o.CustomerPlatformID = cu.PlatformID
	}
	for i, li := range p.LineItems {
		if li.ID == 0 {
			return models.Order{}, fmt.Errorf("line_items[%d]: %w", i, errMissingID)
		}
		o.LineItems = append(o.LineItems, models.LineItem{
			PlatformID:          li.ID,
			ProductID:           li.ProductID,
			VariantID:           li.VariantID,
			SKU:                 li.SKU,
			Title:               li.Title,
			VariantTitle:        li.VariantTitle,
			Quantity:            li.Quantity,
			Price:               li.Price,
			TotalDiscount:       li.TotalDiscount,
			DiscountAllocated:   li.discountAllocated(),
			FulfillableQuantity: li.FulfillableQuantity,
			FulfillmentStatus:   li.FulfillmentStatus,
			// Absent means Shopify didn't say; physical goods are the norm.
			RequiresShipping: li.RequiresShipping == nil || *li.RequiresShipping,
		})
	}
	for i := range p.Fulfillments {
		f, err := p.Fulfillments[i].fulfillment(p.ID)
		if err != nil {
			return models.Order{}, fmt.Errorf("fulfillments[%d]: %w", i, err)
		}
		o.Fulfillments = append(o.Fulfillments, f)
	}
	for i := range p.Refunds {
		r, err := p.Refunds[i].refund(p.ID, p.Currency)
		if err != nil {
			return models.Order{}, fmt.Errorf("refunds[%d]: %w", i, err)
		}
		o.Refunds = append(o.Refunds, r)
	}
	return o, nil
}

type fulfillmentPayload struct {
	ID                  int64    `json:"id"`
	OrderID             int64    `json:"order_id"`
	Name                string   `json:"name"`
	Status              string   `json:"status"`
	ShipmentStatus      string   `json:"shipment_status"`
	TrackingCompany     string   `json:"tracking_company"`
	TrackingNumber      string   `json:"tracking_number"`
	TrackingNumbers     []string `json:"tracking_numbers"`
	TrackingURL         string   `json:"tracking_url"`
	TrackingURLs        []string `json:"tracking_urls"`
	EstimatedDeliveryAt jtime    `json:"estimated_delivery_at"`
	CreatedAt           jtime    `json:"created_at"`
	UpdatedAt           jtime    `json:"updated_at"`
	LineItems           []struct {
		ID       int64 `json:"id"`
		Quantity int   `json:"quantity"`
	} `json:"line_items"`
}

// fulfillment maps one fulfillment; orderID fills in order_id when the
// fulfillment is nested in an order payload that omits it.
func (p *fulfillmentPayload) fulfillment(orderID int64) (models.Fulfillment, error) {
	if p.ID == 0 {
		return models.Fulfillment{}, errMissingID
	}
	if p.OrderID != 0 {
		orderID = p.OrderID
	}
	if orderID == 0 {
		return models.Fulfillment{}, errors.New("fulfillment has no order_id")
	}
	updated := p.UpdatedAt.t
	if updated.IsZero() {
		updated = p.CreatedAt.t
	}
	f := models.Fulfillment{
		PlatformID:          p.ID,
		OrderPlatformID:     orderID,
		Name:                p.Name,
		Status:              p.Status,
		ShipmentStatus:      p.ShipmentStatus,
		TrackingCompany:     p.TrackingCompany,
		TrackingNumber:      p.TrackingNumber,
		TrackingURL:         p.TrackingURL,
		EstimatedDeliveryAt: p.EstimatedDeliveryAt.ptr(),
		PlatformCreatedAt:   p.CreatedAt.t,
		PlatformUpdatedAt:   updated,
	}
	if f.ShipmentStatus == "" {
		// No carrier scan yet: Shopify says null; Doorstep calls a live
		// fulfillment in that state "confirmed".
		switch p.Status {
		case "success", "open", "pending":
			f.ShipmentStatus = models.ShipmentConfirmed
		}
	}
	if f.TrackingNumber == "" && len(p.TrackingNumbers) > 0 {
		f.TrackingNumber = p.TrackingNumbers[0]
	}
	if f.TrackingURL == "" && len(p.TrackingURLs) > 0 {
		f.TrackingURL = p.TrackingURLs[0]
	}
	for _, li := range p.LineItems {
		f.LineItems = append(f.LineItems, models.FulfillmentLine{LineItemID: li.ID, Quantity: li.Quantity})
	}
	return f, nil
}

type fulfillmentEventPayload struct {
	ID                  int64  `json:"id"`
	FulfillmentID       int64  `json:"fulfillment_id"`
	OrderID             int64  `json:"order_id"`
	Status              string `json:"status"`
	Message             string `json:"message"`
	HappenedAt          jtime  `json:"happened_at"`
	City                string `json:"city"`
	Province            string `json:"province"`
	Country             string `json:"country"`
	EstimatedDeliveryAt jtime  `json:"estimated_delivery_at"`
	CreatedAt           jtime  `json:"created_at"`
}

func (p *fulfillmentEventPayload) event() (models.FulfillmentEvent, error) {
	if p.ID == 0 {
		return models.FulfillmentEvent{}, errMissingID
	}
	if p.FulfillmentID == 0 {
		return models.FulfillmentEvent{}, errors.New("fulfillment event has no fulfillment_id")
	}
	happened := p.HappenedAt.t
	if happened.IsZero() {
		happened = p.CreatedAt.t
	}
	if happened.IsZero() {
		return models.FulfillmentEvent{}, errors.New("fulfillment event has neither happened_at nor created_at")
	}
	return models.FulfillmentEvent{
		PlatformID:            p.ID,
		FulfillmentPlatformID: p.FulfillmentID,
		OrderPlatformID:       p.OrderID,
		Status:                p.Status,
		Message:               p.Message,
		City:                  p.City,
		Province:              p.Province,
		Country:               p.Country,
		EstimatedDeliveryAt:   p.EstimatedDeliveryAt.ptr(),
		HappenedAt:            happened,
	}, nil
}

type refundPayload struct {
	ID           int64  `json:"id"`
	OrderID      int64  `json:"order_id"`
	Note         string `json:"note"`
	Restock      bool   `json:"restock"`
	ProcessedAt  jtime  `json:"processed_at"`
	CreatedAt    jtime  `json:"created_at"`
	Transactions []struct {
		Kind     string          `json:"kind"`
		Status   string          `json:"status"`
		Amount   decimal.Decimal `json:"amount"`
		Currency string          `json:"currency"`
	} `json:"transactions"`
	RefundLineItems []struct {
		ID          int64           `json:"id"`
		LineItemID  int64           `json:"line_item_id"`
		Quantity    int             `json:"quantity"`
		Subtotal    decimal.Decimal `json:"subtotal"`
		TotalTax    decimal.Decimal `json:"total_tax"`
		RestockType string          `json:"restock_type"`
		SubtotalSet *moneySet       `json:"subtotal_set"`
	} `json:"refund_line_items"`
}

// refund maps one refund; orderID and currency fill in what a refund nested
// in an order payload may omit.
func (p *refundPayload) refund(orderID int64, currency string) (models.Refund, error) {
	if p.ID == 0 {
		return models.Refund{}, errMissingID
	}
	if p.OrderID != 0 {
		orderID = p.OrderID
	}
	if orderID == 0 {
		return models.Refund{}, errors.New("refund has no order_id")
	}
	r := models.Refund{
		PlatformID:        p.ID,
		OrderPlatformID:   orderID,
		Note:              p.Note,
		Restock:           p.Restock,
		ProcessedAt:       p.ProcessedAt.ptr(),
		PlatformCreatedAt: p.CreatedAt.t,
	}
	// The money that actually went back is the successful refund
	// transactions; a refund with none (e.g. store credit, or a payload
	// that omits them) is valued by its lines.
	paid := false
	txCurrency, lineCurrency := "", ""
	for _, t := range p.Transactions {
		if t.Kind == "refund" && t.Status == "success" {
			r.Amount = r.Amount.Add(t.Amount)
			paid = true
			txCurrency = firstNonEmpty(txCurrency, t.Currency)
		}
	}
	for _, l := range p.RefundLineItems {
		if !paid {
			r.Amount = r.Amount.Add(l.Subtotal).Add(l.TotalTax)
		}
		if lineCurrency == "" && l.SubtotalSet != nil {
			lineCurrency = l.SubtotalSet.ShopMoney.CurrencyCode
		}
		r.Lines = append(r.Lines, models.RefundLine{
			PlatformID:         l.ID,
			LineItemPlatformID: l.LineItemID,
			Quantity:           l.Quantity,
			Subtotal:           l.Subtotal,
			TotalTax:           l.TotalTax,
			RestockType:        l.RestockType,
		})
	}
	// Refund transactions often carry currency: null; the shop-money
	// currency of the lines is the next best witness.
	r.Currency = firstNonEmpty(txCurrency, currency, lineCurrency)
	return r, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

type compliancePayload struct {
	ShopDomain string `json:"shop_domain"`
	Customer   struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
		Phone string `json:"phone"`
	} `json:"customer"`
	OrdersToRedact  []int64 `json:"orders_to_redact"`
	OrdersRequested []int64 `json:"orders_requested"`
	DataRequest     struct {
		ID int64 `json:"id"`
	} `json:"data_request"`
}
