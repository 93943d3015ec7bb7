package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// callAdminJSON calls the admin API with a body (a string is sent as is,
// anything else as JSON).
func (e *testEnv) callAdminJSON(method, path, token string, body any) adminReply {
	e.t.Helper()
	var raw []byte
	switch v := body.(type) {
	case nil:
	case string:
		raw = []byte(v)
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return adminReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// errorNaming checks the error shape and that its message names what.
func (r adminReply) errorNaming(t *testing.T, what string, status int, code string, names ...string) {
	t.Helper()
	r.isError(t, what, status, code)
	for _, n := range names {
		if !strings.Contains(string(r.body), n) {
			t.Fatalf("%s: error %s does not name %q", what, r.body, n)
		}
	}
}

func TestMessagesAPI_Settings_DefaultsPartialUpdateAndRejections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "settings.myshopify.com"
	e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)

	var got jobs.Settings
	e.callAdminJSON("GET", "/api/admin/settings", tok, nil).ok(t, "GET defaults", &got)
	def := jobs.DefaultSettings()
	if got.Locale != "en" || !got.ThankYou.Enabled || got.Review.After != def.Review.After || got.Cap.Max != def.Cap.Max {
		t.Fatalf("defaults = %+v", got)
	}

	// Nothing saved yet, and a bad PUT saves nothing.
	e.callAdminJSON("PUT", "/api/admin/settings", tok, `{"thank_you":{"delay":"soon"}}`).
		errorNaming(t, "bad duration", http.StatusUnprocessableEntity, "invalid_settings", "thank_you.delay")
	if n := e.count("shop_settings", ""); n != 0 {
		t.Fatalf("%d settings rows after a rejected PUT, want 0", n)
	}

	e.callAdminJSON("PUT", "/api/admin/settings", tok, `{"thank_you":{"delay":"30s"},"brand":{"color":"#112233"}}`).ok(t, "PUT partial", &got)
	if got.ThankYou.Delay.D() != 30*time.Second || got.Brand.Color != "#112233" || got.Review.After != def.Review.After || !got.ThankYou.Enabled {
		t.Fatalf("after partial PUT = %+v", got)
	}
	var again jobs.Settings
	e.callAdminJSON("GET", "/api/admin/settings", tok, nil).ok(t, "GET after PUT", &again)
	if again.ThankYou.Delay.D() != 30*time.Second || again.Brand.Color != "#112233" {
		t.Fatalf("PUT did not persist: %+v", again)
	}

	bad := []struct{ name, body, field string }{
		{"bad duration", `{"thank_you":{"delay":"tomorrow"}}`, "thank_you.delay"},
		{"duration of the wrong type", `{"review":{"after":true}}`, "review.after"},
		{"negative duration", `{"review":{"after":"-1h"}}`, "review.after"},
		{"bad colour", `{"brand":{"color":"red"}}`, "brand.color"},
		{"bool as string", `{"nps":{"enabled":"yes"}}`, "nps.enabled"},
		{"unknown field", `{"thank_you":{"delay":"1h","colour":"x"}}`, "thank_you.colour"},
		{"bad quiet hours", `{"quiet_hours":{"email_start":"25:00"}}`, "quiet_hours.email_start"},
		{"not json", `{"thank_you":`, "body"},
	}
	for _, tc := range bad {
		e.callAdminJSON("PUT", "/api/admin/settings", tok, tc.body).
			errorNaming(t, tc.name, http.StatusUnprocessableEntity, "invalid_settings", tc.field)
	}
	e.callAdminJSON("GET", "/api/admin/settings", tok, nil).ok(t, "GET after rejections", &again)
	if again.ThankYou.Delay.D() != 30*time.Second || again.Brand.Color != "#112233" || again.Review.After != def.Review.After {
		t.Fatalf("a rejected PUT changed the settings: %+v", again)
	}
}

type templatesBody struct {
	Flow    string `json:"flow"`
	Locales map[string]struct {
		Default msgtmpl.Set  `json:"default"`
		Custom  *msgtmpl.Set `json:"custom"`
	} `json:"locales"`
}

