package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// Loyalty is what the storefront (app proxy) and the admin API ask of the
// loyalty program; the ledger's correctness lives in models, the program's
// rules here and in the loyalty flow.
type Loyalty struct {
	store     *models.Store
	discounts Discounts
	redeemer  *Redeemer
	log       *slog.Logger
	now       func() time.Time
}

// NewLoyalty builds the service; now may be nil (the wall clock).
func NewLoyalty(store *models.Store, discounts Discounts, now func() time.Time, log *slog.Logger) *Loyalty {
	if now == nil {
		now = time.Now
	}
	return &Loyalty{store: store, discounts: discounts, redeemer: NewRedeemer(store, discounts, now, log), log: log, now: now}
}

// Redeemer is the service's redeemer (the scan's reconciler uses it too).
func (l *Loyalty) Redeemer() *Redeemer { return l.redeemer }

// RewardsView is one customer's program state, as the rewards page and the
// admin show it.
type RewardsView struct {
	Program     LoyaltyProgram
	Account     models.LoyaltyAccount
	Tier        Tier
	NextTier    *Tier
	SpendNeeded decimal.Decimal // to reach NextTier
	History     []models.LoyaltyEntry
	Redemptions []models.LoyaltyRedemption
	Referrals   []models.Referral
}

// Rewards reads a customer's account (creating it on first sight: a
// logged-in shopper opening the rewards page has an account from then on).
func (l *Loyalty) Rewards(ctx context.Context, shop models.Shop, customer int64, historyLimit int) (RewardsView, error) {
	prog, err := LoadLoyaltyProgram(ctx, l.store, shop.ID)
	if err != nil {
		return RewardsView{}, err
	}
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer}
	acct, err := l.store.EnsureAccount(ctx, key)
	if err != nil {
		return RewardsView{}, err
	}
	// The account-created bonus: the rewards page is only reachable by a
	// shopper logged in to their store account, so the first visit is
	// when Doorstep learns the account exists. Once per customer.
	if prog.Enabled && prog.Bonuses.AccountCreated > 0 {
		if _, a, err := l.store.PostEntriesAt(ctx, l.now(), key, []models.LoyaltyEntry{{Kind: models.EntryEarn,
			SourceType: models.SourceBonus, SourceID: "account_created:" + strconv.FormatInt(customer, 10),
			Points: prog.Bonuses.AccountCreated, Reason: "account bonus"}}); err != nil {
			return RewardsView{}, err
		} else {
			acct = a
		}
	}
	v := RewardsView{Program: prog, Account: acct, Tier: prog.TierFor(acct.Spend12m)}
	if t, ok := prog.TierNamed(acct.Tier); ok {
		v.Tier = t
	}
	for i, t := range prog.Tiers {
		if t.Name == v.Tier.Name && i+1 < len(prog.Tiers) {
			next := prog.Tiers[i+1]
			v.NextTier, v.SpendNeeded = &next, next.MinSpend.Sub(acct.Spend12m)
		}
	}
	if v.History, err = l.store.Ledger(ctx, key, 0, historyLimit); err != nil {
		return RewardsView{}, err
	}
	if v.Redemptions, err = l.store.Redemptions(ctx, key, 20); err != nil {
		return RewardsView{}, err
	}
	if v.Referrals, err = l.store.Referrals(ctx, shop.ID, models.ReferralSearch{Referrer: customer, Limit: 50}); err != nil {
		return RewardsView{}, err
	}
	return v, nil
}

// RedeemOnce exchanges points for a code, once per key (see
// Redeemer.RedeemOnce).
func (l *Loyalty) RedeemOnce(ctx context.Context, shop models.Shop, customer, points int64, key string) (models.LoyaltyRedemption, models.LoyaltyAccount, error) {
	return l.redeemer.RedeemOnce(ctx, shop, customer, points, key)
}

// Redeem exchanges points for a code (see Redeemer.Redeem).
func (l *Loyalty) Redeem(ctx context.Context, shop models.Shop, customer, points int64) (models.LoyaltyRedemption, models.LoyaltyAccount, error) {
	return l.redeemer.Redeem(ctx, shop, customer, points)
}

var birthdayRe = regexp.MustCompile(`^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`)

// ErrBadBirthday: not an "MM-DD" date.
var ErrBadBirthday = errors.New(`birthday must be "MM-DD", a real day of the year`)

// SetBirthday records the shopper's birthday once; the birthday bonus is
// posted by the loyalty scan on the day, once a year.
func (l *Loyalty) SetBirthday(ctx context.Context, shop models.Shop, customer int64, mmdd string) (models.LoyaltyAccount, error) {
	if !birthdayRe.MatchString(mmdd) {
		return models.LoyaltyAccount{}, ErrBadBirthday
	}
	m, _ := strconv.Atoi(mmdd[:2])
	d, _ := strconv.Atoi(mmdd[3:])
	// 2024 is a leap year: 02-29 is a real birthday.
	if t := time.Date(2024, time.Month(m), d, 0, 0, 0, 0, time.UTC); t.Day() != d {
		return models.LoyaltyAccount{}, ErrBadBirthday
	}
	return l.store.SetBirthday(ctx, models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer}, mmdd)
}

