package models_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// A batch's decisions land as one-by-one SetMessage calls would: each
// message's own status, reason, times and attempts, and one traced event
// each with its "until"; the batch's suppression read answers for the
// shop's and the operator's rows. Rows outside the batch are untouched.
func TestMessageBatch_WritesEveryDecisionWithItsColumns(t *testing.T) {
	t.Parallel()
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			shop := installShop(t, s, "batch-write.myshopify.com", models.Token{AccessToken: "x"})
			t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
			must(t, s.Suppress(ctx, shop.ID, "email", "bounced@example.com", models.SuppressBounced, "550 5.1.1"))
			must(t, s.Suppress(ctx, 0, "email", "complained@example.com", models.SuppressUnsubscribed, "operator list"))
			addrs := []string{"ana@example.com", "bounced@example.com", "complained@example.com", "held@example.com", "bystander@example.com"}
			ms := make([]models.Message, len(addrs))
			for i, a := range addrs {
				ms[i] = models.Message{ShopID: shop.ID, OrderPlatformID: int64(500 + i), Flow: "thank_you", Channel: "email",
					Recipient: a, DueAt: t0}
				if _, err := s.QueueMessage(ctx, &ms[i]); err != nil {
					t.Fatal(err)
				}
			}
			now := t0.Add(time.Minute)
			later := now.Add(8 * time.Hour)
			var supp [3][]string
			err := s.InTxAt(ctx, now, func(tx *models.Tx) error {
				locked, err := tx.LockMessages([]uint64{ms[0].ID, ms[1].ID, ms[2].ID, ms[3].ID})
				if err != nil {
					return err
				}
				if err := tx.BeginMessageBatch([]uint64{shop.ID}, locked); err != nil {
					return err
				}
				for i := range supp {
					if supp[i], err = tx.Suppressions(shop.ID, "email", addrs[i]); err != nil {
						return err
					}
				}
				must(t, tx.SetMessage(&locked[0], models.MessageSending, "", time.Time{}))
				must(t, tx.SetMessage(&locked[1], models.MessageSuppressed, "address bounced earlier", time.Time{}))
				must(t, tx.SetMessage(&locked[2], models.MessageSuppressed, "address unsubscribed", time.Time{}))
				must(t, tx.SetMessage(&locked[3], models.MessageDeferred, "held: support ticket open", later))
				return tx.FlushMessageBatch()
			})
			must(t, err)
			if len(supp[0]) != 0 || len(supp[1]) != 1 || len(supp[2]) != 1 {
				t.Errorf("suppressions by address: %v, want none, the shop's bounce, the operator's unsubscribe", supp)
			}

			got := make([]models.Message, len(ms))
			for i, m := range ms {
				if got[i], err = s.Message(ctx, m.ID); err != nil {
					t.Fatal(err)
				}
			}
			if g := got[0]; g.Status != models.MessageSending || g.Attempts != 1 || g.SendingAt == nil || !g.SendingAt.Equal(now) {
				t.Errorf("claimed: %s, %d attempts, sending_at %v; want sending, 1, %v", g.Status, g.Attempts, g.SendingAt, now)
			}
			if g := got[1]; g.Status != models.MessageSuppressed || g.Reason != "address bounced earlier" || g.Attempts != 0 {
				t.Errorf("bounced: %s %q, %d attempts", g.Status, g.Reason, g.Attempts)
			}
			if g := got[3]; g.Status != models.MessageDeferred || !g.DueAt.Equal(later) || g.HeldSince == nil || !g.HeldSince.Equal(now) ||
				g.DispatchedAt != nil || g.SendingAt != nil {
				t.Errorf("held: %s due %v held since %v dispatched %v sending %v; want deferred to %v, held since %v",
					g.Status, g.DueAt, g.HeldSince, g.DispatchedAt, g.SendingAt, later, now)
			}
			if g := got[4]; g.Status != models.MessageQueued || g.Attempts != 0 || !g.DueAt.Equal(t0) {
				t.Errorf("outside the batch: %s, %d attempts, due %v; want untouched", g.Status, g.Attempts, g.DueAt)
			}

			var evs []models.MessageEvent
			must(t, s.DB().Where("status <> ?", models.MessageQueued).Order("message_id").Find(&evs).Error)
			if len(evs) != 4 {
				t.Fatalf("%d decisions traced, want 4: %+v", len(evs), evs)
			}
			for i, e := range evs {
				if e.MessageID != ms[i].ID || e.Status != got[i].Status || e.Reason != got[i].Reason || !e.At.Equal(now) ||
					e.ShopID != shop.ID || e.OrderPlatformID != ms[i].OrderPlatformID {
					t.Errorf("event %d: %+v, want message %d %s %q at %v", i, e, ms[i].ID, got[i].Status, got[i].Reason, now)
				}
				if (i == 3) != (e.Until != nil) || (e.Until != nil && !e.Until.Equal(later)) {
					t.Errorf("event %d: until %v", i, e.Until)
				}
			}
		})
	}
}

