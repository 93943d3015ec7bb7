package jobs

import (
	"context"
	"slices"
	"time"

	"github.com/doorstep/doorstep/models"
)

// ShippingFlow: a notice for each shipment status the shop wants —
// shipped (a fulfillment created with tracking), in transit (first scan),
// out for delivery, attempted delivery, delivered (with the one-click
// delivery rating), failure, ready for pickup. Transactional.
//
// Split shipments: each notice says which package of how many. A burst of
// shipments within the collapse window (default an hour) goes out as one
// "shipped" message: the first waits the window, the others join it.
// Order: a notice whose status was overtaken by the time it is due is
// suppressed at send time (see decide), so "out for delivery" never
// follows "delivered".
type ShippingFlow struct{ planner }

// NewShippingFlow builds the flow.
func NewShippingFlow(store *models.Store, wake func()) *ShippingFlow {
	return &ShippingFlow{planner{store: store, wake: wake}}
}

func (f *ShippingFlow) Name() string    { return FlowShipping }
func (f *ShippingFlow) Kinds() []string { return []string{models.TriggerFulfillmentStatus} }

// Handle queues the notice for the trigger's status.
func (f *ShippingFlow) Handle(ctx context.Context, t models.Trigger) error {
	shop, set, o, err := f.load(ctx, t)
	status := t.Version
	if err != nil || o == nil || !set.Shipping.Enabled || !slices.Contains(set.Shipping.Statuses, status) || o.Cancelled() {
		return err
	}
	ful := findFulfillment(o, subjectID(t.Subject))
	if ful == nil {
		return nil
	}
	if status == models.ShipmentConfirmed && ful.TrackingNumber == "" && ful.TrackingURL == "" {
		return nil // "shipped" means a package with tracking
	}
	now := f.clock()
	for _, r := range shopperRecipients(set, o) {
		if status != models.ShipmentConfirmed {
			if err := f.queue(ctx, []models.Message{f.message(shop, o, t, FlowShipping, status, t.Subject, r, now)}); err != nil {
				return err
			}
			continue
		}
		if err := f.shipped(ctx, shop, set, o, t, r, now); err != nil {
			return err
		}
	}
	return nil
}

// shipped joins a waiting "shipped" notice for the order, or starts one
// that waits the collapse window for more packages.
func (f *ShippingFlow) shipped(ctx context.Context, shop models.Shop, set Settings, o *models.Order, t models.Trigger, r recipient, now time.Time) error {
	joined := false
	err := f.store.InTxAt(ctx, now, func(tx *models.Tx) error {
		// One decision at a time per recipient: two shipments processed
		// together must not both start a message.
		if err := tx.LockRecipient(shop.ID, r.address); err != nil {
			return err
		}
		m, ok, err := tx.WaitingMessage(shop.ID, o.PlatformID, FlowShipping, models.ShipmentConfirmed, r.channel, r.address)
		if err != nil {
			return err
		}
		if ok {
			if joined, err = tx.AddCover(m.ID, t.Subject); err != nil || joined {
				return err
			}
		}
		msg := f.message(shop, o, t, FlowShipping, models.ShipmentConfirmed, t.Subject, r, now.Add(set.Shipping.Collapse.D()))
		_, err = tx.QueueMessage(&msg)
		return err
	})
	return err
}
