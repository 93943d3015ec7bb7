package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/doorstep/doorstep/models"
)

// planner is what every flow shares: loading the trigger's shop, settings
// and order, and writing message rows (each unique per cause).
type planner struct {
	store *models.Store
	// wake asks the dispatcher for a round (messages due now go at once).
	wake func()
	// now is the flows' clock (a fake one in tests).
	now func() time.Time
}

func (p planner) clock() time.Time {
	if p.now != nil {
		return p.now().UTC()
	}
	return time.Now().UTC()
}

// load reads what a flow decides from; an order that is gone (redacted,
// or never stored) yields a nil order and no error.
func (p planner) load(ctx context.Context, t models.Trigger) (models.Shop, Settings, *models.Order, error) {
	shop, err := p.store.ShopByID(ctx, t.ShopID)
	if err != nil {
		return shop, Settings{}, nil, err
	}
	set, err := LoadSettings(ctx, p.store, shop.ID)
	if err != nil {
		return shop, set, nil, err
	}
	o, err := p.store.Order(ctx, shop.ID, t.OrderPlatformID)
	if errors.Is(err, models.ErrNotFound) {
		return shop, set, nil, nil
	}
	if err != nil {
		return shop, set, nil, err
	}
	return shop, set, &o, nil
}

func (p planner) message(shop models.Shop, o *models.Order, t models.Trigger, flow, step, subject string, r recipient, due time.Time) models.Message {
	return models.Message{ShopID: shop.ID, OrderPlatformID: o.PlatformID, Flow: flow, Step: step, Subject: subject,
		Channel: r.channel, Recipient: r.address, CustomerPlatformID: o.CustomerPlatformID, Locale: orderLocale(o),
		Marketing: flow == FlowReviewRequest || flow == FlowNPS, DueAt: due.UTC(), TriggerID: t.ID}
}

// queue writes the messages in one transaction.
func (p planner) queue(ctx context.Context, ms []models.Message) error {
	if len(ms) == 0 {
		return nil
	}
	err := p.store.InTxAt(ctx, p.clock(), func(tx *models.Tx) error {
		for i := range ms {
			if _, err := tx.QueueMessage(&ms[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && p.wake != nil {
		p.wake()
	}
	return err
}
