package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// referralEnv: a referrer (customer 7001, code ANNA-7K2Q, who ordered
// before from 12 Elm St) and referee orders placed with that code.
func referralEnv(t *testing.T, configure func(*LoyaltyProgram)) *loyaltyEnv {
	t.Helper()
	e := newLoyaltyEnv(t, func(p *LoyaltyProgram) {
		p.Referral.Enabled = true
		p.Referral.RewardPoints = 500
		p.Referral.MaxPerIP, p.Referral.MaxPerAddress, p.Referral.MonthlyCap = 2, 2, 3
		if configure != nil {
			configure(p)
		}
	})
	key := models.AccountKey{ShopID: e.shop.ID, CustomerPlatformID: 7001}
	if _, err := e.store.EnsureReferralCode(e.ctx, key, func(int) string { return "ANNA-7K2Q" }); err != nil {
		t.Fatal(err)
	}
	err := e.store.InTx(e.ctx, func(tx *models.Tx) error {
		c := models.Customer{PlatformID: 7001, Email: "Anna.Smith+promo@gmail.com", Phone: "+1 (415) 555-0100",
			PlatformUpdatedAt: e.now, PlatformCreatedAt: e.now}
		if _, err := tx.UpsertCustomer(e.shop.ID, &c); err != nil {
			return err
		}
		o := models.Order{PlatformID: 800, Name: "#1800", CustomerPlatformID: 7001, FinancialStatus: "paid", Currency: "USD",
			ShippingAddress:   models.Address{Address1: "12 Elm St", Zip: "94110", CountryCode: "US"},
			PlatformCreatedAt: e.now.Add(-30 * 24 * time.Hour), PlatformUpdatedAt: e.now.Add(-30 * 24 * time.Hour)}
		_, _, err := tx.UpsertOrder(e.shop.ID, &o)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type refereeOrder struct {
	id       int64
	customer int64
	email    string
	phone    string
	address  string
	ip       string
	codes    string
	attr     string
	landing  string
}

func (e *loyaltyEnv) placeReferee(r refereeOrder) models.Referral {
	e.t.Helper()
	e.now = e.now.Add(time.Minute)
	o := models.Order{PlatformID: r.id, Name: "#" + strings.TrimPrefix(r.email, ""), CustomerPlatformID: r.customer, Email: r.email,
		Phone: r.phone, FinancialStatus: "paid", Currency: "USD", OriginalSubtotal: decimal.NewFromInt(40),
		DiscountCodes: r.codes, ReferralCode: r.attr, LandingSite: r.landing, BrowserIP: r.ip,
		ShippingAddress:   models.Address{Address1: r.address, Zip: "94110", CountryCode: "US"},
		PlatformCreatedAt: e.now, PlatformUpdatedAt: e.now,
		LineItems: []models.LineItem{{PlatformID: r.id * 10, Quantity: 1, Price: decimal.NewFromInt(40)}}}
	err := e.store.InTx(e.ctx, func(tx *models.Tx) error {
		if _, _, err := tx.UpsertOrder(e.shop.ID, &o); err != nil {
			return err
		}
		return tx.UpsertLineItems(e.shop.ID, o.ID, o.LineItems)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.trigger(models.TriggerOrderPaid, "order", r.id)
	ref, err := e.store.ReferralByOrder(e.ctx, e.shop.ID, r.id)
	if err != nil {
		e.t.Fatalf("order %d was not attributed: %v", r.id, err)
	}
	return ref
}

func TestReferral_CleanReferralPaysAfterTheWindowOnce(t *testing.T) {
	t.Parallel()
	e := referralEnv(t, nil)
	r := e.placeReferee(refereeOrder{id: 1, customer: 9001, email: "bob@example.com", address: "1 Oak Ave", ip: "203.0.113.9", codes: "anna-7k2q"})
	if r.Status != models.ReferralPending || r.Reasons != "" || r.Via != "discount_code" || r.ReferrerPlatformID != 7001 {
		t.Fatalf("referral: %+v", r)
	}
	referrer := models.AccountKey{ShopID: e.shop.ID, CustomerPlatformID: 7001}
	e.now = e.now.Add(29 * 24 * time.Hour)
	if res, err := e.scan.Scan(e.ctx, e.shop.ID); err != nil || res.Rewarded != 0 {
		t.Fatalf("inside the window: %+v %v", res, err)
	}
	e.now = e.now.Add(2 * 24 * time.Hour)
	for i := 0; i < 2; i++ {
		res, err := e.scan.Scan(e.ctx, e.shop.ID)
		if err != nil || res.Rewarded != map[int]int{0: 1, 1: 0}[i] {
			t.Fatalf("scan %d: %+v %v", i, res, err)
		}
	}
	a, _ := e.store.Account(e.ctx, referrer)
	if a.Available != 500 {
		t.Fatalf("referrer: %+v, want 500 available", a)
	}
	// Refunded later: the reward is taken back.
	e.saveOrderRefunded(1)
	e.trigger(models.TriggerRefundCreated, "refund:77", 1)
	a, _ = e.store.Account(e.ctx, referrer)
	r, _ = e.store.ReferralByOrder(e.ctx, e.shop.ID, 1)
	if a.Available != 0 || r.Status != models.ReferralReversed {
		t.Fatalf("after the refund: referrer %+v, referral %s", a, r.Status)
	}
	e.verify()
}

func (e *loyaltyEnv) saveOrderRefunded(id int64) {
	e.t.Helper()
	o, err := e.store.Order(e.ctx, e.shop.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	o.FinancialStatus, o.PlatformUpdatedAt = "refunded", e.now
	err = e.store.InTx(e.ctx, func(tx *models.Tx) error {
		if _, _, err := tx.UpsertOrder(e.shop.ID, &o); err != nil {
			return err
		}
		_, err := tx.UpsertRefund(e.shop.ID, &models.Refund{PlatformID: 77, OrderPlatformID: id, PlatformCreatedAt: e.now,
			Lines: []models.RefundLine{{PlatformID: 7701, LineItemPlatformID: id * 10, Quantity: 1}}})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestReferral_RefundInsideTheWindowNeverPays(t *testing.T) {
	t.Parallel()
	e := referralEnv(t, nil)
	e.placeReferee(refereeOrder{id: 1, customer: 9001, email: "bob@example.com", address: "1 Oak Ave", attr: "ANNA-7K2Q"})
	e.saveOrderRefunded(1)
	e.trigger(models.TriggerRefundCreated, "refund:77", 1)
	e.now = e.now.Add(31 * 24 * time.Hour)
	if res, err := e.scan.Scan(e.ctx, e.shop.ID); err != nil || res.Rewarded != 0 {
		t.Fatalf("scan: %+v %v", res, err)
	}
	if a, err := e.store.Account(e.ctx, models.AccountKey{ShopID: e.shop.ID, CustomerPlatformID: 7001}); err != nil || a.Available != 0 {
		t.Fatalf("referrer: %+v %v", a, err)
	}
}

// Each fraud rule fires on its own case and flags the referral for review.
func TestReferral_FraudRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		before []refereeOrder // earlier referred orders
		order  refereeOrder
		want   string
	}{
		{name: "the referrer's own customer id", order: refereeOrder{id: 1, customer: 7001, email: "x@example.com", address: "9 Pine", codes: "ANNA-7K2Q"},
			want: FraudSelfCustomer},
		{name: "the same Gmail mailbox written differently", order: refereeOrder{id: 1, customer: 9001, email: "annasmith+new@googlemail.com",
			address: "9 Pine", codes: "ANNA-7K2Q"}, want: FraudSelfEmail},
		{name: "the same phone number", order: refereeOrder{id: 1, customer: 9001, email: "z@example.com", phone: "415-555-0100",
			address: "9 Pine", codes: "ANNA-7K2Q"}, want: FraudSelfPhone},
		{name: "the referrer's shipping address", order: refereeOrder{id: 1, customer: 9001, email: "z@example.com", address: "12  elm st",
			codes: "ANNA-7K2Q"}, want: FraudSelfAddress},
		{name: "a returning customer", before: nil, order: refereeOrder{id: 1, customer: 7001 + 1000, email: "old@example.com",
			address: "9 Pine", codes: "ANNA-7K2Q"}, want: FraudNotNew},
		{name: "too many from one IP", before: []refereeOrder{
			{id: 1, customer: 9001, email: "a1@example.com", address: "1 A St", ip: "198.51.100.7", codes: "ANNA-7K2Q"},
			{id: 2, customer: 9002, email: "a2@example.com", address: "2 B St", ip: "198.51.100.7", codes: "ANNA-7K2Q"},
		}, order: refereeOrder{id: 3, customer: 9003, email: "a3@example.com", address: "3 C St", ip: "198.51.100.7", codes: "ANNA-7K2Q"},
			want: FraudIPLimit},
		{name: "too many to one address", before: []refereeOrder{
			{id: 1, customer: 9001, email: "b1@example.com", address: "5 Same Rd", codes: "ANNA-7K2Q"},
			{id: 2, customer: 9002, email: "b2@example.com", address: "5 same rd", codes: "ANNA-7K2Q"},
		}, order: refereeOrder{id: 3, customer: 9003, email: "b3@example.com", address: "5 Same Rd", codes: "ANNA-7K2Q"},
			want: FraudAddressLimit},
		{name: "the referrer's monthly cap", before: []refereeOrder{
			{id: 1, customer: 9001, email: "c1@example.com", address: "1 A St", codes: "ANNA-7K2Q"},
			{id: 2, customer: 9002, email: "c2@example.com", address: "2 B St", codes: "ANNA-7K2Q"},
			{id: 3, customer: 9003, email: "c3@example.com", address: "3 C St", codes: "ANNA-7K2Q"},
		}, order: refereeOrder{id: 4, customer: 9004, email: "c4@example.com", address: "4 D St", codes: "ANNA-7K2Q"},
			want: FraudMonthlyCap},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := referralEnv(t, nil)
			if tc.want == FraudNotNew {
				// The referee ordered before, without a referral.
				err := e.store.InTx(e.ctx, func(tx *models.Tx) error {
					o := models.Order{PlatformID: 555, CustomerPlatformID: tc.order.customer, Email: tc.order.email, FinancialStatus: "paid",
						PlatformCreatedAt: e.now.Add(-48 * time.Hour), PlatformUpdatedAt: e.now.Add(-48 * time.Hour)}
					_, _, err := tx.UpsertOrder(e.shop.ID, &o)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, b := range tc.before {
				if r := e.placeReferee(b); r.Status != models.ReferralPending {
					t.Fatalf("earlier referral %d flagged: %s", b.id, r.Reasons)
				}
			}
			r := e.placeReferee(tc.order)
			if r.Status != models.ReferralFlagged || !strings.Contains(r.Reasons, tc.want) {
				t.Fatalf("referral: status %s reasons %q, want flagged for %s", r.Status, r.Reasons, tc.want)
			}
			// A flagged referral never pays by itself.
			e.now = e.now.Add(40 * 24 * time.Hour)
			if _, err := e.scan.Scan(e.ctx, e.shop.ID); err != nil {
				t.Fatal(err)
			}
			if got, _ := e.store.ReferralByOrder(e.ctx, e.shop.ID, tc.order.id); got.Status != models.ReferralFlagged {
				t.Fatalf("flagged referral moved to %s on its own", got.Status)
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Anna.Smith+promo@Gmail.com": "annasmith@gmail.com",
		"annasmith@googlemail.com":   "annasmith@gmail.com",
		"anna.smith+x@example.com":   "anna.smith@example.com",
		"not-an-email":               "",
	} {
		if got := NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
