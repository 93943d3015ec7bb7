package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/models"
)

// Processor handles delivery:process: parse a stored webhook with its
// platform's adapter, then in one transaction upsert what it says
// (newer-wins) and write a trigger per consequence.
type Processor struct {
	store     *models.Store
	platforms map[string]commerce.Webhooks
	log       *slog.Logger
	// onTriggers is told the kinds of the new triggers a delivery wrote, so
	// the dispatcher need not wait for its next tick when a flow wants them.
	onTriggers func(kinds []string)

	// shops caches shops by domain for a few seconds: every delivery needs
	// its shop, and a shop's id and install time change rarely.
	shopsMu sync.Mutex
	shops   map[string]cachedShop
}

type cachedShop struct {
	shop models.Shop
	at   time.Time
}

// shopTTL bounds how stale a cached shop can be (a reinstall moves the
// history cutoff; an uninstall or shop redact drops the entry at once).
const shopTTL = 5 * time.Second

func (p *Processor) shop(tx *models.Tx, platform, domain string) (models.Shop, error) {
	key := platform + "/" + domain
	p.shopsMu.Lock()
	c, ok := p.shops[key]
	p.shopsMu.Unlock()
	if ok && time.Since(c.at) < shopTTL {
		return c.shop, nil
	}
	shop, err := tx.ShopByDomain(platform, domain)
	if err != nil {
		return shop, err
	}
	p.shopsMu.Lock()
	p.shops[key] = cachedShop{shop: shop, at: time.Now()}
	p.shopsMu.Unlock()
	return shop, nil
}

func (p *Processor) forgetShop(platform, domain string) {
	p.shopsMu.Lock()
	delete(p.shops, platform+"/"+domain)
	p.shopsMu.Unlock()
}

// NewProcessor builds the delivery processor.
func NewProcessor(store *models.Store, platforms map[string]commerce.Webhooks, log *slog.Logger, onTriggers func(kinds []string)) *Processor {
	if onTriggers == nil {
		onTriggers = func([]string) {}
	}
	return &Processor{store: store, platforms: platforms, log: log, onTriggers: onTriggers, shops: map[string]cachedShop{}}
}

// ProcessTask implements asynq.Handler. A task carries one delivery or a
// batch of them (the dispatcher batches a backlog).
func (p *Processor) ProcessTask(ctx context.Context, t *asynq.Task) error {
	pl, err := decode[DeliveryPayload](t)
	if err != nil {
		return err
	}
	ids := pl.ids()
	if len(ids) == 0 {
		return fmt.Errorf("delivery task names no delivery: %w", asynq.SkipRetry)
	}
	if len(ids) == 1 {
		_, err = p.Process(ctx, ids[0])
	} else {
		_, err = p.ProcessBatch(ctx, ids)
	}
	if err != nil {
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		if retried >= maxRetry && !errors.Is(err, asynq.SkipRetry) {
			// Out of retries: record why, so it is visible and replayable
			// instead of stuck in Redis's archive.
			for _, id := range ids {
				_ = p.store.FailDeliveryIfPending(ctx, id, "gave up after retries: "+err.Error())
			}
		}
		return err
	}
	return nil
}

// prepared is a locked delivery parsed and ready to apply, or already
// finished (ignored or failed) when out.Status says so.
type prepared struct {
	d      models.Delivery
	shop   models.Shop
	events []commerce.Event
	out    models.DeliveryOutcome
	// ticket is set instead of events for a helpdesk's ticket webhook
	// (see helpdesk_sync.go).
	ticket *ticketEvent
}

