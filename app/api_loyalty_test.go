package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// errorMessage is the message of an error answer.
func (r adminReply) errorMessage(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return e.Error.Message
}

func (e *testEnv) audits(shop models.Shop, action string) []models.AuditLog {
	e.t.Helper()
	var out []models.AuditLog
	if err := e.app.db.Where("shop_id = ? AND action = ?", shop.ID, action).Order("id").Find(&out).Error; err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestLoyaltyAPI_Program_ValidationNamesTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "program-shop.myshopify.com"
	shop := e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)

	var p jobs.LoyaltyProgram
	e.callAdmin(http.MethodGet, "/api/admin/loyalty", tok).ok(t, "get defaults", &p)
	if p.Enabled || len(p.RedeemOptions) == 0 || p.PointValuePoints != 100 {
		t.Fatalf("defaults %+v", p)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"points_per_unit": -1}`, "points_per_unit:"},
		{`{"points_per_unit": "lots"}`, "points_per_unit"},
		{`{"return_window": true}`, "return_window"},
		{`{"redeem_options": [500, 100]}`, "redeem_options:"},
		{`{"tiers": [{"name": "", "min_spend": "0", "multiplier": "1"}]}`, "tiers[0].name:"},
		{`{"referral": {"referee_percent": 150}}`, "referral.referee_percent:"},
		{`{"bonuses": {"review": -5}}`, "bonuses.review:"},
		{`{"surprise": 1}`, "surprise: unknown field"},
		{`not json`, "body:"},
	} {
		r := e.callAdminJSON(http.MethodPut, "/api/admin/loyalty", tok, tc.body)
		r.isError(t, tc.body, http.StatusUnprocessableEntity, "invalid_program")
		if msg := r.errorMessage(t); !strings.HasPrefix(msg, tc.field) {
			t.Errorf("%s: message %q, want it to start with %q", tc.body, msg, tc.field)
		}
	}
	if n := e.count("loyalty_programs", ""); n != 0 {
		t.Fatalf("%d programs saved by refused bodies", n)
	}
	if n := len(e.audits(shop, auditLoyaltyProgram)); n != 0 {
		t.Fatalf("%d audit rows for refused bodies", n)
	}

	e.callAdminJSON(http.MethodPut, "/api/admin/loyalty", tok, `{"enabled": true, "redeem_options": [300, 600]}`).ok(t, "put", &p)
	if !p.Enabled || len(p.RedeemOptions) != 2 || p.RedeemOptions[0] != 300 || p.PointValuePoints != 100 {
		t.Fatalf("saved %+v", p)
	}
	var again jobs.LoyaltyProgram
	e.callAdmin(http.MethodGet, "/api/admin/loyalty", tok).ok(t, "get saved", &again)
	if !again.Enabled || len(again.RedeemOptions) != 2 {
		t.Fatalf("read back %+v", again)
	}
	as := e.audits(shop, auditLoyaltyProgram)
	if len(as) != 1 || !strings.Contains(as[0].Detail, `"enabled"`) || !strings.Contains(as[0].Detail, `"user":"42"`) {
		t.Fatalf("audit %+v", as)
	}
}

func TestLoyaltyAPI_AdjustPoints_OncePerKeyAndAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "adjust-shop.myshopify.com"
	shop := e.installShop(dom)
	e.loyaltyOn(shop, nil)
	e.grant(shop, shopperID, 30, "seed") // the customer has an account
	tok := e.fake.SessionToken(dom, time.Minute)
	path := "/api/admin/customers/" + strconv.FormatInt(shopperID, 10) + "/points"

	type reply struct {
		Posted bool
		Entry  *struct {
			ID, Kind, Reason, Actor string
			Points                  int64
		}
		Account struct{ Available, Debt, Balance int64 }
	}
	body := `{"points": 50, "reason": "parcel lost: Ana Smith, ana@example.com", "idempotency_key": "k-1"}`
	r := e.callAdminJSON(http.MethodPost, path, tok, body)
	var first reply
	r.ok(t, "adjust", &first)
	if r.status != http.StatusCreated || !first.Posted || first.Entry == nil || first.Entry.Actor != "42" ||
		first.Entry.Points != 50 || first.Entry.Kind != "adjust" || first.Account.Available != 80 {
		t.Fatalf("adjust: %d %+v", r.status, first)
	}
	r = e.callAdminJSON(http.MethodPost, path, tok, body)
	var replay reply
	r.ok(t, "replay", &replay)
	if r.status != http.StatusOK || replay.Posted || replay.Entry != nil || replay.Account.Available != 80 {
		t.Fatalf("replay: %d %+v", r.status, replay)
	}
	// The same key with other numbers is a client bug: 409, nothing posted.
	e.callAdminJSON(http.MethodPost, path, tok, `{"points": 500, "reason": "typo", "idempotency_key": "k-1"}`).
		isError(t, "key reused with other points", http.StatusConflict, "conflict")
	// The same key for another customer is another adjustment.
	e.grant(shop, 31, 1, "seed-31")
	var other reply
	e.callAdminJSON(http.MethodPost, "/api/admin/customers/31/points", tok, body).ok(t, "other customer", &other)
	if !other.Posted || other.Account.Available != 51 {
		t.Fatalf("same key, other customer: %+v", other)
	}
	// A debit larger than what is available leaves debt.
	var debit reply
	e.callAdminJSON(http.MethodPost, path, tok, `{"points": -100, "reason": "clawback", "idempotency_key": "k-2"}`).ok(t, "debit", &debit)
	if !debit.Posted || debit.Account.Available != 0 || debit.Account.Debt != 20 || debit.Account.Balance != -20 {
		t.Fatalf("debit %+v", debit)
	}
	if n := e.count("loyalty_entries", "shop_id = ? AND customer_platform_id = ? AND kind = ?", shop.ID, shopperID, models.EntryAdjust); n != 3 {
		t.Fatalf("%d adjust entries, want 3 (seed, k-1, k-2)", n)
	}
	as := e.audits(shop, auditLoyaltyAdjust)
	if len(as) != 3 {
		t.Fatalf("%d audit rows, want 3 (the replay posted nothing)", len(as))
	}
	for _, a := range as {
		if !strings.HasPrefix(a.Subject, "customer:") || strings.Contains(a.Detail, "Ana") ||
			strings.Contains(a.Detail, "@") || strings.Contains(a.Detail, "clawback") {
			t.Fatalf("audit row %+v holds more than ids and numbers", a)
		}
	}

	for _, bad := range []string{
		`{"points": 0, "reason": "x", "idempotency_key": "k-3"}`,
		`{"points": 5, "reason": "  ", "idempotency_key": "k-3"}`,
		`{"points": 5, "reason": "x"}`,
		`{"points": 5, "reason": "x", "idempotency_key": "` + strings.Repeat("k", 101) + `"}`,
	} {
		e.callAdminJSON(http.MethodPost, path, tok, bad).isError(t, bad, http.StatusUnprocessableEntity, "invalid_adjustment")
	}
	e.callAdminJSON(http.MethodPost, path, tok, `{"points": "5"}`).isError(t, "string points", http.StatusBadRequest, "bad_request")
	// A customer the shop does not know: 404, no account made.
	e.callAdminJSON(http.MethodPost, "/api/admin/customers/424242/points", tok, `{"points": 5, "reason": "x", "idempotency_key": "k-9"}`).
		isError(t, "unknown customer", http.StatusNotFound, "not_found")
	if n := e.count("loyalty_accounts", "customer_platform_id = ?", 424242); n != 0 {
		t.Fatal("an account was made for an unknown customer")
	}
	e.ledgerOK(shop)
}

func TestLoyaltyAPI_CustomerAndLedgerPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "ledger-shop.myshopify.com"
	shop := e.installShop(dom)
	e.loyaltyOn(shop, nil)
	tok := e.fake.SessionToken(dom, time.Minute)
	for i := range 7 {
		e.grant(shop, shopperID, int64(10*(i+1)), fmt.Sprintf("g-%d", i))
	}
	if _, err := e.app.store.SetBirthday(context.Background(), models.AccountKey{ShopID: shop.ID, CustomerPlatformID: shopperID}, "04-12"); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(shopperID, 10)

	var detail struct {
		CustomerID                        string `json:"customer_id"`
		Available, Pending, Debt, Balance int64
		Tier                              *struct{ Name, Multiplier string }
		BirthdaySet                       bool `json:"birthday_set"`
		Birthday                          *string
		ReferralCode                      string `json:"referral_code"`
		Ledger                            []struct{ ID string }
		Redemptions, Referrals            []any
	}
	e.callAdmin(http.MethodGet, "/api/admin/customers/"+id, tok).ok(t, "customer", &detail)
	if detail.CustomerID != id || detail.Available != 280 || detail.Balance != 280 || !detail.BirthdaySet ||
		detail.Birthday != nil || len(detail.Ledger) != 7 || detail.Tier == nil || detail.Tier.Name != "Member" ||
		detail.Redemptions == nil || detail.Referrals == nil {
		t.Fatalf("customer detail %+v", detail)
	}

	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		path := "/api/admin/customers/" + id + "/ledger?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var p struct {
			Items []struct {
				ID     string
				Points int64
			}
			NextCursor string `json:"next_cursor"`
		}
		e.callAdmin(http.MethodGet, path, tok).ok(t, "ledger page", &p)
		for _, it := range p.Items {
			seen = append(seen, it.ID)
		}
		if page == 0 && (len(p.Items) != 3 || p.Items[0].Points != 70) {
			t.Fatalf("first page %+v, want the newest three (70 first)", p.Items)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 7 {
		t.Fatalf("pages gave %d entries, want 7: %v", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		a, _ := strconv.ParseUint(seen[i-1], 10, 64)
		b, _ := strconv.ParseUint(seen[i], 10, 64)
		if b >= a {
			t.Fatalf("ledger not newest first without repeats: %v", seen)
		}
	}
	e.callAdmin(http.MethodGet, "/api/admin/customers/"+id+"/ledger?cursor=garbage", tok).isError(t, "bad cursor", http.StatusBadRequest, "bad_cursor")
	e.callAdmin(http.MethodGet, "/api/admin/customers/abc", tok).isError(t, "bad id", http.StatusNotFound, "not_found")

	var liab struct {
		Accounts                 int64
		Available, Pending, Debt struct {
			Points int64
			Value  string
		}
		Outstanding struct {
			Points int64
			Value  string
		}
	}
	e.callAdmin(http.MethodGet, "/api/admin/loyalty/liability", tok).ok(t, "liability", &liab)
	if liab.Accounts != 1 || liab.Available.Points != 280 || liab.Available.Value != "2.80" || liab.Outstanding.Value != "2.80" {
		t.Fatalf("liability %+v", liab)
	}
}

func TestLoyaltyAPI_Referrals_ApproveReject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "referral-shop.myshopify.com"
	shop := e.installShop(dom)
	e.loyaltyOn(shop, nil)
	tok := e.fake.SessionToken(dom, time.Minute)
	ctx := context.Background()
	mk := func(order int64, status string) models.Referral {
		r, _, err := e.app.store.CreateReferral(ctx, time.Now(), models.Referral{ShopID: shop.ID, OrderPlatformID: order,
			ReferrerPlatformID: shopperID, RefereePlatformID: order + 1, Code: "ANA-7K2Q", Via: "link", Status: status, Reasons: "same_ip,same_address"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	f1, f2, p1 := mk(1001, models.ReferralFlagged), mk(1002, models.ReferralFlagged), mk(1003, models.ReferralPending)

	var flagged struct {
		Items []struct {
			ID, Status string
			Reasons    []string
		}
		NextCursor string `json:"next_cursor"`
	}
	e.callAdmin(http.MethodGet, "/api/admin/referrals?status=flagged", tok).ok(t, "flagged", &flagged)
	if len(flagged.Items) != 2 || flagged.Items[0].ID != strconv.FormatUint(f2.ID, 10) || len(flagged.Items[0].Reasons) != 2 {
		t.Fatalf("flagged %+v", flagged)
	}
	e.callAdmin(http.MethodGet, "/api/admin/referrals?status=weird", tok).isError(t, "bad status", http.StatusBadRequest, "bad_status")

	var got struct {
		Status     string
		ReviewedBy string `json:"reviewed_by"`
	}
	e.callAdmin(http.MethodPost, fmt.Sprintf("/api/admin/referrals/%d/approve", f1.ID), tok).ok(t, "approve", &got)
	if got.Status != models.ReferralPending || got.ReviewedBy != "42" {
		t.Fatalf("approved %+v", got)
	}
	e.callAdmin(http.MethodPost, fmt.Sprintf("/api/admin/referrals/%d/reject", f1.ID), tok).
		isError(t, "reject after approve", http.StatusConflict, "not_flagged")
	e.callAdmin(http.MethodPost, fmt.Sprintf("/api/admin/referrals/%d/reject", f2.ID), tok).ok(t, "reject", &got)
	if got.Status != models.ReferralRejected {
		t.Fatalf("rejected %+v", got)
	}
	e.callAdmin(http.MethodPost, fmt.Sprintf("/api/admin/referrals/%d/approve", p1.ID), tok).
		isError(t, "approve pending", http.StatusConflict, "not_flagged")
	e.callAdmin(http.MethodPost, "/api/admin/referrals/999999/approve", tok).isError(t, "unknown", http.StatusNotFound, "not_found")
	if as := e.audits(shop, auditReferralReview); len(as) != 2 {
		t.Fatalf("%d review audit rows, want 2", len(as))
	}

	// The referrer's detail lists them as referrals they made.
	e.grant(shop, shopperID, 1, "seed") // a referrer has an account (their code lives on it)
	var detail struct{ Referrals []struct{ ID, Status string } }
	e.callAdmin(http.MethodGet, "/api/admin/customers/"+strconv.FormatInt(shopperID, 10), tok).ok(t, "customer", &detail)
	if len(detail.Referrals) != 3 {
		t.Fatalf("customer referrals %+v", detail.Referrals)
	}
}

func TestLoyaltyAPI_ShopAToken_NeverSeesOrChangesShopB(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const domA, domB = "loyal-a.myshopify.com", "loyal-b.myshopify.com"
	shopA, shopB := e.installShop(domA), e.installShop(domB)
	e.loyaltyOn(shopA, nil)
	progB := e.loyaltyOn(shopB, func(p *jobs.LoyaltyProgram) { p.RedeemOptions = []int64{777} })
	const custB = int64(5_550_000_000_001)
	e.grant(shopB, custB, 9137, "b-seed")
	refB, _, err := e.app.store.CreateReferral(context.Background(), time.Now(), models.Referral{ShopID: shopB.ID, OrderPlatformID: 42,
		ReferrerPlatformID: custB, Code: "BOB-SECRET", Status: models.ReferralFlagged})
	if err != nil {
		t.Fatal(err)
	}
	tokA := e.fake.SessionToken(domA, time.Minute)
	idB := strconv.FormatInt(custB, 10)
	secrets := []string{"BOB-SECRET", "9137", "777", domB}
	leaks := func(what string, r adminReply) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(string(r.body), s) {
				t.Fatalf("%s: answer %s leaks shop B's %q", what, r.body, s)
			}
		}
	}
	for _, call := range []string{
		"GET /api/admin/customers/" + idB,
		"GET /api/admin/customers/" + idB + "/ledger",
		"POST /api/admin/referrals/" + strconv.FormatUint(refB.ID, 10) + "/approve",
		"POST /api/admin/referrals/" + strconv.FormatUint(refB.ID, 10) + "/reject",
	} {
		method, path, _ := strings.Cut(call, " ")
		r := e.callAdmin(method, path, tokA)
		r.isError(t, call, http.StatusNotFound, "not_found")
		leaks(call, r)
	}
	r := e.callAdminJSON(http.MethodPost, "/api/admin/customers/"+idB+"/points", tokA, `{"points": -9137, "reason": "x", "idempotency_key": "steal"}`)
	r.isError(t, "adjust B's customer", http.StatusNotFound, "not_found")
	for _, path := range []string{"/api/admin/referrals", "/api/admin/referrals?status=flagged", "/api/admin/loyalty", "/api/admin/loyalty/liability"} {
		r := e.callAdmin(http.MethodGet, path, tokA)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		leaks(path, r)
	}
	e.callAdminJSON(http.MethodPut, "/api/admin/loyalty", tokA, `{"redeem_options": [100]}`).ok(t, "put A", &jobs.LoyaltyProgram{})

	// B is untouched.
	if a := e.account(shopB, custB); a.Available != 9137 {
		t.Fatalf("B's account %+v", a)
	}
	if r, _ := e.app.store.ReferralByID(context.Background(), shopB.ID, refB.ID); r.Status != models.ReferralFlagged || r.ReviewedBy != "" {
		t.Fatalf("B's referral %+v", r)
	}
	if p, _ := jobs.LoadLoyaltyProgram(context.Background(), e.app.store, shopB.ID); len(p.RedeemOptions) != 1 || p.RedeemOptions[0] != progB.RedeemOptions[0] {
		t.Fatalf("B's program %+v", p)
	}
	if n := e.count("loyalty_accounts", "shop_id = ?", shopA.ID); n != 0 {
		t.Fatalf("%d accounts made in A", n)
	}
	if n := e.count("audit_logs", "shop_id = ?", shopB.ID); n != 0 {
		t.Fatalf("%d audit rows in B", n)
	}
}

// TestLoyaltyAPI_OrderTimelineShowsLedgerEntries: a paid order earns
// through the real pipeline (webhook → delivery → trigger → loyalty flow),
// and the admin's order timeline lists the points with the rest.
func TestLoyaltyAPI_OrderTimelineShowsLedgerEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "timeline-points.myshopify.com"
	shop := e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)
	e.callAdminJSON(http.MethodPut, "/api/admin/loyalty", tok, `{"enabled": true, "tiers": [], "bonuses": {"first_order": 0}}`).ok(t, "enable", &jobs.LoyaltyProgram{})

	const oid = 6_100_000_000_000_777
	t0 := time.Now().UTC().Truncate(time.Second).Add(-2 * time.Hour)
	e.post(webhook{shop: dom, topic: "orders/paid", body: shopOrder(oid, 1077, "ana@example.com", t0, "paid")})
	e.processAll()
	ctx := context.Background()
	ts, err := e.app.store.DueTriggers(ctx, []string{models.TriggerOrderPaid}, time.Now().Add(time.Hour), time.Now().Add(time.Hour), 10)
	if err != nil || len(ts) != 1 {
		t.Fatalf("due triggers: %d %v", len(ts), err)
	}
	task, _ := jobs.NewTriggerTask(ts[0].ID)
	if err := e.app.runner.ProcessTask(ctx, task); err != nil {
		t.Fatal(err)
	}

	var o struct {
		Timeline []struct {
			Type         string
			EntryKind    string     `json:"entry_kind"`
			Points       *int64     `json:"points"`
			PendingUntil *time.Time `json:"pending_until"`
			CustomerID   string     `json:"customer_id"`
		}
	}
	e.callAdmin(http.MethodGet, "/api/admin/orders/"+strconv.FormatInt(oid, 10), tok).ok(t, "order", &o)
	var ledger []string
	for _, en := range o.Timeline {
		if en.Type == "ledger" {
			if en.Points == nil || en.PendingUntil == nil || en.CustomerID == "" {
				t.Fatalf("ledger entry %+v", en)
			}
			ledger = append(ledger, fmt.Sprintf("%s %d", en.EntryKind, *en.Points))
		}
	}
	// €90 subtotal at 1 point per unit: 90 points, pending for the window.
	if strings.Join(ledger, ",") != "earn 90" {
		t.Fatalf("ledger entries on the timeline = %v, want [earn 90]", ledger)
	}
	_ = shop
}