// Claiming a batch reaches its messages by primary key even while the
// table is small: joined to the batch alone, the planner read the whole
// messages table and hashed it, 1.5 ms a batch in the flows bench.
func TestMessageBatch_UpdateGoesByPrimaryKeyOnASmallTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "batch-plan.myshopify.com", models.Token{AccessToken: "x"})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ms := modelstest.ClaimedMessages(t, s, shop.ID, "thank_you", 1000, 2000, now)
	must(t, s.DB().Exec("ANALYZE messages").Error)
	plan, err := s.ExplainUpdateMessages(ctx, now, ms[:50])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "messages_pkey") || strings.Contains(plan, "Seq Scan on messages") {
		t.Errorf("updating 50 of %d messages does not go by primary key:\n%s", len(ms), plan)
	}
}

// The frequency cap's read: a recipient's marketing messages sent or being
// sent since a time, nothing transactional, nobody else's, not the message
// being decided; on PostgreSQL from the recipient's index, not by reading
// every message of the shop.
func TestMarketingSendTimes_TheRecipientsRecentMarketingSendsByIndex(t *testing.T) {
	t.Parallel()
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			shop := installShop(t, s, "cap-read.myshopify.com", models.Token{AccessToken: "x"})
			now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
			since := now.Add(-24 * time.Hour)
			const ana = "ana@example.com"
			at := func(h int) *time.Time { v := now.Add(time.Duration(h) * time.Hour); return &v }
			rows := []struct {
				recipient, status string
				marketing         bool
				sent, sending     *time.Time
				want              bool
			}{
				{ana, models.MessageSent, true, at(-2), at(-2), true},
				{ana, models.MessageSending, true, nil, at(-1), true},
				{ana, models.MessageSent, true, at(-30), at(-30), false},  // before the window
				{ana, models.MessageSent, false, at(-3), at(-3), false},   // transactional
				{ana, models.MessageQueued, true, nil, nil, false},        // not sent
				{ana, models.MessageSuppressed, true, nil, at(-4), false}, // decided not to send
				{"ben@example.com", models.MessageSent, true, at(-2), at(-2), false},
			}
			var want []time.Time
			var self uint64
			for i, r := range rows {
				m := models.Message{ShopID: shop.ID, OrderPlatformID: int64(700 + i), Flow: "review_request", Step: "ask", Channel: "email",
					Recipient: r.recipient, Marketing: r.marketing, Status: r.status, DueAt: now, FirstDueAt: now, SentAt: r.sent, SendingAt: r.sending}
				must(t, s.DB().Create(&m).Error)
				if r.want {
					want = append(want, *r.sending)
				}
				if i == 1 {
					self = m.ID
				}
			}
			var got []time.Time
			err := s.InTxAt(ctx, now, func(tx *models.Tx) error {
				var err error
				got, err = tx.MarketingSendTimes(shop.ID, ana, since, 0)
				return err
			})
			must(t, err)
			slices.SortFunc(got, time.Time.Compare)
			if !slices.EqualFunc(got, want, time.Time.Equal) {
				t.Errorf("send times %v, want %v", got, want)
			}
			// The message being decided does not count against itself.
			must(t, s.InTxAt(ctx, now, func(tx *models.Tx) error {
				var err error
				got, err = tx.MarketingSendTimes(shop.ID, ana, since, self)
				return err
			}))
			if len(got) != 1 || !got[0].Equal(want[0]) {
				t.Errorf("excluding message %d: %v, want only %v", self, got, want[0])
			}

			if name != "postgres" {
				return
			}
			// A shop with many messages: the read must go by the recipient.
			must(t, s.DB().Exec(`INSERT INTO messages (shop_id, order_platform_id, flow, step, subject, channel, recipient, marketing,
  status, due_at, first_due_at, sent_at, created_at, updated_at)
SELECT ?, 10000 + g, 'review_request', 'ask', '', 'email', 'shopper' || g || '@example.com', g % 3 = 0, 'sent', ?, ?, ?, ?, ?
FROM generate_series(1, 20000) g`, shop.ID, now, now, now, now, now).Error)
			must(t, s.DB().Exec("ANALYZE messages").Error)
			plan, err := s.ExplainMarketingSendTimes(ctx, shop.ID, ana, since)
			must(t, err)
			if !strings.Contains(plan, "ix_messages_marketing") {
				t.Errorf("the cap's read of one recipient among 20,000 messages does not use ix_messages_marketing:\n%s", plan)
			}
		})
	}
}
