package app

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

const extOrigin = "https://extensions.shopifycdn.com"

// extClaims are a checkout session token's claims: dest as checkout sends
// it (a bare domain), sub the customer's GID (none for a guest).
func (e *testEnv) extClaims(dest string, customer int64) jwt.MapClaims {
	now := time.Now()
	m := jwt.MapClaims{"dest": dest, "aud": e.fake.APIKey, "exp": now.Add(5 * time.Minute).Unix(),
		"nbf": now.Add(-time.Second).Unix(), "iat": now.Add(-time.Second).Unix(), "jti": "j"}
	if customer != 0 {
		m["sub"] = "gid://shopify/Customer/" + strconv.FormatInt(customer, 10)
	}
	return m
}

func (e *testEnv) sign(m jwt.SigningMethod, key any, claims jwt.Claims) string {
	e.t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// extToken is a valid extension session token for the shop and customer.
func (e *testEnv) extToken(dest string, customer int64) string {
	return e.sign(jwt.SigningMethodHS256, []byte(e.fake.APISecret), e.extClaims(dest, customer))
}

// callExt calls the app as an extension's fetch does: from origin (""
// sends none), with the token ("" sends none).
func (e *testEnv) callExt(method, path, token, origin, body string) adminReply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return adminReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// landOrder stores an order through the webhook path; customer is
// id+7 (shopOrder), or none when guest.
func (e *testEnv) landOrder(dom string, id int64, created time.Time, guest bool) int64 {
	e.t.Helper()
	body := shopOrder(id, id%10000, "buyer@example.com", created, "paid")
	customer := id + 7
	if guest {
		var o map[string]any
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&o); err != nil {
			e.t.Fatal(err)
		}
		delete(o, "customer")
		body, _ = json.Marshal(o)
		customer = 0
	}
	if got := e.post(webhook{shop: dom, topic: "orders/paid", body: body}); got != http.StatusOK {
		e.t.Fatalf("order webhook: %d", got)
	}
	e.processAll()
	return customer
}

type thankYouReply struct {
	Referral *struct {
		Code, Link, Reward string
		RefereeDiscount    string `json:"referee_discount"`
	}
	Survey struct {
		Question string
		Choices  []string
		OtherMax int `json:"other_max"`
		Answered bool
	}
}

