package jobs

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, got)
	}
}

func subjects(e *flowEnv) []string {
	var out []string
	for _, m := range e.sink.Messages() {
		out = append(out, m.Subject)
	}
	return out
}

// A whole order lifecycle, one package: exactly these messages, in this
// order, with this text.
func TestFlows_Lifecycle_SingleShipment(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	o := testOrder{id: 1, email: "ana@example.com", consent: true, financial: "paid", updated: e.clock()}
	e.deliver("orders/paid", o.json())
	e.advance(2 * time.Hour)
	e.deliver("fulfillments/create", fulfillmentJSON(31, 1, "CB100FR", []int64{11, 12, 13}, e.clock()))
	e.advance(90 * time.Minute) // the collapse window
	e.deliver("fulfillment_events/create", eventJSON(41, 31, 1, "in_transit", e.clock()))
	e.advance(20 * time.Hour)
	e.deliver("fulfillment_events/create", eventJSON(42, 31, 1, "out_for_delivery", e.clock()))
	e.advance(3 * time.Hour)
	e.deliver("fulfillment_events/create", eventJSON(43, 31, 1, "delivered", e.clock()))
	e.advance(15 * 24 * time.Hour) // review ask (7 d), reminder (+5 d), NPS (14 d)

	golden(t, "lifecycle_single", e.transcript())
	want := 8 // thank-you, shipped, in transit, out for delivery, delivered, review ask, reminder, NPS
	if n := e.sink.Count(); n != want {
		t.Fatalf("%d messages, want %d: %v%s", n, want, subjects(e), e.describe())
	}
}

// A split shipment: three packages created within the hour make one
// "shipped" message; later notices say which package of three.
func TestFlows_Lifecycle_SplitShipment(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.Review.Enabled, s.NPS.Enabled = false, false })
	o := testOrder{id: 2, email: "ana@example.com", financial: "paid", updated: e.clock()}
	e.deliver("orders/paid", o.json())
	e.deliver("fulfillments/create", fulfillmentJSON(51, 2, "CB201FR", []int64{21}, e.clock()))
	e.advance(10 * time.Minute)
	e.deliver("fulfillments/create", fulfillmentJSON(52, 2, "CB202FR", []int64{22}, e.clock()))
	e.advance(10 * time.Minute)
	e.deliver("fulfillments/create", fulfillmentJSON(53, 2, "CB203FR", []int64{23}, e.clock()))
	e.advance(2 * time.Hour)
	if n := e.sink.Count(); n != 2 {
		t.Fatalf("after the burst: %d messages, want 2 (thank-you, one shipped): %v", n, subjects(e))
	}
	e.deliver("fulfillment_events/create", eventJSON(61, 52, 2, "out_for_delivery", e.clock()))
	e.advance(time.Hour)
	e.deliver("fulfillment_events/create", eventJSON(62, 52, 2, "delivered", e.clock()))
	e.advance(time.Hour)
	golden(t, "lifecycle_split", e.transcript())
	if got := e.sink.Messages()[3].Text; !strings.Contains(got, "2 of 3") {
		t.Errorf("delivered notice does not say which package:\n%s", got)
	}
}