// prepare finds the delivery's shop and parses it. Outcomes that need no
// writes (unknown shop, unhandled topic, a payload that does not parse) are
// decided here; an error is a database problem worth a retry.
func (p *Processor) prepare(tx *models.Tx, d models.Delivery, log *slog.Logger) (prepared, error) {
	if IsHelpdeskPlatform(d.Platform) {
		return p.prepareTicket(tx, d, log)
	}
	pr := prepared{d: d, out: models.DeliveryOutcome{ID: d.ID}}
	platform, ok := p.platforms[d.Platform]
	if !ok {
		pr.out.Status, pr.out.Reason = models.DeliveryFailed, fmt.Sprintf("no adapter for platform %q", d.Platform)
		return pr, nil
	}
	shop, err := p.shop(tx, d.Platform, d.ShopDomain)
	if errors.Is(err, models.ErrNotFound) {
		log.Warn("delivery for an unknown shop ignored")
		pr.out.Status, pr.out.Reason = models.DeliveryIgnored, "unknown shop"
		return pr, nil
	}
	if err != nil {
		return pr, err
	}
	pr.shop, pr.out.ShopID = shop, shop.ID
	events, err := platform.ParseWebhook(d.Topic, d.Body)
	if errors.Is(err, commerce.ErrUnknownTopic) {
		log.Info("delivery of an unhandled topic ignored")
		pr.out.Status, pr.out.Reason = models.DeliveryIgnored, "unhandled topic"
		return pr, nil
	}
	if err != nil {
		log.Warn("delivery does not parse", "err", err)
		pr.out.Status, pr.out.Reason = models.DeliveryFailed, "parse: "+err.Error()
		return pr, nil
	}
	for _, ev := range events {
		if ev.Kind == commerce.EventAppUninstalled || ev.Kind == commerce.EventShopRedact {
			p.forgetShop(d.Platform, d.ShopDomain)
		}
	}
	pr.events, pr.out.Status, pr.out.OrderPlatformID = events, models.DeliveryProcessed, orderOf(events)
	return pr, nil
}

// applyPrepared writes a parsed delivery's events and returns the triggers
// their state changes imply.
func applyPrepared(tx *models.Tx, pr prepared) ([]models.Trigger, error) {
	if pr.ticket != nil {
		return nil, applyTicket(tx, pr.ticket)
	}
	var triggers []models.Trigger
	for _, ev := range pr.events {
		ts, err := apply(tx, pr.shop, pr.d, ev)
		if err != nil {
			return nil, err
		}
		triggers = append(triggers, ts...)
	}
	for i := range triggers {
		triggers[i].DeliveryID = pr.d.ID
	}
	return triggers, nil
}

// Process applies one delivery and returns how many new triggers it wrote.
// Running it again for the same delivery changes nothing. Errors wrapping
// asynq.SkipRetry are permanent (the delivery is marked failed).
func (p *Processor) Process(ctx context.Context, id uint64) (int, error) {
	var (
		written int
		failure string // a permanent failure recorded in the transaction
		events  int
		kinds   []string // of the triggers written
	)
	log := p.log.With("delivery", id)
	if taskID, ok := asynq.GetTaskID(ctx); ok {
		log = log.With("task_id", taskID)
	}
	// Everything happens in one transaction that starts by locking the
	// delivery: two workers given the same delivery (a re-dispatch racing
	// the original) apply it once, the second finding it processed.
	err := p.store.InTx(ctx, func(tx *models.Tx) error {
		// The delivery is durable already; losing this commit in a crash
		// leaves it "received" and it is processed again, idempotently. So
		// the commit need not wait for the WAL flush.
		if err := tx.AsyncCommit(); err != nil {
			return err
		}
		d, err := tx.LockDelivery(id)
		if err != nil {
			return err
		}
		if d.Status != models.DeliveryReceived {
			return nil // already processed, failed or ignored
		}
		log = log.With("shop", d.ShopDomain, "topic", d.Topic)
		pr, err := p.prepare(tx, d, log)
		if err != nil {
			return err
		}
		if pr.out.Status == models.DeliveryFailed {
			failure = pr.out.Reason
		}
		var triggers []models.Trigger
		if pr.out.Status == models.DeliveryProcessed {
			if triggers, err = applyPrepared(tx, pr); err != nil {
				return err
			}
		}
		if written, err = tx.InsertTriggers(triggers); err != nil {
			return err
		}
		for _, t := range triggers {
			kinds = append(kinds, t.Kind)
		}
		events = len(pr.events)
		o := pr.out
		return tx.FinishDelivery(o.ID, o.ShopID, o.OrderPlatformID, o.Status, o.Reason)
	})
	if errors.Is(err, models.ErrNotFound) {
		return 0, fmt.Errorf("delivery %d: %w: %w", id, err, asynq.SkipRetry)
	}
	if err != nil {
		return 0, fmt.Errorf("apply delivery %d: %w", id, err)
	}
	if failure != "" {
		return 0, fmt.Errorf("delivery %d: %s: %w", id, failure, asynq.SkipRetry)
	}
	log.Debug("delivery processed", "events", events, "triggers", written)
	if written > 0 {
		p.onTriggers(kinds)
	}
	return written, nil
}

