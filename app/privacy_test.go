package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// shopper is a customer with personal data distinctive enough to search
// the whole database for.
type shopper struct {
	id                                     int64
	orderID                                int64
	email, phone, first, last, street, zip string
}

var (
	// Ids above 2^53: JSON numbers in JavaScript would round them.
	shopperX = shopper{id: 9007199254740993, orderID: 9007199254741001, email: "zed.redact@example.com", phone: "+15550001111",
		first: "Zed", last: "Redactable", street: "77 Secret Lane", zip: "SW1X 7ZZ"}
	shopperY = shopper{id: 9007199254740995, orderID: 9007199254741003, email: "yan.keep@example.com", phone: "+15550002222",
		first: "Yan", last: "Keepable", street: "12 Open Road", zip: "75011"}
)

// personal is what must be gone after a redaction.
func (s shopper) personal() []string {
	return []string{s.email, strings.TrimPrefix(s.phone, "+1"), s.first + " " + s.last, s.last, s.street, s.zip}
}

func (s shopper) address() map[string]any {
	return map[string]any{"first_name": s.first, "last_name": s.last, "name": s.first + " " + s.last,
		"address1": s.street, "city": "London", "zip": s.zip, "country_code": "GB", "phone": s.phone}
}

// orderOf is a Shopify-shaped orders/* body for the shopper.
func (s shopper) order(updated time.Time, financial string) []byte {
	ts := func(t time.Time) string { return t.Format(time.RFC3339) }
	o := map[string]any{
		"id": s.orderID, "name": "#1001", "order_number": 1001, "email": s.email, "phone": s.phone,
		"currency": "EUR", "subtotal_price": "90.00", "total_price": "99.90", "total_tax": "9.90", "total_discounts": "0.00",
		"financial_status": financial, "created_at": ts(updated.Add(-time.Hour)), "updated_at": ts(updated),
		"customer_locale": "en-GB", "order_status_url": "https://shop.example/orders/" + s.last,
		"customer": map[string]any{"id": s.id, "email": s.email, "phone": s.phone, "first_name": s.first, "last_name": s.last,
			"created_at": ts(updated.Add(-time.Hour)), "updated_at": ts(updated), "default_address": s.address()},
		"shipping_address": s.address(), "billing_address": s.address(),
		"line_items": []any{map[string]any{"id": s.orderID + 100, "product_id": 11, "variant_id": 12, "title": "Tea",
			"quantity": 2, "price": "45.00", "sku": "TEA"}},
		"fulfillments": []any{}, "refunds": []any{},
	}
	b, _ := json.Marshal(o)
	return b
}

func (s shopper) fulfillment(updated time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"id": s.orderID + 200, "order_id": s.orderID, "status": "success",
		"tracking_company": "UPS", "tracking_number": "1Z" + s.last, "created_at": updated.Format(time.RFC3339),
		"updated_at": updated.Format(time.RFC3339), "destination": s.address()})
	return b
}

// compliance is a customers/redact or customers/data_request body shaped
// like Shopify's samples.
func (s shopper) compliance(domain, ordersKey string, requestID int64) []byte {
	body := map[string]any{"shop_id": 954889, "shop_domain": domain,
		"customer": map[string]any{"id": s.id, "email": s.email, "phone": s.phone},
		ordersKey:  []int64{s.orderID}}
	if requestID != 0 {
		body["data_request"] = map[string]any{"id": requestID}
	}
	b, _ := json.Marshal(body)
	return b
}

// runTriggers runs every trigger of kind through trigger:run, as a worker
// would, and returns them.
func (e *testEnv) runTriggers(kind string) []models.Trigger {
	e.t.Helper()
	var ts []models.Trigger
	if err := e.app.db.Where("kind = ?", kind).Order("id").Find(&ts).Error; err != nil {
		e.t.Fatal(err)
	}
	if len(ts) == 0 {
		e.t.Fatalf("no %s trigger", kind)
	}
	for _, tr := range ts {
		task, _ := jobs.NewTriggerTask(tr.ID)
		if err := e.app.runner.ProcessTask(context.Background(), task); err != nil {
			e.t.Fatalf("run trigger %d (%s): %v", tr.ID, kind, err)
		}
	}
	return ts
}

