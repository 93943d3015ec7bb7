package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/email"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/integrations/notify/sms"
	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// flowEnv runs the post-purchase flows for real: deliveries through the
// processor into PostgreSQL, triggers through the flows, messages through
// the messenger to an in-process SMTP server and a fake Twilio — on a fake
// clock, so a week-long flow runs in milliseconds.
type flowEnv struct {
	t     *testing.T
	ctx   context.Context
	store *models.Store
	shop  models.Shop
	proc  *Processor
	run   *TriggerRunner
	flows *Flows
	msg   *Messenger
	scan  *DelayScanner
	sink  *notifytest.SMTPSink
	tw    *notifytest.Twilio
	enq   *recordingEnqueuer

	mu  sync.Mutex
	now time.Time
	seq int
}

// recordingEnqueuer stands in for asynq where a test drives the handlers
// itself (the end-to-end test through asynq lives in the app package).
type recordingEnqueuer struct {
	mu    sync.Mutex
	tasks []string
}

func (r *recordingEnqueuer) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, t.Type())
	return &asynq.TaskInfo{}, nil
}

const testTwilioSID, testTwilioToken = "AC0123456789abcdef0123456789abcdef", "twilio-secret"

// Paris: the test shoppers ship to France.
var paris, _ = time.LoadLocation("Europe/Paris")

