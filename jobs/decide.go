package jobs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/jobs/policy"
	"github.com/doorstep/doorstep/models"
)

// Flow names (also the template keys and the messages' flow column).
const (
	FlowThankYou      = msgtmpl.ThankYou
	FlowShipping      = msgtmpl.ShippingNotice
	FlowDelayAlert    = msgtmpl.DelayAlert
	FlowMerchantDelay = msgtmpl.MerchantDelay
	FlowReviewRequest = msgtmpl.ReviewRequest
	FlowNPS           = msgtmpl.NPSRequest

	FlowLoyaltyReversed = msgtmpl.LoyaltyReversed
	FlowLoyaltyTierUp   = msgtmpl.LoyaltyTierUp
	FlowLoyaltyExpiring = msgtmpl.LoyaltyExpiring
	FlowReferralReward  = msgtmpl.ReferralReward
)

// decision is what the policy says about a due message.
type decision struct {
	status string // sending, deferred or suppressed
	reason string
	until  time.Time
}

func send() decision { return decision{status: models.MessageSending} }
func suppress(reason string) decision {
	return decision{status: models.MessageSuppressed, reason: reason}
}
func deferTo(t time.Time, reason string) decision {
	return decision{status: models.MessageDeferred, reason: reason, until: t}
}

// decide applies the one message policy to a due message, at send time
// (the order, the consent and the clock may have changed since it was
// queued). The rules, in order:
//
//  1. the order or shipment it is about was cancelled → suppressed;
//  2. a shipping notice whose status was overtaken by a later one → suppressed;
//  3. consent: a bounced address, an SMS STOP, an unsubscribe (marketing),
//     no marketing consent → suppressed;
//  4. review and satisfaction asks wait while the order is held
//     (cancelled, refunded, late, a bad rating, a support ticket, a manual
//     hold); a hold that lasts past the hold expiry drops the ask;
//  5. asks already answered, or about products asked within the year → suppressed;
//  6. the frequency cap (non-transactional) and quiet hours (in the
//     recipient's time zone) defer it, never drop it — unless the cap
//     would push it past its maximum delay;
//  7. otherwise it goes.
func (s *Messenger) decide(ctx context.Context, tx *models.Tx, shop models.Shop, set Settings, o *models.Order, m *models.Message, now time.Time) (decision, error) {
	ask := m.Flow == FlowReviewRequest || m.Flow == FlowNPS

	// 1. Cancelled. Loyalty notices are about the account, and a reversal
	// notice is about the cancellation itself.
	if o.Cancelled() && !ask && !isLoyaltyFlow(m.Flow) {
		return suppress("order cancelled"), nil
	}
	var f *models.Fulfillment
	if strings.HasPrefix(m.Subject, "fulfillment:") {
		f = findFulfillment(o, subjectID(m.Subject))
		if f == nil || f.Status == "cancelled" || f.Status == "error" || f.Status == "failure" {
			return suppress("shipment cancelled"), nil
		}
	}

	// 2. Superseded shipping status: never "out for delivery" after "delivered".
	if m.Flow == FlowShipping && f != nil {
		if statusRank(f.ShipmentStatus) > statusRank(m.Step) && slices.Contains(set.Shipping.Statuses, f.ShipmentStatus) {
			return suppress("superseded: the shipment is already " + f.ShipmentStatus), nil
		}
		sent, err := tx.SentMessages(shop.ID, o.PlatformID, FlowShipping)
		if err != nil {
			return decision{}, err
		}
		for _, other := range sent {
			if other.ID != m.ID && other.Subject == m.Subject && other.Channel == m.Channel && statusRank(other.Step) > statusRank(m.Step) {
				return suppress("superseded: the " + other.Step + " notice already went out"), nil
			}
		}
	}

	// 3. Consent.
	if !m.ToMerchant {
		reasons, err := tx.Suppressions(shop.ID, m.Channel, m.Recipient)
		if err != nil {
			return decision{}, err
		}
		switch {
		case slices.Contains(reasons, models.SuppressBounced):
			return suppress("address bounced earlier (no such mailbox or number)"), nil
		case m.Channel == notify.SMSChannel && slices.Contains(reasons, models.SuppressSMSStop):
			return suppress("recipient replied STOP"), nil
		case m.Marketing && slices.Contains(reasons, models.SuppressUnsubscribed):
			return suppress("recipient unsubscribed from marketing"), nil
		case m.Marketing && !set.MarketingWithoutConsent && !marketingConsent(o.Customer, m.Channel):
			return suppress("no marketing consent"), nil
		}
	}

	// 4. Holds on asks.
	if ask {
		held, err := s.holdReasons(ctx, tx, shop, o)
		if err != nil {
			return decision{}, err
		}
		if len(held) > 0 {
			reason := strings.Join(held, ", ")
			if m.HeldSince != nil && now.Sub(*m.HeldSince) >= set.Review.HoldExpiry.D() {
				return suppress("hold expired: " + reason), nil
			}
			return deferTo(now.Add(holdRecheck), "held: "+reason), nil
		}
	}

	// 5. Answered, or nothing left to ask about.
	if ask {
		fb, err := tx.OrderFeedback(shop.ID, o.PlatformID)
		if err != nil {
			return decision{}, err
		}
		switch {
		case m.Flow == FlowNPS && hasFeedback(fb, models.FeedbackNPS):
			return suppress("already answered"), nil
		case m.Flow == FlowReviewRequest && m.Step == msgtmpl.StepReminder && hasFeedback(fb, models.FeedbackReview):
			return suppress("already answered"), nil
		}
		if m.Flow == FlowReviewRequest && m.Step == msgtmpl.StepReminder {
			// A reminder follows its ask: not before it, and not at all
			// when the ask never went out.
			ask, found, err := tx.FindMessage(shop.ID, o.PlatformID, FlowReviewRequest, msgtmpl.StepAsk, m.Subject, m.Channel, m.Recipient)
			if err != nil {
				return decision{}, err
			}
			switch {
			case !found || ask.Status == models.MessageSuppressed || ask.Status == models.MessageFailed:
				return suppress("the review ask did not go out"), nil
			case ask.Waiting() || ask.Status == models.MessageSending:
				return deferTo(ask.DueAt.Add(set.Review.ReminderAfter.D()), "waiting for the review ask"), nil
			case ask.SentAt != nil && now.Before(ask.SentAt.Add(set.Review.ReminderAfter.D())):
				return deferTo(ask.SentAt.Add(set.Review.ReminderAfter.D()), "waiting for the review ask"), nil
			}
		}
		if m.Flow == FlowReviewRequest {
			products := productIDs(deliveredLines(o))
			if len(products) == 0 {
				return suppress("nothing delivered to review"), nil
			}
			asked, err := tx.AskedProducts(shop.ID, m.Recipient, products, now.Add(-set.Review.ProductWindow.D()))
			if err != nil {
				return decision{}, err
			}
			if m.Step == msgtmpl.StepAsk && len(asked) == len(products) {
				return suppress("every product was already asked about within the review window"), nil
			}
		}
	}

	// 6. Timing: the frequency cap and quiet hours, in the recipient's zone.
	if m.ToMerchant {
		return send(), nil
	}
	loc := s.zones.Zone(o.ShippingAddress.CountryCode, o.ShippingAddress.ProvinceCode, orDefault(set.Timezone, shop.Timezone))
	quiet := policy.Window{}
	switch {
	case m.Channel == notify.SMSChannel:
		quiet = policy.DefaultSMSQuiet()
	case set.Quiet.EmailEnabled && !(set.Quiet.OutForDeliveryExempt && m.Flow == FlowShipping && m.Step == models.ShipmentOutForDelivery):
		start, _ := policy.ParseClock(set.Quiet.EmailStart)
		end, _ := policy.ParseClock(set.Quiet.EmailEnd)
		quiet = policy.Window{Start: start, End: end}
	}
	var freq policy.Cap
	var sent []time.Time
	if m.Marketing && set.Cap.Max > 0 {
		// Serialize this recipient's decisions: two asks due together must
		// see each other.
		if err := tx.LockRecipient(shop.ID, m.Recipient); err != nil {
			return decision{}, err
		}
		var err error
		if sent, err = tx.MarketingSendTimes(shop.ID, m.Recipient, now.Add(-set.Cap.Window.D()), m.ID); err != nil {
			return decision{}, err
		}
		freq = policy.Cap{Max: set.Cap.Max, Window: set.Cap.Window.D()}
	}
	d := policy.Schedule(now, loc, quiet, freq, sent)
	if !d.Deferred {
		return send(), nil
	}
	if d.Reason == policy.ReasonFrequencyCap && d.At.After(m.FirstDueAt.Add(set.Cap.MaxDelay.D())) {
		return suppress(fmt.Sprintf("frequency cap: the next free slot (%s) is past the maximum delay", d.At.Format(time.RFC3339))), nil
	}
	local := now.In(loc).Format("15:04")
	switch d.Reason {
	case policy.ReasonQuietHours:
		return deferTo(d.At, fmt.Sprintf("quiet hours (%s in %s)", local, loc)), nil
	default:
		return deferTo(d.At, fmt.Sprintf("frequency cap (%d per %s)", set.Cap.Max, set.Cap.Window.D())), nil
	}
}