func (e *testEnv) surveyRows(shop models.Shop) []models.SurveyAnswer {
	e.t.Helper()
	var out []models.SurveyAnswer
	if err := e.app.db.Where("shop_id = ?", shop.ID).Order("id").Find(&out).Error; err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestExtensionAPI_ThankYou_ReferralAndSurveyAnsweredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "thanks.myshopify.com"
	shop := e.installShop(dom)
	e.loyaltyOn(shop, nil)
	const oid = 6_300_000_000_000_001
	customer := e.landOrder(dom, oid, time.Now().Add(-time.Minute), false)
	tok := e.extToken(dom, customer)
	gid := "gid://shopify/OrderIdentity/" + strconv.FormatInt(oid, 10)

	var ty thankYouReply
	r := e.callExt(http.MethodGet, "/api/ext/thank-you?order_id="+gid, tok, extOrigin, "")
	r.ok(t, "thank-you", &ty)
	if r.header.Get("Access-Control-Allow-Origin") != extOrigin || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", r.header)
	}
	if ty.Referral == nil || ty.Referral.Code == "" || ty.Referral.Link != "https://doorstep.test/r/"+ty.Referral.Code {
		t.Fatalf("referral %+v", ty.Referral)
	}
	if acct := e.account(shop, customer); acct.ReferralCode != ty.Referral.Code {
		t.Fatalf("account code %q, reply %q", acct.ReferralCode, ty.Referral.Code)
	}
	if ty.Survey.Question != "heard_about" || len(ty.Survey.Choices) != len(surveyChoices) || ty.Survey.OtherMax != 200 || ty.Survey.Answered {
		t.Fatalf("survey %+v", ty.Survey)
	}

	// Another customer's id in the body changes nothing: the token says who.
	body := fmt.Sprintf(`{"order_id": %q, "answer": "friend", "customer_id": %d, "shop": "other.myshopify.com"}`, gid, customer+1)
	r = e.callExt(http.MethodPost, "/api/ext/survey", tok, extOrigin, body)
	if r.status != http.StatusCreated || string(r.body) != `{"saved":true}` {
		t.Fatalf("first answer: %d %s", r.status, r.body)
	}
	// A second answer (a reload, a second click) is ignored: the first stays.
	r = e.callExt(http.MethodPost, "/api/ext/survey", tok, extOrigin,
		fmt.Sprintf(`{"order_id": %d, "answer": "other", "other": "a billboard"}`, oid))
	if r.status != http.StatusOK || string(r.body) != `{"saved":false}` {
		t.Fatalf("second answer: %d %s", r.status, r.body)
	}
	rows := e.surveyRows(shop)
	if len(rows) != 1 || rows[0].OrderPlatformID != oid || rows[0].CustomerPlatformID != customer || rows[0].Answer != "friend" ||
		rows[0].Other != "" || rows[0].Question != "heard_about" {
		t.Fatalf("rows %+v", rows)
	}
	e.callExt(http.MethodGet, "/api/ext/thank-you?order_id="+strconv.FormatInt(oid, 10), tok, extOrigin, "").ok(t, "after", &ty)
	if !ty.Survey.Answered {
		t.Fatalf("survey not answered after the post: %+v", ty.Survey)
	}

	// A guest gets the survey but no referral link, and no code is made.
	accounts := e.count("loyalty_accounts", "")
	var guest thankYouReply
	e.callExt(http.MethodGet, "/api/ext/thank-you?order_id="+gid, e.extToken(dom, 0), extOrigin, "").ok(t, "guest", &guest)
	if guest.Referral != nil || guest.Survey.Answered {
		t.Fatalf("guest on a customer's order: %+v", guest)
	}
	if n := e.count("loyalty_accounts", ""); n != accounts {
		t.Fatalf("guest visit made %d accounts", n-accounts)
	}
	// With the referral program off, no link either.
	e.loyaltyOn(shop, func(p *jobs.LoyaltyProgram) { p.Referral.Enabled = false })
	var off thankYouReply
	e.callExt(http.MethodGet, "/api/ext/thank-you?order_id="+gid, tok, extOrigin, "").ok(t, "program off", &off)
	if off.Referral != nil || !off.Survey.Answered {
		t.Fatalf("referral off: %+v", off)
	}
}

