package jobs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// Loyalty message subjects name what the notice is about; the numbers are
// read from the ledger when the message is rendered.
func reversalSubject(cause string) string { return "reversal:" + cause }
func tierSubject(tier string) string      { return "tier:" + tier }
func expirySubject(at time.Time) string   { return "expiry:" + at.UTC().Format("2006-01-02") }
func referralSubject(id uint64) string    { return "referral:" + strconv.FormatUint(id, 10) }

// loyaltyData fills d.Loyalty and the rewards links for a loyalty notice.
func (c *Composer) loyaltyData(ctx context.Context, shop models.Shop, m models.Message, o *models.Order, d *msgtmpl.Data) error {
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: m.CustomerPlatformID}
	if key.CustomerPlatformID == 0 {
		key.CustomerPlatformID = o.CustomerPlatformID
	}
	acct, err := c.store.Account(ctx, key)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	l := &msgtmpl.Loyalty{Balance: acct.Balance(), Pending: acct.Pending, Debt: acct.Debt, OrderName: o.Name}
	kind, rest, _ := strings.Cut(m.Subject, ":")
	switch m.Flow {
	case FlowLoyaltyReversed:
		entries, err := c.store.OrderEntries(ctx, shop.ID, o.PlatformID)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Kind == models.EntryReverse && e.CustomerPlatformID == key.CustomerPlatformID && strings.HasPrefix(e.SourceID, rest+":") {
				l.Points -= e.Points
			}
		}
		switch {
		case rest == "cancel" || o.Cancelled():
			l.Reason = msgtmpl.LoyaltyReasonCancellation
		case o.FinancialStatus == "refunded":
			l.Reason = msgtmpl.LoyaltyReasonRefund
		default:
			l.Reason = msgtmpl.LoyaltyReasonPartialRefund
		}
	case FlowLoyaltyTierUp:
		l.Tier = rest
		if prog, err := LoadLoyaltyProgram(ctx, c.store, shop.ID); err == nil {
			if t, ok := prog.TierNamed(rest); ok && !t.Multiplier.Equal(decimal.NewFromInt(1)) {
				l.Multiplier = t.Multiplier.String() // "1" would read "1 times the points"
			}
		}
	case FlowLoyaltyExpiring:
		l.Points = acct.Available
		if t, err := time.Parse("2006-01-02", rest); err == nil {
			l.ExpiresAt = t
		}
	case FlowReferralReward:
		if kind == "referral" {
			has, err := c.store.Ledger(ctx, key, 0, 200)
			if err != nil {
				return err
			}
			for _, e := range has {
				if e.Kind == models.EntryReferralReward && e.SourceID == rest {
					l.Points = e.Points
				}
			}
		}
	}
	d.Loyalty = l
	// The rewards block lives on the storefront's account page.
	d.Links.Rewards = "https://" + shop.Domain + "/account"
	if acct.ReferralCode != "" {
		d.Links.Referral = c.appURL + "/r/" + acct.ReferralCode
	}
	return nil
}