func TestMessagesAPI_Templates_ValidatedSavedAndShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "templates.myshopify.com"
	e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)

	var got templatesBody
	e.callAdminJSON("GET", "/api/admin/templates/thank_you", tok, nil).ok(t, "GET defaults", &got)
	if got.Flow != "thank_you" || len(got.Locales) != len(msgtmpl.Locales()) {
		t.Fatalf("GET = %+v", got)
	}
	for _, loc := range msgtmpl.Locales() {
		l, ok := got.Locales[loc]
		if !ok || l.Default.Subject == "" || l.Default.HTML == "" || l.Custom != nil {
			t.Fatalf("locale %s = %+v", loc, l)
		}
	}
	e.callAdminJSON("GET", "/api/admin/templates/nope", tok, nil).isError(t, "unknown flow", http.StatusNotFound, "not_found")
	e.callAdminJSON("PUT", "/api/admin/templates/nope", tok, `{"locales":{}}`).isError(t, "PUT unknown flow", http.StatusNotFound, "not_found")

	bad := []struct {
		name, body string
		names      []string
	}{
		{"html syntax", `{"locales":{"en":{"subject":"Thanks {{.Order.Name}}"},"fr":{"html":"<p>{{.Order.Name</p>"}}}`, []string{"fr", "html"}},
		{"unknown field", `{"locales":{"de":{"subject":"Danke {{.Order.Nope}}"}}}`, []string{"de", "subject"}},
		{"bad locale", `{"locales":{"english":{"subject":"Thanks"}}}`, []string{"english"}},
	}
	for _, tc := range bad {
		e.callAdminJSON("PUT", "/api/admin/templates/thank_you", tok, tc.body).
			errorNaming(t, tc.name, http.StatusUnprocessableEntity, "invalid_template", tc.names...)
	}
	// A review request must keep its unsubscribe link.
	e.callAdminJSON("PUT", "/api/admin/templates/review_request", tok, `{"locales":{"en":{"text":"Review us!"}}}`).
		errorNaming(t, "no unsubscribe", http.StatusUnprocessableEntity, "invalid_template", "en", "text")
	e.callAdminJSON("PUT", "/api/admin/templates/thank_you", tok, `{}`).isError(t, "no locales", http.StatusBadRequest, "bad_request")
	if n := e.count("message_templates", ""); n != 0 {
		t.Fatalf("%d templates saved by rejected PUTs, want 0", n)
	}

	body := map[string]any{"locales": map[string]msgtmpl.Set{
		"en":    {Subject: "Thanks for {{.Order.Name}}!"},
		"fr-CA": {Subject: "Merci pour {{.Order.Name}}"},
	}}
	e.callAdminJSON("PUT", "/api/admin/templates/thank_you", tok, body).ok(t, "PUT valid", &got)
	e.callAdminJSON("GET", "/api/admin/templates/thank_you", tok, nil).ok(t, "GET custom", &got)
	if c := got.Locales["en"].Custom; c == nil || c.Subject != "Thanks for {{.Order.Name}}!" {
		t.Fatalf("en = %+v", got.Locales["en"])
	}
	frCA := got.Locales["fr-CA"]
	if frCA.Custom == nil || frCA.Custom.Subject != "Merci pour {{.Order.Name}}" || !strings.Contains(frCA.Default.Subject, "Merci") {
		t.Fatalf("fr-CA = %+v", frCA)
	}
	if got.Locales["fr"].Custom != nil {
		t.Fatalf("fr has a custom set: %+v", got.Locales["fr"])
	}
	if n := e.count("message_templates", "flow = ?", "thank_you"); n != 2 {
		t.Fatalf("%d saved templates, want 2", n)
	}
	var replaced templatesBody
	// Sending a flow's locales again replaces them: fr-CA left out goes back
	// to the defaults.
	e.callAdminJSON("PUT", "/api/admin/templates/thank_you", tok, map[string]any{"locales": map[string]msgtmpl.Set{"en": {Subject: "Hi {{.Order.Name}}"}}}).ok(t, "PUT again", &replaced)
	if _, ok := replaced.Locales["fr-CA"]; ok || replaced.Locales["en"].Custom == nil || replaced.Locales["en"].Custom.Subject != "Hi {{.Order.Name}}" {
		t.Fatalf("after replacing: %+v", replaced)
	}
}

