package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/helpdesktest"
	"github.com/doorstep/doorstep/integrations/helpdesk/zendesk"
	"github.com/doorstep/doorstep/models"
)

// sharedFixture reads a payload from ../shared/fixtures, skipping the test
// when the shared folder is not checked out next to the repository.
func sharedFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "fixtures", name))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("../shared/fixtures/%s is absent: the real helpdesk payloads live outside the repository", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postTicketWebhook posts a body to a helpdesk webhook URL with headers.
func (e *testEnv) postTicketWebhook(path string, h http.Header, body []byte) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func secretHeader(secret string) http.Header {
	h := http.Header{}
	h.Set(helpdesk.SecretHeader, secret)
	return h
}

func (e *testEnv) shopTickets(shopID uint64) []models.Ticket {
	e.t.Helper()
	var ts []models.Ticket
	if err := e.app.db.Where("shop_id = ?", shopID).Order("id").Find(&ts).Error; err != nil {
		e.t.Fatal(err)
	}
	return ts
}

// connectGorgiasDesk connects a fake Gorgias through the admin API and
// returns the connection and the secret its integrations send.
func (e *testEnv) connectGorgiasDesk(dom string) (hdConnection, string, *helpdesktest.Fake) {
	e.t.Helper()
	fake := helpdesktest.StartGorgias(e.t, "agent@acme.test", "gorgias-key", "unused")
	var got hdConnected
	e.callAdminJSON("POST", "/api/admin/helpdesks", e.fake.SessionToken(dom, time.Minute), map[string]string{
		"kind": "gorgias", "domain": fake.URL(), "email": "agent@acme.test", "api_key": "gorgias-key",
	}).ok(e.t, "connect gorgias", &got)
	return got.Connection, gorgiasSecret(e.t, fake), fake
}

// A real Gorgias ticket-created body lands as one delivery however often
// it is sent, and processing it keeps the ticket.
func TestTicketWebhook_GorgiasFixture_OneDeliveryOneTicket(t *testing.T) {
	t.Parallel()
	body := sharedFixture(t, "gorgias/ticket-created.json")
	e := newEnv(t)
	const dom = "ticket-fixture.myshopify.com"
	shop := e.installShop(dom)
	conn, secret, _ := e.connectGorgiasDesk(dom)

	path := "/webhooks/gorgias/" + conn.ID
	for i := 0; i < 2; i++ {
		if got := e.postTicketWebhook(path, secretHeader(secret), body); got != http.StatusOK {
			t.Fatalf("post %d: %d", i, got)
		}
	}
	if n := e.count("deliveries", "platform = ? AND shop_domain = ?", "gorgias", dom); n != 1 {
		t.Fatalf("%d deliveries for the same webhook twice, want 1", n)
	}
	e.processAll()
	var d models.Delivery
	if err := e.app.db.Where("platform = ?", "gorgias").Take(&d).Error; err != nil {
		t.Fatal(err)
	}
	if d.Status != models.DeliveryProcessed || d.ShopID != shop.ID || d.WebhookID != conn.ID {
		t.Fatalf("delivery %s (%s) shop %d webhook %q", d.Status, d.Error, d.ShopID, d.WebhookID)
	}
	ts := e.shopTickets(shop.ID)
	if len(ts) != 1 {
		t.Fatalf("%d tickets, want 1", len(ts))
	}
	tk := ts[0]
	if tk.ExternalID != "86538298" || tk.CustomerEmail != "test@sample.com" || tk.Status != models.TicketOpen || tk.Subject != "test" ||
		tk.RemoteUpdatedAt == nil || !tk.RemoteUpdatedAt.Equal(time.Date(2024, 2, 14, 21, 30, 50, 228948000, time.UTC)) {
		t.Fatalf("ticket = %+v", tk)
	}
}

// Anything that does not verify is refused with 401 and leaves no trace:
// no delivery, no ticket.
func TestTicketWebhook_Unverified_401NothingStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "ticket-unverified.myshopify.com"
	shop := e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)
	gorgias, gSecret, _ := e.connectGorgiasDesk(dom)

	var fd hdConnected
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{"kind": "freshdesk", "domain": "acme.freshdesk.com", "api_key": "k"}).
		ok(t, "connect freshdesk", &fd)
	var zd hdConnected
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{"kind": "zendesk", "domain": "acme.zendesk.com",
		"email": "a@acme.test", "api_token": "t", "public_key_pem": rsaPublicPEM(t), "webhook_secret": "zd-signing"}).ok(t, "connect zendesk", &zd)

	gBody := []byte(`{"id":1,"status":"open","customer":{"email":"ana@example.com"},"updated_datetime":"2026-11-20T09:00:00+00:00"}`)
	fBody := []byte(`{"freshdesk_webhook":{"ticket_id":"5","ticket_status":"Open","ticket_contact_email":"ana@example.com"}}`)
	zBody := []byte(`{"ticket":{"id":"9","status":"open","requester_email":"ana@example.com"}}`)
	zSigned := func(secret string, at time.Time, body []byte) http.Header {
		ts := at.UTC().Format(time.RFC3339)
		h := http.Header{}
		h.Set(zendesk.TimestampHeader, ts)
		h.Set(zendesk.SignatureHeader, helpdesktest.ZendeskSignature(secret, ts, body))
		return h
	}
	now := time.Now()
	tests := []struct {
		name string
		path string
		h    http.Header
		body []byte
	}{
		{"gorgias wrong secret", "/webhooks/gorgias/" + gorgias.ID, secretHeader(gSecret + "x"), gBody},
		{"gorgias no secret", "/webhooks/gorgias/" + gorgias.ID, http.Header{}, gBody},
		{"gorgias freshdesk's secret", "/webhooks/gorgias/" + gorgias.ID, secretHeader(fd.Install.Settings["doorstep_key"]), gBody},
		{"freshdesk wrong secret", "/webhooks/freshdesk/" + fd.Connection.ID, secretHeader("guess"), fBody},
		{"zendesk bad signature", "/webhooks/zendesk/" + zd.Connection.ID, zSigned("not-the-secret", now, zBody), zBody},
		{"zendesk tampered body", "/webhooks/zendesk/" + zd.Connection.ID, zSigned("zd-signing", now, zBody), append([]byte(" "), zBody...)},
		{"zendesk old timestamp", "/webhooks/zendesk/" + zd.Connection.ID, zSigned("zd-signing", now.Add(-10*time.Minute), zBody), zBody},
		{"zendesk no signature", "/webhooks/zendesk/" + zd.Connection.ID, http.Header{}, zBody},
		{"another desk's path", "/webhooks/zendesk/" + gorgias.ID, secretHeader(gSecret), gBody},
		{"unknown connection", "/webhooks/gorgias/999999", secretHeader(gSecret), gBody},
		{"not a connection id", "/webhooks/gorgias/abc", secretHeader(gSecret), gBody},
	}
	for _, tt := range tests {
		if got := e.postTicketWebhook(tt.path, tt.h, tt.body); got != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tt.name, got)
		}
	}
	// A disconnected connection's secret no longer opens anything.
	e.callAdminJSON("DELETE", "/api/admin/helpdesks/"+gorgias.ID, tok, nil).ok(t, "disconnect", &struct{}{})
	if got := e.postTicketWebhook("/webhooks/gorgias/"+gorgias.ID, secretHeader(gSecret), gBody); got != http.StatusUnauthorized {
		t.Errorf("disconnected: %d, want 401", got)
	}
	e.processAll()
	if n := e.count("deliveries", ""); n != 0 {
		t.Fatalf("%d deliveries stored from unverified webhooks", n)
	}
	if n := len(e.shopTickets(shop.ID)); n != 0 {
		t.Fatalf("%d tickets from unverified webhooks", n)
	}

	// The genuine ones are taken.
	if got := e.postTicketWebhook("/webhooks/freshdesk/"+fd.Connection.ID, secretHeader(fd.Install.Settings["doorstep_key"]), fBody); got != http.StatusOK {
		t.Errorf("freshdesk genuine: %d", got)
	}
	if got := e.postTicketWebhook("/webhooks/zendesk/"+zd.Connection.ID, zSigned("zd-signing", now, zBody), zBody); got != http.StatusOK {
		t.Errorf("zendesk genuine: %d", got)
	}
	e.processAll()
	if ts := e.shopTickets(shop.ID); len(ts) != 2 || ts[0].CustomerEmail != "ana@example.com" || ts[1].CustomerEmail != "ana@example.com" {
		t.Fatalf("tickets = %+v", ts)
	}
}

