package shopify

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/models"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// parsedTopics are every topic ParseWebhook handles.
var parsedTopics = append(append([]string{}, Topics...), "customers/redact", "customers/data_request", "shop/redact")

// topicOf maps a fixture file name ("orders_create.json") to its topic.
func topicOf(t testing.TB, file string) string {
	name := strings.TrimSuffix(filepath.Base(file), ".json")
	for _, tp := range parsedTopics {
		if strings.ReplaceAll(tp, "/", "_") == name {
			return tp
		}
	}
	t.Fatalf("no topic for fixture %s", file)
	return ""
}

type fixture struct {
	name, topic string
	body        []byte
}

// fixtures returns Shopify's example payloads from ../shared plus our own
// fulfillment event (no shared one exists).
func fixtures(t testing.TB) []fixture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(shopifytest.SharedDir(t), "fixtures", "shopify", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no shopify fixtures: %v", err)
	}
	files = append(files, filepath.Join("testdata", "fulfillment_events_create.json"))
	var out []fixture
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		out = append(out, fixture{name: name, topic: topicOf(t, f), body: b})
	}
	return out
}

func fixtureBody(t testing.TB, name string) []byte {
	t.Helper()
	for _, f := range fixtures(t) {
		if f.name == name {
			return f.body
		}
	}
	t.Fatalf("fixture %s not found", name)
	return nil
}

func testClient() *Client {
	return New(Config{APIKey: "key", APISecret: "secret", APISecretPrevious: "old-secret", Scopes: []string{"read_orders"}})
}

func TestParseWebhook_Fixtures_MatchGolden(t *testing.T) {
	t.Parallel()
	c := testClient()
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			evs, err := c.ParseWebhook(f.topic, f.body)
			if err != nil {
				t.Fatalf("ParseWebhook(%s): %v", f.topic, err)
			}
			got, err := json.MarshalIndent(evs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", f.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("events differ from %s (run with -update and review the diff):\n%s", golden, got)
			}
		})
	}
}

func one(t *testing.T, topic string, body []byte) commerce.Event {
	t.Helper()
	evs, err := testClient().ParseWebhook(topic, body)
	if err != nil {
		t.Fatalf("ParseWebhook(%s): %v", topic, err)
	}
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	return evs[0]
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestParseWebhook_OrderFixture_KeyValues(t *testing.T) {
	t.Parallel()
	for _, topic := range []string{"orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled", "orders/partially_fulfilled"} {
		ev := one(t, topic, fixtureBody(t, "orders_create"))
		if ev.Kind != commerce.EventOrder || ev.Order == nil {
			t.Fatalf("%s: kind %s", topic, ev.Kind)
		}
	}
	o := one(t, "orders/create", fixtureBody(t, "orders_create")).Order

	if o.PlatformID != int64(820982911946154500) {
		t.Errorf("PlatformID = %d, want 820982911946154500 exactly (int64, not float64)", o.PlatformID)
	}
	if o.Name != "#9999" || o.Number != 1234 {
		t.Errorf("Name, Number = %q, %d", o.Name, o.Number)
	}
	if o.Email != "jon@example.com" || o.Locale != "en" || o.Currency != "USD" {
		t.Errorf("Email, Locale, Currency = %q, %q, %q", o.Email, o.Locale, o.Currency)
	}
	// The fixture carries current_* amounts (414.95) beside the original
	// ones (subtotal_price and total_price 404.95); current wins.
	for name, c := range map[string]struct{ got, want decimal.Decimal }{
		"Subtotal":       {o.Subtotal, dec("414.95")},
		"Total":          {o.Total, dec("414.95")},
		"TotalDiscounts": {o.TotalDiscounts, dec("0.00")},
		"TotalShipping":  {o.TotalShipping, dec("10.00")},
		"TotalTax":       {o.TotalTax, dec("0")},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %s, want %s", name, c.got, c.want)
		}
	}
	if o.FinancialStatus != "voided" || o.FulfillmentStatus != "" {
		t.Errorf("FinancialStatus, FulfillmentStatus = %q, %q", o.FinancialStatus, o.FulfillmentStatus)
	}
	wantCancelled := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	if o.CancelledAt == nil || !o.CancelledAt.Equal(wantCancelled) || o.CancelReason != "customer" {
		t.Errorf("CancelledAt, CancelReason = %v, %q", o.CancelledAt, o.CancelReason)
	}
	if o.ClosedAt != nil {
		t.Errorf("ClosedAt = %v, want nil", o.ClosedAt)
	}
	if !o.PlatformUpdatedAt.Equal(wantCancelled) || o.PlatformUpdatedAt.Location() != time.UTC {
		t.Errorf("PlatformUpdatedAt = %v, want %v in UTC", o.PlatformUpdatedAt, wantCancelled)
	}
	if o.Tags != "tag1, tag2" || !o.Test || !strings.HasPrefix(o.StatusPageURL, "https://jsmith.myshopify.com/") {
		t.Errorf("Tags, Test, StatusPageURL = %q, %v, %q", o.Tags, o.Test, o.StatusPageURL)
	}
	wantAddr := models.Address{Name: "Steve Shipper", Company: "Shipping Company", Address1: "123 Shipping Street",
		City: "Shippington", Province: "Kentucky", ProvinceCode: "KY", Zip: "40003", CountryCode: "US", Phone: "555-555-SHIP"}
	if o.ShippingAddress != wantAddr {
		t.Errorf("ShippingAddress = %+v", o.ShippingAddress)
	}
	if o.Customer == nil || o.Customer.PlatformID != 115310627314723950 || o.CustomerPlatformID != o.Customer.PlatformID || o.Customer.Email != "john@example.com" {
		t.Errorf("Customer = %+v, CustomerPlatformID = %d", o.Customer, o.CustomerPlatformID)
	}
	if len(o.LineItems) != 5 {
		t.Fatalf("%d line items, want 5", len(o.LineItems))
	}
	li := o.LineItems[0]
	if li.PlatformID != 487817672276298560 || li.ProductID != 788032119674292900 || li.VariantID != 0 ||
		li.SKU != "SKU2006-001" || li.Quantity != 1 || !li.Price.Equal(dec("89.99")) || !li.RequiresShipping || li.FulfillableQuantity != 1 {
		t.Errorf("LineItems[0] = %+v", li)
	}
	if l := o.LineItems[3]; l.SKU != "SKU2006-020" || !l.TotalDiscount.IsZero() || !l.Price.Equal(dec("159.99")) {
		t.Errorf("LineItems[3] = %+v, want the 159.99 lounger", l)
	}
	if o.ShopID != 0 || o.ID != 0 {
		t.Error("ShopID/ID set by the parser; the store owns them")
	}
}

