package shopify

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
)

const discountShop = "x.myshopify.com"

// discountClient is a fake and a client sharing a virtual clock, so a
// THROTTLED wait can be served by moving the clock.
func discountClient(t *testing.T) (*shopifytest.Server, *Client, *shopifytest.Clock, string) {
	t.Helper()
	fake := shopifytest.New(t)
	clock := shopifytest.NewClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	fake.SetClock(clock.Now)
	fake.AddShop(discountShop, shopifytest.ShopInfo{Name: "X Store", Currency: "USD"})
	c := New(Config{APIKey: fake.APIKey, APISecret: fake.APISecret, BaseURL: fake.BaseURL(), Clock: clock})
	return fake, c, clock, fake.AccessToken(discountShop)
}

func decPtr(s string) *decimal.Decimal {
	d := decimal.RequireFromString(s)
	return &d
}

// loyaltyCode is a single-use 10 % code for one customer, valid 30 days.
func loyaltyCode(code string, now time.Time) DiscountCode {
	ends := now.Add(30 * 24 * time.Hour)
	return DiscountCode{
		Code: code, Title: "Loyalty reward: 10 % off", Percentage: decPtr("0.10"),
		CustomerID: 7421983047807, UsageLimit: 1, AppliesOncePerCustomer: true,
		StartsAt: now, EndsAt: &ends,
	}
}

func TestDiscountDocuments_ValidateAgainstSchema(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"discountCodeCreate": discountCodeCreateMutation,
		"discountCodeByCode": discountCodeByCodeQuery,
		"discountCodeDelete": discountCodeDeleteMutation,
		"discountExists":     discountExistsQuery,
	} {
		if err := shopifytest.Validate(t, doc); err != nil {
			t.Errorf("%s does not validate against Shopify's %s schema: %v", name, shopifytest.Version, err)
		}
	}
}