// The same webhook 100 times is one message; so is a thank-you trigger
// handled twice.
func TestFlows_SameEvent100Times_OneMessage(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	body := testOrder{id: 3, email: "ana@example.com", financial: "paid", updated: e.clock()}.json()
	for i := 0; i < 100; i++ {
		d := &models.Delivery{Platform: "shopify", ShopDomain: e.shop.Domain, Topic: "orders/paid", EventID: "same-event", Body: body}
		if _, err := e.store.InsertDelivery(e.ctx, d); err != nil {
			t.Fatal(err)
		}
		if d.ID != 0 {
			if _, err := e.proc.Process(e.ctx, d.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.settle()
	// And the trigger run again, as after a lost Redis.
	var tr models.Trigger
	e.store.DB().Where("kind = ?", models.TriggerOrderPaid).Take(&tr)
	task, _ := NewTriggerTask(tr.ID)
	e.store.DB().Model(&tr).Update("status", models.TriggerPending)
	if err := e.run.ProcessTask(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if n := e.sink.Count(); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// A send that fails with a transient error is retried; one message arrives.
func TestFlows_TransientFailureThenSuccess_OneMessage(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	e.sink.FailNext(1, 451, "4.3.0 try again later")
	e.deliver("orders/paid", testOrder{id: 4, email: "ana@example.com", financial: "paid", updated: e.clock()}.json())
	m := e.message(FlowThankYou, "")
	if m.Status != models.MessageQueued || !strings.Contains(m.Reason, "retry") {
		t.Fatalf("after a 451: %s (%s), want queued for a retry", m.Status, m.Reason)
	}
	// Running the task again before the retry is due sends nothing.
	if err := e.msg.Send(e.ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if e.sink.Count() != 0 {
		t.Fatal("retried before its backoff")
	}
	e.advance(time.Minute)
	if n := e.sink.Count(); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	if m := e.message(FlowThankYou, ""); m.Status != models.MessageSent || m.ProviderID == "" {
		t.Fatalf("message %s provider %q, want sent with the provider's id", m.Status, m.ProviderID)
	}
}

// Two workers running the same message's task at once (a lease expired
// while the first was sending) send it once.
func TestFlows_ConcurrentSends_OneMessage(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.ThankYou.Delay = Duration(time.Hour) })
	e.deliver("orders/paid", testOrder{id: 5, email: "ana@example.com", financial: "paid", updated: e.clock()}.json())
	m := e.message(FlowThankYou, "")
	e.mu.Lock()
	e.now = e.now.Add(time.Hour)
	e.mu.Unlock()
	release := e.sink.StallNext()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = e.msg.Send(e.ctx, m.ID) }()
	}
	time.Sleep(300 * time.Millisecond)
	// While the first run is stuck at the provider, the others found the
	// message "sending" and left it alone.
	if got := e.message(FlowThankYou, ""); got.Status != models.MessageSending || got.Attempts != 1 {
		t.Fatalf("during the stalled send: %s, %d attempts; want sending, 1", got.Status, got.Attempts)
	}
	release() // the stalled send is refused (451): a retry follows
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	e.advance(time.Minute)
	if n := e.sink.Count(); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// SMS never goes out between 21:00 and 08:00 in the shopper's zone: due at
// 23:30 local, it is deferred to 08:00 and sent then.
func TestFlows_QuietHours_SMSDeferredToMorning(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.Channels.Email, s.Channels.SMS = false, true })
	e.mu.Lock()
	local := e.now.In(paris)
	e.now = time.Date(local.Year(), local.Month(), local.Day(), 23, 30, 0, 0, paris).UTC()
	e.mu.Unlock()
	e.deliver("orders/paid", testOrder{id: 6, phone: "+33612345678", financial: "paid", updated: e.clock()}.json())
	m := e.message(FlowThankYou, "")
	wantAt := time.Date(local.Year(), local.Month(), local.Day()+1, 8, 0, 0, 0, paris)
	if m.Status != models.MessageDeferred || !m.DueAt.Equal(wantAt) || !strings.Contains(m.Reason, "quiet hours") {
		t.Fatalf("SMS at 23:30: %s until %s (%s), want deferred until %s", m.Status, m.DueAt.In(paris), m.Reason, wantAt)
	}
	e.advance(8*time.Hour + 29*time.Minute) // 07:59
	if n := e.tw.Count(); n != 0 {
		t.Fatalf("%d SMS before 08:00", n)
	}
	e.advance(time.Minute)
	msgs := e.tw.Messages()
	if len(msgs) != 1 || msgs[0].To != "+33612345678" {
		t.Fatalf("SMS at 08:00: %+v", msgs)
	}
	if got := e.message(FlowThankYou, ""); got.SentAt == nil || !got.SentAt.Equal(wantAt) {
		t.Fatalf("sent at %v, want %s", got.SentAt, wantAt)
	}
}

// The frequency cap (one non-transactional message per customer per 24 h)
// defers the second ask to the next day instead of dropping it.
func TestFlows_FrequencyCap_SecondAskNextDay(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) {
		s.Review.After, s.NPS.After = Duration(24*time.Hour), Duration(26*time.Hour) // NPS two hours after the review ask
		s.Review.ReminderAfter = Duration(20 * 24 * time.Hour)
	})
	e.deliver("orders/paid", testOrder{id: 7, email: "ana@example.com", consent: true, financial: "paid", updated: e.clock()}.json())
	e.deliver("fulfillments/create", fulfillmentJSON(71, 7, "CB700FR", []int64{71}, e.clock()))
	e.deliver("fulfillment_events/create", eventJSON(72, 71, 7, "delivered", e.clock()))
	e.advance(27 * time.Hour)
	ask, nps := e.message(FlowReviewRequest, msgtmpl.StepAsk), e.message(FlowNPS, "")
	if ask.Status != models.MessageSent {
		t.Fatalf("review ask %s (%s)", ask.Status, ask.Reason)
	}
	if nps.Status != models.MessageDeferred || !strings.Contains(nps.Reason, "frequency cap") ||
		!nps.DueAt.Equal(ask.SentAt.Add(24*time.Hour)) {
		t.Fatalf("NPS %s until %s (%s), want deferred by the cap until %s", nps.Status, nps.DueAt, nps.Reason, ask.SentAt.Add(24*time.Hour))
	}
	e.advance(24 * time.Hour)
	if nps := e.message(FlowNPS, ""); nps.Status != models.MessageSent {
		t.Fatalf("NPS next day: %s (%s)", nps.Status, nps.Reason)
	}
}

