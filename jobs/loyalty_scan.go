package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/models"
)

// TypeLoyaltyScan is the periodic loyalty work of one shop: pending points
// that waited out the return window, referral rewards now due, birthday
// bonuses, expiry reminders and expiry, redemptions a dead process left
// half-done, and the ledger's self-check.
const TypeLoyaltyScan = "loyalty:scan"

type loyaltyScanPayload struct {
	ShopID uint64 `json:"shop_id"`
}

// NewLoyaltyScanTask builds the scan for one shop and window (one per window
// however many schedulers run).
func NewLoyaltyScanTask(shopID uint64, window time.Time, period time.Duration) (*asynq.Task, []asynq.Option) {
	b, _ := json.Marshal(loyaltyScanPayload{ShopID: shopID})
	id := "loyaltyscan:" + strconv.FormatUint(shopID, 10) + ":" + strconv.FormatInt(window.Unix(), 10)
	return asynq.NewTask(TypeLoyaltyScan, b), []asynq.Option{asynq.TaskID(id), asynq.Queue(QueueFlows), asynq.MaxRetry(3),
		asynq.Retention(period)}
}

// LoyaltyScanner handles loyalty:scan.
type LoyaltyScanner struct {
	planner
	redeemer *Redeemer
	log      *slog.Logger
	// OnMismatch, if set, hears of every ledger self-check failure (a
	// metric in the app).
	OnMismatch func(n int)
}

// NewLoyaltyScanner builds the scan.
func NewLoyaltyScanner(store *models.Store, redeemer *Redeemer, wake func(), now func() time.Time, log *slog.Logger) *LoyaltyScanner {
	return &LoyaltyScanner{planner: planner{store: store, wake: wake, now: now}, redeemer: redeemer, log: log}
}

// ProcessTask implements asynq.Handler.
func (s *LoyaltyScanner) ProcessTask(ctx context.Context, task *asynq.Task) error {
	pl, err := decode[loyaltyScanPayload](task)
	if err != nil {
		return err
	}
	_, err = s.Scan(ctx, pl.ShopID)
	return err
}

// ScanResult counts what one scan did.
type ScanResult struct {
	Matured, Rewarded, Birthdays, Reminded, Expired, Reconciled, Mismatches int
	// TiersChanged counts accounts the nightly sweep moved (spend that
	// left the rolling 12 months lowers a tier with no event to notice it).
	TiersChanged int
}

// Scan runs the shop's periodic loyalty work. Each step is idempotent (the
// ledger's source keys), so a scan run twice, or two at once, change
// nothing more.
func (s *LoyaltyScanner) Scan(ctx context.Context, shopID uint64) (ScanResult, error) {
	var res ScanResult
	shop, err := s.store.ShopByID(ctx, shopID)
	if err != nil {
		return res, err
	}
	prog, err := LoadLoyaltyProgram(ctx, s.store, shop.ID)
	if err != nil || !shop.Installed() {
		return res, err
	}
	now := s.clock()
	// Redemptions are finished or undone even with the program off: those
	// points were taken while it was on.
	if s.redeemer != nil {
		if res.Reconciled, err = s.redeemer.Reconcile(ctx, shop); err != nil {
			s.log.Warn("loyalty scan: reconcile redemptions", "shop_id", shop.ID, "err", err)
		}
	}
	if prog.Enabled {
		keys, err := s.store.Mature(ctx, shop.ID, now)
		if err != nil {
			return res, err
		}
		res.Matured = len(keys)
		if res.Rewarded, err = s.rewardReferrals(ctx, prog, shop, now); err != nil {
			return res, err
		}
		if res.Birthdays, err = s.birthdays(ctx, prog, shop, now); err != nil {
			return res, err
		}
		if len(prog.Tiers) > 0 && tierSweepHour(shop, now) {
			if res.TiersChanged, err = s.sweepTiers(ctx, prog, shop, now); err != nil {
				return res, err
			}
		}
		if prog.ExpiryMonths > 0 {
			inactiveSince := now.AddDate(0, -prog.ExpiryMonths, 0)
			expired, err := s.store.ExpireInactive(ctx, now, shop.ID, inactiveSince)
			if err != nil {
				return res, err
			}
			res.Expired = len(expired)
			if res.Reminded, err = s.remind(ctx, prog, shop, now); err != nil {
				return res, err
			}
		}
	}
	bad, err := s.store.VerifyLedger(ctx, shop.ID)
	if err != nil {
		return res, err
	}
	if res.Mismatches = len(bad); res.Mismatches > 0 {
		// The ledger is the truth; a cached balance that disagrees is a bug
		// to look at, not something to paper over automatically.
		s.log.Error("loyalty ledger self-check failed", "shop_id", shop.ID, "accounts", len(bad), "first", fmt.Sprintf("%+v", bad[0]))
		if s.OnMismatch != nil {
			s.OnMismatch(len(bad))
		}
	}
	return res, nil
}