func TestDiscountCode_Lifecycle(t *testing.T) {
	t.Parallel()
	fake, c, clock, token := discountClient(t)
	ctx := context.Background()
	now := clock.Now()

	// Create: the fake holds exactly what was asked for.
	created, err := c.CreateDiscountCode(ctx, discountShop, token, loyaltyCode("LOYAL-7F3K", now))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.ID, "gid://shopify/DiscountCodeNode/") || created.Code != "LOYAL-7F3K" {
		t.Errorf("created = %+v", created)
	}
	held := fake.DiscountCodes(discountShop)
	if len(held) != 1 {
		t.Fatalf("fake holds %d discounts, want 1", len(held))
	}
	d := held[0]
	if "gid://shopify/DiscountCodeNode/"+itoa(d.ID) != created.ID || d.Code != "LOYAL-7F3K" || d.Title != "Loyalty reward: 10 % off" {
		t.Errorf("held = %+v", d)
	}
	if len(d.CustomerIDs) != 1 || d.CustomerIDs[0] != 7421983047807 {
		t.Errorf("CustomerIDs = %v, want just 7421983047807", d.CustomerIDs)
	}
	if d.Percentage == nil || !d.Percentage.Equal(dec("0.10")) || d.Amount != nil {
		t.Errorf("value = %v %%, %v off; want 0.10 and no amount", d.Percentage, d.Amount)
	}
	if d.UsageLimit != 1 || !d.AppliesOncePerCustomer || d.MinimumSubtotal != nil || d.Deleted {
		t.Errorf("UsageLimit, AppliesOncePerCustomer, MinimumSubtotal, Deleted = %d, %v, %v, %v", d.UsageLimit, d.AppliesOncePerCustomer, d.MinimumSubtotal, d.Deleted)
	}
	if !d.StartsAt.Equal(now) || d.EndsAt == nil || !d.EndsAt.Equal(now.Add(30*24*time.Hour)) {
		t.Errorf("StartsAt, EndsAt = %v, %v", d.StartsAt, d.EndsAt)
	}

	// The same code again, in another case: taken, not rejected, and
	// nothing new on the shop.
	_, err = c.CreateDiscountCode(ctx, discountShop, token, loyaltyCode("loyal-7f3k", now))
	if !errors.Is(err, ErrDiscountCodeTaken) || errors.Is(err, ErrDiscountRejected) || errors.As(err, new(*RetryableError)) {
		t.Errorf("second create: err = %v, want ErrDiscountCodeTaken only", err)
	}
	if !strings.Contains(err.Error(), "Code must be unique") {
		t.Errorf("second create: err = %v, want Shopify's message", err)
	}
	if n := len(fake.DiscountCodes(discountShop)); n != 1 {
		t.Errorf("fake holds %d discounts after the refused create", n)
	}

	// Look it up, in any case: Shopify's spelling comes back.
	info, err := c.DiscountCodeByCode(ctx, discountShop, token, "loyal-7F3K")
	if err != nil {
		t.Fatal(err)
	}
	want := DiscountInfo{ID: created.ID, Code: "LOYAL-7F3K", Title: "Loyalty reward: 10 % off", Status: "ACTIVE", UsageCount: 0}
	if info == nil || *info != want {
		t.Errorf("DiscountCodeByCode = %+v, want %+v", info, want)
	}
	fake.SetDiscountUsage(discountShop, "LOYAL-7F3K", 1)
	if info, err = c.DiscountCodeByCode(ctx, discountShop, token, "LOYAL-7F3K"); err != nil || info == nil || info.UsageCount != 1 {
		t.Errorf("after one use: %+v, %v; want UsageCount 1", info, err)
	}
	if info, err = c.DiscountCodeByCode(ctx, discountShop, token, "NOPE"); info != nil || err != nil {
		t.Errorf("unknown code: %+v, %v; want nil, nil", info, err)
	}

	// Delete, then delete again: both fine, and the second asked the fake
	// whether the discount still exists rather than trusting the message.
	if err := c.DeleteDiscountCode(ctx, discountShop, token, created.ID); err != nil {
		t.Fatal(err)
	}
	if held := fake.DiscountCodes(discountShop); len(held) != 1 || !held[0].Deleted {
		t.Errorf("after delete the fake holds %+v, want it marked deleted", held)
	}
	if err := c.DeleteDiscountCode(ctx, discountShop, token, created.ID); err != nil {
		t.Errorf("second delete: %v, want nil", err)
	}
	reqs := fake.Requests()
	if last := reqs[len(reqs)-1]; !strings.Contains(last.GraphQL, "DoorstepDiscountExists") {
		t.Errorf("second delete ended with %q, want the existence check", last.GraphQL)
	}
	if info, err = c.DiscountCodeByCode(ctx, discountShop, token, "LOYAL-7F3K"); info != nil || err != nil {
		t.Errorf("after delete: %+v, %v; want nil, nil", info, err)
	}
	// A deleted discount frees its code.
	if _, err := c.CreateDiscountCode(ctx, discountShop, token, loyaltyCode("LOYAL-7F3K", now)); err != nil {
		t.Errorf("recreate after delete: %v", err)
	}

	// Mutations went through the fake's cost bucket like everything else.
	var mutations int
	for _, qc := range fake.CostLog(discountShop) {
		if qc.Operation == "DoorstepDiscountCodeCreate" || qc.Operation == "DoorstepDiscountCodeDelete" {
			mutations++
			if qc.Requested != 10 {
				t.Errorf("%s cost %d, want a mutation's 10", qc.Operation, qc.Requested)
			}
		}
	}
	if mutations != 5 {
		t.Errorf("%d discount mutations in the cost log, want 5", mutations)
	}
}

func TestCreateDiscountCode_FixedAmountForEveryone(t *testing.T) {
	t.Parallel()
	fake, c, clock, token := discountClient(t)
	_, err := c.CreateDiscountCode(context.Background(), discountShop, token, DiscountCode{
		Code: "FRIEND-5", Amount: decPtr("5.00"), MinimumSubtotal: decPtr("50"),
	})
	if err != nil {
		t.Fatal(err)
	}
	d := fake.DiscountCodes(discountShop)[0]
	if d.Amount == nil || !d.Amount.Equal(dec("5")) || d.AppliesOnEachItem || d.Percentage != nil {
		t.Errorf("value = %v off (each item %v), %v %%; want 5.00 off the order", d.Amount, d.AppliesOnEachItem, d.Percentage)
	}
	if d.MinimumSubtotal == nil || !d.MinimumSubtotal.Equal(dec("50")) {
		t.Errorf("MinimumSubtotal = %v, want 50", d.MinimumSubtotal)
	}
	if len(d.CustomerIDs) != 0 || d.UsageLimit != 0 || d.EndsAt != nil {
		t.Errorf("CustomerIDs, UsageLimit, EndsAt = %v, %d, %v; want everyone, unlimited, no end", d.CustomerIDs, d.UsageLimit, d.EndsAt)
	}
	if d.Title != "FRIEND-5" || !d.StartsAt.Equal(clock.Now()) {
		t.Errorf("Title, StartsAt = %q, %v; want the code and now", d.Title, d.StartsAt)
	}
}

