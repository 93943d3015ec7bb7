package jobs

import (
	"context"
	"time"

	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// ReviewFlow: once a shipment is delivered, ask for a review of the
// delivered items N days later (default 7), remind once M days after the
// ask if there is no answer (default 5), and ask for an NPS score after
// the review window (default 14 days after delivery). These asks are
// marketing: they need consent, carry an unsubscribe link, and count
// against the frequency cap. At send time they are held while something
// went wrong with the order (see decide): a held ask resumes when the hold
// clears, or is dropped after the hold expiry (default 30 days). At most
// one ask per product per customer per year.
type ReviewFlow struct{ planner }

// NewReviewFlow builds the flow.
func NewReviewFlow(store *models.Store, wake func()) *ReviewFlow {
	return &ReviewFlow{planner{store: store, wake: wake}}
}

func (f *ReviewFlow) Name() string    { return FlowReviewRequest }
func (f *ReviewFlow) Kinds() []string { return []string{models.TriggerFulfillmentStatus} }

// Handle plans the asks when a shipment is delivered; the unique keys
// (order, flow, step) make the order's second delivered shipment a no-op.
func (f *ReviewFlow) Handle(ctx context.Context, t models.Trigger) error {
	if t.Version != models.ShipmentDelivered {
		return nil
	}
	shop, set, o, err := f.load(ctx, t)
	if err != nil || o == nil || o.Cancelled() {
		return err
	}
	delivered := f.clock()
	if ful := findFulfillment(o, subjectID(t.Subject)); ful != nil && ful.DeliveredAt != nil {
		delivered = *ful.DeliveredAt
	}
	// A delivery reported long after the fact plans from now, not from
	// the past (no burst of overdue asks).
	if now := f.clock(); delivered.Before(now.Add(-24 * time.Hour)) {
		delivered = now
	}
	var ms []models.Message
	for _, r := range shopperRecipients(set, o) {
		if set.Review.Enabled {
			ask := delivered.Add(set.Review.After.D())
			ms = append(ms,
				f.message(shop, o, t, FlowReviewRequest, msgtmpl.StepAsk, "", r, ask),
				f.message(shop, o, t, FlowReviewRequest, msgtmpl.StepReminder, "", r, ask.Add(set.Review.ReminderAfter.D())))
		}
		if set.NPS.Enabled {
			ms = append(ms, f.message(shop, o, t, FlowNPS, "", "", r, delivered.Add(set.NPS.After.D())))
		}
	}
	return f.queue(ctx, ms)
}

// CancelFlow: when an order is cancelled, its waiting shopper messages are
// suppressed at once with the reason (asks are held instead: see decide),
// so the timeline says why nothing more went out.
type CancelFlow struct{ planner }

// NewCancelFlow builds the flow.
func NewCancelFlow(store *models.Store) *CancelFlow { return &CancelFlow{planner{store: store}} }

func (f *CancelFlow) Name() string    { return "cancel" }
func (f *CancelFlow) Kinds() []string { return []string{models.TriggerOrderCancelled} }

// Handle suppresses the order's waiting messages.
func (f *CancelFlow) Handle(ctx context.Context, t models.Trigger) error {
	_, err := f.store.SuppressWaiting(ctx, t.ShopID, t.OrderPlatformID, "order cancelled", []string{FlowReviewRequest, FlowNPS})
	return err
}

// MessageFlows are the post-purchase flows that write messages; now is
// their clock (nil: real time).
func MessageFlows(store *models.Store, wake func(), now func() time.Time) []Flow {
	p := planner{store: store, wake: wake, now: now}
	return []Flow{&ThankYouFlow{p}, &ShippingFlow{p}, &DelayFlow{p}, &ReviewFlow{p}, &CancelFlow{p}}
}