func newFlowEnv(t *testing.T, configure func(*Settings)) *flowEnv {
	t.Helper()
	e := &flowEnv{t: t, ctx: context.Background(), store: modelstest.Store(t), enq: &recordingEnqueuer{}}
	// A fixed morning in Paris: daytime for the shoppers, the same text in
	// the golden files every day, and after the real now (rows written with
	// the database's clock are then in the past).
	e.now = time.Date(2030, 3, 12, 10, 0, 0, 0, paris).UTC()

	e.sink = notifytest.StartSMTP(t)
	st, err := email.ParseURL(e.sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	mail, err := email.New(st, "shop@doorstep.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mail.Close() })
	e.tw = notifytest.StartTwilio(t, testTwilioSID, testTwilioToken)
	text := sms.New(sms.Settings{AccountSID: testTwilioSID, AuthToken: testTwilioToken, From: "+15005550006", BaseURL: e.tw.URL()}, e.tw.Client())

	renderer, err := msgtmpl.New()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := links.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	composer := NewComposer(e.store, renderer, signer, "https://doorstep.test").WithClock(e.clock)
	e.msg = NewMessenger(e.store, composer, e.enq, MessengerConfig{
		Channels: map[string]Sender{notify.EmailChannel: mail, notify.SMSChannel: text}, Now: e.clock}, quiet)
	// The loyalty flow rides along; it does nothing until a test turns
	// the program on.
	e.flows = NewFlows(append(MessageFlows(e.store, nil, e.clock), NewLoyaltyFlow(e.store, nil, e.clock, quiet))...)
	e.run = NewTriggerRunner(e.store, e.flows, quiet)
	e.scan = NewDelayScanner(e.store, nil, e.clock, quiet)
	e.proc = NewProcessor(e.store, map[string]commerce.Webhooks{"shopify": shopify.New(shopify.Config{APISecret: "x"})}, quiet, nil)

	installed := e.now.Add(-time.Hour)
	e.shop, err = e.store.SaveInstall(e.ctx, models.Shop{Platform: "shopify", Domain: "flows.myshopify.com", Name: "Maison Verte",
		Email: "owner@maison-verte.example", Timezone: "Europe/Paris", InstalledAt: &installed}, models.Token{AccessToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	set := DefaultSettings()
	set.Sender.FromEmail = "hello@maison-verte.example"
	if configure != nil {
		configure(&set)
	}
	if err := SaveSettings(e.ctx, e.store, e.shop.ID, set); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *flowEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// deliver stores a webhook and processes it, as the intake and the
// delivery:process task would.
func (e *flowEnv) deliver(topic string, body []byte) {
	e.t.Helper()
	e.seq++
	d := &models.Delivery{Platform: "shopify", ShopDomain: e.shop.Domain, Topic: topic, EventID: fmt.Sprintf("ev-%d", e.seq), Body: body}
	if _, err := e.store.InsertDelivery(e.ctx, d); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.proc.Process(e.ctx, d.ID); err != nil {
		e.t.Fatalf("process %s: %v", topic, err)
	}
	e.settle()
}

// settle runs due triggers through the flows and sends due messages,
// until nothing more happens at the current time.
func (e *flowEnv) settle() {
	e.t.Helper()
	for round := 0; round < 20; round++ {
		now := e.clock()
		ts, err := e.store.DueTriggers(e.ctx, e.flows.Kinds(), now.Add(time.Hour), now.Add(time.Hour), 100)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, tr := range ts {
			task, _ := NewTriggerTask(tr.ID)
			if err := e.run.ProcessTask(e.ctx, task); err != nil {
				e.t.Fatalf("trigger %s: %v", tr.Kind, err)
			}
		}
		ms, err := e.store.DueMessages(e.ctx, now, now.Add(time.Hour), now.Add(-DefaultStaleSending), 100)
		if err != nil {
			e.t.Fatal(err)
		}
		// As the dispatcher does: several due messages go as one batch.
		switch len(ms) {
		case 0:
		case 1:
			if err := e.msg.Send(e.ctx, ms[0].ID); err != nil {
				e.t.Fatalf("send message %d: %v", ms[0].ID, err)
			}
		default:
			ids := make([]uint64, len(ms))
			for i, m := range ms {
				ids[i] = m.ID
			}
			if err := e.msg.SendBatch(e.ctx, ids); err != nil {
				e.t.Fatalf("send messages %v: %v", ids, err)
			}
		}
		if len(ts) == 0 && len(ms) == 0 {
			return
		}
	}
	e.t.Fatal("flows did not settle in 20 rounds")
}

// advance moves the clock forward in steps (so each due time is met in
// order) and settles at each.
func (e *flowEnv) advance(d time.Duration) {
	e.t.Helper()
	const step = 30 * time.Minute
	for d > 0 {
		s := min(step, d)
		e.mu.Lock()
		e.now = e.now.Add(s)
		e.mu.Unlock()
		e.settle()
		d -= s
	}
}

// messages lists the shop's message rows, oldest first.
func (e *flowEnv) messages() []models.Message {
	e.t.Helper()
	var ms []models.Message
	if err := e.store.DB().Where("shop_id = ?", e.shop.ID).Order("id").Find(&ms).Error; err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func (e *flowEnv) message(flow, step string) models.Message {
	e.t.Helper()
	for _, m := range e.messages() {
		if m.Flow == flow && m.Step == step {
			return m
		}
	}
	e.t.Fatalf("no %s/%s message; have %s", flow, step, e.describe())
	return models.Message{}
}

func (e *flowEnv) describe() string {
	var b strings.Builder
	for _, m := range e.messages() {
		fmt.Fprintf(&b, "\n  %d %s/%s %s %s→%s (%s) due %s", m.ID, m.Flow, m.Step, m.Subject, m.Channel, m.Status, m.Reason, m.DueAt.Format(time.RFC3339))
	}
	return b.String()
}

var linkRe = regexp.MustCompile(`https://doorstep\.test/([tfpu])/[A-Za-z0-9_-]+`)

// transcript is what the shopper received, in order, with link tokens
// replaced by their purpose (they embed expiry times and MACs).
func (e *flowEnv) transcript() string {
	var b strings.Builder
	for _, m := range e.sink.Messages() {
		fmt.Fprintf(&b, "To: %s\nSubject: %s\n", strings.Join(m.To, ", "), m.Subject)
		if lu := m.Header.Get("List-Unsubscribe"); lu != "" {
			fmt.Fprintf(&b, "List-Unsubscribe: %s\nList-Unsubscribe-Post: %s\n", linkRe.ReplaceAllString(lu, "<link:$1>"), m.Header.Get("List-Unsubscribe-Post"))
		}
		fmt.Fprintf(&b, "\n%s\n==========\n", strings.TrimSpace(linkRe.ReplaceAllString(m.Text, "<link:$1>")))
	}
	for _, m := range e.tw.Messages() {
		fmt.Fprintf(&b, "SMS to %s:\n%s\n==========\n", m.To, linkRe.ReplaceAllString(m.Body, "<link:$1>"))
	}
	return b.String()
}

// ---- payloads (Shopify's webhook shapes) ----

type testOrder struct {
	id        int64
	email     string
	phone     string
	consent   bool
	financial string
	cancelled bool
	updated   time.Time
	country   string
	province  string
}

func (o testOrder) json() []byte {
	consent := "not_subscribed"
	if o.consent {
		consent = "subscribed"
	}
	body := map[string]any{
		"id": o.id, "name": fmt.Sprintf("#%d", 1000+o.id%1000), "order_number": 1000 + o.id%1000, "email": o.email, "phone": o.phone,
		"currency": "EUR", "subtotal_price": "64.00", "total_price": "71.90", "total_tax": "7.90", "total_discounts": "0.00",
		"total_shipping_price_set": map[string]any{"shop_money": map[string]any{"amount": "5.90", "currency_code": "EUR"}},
		"financial_status":         o.financial, "customer_locale": "en",
		"created_at": o.updated.Add(-time.Minute).Format(time.RFC3339), "updated_at": o.updated.Format(time.RFC3339),
		"shipping_address": map[string]any{"first_name": "Ana", "last_name": "Lima", "address1": "3 rue des Lilas", "city": "Lyon",
			"zip": "69003", "country_code": orDefault(o.country, "FR"), "province_code": o.province, "phone": o.phone},
		"customer": map[string]any{"id": 5500 + o.id, "email": o.email, "first_name": "Ana", "last_name": "Lima", "phone": o.phone,
			"created_at": o.updated.Add(-time.Hour).Format(time.RFC3339), "updated_at": o.updated.Format(time.RFC3339),
			"email_marketing_consent": map[string]any{"state": consent}, "sms_marketing_consent": map[string]any{"state": consent}},
		"line_items": []any{
			map[string]any{"id": o.id*10 + 1, "product_id": 701, "variant_id": 7011, "title": "Linen apron", "variant_title": "Sage",
				"quantity": 1, "price": "34.00"},
			map[string]any{"id": o.id*10 + 2, "product_id": 702, "variant_id": 7021, "title": "Herb scissors", "quantity": 2, "price": "15.00"},
			map[string]any{"id": o.id*10 + 3, "product_id": 703, "variant_id": 7031, "title": "Seed tin", "quantity": 1, "price": "0.00"},
		},
	}
	if o.cancelled {
		body["cancelled_at"] = o.updated.Format(time.RFC3339)
		body["cancel_reason"] = "customer"
	}
	b, _ := json.Marshal(body)
	return b
}

func fulfillmentJSON(id, orderID int64, tracking string, lines []int64, at time.Time) []byte {
	var ls []any
	for _, l := range lines {
		ls = append(ls, map[string]any{"id": l, "quantity": 1})
	}
	b, _ := json.Marshal(map[string]any{"id": id, "order_id": orderID, "status": "success", "tracking_company": "Colissimo",
		"tracking_number": tracking, "tracking_url": "https://colissimo.example/" + tracking, "shipment_status": nil,
		"created_at": at.Format(time.RFC3339), "updated_at": at.Format(time.RFC3339), "line_items": ls})
	return b
}

func eventJSON(id, fulfillmentID, orderID int64, status string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "fulfillment_id": fulfillmentID, "order_id": orderID, "status": status,
		"message": status, "city": "Lyon", "happened_at": at.Format(time.RFC3339), "created_at": at.Format(time.RFC3339)})
	return b
}