// Every hold reason holds the review ask back; clearing it resumes the ask.
func TestFlows_Holds_BlockReviewAskAndResume(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		hold   func(e *flowEnv, order int64)
		clear  func(e *flowEnv, order int64) // nil: the hold never clears, the ask expires
		reason string
	}{
		{"manual", func(e *flowEnv, o int64) { e.store.SetHold(e.ctx, e.shop.ID, o, "manual", "") },
			func(e *flowEnv, o int64) {
				e.store.ClearHolds(e.ctx, e.shop.ID, o, "manual")
				e.store.ResumeHeld(e.ctx, e.shop.ID, o)
			}, "manual hold"},
		{"bad rating", func(e *flowEnv, o int64) {
			e.store.SaveFeedback(e.ctx, &models.Feedback{ShopID: e.shop.ID, OrderPlatformID: o, Kind: models.FeedbackDelivery, Rating: 2})
		}, func(e *flowEnv, o int64) {
			e.store.SaveFeedback(e.ctx, &models.Feedback{ShopID: e.shop.ID, OrderPlatformID: o, Kind: models.FeedbackDelivery, Rating: 4})
			e.store.ResumeHeld(e.ctx, e.shop.ID, o)
		}, "bad delivery rating"},
		{"refund", func(e *flowEnv, o int64) {
			e.deliver("refunds/create", []byte(`{"id":9`+itoa(o)+`,"order_id":`+itoa(o)+`,"created_at":"`+e.clock().Format(time.RFC3339)+`","refund_line_items":[],"transactions":[]}`))
		}, nil, "refunded"},
		{"cancelled", func(e *flowEnv, o int64) {
			e.deliver("orders/cancelled", testOrder{id: o, email: "ana@example.com", consent: true, financial: "paid", cancelled: true, updated: e.clock().Add(time.Minute)}.json())
		}, nil, "order cancelled"},
		{"late delivery", nil, nil, "delivery was late"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newFlowEnv(t, func(s *Settings) { s.NPS.Enabled = false; s.Review.HoldExpiry = Duration(10 * 24 * time.Hour) })
			id := int64(80 + i)
			e.deliver("orders/paid", testOrder{id: id, email: "ana@example.com", consent: true, financial: "paid", updated: e.clock()}.json())
			late := c.name == "late delivery"
			f := fulfillmentJSON(id*10, id, "CB8FR", []int64{id*10 + 1}, e.clock())
			if late {
				f = []byte(strings.Replace(string(f), `"line_items"`, `"estimated_delivery_at":"`+e.clock().Add(-72*time.Hour).Format(time.RFC3339)+`","line_items"`, 1))
			}
			e.deliver("fulfillments/create", f)
			e.deliver("fulfillment_events/create", eventJSON(id*10+5, id*10, id, "delivered", e.clock()))
			if c.hold != nil {
				c.hold(e, id)
			}
			e.advance(8 * 24 * time.Hour)
			ask := e.message(FlowReviewRequest, msgtmpl.StepAsk)
			if ask.Status != models.MessageDeferred || !strings.Contains(ask.Reason, c.reason) {
				t.Fatalf("ask %s (%s), want held: %s%s", ask.Status, ask.Reason, c.reason, e.describe())
			}
			if c.clear == nil {
				e.advance(11 * 24 * time.Hour)
				if ask := e.message(FlowReviewRequest, msgtmpl.StepAsk); ask.Status != models.MessageSuppressed || !strings.Contains(ask.Reason, "hold expired") {
					t.Fatalf("ask after the hold expiry: %s (%s)", ask.Status, ask.Reason)
				}
				return
			}
			c.clear(e, id)
			e.settle()
			if ask := e.message(FlowReviewRequest, msgtmpl.StepAsk); ask.Status != models.MessageSent {
				t.Fatalf("ask after the hold cleared: %s (%s)", ask.Status, ask.Reason)
			}
		})
	}
}

