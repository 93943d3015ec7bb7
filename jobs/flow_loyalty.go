package jobs

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// FlowLoyalty is the loyalty flow's name (trigger runs record it).
const FlowLoyalty = "loyalty"

// LoyaltyFlow keeps the points ledger in step with orders: a paid order
// earns (pending for the return window), a refund takes back exactly the
// refunded share at the rate frozen on the earn, a cancellation or full
// refund takes back everything the order gave, and the shopper is told.
// It also attributes referee orders to referrers and re-judges tiers.
//
// Every entry has a unique source key, so a trigger handled twice, or two
// webhooks for the same refund, post once.
type LoyaltyFlow struct {
	planner
	log *slog.Logger
}

// NewLoyaltyFlow builds the flow.
func NewLoyaltyFlow(store *models.Store, wake func(), now func() time.Time, log *slog.Logger) *LoyaltyFlow {
	return &LoyaltyFlow{planner: planner{store: store, wake: wake, now: now}, log: log}
}

func (f *LoyaltyFlow) Name() string { return FlowLoyalty }
func (f *LoyaltyFlow) Kinds() []string {
	return []string{models.TriggerOrderPaid, models.TriggerRefundCreated, models.TriggerOrderCancelled}
}

// Handle applies one trigger to the ledger.
func (f *LoyaltyFlow) Handle(ctx context.Context, t models.Trigger) error {
	shop, _, o, err := f.load(ctx, t)
	if err != nil || o == nil || o.CustomerPlatformID == 0 || o.Test {
		return err // guests have no account; test orders earn nothing
	}
	prog, err := LoadLoyaltyProgram(ctx, f.store, shop.ID)
	if err != nil || !prog.Enabled {
		return err
	}
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: o.CustomerPlatformID}
	switch t.Kind {
	case models.TriggerOrderPaid:
		if o.Cancelled() {
			return nil
		}
		if err := f.earn(ctx, prog, o, key, paidTime(o, t)); err != nil {
			return err
		}
		if prog.Referral.Enabled {
			if err := f.attribute(ctx, prog, shop, o, paidTime(o, t)); err != nil {
				return err
			}
		}
	case models.TriggerRefundCreated, models.TriggerOrderCancelled:
		cause := "cancel"
		if t.Kind == models.TriggerRefundCreated {
			cause = strings.Replace(t.Subject, "refund:", "refund-", 1)
			// An exchange adds lines to the order: they earn like the
			// first ones, so a like-for-like exchange nets to zero.
			if o.Paid() && !o.Cancelled() {
				if err := f.earn(ctx, prog, o, key, f.clock()); err != nil {
					return err
				}
			}
		}
		if err := f.reverse(ctx, o, key, cause); err != nil {
			return err
		}
		if err := f.reverseReferral(ctx, shop, o); err != nil {
			return err
		}
	}
	_, err = f.judgeTier(ctx, prog, key)
	return err
}

func paidTime(o *models.Order, t models.Trigger) time.Time {
	if o.ProcessedAt != nil {
		return *o.ProcessedAt
	}
	if !t.CreatedAt.IsZero() {
		return t.CreatedAt
	}
	return o.PlatformCreatedAt
}

// earn posts the order's earn entries at the customer's current tier, and
// the first-order bonus.
func (f *LoyaltyFlow) earn(ctx context.Context, prog LoyaltyProgram, o *models.Order, key models.AccountKey, paidAt time.Time) error {
	existing, err := f.store.OrderEntries(ctx, key.ShopID, o.PlatformID)
	if err != nil {
		return err
	}
	mult := decimal.NewFromInt(1)
	if acct, err := f.store.Account(ctx, key); err == nil {
		if t, ok := prog.TierNamed(acct.Tier); ok {
			mult = t.Multiplier
		}
	} else if !errors.Is(err, models.ErrNotFound) {
		return err
	}
	entries := earnEntries(prog, o, mult, paidAt, earnedLines(existing))
	if prog.Bonuses.FirstOrder > 0 && !hasKind(existing, models.EntryEarn) {
		prior, err := f.store.PriorOrders(ctx, key.ShopID, key.CustomerPlatformID, *o)
		if err != nil {
			return err
		}
		if prior == 0 {
			until := paidAt.Add(prog.ReturnWindow.D())
			entries = append(entries, models.LoyaltyEntry{Kind: models.EntryEarn, SourceType: models.SourceBonus,
				SourceID: "first_order:" + strconv.FormatInt(key.CustomerPlatformID, 10), Points: prog.Bonuses.FirstOrder,
				PendingUntil: &until, OrderPlatformID: o.PlatformID, Reason: "first order bonus"})
		}
	}
	if len(entries) == 0 {
		return nil
	}
	_, _, err = f.store.PostEntriesAt(ctx, f.clock(), key, entries)
	return err
}

// reverse takes back what the order's refunds and cancellation say, and
// queues the shopper's notice when points went.
func (f *LoyaltyFlow) reverse(ctx context.Context, o *models.Order, key models.AccountKey, cause string) error {
	existing, err := f.store.OrderEntries(ctx, key.ShopID, o.PlatformID)
	if err != nil {
		return err
	}
	entries := reversalEntries(o, existing, cause)
	if len(entries) == 0 {
		return nil
	}
	posted, _, err := f.store.PostEntriesAt(ctx, f.clock(), key, entries)
	if err != nil || len(posted) == 0 {
		return err
	}
	f.log.Info("loyalty points reversed", "shop_id", key.ShopID, "order", o.PlatformID, "points", -pointsOf(posted), "cause", cause)
	return nil
}

// judgeTier re-computes the customer's rolling 12-month spend and tier.
func (f *LoyaltyFlow) judgeTier(ctx context.Context, prog LoyaltyProgram, key models.AccountKey) (bool, error) {
	if len(prog.Tiers) == 0 {
		return false, nil
	}
	now := f.clock()
	spend, err := f.store.Spend12m(ctx, key, now)
	if err != nil {
		return false, err
	}
	tier := prog.TierFor(spend)
	changed, _, err := f.store.SetTier(ctx, now, key, tier.Name, spend)
	return changed, err
}