func TestCreateDiscountCode_ScheduledStatus(t *testing.T) {
	t.Parallel()
	_, c, clock, token := discountClient(t)
	d := loyaltyCode("LATER", clock.Now().Add(24*time.Hour))
	if _, err := c.CreateDiscountCode(context.Background(), discountShop, token, d); err != nil {
		t.Fatal(err)
	}
	info, err := c.DiscountCodeByCode(context.Background(), discountShop, token, "LATER")
	if err != nil || info == nil || info.Status != "SCHEDULED" {
		t.Errorf("DiscountCodeByCode = %+v, %v; want SCHEDULED", info, err)
	}
}

func TestCreateDiscountCode_ServerError_Retryable_NothingCreated(t *testing.T) {
	t.Parallel()
	fake, c, clock, token := discountClient(t)
	fake.FailNext(discountShop, "discountCodeBasicCreate", 1, shopifytest.FailHTTP500)
	_, err := c.CreateDiscountCode(context.Background(), discountShop, token, loyaltyCode("R500", clock.Now()))
	if !errors.As(err, new(*RetryableError)) || errors.Is(err, ErrDiscountRejected) {
		t.Fatalf("err = %v, want RetryableError", err)
	}
	if n := len(fake.DiscountCodes(discountShop)); n != 0 {
		t.Errorf("fake holds %d discounts after a 500 before commit", n)
	}
	if _, err := c.CreateDiscountCode(context.Background(), discountShop, token, loyaltyCode("R500", clock.Now())); err != nil {
		t.Errorf("retry: %v", err)
	}
}

func TestCreateDiscountCode_Throttled_RetryableWithWait(t *testing.T) {
	t.Parallel()
	fake, c, clock, token := discountClient(t)
	fake.FailNext(discountShop, "discountCodeBasicCreate", 1, shopifytest.FailThrottled)
	_, err := c.CreateDiscountCode(context.Background(), discountShop, token, loyaltyCode("SLOW", clock.Now()))
	var re *RetryableError
	if !errors.As(err, &re) || re.RetryAfter <= 0 {
		t.Fatalf("err = %v, want RetryableError with RetryAfter", err)
	}
	if fake.ThrottledCount(discountShop) != 1 || len(fake.DiscountCodes(discountShop)) != 0 {
		t.Errorf("throttled %d times, %d discounts; want 1 and none", fake.ThrottledCount(discountShop), len(fake.DiscountCodes(discountShop)))
	}
	// Waiting what Shopify said is enough.
	clock.Advance(re.RetryAfter)
	if _, err := c.CreateDiscountCode(context.Background(), discountShop, token, loyaltyCode("SLOW", clock.Now())); err != nil {
		t.Errorf("after waiting %s: %v", re.RetryAfter, err)
	}
}

// The case ErrDiscountCodeTaken exists for: Shopify created the discount
// but the answer was lost. The retry is refused as taken, and the lookup
// finds the one discount there is.
func TestCreateDiscountCode_LostAnswer_RetryFindsIt(t *testing.T) {
	t.Parallel()
	fake, c, clock, token := discountClient(t)
	ctx := context.Background()
	fake.FailNext(discountShop, "discountCodeBasicCreate", 1, shopifytest.FailHTTP500AfterCommit)
	_, err := c.CreateDiscountCode(ctx, discountShop, token, loyaltyCode("LOST-1", clock.Now()))
	if !errors.As(err, new(*RetryableError)) {
		t.Fatalf("first try: err = %v, want RetryableError", err)
	}
	_, err = c.CreateDiscountCode(ctx, discountShop, token, loyaltyCode("LOST-1", clock.Now()))
	if !errors.Is(err, ErrDiscountCodeTaken) {
		t.Fatalf("retry: err = %v, want ErrDiscountCodeTaken", err)
	}
	info, err := c.DiscountCodeByCode(ctx, discountShop, token, "LOST-1")
	held := fake.DiscountCodes(discountShop)
	if err != nil || info == nil || len(held) != 1 || info.ID != "gid://shopify/DiscountCodeNode/"+itoa(held[0].ID) {
		t.Errorf("lookup = %+v, %v; fake holds %+v", info, err, held)
	}
}

