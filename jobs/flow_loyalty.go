package jobs

import (
	"context"
	"errors"
	"fmt"
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
	// discounts, when set, lets a reversal withdraw an unused code the
	// reversed points bought (on_reversal_of_spent_points: cancel_code).
	discounts Discounts
}

// WithDiscounts gives the flow the platform's discount API.
func (f *LoyaltyFlow) WithDiscounts(d Discounts) *LoyaltyFlow {
	f.discounts = d
	return f
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
	shop, set, o, err := f.load(ctx, t)
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
		if err := f.earn(ctx, prog, o, key, f.paidTime(o)); err != nil {
			return err
		}
		if prog.Referral.Enabled {
			if err := f.attribute(ctx, prog, shop, o, f.paidTime(o)); err != nil {
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
		reversed, err := f.reverse(ctx, o, key, cause)
		if err != nil {
			return err
		}
		if reversed > 0 && prog.OnReversalOfSpentPoints == "cancel_code" {
			if err := f.withdrawUnusedCodes(ctx, shop, key); err != nil {
				return err
			}
		}
		if reversed > 0 && prog.NotifyShoppers {
			if err := f.tell(ctx, shop, set, o, t, FlowLoyaltyReversed, reversalSubject(cause)); err != nil {
				return err
			}
		}
		if err := f.reverseReferral(ctx, shop, o); err != nil {
			return err
		}
	}
	up, tier, err := f.judgeTier(ctx, prog, key)
	if err != nil || !up || !prog.NotifyShoppers {
		return err
	}
	return f.tell(ctx, shop, set, o, t, FlowLoyaltyTierUp, tierSubject(tier))
}

// tell queues a loyalty notice to the order's shopper.
func (f *LoyaltyFlow) tell(ctx context.Context, shop models.Shop, set Settings, o *models.Order, t models.Trigger, flow, subject string) error {
	var ms []models.Message
	for _, r := range shopperRecipients(set, o) {
		ms = append(ms, f.message(shop, o, t, flow, "", subject, r, f.clock()))
	}
	return f.queue(ctx, ms)
}

// paidTime starts the return window: when the platform processed the
// payment, else now (the trigger runs moments after the webhook).
func (f *LoyaltyFlow) paidTime(o *models.Order) time.Time {
	if o.ProcessedAt != nil {
		return *o.ProcessedAt
	}
	return f.clock()
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

// reverse takes back what the order's refunds and cancellation say and
// returns the points taken.
func (f *LoyaltyFlow) reverse(ctx context.Context, o *models.Order, key models.AccountKey, cause string) (int64, error) {
	existing, err := f.store.OrderEntries(ctx, key.ShopID, o.PlatformID)
	if err != nil {
		return 0, err
	}
	entries := reversalEntries(o, existing, cause)
	if len(entries) == 0 {
		// Already posted (a replay): still report it, so a notice lost
		// with a crash after the posting is queued on the retry (the
		// message's unique key keeps it to one).
		return -pointsOf(reversedBy(existing, cause)), nil
	}
	posted, _, err := f.store.PostEntriesAt(ctx, f.clock(), key, entries)
	if err != nil {
		return 0, err
	}
	f.log.Info("loyalty points reversed", "shop_id", key.ShopID, "order", o.PlatformID, "points", -pointsOf(posted), "cause", cause)
	return -pointsOf(posted) - pointsOf(reversedBy(existing, cause)), nil
}

// reversedBy are the reverse entries a cause already posted.
func reversedBy(entries []models.LoyaltyEntry, cause string) []models.LoyaltyEntry {
	var out []models.LoyaltyEntry
	for _, e := range entries {
		if e.Kind == models.EntryReverse && strings.HasPrefix(e.SourceID, cause+":") {
			out = append(out, e)
		}
	}
	return out
}

// judgeTier re-computes the customer's rolling 12-month spend and tier; up
// is true when they moved to a higher tier than they had.
func (f *LoyaltyFlow) judgeTier(ctx context.Context, prog LoyaltyProgram, key models.AccountKey) (up bool, tier string, err error) {
	if len(prog.Tiers) == 0 {
		return false, "", nil
	}
	now := f.clock()
	before, err := f.store.Account(ctx, key)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return false, "", err
	}
	spend, err := f.store.Spend12m(ctx, key, now)
	if err != nil {
		return false, "", err
	}
	t := prog.TierFor(spend)
	changed, _, err := f.store.SetTier(ctx, now, key, t.Name, spend)
	if err != nil || !changed {
		return false, t.Name, err
	}
	// The lowest tier is where everyone starts: reaching it is no news.
	return tierRank(prog, t.Name) > max(tierRank(prog, before.Tier), 0), t.Name, nil
}

func tierRank(p LoyaltyProgram, name string) int {
	for i, t := range p.Tiers {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// withdrawUnusedCodes: while the account is in debt, withdraw the newest
// unused codes its points bought and give those points back (which pays the
// debt first). A code already used stays, and its share remains a debt.
func (f *LoyaltyFlow) withdrawUnusedCodes(ctx context.Context, shop models.Shop, key models.AccountKey) error {
	if f.discounts == nil {
		return nil
	}
	acct, err := f.store.Account(ctx, key)
	if err != nil {
		return err
	}
	reds, err := f.store.Redemptions(ctx, key, 50)
	if err != nil {
		return err
	}
	for _, r := range reds {
		if acct.Debt <= 0 {
			return nil
		}
		if r.Status != models.RedemptionActive {
			continue
		}
		info, err := f.discounts.DiscountCodeByCode(ctx, shop, r.Code)
		if err != nil {
			return fmt.Errorf("look up code %s: %w", r.Code, err)
		}
		if info != nil && info.UsageCount > 0 {
			continue // spent at checkout: the debt stands
		}
		if info != nil {
			if err := f.discounts.DeleteDiscountCode(ctx, shop, info.ID); err != nil {
				return fmt.Errorf("withdraw code %s: %w", r.Code, err)
			}
		}
		done, a, err := f.store.UndoRedemption(ctx, f.clock(), shop.ID, r.ID, models.RedemptionCancelled,
			"withdrawn unused: the points that bought it were reversed")
		if err != nil {
			return err
		}
		if done {
			acct = a
			f.log.Info("unused loyalty code withdrawn", "shop_id", shop.ID, "redemption_id", r.ID)
		}
	}
	return nil
}
