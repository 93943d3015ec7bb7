package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Privacy: what the compliance topics, the app's lifecycle and retention do
// to stored data. Every method is scoped by shop, runs in one transaction
// and returns the rows it touched per table (for the audit log, which never
// holds personal data itself).
//
// The Store methods are the one-shot forms; the Tx methods let a flow put
// the change, its idempotency check and its audit row in one transaction.

// ErrShopInstalled means the shop has the app installed (again): its data
// must not be deleted.
var ErrShopInstalled = errors.New("shop is installed")

// Trigger kinds an uninstall does not stop: the compliance obligations
// outlive the install.
var keepOnUninstall = []string{TriggerCustomerRedact, TriggerCustomerDataReq, TriggerShopRedact, TriggerUninstalled}

// minNeedle is the shortest email or phone searched for in raw bodies: a
// shorter one would match unrelated deliveries.
const minNeedle = 5

// SumRows is the total of per-table row counts.
func SumRows(counts map[string]int64) int64 {
	var n int64
	for _, v := range counts {
		n += v
	}
	return n
}

// ---- customer redaction ----

// RedactCustomer erases one customer's personal data everywhere Doorstep
// holds it; see Tx.RedactCustomer.
func (s *Store) RedactCustomer(ctx context.Context, shopID uint64, customerPlatformID int64, email, phone string, orderIDs []int64) (map[string]int64, error) {
	var out map[string]int64
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.RedactCustomer(shopID, customerPlatformID, email, phone, orderIDs)
		return err
	})
	return out, err
}