// Unsubscribing stops marketing (review, NPS) but not transactional
// messages; no marketing consent means no asks at all.
func TestFlows_Unsubscribe_StopsMarketingOnly(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.Review.After, s.NPS.After = Duration(time.Hour), Duration(48*time.Hour) })
	if err := e.store.Suppress(e.ctx, e.shop.ID, "email", "Ana@Example.com", models.SuppressUnsubscribed, "test"); err != nil {
		t.Fatal(err)
	}
	e.deliver("orders/paid", testOrder{id: 9, email: "ana@example.com", consent: true, financial: "paid", updated: e.clock()}.json())
	e.deliver("fulfillments/create", fulfillmentJSON(91, 9, "CB900FR", []int64{91}, e.clock()))
	e.advance(2 * time.Hour)
	e.deliver("fulfillment_events/create", eventJSON(92, 91, 9, "delivered", e.clock()))
	e.advance(8 * 24 * time.Hour)
	for _, m := range e.messages() {
		want := models.MessageSent
		if m.Marketing {
			want = models.MessageSuppressed
		}
		if m.Status != want {
			t.Errorf("%s/%s: %s (%s), want %s", m.Flow, m.Step, m.Status, m.Reason, want)
		}
	}
}

// An SMS STOP (operator-wide) stops every SMS; email still goes.
func TestFlows_SMSStop_StopsSMS(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.Channels.SMS = true })
	if err := e.store.Suppress(e.ctx, 0, "sms", "+33612345678", models.SuppressSMSStop, "STOP"); err != nil {
		t.Fatal(err)
	}
	e.deliver("orders/paid", testOrder{id: 10, email: "ana@example.com", phone: "+33612345678", financial: "paid", updated: e.clock()}.json())
	if e.tw.Count() != 0 || e.sink.Count() != 1 {
		t.Fatalf("sms %d email %d, want 0 and 1", e.tw.Count(), e.sink.Count())
	}
	if m := e.messages(); len(m) != 2 || !strings.Contains(e.describe(), "replied STOP") {
		t.Fatalf("messages: %s", e.describe())
	}
}