type previewBody struct {
	Subject, HTML, Text, SMS string
}

func TestMessagesAPI_Preview_RealOrderOverrideAndTenancy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const domA, domB = "preview-a.myshopify.com", "preview-b.myshopify.com"
	e.installShop(domA)
	e.installShop(domB)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-24 * time.Hour)
	const orderA, orderB = 4_100_000_000_000_001, 4_200_000_000_000_001
	e.post(webhook{shop: domA, topic: "orders/paid", body: shopOrder(orderA, 3141, "pi@a.example", t0, "paid")})
	e.post(webhook{shop: domB, topic: "orders/paid", body: shopOrder(orderB, 2718, "e@b.example", t0, "paid")})
	e.processAll()
	tok := e.fake.SessionToken(domA, time.Minute)
	path := "/api/admin/templates/thank_you/preview"

	var got previewBody
	e.callAdminJSON("POST", path, tok, map[string]any{"order_id": strconv.FormatInt(orderA, 10)}).ok(t, "preview", &got)
	if !strings.Contains(got.Subject, "#3141") || !strings.Contains(got.HTML, "#3141") || got.Text == "" || got.SMS == "" {
		t.Fatalf("preview = %+v", got)
	}
	e.callAdminJSON("POST", path, tok, map[string]any{"order_id": strconv.FormatInt(orderA, 10), "locale": "fr"}).ok(t, "preview fr", &got)
	if !strings.Contains(got.Subject, "Merci") || !strings.Contains(got.Subject, "#3141") {
		t.Fatalf("French preview subject = %q", got.Subject)
	}
	e.callAdminJSON("POST", path, tok, map[string]any{"order_id": strconv.FormatInt(orderA, 10),
		"template": msgtmpl.Set{Subject: "Preview of {{.Order.Name}} for {{.Customer.FirstName}}"}}).ok(t, "override", &got)
	if got.Subject != "Preview of #3141 for Ana" {
		t.Fatalf("override subject = %q", got.Subject)
	}

	e.callAdminJSON("POST", path, tok, map[string]any{"order_id": strconv.FormatInt(orderA, 10), "template": msgtmpl.Set{Subject: "{{.Nope}}"}}).
		errorNaming(t, "bad override", http.StatusUnprocessableEntity, "invalid_template", "subject")
	e.callAdminJSON("POST", path, tok, map[string]any{"order_id": "999"}).isError(t, "unknown order", http.StatusNotFound, "not_found")
	r := e.callAdminJSON("POST", path, tok, map[string]any{"order_id": strconv.FormatInt(orderB, 10)})
	r.isError(t, "shop B's order", http.StatusNotFound, "not_found")
	if strings.Contains(string(r.body), "2718") {
		t.Fatalf("shop B's order leaks: %s", r.body)
	}
	e.callAdminJSON("POST", path, tok, map[string]any{"order_id": "x"}).isError(t, "bad id", http.StatusBadRequest, "bad_request")
	e.callAdminJSON("POST", "/api/admin/templates/nope/preview", tok, map[string]any{"order_id": "1"}).isError(t, "unknown flow", http.StatusNotFound, "not_found")
}

type holdBody struct {
	ID      string `json:"id"`
	OrderID string `json:"order_id"`
	Reason  string `json:"reason"`
	Note    string `json:"note"`
}