func TestExtensionAPI_Survey_Validation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "survey-rules.myshopify.com"
	shop := e.installShop(dom)
	const oid = 6_300_000_000_000_101
	customer := e.landOrder(dom, oid, time.Now().Add(-time.Minute), false)
	tok := e.extToken(dom, customer)
	long := strings.Repeat("é", 201)
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"order_id": "6300000000000101", "answer": "tv"}`, http.StatusUnprocessableEntity, "invalid_answer"},
		{`{"order_id": "6300000000000101", "answer": ""}`, http.StatusUnprocessableEntity, "invalid_answer"},
		{`{"order_id": "6300000000000101", "answer": "other"}`, http.StatusUnprocessableEntity, "invalid_answer"},
		{`{"order_id": "6300000000000101", "answer": "other", "other": "   "}`, http.StatusUnprocessableEntity, "invalid_answer"},
		{`{"order_id": "6300000000000101", "answer": "other", "other": "` + long + `"}`, http.StatusUnprocessableEntity, "invalid_answer"},
		{`{"order_id": "abc", "answer": "friend"}`, http.StatusBadRequest, "bad_order_id"},
		{`{"order_id": "gid://shopify/Customer/1", "answer": "friend"}`, http.StatusBadRequest, "bad_order_id"},
		{`{"answer": "friend"}`, http.StatusBadRequest, "bad_order_id"},
		{`not json`, http.StatusBadRequest, "bad_request"},
		{`{"order_id": 6300000000000999, "answer": "friend"}`, http.StatusNotFound, "order_not_found"},
		{`{"order_id": "6300000000000101", "answer": "friend", "pad": "` + strings.Repeat("x", 5000) + `"}`, http.StatusRequestEntityTooLarge, "too_large"},
	} {
		e.callExt(http.MethodPost, "/api/ext/survey", tok, extOrigin, tc.body).isError(t, tc.body, tc.status, tc.code)
	}
	if rows := e.surveyRows(shop); len(rows) != 0 {
		t.Fatalf("refused answers stored: %+v", rows)
	}
	// "other" keeps the shopper's words, spaces tidied.
	r := e.callExt(http.MethodPost, "/api/ext/survey", tok, extOrigin,
		`{"order_id": "gid://shopify/Order/6300000000000101", "answer": "other", "other": "  a   billboard\non the A1 "}`)
	if r.status != http.StatusCreated {
		t.Fatalf("other: %d %s", r.status, r.body)
	}
	if rows := e.surveyRows(shop); len(rows) != 1 || rows[0].Answer != "other" || rows[0].Other != "a billboard on the A1" {
		t.Fatalf("rows %+v", rows)
	}
}

func TestExtensionAPI_BadTokens_401AndNothingWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "tokens.myshopify.com"
	shop := e.installShop(dom)
	e.loyaltyOn(shop, nil)
	const oid = 6_300_000_000_000_201
	customer := e.landOrder(dom, oid, time.Now().Add(-time.Minute), false)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hs := func(mut func(jwt.MapClaims)) string {
		m := e.extClaims(dom, customer)
		mut(m)
		return e.sign(jwt.SigningMethodHS256, []byte(e.fake.APISecret), m)
	}
	for _, tc := range []struct{ name, token string }{
		{"none", ""},
		{"wrong secret", e.sign(jwt.SigningMethodHS256, []byte("not-the-secret"), e.extClaims(dom, customer))},
		{"alg none", e.sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, e.extClaims(dom, customer))},
		{"RS256", e.sign(jwt.SigningMethodRS256, rsaKey, e.extClaims(dom, customer))},
		{"expired", hs(func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-time.Minute).Unix() })},
		{"wrong aud", hs(func(m jwt.MapClaims) { m["aud"] = "another-app" })},
		{"bad dest", hs(func(m jwt.MapClaims) { m["dest"] = "evil.example" })},
		{"dest not installed", hs(func(m jwt.MapClaims) { m["dest"] = "gone.myshopify.com" })},
		{"admin session token", e.fake.SessionToken(dom, time.Minute)},
	} {
		for _, call := range []struct{ method, path, body string }{
			{http.MethodGet, "/api/ext/thank-you?order_id=" + strconv.FormatInt(oid, 10), ""},
			{http.MethodPost, "/api/ext/survey", fmt.Sprintf(`{"order_id": "%d", "answer": "friend"}`, oid)},
			{http.MethodGet, "/api/ext/orders/" + strconv.FormatInt(oid, 10) + "/status", ""},
		} {
			r := e.callExt(call.method, call.path, tc.token, extOrigin, call.body)
			r.isError(t, tc.name+" "+call.path, http.StatusUnauthorized, "unauthorized")
			// The browser must be able to read the 401 to show an error.
			if r.header.Get("Access-Control-Allow-Origin") != extOrigin {
				t.Errorf("%s %s: no CORS header on the 401", tc.name, call.path)
			}
			if strings.Contains(string(r.body), "#") {
				t.Errorf("%s %s: 401 body mentions an order: %s", tc.name, call.path, r.body)
			}
		}
	}
	if rows := e.surveyRows(shop); len(rows) != 0 {
		t.Fatalf("answers stored with bad tokens: %+v", rows)
	}
	if n := e.count("loyalty_accounts", ""); n != 0 {
		t.Fatalf("%d loyalty accounts (referral codes) made with bad tokens", n)
	}
	// The same calls with a good token (dest as an https URL) work.
	good := hs(func(m jwt.MapClaims) { m["dest"] = "https://" + dom })
	e.callExt(http.MethodGet, "/api/ext/orders/"+strconv.FormatInt(oid, 10)+"/status", good, extOrigin, "").ok(t, "good token", &map[string]any{})
}

func TestExtensionAPI_OtherPeoplesOrders_404AndNoData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "owners.myshopify.com"
	shop := e.installShop(dom)
	e.loyaltyOn(shop, nil)
	now := time.Now()
	const orderA, orderB, guestNew, guestOld = 6_300_000_000_000_301, 6_300_000_000_000_303, 6_300_000_000_000_305, 6_300_000_000_000_307
	custA := e.landOrder(dom, orderA, now.Add(-time.Minute), false)
	custB := e.landOrder(dom, orderB, now.Add(-time.Minute), false)
	e.landOrder(dom, guestNew, now.Add(-time.Hour), true)
	e.landOrder(dom, guestOld, now.Add(-48*time.Hour), true)
	// An order with the same id in another shop is not this shop's.
	const otherDom = "owners-other.myshopify.com"
	e.installShop(otherDom)
	custOther := e.landOrder(otherDom, orderA+100, now.Add(-time.Minute), false)
	tokA, tokB, guest := e.extToken(dom, custA), e.extToken(dom, custB), e.extToken(dom, 0)

	survey := func(id int64) string { return fmt.Sprintf(`{"order_id": "%d", "answer": "ad"}`, id) }
	for _, tc := range []struct {
		name, token string
		order       int64
	}{
		{"A's token, B's order", tokA, orderB},
		{"guest token, a customer's order", guest, orderA},
		{"A's token, a guest order", tokA, guestNew},
		{"guest token, a guest order two days old", guest, guestOld},
		{"A's token, another shop's order", tokA, orderA + 100},
		{"another shop's customer", e.extToken(dom, custOther), orderA + 100},
	} {
		r := e.callExt(http.MethodPost, "/api/ext/survey", tc.token, extOrigin, survey(tc.order))
		if tc.order == orderA+100 {
			r.isError(t, tc.name, http.StatusNotFound, "order_not_found")
		} else {
			r.isError(t, tc.name, http.StatusNotFound, "not_found")
		}
		var ty thankYouReply
		e.callExt(http.MethodGet, "/api/ext/thank-you?order_id="+strconv.FormatInt(tc.order, 10), tc.token, extOrigin, "").ok(t, tc.name, &ty)
		if ty.Survey.Answered {
			t.Errorf("%s: thank-you says answered", tc.name)
		}
	}
	for _, tc := range []struct {
		name, token string
		order       int64
	}{
		{"A's token, B's order", tokA, orderB},
		{"B's token, A's order", tokB, orderA},
		{"A's token, a guest order", tokA, guestNew},
		{"A's token, another shop's order", tokA, orderA + 100},
		{"unknown order", tokA, 1},
		{"not an id", tokA, 0},
	} {
		path := "/api/ext/orders/" + strconv.FormatInt(tc.order, 10) + "/status"
		if tc.order == 0 {
			path = "/api/ext/orders/nope/status"
		}
		r := e.callExt(http.MethodGet, path, tc.token, extOrigin, "")
		r.isError(t, tc.name, http.StatusNotFound, "not_found")
		if strings.Contains(string(r.body), "#") || strings.Contains(string(r.body), "tracking") {
			t.Errorf("%s: 404 body leaks: %s", tc.name, r.body)
		}
	}
	e.callExt(http.MethodGet, "/api/ext/orders/"+strconv.FormatInt(orderA, 10)+"/status", guest, extOrigin, "").
		isError(t, "guest on the order status page", http.StatusUnauthorized, "login_required")
	if rows := e.surveyRows(shop); len(rows) != 0 {
		t.Fatalf("answers stored for other people's orders: %+v", rows)
	}

	// A guest may answer for a guest order of the last day: the thank-you
	// page right after checkout.
	r := e.callExt(http.MethodPost, "/api/ext/survey", guest, extOrigin, survey(guestNew))
	if r.status != http.StatusCreated {
		t.Fatalf("guest on a fresh guest order: %d %s", r.status, r.body)
	}
	if rows := e.surveyRows(shop); len(rows) != 1 || rows[0].OrderPlatformID != guestNew || rows[0].CustomerPlatformID != 0 {
		t.Fatalf("rows %+v", rows)
	}
}

func TestExtensionAPI_OrderStatus_PackagesTrackingLinkAndPoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "status.myshopify.com"
	shop := e.installShop(dom)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-6 * time.Hour)
	const oid, fid = 6_300_000_000_000_401, 6_300_000_000_000_451
	customer := e.landOrder(dom, oid, t0, false)
	e.post(webhook{shop: dom, topic: "fulfillments/create", body: fulfillmentBody(fid, oid, "1ZSTATUS", t0.Add(time.Hour))})
	e.processAll()
	e.post(webhook{shop: dom, topic: "fulfillment_events/create", body: carrierEventBody(1, fid, oid, "in_transit", t0.Add(2*time.Hour))})
	e.processAll()
	tok := e.extToken("https://"+dom, customer)
	path := "/api/ext/orders/" + strconv.FormatInt(oid, 10) + "/status"

	type statusReply struct {
		OrderID     string `json:"order_id"`
		Name        string
		Cancelled   bool
		TrackingURL string `json:"tracking_url"`
		Packages    []struct {
			Number, Step        int
			Status              string
			Late, Problem       bool
			Carrier             string
			TrackingNumber      string     `json:"tracking_number"`
			CarrierURL          string     `json:"carrier_url"`
			EstimatedDeliveryAt *time.Time `json:"estimated_delivery_at"`
			DeliveredAt         *time.Time `json:"delivered_at"`
		}
		Points *struct{ Earned, Pending int64 }
	}
	// No loyalty program: no points.
	var s statusReply
	r := e.callExt(http.MethodGet, path, tok, extOrigin, "")
	r.ok(t, "status", &s)
	if s.OrderID != strconv.FormatInt(oid, 10) || s.Name != fmt.Sprintf("#%d", oid%10000) || s.Cancelled || s.Points != nil {
		t.Fatalf("status %+v", s)
	}
	if len(s.Packages) != 1 {
		t.Fatalf("packages %+v", s.Packages)
	}
	p := s.Packages[0]
	if p.Number != 1 || p.Status != models.ShipmentInTransit || p.Step != 1 || p.Late || p.Problem || p.Carrier != "UPS" ||
		p.TrackingNumber != "1ZSTATUS" || p.CarrierURL != "https://ups.example/1ZSTATUS" || p.DeliveredAt != nil {
		t.Fatalf("package %+v", p)
	}
	if !strings.HasPrefix(s.TrackingURL, "https://doorstep.test/t/") {
		t.Fatalf("tracking url %q", s.TrackingURL)
	}
	// It is the signed tracking page of this order.
	page := e.callAdmin(http.MethodGet, strings.TrimPrefix(s.TrackingURL, "https://doorstep.test"), "")
	if page.status != http.StatusOK || !strings.Contains(string(page.body), "1ZSTATUS") {
		t.Fatalf("tracking page: %d", page.status)
	}

	// With the program on: what the order earned, and what is still pending.
	e.loyaltyOn(shop, nil)
	ctx := t.Context()
	future, past := time.Now().Add(30*24*time.Hour), time.Now().Add(-time.Hour)
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: customer}
	if _, _, err := e.app.store.PostEntries(ctx, key, []models.LoyaltyEntry{
		{Kind: models.EntryEarn, SourceType: models.SourceLineItem, SourceID: "ext-1", Points: 90, PendingUntil: &future, OrderPlatformID: oid, At: time.Now()},
		{Kind: models.EntryEarn, SourceType: models.SourceBonus, SourceID: "first-order:ext", Points: 50, OrderPlatformID: oid, At: time.Now()},
		{Kind: models.EntryReverse, SourceType: models.SourceRefundLine, SourceID: "ext-r1", Points: -45, PendingUntil: &future, OrderPlatformID: oid, At: time.Now()},
		{Kind: models.EntryEarn, SourceType: models.SourceLineItem, SourceID: "ext-other-order", Points: 1000, OrderPlatformID: oid + 2, At: time.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	// A referrer's reward for this order is theirs, not this customer's.
	if _, _, err := e.app.store.PostEntries(ctx, models.AccountKey{ShopID: shop.ID, CustomerPlatformID: 5}, []models.LoyaltyEntry{
		{Kind: models.EntryReferralReward, SourceType: models.SourceReferral, SourceID: "1", Points: 500, OrderPlatformID: oid, At: time.Now()},
		{Kind: models.EntryEarn, SourceType: models.SourceLineItem, SourceID: "ext-5", Points: 7, PendingUntil: &past, OrderPlatformID: oid, At: time.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	e.callExt(http.MethodGet, path, tok, extOrigin, "").ok(t, "status with points", &s)
	if s.Points == nil || s.Points.Earned != 95 || s.Points.Pending != 45 {
		t.Fatalf("points %+v, want earned 95 pending 45", s.Points)
	}
}

func TestExtensionAPI_CORS_ExtensionOriginsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "cors.myshopify.com"
	e.installShop(dom)
	preflight := func(path, origin string) adminReply {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return adminReply{status: resp.StatusCode, header: resp.Header}
	}
	for _, path := range []string{"/api/ext/survey", "/api/ext/orders/1/status", "/api/admin/orders/1"} {
		for _, origin := range []string{extOrigin, "https://cdn.shopify.com"} {
			r := preflight(path, origin)
			h := r.header
			if r.status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
				!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
				!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
				h.Get("Access-Control-Max-Age") == "" || h.Get("Access-Control-Allow-Credentials") != "" ||
				!strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("preflight %s from %s: %d %v", path, origin, r.status, h)
			}
		}
		for _, origin := range []string{"https://evil.example", "null", "https://extensions.shopifycdn.com.evil.example", "http://extensions.shopifycdn.com"} {
			r := preflight(path, origin)
			if r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight %s from %s: %d %v", path, origin, r.status, r.header)
			}
		}
	}
	// Answers carry the header for an extension origin only, never "*".
	tok := e.extToken(dom, 0)
	r := e.callExt(http.MethodGet, "/api/ext/thank-you?order_id=1", tok, extOrigin, "")
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != extOrigin {
		t.Fatalf("from the extension: %d %v", r.status, r.header)
	}
	r = e.callExt(http.MethodGet, "/api/ext/thank-you?order_id=1", tok, "https://evil.example", "")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("from another origin: %v", r.header)
	}
}

// The admin block calls GET /api/admin/orders/:id from the extension
// origin. With extensionCORS in the /api/admin group (before sessionAuth,
// as the lead wires it in apiRoutes), answers — a 401 included — carry the
// CORS header and sessionAuth behaves as before.
func TestExtensionCORS_AdminGroup_SessionAuthUnchanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "admin-block.myshopify.com"
	e.installShop(dom)
	const oid = 6_300_000_000_000_501
	e.landOrder(dom, oid, time.Now().Add(-time.Minute), false)
	r := gin.New()
	e.app.ordersAPI(r.Group("/api/admin", e.app.extensionCORS(), e.app.sessionAuth()))
	call := func(token, origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/api/admin/orders/"+strconv.FormatInt(oid, 10), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	w := call(e.fake.SessionToken(dom, time.Minute), extOrigin)
	if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != extOrigin || !strings.Contains(w.Body.String(), `"timeline"`) {
		t.Fatalf("admin block fetch: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w = call("bad", extOrigin)
	if w.Code != http.StatusUnauthorized || w.Header().Get("X-Shopify-Retry-Invalid-Session-Request") != "1" ||
		w.Header().Get("Access-Control-Allow-Origin") != extOrigin ||
		!strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "X-Shopify-Retry-Invalid-Session-Request") {
		t.Fatalf("bad token: %d %v", w.Code, w.Header())
	}
	// An extension's checkout token is no admin credential.
	if w = call(e.extToken(dom, 0), extOrigin); w.Code != http.StatusUnauthorized {
		t.Fatalf("checkout token on the admin API: %d", w.Code)
	}
	// The admin itself (same origin, no Origin header) is unaffected.
	if w = call(e.fake.SessionToken(dom, time.Minute), ""); w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("same-origin admin: %d %v", w.Code, w.Header())
	}
}