// Twilio answering 500 then 201 is one SMS; a 400 fails with Twilio's
// reason, and an invalid number is suppressed for the shop.
func TestFlows_ProviderErrors(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.Channels.Email, s.Channels.SMS = false, true })
	e.tw.FailNext(1, 500, 20500, "Internal Server Error", "")
	e.deliver("orders/paid", testOrder{id: 11, phone: "+33611111111", financial: "paid", updated: e.clock()}.json())
	e.advance(time.Minute)
	if n := e.tw.Count(); n != 1 {
		t.Fatalf("after 500 then 201: %d SMS, want 1", n)
	}
	e.tw.FailNext(1, 400, 21211, "The 'To' number +33622222222 is not a valid phone number.", "")
	e.deliver("orders/paid", testOrder{id: 12, phone: "+33622222222", financial: "paid", updated: e.clock()}.json())
	var failed models.Message
	for _, m := range e.messages() {
		if m.OrderPlatformID == 12 {
			failed = m
		}
	}
	if failed.Status != models.MessageFailed || !strings.Contains(failed.Reason, "not a valid phone number") {
		t.Fatalf("after a 400: %s (%s), want failed with Twilio's reason", failed.Status, failed.Reason)
	}
	if ok, _ := e.store.IsSuppressed(e.ctx, e.shop.ID, "sms", "+33622222222", models.SuppressBounced); !ok {
		t.Error("an invalid number is not suppressed")
	}
}

// A late "out for delivery" (its webhook arrived after "delivered") never
// goes out after the delivered notice.
func TestFlows_LateEarlierStatus_NeverAfterLater(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.Review.Enabled, s.NPS.Enabled = false, false })
	e.deliver("orders/paid", testOrder{id: 13, email: "ana@example.com", financial: "paid", updated: e.clock()}.json())
	e.deliver("fulfillments/create", fulfillmentJSON(131, 13, "CB130FR", []int64{131}, e.clock()))
	e.advance(2 * time.Hour)
	at := e.clock()
	e.deliver("fulfillment_events/create", eventJSON(133, 131, 13, "delivered", at))
	e.deliver("fulfillment_events/create", eventJSON(132, 131, 13, "out_for_delivery", at.Add(-time.Hour)))
	e.advance(time.Hour)
	got := subjects(e)
	last := got[len(got)-1]
	for _, s := range got {
		if strings.Contains(strings.ToLower(s), "out for delivery") {
			t.Fatalf("an out-for-delivery notice went out after delivered: %v", got)
		}
	}
	if !strings.Contains(strings.ToLower(last), "delivered") {
		t.Fatalf("last message %q, want the delivered notice (%v)", last, got)
	}
}