// textColumns lists every column of every table that can hold text.
func (e *testEnv) textColumns() [][2]string {
	e.t.Helper()
	var cols []struct{ TableName, ColumnName, DataType string }
	if err := e.app.db.Raw(`SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'public' ORDER BY table_name, column_name`).Scan(&cols).Error; err != nil {
		e.t.Fatal(err)
	}
	var out [][2]string
	for _, c := range cols {
		switch c.DataType {
		case "text", "character varying", "character", "bytea", "json", "jsonb":
			out = append(out, [2]string{c.TableName, c.ColumnName})
		}
	}
	if len(out) < 20 {
		e.t.Fatalf("only %d text columns found: is this the right schema?", len(out))
	}
	return out
}

// search looks for needle in every text and binary column of every table
// and returns the hits as "table.column".
func (e *testEnv) search(needle string) []string {
	e.t.Helper()
	var hits []string
	for _, c := range e.textColumns() {
		// bytea::text is hex; compare the bytes instead.
		cond := fmt.Sprintf(`%q::text LIKE '%%' || ? || '%%'`, c[1])
		var dt string
		e.app.db.Raw(`SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ? AND column_name = ?`,
			c[0], c[1]).Scan(&dt)
		if dt == "bytea" {
			cond = fmt.Sprintf(`position(convert_to(?, 'UTF8') in %q) > 0`, c[1])
		}
		var n int64
		if err := e.app.db.Raw(fmt.Sprintf(`SELECT count(*) FROM %q WHERE `, c[0])+cond, needle).Scan(&n).Error; err != nil {
			e.t.Fatalf("search %s.%s: %v", c[0], c[1], err)
		}
		if n > 0 {
			hits = append(hits, fmt.Sprintf("%s.%s (%d rows)", c[0], c[1], n))
		}
	}
	return hits
}

