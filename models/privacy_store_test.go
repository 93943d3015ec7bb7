package models_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// A customer as a shop holds them: a customer row, an order with an
// address, a fulfillment with a scan, a refund, and the raw deliveries.
type heldCustomer struct {
	id                                int64
	orderID                           int64
	email, phone, first, last, street string
}

var (
	zed = heldCustomer{id: 7001, orderID: 9001, email: "zed.redact@example.com", phone: "+15550001111",
		first: "Zed", last: "Redactable", street: "77 Secret Lane"}
	yan = heldCustomer{id: 7002, orderID: 9002, email: "yan.keep@example.com", phone: "+15550002222",
		first: "Yan", last: "Keepable", street: "12 Open Road"}
)

func holdCustomer(t *testing.T, s *models.Store, shop models.Shop, c heldCustomer) {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	err := s.InTx(ctx, func(tx *models.Tx) error {
		cu := &models.Customer{PlatformID: c.id, Email: c.email, Phone: c.phone, FirstName: c.first, LastName: c.last,
			Locale: "en", PlatformUpdatedAt: t0, PlatformCreatedAt: t0}
		if _, err := tx.UpsertCustomer(shop.ID, cu); err != nil {
			return err
		}
		o := &models.Order{PlatformID: c.orderID, Name: fmt.Sprintf("#%d", c.orderID), Email: c.email, Phone: c.phone,
			CustomerPlatformID: c.id, Currency: "EUR", Total: decimal.RequireFromString("123.45"), FinancialStatus: "paid",
			StatusPageURL: "https://" + shop.Domain + "/status/" + c.first,
			ShippingAddress: models.Address{Name: c.first + " " + c.last, Address1: c.street, City: "Lyon", Zip: "69001",
				CountryCode: "FR", Phone: c.phone},
			PlatformCreatedAt: t0, PlatformUpdatedAt: t0}
		if _, _, err := tx.UpsertOrder(shop.ID, o); err != nil {
			return err
		}
		if err := tx.UpsertLineItems(shop.ID, o.ID, []models.LineItem{{PlatformID: c.orderID*10 + 1, Title: "Tea", Quantity: 1,
			Price: decimal.RequireFromString("123.45")}}); err != nil {
			return err
		}
		f := &models.Fulfillment{PlatformID: c.orderID*10 + 2, OrderPlatformID: c.orderID, Status: "success",
			TrackingCompany: "UPS", TrackingNumber: "1Z" + c.first, PlatformCreatedAt: t0, PlatformUpdatedAt: t0}
		if _, _, err := tx.UpsertFulfillment(shop.ID, f); err != nil {
			return err
		}
		if _, _, _, err := tx.ApplyFulfillmentEvent(shop.ID, &models.FulfillmentEvent{PlatformID: c.orderID*10 + 3,
			FulfillmentPlatformID: f.PlatformID, OrderPlatformID: c.orderID, Status: models.ShipmentDelivered,
			City: "Lyon", Message: "Left at " + c.street, HappenedAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		_, err := tx.UpsertRefund(shop.ID, &models.Refund{PlatformID: c.orderID*10 + 4, OrderPlatformID: c.orderID,
			Amount: decimal.RequireFromString("10"), Currency: "EUR", Note: "refund for " + c.first,
			Lines: []models.RefundLine{{PlatformID: c.orderID*10 + 5, LineItemPlatformID: c.orderID*10 + 1, Quantity: 1}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The order webhook (linked to the order) and a customers/update
	// webhook (not linked: found by the email in it).
	for i, body := range []string{
		fmt.Sprintf(`{"id":%d,"email":%q,"shipping_address":{"address1":%q}}`, c.orderID, c.email, c.street),
		fmt.Sprintf(`{"id":%d,"email":%q,"first_name":%q}`, c.id, c.email, c.first),
	} {
		d := &models.Delivery{Platform: models.PlatformShopify, ShopDomain: shop.Domain, Topic: "orders/create",
			EventID: fmt.Sprintf("%s-%d", c.first, i), ShopID: shop.ID, Body: []byte(body), Status: models.DeliveryProcessed}
		if i == 0 {
			d.OrderPlatformID = c.orderID
		} else {
			d.Topic = "customers/update"
		}
		if _, err := s.InsertDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SaveDataExport(ctx, shop.ID, "req-"+c.first, c.id, []byte(`{"email":"`+c.email+`"}`)); err != nil {
		t.Fatal(err)
	}
	// Messages: a sent email with its outbox copy, an SMS the provider
	// refused quoting the number, a waiting ask; feedback with a comment.
	for _, m := range []models.Message{
		{Flow: "thank_you", Channel: "email", Recipient: c.email, Status: models.MessageSent},
		{Flow: "thank_you", Channel: "sms", Recipient: c.phone, Status: models.MessageFailed, Reason: "The 'To' number " + c.phone + " is not valid"},
		{Flow: "review_request", Step: "ask", Channel: "email", Recipient: c.email, Marketing: true},
	} {
		m.ShopID, m.OrderPlatformID = shop.ID, c.orderID
		if _, err := s.QueueMessage(ctx, &m); err != nil {
			t.Fatal(err)
		}
		if m.Flow == "thank_you" && m.Channel == "email" {
			if err := s.SaveOutbox(ctx, &models.OutboxMessage{ShopID: shop.ID, MessageID: fmt.Sprintf("msg-%d", m.ID), Channel: "email",
				To: c.email, Subject: "Thanks " + c.first, Text: "Hi " + c.first}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.SaveFeedback(ctx, &models.Feedback{ShopID: shop.ID, OrderPlatformID: c.orderID, Kind: models.FeedbackDelivery,
		Rating: 5, Comment: "Thanks, signed " + c.first + " " + c.last}); err != nil {
		t.Fatal(err)
	}
}

// checkRedaction runs RedactCustomer on zed and checks what remains, on
// whichever database s uses.
func checkRedaction(t *testing.T, s *models.Store) {
	t.Helper()
	ctx := context.Background()
	shop := installShop(t, s, "redact.myshopify.com", models.Token{AccessToken: "x"})
	holdCustomer(t, s, shop, zed)
	holdCustomer(t, s, shop, yan)

	counts, err := s.RedactCustomer(ctx, shop.ID, zed.id, zed.email, zed.phone, []int64{zed.orderID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"customers": 1, "orders": 1, "fulfillments": 1, "fulfillment_events": 1, "refunds": 1,
		"deliveries": 2, "data_exports": 1, "messages": 3, "outbox_messages": 1, "feedback": 1}
	for table, n := range want {
		if counts[table] != n {
			t.Errorf("redacted %s = %d, want %d (all counts %v)", table, counts[table], n, counts)
		}
	}

	o, err := s.Order(ctx, shop.ID, zed.orderID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Email != "" || o.Phone != "" || o.ShippingAddress != (models.Address{}) || o.StatusPageURL != "" || o.RedactedAt == nil {
		t.Errorf("redacted order still holds personal data: %+v", o)
	}
	if !o.Total.Equal(decimal.RequireFromString("123.45")) || o.Currency != "EUR" || o.FinancialStatus != "paid" ||
		len(o.LineItems) != 1 || len(o.Refunds) != 1 || !o.Refunds[0].Amount.Equal(decimal.NewFromInt(10)) {
		t.Errorf("redacted order lost its accounting: total %s %s %s lines %d refunds %+v", o.Total, o.Currency,
			o.FinancialStatus, len(o.LineItems), o.Refunds)
	}
	if o.Customer == nil || o.Customer.Email != "" || o.Customer.FirstName != "" || o.Customer.LastName != "" ||
		o.Customer.Phone != "" || o.Customer.RedactedAt == nil {
		t.Errorf("customer row = %+v, want kept and emptied", o.Customer)
	}
	if f := o.Fulfillments; len(f) != 1 || f[0].TrackingNumber != "" || len(f[0].Events) != 1 || f[0].Events[0].Message != "" {
		t.Errorf("fulfillments = %+v, want tracking number and scan location emptied", f)
	}
	var bodies []models.Delivery
	if err := s.DB().Where("shop_id = ?", shop.ID).Order("id").Find(&bodies).Error; err != nil {
		t.Fatal(err)
	}
	for _, d := range bodies {
		mentionsZed := strings.Contains(d.EventID, zed.first)
		if mentionsZed && d.Body != nil {
			t.Errorf("delivery %s kept its body %q", d.EventID, d.Body)
		}
		if !mentionsZed && !bytes.Contains(d.Body, []byte(yan.email)) {
			t.Errorf("delivery %s of another customer lost its body", d.EventID)
		}
		if d.Topic == "" || d.Status != models.DeliveryProcessed {
			t.Errorf("delivery %s lost its metadata: %+v", d.EventID, d)
		}
	}

	// Messages keep their trace without the address; the waiting ask is
	// suppressed; the outbox copy and the comment are gone.
	var msgs []models.Message
	s.DB().Where("shop_id = ? AND order_platform_id = ?", shop.ID, zed.orderID).Order("id").Find(&msgs)
	for _, m := range msgs {
		if strings.Contains(m.Recipient, zed.email) || strings.Contains(m.Recipient, zed.phone) || strings.Contains(m.Reason, zed.phone) {
			t.Errorf("message %d still names the customer: %+v", m.ID, m)
		}
		if m.Waiting() {
			t.Errorf("message %d still waits to be sent to a redacted customer", m.ID)
		}
	}
	var copies, comments int64
	s.DB().Model(&models.OutboxMessage{}).Where("\"to\" = ?", zed.email).Count(&copies)
	s.DB().Model(&models.Feedback{}).Where("comment LIKE ?", "%"+zed.first+"%").Count(&comments)
	var events []models.MessageEvent
	s.DB().Where("order_platform_id = ?", zed.orderID).Find(&events)
	for _, ev := range events {
		if strings.Contains(ev.Reason, zed.phone) {
			t.Errorf("a message decision still quotes the phone: %q", ev.Reason)
		}
	}
	if copies+comments != 0 {
		t.Errorf("%d outbox copies and %d comments of the customer left", copies, comments)
	}

	// The other customer is untouched.
	y, err := s.Order(ctx, shop.ID, yan.orderID)
	if err != nil {
		t.Fatal(err)
	}
	if y.Email != yan.email || y.ShippingAddress.Address1 != yan.street || y.Customer == nil || y.Customer.LastName != yan.last ||
		y.Fulfillments[0].TrackingNumber == "" || y.Refunds[0].Note == "" || y.RedactedAt != nil {
		t.Errorf("another customer's order changed: %+v", y)
	}
	var exports int64
	s.DB().Model(&models.DataExport{}).Where("shop_id = ?", shop.ID).Count(&exports)
	if exports != 1 {
		t.Errorf("data exports = %d, want only the other customer's", exports)
	}

	// Again: nothing left to change.
	again, err := s.RedactCustomer(ctx, shop.ID, zed.id, zed.email, zed.phone, []int64{zed.orderID})
	if err != nil {
		t.Fatal(err)
	}
	if n := models.SumRows(again); n != 0 {
		t.Errorf("second redaction changed %v, want nothing", again)
	}
}

func TestRedactCustomer_ErasesPersonalDataKeepsTotals(t *testing.T) {
	t.Parallel()
	checkRedaction(t, modelstest.Store(t))
}

// sqliteStore is the demo's embedded store, on a fresh file.
func sqliteStore(t *testing.T) *models.Store {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, config.Config{SQLitePath: filepath.Join(t.TempDir(), "p.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	if err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	c, _ := models.NewCipher(modelstest.Key)
	return models.NewStore(db, c)
}

func TestRedactCustomer_SQLite(t *testing.T) {
	t.Parallel()
	checkRedaction(t, sqliteStore(t))
}

func TestDropOldBodies_SQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := sqliteStore(t)
	shop := installShop(t, s, "lite.myshopify.com", models.Token{AccessToken: "x"})
	now := time.Now().UTC()
	for ev, age := range map[string]time.Duration{"old": 31 * 24 * time.Hour, "new": 29 * 24 * time.Hour} {
		if _, err := s.InsertDelivery(ctx, &models.Delivery{Platform: models.PlatformShopify, ShopDomain: shop.Domain,
			ShopID: shop.ID, Topic: "orders/create", EventID: ev, Body: []byte(`{}`), ReceivedAt: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DropOldBodies(ctx, now.Add(-30*24*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("dropped %d, %v; want 1", n, err)
	}
	var kept []models.Delivery
	s.DB().Where("body IS NOT NULL").Find(&kept)
	if len(kept) != 1 || kept[0].EventID != "new" {
		t.Fatalf("bodies kept = %+v, want only the recent one", kept)
	}
}

func TestRedactCustomer_WithoutEmailUsesStoredData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "nobody.myshopify.com", models.Token{AccessToken: "x"})
	holdCustomer(t, s, shop, zed)
	// The request's body was dropped by retention: only the customer id is left.
	counts, err := s.RedactCustomer(ctx, shop.ID, zed.id, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if counts["customers"] != 1 || counts["orders"] != 1 || counts["deliveries"] != 2 {
		t.Fatalf("counts = %v, want the customer, the order and both deliveries", counts)
	}
}

func TestExportCustomer_EverythingHeldForThatCustomer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "export.myshopify.com", models.Token{AccessToken: "x"})
	holdCustomer(t, s, shop, zed)
	holdCustomer(t, s, shop, yan)
	exp, err := s.ExportCustomer(ctx, shop.ID, zed.id, zed.email, nil)
	if err != nil {
		t.Fatal(err)
	}
	if exp.Customer == nil || exp.Customer.Email != zed.email || exp.CustomerID != "7001" || len(exp.Orders) != 1 {
		t.Fatalf("export = %+v", exp)
	}
	o := exp.Orders[0]
	if o.ID != "9001" || o.ShippingAddress.Address1 != zed.street || o.Total != "123.45" || len(o.LineItems) != 1 ||
		len(o.Fulfillments) != 1 || len(o.Fulfillments[0].Events) != 1 || len(o.Refunds) != 1 || len(o.Refunds[0].Lines) != 1 {
		t.Fatalf("exported order = %+v", o)
	}
	b, _ := json.Marshal(exp)
	if bytes.Contains(b, []byte(yan.email)) || bytes.Contains(b, []byte(yan.street)) {
		t.Fatalf("export holds another customer's data: %s", b)
	}

	saved, err := s.SaveDataExport(ctx, shop.ID, "9999", zed.id, b)
	if err != nil || saved.Status != models.ExportReady || saved.CompletedAt == nil {
		t.Fatalf("saved = %+v, %v", saved, err)
	}
	again, err := s.SaveDataExport(ctx, shop.ID, "9999", zed.id, b)
	if err != nil || again.ID != saved.ID {
		t.Fatalf("saving the same request again: id %d, %v; want %d", again.ID, err, saved.ID)
	}
	other := installShop(t, s, "other.myshopify.com", models.Token{AccessToken: "x"})
	if _, err := s.DataExport(ctx, other.ID, saved.ID); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("another shop reading the export: %v, want ErrNotFound", err)
	}
	if got, err := s.DataExport(ctx, shop.ID, saved.ID); err != nil || !bytes.Equal(got.Export, b) {
		t.Fatalf("own export: %v", err)
	}
}

func uninstall(t *testing.T, s *models.Store, shopID uint64) {
	t.Helper()
	if err := s.InTx(context.Background(), func(tx *models.Tx) error { _, err := tx.MarkUninstalled(shopID); return err }); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteShopData_RefusedWhileInstalledThenDeletesEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "gone.myshopify.com", models.Token{AccessToken: "x"})
	keep := installShop(t, s, "stays.myshopify.com", models.Token{AccessToken: "x"})
	holdCustomer(t, s, shop, zed)
	holdCustomer(t, s, keep, yan)
	// A delivery that never got a shop id (stored before processing).
	if _, err := s.InsertDelivery(ctx, &models.Delivery{Platform: models.PlatformShopify, ShopDomain: shop.Domain,
		Topic: "orders/create", EventID: "unprocessed", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx *models.Tx) error {
		_, err := tx.InsertTriggers([]models.Trigger{{ShopID: shop.ID, Kind: models.TriggerOrderPaid, Subject: "order:9001"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteShopData(ctx, shop.ID); !errors.Is(err, models.ErrShopInstalled) {
		t.Fatalf("deleting an installed shop: %v, want ErrShopInstalled", err)
	}
	if n, _ := s.CountOrders(ctx, shop.ID); n != 1 {
		t.Fatalf("refused deletion still deleted orders")
	}
	uninstall(t, s, shop.ID)
	counts, err := s.DeleteShopData(ctx, shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counts["shops"] != 1 || counts["orders"] != 1 || counts["deliveries"] != 3 || counts["triggers"] != 1 {
		t.Fatalf("counts = %v", counts)
	}
	for _, table := range []string{"orders", "line_items", "fulfillments", "fulfillment_events", "refunds", "refund_lines",
		"customers", "triggers", "data_exports"} {
		var gone, kept int64
		s.DB().Table(table).Where("shop_id = ?", shop.ID).Count(&gone)
		s.DB().Table(table).Where("shop_id = ?", keep.ID).Count(&kept)
		if gone != 0 {
			t.Errorf("%s: %d rows of the deleted shop left", table, gone)
		}
		if kept == 0 && table != "triggers" {
			t.Errorf("%s: the other shop's rows were deleted", table)
		}
	}
	var left int64
	s.DB().Model(&models.Delivery{}).Where("shop_id = ? OR shop_domain = ?", shop.ID, shop.Domain).Count(&left)
	if left != 0 {
		t.Errorf("deliveries of the deleted shop left: %d", left)
	}
	if _, err := s.ShopByID(ctx, shop.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("shop row: %v, want deleted", err)
	}
	if _, err := s.DeleteShopData(ctx, shop.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}
}

func TestCancelShopTriggers_StopsScheduledWorkKeepsComplianceAndOtherShops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "bye.myshopify.com", models.Token{AccessToken: "x"})
	other := installShop(t, s, "hi.myshopify.com", models.Token{AccessToken: "x"})
	err := s.InTx(ctx, func(tx *models.Tx) error {
		_, err := tx.InsertTriggers([]models.Trigger{
			{ShopID: shop.ID, Kind: models.TriggerOrderPaid, Subject: "order:1"},
			{ShopID: shop.ID, Kind: models.TriggerFulfillmentStatus, Subject: "fulfillment:2", Version: "delivered", Status: models.TriggerDispatched},
			{ShopID: shop.ID, Kind: models.TriggerOrderPaid, Subject: "order:3", Status: models.TriggerDone},
			{ShopID: shop.ID, Kind: models.TriggerCustomerRedact, Subject: "customer:4"},
			{ShopID: other.ID, Kind: models.TriggerOrderPaid, Subject: "order:1"},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelShopTriggers(ctx, shop.ID); !errors.Is(err, models.ErrShopInstalled) {
		t.Fatalf("cancelling an installed shop's work: %v, want ErrShopInstalled", err)
	}
	uninstall(t, s, shop.ID)
	counts, err := s.CancelShopTriggers(ctx, shop.ID)
	if err != nil || counts["triggers"] != 2 {
		t.Fatalf("cancelled %v, %v; want 2 triggers", counts, err)
	}
	status := func(shopID uint64, subject string) string {
		var tr models.Trigger
		if err := s.DB().Where("shop_id = ? AND subject = ?", shopID, subject).Take(&tr).Error; err != nil {
			t.Fatal(err)
		}
		return tr.Status
	}
	for subject, want := range map[string]string{"order:1": "cancelled", "fulfillment:2": "cancelled",
		"order:3": models.TriggerDone, "customer:4": models.TriggerPending} {
		if got := status(shop.ID, subject); got != want {
			t.Errorf("%s: %s, want %s", subject, got, want)
		}
	}
	if got := status(other.ID, "order:1"); got != models.TriggerPending {
		t.Errorf("another shop's trigger: %s, want pending", got)
	}
	due, err := s.DueTriggers(ctx, []string{models.TriggerOrderPaid, models.TriggerFulfillmentStatus}, time.Now().Add(time.Hour),
		time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range due {
		if tr.ShopID == shop.ID {
			t.Errorf("cancelled trigger %s still due", tr.Subject)
		}
	}
}

func TestDropOldBodies_KeepsMetadataAndRecentBodies_OneAuditRowPerShop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	a := installShop(t, s, "old-a.myshopify.com", models.Token{AccessToken: "x"})
	b := installShop(t, s, "old-b.myshopify.com", models.Token{AccessToken: "x"})
	now := time.Now().UTC()
	add := func(shop models.Shop, ev string, age time.Duration) {
		if _, err := s.InsertDelivery(ctx, &models.Delivery{Platform: models.PlatformShopify, ShopDomain: shop.Domain,
			ShopID: shop.ID, Topic: "orders/create", EventID: ev, Body: []byte(`{"email":"x@example.com"}`),
			ReceivedAt: now.Add(-age), Status: models.DeliveryProcessed}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		add(a, fmt.Sprintf("a-old-%d", i), 40*24*time.Hour)
	}
	add(b, "b-old", 31*24*time.Hour)
	add(a, "a-new", 2*24*time.Hour)
	add(b, "b-new", time.Hour)

	n, err := s.DropOldBodies(ctx, now.Add(-30*24*time.Hour), 2) // small batches: several rounds
	if err != nil || n != 6 {
		t.Fatalf("dropped %d, %v; want 6", n, err)
	}
	var ds []models.Delivery
	s.DB().Order("id").Find(&ds)
	for _, d := range ds {
		old := strings.Contains(d.EventID, "old")
		if old != (d.Body == nil) {
			t.Errorf("%s: body %q (old=%v)", d.EventID, d.Body, old)
		}
		if d.Topic != "orders/create" || d.Status != models.DeliveryProcessed || d.ReceivedAt.IsZero() {
			t.Errorf("%s lost metadata: %+v", d.EventID, d)
		}
	}
	for shopID, want := range map[uint64]int64{a.ID: 5, b.ID: 1} {
		rows, err := s.ListAudit(ctx, shopID, 0, 10)
		if err != nil || len(rows) != 1 || rows[0].Action != models.AuditRetention || rows[0].Rows != want ||
			rows[0].Detail != fmt.Sprintf(`{"deliveries":%d}`, want) {
			t.Errorf("shop %d audit = %+v, %v; want one retention row of %d", shopID, rows, err, want)
		}
	}
	if n, err := s.DropOldBodies(ctx, now.Add(-30*24*time.Hour), 2); err != nil || n != 0 {
		t.Fatalf("second run dropped %d, %v; want 0", n, err)
	}
}

func TestListAudit_NewestFirstByCursorAndScopedByShop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	a := installShop(t, s, "audit-a.myshopify.com", models.Token{AccessToken: "x"})
	b := installShop(t, s, "audit-b.myshopify.com", models.Token{AccessToken: "x"})
	for i := 0; i < 5; i++ {
		if err := s.WriteAudit(ctx, models.AuditLog{ShopID: a.ID, Action: models.AuditCustomerRedact, Subject: fmt.Sprintf("customer:%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteAudit(ctx, models.AuditLog{ShopID: b.ID, Action: models.AuditUninstalled, Subject: "shop"}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	var after uint64
	for {
		page, err := s.ListAudit(ctx, a.ID, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			seen = append(seen, r.Subject)
			after = r.ID
		}
		if len(page) < 2 {
			break
		}
	}
	if got := strings.Join(seen, ","); got != "customer:4,customer:3,customer:2,customer:1,customer:0" {
		t.Fatalf("pages = %s", got)
	}
}