func TestParseWebhook_OrderWithoutCurrentAmounts_FallsBackToOriginal(t *testing.T) {
	t.Parallel()
	var m map[string]any
	if err := json.Unmarshal(fixtureBody(t, "orders_create"), &m); err != nil {
		t.Fatal(err)
	}
	for k := range m {
		if strings.HasPrefix(k, "current_") {
			delete(m, k)
		}
	}
	m["email"] = nil
	delete(m, "updated_at")
	body, _ := json.Marshal(m)
	o := one(t, "orders/updated", body).Order
	if !o.Total.Equal(dec("404.95")) || !o.Subtotal.Equal(dec("404.95")) || !o.TotalDiscounts.Equal(dec("20.00")) {
		t.Errorf("Total, Subtotal, TotalDiscounts = %s, %s, %s; want total_price 404.95, subtotal_price 404.95, total_discounts 20.00",
			o.Total, o.Subtotal, o.TotalDiscounts)
	}
	if o.Email != "jon@example.com" {
		t.Errorf("Email = %q, want contact_email", o.Email)
	}
	if !o.PlatformUpdatedAt.Equal(o.PlatformCreatedAt) || o.PlatformUpdatedAt.IsZero() {
		t.Errorf("PlatformUpdatedAt = %v, want created_at", o.PlatformUpdatedAt)
	}
}

func TestParseWebhook_NumericMoneyAndExactIDs(t *testing.T) {
	t.Parallel()
	// IDs at the top of int64 must survive; amounts may be numbers or strings.
	body := []byte(`{"id": 9223372036854775807, "updated_at": "2026-01-02T03:04:05Z", "currency": "EUR",
		"total_price": 12.3, "subtotal_price": "10.30", "line_items": [{"id": 9007199254740993, "price": 0.1, "quantity": 3}]}`)
	o := one(t, "orders/create", body).Order
	if o.PlatformID != 9223372036854775807 || o.LineItems[0].PlatformID != 9007199254740993 {
		t.Errorf("IDs = %d, %d", o.PlatformID, o.LineItems[0].PlatformID)
	}
	if !o.Total.Equal(dec("12.3")) || !o.LineItems[0].Price.Equal(dec("0.1")) || !o.Subtotal.Equal(dec("10.30")) {
		t.Errorf("Total, Price, Subtotal = %s, %s, %s", o.Total, o.LineItems[0].Price, o.Subtotal)
	}
}