// snapshot is a digest of every table's rows: equal snapshots mean nothing
// was written in between.
func (e *testEnv) snapshot() map[string]string {
	e.t.Helper()
	var tables []string
	e.app.db.Raw(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`).Scan(&tables)
	out := map[string]string{}
	for _, tb := range tables {
		var digest string
		if err := e.app.db.Raw(fmt.Sprintf(`SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %q t`, tb)).
			Scan(&digest).Error; err != nil {
			e.t.Fatal(err)
		}
		out[tb] = digest
	}
	return out
}

// get calls the admin API as the shop's embedded admin would.
func (e *testEnv) get(shop, path string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.fake.SessionToken(shop, time.Minute))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type privacyList struct {
	Items []struct {
		ID          string         `json:"id"`
		Action      string         `json:"action"`
		Subject     string         `json:"subject"`
		Rows        int64          `json:"rows"`
		Detail      map[string]any `json:"detail"`
		CreatedAt   time.Time      `json:"created_at"`
		ExportID    string         `json:"export_id"`
		DownloadURL string         `json:"download_url"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func (e *testEnv) privacyLog(shop string) privacyList {
	e.t.Helper()
	resp, b := e.get(shop, "/api/admin/privacy")
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /api/admin/privacy: %d %s", resp.StatusCode, b)
	}
	var l privacyList
	if err := json.Unmarshal(b, &l); err != nil {
		e.t.Fatalf("privacy log %s: %v", b, err)
	}
	return l
}

func TestPrivacy_CustomerRedact_NothingOfTheCustomerLeftAnywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const domain = "redact-shop.myshopify.com"
	shop := e.installShop(domain)
	t0 := time.Now().UTC().Truncate(time.Second)
	for _, s := range []shopper{shopperX, shopperY} {
		for _, w := range []webhook{
			{topic: "orders/create", body: s.order(t0, "pending")},
			{topic: "orders/paid", body: s.order(t0.Add(time.Minute), "paid")},
			{topic: "fulfillments/create", body: s.fulfillment(t0.Add(2 * time.Minute))},
		} {
			w.shop = domain
			if got := e.post(w); got != http.StatusOK {
				t.Fatalf("%s: %d", w.topic, got)
			}
		}
	}
	e.processAll()
	for _, p := range shopperX.personal() {
		if len(e.search(p)) == 0 {
			t.Fatalf("%q is nowhere before the redaction: the search is broken", p)
		}
	}

	e.post(webhook{shop: domain, topic: "customers/redact", body: shopperX.compliance(domain, "orders_to_redact", 0)})
	e.processAll()
	tr := e.runTriggers(models.TriggerCustomerRedact)

	for _, p := range shopperX.personal() {
		if hits := e.search(p); len(hits) != 0 {
			t.Errorf("%q still in %v", p, hits)
		}
	}
	for _, p := range shopperY.personal() {
		if len(e.search(p)) == 0 {
			t.Errorf("another customer's %q was erased", p)
		}
	}
	o, err := e.app.store.Order(context.Background(), shop.ID, shopperX.orderID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Total.StringFixed(2) != "99.90" || o.TotalTax.StringFixed(2) != "9.90" || o.Currency != "EUR" ||
		o.FinancialStatus != "paid" || len(o.LineItems) != 1 || len(o.Fulfillments) != 1 || o.RedactedAt == nil {
		t.Errorf("redacted order lost what accounting needs: %s %s %s lines %d", o.Total, o.Currency, o.FinancialStatus, len(o.LineItems))
	}
	if n := e.count("deliveries", "body IS NULL"); n < 4 {
		t.Errorf("deliveries with a dropped body = %d, want X's three and the request itself", n)
	}
	if n := e.count("deliveries", ""); n != 7 {
		t.Errorf("deliveries = %d, want all 7 kept (metadata)", n)
	}

	log := e.privacyLog(domain)
	if len(log.Items) != 1 || log.Items[0].Action != models.AuditCustomerRedact || log.Items[0].Rows == 0 ||
		!strings.HasPrefix(log.Items[0].Subject, fmt.Sprintf("customer:%d ", shopperX.id)) || log.Items[0].Detail["orders"] != float64(1) {
		t.Fatalf("privacy log = %+v", log)
	}

	// The same trigger again (a crash after the commit, a re-dispatch):
	// nothing changes, no second audit row.
	before := e.snapshot()
	for _, f := range jobs.PrivacyFlows(e.app.store, e.app.log) {
		if f.Kinds()[0] == models.TriggerCustomerRedact {
			if err := f.Handle(context.Background(), tr[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
	after := e.snapshot()
	for table, d := range before {
		if after[table] != d {
			t.Errorf("running the redaction again changed %s", table)
		}
	}
}

func TestPrivacy_DataRequest_ExportDownloadableByItsShopOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const domainA, domainB = "export-a.myshopify.com", "export-b.myshopify.com"
	e.installShop(domainA)
	e.installShop(domainB)
	t0 := time.Now().UTC().Truncate(time.Second)
	e.post(webhook{shop: domainA, topic: "orders/paid", body: shopperX.order(t0, "paid")})
	e.post(webhook{shop: domainA, topic: "orders/paid", body: shopperY.order(t0, "paid")})
	e.post(webhook{shop: domainA, topic: "customers/data_request", body: shopperX.compliance(domainA, "orders_requested", 9999)})
	e.processAll()
	e.runTriggers(models.TriggerCustomerDataReq)

	log := e.privacyLog(domainA)
	if len(log.Items) != 1 || log.Items[0].Action != models.AuditDataRequest || log.Items[0].ExportID == "" ||
		log.Items[0].DownloadURL != "/api/admin/privacy/exports/"+log.Items[0].ExportID {
		t.Fatalf("privacy log = %+v", log)
	}
	resp, b := e.get(domainA, log.Items[0].DownloadURL)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("download: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Disposition"), b)
	}
	var exp struct {
		CustomerID string `json:"customer_id"`
		Customer   struct {
			Email string `json:"email"`
		} `json:"customer"`
		Orders []struct {
			ID              string            `json:"id"`
			Total           string            `json:"total"`
			ShippingAddress map[string]string `json:"shipping_address"`
		} `json:"orders"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	if exp.CustomerID != "9007199254740993" || exp.Customer.Email != shopperX.email || len(exp.Orders) != 1 ||
		exp.Orders[0].ID != "9007199254741001" || exp.Orders[0].Total != "99.9" || exp.Orders[0].ShippingAddress["address1"] != shopperX.street {
		t.Fatalf("export = %s", b)
	}
	if strings.Contains(string(b), shopperY.email) {
		t.Fatalf("export holds another customer's data")
	}

	// Shop B: not its export, and nothing in its log.
	if resp, b := e.get(domainB, log.Items[0].DownloadURL); resp.StatusCode != http.StatusNotFound || strings.Contains(string(b), shopperX.email) {
		t.Fatalf("shop B downloading A's export: %d %s", resp.StatusCode, b)
	}
	if l := e.privacyLog(domainB); len(l.Items) != 0 {
		t.Fatalf("shop B sees %d of A's privacy rows", len(l.Items))
	}
	if resp, _ := e.get(domainA, "/api/admin/privacy/exports/not-a-number"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bad export id: %d, want 404", resp.StatusCode)
	}
	resp, b = e.get(domainA, "/api/admin/privacy/exports")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"request_id":"9999"`) {
		t.Fatalf("exports list: %d %s", resp.StatusCode, b)
	}
}

// tablesWith lists the public tables having the column.
func (e *testEnv) tablesWith(column string) []string {
	e.t.Helper()
	var tables []string
	if err := e.app.db.Raw(`SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = ?`,
		column).Scan(&tables).Error; err != nil {
		e.t.Fatal(err)
	}
	return tables
}

func TestPrivacy_ShopRedact_NothingOfTheShopLeft_RefusedWhileInstalled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const gone, stays = "leaving-shop.myshopify.com", "staying-shop.myshopify.com"
	shop := e.installShop(gone)
	other := e.installShop(stays)
	t0 := time.Now().UTC().Truncate(time.Second)
	for _, d := range []string{gone, stays} {
		e.post(webhook{shop: d, topic: "orders/paid", body: shopperX.order(t0, "paid")})
		e.post(webhook{shop: d, topic: "fulfillments/create", body: shopperX.fulfillment(t0)})
		e.post(webhook{shop: d, topic: "customers/data_request", body: shopperX.compliance(d, "orders_requested", 1)})
	}
	e.processAll()
	e.runTriggers(models.TriggerCustomerDataReq)

	// Installed: shop/redact deletes nothing.
	e.post(webhook{shop: gone, topic: "shop/redact", body: []byte(`{"shop_id":1,"shop_domain":"` + gone + `"}`)})
	e.processAll()
	e.runTriggers(models.TriggerShopRedact)
	if n := e.count("orders", "shop_id = ?", shop.ID); n != 1 {
		t.Fatalf("shop/redact for an installed shop deleted its orders (%d left)", n)
	}

	e.post(webhook{shop: gone, topic: "app/uninstalled", body: []byte(`{"id":1,"myshopify_domain":"` + gone + `"}`)})
	e.post(webhook{shop: gone, topic: "shop/redact", body: []byte(`{"shop_id":1,"shop_domain":"` + gone + `"}`)})
	e.processAll()
	e.runTriggers(models.TriggerUninstalled)
	var pending []models.Trigger
	e.app.db.Where("kind = ? AND status <> ?", models.TriggerShopRedact, models.TriggerDone).Find(&pending)
	for _, tr := range pending {
		task, _ := jobs.NewTriggerTask(tr.ID)
		if err := e.app.runner.ProcessTask(context.Background(), task); err != nil {
			t.Fatal(err)
		}
	}

	for _, table := range e.tablesWith("shop_id") {
		if table == "audit_logs" {
			continue // kept on purpose: ids and counts only
		}
		if n := e.count(table, "shop_id = ?", shop.ID); n != 0 {
			t.Errorf("%s: %d rows of the redacted shop left", table, n)
		}
	}
	if n := e.count("shops", "id = ?", shop.ID); n != 0 {
		t.Errorf("shop row left")
	}
	if hits := e.search(gone); len(hits) != 0 {
		t.Errorf("the shop's domain is still in %v", hits)
	}
	if hits := e.search("leaving-shop"); len(hits) != 0 {
		t.Errorf("the shop's name is still in %v", hits)
	}
	// The other shop keeps everything.
	for _, table := range []string{"orders", "line_items", "fulfillments", "customers", "data_exports", "triggers"} {
		if n := e.count(table, "shop_id = ?", other.ID); n == 0 {
			t.Errorf("%s: the other shop's rows were deleted", table)
		}
	}
	// What was done stays on record, without the shop's data.
	var rows []models.AuditLog
	e.app.db.Where("shop_id = ? AND action = ?", shop.ID, models.AuditShopRedact).Order("id").Find(&rows)
	if len(rows) != 2 || rows[0].Rows != 0 || !strings.Contains(rows[0].Detail, "skipped") || rows[1].Rows == 0 ||
		!strings.Contains(rows[1].Detail, `"shops":1`) {
		t.Fatalf("shop redact audit = %+v, want one refusal then one deletion", rows)
	}
}

func TestPrivacy_Uninstall_StopsScheduledWorkWithoutCallingShopify(t *testing.T) {
	t.Parallel()
	redis := ownRedis(t)
	e := newEnv(t, func(c *config.Config, _ *Options) { c.RedisURL = redis.URL() })
	const leaving, staying = "bye-shop.myshopify.com", "hello-shop.myshopify.com"
	shop := e.installShop(leaving)
	other := e.installShop(staying)
	t0 := time.Now().UTC().Truncate(time.Second)
	for _, d := range []string{leaving, staying} {
		e.post(webhook{shop: d, topic: "orders/paid", body: shopperX.order(t0, "paid")})
	}
	e.processAll()
	// Work no flow has picked up yet: pending triggers of both shops.
	if n := e.count("triggers", "shop_id = ? AND status = ?", shop.ID, models.TriggerPending); n == 0 {
		t.Fatal("no pending work before the uninstall")
	}
	otherPending := e.count("triggers", "shop_id = ? AND status = ?", other.ID, models.TriggerPending)
	before := len(e.fake.Requests())

	runWorker(t, e.app)
	e.post(webhook{shop: leaving, topic: "app/uninstalled", body: []byte(`{"id":1,"myshopify_domain":"` + leaving + `"}`)})
	waitFor(t, "the uninstall flow to finish", 30*time.Second, func() bool {
		return e.count("triggers", "shop_id = ? AND kind = ? AND status = ?", shop.ID, models.TriggerUninstalled, models.TriggerDone) == 1
	})
	if n := e.count("audit_logs", "shop_id = ? AND action = ?", shop.ID, models.AuditUninstalled); n != 1 {
		t.Errorf("uninstall audit rows = %d, want 1", n)
	}
	if n := e.count("triggers", "shop_id = ? AND status IN ?", shop.ID, []string{models.TriggerPending, models.TriggerDispatched}); n != 0 {
		t.Errorf("%d triggers of the uninstalled shop still scheduled", n)
	}
	if n := e.count("triggers", "shop_id = ? AND status = ?", shop.ID, "cancelled"); n == 0 {
		t.Errorf("no trigger of the uninstalled shop was cancelled")
	}
	// The other shop's work goes on: none of it cancelled (flows may have
	// run some of it meanwhile).
	if n := e.count("triggers", "shop_id = ? AND status = ?", other.ID, models.TriggerCancelled); n != 0 || otherPending == 0 {
		t.Errorf("the other shop's triggers: %d cancelled (of %d pending before), want none", n, otherPending)
	}
	got, err := e.app.store.ShopByID(context.Background(), shop.ID)
	if err != nil || got.Installed() || got.AccessTokenEnc != nil || got.RefreshTokenEnc != nil {
		t.Fatalf("shop after uninstall: %+v, %v", got, err)
	}
	if after := len(e.fake.Requests()); after != before {
		t.Errorf("uninstall made %d calls to Shopify, want 0", after-before)
	}
}

func TestPrivacy_ComplianceWebhooksWithBadHMAC_401AndNothingStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const domain = "hmac-shop.myshopify.com"
	e.installShop(domain)
	for topic, body := range map[string][]byte{
		"customers/redact":       shopperX.compliance(domain, "orders_to_redact", 0),
		"customers/data_request": shopperX.compliance(domain, "orders_requested", 5),
		"shop/redact":            []byte(`{"shop_id":954889,"shop_domain":"` + domain + `"}`),
	} {
		if got := e.post(webhook{shop: domain, topic: topic, body: body, secret: "not-the-app-secret"}); got != http.StatusUnauthorized {
			t.Errorf("%s with a wrong secret: %d, want 401", topic, got)
		}
		tampered := []byte(strings.Replace(string(body), `"shop_id":`, `"shop_id": `, 1))
		if got := e.post(webhook{shop: domain, topic: topic, body: tampered, signed: body}); got != http.StatusUnauthorized {
			t.Errorf("%s with a tampered body: %d, want 401", topic, got)
		}
	}
	for _, table := range []string{"deliveries", "triggers", "audit_logs", "data_exports"} {
		if n := e.count(table, ""); n != 0 {
			t.Errorf("%s: %d rows after rejected webhooks, want 0", table, n)
		}
	}
}