func TestCreateDiscountCode_Rejected(t *testing.T) {
	t.Parallel()
	fake, c, clock, token := discountClient(t)
	now := clock.Now()
	before := now.Add(-time.Hour)
	for _, tc := range []struct {
		name string
		d    DiscountCode
		want string // in the error
		sent bool   // reached Shopify (refused there) rather than refused here
	}{
		{name: "no code", d: DiscountCode{Percentage: decPtr("0.1")}, want: "code is empty"},
		{name: "no value", d: DiscountCode{Code: "A"}, want: "exactly one"},
		{name: "both values", d: DiscountCode{Code: "A", Percentage: decPtr("0.1"), Amount: decPtr("5")}, want: "exactly one"},
		{name: "percentage as a whole number", d: DiscountCode{Code: "A", Percentage: decPtr("10")}, want: "not in (0, 1]"},
		{name: "zero amount", d: DiscountCode{Code: "A", Amount: decPtr("0")}, want: "not positive"},
		{name: "ends before it starts", d: DiscountCode{Code: "A", Amount: decPtr("5"), StartsAt: now, EndsAt: &before}, want: "not after"},
		{name: "code too long for Shopify", d: DiscountCode{Code: strings.Repeat("X", 300), Amount: decPtr("5")}, want: "TOO_LONG", sent: true},
	} {
		n := len(fake.Requests())
		_, err := c.CreateDiscountCode(context.Background(), discountShop, token, tc.d)
		if !errors.Is(err, ErrDiscountRejected) || errors.Is(err, ErrDiscountCodeTaken) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrDiscountRejected mentioning %q", tc.name, err, tc.want)
		}
		if sent := len(fake.Requests()) > n; sent != tc.sent {
			t.Errorf("%s: sent to Shopify = %v, want %v", tc.name, sent, tc.sent)
		}
	}
	if n := len(fake.DiscountCodes(discountShop)); n != 0 {
		t.Errorf("fake holds %d discounts", n)
	}
}

func TestDiscountCalls_RevokedToken_ErrUnauthorized(t *testing.T) {
	t.Parallel()
	fake, c, clock, token := discountClient(t)
	fake.RevokeTokens(discountShop)
	ctx := context.Background()
	if _, err := c.CreateDiscountCode(ctx, discountShop, token, loyaltyCode("A", clock.Now())); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("CreateDiscountCode: err = %v", err)
	}
	if _, err := c.DiscountCodeByCode(ctx, discountShop, token, "A"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("DiscountCodeByCode: err = %v", err)
	}
	if err := c.DeleteDiscountCode(ctx, discountShop, token, "gid://shopify/DiscountCodeNode/1"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("DeleteDiscountCode: err = %v", err)
	}
}

// A delete Shopify refuses while the discount still exists is a real
// refusal.
func TestDeleteDiscountCode_RefusedWhileExisting_Rejected(t *testing.T) {
	t.Parallel()
	// One body answers both the delete and the existence check.
	url := stubServer(t, http.StatusOK, "", `{"data": {
		"discountCodeDelete": {"deletedCodeDiscountId": null, "userErrors": [{"field": ["id"], "code": "INVALID", "message": "Discount is locked"}]},
		"node": {"id": "gid://shopify/DiscountCodeNode/9"}}}`)
	c := New(Config{APIKey: "k", APISecret: "s", BaseURL: url + "/{shop}"})
	err := c.DeleteDiscountCode(context.Background(), discountShop, "tok", "gid://shopify/DiscountCodeNode/9")
	if !errors.Is(err, ErrDiscountRejected) || !strings.Contains(err.Error(), "Discount is locked") {
		t.Errorf("err = %v, want ErrDiscountRejected with Shopify's message", err)
	}
}

func TestDiscountUserError_Taken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    discountUserError
		want bool
	}{
		{discountUserError{Field: []string{"basicCodeDiscount", "code"}, Code: "TAKEN", Message: "Code must be unique. Please try a different code."}, true},
		{discountUserError{Field: []string{"basicCodeDiscount", "code"}, Message: "Code must be unique. Please try a different code."}, true},
		{discountUserError{Field: []string{"basicCodeDiscount", "code"}, Code: "TOO_LONG", Message: "Code is too long"}, false},
		{discountUserError{Field: []string{"basicCodeDiscount", "title"}, Code: "TAKEN", Message: "Title has already been taken"}, false},
		{discountUserError{Code: "TAKEN", Message: "taken"}, false},
	} {
		if got := tc.e.taken(); got != tc.want {
			t.Errorf("%+v: taken = %v, want %v", tc.e, got, tc.want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
