package jobs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// connectDesk stores an active helpdesk connection for the flow shop, as
// the admin API would.
func (e *flowEnv) connectDesk(kind string, creds models.HelpdeskCredentials, secret string) models.HelpdeskConnection {
	e.t.Helper()
	c := models.HelpdeskConnection{ShopID: e.shop.ID, Kind: kind, BaseURL: "https://acme." + kind + ".test", Email: "agent@acme.test",
		TicketReasons: strings.Join(models.AllTicketReasons, ",")}
	if err := e.store.CreateHelpdeskConnection(e.ctx, &c, creds, secret); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// deliverTicket stores a ticket webhook as the intake does (verified
// already) and processes it.
func (e *flowEnv) deliverTicket(c models.HelpdeskConnection, body []byte) models.Delivery {
	e.t.Helper()
	e.seq++
	d := &models.Delivery{Platform: c.Kind, ShopDomain: e.shop.Domain, Topic: TopicTicket, EventID: fmt.Sprintf("ticket-%d", e.seq),
		WebhookID: strconv.FormatUint(c.ID, 10), Body: body}
	if _, err := e.store.InsertDelivery(e.ctx, d); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.proc.Process(e.ctx, d.ID); err != nil {
		e.t.Fatalf("process ticket delivery: %v", err)
	}
	got, err := e.store.Delivery(e.ctx, d.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *flowEnv) tickets() []models.Ticket {
	e.t.Helper()
	var ts []models.Ticket
	if err := e.store.DB().Where("shop_id = ?", e.shop.ID).Order("id").Find(&ts).Error; err != nil {
		e.t.Fatal(err)
	}
	return ts
}

// gorgiasTicket is a Gorgias ticket object as its HTTP integration posts
// it (the fields the client reads; app tests post the shared fixture).
func gorgiasTicket(id int64, email, status string, updated time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "status": status, "subject": "Where is my parcel?", "external_id": nil,
		"updated_datetime": updated.UTC().Format("2006-01-02T15:04:05.000000-07:00"), "customer": map[string]any{"email": email}})
	return b
}

// An open ticket holds the customer's review ask; closing it releases the
// ask at once (not at the next hourly recheck).
func TestTicketSync_OpenTicketHoldsReviewAsk_ClosingReleasesIt(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.NPS.Enabled = false; s.Review.HoldExpiry = Duration(10 * 24 * time.Hour) })
	e.msg.cfg.Tickets = StoreTickets{Store: e.store}
	desk := e.connectDesk("gorgias", models.HelpdeskCredentials{APIKey: "key"}, "secret-1")

	const id = 91
	e.deliver("orders/paid", testOrder{id: id, email: "ana@example.com", consent: true, financial: "paid", updated: e.clock()}.json())
	e.deliver("fulfillments/create", fulfillmentJSON(id*10, id, "CB8FR", []int64{id*10 + 1}, e.clock()))
	e.deliver("fulfillment_events/create", eventJSON(id*10+5, id*10, id, "delivered", e.clock()))

	// The desk spells the address its own way: matching ignores case.
	opened := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	if d := e.deliverTicket(desk, gorgiasTicket(4242, "Ana@Example.com", "open", opened)); d.Status != models.DeliveryProcessed {
		t.Fatalf("open ticket delivery %s (%s)", d.Status, d.Error)
	}
	e.advance(8 * 24 * time.Hour)
	ask := e.message(FlowReviewRequest, msgtmpl.StepAsk)
	if ask.Status != models.MessageDeferred || !strings.Contains(ask.Reason, "support ticket open") {
		t.Fatalf("ask %s (%s), want held by the open ticket%s", ask.Status, ask.Reason, e.describe())
	}

	d := e.deliverTicket(desk, gorgiasTicket(4242, "ana@example.com", "closed", opened.Add(time.Hour)))
	if d.Status != models.DeliveryProcessed {
		t.Fatalf("close ticket delivery %s (%s)", d.Status, d.Error)
	}
	if ask := e.message(FlowReviewRequest, msgtmpl.StepAsk); !ask.DueAt.Before(e.clock()) {
		t.Fatalf("closing the ticket left the ask due %s (now %s): not resumed", ask.DueAt, e.clock())
	}
	e.settle()
	if ask := e.message(FlowReviewRequest, msgtmpl.StepAsk); ask.Status != models.MessageSent {
		t.Fatalf("ask after the ticket closed: %s (%s)%s", ask.Status, ask.Reason, e.describe())
	}
	ts := e.tickets()
	if len(ts) != 1 || ts[0].Status != models.TicketClosed || ts[0].CustomerEmail != "ana@example.com" || ts[0].ExternalID != "4242" ||
		ts[0].URL != "https://acme.gorgias.test/app/ticket/4242" {
		t.Fatalf("tickets = %+v", ts)
	}
}