func TestPrivacy_Retention_DropsOldBodiesKeepsMetadataAndRecentOnes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config, _ *Options) { c.DeliveryRetention = 30 * 24 * time.Hour })
	const domain = "retain-shop.myshopify.com"
	shop := e.installShop(domain)
	t0 := time.Now().UTC().Truncate(time.Second)
	e.post(webhook{shop: domain, topic: "orders/create", eventID: "old-1", body: shopperX.order(t0, "pending")})
	e.post(webhook{shop: domain, topic: "orders/paid", eventID: "old-2", body: shopperX.order(t0.Add(time.Minute), "paid")})
	e.post(webhook{shop: domain, topic: "orders/create", eventID: "new-1", body: shopperY.order(t0, "pending")})
	e.processAll()
	if err := e.app.db.Exec("UPDATE deliveries SET received_at = ? WHERE event_id LIKE 'old-%'", t0.Add(-31*24*time.Hour)).Error; err != nil {
		t.Fatal(err)
	}

	n, err := e.app.retain.RunOnce(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("dropped %d, %v; want 2", n, err)
	}
	var ds []models.Delivery
	e.app.db.Order("id").Find(&ds)
	for _, d := range ds {
		old := strings.HasPrefix(d.EventID, "old-")
		if old != (d.Body == nil) {
			t.Errorf("%s: body kept=%v", d.EventID, d.Body != nil)
		}
		if d.Status != models.DeliveryProcessed || d.Topic == "" || d.ShopID != shop.ID || d.OrderPlatformID == 0 {
			t.Errorf("%s lost metadata: %+v", d.EventID, d)
		}
	}
	if n := e.count("orders", ""); n != 2 {
		t.Errorf("orders = %d: retention must only touch raw bodies", n)
	}
	log := e.privacyLog(domain)
	if len(log.Items) != 1 || log.Items[0].Action != models.AuditRetention || log.Items[0].Rows != 2 ||
		log.Items[0].Detail["deliveries"] != float64(2) {
		t.Fatalf("privacy log = %+v", log)
	}
	if n, _ := e.app.retain.RunOnce(context.Background()); n != 0 {
		t.Fatalf("second run dropped %d, want 0", n)
	}
}
