package app

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/models"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// landedOrder is what a merchant would see of an order: no internal ids or
// our own timestamps, so the golden file only changes when behaviour does.
type landedOrder struct {
	PlatformID        int64
	Name              string
	Email             string
	Currency          string
	Subtotal, Total   string
	TotalTax          string
	FinancialStatus   string
	FulfillmentStatus string
	Cancelled         bool
	CancelReason      string
	ShipTo            models.Address
	Lines             []string
	Fulfillments      []string
	Refunds           []string
	CustomerEmail     string
}

func land(o models.Order) landedOrder {
	l := landedOrder{PlatformID: o.PlatformID, Name: o.Name, Email: o.Email, Currency: o.Currency,
		Subtotal: o.Subtotal.StringFixed(2), Total: o.Total.StringFixed(2), TotalTax: o.TotalTax.StringFixed(2),
		FinancialStatus: o.FinancialStatus, FulfillmentStatus: o.FulfillmentStatus, Cancelled: o.Cancelled(),
		CancelReason: o.CancelReason, ShipTo: o.ShippingAddress}
	for _, li := range o.LineItems {
		l.Lines = append(l.Lines, li.Title+" x"+decimal.NewFromInt(int64(li.Quantity)).String()+" @ "+li.Price.StringFixed(2))
	}
	for _, f := range o.Fulfillments {
		l.Fulfillments = append(l.Fulfillments, f.TrackingCompany+" "+f.TrackingNumber+" "+f.ShipmentStatus)
	}
	for _, r := range o.Refunds {
		l.Refunds = append(l.Refunds, r.Amount.StringFixed(2)+" "+r.Currency)
	}
	if o.Customer != nil {
		l.CustomerEmail = o.Customer.Email
	}
	return l
}

// Every real Shopify sample payload goes through the HTTP intake and the
// processor, and lands with the right values.
func TestIntake_ShopifyFixtures_LandWithRightValues(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(shopifytest.SharedDir(t), "fixtures", "shopify")
	e := newEnv(t)
	const domain = "fixture-shop.myshopify.com"
	shop := e.installShop(domain)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		topic := strings.Replace(base, "_", "/", 1) // orders_create → orders/create, fulfillments_update → …
		if got := e.post(webhook{shop: domain, topic: topic, body: body}); got != http.StatusOK {
			t.Fatalf("%s: status %d", base, got)
		}
	}
	e.processAll()
	var failed []models.Delivery
	e.app.db.Where("status <> ?", models.DeliveryProcessed).Find(&failed)
	for _, d := range failed {
		t.Errorf("delivery %s: %s %s", d.Topic, d.Status, d.Error)
	}

	// The five orders/* samples are the same order; fulfillments and refunds attach to it.
	o, err := e.app.store.Order(context.Background(), shop.ID, 820982911946154500)
	if err != nil {
		t.Fatal(err)
	}
	got := land(o)
	if got.Total != "414.95" || got.Currency != "USD" || !got.Cancelled || got.Email != "jon@example.com" || len(got.Lines) == 0 {
		t.Fatalf("landed order = %+v", got)
	}
	if len(got.Refunds) != 1 || len(got.Fulfillments) != 1 {
		t.Fatalf("refunds %v fulfillments %v, want one each", got.Refunds, got.Fulfillments)
	}
	b, _ := json.MarshalIndent(got, "", "  ")
	golden := filepath.Join("testdata", "landed_order.golden")
	if *update {
		_ = os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(b)) {
		t.Fatalf("landed order differs from %s:\n got: %s\nwant: %s", golden, b, want)
	}
	// A 2021 order is history for a shop installed today: it triggers nothing
	// a customer would see.
	if n := e.count("triggers", "kind IN ?", []string{models.TriggerOrderPaid, models.TriggerOrderCreated, models.TriggerFulfillmentStatus}); n != 0 {
		t.Fatalf("history wrote %d customer-facing triggers, want 0", n)
	}
	// The compliance topics did write their triggers for the later issue's handlers.
	for _, kind := range []string{models.TriggerCustomerRedact, models.TriggerCustomerDataReq, models.TriggerShopRedact, models.TriggerUninstalled} {
		if n := e.count("triggers", "kind = ?", kind); n != 1 {
			t.Errorf("%s triggers = %d, want 1", kind, n)
		}
	}
}