// Zendesk signs with a secret the merchant copies after connecting: until
// it is set every event is refused; then the fake's event-subscription
// deliveries are taken.
func TestTicketWebhook_Zendesk_SecretSetAfterConnecting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "ticket-zendesk.myshopify.com"
	shop := e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)
	fake := helpdesktest.StartZendesk(t, "agent@acme.test", "zd-token", "zd-signing")
	var zd hdConnected
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{"kind": "zendesk", "domain": fake.URL(),
		"email": "agent@acme.test", "api_token": "zd-token", "public_key_pem": rsaPublicPEM(t)}).ok(t, "connect zendesk", &zd)

	desk, err := zendesk.New(helpdesk.Connection{BaseURL: fake.URL(), Email: "agent@acme.test", APIToken: "zd-token"}, fake.Client())
	if err != nil {
		t.Fatal(err)
	}
	tk, err := desk.CreateTicket(context.Background(), helpdesk.NewTicket{CustomerEmail: "ana@example.com", Subject: "Late", Body: "Where is it?"})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseInt(tk.ExternalID, 10, 64)
	path := "/webhooks/zendesk/" + zd.Connection.ID
	h, body := fake.Webhook(id, fake.Secret(), time.Now())
	if got := e.postTicketWebhook(path, h, body); got != http.StatusUnauthorized {
		t.Fatalf("before the signing secret is set: %d, want 401", got)
	}
	e.callAdminJSON("PATCH", "/api/admin/helpdesks/"+zd.Connection.ID, tok, map[string]string{"webhook_secret": fake.Secret()}).ok(t, "set secret", &struct{}{})
	if got := e.postTicketWebhook(path, h, body); got != http.StatusOK {
		t.Fatalf("after: %d, want 200", got)
	}
	e.processAll()
	ts := e.shopTickets(shop.ID)
	if len(ts) != 1 || ts[0].ExternalID != tk.ExternalID || ts[0].Status != models.TicketOpen || ts[0].URL != fake.URL()+"/agent/tickets/"+tk.ExternalID {
		t.Fatalf("tickets = %+v", ts)
	}
}