// ProcessBatch applies many deliveries in one transaction: one statement
// locks them all, one writes all their triggers and one records all their
// outcomes, so a backlog drains with a fraction of the round trips and
// commits of one transaction per delivery. If the batch fails (a lost
// race, a deadlock with another batch, one bad row), its deliveries are
// processed one by one, so one delivery cannot hold the others back.
func (p *Processor) ProcessBatch(ctx context.Context, ids []uint64) (int, error) {
	var (
		written int
		kinds   []string
	)
	log := p.log.With("deliveries", len(ids))
	if taskID, ok := asynq.GetTaskID(ctx); ok {
		log = log.With("task_id", taskID)
	}
	err := p.store.InTx(ctx, func(tx *models.Tx) error {
		if err := tx.AsyncBatchCommit(); err != nil {
			return err
		}
		ds, err := tx.LockDeliveries(ids)
		if err != nil {
			return err
		}
		preps := make([]prepared, 0, len(ds))
		for _, d := range ds {
			pr, err := p.prepare(tx, d, log.With("delivery", d.ID, "shop", d.ShopDomain, "topic", d.Topic))
			if err != nil {
				return err
			}
			preps = append(preps, pr)
		}
		// Apply in (shop, order) order: concurrent batches then lock the
		// orders they share in the same order, which keeps deadlocks rare.
		slices.SortStableFunc(preps, func(a, b prepared) int {
			if c := cmp.Compare(a.out.ShopID, b.out.ShopID); c != 0 {
				return c
			}
			return cmp.Compare(a.out.OrderPlatformID, b.out.OrderPlatformID)
		})
		orders := map[uint64][]int64{}
		for _, pr := range preps {
			for _, ev := range pr.events {
				if ev.Kind == commerce.EventOrder {
					orders[pr.shop.ID] = append(orders[pr.shop.ID], ev.Order.PlatformID)
				}
			}
		}
		if err := tx.BeginBatch(orders); err != nil {
			return err
		}
		var triggers []models.Trigger
		outs := make([]models.DeliveryOutcome, 0, len(preps))
		for _, pr := range preps {
			if pr.out.Status == models.DeliveryProcessed {
				ts, err := applyPrepared(tx, pr)
				if err != nil {
					return fmt.Errorf("delivery %d: %w", pr.d.ID, err)
				}
				triggers = append(triggers, ts...)
			}
			outs = append(outs, pr.out)
		}
		if err := tx.FlushBatch(); err != nil {
			return err
		}
		if written, err = tx.InsertTriggers(triggers); err != nil {
			return err
		}
		for _, t := range triggers {
			kinds = append(kinds, t.Kind)
		}
		return tx.FinishDeliveries(outs)
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("apply %d deliveries: %w", len(ids), err)
		}
		log.Info("batch failed; processing its deliveries one by one", "err", err)
		var errs []error
		written = 0
		for _, id := range ids {
			n, err := p.Process(ctx, id)
			if err != nil && !errors.Is(err, asynq.SkipRetry) {
				errs = append(errs, err)
			}
			written += n
		}
		return written, errors.Join(errs...)
	}
	log.Debug("deliveries processed", "triggers", written)
	if written > 0 {
		p.onTriggers(kinds)
	}
	return written, nil
}

// orderOf names the order a delivery is about, for the order's timeline.
func orderOf(events []commerce.Event) int64 {
	for _, ev := range events {
		switch {
		case ev.Order != nil:
			return ev.Order.PlatformID
		case ev.Fulfillment != nil:
			return ev.Fulfillment.OrderPlatformID
		case ev.FulfillmentEvent != nil:
			return ev.FulfillmentEvent.OrderPlatformID
		case ev.Refund != nil:
			return ev.Refund.OrderPlatformID
		}
	}
	return 0
}