// rewardReferrals grants the rewards whose referee order is past the return
// window unrefunded; one that was refunded meanwhile is reversed instead.
func (s *LoyaltyScanner) rewardReferrals(ctx context.Context, prog LoyaltyProgram, shop models.Shop, now time.Time) (int, error) {
	due, err := s.store.DueReferrals(ctx, shop.ID, now, 200)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range due {
		o, err := s.store.Order(ctx, shop.ID, r.OrderPlatformID)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return n, err
		}
		if err != nil || o.Cancelled() || len(o.Refunds) > 0 {
			if _, _, err := s.store.ReverseReferral(ctx, now, r, "referee order refunded, cancelled or gone"); err != nil {
				return n, err
			}
			continue
		}
		done, _, err := s.store.RewardReferral(ctx, now, r, models.LoyaltyEntry{Points: prog.Referral.RewardPoints,
			Reason: "friend's first order " + o.Name})
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
		if prog.NotifyShoppers && (done || r.Status == models.ReferralRewarded) {
			if err := s.tell(ctx, shop, r.ReferrerPlatformID, FlowReferralReward, referralSubject(r.ID)); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// birthdays posts the birthday bonus to accounts whose birthday is today (in
// the shop's zone), once per year (the year is in the source key).
func (s *LoyaltyScanner) birthdays(ctx context.Context, prog LoyaltyProgram, shop models.Shop, now time.Time) (int, error) {
	if prog.Bonuses.Birthday <= 0 {
		return 0, nil
	}
	loc := time.UTC
	if l, err := time.LoadLocation(shop.Timezone); err == nil && shop.Timezone != "" {
		loc = l
	}
	local := now.In(loc)
	today := local.Format("01-02")
	n := 0
	var after uint64
	for {
		accts, err := s.store.LoyaltyCustomers(ctx, shop.ID, after, 500)
		if err != nil {
			return n, err
		}
		if len(accts) == 0 {
			return n, nil
		}
		for _, a := range accts {
			after = a.ID
			// 02-29 birthdays are celebrated on 02-28 in other years.
			bd := a.Birthday
			if bd == "02-29" && !isLeap(local.Year()) {
				bd = "02-28"
			}
			if bd == "" || bd != today {
				continue
			}
			posted, _, err := s.store.PostEntriesAt(ctx, now, models.AccountKey{ShopID: shop.ID, CustomerPlatformID: a.CustomerPlatformID},
				[]models.LoyaltyEntry{{Kind: models.EntryEarn, SourceType: models.SourceBonus,
					SourceID: "birthday:" + strconv.Itoa(local.Year()), Points: prog.Bonuses.Birthday, Reason: "birthday bonus"}})
			if err != nil {
				return n, err
			}
			n += len(posted)
		}
	}
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// remind marks the accounts whose points expire within the reminder period;
// the message itself is queued by the loyalty messages (see
// queueExpiryReminder).
func (s *LoyaltyScanner) remind(ctx context.Context, prog LoyaltyProgram, shop models.Shop, now time.Time) (int, error) {
	if prog.ExpiryReminder <= 0 {
		return 0, nil
	}
	// Last active in [now − months, now − months + reminder): they lapse
	// within the reminder period.
	from := now.AddDate(0, -prog.ExpiryMonths, 0)
	to := from.Add(prog.ExpiryReminder.D())
	accts, err := s.store.ExpiringAccounts(ctx, shop.ID, from, to, 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range accts {
		expires := a.LastActivityAt.AddDate(0, prog.ExpiryMonths, 0).UTC().Truncate(24 * time.Hour)
		if a.ExpiryNoticeFor != nil && a.ExpiryNoticeFor.Equal(expires) {
			continue
		}
		// The message first (its unique key makes a repeat a no-op), then
		// the mark: a crash in between repeats the tell, never loses it.
		if prog.NotifyShoppers {
			if err := s.tell(ctx, shop, a.CustomerPlatformID, FlowLoyaltyExpiring, expirySubject(expires)); err != nil {
				return n, err
			}
		}
		first, err := s.store.MarkExpiryNotice(ctx, now, models.AccountKey{ShopID: shop.ID, CustomerPlatformID: a.CustomerPlatformID}, expires)
		if err != nil {
			return n, err
		}
		if first {
			n++
		}
	}
	return n, nil
}

// tell queues a loyalty notice to a customer, addressed as on their latest
// order (its email, phone, zone and language); a customer with no order
// stored gets none.
func (s *LoyaltyScanner) tell(ctx context.Context, shop models.Shop, customer int64, flow, subject string) error {
	o, err := s.store.LatestOrderOf(ctx, shop.ID, customer, 0)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	full, err := s.store.Order(ctx, shop.ID, o.PlatformID)
	if err != nil {
		return err
	}
	set, err := LoadSettings(ctx, s.store, shop.ID)
	if err != nil {
		return err
	}
	var ms []models.Message
	for _, r := range shopperRecipients(set, &full) {
		ms = append(ms, s.message(shop, &full, models.Trigger{}, flow, "", subject, r, s.clock()))
	}
	return s.queue(ctx, ms)
}

// tierSweepHour: the nightly tier sweep runs in the scan of 03:00–04:00,
// shop time (the scan is hourly; its windows make it once a night).
func tierSweepHour(shop models.Shop, now time.Time) bool {
	loc := time.UTC
	if l, err := time.LoadLocation(shop.Timezone); err == nil && shop.Timezone != "" {
		loc = l
	}
	return now.In(loc).Hour() == 3
}

// sweepTiers re-judges every account's tier on its rolling 12-month spend;
// a move up is announced like one caused by an order.
func (s *LoyaltyScanner) sweepTiers(ctx context.Context, prog LoyaltyProgram, shop models.Shop, now time.Time) (int, error) {
	n := 0
	var after uint64
	for {
		accts, err := s.store.LoyaltyCustomers(ctx, shop.ID, after, 500)
		if err != nil || len(accts) == 0 {
			return n, err
		}
		for _, a := range accts {
			after = a.ID
			key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: a.CustomerPlatformID}
			spend, err := s.store.Spend12m(ctx, key, now)
			if err != nil {
				return n, err
			}
			t := prog.TierFor(spend)
			changed, _, err := s.store.SetTier(ctx, now, key, t.Name, spend)
			if err != nil {
				return n, err
			}
			if !changed {
				continue
			}
			n++
			if prog.NotifyShoppers && tierRank(prog, t.Name) > max(tierRank(prog, a.Tier), 0) {
				if err := s.tell(ctx, shop, a.CustomerPlatformID, FlowLoyaltyTierUp, tierSubject(t.Name)); err != nil {
					return n, err
				}
			}
		}
	}
}
