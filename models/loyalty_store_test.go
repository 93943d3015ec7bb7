package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

var loyaltyT0 = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

func earn(source string, points int64, pendingUntil *time.Time) models.LoyaltyEntry {
	return models.LoyaltyEntry{Kind: models.EntryEarn, SourceType: models.SourceLineItem, SourceID: source, Points: points,
		PendingUntil: pendingUntil, Rate: decimal.NewFromInt(1), Currency: "USD", OrderPlatformID: 1001}
}

func mustPost(t *testing.T, s *models.Store, now time.Time, key models.AccountKey, es ...models.LoyaltyEntry) ([]models.LoyaltyEntry, models.LoyaltyAccount) {
	t.Helper()
	posted, a, err := s.PostEntriesAt(context.Background(), now, key, es)
	if err != nil {
		t.Fatal(err)
	}
	return posted, a
}

func mustVerify(t *testing.T, s *models.Store, shopID uint64) {
	t.Helper()
	bad, err := s.VerifyLedger(context.Background(), shopID)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("ledger invariants broken: %+v", bad)
	}
}

func balances(a models.LoyaltyAccount) string {
	return fmt.Sprintf("available %d pending %d debt %d", a.Available, a.Pending, a.Debt)
}

func TestPostEntries_ReplayPostsNothing(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "loyal-a.myshopify.com", models.Token{AccessToken: "x"})
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 77}

	posted, a := mustPost(t, s, loyaltyT0, key, earn("1", 120, nil), earn("2", 30, nil))
	if len(posted) != 2 || a.Available != 150 {
		t.Fatalf("first post: %d posted, %s", len(posted), balances(a))
	}
	// The same webhook again (and a task run twice): the source keys exist.
	posted, a = mustPost(t, s, loyaltyT0.Add(time.Minute), key, earn("1", 120, nil), earn("2", 30, nil))
	if len(posted) != 0 || a.Available != 150 {
		t.Fatalf("replay: %d posted, %s (want nothing new, 150)", len(posted), balances(a))
	}
	entries, err := s.Ledger(context.Background(), key, 0, 10)
	if err != nil || len(entries) != 2 {
		t.Fatalf("ledger: %d entries, %v", len(entries), err)
	}
	mustVerify(t, s, shop.ID)
}

func TestPostEntries_PendingMaturesAfterTheWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "loyal-b.myshopify.com", models.Token{AccessToken: "x"})
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 78}
	window := loyaltyT0.Add(30 * 24 * time.Hour)

	_, a := mustPost(t, s, loyaltyT0, key, earn("1", 200, &window))
	if a.Available != 0 || a.Pending != 200 {
		t.Fatalf("after earning: %s, want pending 200", balances(a))
	}
	// A partial refund inside the window reverses pending points.
	_, a = mustPost(t, s, loyaltyT0.Add(24*time.Hour), key, models.LoyaltyEntry{Kind: models.EntryReverse,
		SourceType: models.SourceRefundLine, SourceID: "r1", Points: -50, PendingUntil: &window, OrderPlatformID: 1001})
	if a.Pending != 150 || a.Available != 0 {
		t.Fatalf("after the partial refund: %s", balances(a))
	}
	// One second before the window ends: nothing matures.
	if keys, err := s.Mature(ctx, shop.ID, window.Add(-time.Second)); err != nil || len(keys) != 0 {
		t.Fatalf("early mature: %v %v", keys, err)
	}
	keys, err := s.Mature(ctx, shop.ID, window)
	if err != nil || len(keys) != 1 {
		t.Fatalf("mature: %v %v", keys, err)
	}
	a, _ = s.Account(ctx, key)
	if a.Available != 150 || a.Pending != 0 {
		t.Fatalf("after the window: %s, want available 150", balances(a))
	}
	// Maturing again moves nothing.
	if keys, err := s.Mature(ctx, shop.ID, window.Add(time.Hour)); err != nil || len(keys) != 0 {
		t.Fatalf("second mature: %v %v", keys, err)
	}
	mustVerify(t, s, shop.ID)
}

