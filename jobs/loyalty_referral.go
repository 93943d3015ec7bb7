package jobs

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/doorstep/doorstep/models"
)

// Fraud reasons a referral is flagged for (recorded on the referral, shown
// in the admin's review queue).
const (
	FraudSelfCustomer = "self_referral_customer"
	FraudSelfEmail    = "self_referral_email"
	FraudSelfPhone    = "self_referral_phone"
	FraudSelfAddress  = "self_referral_address"
	FraudNotNew       = "referee_not_new"
	FraudIPLimit      = "too_many_from_ip"
	FraudAddressLimit = "too_many_to_address"
	FraudMonthlyCap   = "referrer_monthly_cap"
)

// referralCode finds the referral code an order came with: a discount code
// at checkout, Doorstep's cart attribute, or ?ref= on the landing page —
// in that order (the discount code is what the shopper actually used).
func (f *LoyaltyFlow) referralCode(ctx context.Context, shopID uint64, o *models.Order) (models.LoyaltyAccount, string, error) {
	var candidates []struct{ code, via string }
	for _, c := range strings.Split(o.DiscountCodes, ",") {
		if c = strings.TrimSpace(c); c != "" {
			candidates = append(candidates, struct{ code, via string }{c, "discount_code"})
		}
	}
	if o.ReferralCode != "" {
		candidates = append(candidates, struct{ code, via string }{o.ReferralCode, "link"})
	}
	if ref := landingRef(o.LandingSite); ref != "" {
		candidates = append(candidates, struct{ code, via string }{ref, "link"})
	}
	for _, c := range candidates {
		a, err := f.store.AccountByReferralCode(ctx, shopID, c.code)
		if errors.Is(err, models.ErrNotFound) {
			continue
		}
		if err != nil {
			return models.LoyaltyAccount{}, "", err
		}
		return a, c.via, nil
	}
	return models.LoyaltyAccount{}, "", nil
}

func landingRef(landing string) string {
	if landing == "" {
		return ""
	}
	u, err := url.Parse(landing)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(u.Query().Get("ref"))
}

// attribute records a referee's order for its referrer, with the fraud
// checks: a clean referral waits for the return window, a flagged one for
// the merchant's review.
func (f *LoyaltyFlow) attribute(ctx context.Context, prog LoyaltyProgram, shop models.Shop, o *models.Order, paidAt time.Time) error {
	referrer, via, err := f.referralCode(ctx, shop.ID, o)
	if err != nil || referrer.ID == 0 {
		return err
	}
	reasons, err := f.fraudReasons(ctx, prog, shop, o, referrer)
	if err != nil {
		return err
	}
	due := paidAt.Add(prog.ReturnWindow.D())
	r := models.Referral{ShopID: shop.ID, OrderPlatformID: o.PlatformID, ReferrerPlatformID: referrer.CustomerPlatformID,
		RefereePlatformID: o.CustomerPlatformID, Code: referrer.ReferralCode, Via: via, Status: models.ReferralPending,
		RewardDueAt: &due}
	if len(reasons) > 0 {
		r.Status, r.Reasons = models.ReferralFlagged, strings.Join(reasons, ",")
	}
	r, created, err := f.store.CreateReferral(ctx, f.clock(), r)
	if err == nil && created {
		f.log.Info("referral attributed", "shop_id", shop.ID, "order", o.PlatformID, "status", r.Status, "reasons", r.Reasons)
	}
	return err
}

// fraudReasons runs every rule and returns the ones that fired.
func (f *LoyaltyFlow) fraudReasons(ctx context.Context, prog LoyaltyProgram, shop models.Shop, o *models.Order, referrer models.LoyaltyAccount) ([]string, error) {
	var out []string
	if referrer.CustomerPlatformID == o.CustomerPlatformID {
		out = append(out, FraudSelfCustomer)
	}
	ref, err := f.store.CustomerByPlatformID(ctx, shop.ID, referrer.CustomerPlatformID)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	refereeEmail, refereePhone := o.Email, o.Phone
	if o.Customer != nil {
		refereeEmail = firstNonEmpty(refereeEmail, o.Customer.Email)
		refereePhone = firstNonEmpty(refereePhone, o.Customer.Phone)
	}
	if e := NormalizeEmail(ref.Email); e != "" && e == NormalizeEmail(refereeEmail) {
		out = append(out, FraudSelfEmail)
	}
	if p := phoneKey(ref.Phone); p != "" && p == phoneKey(refereePhone) {
		out = append(out, FraudSelfPhone)
	}
	if last, err := f.store.LatestOrderOf(ctx, shop.ID, referrer.CustomerPlatformID, o.PlatformID); err == nil {
		if a := normalizeAddress(last.ShippingAddress); a != "" && a == normalizeAddress(o.ShippingAddress) {
			out = append(out, FraudSelfAddress)
		}
	} else if !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	prior, err := f.store.PriorOrders(ctx, shop.ID, o.CustomerPlatformID, *o)
	if err != nil {
		return nil, err
	}
	if prior > 0 {
		out = append(out, FraudNotNew)
	}
	now := f.clock()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	counts, err := f.store.ReferralFraudCounts(ctx, shop.ID, *o, referrer.CustomerPlatformID, month)
	if err != nil {
		return nil, err
	}
	rc := prog.Referral
	if rc.MaxPerIP > 0 && counts.FromIP >= int64(rc.MaxPerIP) {
		out = append(out, FraudIPLimit)
	}
	if rc.MaxPerAddress > 0 && counts.ToAddress >= int64(rc.MaxPerAddress) {
		out = append(out, FraudAddressLimit)
	}
	if rc.MonthlyCap > 0 && counts.ReferrerMonth >= int64(rc.MonthlyCap) {
		out = append(out, FraudMonthlyCap)
	}
	return out, nil
}

// reverseReferral: a referee order refunded or cancelled never pays its
// referrer, and a reward already paid is taken back.
func (f *LoyaltyFlow) reverseReferral(ctx context.Context, shop models.Shop, o *models.Order) error {
	r, err := f.store.ReferralByOrder(ctx, shop.ID, o.PlatformID)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, _, err = f.store.ReverseReferral(ctx, f.clock(), r, "referee order "+o.Name+" refunded or cancelled")
	return err
}

// gmailLike are the providers that ignore dots and +tags in the local part.
var gmailLike = map[string]string{"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}

// NormalizeEmail folds the ways one mailbox can be written: case, and for
// Gmail-style addresses dots and +tags in the local part.
func NormalizeEmail(e string) string {
	e = strings.ToLower(strings.TrimSpace(e))
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return ""
	}
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	if d, ok := gmailLike[domain]; ok {
		local, domain = strings.ReplaceAll(local, ".", ""), d
	}
	return local + "@" + domain
}

var nonDigits = regexp.MustCompile(`\D`)

// phoneKey keeps the last 9 digits: enough to tell numbers apart,
// blind to how the country code was written.
func phoneKey(p string) string {
	d := nonDigits.ReplaceAllString(p, "")
	if len(d) < 7 {
		return ""
	}
	if len(d) > 9 {
		d = d[len(d)-9:]
	}
	return d
}

func normalizeAddress(a models.Address) string {
	if strings.TrimSpace(a.Address1) == "" {
		return ""
	}
	f := func(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }
	return f(a.Address1) + "|" + f(a.Address2) + "|" + f(a.Zip) + "|" + strings.ToUpper(a.CountryCode)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