// A shipment with no carrier event for 3 days raises one alert: an
// apology to the shopper and an email to the merchant, once.
func TestDelayScan_StalledShipment_AlertsOnce(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, nil)
	e.deliver("orders/paid", testOrder{id: 14, email: "ana@example.com", financial: "paid", updated: e.clock()}.json())
	e.deliver("fulfillments/create", fulfillmentJSON(141, 14, "CB140FR", []int64{141}, e.clock()))
	e.advance(2 * time.Hour)
	before := e.sink.Count()
	e.advance(3 * 24 * time.Hour)
	for i := 0; i < 3; i++ {
		if _, err := e.scan.Scan(e.ctx, e.shop.ID); err != nil {
			t.Fatal(err)
		}
		e.settle()
	}
	msgs := e.sink.Messages()[before:]
	if len(msgs) != 2 {
		t.Fatalf("%d messages after the scans, want 2 (apology, merchant alert): %v", len(msgs), subjects(e))
	}
	var toMerchant bool
	for _, m := range msgs {
		if m.To[0] == "owner@maison-verte.example" {
			toMerchant = true
		}
	}
	if !toMerchant {
		t.Error("the merchant got no alert")
	}
	var alerts int64
	e.store.DB().Model(&models.Alert{}).Where("shop_id = ?", e.shop.ID).Count(&alerts)
	if alerts != 1 {
		t.Errorf("%d alerts, want 1", alerts)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// At most one ask per product per customer per year: a second order with
// one product already asked about asks only about the others; an order
// with nothing new is not asked about at all.
func TestFlows_ReviewAsk_OncePerProductPerYear(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) {
		s.NPS.Enabled = false
		s.Review.ReminderAfter = Duration(60 * 24 * time.Hour)
		s.Cap.Max = 0
	})
	deliverOrder := func(id int64) {
		e.deliver("orders/paid", testOrder{id: id, email: "ana@example.com", consent: true, financial: "paid", updated: e.clock()}.json())
		e.deliver("fulfillments/create", fulfillmentJSON(id*10, id, "CB"+itoa(id), []int64{id*10 + 1}, e.clock()))
		e.advance(2 * time.Hour)
		e.deliver("fulfillment_events/create", eventJSON(id*10+5, id*10, id, "delivered", e.clock()))
	}
	deliverOrder(201)
	e.advance(8 * 24 * time.Hour)
	first := e.sink.Messages()
	if last := first[len(first)-1]; !strings.Contains(last.Text, "Linen apron") || !strings.Contains(last.Text, "Herb scissors") {
		t.Fatalf("first ask:\n%s", last.Text)
	}
	// The same three products again: no ask.
	deliverOrder(202)
	e.advance(8 * 24 * time.Hour)
	var second models.Message
	for _, m := range e.messages() {
		if m.OrderPlatformID == 202 && m.Flow == FlowReviewRequest && m.Step == msgtmpl.StepAsk {
			second = m
		}
	}
	if second.Status != models.MessageSuppressed || !strings.Contains(second.Reason, "already asked") {
		t.Fatalf("second ask: %s (%s), want suppressed: every product already asked", second.Status, second.Reason)
	}
}

// A batch decides and sends each message as Send would: due ones go once
// (even with two workers given overlapping batches), a suppressed address
// and a cancelled order are suppressed with their reasons, a message not
// yet due waits.
func TestSendBatch_SameDecisionsAsOneByOne_OverlappingWorkers(t *testing.T) {
	t.Parallel()
	e := newFlowEnv(t, func(s *Settings) { s.ThankYou.Enabled = false })
	var orders []testOrder
	for i := int64(0); i < 30; i++ {
		o := testOrder{id: 300 + i, email: fmt.Sprintf("shopper%d@example.com", i), financial: "paid", updated: e.clock(), cancelled: i == 7}
		e.deliver("orders/paid", o.json())
		orders = append(orders, o)
	}
	if err := e.store.Suppress(e.ctx, e.shop.ID, "email", "shopper3@example.com", models.SuppressBounced, "550"); err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for i, o := range orders {
		m := models.Message{ShopID: e.shop.ID, OrderPlatformID: o.id, Flow: FlowThankYou, Channel: "email", Recipient: o.email,
			DueAt: e.clock()}
		if i == 9 {
			m.DueAt = e.clock().Add(time.Hour)
		}
		if _, err := e.store.QueueMessage(e.ctx, &m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, part := range [][]uint64{ids, ids[10:], ids[:20]} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = e.msg.SendBatch(e.ctx, part) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.sink.Count(); n != 27 {
		t.Errorf("%d messages at the SMTP server, want 27 (30 − bounced − cancelled − not due)", n)
	}
	seen := map[string]int{}
	for _, m := range e.sink.Messages() {
		seen[m.MessageID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
	}
	status := map[string]int{}
	for _, m := range e.messages() {
		status[m.Status+" "+m.Reason]++
	}
	want := map[string]int{"sent ": 27, "suppressed order cancelled": 1, "queued ": 1,
		"suppressed address bounced earlier (no such mailbox or number)": 1}
	for k, n := range want {
		if status[k] != n {
			t.Errorf("%q: %d messages, want %d (all: %v)", k, status[k], n, status)
		}
	}
	var events int64
	e.store.DB().Model(&models.MessageEvent{}).Where("status = ?", models.MessageSent).Count(&events)
	if events != 27 {
		t.Errorf("%d sent decisions traced, want 27", events)
	}
}