// RedactCustomer erases one customer's personal data: the customer row
// (and any row of the shop with the same email) keeps its id with email,
// phone, names and locale emptied; that customer's orders (by customer id,
// the given order ids, or the same email) keep totals, currency, statuses
// and lines but lose email, phone, shipping address and status page URL;
// their fulfillments lose tracking numbers and carrier event locations,
// their refunds their notes; raw delivery bodies about those orders or
// mentioning the customer's email or phone are dropped (metadata kept);
// data exports for the customer are deleted. Running it again changes
// nothing (every count is 0).
func (tx *Tx) RedactCustomer(shopID uint64, customerPlatformID int64, email, phone string, orderIDs []int64) (map[string]int64, error) {
	counts := map[string]int64{}
	email, phone = strings.TrimSpace(email), strings.TrimSpace(phone)
	needles := newNeedles(email, phone)

	// Who: the customer rows.
	var custs []Customer
	q := tx.db.Where("shop_id = ?", shopID)
	switch {
	case customerPlatformID != 0 && email != "":
		q = q.Where("(platform_id = ? OR (email <> '' AND lower(email) = lower(?)))", customerPlatformID, email)
	case customerPlatformID != 0:
		q = q.Where("platform_id = ?", customerPlatformID)
	case email != "":
		q = q.Where("email <> '' AND lower(email) = lower(?)", email)
	default:
		q = nil
	}
	if q != nil {
		if err := q.Find(&custs).Error; err != nil {
			return nil, fmt.Errorf("find customer: %w", err)
		}
	}
	custRowIDs := make([]uint64, 0, len(custs))
	custPlatformIDs := []int64{}
	if customerPlatformID != 0 {
		custPlatformIDs = append(custPlatformIDs, customerPlatformID)
	}
	for _, c := range custs {
		custRowIDs = append(custRowIDs, c.ID)
		if c.PlatformID != customerPlatformID {
			custPlatformIDs = append(custPlatformIDs, c.PlatformID)
		}
		needles.add(c.Email, c.Phone)
	}

	// Their orders.
	var orders []Order
	conds := []string{}
	args := []any{}
	if len(custPlatformIDs) > 0 {
		conds = append(conds, "customer_platform_id IN ?")
		args = append(args, custPlatformIDs)
	}
	if len(orderIDs) > 0 {
		conds = append(conds, "platform_id IN ?")
		args = append(args, orderIDs)
	}
	if email != "" {
		conds = append(conds, "(email <> '' AND lower(email) = lower(?))")
		args = append(args, email)
	}
	if len(conds) > 0 {
		if err := tx.db.Where("shop_id = ?", shopID).Where("("+strings.Join(conds, " OR ")+")", args...).Find(&orders).Error; err != nil {
			return nil, fmt.Errorf("find orders: %w", err)
		}
	}
	orderRowIDs := make([]uint64, 0, len(orders))
	orderPlatformIDs := make([]int64, 0, len(orders))
	for _, o := range orders {
		orderRowIDs = append(orderRowIDs, o.ID)
		orderPlatformIDs = append(orderPlatformIDs, o.PlatformID)
		needles.add(o.Email, o.Phone, o.ShippingAddress.Phone)
	}

	// Erase.
	if len(custRowIDs) > 0 {
		res := tx.db.Model(&Customer{}).
			Where("shop_id = ? AND id IN ?", shopID, custRowIDs).
			Where("(email <> '' OR phone <> '' OR first_name <> '' OR last_name <> '' OR locale <> '' OR redacted_at IS NULL)").
			Updates(map[string]any{"email": "", "phone": "", "first_name": "", "last_name": "", "locale": "",
				"redacted_at": tx.now, "updated_at": tx.now})
		if res.Error != nil {
			return nil, fmt.Errorf("redact customers: %w", res.Error)
		}
		counts["customers"] = res.RowsAffected
	}
	if len(orderRowIDs) > 0 {
		res := tx.db.Model(&Order{}).
			Where("shop_id = ? AND id IN ?", shopID, orderRowIDs).
			Where("(redacted_at IS NULL OR email <> '' OR phone <> '' OR locale <> '' OR status_page_url <> '' OR " +
				"ship_name <> '' OR ship_company <> '' OR ship_address1 <> '' OR ship_address2 <> '' OR ship_city <> '' OR " +
				"ship_province <> '' OR ship_zip <> '' OR ship_country_code <> '' OR ship_phone <> '' OR browser_ip <> '')").
			Updates(map[string]any{"email": "", "phone": "", "locale": "", "status_page_url": "",
				"ship_name": "", "ship_company": "", "ship_address1": "", "ship_address2": "", "ship_city": "",
				"ship_province": "", "ship_province_code": "", "ship_zip": "", "ship_country_code": "", "ship_phone": "",
				"browser_ip": "", "redacted_at": tx.now, "updated_at": tx.now})
		if res.Error != nil {
			return nil, fmt.Errorf("redact orders: %w", res.Error)
		}
		counts["orders"] = res.RowsAffected

		// A tracking number finds the recipient's address at the carrier.
		res = tx.db.Model(&Fulfillment{}).
			Where("shop_id = ? AND (order_id IN ? OR order_platform_id IN ?)", shopID, orderRowIDs, orderPlatformIDs).
			Where("(tracking_number <> '' OR tracking_url <> '')").
			Updates(map[string]any{"tracking_number": "", "tracking_url": "", "updated_at": tx.now})
		if res.Error != nil {
			return nil, fmt.Errorf("redact fulfillments: %w", res.Error)
		}
		counts["fulfillments"] = res.RowsAffected

		// The last scans say where the parcel was delivered.
		res = tx.db.Model(&FulfillmentEvent{}).
			Where("shop_id = ? AND (order_platform_id IN ? OR fulfillment_id IN (SELECT id FROM fulfillments WHERE shop_id = ? AND order_id IN ?))",
				shopID, orderPlatformIDs, shopID, orderRowIDs).
			Where("(city <> '' OR province <> '' OR message <> '')").
			Updates(map[string]any{"city": "", "province": "", "message": ""})
		if res.Error != nil {
			return nil, fmt.Errorf("redact fulfillment events: %w", res.Error)
		}
		counts["fulfillment_events"] = res.RowsAffected

		res = tx.db.Model(&Refund{}).
			Where("shop_id = ? AND (order_id IN ? OR order_platform_id IN ?) AND note <> ''", shopID, orderRowIDs, orderPlatformIDs).
			Update("note", "")
		if res.Error != nil {
			return nil, fmt.Errorf("redact refunds: %w", res.Error)
		}
		counts["refunds"] = res.RowsAffected
	}

	// Raw bodies: the deliveries that changed those orders, and any that
	// mention the customer (customers/*, the compliance requests themselves).
	var shop Shop
	if err := tx.db.Select("id", "platform", "domain").Take(&shop, shopID).Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("load shop %d: %w", shopID, err)
	}
	dq := tx.db.Model(&Delivery{}).Where("body IS NOT NULL")
	if shop.Domain != "" {
		dq = dq.Where("(shop_id = ? OR (platform = ? AND shop_domain = ?))", shopID, shop.Platform, shop.Domain)
	} else {
		dq = dq.Where("shop_id = ?", shopID)
	}
	about, aboutArgs := needles.match(tx.pg, "body")
	if len(orderPlatformIDs) > 0 {
		about = append(about, "order_platform_id IN ?")
		aboutArgs = append(aboutArgs, orderPlatformIDs)
	}
	if len(about) > 0 {
		res := dq.Where("("+strings.Join(about, " OR ")+")", aboutArgs...).
			Updates(map[string]any{"body": nil, "updated_at": tx.now})
		if res.Error != nil {
			return nil, fmt.Errorf("drop delivery bodies: %w", res.Error)
		}
		counts["deliveries"] = res.RowsAffected
	}

	if err := tx.redactMessages(shopID, needles, orderPlatformIDs, counts); err != nil {
		return nil, err
	}

	// Loyalty keeps its ledger (the totals are accounting), but not the
	// birthday, nor the free text a merchant typed about the customer.
	if len(custPlatformIDs) > 0 {
		res := tx.db.Model(&LoyaltyAccount{}).Where("shop_id = ? AND customer_platform_id IN ? AND birthday <> ''", shopID, custPlatformIDs).
			Updates(map[string]any{"birthday": "", "updated_at": tx.now})
		if res.Error != nil {
			return nil, fmt.Errorf("redact loyalty accounts: %w", res.Error)
		}
		counts["loyalty_accounts"] = res.RowsAffected
		res = tx.db.Model(&LoyaltyEntry{}).Where("shop_id = ? AND customer_platform_id IN ? AND kind = ? AND reason <> ''",
			shopID, custPlatformIDs, EntryAdjust).Update("reason", "")
		if res.Error != nil {
			return nil, fmt.Errorf("redact loyalty entries: %w", res.Error)
		}
		counts["loyalty_entries"] = res.RowsAffected
	}

	// Exports assembled for that customer hold everything above.
	eq := tx.db.Where("shop_id = ?", shopID)
	match, matchArgs := needles.match(tx.pg, "export")
	if len(custPlatformIDs) > 0 {
		match = append(match, "customer_platform_id IN ?")
		matchArgs = append(matchArgs, custPlatformIDs)
	}
	if len(match) > 0 {
		res := eq.Where("("+strings.Join(match, " OR ")+")", matchArgs...).Delete(&DataExport{})
		if res.Error != nil {
			return nil, fmt.Errorf("delete data exports: %w", res.Error)
		}
		counts["data_exports"] = res.RowsAffected
	}

	// Survey answers may hold the shopper's own words.
	for _, id := range custPlatformIDs {
		n, err := tx.DeleteSurveyAnswers(shopID, id, orderPlatformIDs)
		if err != nil {
			return nil, err
		}
		counts["survey_answers"] += n
	}
	if len(custPlatformIDs) == 0 && len(orderPlatformIDs) > 0 {
		n, err := tx.DeleteSurveyAnswers(shopID, 0, orderPlatformIDs)
		if err != nil {
			return nil, err
		}
		counts["survey_answers"] += n
	}

	// Helpdesk tickets name the customer by email, and their subjects are
	// the customer's words: both go; the ticket's state stays so the
	// helpdesk's own record is the one to consult.
	var emails []string
	for v := range needles {
		if strings.Contains(v, "@") && v == strings.ToLower(v) {
			emails = append(emails, v)
		}
	}
	sort.Strings(emails)
	if len(emails) > 0 || len(orderPlatformIDs) > 0 {
		tq := tx.db.Model(&Ticket{}).Where("shop_id = ?", shopID)
		switch {
		case len(emails) > 0 && len(orderPlatformIDs) > 0:
			tq = tq.Where("(customer_email IN ? OR order_platform_id IN ?)", emails, orderPlatformIDs)
		case len(emails) > 0:
			tq = tq.Where("customer_email IN ?", emails)
		default:
			tq = tq.Where("order_platform_id IN ?", orderPlatformIDs)
		}
		res := tq.Updates(map[string]any{"customer_email": "", "subject": "", "updated_at": tx.now})
		if res.Error != nil {
			return nil, fmt.Errorf("redact tickets: %w", res.Error)
		}
		counts["tickets"] = res.RowsAffected
	}
	return counts, nil
}