func TestPostEntries_ReversalOfSpentPointsRecordsDebtThatEarningsPayOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "loyal-c.myshopify.com", models.Token{AccessToken: "x"})
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 79}

	mustPost(t, s, loyaltyT0, key, earn("1", 100, nil))
	if _, _, err := s.Redeem(ctx, loyaltyT0, key, models.LoyaltyRedemption{Code: "DS-1", Points: 80}); err != nil {
		t.Fatal(err)
	}
	// The order is refunded after the points were spent.
	_, a := mustPost(t, s, loyaltyT0.Add(time.Hour), key, models.LoyaltyEntry{Kind: models.EntryReverse,
		SourceType: models.SourceOrder, SourceID: "1001", Points: -100, OrderPlatformID: 1001})
	if a.Available != 0 || a.Debt != 80 || a.Balance() != -80 {
		t.Fatalf("after reversing spent points: %s, want debt 80", balances(a))
	}
	// Redemption is refused while in debt.
	if _, _, err := s.Redeem(ctx, loyaltyT0, key, models.LoyaltyRedemption{Code: "DS-2", Points: 1}); !errors.Is(err, models.ErrInsufficientPoints) {
		t.Fatalf("redeem in debt: %v", err)
	}
	// Later earnings pay the debt first.
	_, a = mustPost(t, s, loyaltyT0.Add(2*time.Hour), key, earn("2", 50, nil))
	if a.Available != 0 || a.Debt != 30 {
		t.Fatalf("after earning 50: %s, want debt 30", balances(a))
	}
	_, a = mustPost(t, s, loyaltyT0.Add(3*time.Hour), key, earn("3", 50, nil))
	if a.Available != 20 || a.Debt != 0 {
		t.Fatalf("after earning 50 more: %s, want available 20", balances(a))
	}
	mustVerify(t, s, shop.ID)
}

// TestRedeem_ConcurrentAttemptsSpendOnce: 100 concurrent redemptions against
// a balance that covers one → exactly one succeeds and the balance is exact.
func TestRedeem_ConcurrentAttemptsSpendOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "loyal-d.myshopify.com", models.Token{AccessToken: "x"})
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 80}
	mustPost(t, s, loyaltyT0, key, earn("1", 700, nil))

	var wg sync.WaitGroup
	var mu sync.Mutex
	won, refused, other := 0, 0, []error{}
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, err := s.Redeem(ctx, loyaltyT0, key, models.LoyaltyRedemption{Code: fmt.Sprintf("DS-%03d", i), Points: 500})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, models.ErrInsufficientPoints):
				refused++
			default:
				other = append(other, err)
			}
		}(i)
	}
	wg.Wait()
	if won != 1 || refused != 99 || len(other) > 0 {
		t.Fatalf("won %d, refused %d, other errors %v", won, refused, other)
	}
	a, err := s.Account(ctx, key)
	if err != nil || a.Available != 200 || a.Redeemed != 500 {
		t.Fatalf("after the race: %s redeemed %d (%v), want available 200", balances(a), a.Redeemed, err)
	}
	rs, _ := s.Redemptions(ctx, key, 200)
	if len(rs) != 1 {
		t.Fatalf("%d redemption rows, want 1", len(rs))
	}
	mustVerify(t, s, shop.ID)
}

