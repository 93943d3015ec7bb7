package jobs

import (
	"context"

	"github.com/doorstep/doorstep/models"
)

// ThankYouFlow: when an order is paid, thank the shopper (by name, items
// with images, totals, the tracking link, the shop's brand) after the
// shop's delay (default 0). Transactional.
type ThankYouFlow struct{ planner }

// NewThankYouFlow builds the flow.
func NewThankYouFlow(store *models.Store, wake func()) *ThankYouFlow {
	return &ThankYouFlow{planner{store: store, wake: wake}}
}

func (f *ThankYouFlow) Name() string    { return FlowThankYou }
func (f *ThankYouFlow) Kinds() []string { return []string{models.TriggerOrderPaid} }

// Handle queues one thank-you per recipient; the unique key makes a second
// run (or a second paid trigger) a no-op.
func (f *ThankYouFlow) Handle(ctx context.Context, t models.Trigger) error {
	shop, set, o, err := f.load(ctx, t)
	if err != nil || o == nil || !set.ThankYou.Enabled || o.Cancelled() {
		return err
	}
	var ms []models.Message
	for _, r := range shopperRecipients(set, o) {
		ms = append(ms, f.message(shop, o, t, FlowThankYou, "", "", r, f.clock().Add(set.ThankYou.Delay.D())))
	}
	return f.queue(ctx, ms)
}