func TestParseWebhook_RefundFixture_KeyValues(t *testing.T) {
	t.Parallel()
	ev := one(t, "refunds/create", fixtureBody(t, "refunds_create"))
	r := ev.Refund
	if ev.Kind != commerce.EventRefund || r == nil {
		t.Fatalf("event = %+v", ev)
	}
	if r.PlatformID != 890088186047892400 || r.OrderPlatformID != 820982911946154500 || r.Note != "Things were damaged" || r.Restock {
		t.Errorf("refund = %+v", r)
	}
	// Two successful refund transactions: 75.00 + 10.00.
	if !r.Amount.Equal(dec("85.00")) || r.Currency != "USD" {
		t.Errorf("Amount, Currency = %s, %q; want 85.00 USD", r.Amount, r.Currency)
	}
	if r.ProcessedAt == nil || r.PlatformCreatedAt.IsZero() {
		t.Errorf("ProcessedAt, PlatformCreatedAt = %v, %v", r.ProcessedAt, r.PlatformCreatedAt)
	}
	if len(r.Lines) != 5 {
		t.Fatalf("%d lines, want 5", len(r.Lines))
	}
	l := r.Lines[0]
	if !l.Subtotal.Equal(dec("89.99")) || l.LineItemPlatformID != 487817672276298560 || l.PlatformID != 487817672276298600 ||
		l.Quantity != 1 || l.RestockType != "no_restock" || !l.TotalTax.IsZero() {
		t.Errorf("Lines[0] = %+v (subtotal is a JSON number in this fixture)", l)
	}
}