// holdReasons lists why an order's asks are held now.
func (s *Messenger) holdReasons(ctx context.Context, tx *models.Tx, shop models.Shop, o *models.Order) ([]string, error) {
	var out []string
	if o.Cancelled() {
		out = append(out, "order cancelled")
	}
	if len(o.Refunds) > 0 || o.FinancialStatus == "refunded" || o.FinancialStatus == "partially_refunded" {
		out = append(out, "order refunded or being returned")
	}
	for _, f := range o.Fulfillments {
		if f.DeliveredAt != nil && f.EstimatedDeliveryAt != nil && f.DeliveredAt.After(f.EstimatedDeliveryAt.Add(24*time.Hour)) {
			out = append(out, "delivery was late")
			break
		}
		if f.ShipmentStatus == models.ShipmentFailure || f.ShipmentStatus == models.ShipmentAttemptedDeliver {
			out = append(out, "delivery had a problem")
			break
		}
	}
	fb, err := tx.OrderFeedback(shop.ID, o.PlatformID)
	if err != nil {
		return nil, err
	}
	for _, f := range fb {
		if f.Kind == models.FeedbackDelivery && f.Rating <= 2 {
			out = append(out, fmt.Sprintf("bad delivery rating (%d of 5)", f.Rating))
		}
	}
	if s.cfg.Tickets != nil {
		open, err := s.cfg.Tickets.OpenTicket(ctx, tx, shop.ID, o.PlatformID)
		if err != nil {
			return nil, fmt.Errorf("check support tickets: %w", err)
		}
		if open {
			out = append(out, "support ticket open")
		}
	}
	holds, err := tx.ActiveHolds(shop.ID, o.PlatformID)
	if err != nil {
		return nil, err
	}
	if len(holds) > 0 {
		out = append(out, "manual hold")
	}
	return out, nil
}