// Adjust posts a merchant's manual change. key makes a retried request
// post once; reason and actor are required (the ledger says who and why).
func (l *Loyalty) Adjust(ctx context.Context, shop models.Shop, customer, points int64, reason, actor, key string) (models.LoyaltyEntry, models.LoyaltyAccount, bool, error) {
	reason, actor = strings.TrimSpace(reason), strings.TrimSpace(actor)
	switch {
	case points == 0:
		return models.LoyaltyEntry{}, models.LoyaltyAccount{}, false, errors.New("points must not be 0")
	case reason == "":
		return models.LoyaltyEntry{}, models.LoyaltyAccount{}, false, errors.New("a reason is required")
	case key == "":
		return models.LoyaltyEntry{}, models.LoyaltyAccount{}, false, errors.New("an idempotency key is required")
	}
	posted, acct, err := l.store.PostEntriesAt(ctx, l.now(), models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer},
		[]models.LoyaltyEntry{{Kind: models.EntryAdjust, SourceType: models.SourceManual, SourceID: key, Points: points,
			Reason: reason, Actor: actor}})
	if err != nil {
		return models.LoyaltyEntry{}, acct, false, err
	}
	if len(posted) == 0 {
		// A retried request is fine; the same key with other numbers is a
		// client bug that must not pass for a success.
		prev, err := l.store.EntryBySource(ctx, shop.ID, models.EntryAdjust, models.SourceManual, key)
		if err != nil {
			return models.LoyaltyEntry{}, acct, false, err
		}
		if prev.Points != points || prev.CustomerPlatformID != customer {
			return models.LoyaltyEntry{}, acct, false, fmt.Errorf("idempotency key already used for %d points: %w", prev.Points, models.ErrConflict)
		}
		return models.LoyaltyEntry{}, acct, false, nil
	}
	return posted[0], acct, true, nil
}

// ReferralCode gives the customer their referral code. On first use it
// creates the referee's discount on the platform under a fresh code, and
// only then saves the code on the account: a platform failure leaves no
// code without its discount (the next call tries again).
func (l *Loyalty) ReferralCode(ctx context.Context, shop models.Shop, customer int64, firstName string) (string, error) {
	prog, err := LoadLoyaltyProgram(ctx, l.store, shop.ID)
	if err != nil {
		return "", err
	}
	if !prog.Referral.Enabled {
		return "", fmt.Errorf("referrals: %w", ErrLoyaltyDisabled)
	}
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer}
	acct, err := l.store.EnsureAccount(ctx, key)
	if err != nil {
		return "", err
	}
	if acct.ReferralCode != "" {
		return acct.ReferralCode, nil
	}
	pct := prog.Referral.RefereePercent.Div(decimal.NewFromInt(100))
	for attempt := 0; attempt < 5; attempt++ {
		candidate := referralCodeFor(firstName)
		_, err := l.discounts.CreateDiscountCode(ctx, shop, DiscountCode{Code: candidate, Title: "Doorstep referral " + candidate,
			Percentage: &pct, OncePerCustomer: true, StartsAt: l.now().UTC()})
		if errors.Is(err, ErrCodeTaken) {
			continue // someone's code (or the merchant's own): another suffix
		}
		if err != nil {
			return "", fmt.Errorf("create the referee discount %s: %w", candidate, err)
		}
		// The code is saved once its discount exists. If this customer got
		// a code meanwhile (a parallel request), theirs stands and this
		// discount is an unused spare.
		return l.store.EnsureReferralCode(ctx, key, func(int) string { return candidate })
	}
	return "", errors.New("referral code: no free code after 5 attempts")
}

// referralCodeFor is the first name's first letters (A–Z only) and a random
// suffix: "ANNA-7K2Q".
func referralCodeFor(firstName string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(firstName) {
		if r >= 'A' && r <= 'Z' && b.Len() < 8 {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		b.WriteString("FRIEND")
	}
	return b.String() + "-" + randomCode(4)
}

// ReviewReferral is a merchant's decision on a flagged referral: approved
// referrals wait out the window like any other; rejected ones never pay.
func (l *Loyalty) ReviewReferral(ctx context.Context, shop models.Shop, id uint64, approve bool, reviewer string) (models.Referral, error) {
	to := models.ReferralRejected
	if approve {
		to = models.ReferralPending
	}
	ok, err := l.store.SetReferralStatus(ctx, l.now(), shop.ID, id, []string{models.ReferralFlagged}, to, reviewer)
	if err != nil {
		return models.Referral{}, err
	}
	r, err := l.store.ReferralByID(ctx, shop.ID, id)
	if err != nil {
		return models.Referral{}, err
	}
	if !ok {
		return r, fmt.Errorf("referral %d is %s, not flagged: %w", id, r.Status, models.ErrConflict)
	}
	return r, nil
}

// ReviewBonus credits the review bonus for one product review of an order
// (once per order and product, however often the page is submitted).
func (l *Loyalty) ReviewBonus(ctx context.Context, shop models.Shop, customer, orderPlatformID, productID int64) (int64, error) {
	prog, err := LoadLoyaltyProgram(ctx, l.store, shop.ID)
	if err != nil || !prog.Enabled || prog.Bonuses.Review <= 0 || customer == 0 {
		return 0, err
	}
	posted, _, err := l.store.PostEntriesAt(ctx, l.now(), models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer},
		[]models.LoyaltyEntry{{Kind: models.EntryEarn, SourceType: models.SourceBonus,
			SourceID: "review:" + strconv.FormatInt(orderPlatformID, 10) + ":" + strconv.FormatInt(productID, 10),
			Points:   prog.Bonuses.Review, OrderPlatformID: orderPlatformID, Reason: "product review"}})
	if err != nil || len(posted) == 0 {
		return 0, err
	}
	return posted[0].Points, nil
}
