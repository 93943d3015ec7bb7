package jobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// DiscountCode is a discount to create on the shop's platform.
type DiscountCode struct {
	Code, Title     string
	Percentage      *decimal.Decimal // 0 < p ≤ 1
	Amount          *decimal.Decimal // fixed amount off the order, shop currency
	CustomerID      int64            // 0: anyone
	UsageLimit      int              // 0: unlimited
	OncePerCustomer bool
	StartsAt        time.Time
	EndsAt          *time.Time
}

// DiscountInfo is what the platform says about a code.
type DiscountInfo struct {
	ID         string
	Code       string
	Status     string
	UsageCount int
}

// Discounts is the platform's discount API (Shopify's discountCodeBasicCreate
// and friends), for one shop at a time; the app supplies it with the shop's
// token.
type Discounts interface {
	// CreateDiscountCode returns the platform's id of the new code. A code
	// that already exists is ErrCodeTaken.
	CreateDiscountCode(ctx context.Context, shop models.Shop, d DiscountCode) (string, error)
	// DiscountCodeByCode returns nil, nil when there is no such code.
	DiscountCodeByCode(ctx context.Context, shop models.Shop, code string) (*DiscountInfo, error)
	DeleteDiscountCode(ctx context.Context, shop models.Shop, id string) error
}

// Errors a Discounts implementation returns (wrapped).
var (
	// ErrCodeTaken: the code exists already (a retried create).
	ErrCodeTaken = errors.New("discount code already exists")
	// ErrCodeRejected: the platform refused the discount for good.
	ErrCodeRejected = errors.New("discount code rejected")
)

// Errors Redeem returns (wrapped) besides models.ErrInsufficientPoints.
var (
	ErrLoyaltyDisabled   = errors.New("the loyalty program is off")
	ErrNotARedeemOption  = errors.New("not one of the shop's redeem options")
	ErrRedemptionPending = errors.New("the discount code is being created; try again in a minute")
	ErrRedemptionFailed  = errors.New("the shop could not create the discount code; your points are back")
)

// Redeemer exchanges points for single-use discount codes.
type Redeemer struct {
	store     *models.Store
	discounts Discounts
	log       *slog.Logger
	now       func() time.Time
}

// NewRedeemer builds a Redeemer; now may be nil (the wall clock).
func NewRedeemer(store *models.Store, discounts Discounts, now func() time.Time, log *slog.Logger) *Redeemer {
	if now == nil {
		now = time.Now
	}
	return &Redeemer{store: store, discounts: discounts, log: log, now: now}
}

// Redeem takes points from the customer and creates their code: the points
// and the redemption row are written in one transaction first, so a
// concurrent second attempt sees the lower balance; then the platform call.
// If the platform refuses, the points come back (ErrRedemptionFailed); if
// the answer is lost, the code is looked up, and if even that fails the
// redemption stays "creating" for the reconciler (ErrRedemptionPending).
func (r *Redeemer) Redeem(ctx context.Context, shop models.Shop, customer int64, points int64) (models.LoyaltyRedemption, models.LoyaltyAccount, error) {
	return r.RedeemOnce(ctx, shop, customer, points, "")
}

// RedeemOnce is Redeem for a request that may be sent again (a form
// reloaded in the browser): the same key makes the same code, so a second
// submission finds the first one's redemption instead of spending again.
// An empty key is a fresh, random code.
func (r *Redeemer) RedeemOnce(ctx context.Context, shop models.Shop, customer int64, points int64, key string) (models.LoyaltyRedemption, models.LoyaltyAccount, error) {
	prog, err := LoadLoyaltyProgram(ctx, r.store, shop.ID)
	if err != nil {
		return models.LoyaltyRedemption{}, models.LoyaltyAccount{}, err
	}
	if !prog.Enabled {
		return models.LoyaltyRedemption{}, models.LoyaltyAccount{}, ErrLoyaltyDisabled
	}
	if !slices.Contains(prog.RedeemOptions, points) {
		return models.LoyaltyRedemption{}, models.LoyaltyAccount{}, fmt.Errorf("%d points: %w", points, ErrNotARedeemOption)
	}
	now := r.now().UTC()
	code := newRedemptionCode()
	if key != "" {
		code = keyedRedemptionCode(shop.ID, customer, key)
	}
	acctKey := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer}
	red, acct, err := r.store.Redeem(ctx, now, acctKey,
		models.LoyaltyRedemption{Code: code, Points: points, Value: prog.PointsValue(points), Currency: shop.Currency})
	if errors.Is(err, models.ErrConflict) && key != "" {
		prev, perr := r.store.RedemptionByCode(ctx, shop.ID, code)
		if perr != nil || prev.CustomerPlatformID != customer {
			return models.LoyaltyRedemption{}, models.LoyaltyAccount{}, err
		}
		a, aerr := r.store.Account(ctx, acctKey)
		if aerr != nil {
			return models.LoyaltyRedemption{}, models.LoyaltyAccount{}, aerr
		}
		if prev.Status == models.RedemptionCreating {
			return prev, a, ErrRedemptionPending
		}
		if prev.Status == models.RedemptionFailed {
			return prev, a, ErrRedemptionFailed
		}
		return prev, a, nil
	}
	if err != nil {
		return models.LoyaltyRedemption{}, models.LoyaltyAccount{}, err
	}
	red, acct, err = r.finish(ctx, shop, prog, red, acct, now)
	return red, acct, err
}