func TestParseWebhook_RefundWithoutTransactions_SumsLines(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id": 5, "order_id": 6, "created_at": "2026-01-02T03:04:05Z", "transactions": [
		{"kind": "refund", "status": "failure", "amount": "100.00"}],
		"refund_line_items": [{"id": 7, "line_item_id": 8, "quantity": 2, "subtotal": "20.00", "total_tax": 1.5,
		"subtotal_set": {"shop_money": {"amount": "20.00", "currency_code": "CAD"}}}]}`)
	r := one(t, "refunds/create", body).Refund
	if !r.Amount.Equal(dec("21.50")) || r.Currency != "CAD" {
		t.Errorf("Amount, Currency = %s, %q; want 21.50 CAD", r.Amount, r.Currency)
	}
}

func TestParseWebhook_FulfillmentFixture_KeyValues(t *testing.T) {
	t.Parallel()
	ev := one(t, "fulfillments/create", fixtureBody(t, "fulfillments_create"))
	f := ev.Fulfillment
	if ev.Kind != commerce.EventFulfillment || f == nil {
		t.Fatalf("event = %+v", ev)
	}
	if f.PlatformID != 123456 || f.OrderPlatformID != 820982911946154500 || f.Name != "#9999.1" || f.Status != "pending" {
		t.Errorf("fulfillment = %+v", f)
	}
	if f.ShipmentStatus != models.ShipmentConfirmed {
		t.Errorf("ShipmentStatus = %q, want confirmed (null on a pending fulfillment)", f.ShipmentStatus)
	}
	if f.TrackingCompany != "UPS" || f.TrackingNumber != "1z827wk74630" || !strings.Contains(f.TrackingURL, "ups.com") {
		t.Errorf("tracking = %q %q %q", f.TrackingCompany, f.TrackingNumber, f.TrackingURL)
	}
	if len(f.LineItems) != 5 || f.LineItems[0] != (models.FulfillmentLine{LineItemID: 487817672276298560, Quantity: 1}) {
		t.Errorf("LineItems = %+v", f.LineItems)
	}
}

func TestParseWebhook_FulfillmentShipmentStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ status, shipment, want string }{
		{"success", "null", "confirmed"},
		{"open", "null", "confirmed"},
		{"pending", "null", "confirmed"},
		{"cancelled", "null", ""},
		{"failure", "null", ""},
		{"success", `"in_transit"`, "in_transit"},
		{"success", `"out_for_delivery"`, "out_for_delivery"},
		{"success", `"attempted_delivery"`, "attempted_delivery"},
		{"success", `"delivered"`, "delivered"},
		{"success", `"failure"`, "failure"},
		{"success", `"ready_for_pickup"`, "ready_for_pickup"},
		{"success", `"label_printed"`, "label_printed"},
		{"success", `"label_purchased"`, "label_purchased"},
		{"success", `"confirmed"`, "confirmed"},
	} {
		body := []byte(`{"id": 1, "order_id": 2, "status": "` + c.status + `", "shipment_status": ` + c.shipment +
			`, "created_at": "2026-01-02T03:04:05Z", "tracking_number": null, "tracking_numbers": ["T1", "T2"],
			"estimated_delivery_at": "2026-01-05T00:00:00+01:00"}`)
		f := one(t, "fulfillments/update", body).Fulfillment
		if f.ShipmentStatus != c.want {
			t.Errorf("status %s, shipment_status %s: ShipmentStatus = %q, want %q", c.status, c.shipment, f.ShipmentStatus, c.want)
		}
		if f.TrackingNumber != "T1" || !f.PlatformUpdatedAt.Equal(f.PlatformCreatedAt) || f.EstimatedDeliveryAt == nil ||
			!f.EstimatedDeliveryAt.Equal(time.Date(2026, 1, 4, 23, 0, 0, 0, time.UTC)) {
			t.Errorf("TrackingNumber %q, PlatformUpdatedAt %v, EstimatedDeliveryAt %v", f.TrackingNumber, f.PlatformUpdatedAt, f.EstimatedDeliveryAt)
		}
	}
}

func TestParseWebhook_FulfillmentEvent_KeyValues(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "fulfillment_events_create.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev := one(t, "fulfillment_events/create", body)
	fe := ev.FulfillmentEvent
	if ev.Kind != commerce.EventFulfillmentEvent || fe == nil {
		t.Fatalf("event = %+v", ev)
	}
	want := models.FulfillmentEvent{PlatformID: 944956395, FulfillmentPlatformID: 255858046, OrderPlatformID: 450789469,
		Status: "in_transit", Message: "Package arrived at a carrier facility", City: "Memphis", Province: "Tennessee",
		Country: "United States", HappenedAt: time.Date(2026, 11, 20, 19, 5, 0, 0, time.UTC)}
	eta := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)
	want.EstimatedDeliveryAt = &eta
	got := *fe
	if got.EstimatedDeliveryAt == nil || !got.EstimatedDeliveryAt.Equal(eta) {
		t.Errorf("EstimatedDeliveryAt = %v", got.EstimatedDeliveryAt)
	}
	got.EstimatedDeliveryAt = want.EstimatedDeliveryAt
	if got != want {
		t.Errorf("event =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseWebhook_Lifecycle(t *testing.T) {
	t.Parallel()
	ev := one(t, "customers/redact", fixtureBody(t, "customers_redact"))
	if r := ev.CustomerRedact; r == nil || r.CustomerID != 191167 || r.Email != "john@example.com" || len(r.OrdersToRedact) != 3 || r.ShopDomain == "" {
		t.Errorf("customers/redact = %+v", ev.CustomerRedact)
	}
	ev = one(t, "customers/data_request", fixtureBody(t, "customers_data_request"))
	if r := ev.CustomerDataRequest; r == nil || r.DataRequestID != 9999 || r.Phone != "555-625-1199" || len(r.OrdersRequested) != 3 {
		t.Errorf("customers/data_request = %+v", ev.CustomerDataRequest)
	}
	ev = one(t, "shop/redact", fixtureBody(t, "shop_redact"))
	if ev.ShopRedact == nil || ev.ShopRedact.ShopDomain != "{shop}.myshopify.com" {
		t.Errorf("shop/redact = %+v", ev.ShopRedact)
	}
	// The example payload has null domains: the caller knows the shop from
	// the header.
	ev = one(t, "app/uninstalled", fixtureBody(t, "app_uninstalled"))
	if ev.Kind != commerce.EventAppUninstalled || ev.AppUninstalled == nil || ev.AppUninstalled.ShopDomain != "" {
		t.Errorf("app/uninstalled = %+v", ev.AppUninstalled)
	}
	ev = one(t, "app/uninstalled", []byte(`{"id": 1, "domain": "shop.example", "myshopify_domain": "x.myshopify.com"}`))
	if ev.AppUninstalled.ShopDomain != "x.myshopify.com" {
		t.Errorf("app/uninstalled ShopDomain = %q, want myshopify_domain", ev.AppUninstalled.ShopDomain)
	}
	ev = one(t, "customers/update", []byte(`{"id": 77, "email": "a@b.c", "first_name": "A", "state": "enabled", "updated_at": "2026-01-02T03:04:05-01:00"}`))
	if c := ev.Customer; ev.Kind != commerce.EventCustomer || c == nil || c.PlatformID != 77 || c.Email != "a@b.c" ||
		!c.PlatformUpdatedAt.Equal(time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC)) {
		t.Errorf("customer = %+v", ev.Customer)
	}
}

func TestParseWebhook_BadInput_DescriptiveErrors(t *testing.T) {
	t.Parallel()
	c := testClient()
	for _, tc := range []struct {
		name, topic, body, want string
	}{
		{"unknown topic", "products/create", `{"id": 1}`, "unknown webhook topic"},
		{"invalid JSON", "orders/create", `{"id": 1,`, "invalid JSON"},
		{"not an object", "refunds/create", `[1]`, "not a JSON object"},
		{"missing order id", "orders/create", `{"name": "#1", "updated_at": "2026-01-02T03:04:05Z"}`, "no id"},
		{"missing fulfillment id", "fulfillments/create", `{"order_id": 1}`, "no id"},
		{"fulfillment without order", "fulfillments/create", `{"id": 1}`, "order_id"},
		{"missing refund id", "refunds/create", `{"order_id": 1}`, "no id"},
		{"missing customer id", "customers/create", `{"email": "a@b.c"}`, "no id"},
		{"missing event id", "fulfillment_events/create", `{"fulfillment_id": 1}`, "no id"},
		{"float id", "orders/create", `{"id": 1.5}`, "invalid JSON"},
		{"string id", "orders/create", `{"id": "1"}`, "invalid JSON"},
		{"id beyond int64", "orders/create", `{"id": 9223372036854775808}`, "invalid JSON"},
		{"bad time", "orders/create", `{"id": 1, "updated_at": "yesterday"}`, "invalid JSON"},
		{"bad money", "orders/create", `{"id": 1, "total_price": "lots"}`, "invalid JSON"},
	} {
		_, err := c.ParseWebhook(tc.topic, []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
		if tc.name == "unknown topic" && !errors.Is(err, commerce.ErrUnknownTopic) {
			t.Errorf("unknown topic: err = %v, want ErrUnknownTopic", err)
		}
	}
}

func FuzzParseWebhook(f *testing.F) {
	for _, fx := range fixtures(f) {
		f.Add(fx.topic, fx.body)
	}
	f.Add("orders/create", []byte(`{"id":1,"line_items":[{"id":null}],"fulfillments":[{}],"refunds":[{"id":1}]}`))
	c := testClient()
	f.Fuzz(func(t *testing.T, topic string, body []byte) {
		evs, err := c.ParseWebhook(topic, body)
		if err != nil {
			if evs != nil {
				t.Errorf("events %+v returned with error %v", evs, err)
			}
			return
		}
		if len(evs) != 1 {
			t.Fatalf("%d events without error", len(evs))
		}
		switch e := evs[0]; e.Kind {
		case commerce.EventOrder:
			if e.Order == nil || e.Order.PlatformID == 0 || e.Order.PlatformUpdatedAt.IsZero() {
				t.Errorf("order without id or updated time: %+v", e.Order)
			}
		case commerce.EventRefund:
			if e.Refund == nil || e.Refund.PlatformID == 0 {
				t.Errorf("refund without id: %+v", e.Refund)
			}
		}
	})
}

// Shopify's own order fixtures: no codes, attributes, landing site or
// browser IP, and one currency; subtotal_price (404.95) differs from
// current_subtotal_price (414.95), which shows which one OriginalSubtotal
// reads.
func TestParseWebhook_OrderFixtures_LoyaltyFields(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"orders_paid", "orders_create"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := one(t, topicOf(t, name+".json"), fixtureBody(t, name)).Order
			if !o.OriginalSubtotal.Equal(dec("404.95")) || !o.Subtotal.Equal(dec("414.95")) {
				t.Errorf("OriginalSubtotal, Subtotal = %s, %s; want subtotal_price 404.95, current_subtotal_price 414.95", o.OriginalSubtotal, o.Subtotal)
			}
			if o.PresentmentCurrency != "" || o.Currency != "USD" {
				t.Errorf("PresentmentCurrency, Currency = %q, %q; want \"\" (presentment_currency is USD too), USD", o.PresentmentCurrency, o.Currency)
			}
			if o.DiscountCodes != "" || o.LandingSite != "" || o.ReferralCode != "" || o.BrowserIP != "" {
				t.Errorf("DiscountCodes, LandingSite, ReferralCode, BrowserIP = %q, %q, %q, %q; the fixture has none",
					o.DiscountCodes, o.LandingSite, o.ReferralCode, o.BrowserIP)
			}
			for _, li := range o.LineItems {
				if !li.DiscountAllocated.IsZero() {
					t.Errorf("line %d: DiscountAllocated = %s; the fixture's discount_allocations are empty", li.PlatformID, li.DiscountAllocated)
				}
			}
		})
	}
}

func TestParseWebhook_MultiCurrencyReferralOrder(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "order_multicurrency_referral.json"))
	if err != nil {
		t.Fatal(err)
	}
	o := one(t, "orders/create", body).Order
	if o.Currency != "USD" || o.PresentmentCurrency != "EUR" {
		t.Errorf("Currency, PresentmentCurrency = %q, %q; want USD, EUR", o.Currency, o.PresentmentCurrency)
	}
	// Shop money throughout: 112.00 USD, not the 103.04 EUR beside it.
	if !o.OriginalSubtotal.Equal(dec("112.00")) || !o.TotalDiscounts.Equal(dec("18.00")) {
		t.Errorf("OriginalSubtotal, TotalDiscounts = %s, %s; want 112.00, 18.00", o.OriginalSubtotal, o.TotalDiscounts)
	}
	if o.DiscountCodes != "WELCOME10,REF-ALICE" {
		t.Errorf("DiscountCodes = %q", o.DiscountCodes)
	}
	if o.ReferralCode != "REF-ALICE" {
		t.Errorf("ReferralCode = %q, want the trimmed doorstep_ref attribute", o.ReferralCode)
	}
	if o.LandingSite != "/?ref=REF-ALICE&utm_source=doorstep" || o.BrowserIP != "198.51.100.23" {
		t.Errorf("LandingSite, BrowserIP = %q, %q", o.LandingSite, o.BrowserIP)
	}
	if len(o.LineItems) != 2 {
		t.Fatalf("%d lines, want 2", len(o.LineItems))
	}
	// Order-level codes: nothing in total_discount, everything in the
	// allocations (10.00 + 3.85 and 3.00 + 1.15 USD).
	for i, want := range []string{"13.85", "4.15"} {
		li := o.LineItems[i]
		if !li.DiscountAllocated.Equal(dec(want)) || !li.TotalDiscount.IsZero() {
			t.Errorf("line %d: DiscountAllocated, TotalDiscount = %s, %s; want %s, 0", i, li.DiscountAllocated, li.TotalDiscount, want)
		}
	}
	sum := o.LineItems[0].DiscountAllocated.Add(o.LineItems[1].DiscountAllocated)
	if !sum.Equal(o.TotalDiscounts) {
		t.Errorf("allocations add up to %s, total_discounts is %s", sum, o.TotalDiscounts)
	}
}

func TestParseWebhook_LoyaltyFields_Variants(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 70)
	for _, tc := range []struct {
		name  string
		extra string // more top-level fields of the order
		line  string // more fields of its one line
		check func(t *testing.T, o *models.Order)
	}{
		{name: "same presentment currency is empty", extra: `"currency": "EUR", "presentment_currency": "EUR"`,
			check: func(t *testing.T, o *models.Order) {
				if o.PresentmentCurrency != "" {
					t.Errorf("PresentmentCurrency = %q", o.PresentmentCurrency)
				}
			}},
		{name: "subtotal without a set", extra: `"subtotal_price": "7.50", "current_subtotal_price": "5.00"`,
			check: func(t *testing.T, o *models.Order) {
				if !o.OriginalSubtotal.Equal(dec("7.50")) || !o.Subtotal.Equal(dec("5.00")) {
					t.Errorf("OriginalSubtotal, Subtotal = %s, %s", o.OriginalSubtotal, o.Subtotal)
				}
			}},
		{name: "browser ip from client details", extra: `"browser_ip": null, "client_details": {"browser_ip": "2001:db8::1"}`,
			check: func(t *testing.T, o *models.Order) {
				if o.BrowserIP != "2001:db8::1" {
					t.Errorf("BrowserIP = %q", o.BrowserIP)
				}
			}},
		{name: "top-level browser ip wins", extra: `"browser_ip": "192.0.2.1", "client_details": {"browser_ip": "192.0.2.2"}`,
			check: func(t *testing.T, o *models.Order) {
				if o.BrowserIP != "192.0.2.1" {
					t.Errorf("BrowserIP = %q", o.BrowserIP)
				}
			}},
		{name: "allocations without amount_set use amount", line: `"discount_allocations": [{"amount": "1.10"}, {"amount": "2.20", "amount_set": {"shop_money": {"amount": "2.00", "currency_code": "USD"}}}]`,
			check: func(t *testing.T, o *models.Order) {
				if got := o.LineItems[0].DiscountAllocated; !got.Equal(dec("3.10")) {
					t.Errorf("DiscountAllocated = %s, want 1.10 + 2.00", got)
				}
			}},
		{name: "blank codes skipped", extra: `"discount_codes": [{"code": "A"}, {"code": ""}, {"code": "b"}]`,
			check: func(t *testing.T, o *models.Order) {
				if o.DiscountCodes != "A,b" {
					t.Errorf("DiscountCodes = %q", o.DiscountCodes)
				}
			}},
		{name: "first non-blank doorstep_ref", extra: `"note_attributes": [{"name": "doorstep_ref", "value": "  "}, {"name": "Doorstep_ref", "value": "X"}, {"name": "doorstep_ref", "value": "R2"}]`,
			check: func(t *testing.T, o *models.Order) {
				if o.ReferralCode != "R2" {
					t.Errorf("ReferralCode = %q", o.ReferralCode)
				}
			}},
		{name: "long doorstep_ref cut to 64 characters", extra: `"note_attributes": [{"name": "doorstep_ref", "value": "` + long + `"}]`,
			check: func(t *testing.T, o *models.Order) {
				if o.ReferralCode != strings.Repeat("é", 64) {
					t.Errorf("ReferralCode = %q (%d runes)", o.ReferralCode, len([]rune(o.ReferralCode)))
				}
			}},
		{name: "non-string attribute values don't break the order", extra: `"note_attributes": [{"name": "gift", "value": {"x": 1}}, {"name": "doorstep_ref", "value": 12345}]`,
			check: func(t *testing.T, o *models.Order) {
				if o.ReferralCode != "12345" {
					t.Errorf("ReferralCode = %q", o.ReferralCode)
				}
			}},
		{name: "overlong landing site and codes cut to their columns",
			extra: `"landing_site": "/?` + strings.Repeat("u", 3000) + `", "discount_codes": [{"code": "` + strings.Repeat("A", 600) + `"}, {"code": "` + strings.Repeat("B", 420) + `"}, {"code": "` + strings.Repeat("C", 10) + `"}]`,
			check: func(t *testing.T, o *models.Order) {
				if len(o.LandingSite) != 2048 {
					t.Errorf("LandingSite is %d long, want 2048", len(o.LandingSite))
				}
				if want := strings.Repeat("A", 600) + "," + strings.Repeat("B", 420); o.DiscountCodes != want {
					t.Errorf("DiscountCodes is %d long, want the two codes that fit whole (1021)", len(o.DiscountCodes))
				}
			}},
		{name: "null attribute value", extra: `"note_attributes": [{"name": "doorstep_ref", "value": null}]`,
			check: func(t *testing.T, o *models.Order) {
				if o.ReferralCode != "" {
					t.Errorf("ReferralCode = %q", o.ReferralCode)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			extra, line := tc.extra, tc.line
			if extra != "" {
				extra = ", " + extra
			}
			if line != "" {
				line = ", " + line
			}
			body := `{"id": 1, "updated_at": "2026-01-02T03:04:05Z", "currency": "USD"` + extra +
				`, "line_items": [{"id": 2, "price": "5.00", "quantity": 1` + line + `}]}`
			var probe map[string]any
			if err := json.Unmarshal([]byte(body), &probe); err != nil {
				t.Fatalf("test body is not JSON: %v\n%s", err, body)
			}
			tc.check(t, one(t, "orders/updated", []byte(body)).Order)
		})
	}
}
