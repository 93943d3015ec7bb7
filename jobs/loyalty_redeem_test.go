package jobs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
)

// fakeDiscounts is a platform whose next calls can be made to fail, and
// whose failures can happen after the code was made (a lost answer).
type fakeDiscounts struct {
	mu         sync.Mutex
	codes      map[string]DiscountCode
	createErr  []error // consumed one per create
	madeAnyway bool    // the failing create still made the code
	lookupErr  error
	creates    int
	deleted    []string
	usage      map[string]int
}

func newFakeDiscounts() *fakeDiscounts {
	return &fakeDiscounts{codes: map[string]DiscountCode{}, usage: map[string]int{}}
}

func (f *fakeDiscounts) CreateDiscountCode(_ context.Context, _ models.Shop, d DiscountCode) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if _, ok := f.codes[strings.ToUpper(d.Code)]; ok {
		return "", ErrCodeTaken
	}
	if len(f.createErr) > 0 {
		err := f.createErr[0]
		f.createErr = f.createErr[1:]
		if f.madeAnyway {
			f.codes[strings.ToUpper(d.Code)] = d
		}
		return "", err
	}
	f.codes[strings.ToUpper(d.Code)] = d
	return "gid://shopify/DiscountCodeNode/" + d.Code, nil
}

func (f *fakeDiscounts) DiscountCodeByCode(_ context.Context, _ models.Shop, code string) (*DiscountInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lookupErr != nil {
		return nil, f.lookupErr
	}
	if _, ok := f.codes[strings.ToUpper(code)]; !ok {
		return nil, nil
	}
	return &DiscountInfo{ID: "gid://shopify/DiscountCodeNode/" + code, Code: code, Status: "ACTIVE", UsageCount: f.usage[code]}, nil
}

func (f *fakeDiscounts) DeleteDiscountCode(_ context.Context, _ models.Shop, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, id)
	return nil
}

func redeemEnv(t *testing.T) (*loyaltyEnv, *fakeDiscounts, *Redeemer, models.AccountKey) {
	t.Helper()
	e := newLoyaltyEnv(t, func(p *LoyaltyProgram) { p.RedeemOptions = []int64{500, 1000} })
	fd := newFakeDiscounts()
	r := NewRedeemer(e.store, fd, func() time.Time { return e.now }, quiet)
	key := models.AccountKey{ShopID: e.shop.ID, CustomerPlatformID: loyaltyCustomer}
	if _, _, err := e.store.PostEntriesAt(e.ctx, e.now, key, []models.LoyaltyEntry{{Kind: models.EntryAdjust,
		SourceType: models.SourceManual, SourceID: "seed", Points: 700, Reason: "seed"}}); err != nil {
		t.Fatal(err)
	}
	return e, fd, r, key
}

func TestRedeemer_CreatesOneCustomerCodeWorthThePoints(t *testing.T) {
	t.Parallel()
	e, fd, r, key := redeemEnv(t)
	red, acct, err := r.Redeem(e.ctx, e.shop, key.CustomerPlatformID, 500)
	if err != nil || red.Status != models.RedemptionActive || acct.Available != 200 {
		t.Fatalf("redeem: %+v %+v %v", red, acct, err)
	}
	d := fd.codes[red.Code]
	if d.CustomerID != loyaltyCustomer || d.UsageLimit != 1 || d.Amount == nil || d.Amount.String() != "5" || d.EndsAt == nil {
		t.Fatalf("code on the platform: %+v", d)
	}
	if _, _, err := r.Redeem(e.ctx, e.shop, key.CustomerPlatformID, 500); !errors.Is(err, models.ErrInsufficientPoints) {
		t.Fatalf("second redeem: %v", err)
	}
	if _, _, err := r.Redeem(e.ctx, e.shop, key.CustomerPlatformID, 123); !errors.Is(err, ErrNotARedeemOption) {
		t.Fatalf("odd amount: %v", err)
	}
	e.verify()
}

func TestRedeemer_PlatformRefusalGivesThePointsBack(t *testing.T) {
	t.Parallel()
	e, fd, r, key := redeemEnv(t)
	fd.createErr = []error{ErrCodeRejected}
	_, acct, err := r.Redeem(e.ctx, e.shop, key.CustomerPlatformID, 500)
	if !errors.Is(err, ErrRedemptionFailed) || acct.Available != 700 {
		t.Fatalf("refused: %v, account %+v", err, acct)
	}
	if len(fd.codes) != 0 {
		t.Fatalf("codes: %v", fd.codes)
	}
	e.verify()
}

func TestRedeemer_LostAnswerIsResolvedByLookingTheCodeUp(t *testing.T) {
	t.Parallel()
	e, fd, r, key := redeemEnv(t)
	// The platform made the code but the answer was lost.
	fd.createErr, fd.madeAnyway = []error{errors.New("read tcp: connection reset")}, true
	red, acct, err := r.Redeem(e.ctx, e.shop, key.CustomerPlatformID, 500)
	if err != nil || red.Status != models.RedemptionActive || acct.Available != 200 {
		t.Fatalf("redeem: %+v %v", red, err)
	}
	e.verify()
}