// Closing a customer's ticket makes their held messages due now, so the
// sender decides again at once rather than at the hourly recheck.
func TestTicketWebhook_ClosedTicket_ResumesCustomersHeldMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "ticket-resume.myshopify.com"
	shop := e.installShop(dom)
	conn, secret, _ := e.connectGorgiasDesk(dom)
	const order, otherOrder = 5_500_000_000_000_001, 5_500_000_000_000_002
	created := time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Second)
	for _, o := range []struct {
		id    int64
		email string
	}{{order, "Ana@Example.com"}, {otherOrder, "bo@example.com"}} {
		if got := e.post(webhook{shop: dom, topic: "orders/paid", body: shopOrder(o.id, o.id%10000, o.email, created, "paid")}); got != http.StatusOK {
			t.Fatalf("order %d: %d", o.id, got)
		}
	}
	e.processAll()
	// Two review asks the sender held (as it does while a ticket is open).
	later := time.Now().Add(time.Hour).UTC()
	var ids []uint64
	for _, o := range []int64{order, otherOrder} {
		m := &models.Message{ShopID: shop.ID, OrderPlatformID: o, Flow: "review_request", Step: "ask", Channel: "email",
			Recipient: "x@example.com", Marketing: true}
		if _, err := e.app.store.QueueMessage(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		held := time.Now().UTC()
		err := e.app.db.Model(&models.Message{}).Where("id = ?", m.ID).Updates(map[string]any{
			"status": models.MessageDeferred, "reason": "held: support ticket open", "held_since": held, "due_at": later}).Error
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	path := "/webhooks/gorgias/" + conn.ID
	t0 := time.Now().Add(-time.Hour).UTC()
	post := func(status string, at time.Time) {
		body, _ := json.Marshal(map[string]any{"id": 31, "status": status, "subject": "Where is my order?",
			"customer": map[string]any{"email": "ana@example.com"}, "updated_datetime": at.Format(time.RFC3339Nano)})
		if got := e.postTicketWebhook(path, secretHeader(secret), body); got != http.StatusOK {
			t.Fatalf("%s ticket: %d", status, got)
		}
		e.processAll()
	}
	due := func(id uint64) time.Time {
		var m models.Message
		if err := e.app.db.Take(&m, id).Error; err != nil {
			t.Fatal(err)
		}
		return m.DueAt
	}
	post("open", t0)
	if d := due(ids[0]); d.Before(time.Now()) {
		t.Fatalf("an open ticket resumed the held ask (due %s)", d)
	}
	post("closed", t0.Add(time.Minute))
	if d := due(ids[0]); d.After(time.Now()) {
		t.Fatalf("closing the ticket left the customer's ask due %s", d)
	}
	if d := due(ids[1]); d.Before(time.Now()) {
		t.Fatalf("closing the ticket resumed another customer's ask (due %s)", d)
	}
}
