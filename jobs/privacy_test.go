package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func flowFor(t *testing.T, s *models.Store, kind string) Flow {
	t.Helper()
	flows := NewFlows(PrivacyFlows(s, quiet)...)
	fs := flows.byKind[kind]
	if len(fs) != 1 {
		t.Fatalf("%d flows for %s, want 1", len(fs), kind)
	}
	return fs[0]
}

// deliver stores a webhook and processes it, as intake and a worker would,
// and returns the triggers it wrote.
func deliver(t *testing.T, s *models.Store, p *Processor, domain, topic, eventID, body string) []models.Trigger {
	t.Helper()
	ctx := context.Background()
	d := &models.Delivery{Platform: "shopify", ShopDomain: domain, Topic: topic, EventID: eventID, Body: []byte(body)}
	if _, err := s.InsertDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Process(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	var ts []models.Trigger
	if err := s.DB().Where("delivery_id = ?", d.ID).Find(&ts).Error; err != nil {
		t.Fatal(err)
	}
	return ts
}

func install(t *testing.T, s *models.Store, domain string) models.Shop {
	t.Helper()
	shop, err := s.SaveInstall(context.Background(), models.Shop{Platform: "shopify", Domain: domain}, models.Token{AccessToken: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return shop
}

func audits(t *testing.T, s *models.Store, shopID uint64) []models.AuditLog {
	t.Helper()
	rows, err := s.ListAudit(context.Background(), shopID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestPrivacyFlows_CoverComplianceAndLifecycleKinds(t *testing.T) {
	t.Parallel()
	got := strings.Join(NewFlows(PrivacyFlows(nil, quiet)...).Kinds(), ",")
	want := strings.Join([]string{models.TriggerCustomerDataReq, models.TriggerCustomerRedact, models.TriggerShopRedact, models.TriggerUninstalled}, ",")
	if got != want {
		t.Fatalf("kinds = %s, want %s", got, want)
	}
}

func TestCustomerRedactFlow_RunTwice_OneChangeOneAuditRowNoPersonalData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, p := newProcessor(t)
	shop := install(t, s, "flow.myshopify.com")
	now := time.Now().UTC().Format(time.RFC3339)
	deliver(t, s, p, shop.Domain, "orders/create", "o1", `{"id":501,"email":"zed.redact@example.com","phone":"+15550001111",
		"updated_at":"`+now+`","created_at":"`+now+`","currency":"EUR","total_price":"12.00",
		"customer":{"id":77,"email":"zed.redact@example.com","first_name":"Zed","last_name":"Redactable","updated_at":"`+now+`"},
		"shipping_address":{"name":"Zed Redactable","address1":"77 Secret Lane"}}`)
	ts := deliver(t, s, p, shop.Domain, "customers/redact", "r1",
		`{"shop_domain":"flow.myshopify.com","customer":{"id":77,"email":"zed.redact@example.com","phone":"+15550001111"},"orders_to_redact":[501]}`)
	if len(ts) != 1 || ts[0].Kind != models.TriggerCustomerRedact {
		t.Fatalf("triggers = %+v", ts)
	}
	flow := flowFor(t, s, models.TriggerCustomerRedact)
	for i := 0; i < 2; i++ {
		if err := flow.Handle(ctx, ts[0]); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	o, err := s.Order(ctx, shop.ID, 501)
	if err != nil {
		t.Fatal(err)
	}
	if o.Email != "" || o.ShippingAddress.Address1 != "" || !o.Total.IsPositive() {
		t.Fatalf("order after redaction: email %q street %q total %s", o.Email, o.ShippingAddress.Address1, o.Total)
	}
	rows := audits(t, s, shop.ID)
	if len(rows) != 1 {
		t.Fatalf("audit rows = %d, want 1 after two runs", len(rows))
	}
	a := rows[0]
	if a.Action != models.AuditCustomerRedact || !strings.HasPrefix(a.Subject, "customer:77 ") || a.Rows == 0 {
		t.Fatalf("audit = %+v", a)
	}
	for _, pii := range []string{"zed", "Zed", "555", "Secret"} {
		if strings.Contains(a.Subject+a.Detail, pii) {
			t.Fatalf("audit row holds personal data %q: %+v", pii, a)
		}
	}
}

func TestDataRequestFlow_ExportKeyedByRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, p := newProcessor(t)
	shop := install(t, s, "dr.myshopify.com")
	now := time.Now().UTC().Format(time.RFC3339)
	deliver(t, s, p, shop.Domain, "orders/create", "o1", `{"id":601,"email":"dr@example.com","updated_at":"`+now+`",
		"customer":{"id":88,"email":"dr@example.com","updated_at":"`+now+`"}}`)
	ts := deliver(t, s, p, shop.Domain, "customers/data_request", "d1",
		`{"customer":{"id":88,"email":"dr@example.com"},"orders_requested":[601],"data_request":{"id":4242}}`)
	flow := flowFor(t, s, models.TriggerCustomerDataReq)
	for i := 0; i < 2; i++ {
		if err := flow.Handle(ctx, ts[0]); err != nil {
			t.Fatal(err)
		}
	}
	var exports []models.DataExport
	s.DB().Where("shop_id = ?", shop.ID).Find(&exports)
	if len(exports) != 1 || exports[0].RequestKey != "4242" || exports[0].Status != models.ExportReady ||
		!strings.Contains(string(exports[0].Export), "dr@example.com") || !strings.Contains(string(exports[0].Export), `"601"`) {
		t.Fatalf("exports = %+v", exports)
	}
	rows := audits(t, s, shop.ID)
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, `"export_id"`) || strings.Contains(rows[0].Detail, "dr@") {
		t.Fatalf("audit = %+v", rows)
	}
}

func TestShopRedactFlow_InstalledShopKeepsItsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, p := newProcessor(t)
	shop := install(t, s, "back.myshopify.com")
	ts := deliver(t, s, p, shop.Domain, "shop/redact", "s1", `{"shop_domain":"back.myshopify.com"}`)
	if err := flowFor(t, s, models.TriggerShopRedact).Handle(ctx, ts[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ShopByID(ctx, shop.ID); err != nil {
		t.Fatalf("installed shop: %v, want kept", err)
	}
	rows := audits(t, s, shop.ID)
	if len(rows) != 1 || rows[0].Rows != 0 || !strings.Contains(rows[0].Detail, "skipped") {
		t.Fatalf("audit = %+v, want one skipped row", rows)
	}
}

func TestRetention_RunOnceDropsOldBodiesOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := install(t, s, "ret.myshopify.com")
	for ev, age := range map[string]time.Duration{"old": 31 * 24 * time.Hour, "new": 29 * 24 * time.Hour} {
		if _, err := s.InsertDelivery(ctx, &models.Delivery{Platform: "shopify", ShopDomain: shop.Domain, ShopID: shop.ID,
			Topic: "orders/create", EventID: ev, Body: []byte(`{}`), ReceivedAt: time.Now().UTC().Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	r := NewRetention(s, 30*24*time.Hour, quiet)
	if n, err := r.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("dropped %d, %v; want 1", n, err)
	}
	var kept int64
	s.DB().Model(&models.Delivery{}).Where("body IS NOT NULL").Count(&kept)
	if kept != 1 {
		t.Fatalf("bodies kept = %d, want the recent one", kept)
	}
	if rows := audits(t, s, shop.ID); len(rows) != 1 || rows[0].Action != models.AuditRetention || rows[0].Rows != 1 {
		t.Fatalf("audit = %+v", rows)
	}
	if n, _ := NewRetention(s, 0, quiet).RunOnce(ctx); n != 0 {
		t.Fatalf("disabled retention dropped %d", n)
	}
}