// The process dies between taking the points and the platform call (here:
// the platform is down and even the lookup fails). The reconciler finishes
// the redemption when the platform is back, or gives the points back when it
// keeps failing.
func TestRedeemer_ReconcilerFinishesOrUndoes(t *testing.T) {
	t.Parallel()
	e, fd, r, key := redeemEnv(t)
	down := errors.New("HTTP 503")
	fd.createErr, fd.lookupErr = []error{down}, down
	red, acct, err := r.Redeem(e.ctx, e.shop, key.CustomerPlatformID, 500)
	if !errors.Is(err, ErrRedemptionPending) || red.Status != models.RedemptionCreating || acct.Available != 200 {
		t.Fatalf("pending: %+v %v", red, err)
	}
	// Too early: left alone.
	if n, err := r.Reconcile(e.ctx, e.shop); err != nil || n != 0 {
		t.Fatalf("early reconcile: %d %v", n, err)
	}
	e.now = e.now.Add(3 * time.Minute)
	fd.lookupErr = nil // the platform is back
	if n, err := r.Reconcile(e.ctx, e.shop); err != nil || n != 1 {
		t.Fatalf("reconcile: %d %v", n, err)
	}
	rs, _ := e.store.Redemptions(e.ctx, key, 10)
	if rs[0].Status != models.RedemptionActive || len(fd.codes) != 1 {
		t.Fatalf("after reconcile: %+v, codes %v", rs[0], fd.codes)
	}

	// A second redemption whose platform never comes back: after the
	// attempts run out, the points return.
	if _, _, err := e.store.PostEntriesAt(e.ctx, e.now, key, []models.LoyaltyEntry{{Kind: models.EntryAdjust,
		SourceType: models.SourceManual, SourceID: "seed2", Points: 300, Reason: "seed"}}); err != nil {
		t.Fatal(err)
	}
	fd.createErr = []error{down, down, down, down, down, down, down}
	fd.lookupErr = nil
	if _, _, err := r.Redeem(e.ctx, e.shop, key.CustomerPlatformID, 500); !errors.Is(err, ErrRedemptionFailed) {
		// The lookup answered "no such code": the points come straight back.
		t.Fatalf("redeem with the platform down but answering lookups: %v", err)
	}
	a, _ := e.store.Account(e.ctx, key)
	if a.Available != 500 {
		t.Fatalf("available %d, want 500", a.Available)
	}
	e.verify()
}

// With on_reversal_of_spent_points = cancel_code, a reversal of points that
// bought a still-unused code withdraws the code instead of leaving a debt;
// a code already used at checkout leaves the debt.
func TestLoyalty_ReversalWithdrawsAnUnusedCode(t *testing.T) {
	t.Parallel()
	for _, used := range []bool{false, true} {
		t.Run(map[bool]string{false: "unused", true: "used"}[used], func(t *testing.T) {
			t.Parallel()
			e := newLoyaltyEnv(t, func(p *LoyaltyProgram) {
				p.OnReversalOfSpentPoints, p.RedeemOptions = "cancel_code", []int64{40}
			})
			fd := newFakeDiscounts()
			e.flow.WithDiscounts(fd)
			r := NewRedeemer(e.store, fd, func() time.Time { return e.now }, quiet)
			e.saveOrder(paid, tableLines)
			e.trigger(models.TriggerOrderPaid, "order:900", 900)
			e.now = e.now.Add(31 * 24 * time.Hour)
			if _, err := e.scan.Scan(e.ctx, e.shop.ID); err != nil {
				t.Fatal(err)
			}
			red, _, err := r.Redeem(e.ctx, e.shop, loyaltyCustomer, 40)
			if err != nil {
				t.Fatal(err)
			}
			if used {
				fd.usage[red.Code] = 1
			}
			o := withStatus(paid, "refunded")
			at := e.now
			o.CancelledAt = &at
			e.saveOrder(o, tableLines)
			e.trigger(models.TriggerOrderCancelled, "order:900", 900)
			a := e.account()
			rs, _ := e.store.Redemptions(e.ctx, models.AccountKey{ShopID: e.shop.ID, CustomerPlatformID: loyaltyCustomer}, 5)
			switch {
			case !used && (a.Debt != 0 || a.Available != 0 || len(fd.deleted) != 1 || rs[0].Status != models.RedemptionCancelled):
				t.Fatalf("unused code: account %+v, deleted %v, redemption %s", a, fd.deleted, rs[0].Status)
			case used && (a.Debt != 40 || len(fd.deleted) != 0 || rs[0].Status != models.RedemptionActive):
				t.Fatalf("used code: account %+v, deleted %v, redemption %s", a, fd.deleted, rs[0].Status)
			}
			e.verify()
		})
	}
}

// The case end to end through the redeemer: 100 concurrent
// redemption attempts against a balance that covers one → exactly one code
// on the platform, the balance exact.
func TestRedeemer_HundredConcurrentAttemptsMakeOneCode(t *testing.T) {
	t.Parallel()
	e, fd, r, key := redeemEnv(t) // 700 points; options 500 and 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	var other []error
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := r.Redeem(e.ctx, e.shop, key.CustomerPlatformID, 500)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, models.ErrInsufficientPoints):
				refused++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || refused != 99 || len(other) > 0 || len(fd.codes) != 1 || fd.creates != 1 {
		t.Fatalf("ok %d refused %d other %v; codes on the platform %d (creates %d)", ok, refused, other, len(fd.codes), fd.creates)
	}
	a, _ := e.store.Account(e.ctx, key)
	if a.Available != 200 || a.Redeemed != 500 {
		t.Fatalf("account %+v, want 200 available", a)
	}
	e.verify()
}