// Deliveries may be processed out of order: an older event never reopens
// a ticket a newer one closed, and the same event twice changes nothing.
func TestTicketSync_OlderEventNeverWins(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	desk := e.connectDesk("gorgias", models.HelpdeskCredentials{APIKey: "key"}, "secret-2")
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	e.deliverTicket(desk, gorgiasTicket(7, "bo@example.com", "closed", t0.Add(time.Hour)))
	e.deliverTicket(desk, gorgiasTicket(7, "bo@example.com", "open", t0))
	e.deliverTicket(desk, gorgiasTicket(7, "bo@example.com", "open", t0))
	if ts := e.tickets(); len(ts) != 1 || ts[0].Status != models.TicketClosed || !ts[0].RemoteUpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("tickets = %+v", ts)
	}
}

// Zendesk signatures expire after the replay window, and the intake keeps
// only the body: a delivery processed late (a retry, a backlog) still
// parses, and one of a disconnected desk is ignored, not failed.
func TestTicketSync_ZendeskLateProcessing_DisconnectedIgnored(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	desk := e.connectDesk("zendesk", models.HelpdeskCredentials{APIToken: "tok", WebhookSecret: "zd-signing"}, "secret-3")
	body := []byte(`{"ticket":{"id":"515","status":"Pending","subject":"Colis abîmé","requester_email":"cleo@example.com"}}`)
	d := e.deliverTicket(desk, body)
	if d.Status != models.DeliveryProcessed || d.ShopID != e.shop.ID {
		t.Fatalf("delivery %s (%s) shop %d", d.Status, d.Error, d.ShopID)
	}
	if ts := e.tickets(); len(ts) != 1 || ts[0].Status != models.TicketPending || ts[0].CustomerEmail != "cleo@example.com" ||
		ts[0].Subject != "Colis abîmé" || ts[0].RemoteUpdatedAt != nil {
		t.Fatalf("tickets = %+v", ts)
	}

	if err := e.store.DisconnectHelpdesk(e.ctx, e.shop.ID, desk.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	d = e.deliverTicket(desk, []byte(`{"ticket":{"id":"515","status":"solved","requester_email":"cleo@example.com"}}`))
	if d.Status != models.DeliveryIgnored {
		t.Fatalf("after disconnect: delivery %s (%s), want ignored", d.Status, d.Error)
	}
	if ts := e.tickets(); ts[0].Status != models.TicketPending {
		t.Fatalf("a disconnected desk changed the ticket: %+v", ts[0])
	}
}

// A body the desk's client cannot read fails its delivery with the reason
// (kept for a replay), without retries.
func TestTicketSync_UnreadableBody_DeliveryFailed(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	desk := e.connectDesk("freshdesk", models.HelpdeskCredentials{APIKey: "key"}, "secret-4")
	d := &models.Delivery{Platform: "freshdesk", ShopDomain: e.shop.Domain, Topic: TopicTicket, EventID: "bad",
		WebhookID: strconv.FormatUint(desk.ID, 10), Body: []byte(`{"freshdesk_webhook":{"ticket_id":"{{ticket.id}}"}}`)}
	if _, err := e.store.InsertDelivery(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.proc.Process(e.ctx, d.ID); err == nil {
		t.Fatal("an unreadable ticket body processed without error")
	}
	got, _ := e.store.Delivery(e.ctx, d.ID)
	if got.Status != models.DeliveryFailed || !strings.HasPrefix(got.Error, "parse: freshdesk webhook") || len(e.tickets()) != 0 {
		t.Fatalf("delivery %s (%s), tickets %d", got.Status, got.Error, len(e.tickets()))
	}
}

// The dispatcher batches a backlog: ticket deliveries ride in the same
// batch as Shopify's and are applied alike.
func TestTicketSync_BatchWithShopifyDeliveries(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	desk := e.connectDesk("freshdesk", models.HelpdeskCredentials{APIKey: "key"}, "secret-5")
	var ids []uint64
	for i, d := range []*models.Delivery{
		{Platform: "shopify", ShopDomain: e.shop.Domain, Topic: "orders/paid", EventID: "o-1",
			Body: testOrder{id: 77, email: "dee@example.com", financial: "paid", updated: e.clock()}.json()},
		{Platform: "freshdesk", ShopDomain: e.shop.Domain, Topic: TopicTicket, EventID: "t-1", WebhookID: strconv.FormatUint(desk.ID, 10),
			Body: []byte(`{"freshdesk_webhook":{"ticket_id":"88","ticket_subject":"Late","ticket_status":"Open","ticket_contact_email":"dee@example.com"}}`)},
	} {
		if _, err := e.store.InsertDelivery(e.ctx, d); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		ids = append(ids, d.ID)
	}
	if _, err := e.proc.ProcessBatch(e.ctx, ids); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if d, _ := e.store.Delivery(e.ctx, id); d.Status != models.DeliveryProcessed {
			t.Fatalf("delivery %d (%s): %s (%s)", id, d.Platform, d.Status, d.Error)
		}
	}
	open, err := StoreTickets{Store: e.store}.OpenTicket(e.ctx, nil, e.shop.ID, 77)
	if err != nil || !open {
		t.Fatalf("OpenTicket = %v, %v; want the Freshdesk ticket to count", open, err)
	}
}