// needles are the strings that identify a customer inside raw JSON.
type needles map[string]bool

func newNeedles(vals ...string) needles {
	n := needles{}
	n.add(vals...)
	return n
}

func (n needles) add(vals ...string) {
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if len(v) >= minNeedle {
			n[v] = true
			n[strings.ToLower(v)] = true
		}
	}
}

// match returns one condition per needle: the binary column contains its
// UTF-8 bytes. SQLite's instr and PostgreSQL's position both search bytes
// when given bytes. (The needle goes in as a string: gorm would expand a
// []byte argument into a list.)
func (n needles) match(pg bool, column string) ([]string, []any) {
	vals := make([]string, 0, len(n))
	for v := range n {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	conds := make([]string, 0, len(vals))
	args := make([]any, 0, len(vals))
	for _, v := range vals {
		if pg {
			conds = append(conds, "position(convert_to(?, 'UTF8') in "+column+") > 0")
		} else {
			conds = append(conds, "instr("+column+", CAST(? AS BLOB)) > 0")
		}
		args = append(args, v)
	}
	return conds, args
}

// ---- customer data export ----

// CustomerExport is everything Doorstep holds for one customer, as handed
// to the merchant for a customers/data_request. Platform ids are strings
// (they exceed what JavaScript numbers hold exactly).
type CustomerExport struct {
	ShopDomain string           `json:"shop_domain"`
	CustomerID string           `json:"customer_id"`
	ExportedAt time.Time        `json:"exported_at"`
	Customer   *ExportCustomer  `json:"customer"`
	Orders     []ExportOrder    `json:"orders"`
	Messages   []ExportMessage  `json:"messages"`
	Feedback   []ExportFeedback `json:"feedback"`
	Counts     map[string]int64 `json:"-"`
}

// ExportMessage is a message sent (or decided about) for the customer.
type ExportMessage struct {
	OrderID   string     `json:"order_id"`
	Flow      string     `json:"flow"`
	Step      string     `json:"step"`
	Channel   string     `json:"channel"`
	Recipient string     `json:"recipient"`
	Status    string     `json:"status"`
	Reason    string     `json:"reason"`
	SentAt    *time.Time `json:"sent_at"`
}

// ExportFeedback is a rating, score or review the customer gave.
type ExportFeedback struct {
	OrderID   string    `json:"order_id"`
	Kind      string    `json:"kind"`
	ProductID string    `json:"product_id,omitempty"`
	Rating    int       `json:"rating"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
}

// ExportCustomer is the customer row as exported.
type ExportCustomer struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Phone      string     `json:"phone"`
	FirstName  string     `json:"first_name"`
	LastName   string     `json:"last_name"`
	Locale     string     `json:"locale"`
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	RedactedAt *time.Time `json:"redacted_at,omitempty"`
}

// ExportAddress is a shipping address as exported.
type ExportAddress struct {
	Name        string `json:"name"`
	Company     string `json:"company"`
	Address1    string `json:"address1"`
	Address2    string `json:"address2"`
	City        string `json:"city"`
	Province    string `json:"province"`
	Zip         string `json:"zip"`
	CountryCode string `json:"country_code"`
	Phone       string `json:"phone"`
}

// ExportOrder is one order with everything attached to it.
type ExportOrder struct {
	ID                string              `json:"id"`
	Name              string              `json:"name"`
	Email             string              `json:"email"`
	Phone             string              `json:"phone"`
	Locale            string              `json:"locale"`
	Currency          string              `json:"currency"`
	Subtotal          string              `json:"subtotal"`
	TotalDiscounts    string              `json:"total_discounts"`
	TotalShipping     string              `json:"total_shipping"`
	TotalTax          string              `json:"total_tax"`
	Total             string              `json:"total"`
	FinancialStatus   string              `json:"financial_status"`
	FulfillmentStatus string              `json:"fulfillment_status"`
	CancelledAt       *time.Time          `json:"cancelled_at,omitempty"`
	CancelReason      string              `json:"cancel_reason,omitempty"`
	ProcessedAt       *time.Time          `json:"processed_at,omitempty"`
	CreatedAt         time.Time           `json:"created_at"`
	UpdatedAt         time.Time           `json:"updated_at"`
	StatusPageURL     string              `json:"status_page_url"`
	ShippingAddress   ExportAddress       `json:"shipping_address"`
	LineItems         []ExportLineItem    `json:"line_items"`
	Fulfillments      []ExportFulfillment `json:"fulfillments"`
	Refunds           []ExportRefund      `json:"refunds"`
	RedactedAt        *time.Time          `json:"redacted_at,omitempty"`
}

// ExportLineItem is one order line as exported.
type ExportLineItem struct {
	ID           string `json:"id"`
	SKU          string `json:"sku"`
	Title        string `json:"title"`
	VariantTitle string `json:"variant_title"`
	Quantity     int    `json:"quantity"`
	Price        string `json:"price"`
}

// ExportFulfillment is one shipment with its carrier events.
type ExportFulfillment struct {
	ID              string        `json:"id"`
	Status          string        `json:"status"`
	ShipmentStatus  string        `json:"shipment_status"`
	TrackingCompany string        `json:"tracking_company"`
	TrackingNumber  string        `json:"tracking_number"`
	TrackingURL     string        `json:"tracking_url"`
	DeliveredAt     *time.Time    `json:"delivered_at,omitempty"`
	CreatedAt       time.Time     `json:"created_at"`
	Events          []ExportEvent `json:"events"`
}

// ExportEvent is one carrier scan.
type ExportEvent struct {
	Status     string    `json:"status"`
	Message    string    `json:"message"`
	City       string    `json:"city"`
	Province   string    `json:"province"`
	Country    string    `json:"country"`
	HappenedAt time.Time `json:"happened_at"`
}

// ExportRefund is one refund with its lines.
type ExportRefund struct {
	ID          string             `json:"id"`
	Amount      string             `json:"amount"`
	Currency    string             `json:"currency"`
	Note        string             `json:"note"`
	ProcessedAt *time.Time         `json:"processed_at,omitempty"`
	CreatedAt   time.Time          `json:"created_at"`
	Lines       []ExportRefundLine `json:"lines"`
}

// ExportRefundLine is one refunded order line.
type ExportRefundLine struct {
	LineItemID string `json:"line_item_id"`
	Quantity   int    `json:"quantity"`
	Subtotal   string `json:"subtotal"`
	TotalTax   string `json:"total_tax"`
}

func pid(id int64) string { return strconv.FormatInt(id, 10) }

// ExportCustomer assembles everything held for one customer; see
// Tx.ExportCustomer.
func (s *Store) ExportCustomer(ctx context.Context, shopID uint64, customerPlatformID int64, email string, orderIDs []int64) (CustomerExport, error) {
	var out CustomerExport
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.ExportCustomer(shopID, customerPlatformID, email, orderIDs)
		return err
	})
	return out, err
}

// ExportCustomer assembles everything held for one customer: the customer
// row (by platform id, else by email), and the orders of that customer (by
// customer id, the given order ids, or the same email) with their lines,
// fulfillments and carrier events, refunds and refund lines. Counts holds
// the rows read per table.
func (tx *Tx) ExportCustomer(shopID uint64, customerPlatformID int64, email string, orderIDs []int64) (CustomerExport, error) {
	email = strings.TrimSpace(email)
	out := CustomerExport{ExportedAt: tx.now, Orders: []ExportOrder{}, Counts: map[string]int64{}}
	if customerPlatformID != 0 {
		out.CustomerID = pid(customerPlatformID)
	}
	var shop Shop
	if err := tx.db.Select("id", "domain").Take(&shop, shopID).Error; err != nil {
		return out, fmt.Errorf("load shop %d: %w", shopID, notFound(err))
	}
	out.ShopDomain = shop.Domain

	var custs []Customer
	cq := tx.db.Where("shop_id = ?", shopID)
	switch {
	case customerPlatformID != 0:
		cq = cq.Where("platform_id = ?", customerPlatformID)
	case email != "":
		cq = cq.Where("email <> '' AND lower(email) = lower(?)", email)
	default:
		cq = nil
	}
	if cq != nil {
		if err := cq.Order("id").Limit(1).Find(&custs).Error; err != nil {
			return out, fmt.Errorf("load customer: %w", err)
		}
	}
	custIDs := []int64{}
	if customerPlatformID != 0 {
		custIDs = append(custIDs, customerPlatformID)
	}
	if len(custs) > 0 {
		c := custs[0]
		if customerPlatformID == 0 {
			custIDs = append(custIDs, c.PlatformID)
			out.CustomerID = pid(c.PlatformID)
		}
		out.Customer = &ExportCustomer{ID: pid(c.PlatformID), Email: c.Email, Phone: c.Phone, FirstName: c.FirstName,
			LastName: c.LastName, Locale: c.Locale, State: c.State, CreatedAt: c.PlatformCreatedAt,
			UpdatedAt: c.PlatformUpdatedAt, RedactedAt: c.RedactedAt}
		out.Counts["customers"] = 1
	}

	conds, args := []string{}, []any{}
	if len(custIDs) > 0 {
		conds = append(conds, "customer_platform_id IN ?")
		args = append(args, custIDs)
	}
	if len(orderIDs) > 0 {
		conds = append(conds, "platform_id IN ?")
		args = append(args, orderIDs)
	}
	if email != "" {
		conds = append(conds, "(email <> '' AND lower(email) = lower(?))")
		args = append(args, email)
	}
	if len(conds) == 0 {
		return out, nil
	}
	var orders []Order
	if err := tx.db.Where("shop_id = ?", shopID).Where("("+strings.Join(conds, " OR ")+")", args...).
		Order("platform_created_at, id").Find(&orders).Error; err != nil {
		return out, fmt.Errorf("load orders: %w", err)
	}
	if len(orders) == 0 {
		return out, nil
	}
	ids := make([]uint64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	var lines []LineItem
	if err := tx.db.Where("shop_id = ? AND order_id IN ?", shopID, ids).Order("id").Find(&lines).Error; err != nil {
		return out, fmt.Errorf("load line items: %w", err)
	}
	var fuls []Fulfillment
	if err := tx.db.Where("shop_id = ? AND order_id IN ?", shopID, ids).Order("platform_created_at, id").Find(&fuls).Error; err != nil {
		return out, fmt.Errorf("load fulfillments: %w", err)
	}
	var events []FulfillmentEvent
	if len(fuls) > 0 {
		fids := make([]uint64, len(fuls))
		for i, f := range fuls {
			fids[i] = f.ID
		}
		if err := tx.db.Where("shop_id = ? AND fulfillment_id IN ?", shopID, fids).Order("happened_at, id").Find(&events).Error; err != nil {
			return out, fmt.Errorf("load fulfillment events: %w", err)
		}
	}
	var refunds []Refund
	if err := tx.db.Where("shop_id = ? AND order_id IN ?", shopID, ids).Order("platform_created_at, id").Find(&refunds).Error; err != nil {
		return out, fmt.Errorf("load refunds: %w", err)
	}
	var rlines []RefundLine
	if len(refunds) > 0 {
		rids := make([]uint64, len(refunds))
		for i, r := range refunds {
			rids[i] = r.ID
		}
		if err := tx.db.Where("shop_id = ? AND refund_id IN ?", shopID, rids).Order("id").Find(&rlines).Error; err != nil {
			return out, fmt.Errorf("load refund lines: %w", err)
		}
	}
	out.Counts["orders"] = int64(len(orders))
	out.Counts["line_items"] = int64(len(lines))
	out.Counts["fulfillments"] = int64(len(fuls))
	out.Counts["fulfillment_events"] = int64(len(events))
	out.Counts["refunds"] = int64(len(refunds))
	out.Counts["refund_lines"] = int64(len(rlines))

	evByF := map[uint64][]ExportEvent{}
	for _, e := range events {
		evByF[e.FulfillmentID] = append(evByF[e.FulfillmentID], ExportEvent{Status: e.Status, Message: e.Message,
			City: e.City, Province: e.Province, Country: e.Country, HappenedAt: e.HappenedAt})
	}
	rlByR := map[uint64][]ExportRefundLine{}
	for _, l := range rlines {
		rlByR[l.RefundID] = append(rlByR[l.RefundID], ExportRefundLine{LineItemID: pid(l.LineItemPlatformID),
			Quantity: l.Quantity, Subtotal: l.Subtotal.String(), TotalTax: l.TotalTax.String()})
	}
	linesByO := map[uint64][]ExportLineItem{}
	for _, l := range lines {
		linesByO[l.OrderID] = append(linesByO[l.OrderID], ExportLineItem{ID: pid(l.PlatformID), SKU: l.SKU, Title: l.Title,
			VariantTitle: l.VariantTitle, Quantity: l.Quantity, Price: l.Price.String()})
	}
	fulByO := map[uint64][]ExportFulfillment{}
	for _, f := range fuls {
		ev := evByF[f.ID]
		if ev == nil {
			ev = []ExportEvent{}
		}
		fulByO[f.OrderID] = append(fulByO[f.OrderID], ExportFulfillment{ID: pid(f.PlatformID), Status: f.Status,
			ShipmentStatus: f.ShipmentStatus, TrackingCompany: f.TrackingCompany, TrackingNumber: f.TrackingNumber,
			TrackingURL: f.TrackingURL, DeliveredAt: f.DeliveredAt, CreatedAt: f.PlatformCreatedAt, Events: ev})
	}
	refByO := map[uint64][]ExportRefund{}
	for _, r := range refunds {
		rl := rlByR[r.ID]
		if rl == nil {
			rl = []ExportRefundLine{}
		}
		refByO[r.OrderID] = append(refByO[r.OrderID], ExportRefund{ID: pid(r.PlatformID), Amount: r.Amount.String(),
			Currency: r.Currency, Note: r.Note, ProcessedAt: r.ProcessedAt, CreatedAt: r.PlatformCreatedAt, Lines: rl})
	}
	for _, o := range orders {
		a := o.ShippingAddress
		eo := ExportOrder{ID: pid(o.PlatformID), Name: o.Name, Email: o.Email, Phone: o.Phone, Locale: o.Locale,
			Currency: o.Currency, Subtotal: o.Subtotal.String(), TotalDiscounts: o.TotalDiscounts.String(),
			TotalShipping: o.TotalShipping.String(), TotalTax: o.TotalTax.String(), Total: o.Total.String(),
			FinancialStatus: o.FinancialStatus, FulfillmentStatus: o.FulfillmentStatus, CancelledAt: o.CancelledAt,
			CancelReason: o.CancelReason, ProcessedAt: o.ProcessedAt, CreatedAt: o.PlatformCreatedAt,
			UpdatedAt: o.PlatformUpdatedAt, StatusPageURL: o.StatusPageURL, RedactedAt: o.RedactedAt,
			ShippingAddress: ExportAddress{Name: a.Name, Company: a.Company, Address1: a.Address1, Address2: a.Address2,
				City: a.City, Province: a.Province, Zip: a.Zip, CountryCode: a.CountryCode, Phone: a.Phone},
			LineItems: orEmpty(linesByO[o.ID]), Fulfillments: orEmpty(fulByO[o.ID]), Refunds: orEmpty(refByO[o.ID])}
		out.Orders = append(out.Orders, eo)
	}
	return out, tx.exportMessages(shopID, email, orders, &out)
}

// exportMessages adds the messages to the customer's address or about
// their orders, and their feedback.
func (tx *Tx) exportMessages(shopID uint64, email string, orders []Order, out *CustomerExport) error {
	out.Messages, out.Feedback = []ExportMessage{}, []ExportFeedback{}
	ids := make([]int64, 0, len(orders))
	for _, o := range orders {
		ids = append(ids, o.PlatformID)
	}
	q := tx.db.Where("shop_id = ? AND to_merchant = ?", shopID, false)
	switch {
	case len(ids) > 0 && email != "":
		q = q.Where("(order_platform_id IN ? OR lower(recipient) = lower(?))", ids, email)
	case len(ids) > 0:
		q = q.Where("order_platform_id IN ?", ids)
	case email != "":
		q = q.Where("lower(recipient) = lower(?)", email)
	default:
		return nil
	}
	var ms []Message
	if err := q.Order("id").Find(&ms).Error; err != nil {
		return fmt.Errorf("export messages: %w", err)
	}
	for _, m := range ms {
		out.Messages = append(out.Messages, ExportMessage{OrderID: pid(m.OrderPlatformID), Flow: m.Flow, Step: m.Step,
			Channel: m.Channel, Recipient: m.Recipient, Status: m.Status, Reason: m.Reason, SentAt: m.SentAt})
	}
	out.Counts["messages"] = int64(len(ms))
	if len(ids) == 0 {
		return nil
	}
	var fb []Feedback
	if err := tx.db.Where("shop_id = ? AND order_platform_id IN ?", shopID, ids).Order("id").Find(&fb).Error; err != nil {
		return fmt.Errorf("export feedback: %w", err)
	}
	for _, f := range fb {
		e := ExportFeedback{OrderID: pid(f.OrderPlatformID), Kind: f.Kind, Rating: f.Rating, Comment: f.Comment, CreatedAt: f.CreatedAt}
		if f.ProductID != 0 {
			e.ProductID = pid(f.ProductID)
		}
		out.Feedback = append(out.Feedback, e)
	}
	out.Counts["feedback"] = int64(len(fb))
	return nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// SaveDataExport stores an export as ready, replacing the one with the same
// (shop, request key); see Tx.SaveDataExport.
func (s *Store) SaveDataExport(ctx context.Context, shopID uint64, requestKey string, customerPlatformID int64, export []byte) (DataExport, error) {
	var out DataExport
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.SaveDataExport(shopID, requestKey, customerPlatformID, export)
		return err
	})
	return out, err
}

// SaveDataExport upserts the export for (shop, request key) with status
// ready and returns the stored row.
func (tx *Tx) SaveDataExport(shopID uint64, requestKey string, customerPlatformID int64, export []byte) (DataExport, error) {
	now := tx.now
	row := DataExport{ShopID: shopID, RequestKey: requestKey, CustomerPlatformID: customerPlatformID,
		Status: ExportReady, Export: export, CreatedAt: now, CompletedAt: &now}
	err := tx.db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "request_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"customer_platform_id", "status", "export", "completed_at"}),
	}).Create(&row).Error
	if err != nil {
		return DataExport{}, fmt.Errorf("save data export %s: %w", requestKey, err)
	}
	var out DataExport
	if err := tx.db.Where("shop_id = ? AND request_key = ?", shopID, requestKey).Take(&out).Error; err != nil {
		return DataExport{}, fmt.Errorf("reload data export %s: %w", requestKey, err)
	}
	return out, nil
}

// DataExport returns one export of the shop, or ErrNotFound (also when it
// belongs to another shop).
func (s *Store) DataExport(ctx context.Context, shopID, id uint64) (DataExport, error) {
	var d DataExport
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&d).Error; err != nil {
		return DataExport{}, fmt.Errorf("data export %d: %w", id, notFound(err))
	}
	return d, nil
}

// ListDataExports lists the shop's exports newest first, without their
// content: at most limit rows with id < after (after 0: from the newest).
func (s *Store) ListDataExports(ctx context.Context, shopID, after uint64, limit int) ([]DataExport, error) {
	var out []DataExport
	q := s.db.WithContext(ctx).Omit("export").Where("shop_id = ?", shopID)
	if after > 0 {
		q = q.Where("id < ?", after)
	}
	if err := q.Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list data exports: %w", err)
	}
	return out, nil
}

// ---- shop deletion and uninstall ----

// shopTables are the tables holding a shop's rows by shop_id, children
// first. Deliveries are handled apart (they are also matched by domain);
// audit_logs are kept (no personal data). A table added later that holds
// shop data must be listed here.
var shopTables = []string{"fulfillment_events", "fulfillments", "refund_lines", "refunds", "line_items", "orders",
	"customers", "triggers", "data_exports", "sync_states", "message_events", "messages", "outbox_messages", "feedback",
	"order_holds", "alerts", "review_asks", "suppressions", "message_templates", "shop_settings",
	"loyalty_entries", "loyalty_accounts", "loyalty_redemptions", "referrals", "referral_clicks", "loyalty_programs",
	"survey_answers", "stat_days", "stat_states", "ticket_requests", "tickets", "helpdesk_connections", "shop_channels"}

// lockUninstalledShop locks the shop row for work that only applies to an
// uninstalled shop; ErrShopInstalled when it is installed again,
// ErrNotFound when there is no such shop.
func (tx *Tx) lockUninstalledShop(shopID uint64, what string) (Shop, error) {
	var shop Shop
	if err := forUpdate(tx.db, tx.pg).Take(&shop, shopID).Error; err != nil {
		return Shop{}, fmt.Errorf("lock shop %d: %w", shopID, notFound(err))
	}
	if shop.Installed() {
		return Shop{}, fmt.Errorf("%s %d: %w", what, shopID, ErrShopInstalled)
	}
	return shop, nil
}

// DeleteShopData deletes every row of the shop; see Tx.DeleteShopData.
func (s *Store) DeleteShopData(ctx context.Context, shopID uint64) (map[string]int64, error) {
	var out map[string]int64
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.DeleteShopData(shopID)
		return err
	})
	return out, err
}

// DeleteShopData deletes every row the shop has in every table — orders
// and everything under them, customers, deliveries (by shop id or domain),
// triggers, data exports — and the shop row itself. Audit rows stay: they
// hold ids and counts only. Returns ErrShopInstalled (nothing deleted) when
// the shop has the app installed again, ErrNotFound when there is no such
// shop.
func (tx *Tx) DeleteShopData(shopID uint64) (map[string]int64, error) {
	shop, err := tx.lockUninstalledShop(shopID, "delete data of")
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, table := range shopTables {
		res := tx.db.Exec("DELETE FROM "+table+" WHERE shop_id = ?", shopID)
		if res.Error != nil {
			return nil, fmt.Errorf("delete %s of shop %d: %w", table, shopID, res.Error)
		}
		counts[table] = res.RowsAffected
	}
	res := tx.db.Exec("DELETE FROM deliveries WHERE shop_id = ? OR (platform = ? AND shop_domain = ?)", shopID, shop.Platform, shop.Domain)
	if res.Error != nil {
		return nil, fmt.Errorf("delete deliveries of shop %d: %w", shopID, res.Error)
	}
	counts["deliveries"] = res.RowsAffected
	res = tx.db.Exec("DELETE FROM shops WHERE id = ?", shopID)
	if res.Error != nil {
		return nil, fmt.Errorf("delete shop %d: %w", shopID, res.Error)
	}
	counts["shops"] = res.RowsAffected
	return counts, nil
}

// CancelShopTriggers stops the shop's scheduled work; see
// Tx.CancelShopTriggers.
func (s *Store) CancelShopTriggers(ctx context.Context, shopID uint64) (map[string]int64, error) {
	var out map[string]int64
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		out, err = tx.CancelShopTriggers(shopID)
		return err
	})
	return out, err
}

// CancelShopTriggers marks the shop's pending and dispatched triggers
// cancelled, so the dispatcher never hands them to a flow again. The
// compliance kinds (customer redact and data request, shop redact) and
// uninstall triggers are kept: those obligations outlive the install.
// Returns ErrShopInstalled (nothing cancelled) when the shop is installed
// again, ErrNotFound when there is no such shop.
func (tx *Tx) CancelShopTriggers(shopID uint64) (map[string]int64, error) {
	if _, err := tx.lockUninstalledShop(shopID, "cancel triggers of"); err != nil {
		return nil, err
	}
	res := tx.db.Model(&Trigger{}).
		Where("shop_id = ? AND status IN ? AND kind NOT IN ?", shopID, []string{TriggerPending, TriggerDispatched}, keepOnUninstall).
		Update("status", TriggerCancelled)
	if res.Error != nil {
		return nil, fmt.Errorf("cancel triggers of shop %d: %w", shopID, res.Error)
	}
	return map[string]int64{"triggers": res.RowsAffected}, nil
}

// LockTrigger re-reads a trigger locked for the rest of the transaction, so
// two runs of the same trigger take turns. Returns ErrNotFound when it is
// gone (a shop redact deletes its own trigger).
func (tx *Tx) LockTrigger(id uint64) (Trigger, error) {
	var t Trigger
	if err := forUpdate(tx.db, tx.pg).Take(&t, id).Error; err != nil {
		return Trigger{}, fmt.Errorf("lock trigger %d: %w", id, notFound(err))
	}
	return t, nil
}

// ---- retention ----

// DropOldBodies drops the raw body of every delivery received before
// `before` (metadata stays), batch rows per transaction, and records one
// audit row per shop per run (Action AuditRetention). Concurrent runs skip
// each other's rows. Returns how many bodies it dropped.
func (s *Store) DropOldBodies(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	before = before.UTC()
	subject := "deliveries received before " + before.Format(time.RFC3339)
	var total int64
	var lastID uint64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int
		err := s.InTx(ctx, func(tx *Tx) error {
			type row struct {
				ID     uint64
				ShopID uint64
			}
			var rows []row
			q := tx.db.Model(&Delivery{}).Select("id", "shop_id").
				Where("id > ? AND received_at < ? AND body IS NOT NULL", lastID, before).Order("id").Limit(batch)
			if tx.pg {
				q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
			}
			if err := q.Find(&rows).Error; err != nil {
				return fmt.Errorf("find old bodies: %w", err)
			}
			n = len(rows)
			if n == 0 {
				return nil
			}
			lastID = rows[n-1].ID
			ids := make([]uint64, n)
			perShop := map[uint64]int64{}
			for i, r := range rows {
				ids[i] = r.ID
				perShop[r.ShopID]++
			}
			if err := tx.db.Model(&Delivery{}).Where("id IN ?", ids).
				Updates(map[string]any{"body": nil, "updated_at": tx.now}).Error; err != nil {
				return fmt.Errorf("drop old bodies: %w", err)
			}
			for shopID, c := range perShop {
				if err := tx.addRetentionAudit(shopID, subject, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += int64(n)
		if n < batch {
			return total, nil
		}
	}
}

// addRetentionAudit adds n to the shop's audit row for this run.
func (tx *Tx) addRetentionAudit(shopID uint64, subject string, n int64) error {
	var a AuditLog
	err := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND action = ? AND subject = ?", shopID, AuditRetention, subject).Take(&a).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return tx.WriteAudit(AuditLog{ShopID: shopID, Action: AuditRetention, Subject: subject, Rows: n,
			Detail: fmt.Sprintf(`{"deliveries":%d}`, n)})
	case err != nil:
		return fmt.Errorf("load retention audit: %w", err)
	}
	rows := a.Rows + n
	if err := tx.db.Model(&AuditLog{}).Where("id = ?", a.ID).Updates(map[string]any{
		"rows": rows, "detail": fmt.Sprintf(`{"deliveries":%d}`, rows),
	}).Error; err != nil {
		return fmt.Errorf("update retention audit: %w", err)
	}
	return nil
}

// ---- audit log ----

// WriteAudit records one audit row. It must hold no personal data: ids,
// actions and counts only.
func (s *Store) WriteAudit(ctx context.Context, a AuditLog) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.WriteAudit(a) })
}

// WriteAudit records one audit row inside the transaction.
func (tx *Tx) WriteAudit(a AuditLog) error {
	a.ID = 0
	if a.CreatedAt.IsZero() {
		a.CreatedAt = tx.now
	}
	if err := tx.db.Create(&a).Error; err != nil {
		return fmt.Errorf("write audit %s %s: %w", a.Action, a.Subject, err)
	}
	return nil
}

// AuditExists reports whether the shop has an audit row for (action,
// subject): how a flow knows it already did its work.
func (tx *Tx) AuditExists(shopID uint64, action, subject string) (bool, error) {
	var n int64
	if err := tx.db.Model(&AuditLog{}).Where("shop_id = ? AND action = ? AND subject = ?", shopID, action, subject).
		Count(&n).Error; err != nil {
		return false, fmt.Errorf("find audit %s %s: %w", action, subject, err)
	}
	return n > 0, nil
}

// ListAudit lists the shop's audit rows newest first: at most limit rows
// with id < after (after 0: from the newest).
func (s *Store) ListAudit(ctx context.Context, shopID, after uint64, limit int) ([]AuditLog, error) {
	var out []AuditLog
	q := s.db.WithContext(ctx).Where("shop_id = ?", shopID)
	if after > 0 {
		q = q.Where("id < ?", after)
	}
	if err := q.Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
