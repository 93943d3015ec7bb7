package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// LoyaltyProgram is a shop's loyalty and referral program. JSON is the admin
// API's shape (GET/PUT /api/admin/loyalty); what a shop never saved takes
// DefaultLoyaltyProgram.
type LoyaltyProgram struct {
	Enabled bool `json:"enabled"`
	// PointsPerUnit: points per unit of the shop's currency, on the paid
	// subtotal after discounts (shipping and tax excluded unless included
	// below). Frozen on each entry when earned.
	PointsPerUnit   decimal.Decimal `json:"points_per_unit"`
	IncludeShipping bool            `json:"include_shipping"`
	IncludeTax      bool            `json:"include_tax"`
	// ReturnWindow: earned points stay pending this long after the order
	// is paid; a refund inside it takes them back before they can be spent.
	ReturnWindow Duration `json:"return_window"`
	// PointValue: what PointValuePoints points are worth in the shop's
	// currency when redeemed (and in the liability report).
	PointValuePoints int64           `json:"point_value_points"`
	PointValueAmount decimal.Decimal `json:"point_value_amount"`
	// RedeemOptions are the point amounts a shopper can exchange for a code.
	RedeemOptions []int64 `json:"redeem_options"`
	// CodeValidFor: how long a redemption's discount code stays usable.
	CodeValidFor Duration `json:"code_valid_for"`
	Bonuses      struct {
		FirstOrder     int64 `json:"first_order"`
		Review         int64 `json:"review"`
		Birthday       int64 `json:"birthday"`
		AccountCreated int64 `json:"account_created"`
	} `json:"bonuses"`
	// Tiers by rolling 12-month spend, lowest first; a tier's multiplier
	// applies to points earned while in it.
	Tiers []Tier `json:"tiers"`
	// ExpiryMonths: points lapse after this many months without activity
	// (0: never); a reminder goes ExpiryReminder before.
	ExpiryMonths   int      `json:"expiry_months"`
	ExpiryReminder Duration `json:"expiry_reminder"`
	// OnReversalOfSpentPoints: "debt" (future earnings pay it off) or
	// "cancel_code" (withdraw the unused discount code the points bought;
	// debt when the code was used).
	OnReversalOfSpentPoints string         `json:"on_reversal_of_spent_points"`
	Referral                ReferralConfig `json:"referral"`
	// NotifyShoppers: tell shoppers when points are reversed, a tier is
	// reached, points are about to expire and a referral pays (through
	// the message policy: quiet hours, consent, exactly once).
	NotifyShoppers bool `json:"notify_shoppers"`
}

// Tier is one level of the program.
type Tier struct {
	Name       string          `json:"name"`
	MinSpend   decimal.Decimal `json:"min_spend"` // rolling 12-month spend to reach it
	Multiplier decimal.Decimal `json:"multiplier"`
}

// ReferralConfig is the referral program.
type ReferralConfig struct {
	Enabled bool `json:"enabled"`
	// RefereePercent off the referee's first order (their discount code).
	RefereePercent decimal.Decimal `json:"referee_percent"`
	// RewardPoints for the referrer once the referee's order is past the
	// return window unrefunded.
	RewardPoints int64 `json:"reward_points"`
	// Fraud limits: referred orders from one browser IP or to one address,
	// and referrals per referrer per calendar month.
	MaxPerIP      int `json:"max_per_ip"`
	MaxPerAddress int `json:"max_per_address"`
	MonthlyCap    int `json:"monthly_cap"`
}

// DefaultLoyaltyProgram is what a shop starts with (disabled until the
// merchant turns it on).
func DefaultLoyaltyProgram() LoyaltyProgram {
	p := LoyaltyProgram{
		PointsPerUnit:           decimal.NewFromInt(1),
		ReturnWindow:            Duration(30 * 24 * time.Hour),
		PointValuePoints:        100,
		PointValueAmount:        decimal.NewFromInt(1),
		RedeemOptions:           []int64{500, 1000, 2000},
		CodeValidFor:            Duration(365 * 24 * time.Hour),
		ExpiryMonths:            12,
		ExpiryReminder:          Duration(30 * 24 * time.Hour),
		OnReversalOfSpentPoints: "debt",
		NotifyShoppers:          true,
		Tiers: []Tier{
			{Name: "Member", MinSpend: decimal.Zero, Multiplier: decimal.NewFromInt(1)},
			{Name: "Silver", MinSpend: decimal.NewFromInt(250), Multiplier: decimal.RequireFromString("1.25")},
			{Name: "Gold", MinSpend: decimal.NewFromInt(750), Multiplier: decimal.RequireFromString("1.5")},
		},
		Referral: ReferralConfig{RefereePercent: decimal.NewFromInt(10), RewardPoints: 500, MaxPerIP: 3, MaxPerAddress: 3, MonthlyCap: 10},
	}
	p.Bonuses.FirstOrder, p.Bonuses.Review, p.Bonuses.Birthday, p.Bonuses.AccountCreated = 100, 50, 200, 50
	return p
}