// apply writes one normalized event and returns the triggers its state
// change implies.
func apply(tx *models.Tx, shop models.Shop, d models.Delivery, ev commerce.Event) ([]models.Trigger, error) {
	switch ev.Kind {
	case commerce.EventOrder:
		return applyOrder(tx, shop, ev.Order)
	case commerce.EventFulfillment:
		return applyFulfillment(tx, shop, ev.Fulfillment)
	case commerce.EventFulfillmentEvent:
		f, prevStatus, inserted, err := tx.ApplyFulfillmentEvent(shop.ID, ev.FulfillmentEvent)
		if err != nil || !inserted || f == nil {
			return nil, err
		}
		return fulfillmentTrigger(shop, prevStatus, f), nil
	case commerce.EventRefund:
		return applyRefund(tx, shop, ev.Refund)
	case commerce.EventCustomer:
		_, err := tx.UpsertCustomer(shop.ID, ev.Customer)
		return nil, err
	case commerce.EventAppUninstalled:
		changed, err := tx.MarkUninstalled(shop.ID)
		if err != nil || !changed {
			return nil, err
		}
		// The version is the delivery's event id: uninstalling again after a
		// reinstall is a new consequence.
		return []models.Trigger{{ShopID: shop.ID, Kind: models.TriggerUninstalled, Subject: "shop", Version: d.EventID}}, nil
	case commerce.EventCustomerRedact:
		return []models.Trigger{{ShopID: shop.ID, Kind: models.TriggerCustomerRedact,
			Subject: "customer:" + strconv.FormatInt(ev.CustomerRedact.CustomerID, 10), Version: d.EventID}}, nil
	case commerce.EventCustomerDataRequest:
		return []models.Trigger{{ShopID: shop.ID, Kind: models.TriggerCustomerDataReq,
			Subject: "customer:" + strconv.FormatInt(ev.CustomerDataRequest.CustomerID, 10), Version: d.EventID}}, nil
	case commerce.EventShopRedact:
		return []models.Trigger{{ShopID: shop.ID, Kind: models.TriggerShopRedact, Subject: "shop", Version: d.EventID}}, nil
	}
	return nil, fmt.Errorf("unhandled event kind %q", ev.Kind)
}

func applyOrder(tx *models.Tx, shop models.Shop, o *models.Order) ([]models.Trigger, error) {
	prev, applied, err := tx.UpsertOrder(shop.ID, o)
	if err != nil {
		return nil, err
	}
	var triggers []models.Trigger
	if applied {
		if err := tx.UpsertLineItems(shop.ID, o.ID, o.LineItems); err != nil {
			return nil, err
		}
		triggers = orderTriggers(shop, prev, o)
	}
	if o.Customer != nil && o.Customer.PlatformID != 0 {
		if _, err := tx.UpsertCustomer(shop.ID, o.Customer); err != nil {
			return nil, err
		}
	}
	// Nested fulfillments and refunds have their own newer-wins checks, so
	// a stale order payload can still bring a fulfillment we missed.
	for i := range o.Fulfillments {
		f := &o.Fulfillments[i]
		f.OrderPlatformID = o.PlatformID
		ts, err := applyFulfillment(tx, shop, f)
		if err != nil {
			return nil, err
		}
		triggers = append(triggers, ts...)
	}
	for i := range o.Refunds {
		r := &o.Refunds[i]
		r.OrderPlatformID = o.PlatformID
		ts, err := applyRefund(tx, shop, r)
		if err != nil {
			return nil, err
		}
		triggers = append(triggers, ts...)
	}
	return triggers, nil
}

func applyFulfillment(tx *models.Tx, shop models.Shop, f *models.Fulfillment) ([]models.Trigger, error) {
	prev, applied, err := tx.UpsertFulfillment(shop.ID, f)
	if err != nil || !applied {
		return nil, err
	}
	prevStatus := ""
	if prev != nil {
		prevStatus = prev.ShipmentStatus
	}
	return fulfillmentTrigger(shop, prevStatus, f), nil
}

func applyRefund(tx *models.Tx, shop models.Shop, r *models.Refund) ([]models.Trigger, error) {
	inserted, err := tx.UpsertRefund(shop.ID, r)
	if err != nil || !inserted {
		return nil, err
	}
	return refundTrigger(shop, r), nil
}
