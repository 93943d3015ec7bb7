package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/jobs"
)

// End to end, through the real configuration (SMTP_URL), the HTTP intake,
// asynq and Redis: a paid order's webhook becomes one thank-you email at
// the SMTP server, and the order's timeline shows each decision.
func TestMessages_EndToEnd_PaidOrderThankYouThroughAsynq(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.SMTPURL, c.SMTPFrom = sink.URL(), "orders@doorstep.test"
	})
	const dom = "thanks.myshopify.com"
	shop := e.installShop(dom)
	// The test runs at any hour: email quiet hours off (SMS keeps its own).
	set := jobs.DefaultSettings()
	set.Quiet.EmailEnabled = false
	if err := jobs.SaveSettings(context.Background(), e.app.store, shop.ID, set); err != nil {
		t.Fatal(err)
	}
	const orderID = 7_300_000_000_000_001
	created := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	body := shopOrder(orderID, 1301, "ana@example.com", created, "paid")
	for i := 0; i < 3; i++ { // the same webhook, delivered three times
		if got := e.post(webhook{shop: dom, topic: "orders/paid", eventID: "paid-1301", body: body}); got != 200 {
			t.Fatalf("webhook: %d", got)
		}
	}
	runWorker(t, e.app)
	waitFor(t, "the thank-you to reach the SMTP server", 30*time.Second, func() bool { return sink.Count() >= 1 })
	msgs := sink.Messages()
	if !strings.Contains(msgs[0].Subject, "#1301") || msgs[0].To[0] != "ana@example.com" {
		t.Fatalf("message: to %v subject %q", msgs[0].To, msgs[0].Subject)
	}
	if !strings.Contains(msgs[0].Text, "https://doorstep.test/t/") {
		t.Errorf("the thank-you has no tracking link:\n%s", msgs[0].Text)
	}
	waitFor(t, "the timeline to show the message sent", 10*time.Second, func() bool {
		_, b := e.get(dom, fmt.Sprintf("/api/admin/orders/%d", int64(orderID)))
		var detail struct {
			Timeline []struct {
				Type, Flow, Status string
			} `json:"timeline"`
		}
		_ = json.Unmarshal(b, &detail)
		var statuses []string
		for _, en := range detail.Timeline {
			if en.Type == "message" && en.Flow == "thank_you" {
				statuses = append(statuses, en.Status)
			}
		}
		return strings.Join(statuses, ",") == "queued,sending,sent"
	})
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive by now
	if n := sink.Count(); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	m := scrape(t, e.srv.URL)
	wantSeries(t, m, "doorstep_messages_total", map[string]string{"flow": "thank_you", "channel": "email", "state": "sent"}, 1)
	if _, ok := series(m, "doorstep_message_send_seconds_count", map[string]string{"channel": "email"}); !ok {
		t.Error("doorstep_message_send_seconds missing")
	}
}