func TestMessagesAPI_Hold_SetClearResumeAndTenancy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const domA, domB = "hold-a.myshopify.com", "hold-b.myshopify.com"
	shopA := e.installShop(domA)
	shopB := e.installShop(domB)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-24 * time.Hour)
	const orderA, orderB = 3_100_000_000_000_001, 3_200_000_000_000_001
	e.post(webhook{shop: domA, topic: "orders/paid", body: shopOrder(orderA, 1001, "a@a.example", t0, "paid")})
	e.post(webhook{shop: domB, topic: "orders/paid", body: shopOrder(orderB, 2001, "b@b.example", t0, "paid")})
	e.processAll()
	ctx := context.Background()
	tokA := e.fake.SessionToken(domA, time.Minute)
	holdA := "/api/admin/orders/" + strconv.FormatInt(orderA, 10) + "/hold"
	holdB := "/api/admin/orders/" + strconv.FormatInt(orderB, 10) + "/hold"
	active := func(shopID uint64, order int64) int64 {
		t.Helper()
		return e.count("order_holds", "shop_id = ? AND order_platform_id = ? AND cleared_at IS NULL", shopID, order)
	}

	// A held review ask, waiting on the hold.
	since := time.Now().UTC().Add(-time.Hour)
	held := &models.Message{ShopID: shopA.ID, OrderPlatformID: orderA, Flow: "review_request", Step: "ask", Channel: "email",
		Recipient: "a@a.example", Marketing: true, Status: models.MessageDeferred, Reason: "held: manual",
		DueAt: time.Now().UTC().Add(time.Hour), HeldSince: &since}
	if _, err := e.app.store.QueueMessage(ctx, held); err != nil {
		t.Fatal(err)
	}

	var h holdBody
	r := e.callAdminJSON("POST", holdA, tokA, map[string]string{"note": "customer called about a broken mug"})
	if r.status != http.StatusCreated {
		t.Fatalf("first hold: %d %s, want 201", r.status, r.body)
	}
	r.ok(t, "first hold", &h)
	if h.Reason != "manual" || h.Note != "customer called about a broken mug" || h.OrderID != strconv.FormatInt(orderA, 10) || h.ID == "" {
		t.Fatalf("hold = %+v", h)
	}
	var again holdBody
	r = e.callAdminJSON("POST", holdA, tokA, map[string]string{"note": "again"})
	if r.status != http.StatusOK {
		t.Fatalf("second hold: %d %s, want 200", r.status, r.body)
	}
	r.ok(t, "second hold", &again)
	if again.ID != h.ID || active(shopA.ID, orderA) != 1 {
		t.Fatalf("second hold = %+v (first %+v), %d active", again, h, active(shopA.ID, orderA))
	}
	e.callAdminJSON("POST", holdA, tokA, map[string]string{"note": strings.Repeat("x", 1025)}).
		isError(t, "long note", http.StatusUnprocessableEntity, "invalid_note")
	e.callAdminJSON("POST", holdA, tokA, `{"note":`).isError(t, "bad json", http.StatusBadRequest, "bad_request")

	// Shop A cannot hold or clear shop B's order, nor an unknown one.
	if _, _, err := e.app.store.SetHold(ctx, shopB.ID, orderB, "manual", "B's own"); err != nil {
		t.Fatal(err)
	}
	e.callAdminJSON("POST", holdB, tokA, map[string]string{"note": "x"}).isError(t, "hold B", http.StatusNotFound, "not_found")
	e.callAdminJSON("DELETE", holdB, tokA, nil).isError(t, "clear B", http.StatusNotFound, "not_found")
	e.callAdminJSON("POST", "/api/admin/orders/42/hold", tokA, nil).isError(t, "unknown order", http.StatusNotFound, "not_found")
	e.callAdminJSON("POST", "/api/admin/orders/abc/hold", tokA, nil).isError(t, "bad id", http.StatusNotFound, "not_found")
	if active(shopB.ID, orderB) != 1 || e.count("order_holds", "shop_id = ? AND order_platform_id = ?", shopA.ID, orderB) != 0 {
		t.Fatal("shop A's calls changed shop B's holds")
	}

	var cleared struct{ Cleared, Resumed int64 }
	e.callAdminJSON("DELETE", holdA, tokA, nil).ok(t, "clear", &cleared)
	if cleared.Cleared != 1 || cleared.Resumed != 1 || active(shopA.ID, orderA) != 0 {
		t.Fatalf("clear = %+v, %d active", cleared, active(shopA.ID, orderA))
	}
	m, err := e.app.store.Message(ctx, held.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.DueAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("held message still due at %v after the hold was cleared", m.DueAt)
	}
	e.callAdminJSON("DELETE", holdA, tokA, nil).ok(t, "clear again", &cleared)
	if cleared.Cleared != 0 {
		t.Fatalf("second clear = %+v", cleared)
	}
	// An empty body is a hold without a note.
	r = e.callAdminJSON("POST", holdA, tokA, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("hold without body: %d %s", r.status, r.body)
	}
}