// finish creates the redemption's code on the platform and records the
// outcome.
func (r *Redeemer) finish(ctx context.Context, shop models.Shop, prog LoyaltyProgram, red models.LoyaltyRedemption, acct models.LoyaltyAccount, now time.Time) (models.LoyaltyRedemption, models.LoyaltyAccount, error) {
	ends := red.CreatedAt.Add(prog.CodeValidFor.D())
	value := red.Value
	id, err := r.discounts.CreateDiscountCode(ctx, shop, DiscountCode{
		Code: red.Code, Title: fmt.Sprintf("Doorstep rewards: %d points", red.Points), Amount: &value,
		CustomerID: red.CustomerPlatformID, UsageLimit: 1, OncePerCustomer: true, StartsAt: red.CreatedAt, EndsAt: &ends,
	})
	if errors.Is(err, ErrCodeTaken) {
		// Our own earlier attempt got through: the code is ours.
		id, err = r.lookup(ctx, shop, red.Code)
	}
	switch {
	case err == nil:
		if err := r.store.ActivateRedemption(ctx, now, red.ID, id); err != nil {
			return red, acct, err
		}
		red.Status, red.DiscountID = models.RedemptionActive, id
		return red, acct, nil
	case errors.Is(err, ErrCodeRejected):
		_, acct, uerr := r.store.UndoRedemption(ctx, now, shop.ID, red.ID, models.RedemptionFailed, err.Error())
		if uerr != nil {
			return red, acct, uerr
		}
		red.Status = models.RedemptionFailed
		return red, acct, fmt.Errorf("%w: %w", ErrRedemptionFailed, err)
	}
	// The platform may or may not have made the code: ask it.
	if id, lerr := r.lookup(ctx, shop, red.Code); lerr == nil && id != "" {
		if err := r.store.ActivateRedemption(ctx, now, red.ID, id); err != nil {
			return red, acct, err
		}
		red.Status, red.DiscountID = models.RedemptionActive, id
		return red, acct, nil
	} else if lerr == nil {
		_, acct, uerr := r.store.UndoRedemption(ctx, now, shop.ID, red.ID, models.RedemptionFailed, err.Error())
		if uerr != nil {
			return red, acct, uerr
		}
		red.Status = models.RedemptionFailed
		return red, acct, fmt.Errorf("%w: %w", ErrRedemptionFailed, err)
	}
	if nerr := r.store.NoteRedemptionAttempt(ctx, now, red.ID, err.Error()); nerr != nil {
		r.log.Warn("note redemption attempt", "shop_id", shop.ID, "redemption_id", red.ID, "err", nerr)
	}
	return red, acct, fmt.Errorf("%w: %w", ErrRedemptionPending, err)
}

func (r *Redeemer) lookup(ctx context.Context, shop models.Shop, code string) (string, error) {
	info, err := r.discounts.DiscountCodeByCode(ctx, shop, code)
	if err != nil {
		return "", err
	}
	if info == nil {
		return "", nil
	}
	return info.ID, nil
}

// redemptionStaleAfter: a redemption still creating after this long lost its
// process (the platform call takes seconds).
const redemptionStaleAfter = 2 * time.Minute

// maxRedemptionAttempts: after this many failed platform calls the points go
// back rather than wait longer.
const maxRedemptionAttempts = 5

// Reconcile finishes or undoes the shop's redemptions left creating by a
// process that died between taking the points and creating the code.
func (r *Redeemer) Reconcile(ctx context.Context, shop models.Shop) (int, error) {
	now := r.now().UTC()
	stale, err := r.store.StaleRedemptions(ctx, shop.ID, now.Add(-redemptionStaleAfter), 100)
	if err != nil || len(stale) == 0 {
		return 0, err
	}
	prog, err := LoadLoyaltyProgram(ctx, r.store, shop.ID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, red := range stale {
		id, err := r.lookup(ctx, shop, red.Code)
		switch {
		case err != nil:
			r.log.Warn("reconcile redemption: look up code", "shop_id", shop.ID, "redemption_id", red.ID, "err", err)
			continue
		case id != "":
			err = r.store.ActivateRedemption(ctx, now, red.ID, id)
		case red.Attempts >= maxRedemptionAttempts:
			_, _, err = r.store.UndoRedemption(ctx, now, shop.ID, red.ID, models.RedemptionFailed,
				fmt.Sprintf("gave up after %d attempts: %s", red.Attempts, red.Error))
		default:
			_, _, err = r.finish(ctx, shop, prog, red, models.LoyaltyAccount{}, now)
			if errors.Is(err, ErrRedemptionPending) || errors.Is(err, ErrRedemptionFailed) {
				err = nil // recorded; the next round looks again if needed
			}
		}
		if err != nil {
			return n, fmt.Errorf("reconcile redemption %d: %w", red.ID, err)
		}
		n++
	}
	return n, nil
}

// codeAlphabet leaves out letters and digits that read alike (0/O, 1/I/L).
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newRedemptionCode is "DS-XXXX-XXXX": unguessable (31^8 ≈ 8.5e11), easy
// to type.
func newRedemptionCode() string {
	return "DS-" + randomCode(4) + "-" + randomCode(4)
}

// keyedRedemptionCode derives a code from the request's key, in the same
// alphabet and shape as random ones.
func keyedRedemptionCode(shopID uint64, customer int64, key string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d|%d|%s", shopID, customer, key)))
	b := make([]byte, 8)
	for i := range b {
		b[i] = codeAlphabet[int(sum[i])%len(codeAlphabet)]
	}
	return "DS-" + string(b[:4]) + "-" + string(b[4:])
}

func randomCode(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}