// statusRank orders shipment statuses along a delivery.
func statusRank(status string) int {
	switch status {
	case models.ShipmentConfirmed:
		return 1
	case models.ShipmentInTransit:
		return 2
	case models.ShipmentOutForDelivery, models.ShipmentReadyForPickup:
		return 3
	case models.ShipmentAttemptedDeliver, models.ShipmentFailure:
		return 4
	case models.ShipmentDelivered:
		return 5
	}
	return 0
}

func findFulfillment(o *models.Order, id int64) *models.Fulfillment {
	for i := range o.Fulfillments {
		if o.Fulfillments[i].PlatformID == id {
			return &o.Fulfillments[i]
		}
	}
	return nil
}

func marketingConsent(c *models.Customer, channel string) bool {
	if c == nil {
		return false
	}
	if channel == notify.SMSChannel {
		return c.SMSMarketing
	}
	return c.EmailMarketing
}

func hasFeedback(fb []models.Feedback, kind string) bool {
	for _, f := range fb {
		if f.Kind == kind {
			return true
		}
	}
	return false
}

// isLoyaltyFlow: the loyalty program's account notices.
func isLoyaltyFlow(flow string) bool {
	switch flow {
	case FlowLoyaltyReversed, FlowLoyaltyTierUp, FlowLoyaltyExpiring, FlowReferralReward:
		return true
	}
	return false
}
