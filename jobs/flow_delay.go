package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// Delay alerts, carrier-reported and predicted.
//
// Carrier-reported (a failure or an attempted delivery): at once, an
// internal alert — an email to the merchant and an Alert row the helpdesk
// integration turns into a ticket. The shopper hears about it from the
// shipping notice for that status (an apology with the next steps); if the
// shop turned that notice off, the shopper gets the delay apology instead.
//
// Predicted (the delay:scan task, hourly per shop): a shipment whose
// estimated delivery passed without delivery ("late"), or with no carrier
// event for the shop's stalled-after period, default 3 days ("stalled"):
// an apology to the shopper and the internal alert. Once per shipment and
// reason (the Alert's unique key).
type DelayFlow struct{ planner }

// NewDelayFlow builds the carrier-reported side.
func NewDelayFlow(store *models.Store, wake func()) *DelayFlow {
	return &DelayFlow{planner{store: store, wake: wake}}
}

func (f *DelayFlow) Name() string    { return FlowDelayAlert }
func (f *DelayFlow) Kinds() []string { return []string{models.TriggerFulfillmentStatus} }

// Handle raises the alert for carrier-reported problems.
func (f *DelayFlow) Handle(ctx context.Context, t models.Trigger) error {
	reason := map[string]string{models.ShipmentFailure: msgtmpl.ReasonCarrierFailure,
		models.ShipmentAttemptedDeliver: msgtmpl.ReasonAttempted}[t.Version]
	if reason == "" {
		return nil
	}
	shop, set, o, err := f.load(ctx, t)
	if err != nil || o == nil || !set.Delay.Enabled || o.Cancelled() {
		return err
	}
	toShopper := !set.Shipping.Enabled || !slices.Contains(set.Shipping.Statuses, t.Version)
	return raiseDelay(ctx, f.planner, shop, set, o, t, t.Subject, reason, toShopper)
}

// raiseDelay records the alert once and queues its messages.
func raiseDelay(ctx context.Context, p planner, shop models.Shop, set Settings, o *models.Order, t models.Trigger, subject, reason string, toShopper bool) error {
	now := p.clock()
	var ms []models.Message
	if toShopper {
		for _, r := range shopperRecipients(set, o) {
			ms = append(ms, p.message(shop, o, t, FlowDelayAlert, reason, subject, r, now))
		}
	}
	if addr := merchantAddress(set, shop); addr != "" {
		m := p.message(shop, o, t, FlowMerchantDelay, reason, subject, recipient{notify.EmailChannel, addr}, now)
		m.ToMerchant, m.Locale = true, set.Locale
		ms = append(ms, m)
	}
	err := p.store.InTxAt(ctx, now, func(tx *models.Tx) error {
		fresh, err := tx.RaiseAlert(&models.Alert{ShopID: shop.ID, OrderPlatformID: o.PlatformID, Kind: "delay", Subject: subject, Reason: reason,
			Detail: fmt.Sprintf("order %s: %s", o.Name, reason)})
		if err != nil || !fresh {
			return err
		}
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

// TypeDelayScan looks for late and stalled shipments of one shop.
const TypeDelayScan = "delay:scan"

type delayScanPayload struct {
	ShopID uint64 `json:"shop_id"`
}

// NewDelayScanTask builds the scan for one shop and window (one per window
// however many schedulers run).
func NewDelayScanTask(shopID uint64, window time.Time, period time.Duration) (*asynq.Task, []asynq.Option) {
	b, _ := json.Marshal(delayScanPayload{ShopID: shopID})
	id := "delayscan:" + strconv.FormatUint(shopID, 10) + ":" + strconv.FormatInt(window.Unix(), 10)
	return asynq.NewTask(TypeDelayScan, b), []asynq.Option{asynq.TaskID(id), asynq.Queue(QueueFlows), asynq.MaxRetry(3),
		asynq.Retention(period)}
}

// DelayScanner handles delay:scan.
type DelayScanner struct {
	planner
	log *slog.Logger
	now func() time.Time
}

// NewDelayScanner builds the predicted-delay scan.
func NewDelayScanner(store *models.Store, wake func(), now func() time.Time, log *slog.Logger) *DelayScanner {
	p := planner{store: store, wake: wake, now: now}
	return &DelayScanner{planner: p, log: log, now: p.clock}
}

// lookBack bounds the scan: shipments older than this are history.
const lookBack = 60 * 24 * time.Hour

// ProcessTask implements asynq.Handler.
func (s *DelayScanner) ProcessTask(ctx context.Context, task *asynq.Task) error {
	pl, err := decode[delayScanPayload](task)
	if err != nil {
		return err
	}
	_, err = s.Scan(ctx, pl.ShopID)
	return err
}

// Scan raises alerts for a shop's late and stalled shipments and returns
// how many shipments it looked at.
func (s *DelayScanner) Scan(ctx context.Context, shopID uint64) (int, error) {
	shop, err := s.store.ShopByID(ctx, shopID)
	if err != nil || !shop.Installed() {
		return 0, err
	}
	set, err := LoadSettings(ctx, s.store, shop.ID)
	if err != nil || !set.Delay.Enabled {
		return 0, err
	}
	now := s.now()
	fs, err := s.store.DelayedFulfillments(ctx, shop.ID, now, now.Add(-set.Delay.StalledAfter.D()), now.Add(-lookBack), 500)
	if err != nil {
		return 0, err
	}
	for _, f := range fs {
		o, err := s.store.Order(ctx, shop.ID, f.OrderPlatformID)
		if err != nil || o.Cancelled() {
			continue
		}
		reason := msgtmpl.ReasonStalled
		if f.EstimatedDeliveryAt != nil && f.EstimatedDeliveryAt.Before(now) {
			reason = msgtmpl.ReasonLate
		}
		t := models.Trigger{ShopID: shop.ID, OrderPlatformID: o.PlatformID}
		if err := raiseDelay(ctx, s.planner, shop, set, &o, t, fulfillmentSubject(f.PlatformID), reason, true); err != nil {
			return len(fs), fmt.Errorf("delay alert for %s: %w", o.Name, err)
		}
	}
	return len(fs), nil
}