// Validate checks every field and names the first bad one.
func (p LoyaltyProgram) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &SettingsError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case p.PointsPerUnit.IsNegative() || p.PointsPerUnit.GreaterThan(decimal.NewFromInt(10000)):
		return bad("points_per_unit", "must be between 0 and 10000")
	case p.ReturnWindow < 0 || p.ReturnWindow.D() > 365*24*time.Hour:
		return bad("return_window", "must be between 0 and 365 days")
	case p.PointValuePoints <= 0:
		return bad("point_value_points", "must be positive")
	case !p.PointValueAmount.IsPositive():
		return bad("point_value_amount", "must be positive")
	case p.CodeValidFor.D() < time.Hour:
		return bad("code_valid_for", "must be at least an hour")
	case p.ExpiryMonths < 0 || p.ExpiryMonths > 120:
		return bad("expiry_months", "must be 0 (never) to 120")
	case p.ExpiryReminder < 0:
		return bad("expiry_reminder", "must not be negative")
	case p.OnReversalOfSpentPoints != "debt" && p.OnReversalOfSpentPoints != "cancel_code":
		return bad("on_reversal_of_spent_points", "must be \"debt\" or \"cancel_code\"")
	case p.Referral.RefereePercent.IsNegative() || p.Referral.RefereePercent.GreaterThan(decimal.NewFromInt(100)):
		return bad("referral.referee_percent", "must be between 0 and 100")
	case p.Referral.RewardPoints < 0:
		return bad("referral.reward_points", "must not be negative")
	case p.Referral.MaxPerIP < 0 || p.Referral.MaxPerAddress < 0 || p.Referral.MonthlyCap < 0:
		return bad("referral", "limits must not be negative (0: no limit)")
	}
	for i, o := range p.RedeemOptions {
		if o <= 0 || (i > 0 && o <= p.RedeemOptions[i-1]) {
			return bad("redeem_options", "must be positive point amounts in increasing order")
		}
	}
	for name, v := range map[string]int64{"first_order": p.Bonuses.FirstOrder, "review": p.Bonuses.Review,
		"birthday": p.Bonuses.Birthday, "account_created": p.Bonuses.AccountCreated} {
		if v < 0 {
			return bad("bonuses."+name, "must not be negative")
		}
	}
	for i, t := range p.Tiers {
		f := fmt.Sprintf("tiers[%d]", i)
		switch {
		case strings.TrimSpace(t.Name) == "" || len(t.Name) > 64:
			return bad(f+".name", "is required (at most 64 characters)")
		case t.MinSpend.IsNegative():
			return bad(f+".min_spend", "must not be negative")
		case i == 0 && !t.MinSpend.IsZero():
			return bad(f+".min_spend", "the first tier starts at 0")
		case i > 0 && !t.MinSpend.GreaterThan(p.Tiers[i-1].MinSpend):
			return bad(f+".min_spend", "tiers must be in increasing order of spend")
		case !t.Multiplier.IsPositive() || t.Multiplier.GreaterThan(decimal.NewFromInt(10)):
			return bad(f+".multiplier", "must be above 0 and at most 10")
		}
	}
	return nil
}

// TierFor is the tier a rolling spend reaches ("" and 1 when there are no
// tiers).
func (p LoyaltyProgram) TierFor(spend decimal.Decimal) Tier {
	out := Tier{Multiplier: decimal.NewFromInt(1)}
	for _, t := range p.Tiers {
		if !spend.LessThan(t.MinSpend) {
			out = t
		}
	}
	return out
}

// TierNamed finds a tier by name.
func (p LoyaltyProgram) TierNamed(name string) (Tier, bool) {
	i := slices.IndexFunc(p.Tiers, func(t Tier) bool { return t.Name == name })
	if i < 0 {
		return Tier{Multiplier: decimal.NewFromInt(1)}, false
	}
	return p.Tiers[i], true
}

// PointsValue is what points are worth in the shop's currency.
func (p LoyaltyProgram) PointsValue(points int64) decimal.Decimal {
	return p.PointValueAmount.Mul(decimal.NewFromInt(points)).Div(decimal.NewFromInt(p.PointValuePoints)).Round(2)
}

// LoyaltyProgramStore is where programs are kept.
type LoyaltyProgramStore interface {
	LoyaltyProgramData(ctx context.Context, shopID uint64) (string, error)
	SaveLoyaltyProgramData(ctx context.Context, shopID uint64, data string) error
}

var _ LoyaltyProgramStore = (*models.Store)(nil)

// LoadLoyaltyProgram reads the shop's program (defaults if never saved).
func LoadLoyaltyProgram(ctx context.Context, st LoyaltyProgramStore, shopID uint64) (LoyaltyProgram, error) {
	p := DefaultLoyaltyProgram()
	raw, err := st.LoyaltyProgramData(ctx, shopID)
	if err != nil || raw == "" {
		return p, err
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return DefaultLoyaltyProgram(), fmt.Errorf("stored loyalty program of shop %d: %w", shopID, err)
	}
	return p, nil
}

// ParseLoyaltyProgram overlays a JSON document on base (fields left out keep
// base's values), rejects unknown fields, and validates the result.
func ParseLoyaltyProgram(base LoyaltyProgram, body []byte) (LoyaltyProgram, error) {
	p := base
	// Lists are replaced, not merged element by element.
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err == nil {
		if _, ok := probe["tiers"]; ok {
			p.Tiers = nil
		}
		if _, ok := probe["redeem_options"]; ok {
			p.RedeemOptions = nil
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return base, fmt.Errorf("%w: %v", ErrBadSettings, err)
	}
	if err := p.Validate(); err != nil {
		return base, fmt.Errorf("%w: %w", ErrBadSettings, err)
	}
	return p, nil
}

// SaveLoyaltyProgram stores a validated program.
func SaveLoyaltyProgram(ctx context.Context, st LoyaltyProgramStore, shopID uint64, p LoyaltyProgram) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSettings, err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return st.SaveLoyaltyProgramData(ctx, shopID, string(b))
}