func TestUndoRedemption_GivesThePointsBackOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "loyal-e.myshopify.com", models.Token{AccessToken: "x"})
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 81}
	mustPost(t, s, loyaltyT0, key, earn("1", 500, nil))
	r, a, err := s.Redeem(ctx, loyaltyT0, key, models.LoyaltyRedemption{Code: "DS-X", Points: 500, Value: decimal.NewFromInt(5), Currency: "USD"})
	if err != nil || a.Available != 0 {
		t.Fatalf("redeem: %v %s", err, balances(a))
	}
	stale, err := s.StaleRedemptions(ctx, shop.ID, loyaltyT0.Add(time.Hour), 10)
	if err != nil || len(stale) != 1 || stale[0].Code != "DS-X" {
		t.Fatalf("stale: %+v %v", stale, err)
	}
	for i := 0; i < 2; i++ {
		done, a, err := s.UndoRedemption(ctx, loyaltyT0, shop.ID, r.ID, models.RedemptionFailed, "platform refused")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (!done || a.Available != 500) {
			t.Fatalf("undo: done %v %s", done, balances(a))
		}
		if i == 1 && done {
			t.Fatal("second undo gave the points back again")
		}
	}
	a, _ = s.Account(ctx, key)
	if a.Available != 500 || a.Redeemed != 0 {
		t.Fatalf("after undo: %s redeemed %d", balances(a), a.Redeemed)
	}
	// An active code cannot be "failed", only cancelled.
	r2, _, err := s.Redeem(ctx, loyaltyT0, key, models.LoyaltyRedemption{Code: "DS-Y", Points: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateRedemption(ctx, loyaltyT0, r2.ID, "gid://shopify/DiscountCodeNode/1"); err != nil {
		t.Fatal(err)
	}
	if done, _, _ := s.UndoRedemption(ctx, loyaltyT0, shop.ID, r2.ID, models.RedemptionFailed, "x"); done {
		t.Fatal("an active redemption was failed")
	}
	if done, a, _ := s.UndoRedemption(ctx, loyaltyT0, shop.ID, r2.ID, models.RedemptionCancelled, "reversal"); !done || a.Available != 500 {
		t.Fatalf("cancel: %v %s", done, balances(a))
	}
	mustVerify(t, s, shop.ID)
}

func TestExpireInactive_LapsesPointsOncePerPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "loyal-f.myshopify.com", models.Token{AccessToken: "x"})
	old := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 82}
	active := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 83}
	mustPost(t, s, loyaltyT0, old, earn("1", 300, nil))
	mustPost(t, s, loyaltyT0.AddDate(0, 11, 0), active, earn("2", 300, nil))

	now := loyaltyT0.AddDate(1, 0, 1)
	for i := 0; i < 2; i++ {
		got, err := s.ExpireInactive(ctx, now, shop.ID, now.AddDate(-1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		want := map[models.AccountKey]int64{old: 300}
		if i == 1 {
			want = map[models.AccountKey]int64{}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("run %d expired %v, want %v", i, got, want)
		}
	}
	a, _ := s.Account(ctx, old)
	b, _ := s.Account(ctx, active)
	if a.Available != 0 || b.Available != 300 {
		t.Fatalf("inactive %s; active %s", balances(a), balances(b))
	}
	mustVerify(t, s, shop.ID)
}

func TestReferral_RewardOnceThenReverse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "loyal-g.myshopify.com", models.Token{AccessToken: "x"})
	due := loyaltyT0.Add(30 * 24 * time.Hour)
	r, created, err := s.CreateReferral(ctx, loyaltyT0, models.Referral{ShopID: shop.ID, OrderPlatformID: 5001,
		ReferrerPlatformID: 90, RefereePlatformID: 91, Code: "ANNA-1", Via: "discount_code", Status: models.ReferralPending, RewardDueAt: &due})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if _, again, _ := s.CreateReferral(ctx, loyaltyT0, models.Referral{ShopID: shop.ID, OrderPlatformID: 5001,
		ReferrerPlatformID: 92, Code: "OTHER", Status: models.ReferralPending}); again {
		t.Fatal("an order was attributed twice")
	}
	if list, _ := s.DueReferrals(ctx, shop.ID, due.Add(-time.Second), 10); len(list) != 0 {
		t.Fatalf("due early: %+v", list)
	}
	list, _ := s.DueReferrals(ctx, shop.ID, due, 10)
	if len(list) != 1 {
		t.Fatalf("due: %+v", list)
	}
	for i := 0; i < 2; i++ {
		done, a, err := s.RewardReferral(ctx, due, r, models.LoyaltyEntry{Points: 500})
		if err != nil || done != (i == 0) {
			t.Fatalf("reward %d: done %v err %v", i, done, err)
		}
		if i == 0 && a.Available != 500 {
			t.Fatalf("referrer after reward: %s", balances(a))
		}
	}
	taken, a, err := s.ReverseReferral(ctx, due.Add(time.Hour), r, "referee order refunded")
	if err != nil || taken != 500 || a.Available != 0 {
		t.Fatalf("reverse: taken %d %s %v", taken, balances(a), err)
	}
	if taken, _, _ := s.ReverseReferral(ctx, due.Add(2*time.Hour), r, "again"); taken != 0 {
		t.Fatal("reversed twice")
	}
	mustVerify(t, s, shop.ID)
}

func TestProfile_BirthdayOnceAndUniqueReferralCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "loyal-h.myshopify.com", models.Token{AccessToken: "x"})
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 93}
	if _, err := s.SetBirthday(ctx, key, "04-12"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBirthday(ctx, key, "04-12"); err != nil {
		t.Fatalf("same birthday again: %v", err)
	}
	if _, err := s.SetBirthday(ctx, key, "05-01"); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("changing the birthday: %v, want ErrConflict", err)
	}
	// Two customers whose generator proposes the same first code.
	gen := func(i int) string { return fmt.Sprintf("anna-%d", i) }
	c1, err := s.EnsureReferralCode(ctx, key, gen)
	if err != nil || c1 != "ANNA-0" {
		t.Fatalf("first code: %q %v", c1, err)
	}
	c2, err := s.EnsureReferralCode(ctx, models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 94}, gen)
	if err != nil || c2 != "ANNA-1" {
		t.Fatalf("second code: %q %v", c2, err)
	}
	if again, _ := s.EnsureReferralCode(ctx, key, gen); again != c1 {
		t.Fatalf("code changed: %q", again)
	}
	a, err := s.AccountByReferralCode(ctx, shop.ID, "anna-1")
	if err != nil || a.CustomerPlatformID != 94 {
		t.Fatalf("lookup: %+v %v", a, err)
	}
}
