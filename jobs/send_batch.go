package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/doorstep/doorstep/models"
)

// SendBatch sends many due messages the way Send sends one, with
// set-based reads and writes: one read of the messages, one query per
// table for their orders, one claim transaction (one lock statement, the
// recipients' suppressions in one query, one UPDATE and one INSERT for
// every decision), then one statement per accepted send.
// Rendering and the provider calls stay per message; failures and retries
// take Send's per-message path. A queue of due messages drains at a
// fraction of the round trips of one task per message; each accepted send
// is recorded at once (the sent recorder groups it only with sends that
// finish alongside), so a crash mid-batch duplicates at most the two
// messages of this task that were accepted and not yet recorded.
func (s *Messenger) SendBatch(ctx context.Context, ids []uint64) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	ms, err := s.store.Messages(ctx, ids)
	if err != nil {
		return err
	}
	// What every decision needs: the shops' settings and the orders.
	type shopCtx struct {
		shop   models.Shop
		set    Settings
		orders map[int64]*models.Order
	}
	shops := map[uint64]*shopCtx{}
	orderIDs := map[uint64][]int64{}
	for _, m := range ms {
		if m.Waiting() || m.Status == models.MessageSending {
			orderIDs[m.ShopID] = append(orderIDs[m.ShopID], m.OrderPlatformID)
		}
	}
	shopIDs := make([]uint64, 0, len(orderIDs))
	for shopID, oids := range orderIDs {
		shop, set, err := s.shopAndSettings(ctx, shopID)
		if err != nil {
			return err
		}
		orders, err := s.store.Orders(ctx, shopID, oids)
		if err != nil {
			return err
		}
		shops[shopID] = &shopCtx{shop: shop, set: set, orders: orders}
		shopIDs = append(shopIDs, shopID)
	}
	if len(shops) == 0 {
		return nil
	}

	now := s.cfg.Now()
	var (
		claimed  []models.Message
		deferred []models.Message
	)
	err = s.store.InTxAt(ctx, now, func(tx *models.Tx) error {
		claimed, deferred = claimed[:0], deferred[:0]
		if err := tx.AsyncCommit(); err != nil { // as in Send: a lost claim is harmless
			return err
		}
		locked, err := tx.LockMessages(ids)
		if err != nil {
			return err
		}
		if err := tx.BeginMessageBatch(shopIDs, locked); err != nil {
			return err
		}
		for i := range locked {
			m := &locked[i]
			sc := shops[m.ShopID]
			if sc == nil || !s.claimable(*m, now) {
				continue
			}
			o := sc.orders[m.OrderPlatformID]
			if o == nil {
				if err := tx.SetMessage(m, models.MessageFailed, "the order is no longer stored", time.Time{}); err != nil {
					return err
				}
				continue
			}
			d, err := s.decide(ctx, tx, sc.shop, sc.set, o, m, now)
			if err != nil {
				return fmt.Errorf("message %d: %w", m.ID, err)
			}
			switch d.status {
			case models.MessageSuppressed:
				err = tx.SetMessage(m, models.MessageSuppressed, d.reason, time.Time{})
			case models.MessageDeferred:
				err = tx.SetMessage(m, models.MessageDeferred, d.reason, d.until)
				deferred = append(deferred, *m)
			default:
				err = tx.SetMessage(m, models.MessageSending, "", time.Time{})
				claimed = append(claimed, *m)
			}
			if err != nil {
				return err
			}
		}
		return tx.FlushMessageBatch()
	})
	if err != nil {
		return fmt.Errorf("claim %d messages: %w", len(ids), err)
	}
	for _, m := range deferred {
		s.cfg.Metrics.observeMessage(m.Flow, m.Channel, models.MessageDeferred)
		s.enqueueAt(ctx, m.ID, m.DueAt)
	}

	// Send each claimed message, recording each accepted send at once:
	// the duplicate window (accepted, not yet recorded) stays about one
	// round trip per message, not the length of the batch. The next message is rendered and sent while the previous one's record
	// is being written, but no further: a message's record is submitted only
	// once the one before it is written. So at most two of this batch's
	// sends are ever accepted and unrecorded (one being written, one at the
	// provider), which bounds what a crash can duplicate, and the record's
	// round trip overlaps the next send instead of adding to it.
	var (
		errs     []error
		inflight <-chan sentResult
	)
	wait := func() {
		if inflight == nil {
			return
		}
		if res := <-inflight; res.err != nil {
			errs = append(errs, res.err)
		}
		inflight = nil
	}
	defer wait()
	for _, m := range claimed {
		sc := shops[m.ShopID]
		o := sc.orders[m.OrderPlatformID]
		log := s.log.With("shop", sc.shop.Domain, "message", m.ID, "flow", m.Flow, "step", m.Step, "channel", m.Channel)
		if m.Flow == FlowReviewRequest {
			// Review asks record which products they asked about: Send's path.
			if err := s.deliver(ctx, log, sc.shop, sc.set, o, m); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		accepted, err := s.attempt(ctx, log, sc.shop, sc.set, o, &m)
		if err != nil {
			errs = append(errs, err)
		}
		if accepted {
			wait()
			inflight = s.sent.submit(m)
		}
	}
	wait()
	return errors.Join(errs...)
}

// claimable is Send's test for a message this run may take.
func (s *Messenger) claimable(m models.Message, now time.Time) bool {
	switch {
	case m.Waiting() && !m.DueAt.After(now.Add(time.Second)):
		return true
	case m.Status == models.MessageSending && m.SendingAt != nil && m.SendingAt.Before(now.Add(-s.cfg.StaleSending)):
		return true
	}
	return false
}
