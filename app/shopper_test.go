package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/models"
)

// shopperOrder is a Shopify order with two products (11: Tea, 22: Mug),
// optionally cancelled.
func shopperOrder(id, number int64, email string, created time.Time, cancelled bool) []byte {
	var o map[string]any
	dec := json.NewDecoder(bytes.NewReader(shopOrder(id, number, email, created, "paid")))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		panic(err)
	}
	o["line_items"] = append(o["line_items"].([]any), map[string]any{
		"id": lineID(id) + 1, "product_id": 22, "variant_id": 23, "title": "Mug", "variant_title": "Blue",
		"quantity": 1, "price": "12.00", "sku": "MUG",
	})
	if cancelled {
		o["cancelled_at"] = created.Add(2 * time.Hour).Format(time.RFC3339)
		o["cancel_reason"] = "customer"
		o["updated_at"] = created.Add(2 * time.Hour).Format(time.RFC3339)
	}
	b, _ := json.Marshal(o)
	return b
}

// shopperFixture is a shop with one shipped order that has carrier scans.
type shopperFixture struct {
	e       *testEnv
	domain  string
	shop    models.Shop
	orderID int64
}

const shopperEmail = "ana.secret@example.com"

func newShopperFixture(t *testing.T) shopperFixture {
	t.Helper()
	e := newEnv(t)
	const dom = "shopper.myshopify.com"
	shop := e.installShop(dom)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour)
	const oid, fid = 5_100_000_000_000_001, 5_200_000_000_000_001
	e.post(webhook{shop: dom, topic: "orders/paid", body: shopperOrder(oid, 1234, shopperEmail, t0, false)})
	e.processAll()
	e.post(webhook{shop: dom, topic: "fulfillments/create", body: fulfillmentBody(fid, oid, "1ZSHOPPER", t0.Add(time.Hour))})
	e.processAll()
	e.post(webhook{shop: dom, topic: "fulfillment_events/create", body: carrierEventBody(301, fid, oid, "in_transit", t0.Add(2*time.Hour))})
	e.processAll()
	e.post(webhook{shop: dom, topic: "fulfillment_events/create", body: carrierEventBody(302, fid, oid, "out_for_delivery", t0.Add(20*time.Hour))})
	e.processAll()
	return shopperFixture{e: e, domain: dom, shop: shop, orderID: oid}
}

// token signs a link for the fixture's order.
func (f shopperFixture) token(t *testing.T, purpose, subject string, expires time.Time) string {
	t.Helper()
	tok, err := f.e.app.composer.Signer().Sign(links.Claims{ShopID: int64(f.shop.ID), OrderID: f.orderID,
		Purpose: purpose, Subject: subject, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tamper changes one character in the middle of a token.
func tamper(tok string) string {
	i := len(tok) / 2
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

type shopperReply struct {
	status int
	header http.Header
	body   string
}

// shopperCall requests a shopper page; a non-nil form is POSTed urlencoded.
func (e *testEnv) shopperCall(method, path string, form url.Values) shopperReply {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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
	return shopperReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// wantPage checks the status and the headers every shopper page carries.
func (r shopperReply) wantPage(t *testing.T, what string, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"} {
		if got := r.header.Get(h); got != want {
			t.Fatalf("%s: %s = %q, want %q", what, h, got, want)
		}
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, `<html lang="en">`) {
		t.Fatalf("%s: not an html page with a language: %s %s", what, r.header.Get("Content-Type"), r.body)
	}
}

func (r shopperReply) wantContains(t *testing.T, what string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.body, p) {
			t.Fatalf("%s: page lacks %q:\n%s", what, p, r.body)
		}
	}
}

func (r shopperReply) wantLacks(t *testing.T, what string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(r.body, p) {
			t.Fatalf("%s: page shows %q:\n%s", what, p, r.body)
		}
	}
}

// orderSecrets are what no page may show, or what a page reached with a
// bad token may not show.
var orderSecrets = []string{"#1234", "Ana", "1ZSHOPPER", "Tea", "Mug", shopperEmail}

func TestShopper_Tracking_ShipmentEventsNewestFirstItemsNoContactDetails(t *testing.T) {
	t.Parallel()
	f := newShopperFixture(t)
	r := f.e.shopperCall("GET", "/t/"+f.token(t, links.Tracking, "", time.Now().Add(time.Hour)), nil)
	r.wantPage(t, "tracking", http.StatusOK)
	r.wantContains(t, "tracking", "#1234", "Ana", "UPS", "1ZSHOPPER", `href="https://ups.example/1ZSHOPPER"`,
		"Tea", "Mug", "Blue", "Lyon", "Out for delivery", "In transit", "Placed on")
	r.wantLacks(t, "tracking", shopperEmail, "cancelled", "Not shipped yet")
	updates := r.body[strings.Index(r.body, "Updates, newest first"):]
	if out, in := strings.Index(updates, "Out for delivery"), strings.Index(updates, "In transit"); out < 0 || in < 0 || out > in {
		t.Fatalf("carrier events are not newest first:\n%s", updates)
	}
}

func TestShopper_Tracking_CancelledOrderSaysSo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "cancelled.myshopify.com"
	shop := e.installShop(dom)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-24 * time.Hour)
	const oid = 5_300_000_000_000_001
	e.post(webhook{shop: dom, topic: "orders/paid", body: shopperOrder(oid, 77, shopperEmail, t0, false)})
	e.processAll()
	e.post(webhook{shop: dom, topic: "orders/cancelled", body: shopperOrder(oid, 77, shopperEmail, t0, true)})
	e.processAll()
	tok, err := e.app.composer.Signer().Sign(links.Claims{ShopID: int64(shop.ID), OrderID: oid, Purpose: links.Tracking, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	r := e.shopperCall("GET", "/t/"+tok, nil)
	r.wantPage(t, "cancelled tracking", http.StatusOK)
	r.wantContains(t, "cancelled tracking", "#77", "This order was cancelled")
	r.wantLacks(t, "cancelled tracking", "Not shipped yet")
}

func TestShopper_BadLinks_FriendlyPagesNoDataNothingStored(t *testing.T) {
	t.Parallel()
	f := newShopperFixture(t)
	e := f.e
	ctx := context.Background()
	m := &models.Message{ShopID: f.shop.ID, OrderPlatformID: f.orderID, Flow: "review_request", Step: "ask",
		Channel: "email", Recipient: shopperEmail, Marketing: true}
	if _, err := e.app.store.QueueMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	msg := "message:" + strconv.FormatUint(m.ID, 10)
	future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Minute)
	oneClick := url.Values{"List-Unsubscribe": {"One-Click"}}
	cases := []struct {
		name, method, path string
		form               url.Values
		want               int
		says               string
	}{
		{"tampered tracking", "GET", "/t/" + tamper(f.token(t, links.Tracking, "", future)), nil, http.StatusNotFound, "cut short"},
		{"tampered rating", "GET", "/f/" + tamper(f.token(t, links.Feedback, "", future)) + "?rating=5", nil, http.StatusNotFound, "cut short"},
		{"tampered review post", "POST", "/f/" + tamper(f.token(t, links.Feedback, "", future)), url.Values{"review_11": {"5"}}, http.StatusNotFound, "cut short"},
		{"tampered unsubscribe", "POST", "/u/" + tamper(f.token(t, links.Unsubscribe, msg, future)), oneClick, http.StatusNotFound, "cut short"},
		{"tampered preferences", "POST", "/p/" + tamper(f.token(t, links.Preferences, msg, future)), url.Values{"action": {"unsubscribe"}}, http.StatusNotFound, "cut short"},
		{"tracking token used for feedback", "GET", "/f/" + f.token(t, links.Tracking, "", future) + "?rating=5", nil, http.StatusNotFound, "cut short"},
		{"preferences token used to unsubscribe", "POST", "/u/" + f.token(t, links.Preferences, msg, future), oneClick, http.StatusNotFound, "cut short"},
		{"garbage", "GET", "/t/not-a-token", nil, http.StatusNotFound, "cut short"},
		{"expired tracking", "GET", "/t/" + f.token(t, links.Tracking, "", past), nil, http.StatusNotFound, "expired"},
		{"expired rating", "GET", "/f/" + f.token(t, links.Feedback, "", past) + "?rating=5", nil, http.StatusNotFound, "expired"},
		{"expired unsubscribe", "POST", "/u/" + f.token(t, links.Unsubscribe, msg, past), oneClick, http.StatusNotFound, "expired"},
		{"unknown message", "GET", "/u/" + f.token(t, links.Unsubscribe, "message:999999999", future), nil, http.StatusNotFound, "no longer exists"},
		{"unknown message post", "POST", "/u/" + f.token(t, links.Unsubscribe, "message:999999999", future), oneClick, http.StatusNotFound, "no longer exists"},
		{"unknown preferences message", "GET", "/p/" + f.token(t, links.Preferences, "message:999999999", future), nil, http.StatusNotFound, "no longer exists"},
	}
	for _, tc := range cases {
		r := e.shopperCall(tc.method, tc.path, tc.form)
		r.wantPage(t, tc.name, tc.want)
		r.wantContains(t, tc.name, tc.says)
		r.wantLacks(t, tc.name, orderSecrets...)
		r.wantLacks(t, tc.name, "a***@example.com")
	}
	if n := e.count("feedback", ""); n != 0 {
		t.Fatalf("%d feedback rows after bad links, want 0", n)
	}
	if n := e.count("suppressions", ""); n != 0 {
		t.Fatalf("%d suppressions after bad links, want 0", n)
	}
}

// feedbackRow reads the order's feedback of a kind (and product).
func (f shopperFixture) feedbackRows(t *testing.T, kind string) []models.Feedback {
	t.Helper()
	all, err := f.e.app.store.OrderFeedback(context.Background(), f.shop.ID, f.orderID)
	if err != nil {
		t.Fatal(err)
	}
	var out []models.Feedback
	for _, fb := range all {
		if fb.Kind == kind {
			out = append(out, fb)
		}
	}
	return out
}

func TestShopper_FeedbackRatingClick_StoredOnGetLastClickWins(t *testing.T) {
	t.Parallel()
	f := newShopperFixture(t)
	e := f.e
	page := "/f/" + f.token(t, links.Feedback, "", time.Now().Add(time.Hour))

	for _, q := range []string{"rating=0", "rating=6", "rating=abc", "rating=-1", "nps=11", "nps=-1", "rating=4&nps=12"} {
		r := e.shopperCall("GET", page+"?"+q, nil)
		r.wantPage(t, q, http.StatusBadRequest)
		r.wantLacks(t, q, orderSecrets...)
	}
	if n := e.count("feedback", ""); n != 0 {
		t.Fatalf("%d feedback rows after out-of-range clicks, want 0", n)
	}

	r := e.shopperCall("GET", page+"?rating=4", nil)
	r.wantPage(t, "rating 4", http.StatusOK)
	r.wantContains(t, "rating 4", "Thank you, Ana", "You rated the delivery 4 out of 5", `name="rating" value="4"`, `id="review"`,
		`name="review_11"`, `name="review_22"`, `name="review_22_text"`, "Tea", "Mug")
	r.wantLacks(t, "rating 4", shopperEmail)
	e.shopperCall("GET", page+"?rating=2", nil).wantPage(t, "rating 2", http.StatusOK)
	rows := f.feedbackRows(t, models.FeedbackDelivery)
	if len(rows) != 1 || rows[0].Rating != 2 || rows[0].CustomerPlatformID != f.orderID+7 {
		t.Fatalf("delivery feedback = %+v, want one row rated 2 for customer %d", rows, f.orderID+7)
	}

	e.shopperCall("GET", page+"?nps=9", nil).wantPage(t, "nps 9", http.StatusOK)
	if rows := f.feedbackRows(t, models.FeedbackNPS); len(rows) != 1 || rows[0].Rating != 9 {
		t.Fatalf("nps feedback = %+v, want one row scored 9", rows)
	}

	// The comment goes with the score carried in the form; clicking again
	// later changes the score and keeps the comment.
	e.shopperCall("POST", page, url.Values{"rating": {"2"}, "comment": {"Box was crushed"}}).wantPage(t, "comment", http.StatusOK)
	e.shopperCall("GET", page+"?rating=3", nil).wantContains(t, "re-click", "Box was crushed")
	rows = f.feedbackRows(t, models.FeedbackDelivery)
	if len(rows) != 1 || rows[0].Rating != 3 || rows[0].Comment != "Box was crushed" {
		t.Fatalf("delivery feedback = %+v, want rating 3 with the comment", rows)
	}
}

func TestShopper_FeedbackReviews_PerProductValidatedReplaced(t *testing.T) {
	t.Parallel()
	f := newShopperFixture(t)
	e := f.e
	page := "/f/" + f.token(t, links.Feedback, "", time.Now().Add(time.Hour))

	long := strings.Repeat("é", 5001)
	bad := []struct {
		name string
		form url.Values
	}{
		{"foreign product", url.Values{"review_11": {"5"}, "review_999": {"4"}}},
		{"foreign product text", url.Values{"review_11": {"5"}, "review_999_text": {"hi"}}},
		{"not a product", url.Values{"review_tea": {"5"}}},
		{"six stars", url.Values{"review_11": {"6"}}},
		{"text without stars", url.Values{"review_22_text": {"nice"}}},
		{"review too long", url.Values{"review_11": {"5"}, "review_11_text": {long}}},
		{"comment too long", url.Values{"rating": {"5"}, "comment": {long}}},
		{"comment without a score", url.Values{"comment": {"hello"}}},
		{"rating out of range", url.Values{"rating": {"9"}, "comment": {"hello"}}},
	}
	for _, tc := range bad {
		r := e.shopperCall("POST", page, tc.form)
		r.wantPage(t, tc.name, http.StatusBadRequest)
	}
	if n := e.count("feedback", ""); n != 0 {
		t.Fatalf("%d feedback rows after rejected forms, want 0", n)
	}

	r := e.shopperCall("POST", page, url.Values{"review_11": {"5"}, "review_11_text": {"Lovely tea"}, "review_22": {"3"}, "review_22_text": {""}})
	r.wantPage(t, "reviews", http.StatusOK)
	r.wantContains(t, "reviews", "Thank you", "Lovely tea", `value="5" checked`)
	rows := f.feedbackRows(t, models.FeedbackReview)
	got := map[int64]models.Feedback{}
	for _, fb := range rows {
		got[fb.ProductID] = fb
	}
	if len(rows) != 2 || got[11].Rating != 5 || got[11].Comment != "Lovely tea" || got[22].Rating != 3 || got[11].CustomerPlatformID != f.orderID+7 {
		t.Fatalf("reviews = %+v, want Tea 5 \"Lovely tea\" and Mug 3", rows)
	}

	// Answering again replaces; a product left out keeps its review.
	e.shopperCall("POST", page, url.Values{"review_11": {"2"}, "review_11_text": {"Went stale"}}).wantPage(t, "again", http.StatusOK)
	rows = f.feedbackRows(t, models.FeedbackReview)
	got = map[int64]models.Feedback{}
	for _, fb := range rows {
		got[fb.ProductID] = fb
	}
	if len(rows) != 2 || got[11].Rating != 2 || got[11].Comment != "Went stale" || got[22].Rating != 3 {
		t.Fatalf("reviews after a second answer = %+v", rows)
	}
	// The page shows what is saved.
	page2 := e.shopperCall("GET", page, nil)
	page2.wantContains(t, "revisit", "Went stale", `name="review_22" value="3" checked`)
}

func TestShopper_Unsubscribe_GetAsksOneClickPostUnsubscribesPreferencesResubscribe(t *testing.T) {
	t.Parallel()
	f := newShopperFixture(t)
	e := f.e
	ctx := context.Background()
	m := &models.Message{ShopID: f.shop.ID, OrderPlatformID: f.orderID, Flow: "review_request", Step: "ask",
		Channel: "email", Recipient: shopperEmail, Marketing: true}
	if _, err := e.app.store.QueueMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	msg := "message:" + strconv.FormatUint(m.ID, 10)
	future := time.Now().Add(time.Hour)
	unsub := "/u/" + f.token(t, links.Unsubscribe, msg, future)
	prefs := "/p/" + f.token(t, links.Preferences, msg, future)
	suppressed := func() bool {
		t.Helper()
		ok, err := e.app.store.IsSuppressed(ctx, f.shop.ID, "email", shopperEmail, models.SuppressUnsubscribed)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// A mail scanner opening the link unsubscribes nobody.
	for range 2 {
		r := e.shopperCall("GET", unsub, nil)
		r.wantPage(t, "unsubscribe page", http.StatusOK)
		r.wantContains(t, "unsubscribe page", "a***@example.com", `method="post"`, `<button type="submit">Unsubscribe</button>`)
		r.wantLacks(t, "unsubscribe page", shopperEmail)
	}
	if suppressed() {
		t.Fatal("GET /u unsubscribed")
	}

	// RFC 8058 one-click, twice.
	for i := range 2 {
		r := e.shopperCall("POST", unsub, url.Values{"List-Unsubscribe": {"One-Click"}})
		r.wantPage(t, fmt.Sprintf("one-click %d", i), http.StatusOK)
		r.wantContains(t, "one-click", "unsubscribed</h1>", "a***@example.com")
		if !suppressed() {
			t.Fatalf("one-click POST %d did not unsubscribe", i)
		}
	}
	if n := e.count("suppressions", ""); n != 1 {
		t.Fatalf("%d suppressions after two one-clicks, want 1", n)
	}

	r := e.shopperCall("GET", prefs, nil)
	r.wantPage(t, "preferences", http.StatusOK)
	r.wantContains(t, "preferences", "a***@example.com", "are not sent", `name="action" value="resubscribe"`)
	r.wantLacks(t, "preferences", shopperEmail)

	e.shopperCall("POST", prefs, url.Values{"action": {"bogus"}}).wantPage(t, "bad action", http.StatusBadRequest)
	if !suppressed() {
		t.Fatal("a bad action changed the subscription")
	}
	r = e.shopperCall("POST", prefs, url.Values{"action": {"resubscribe"}})
	r.wantPage(t, "resubscribe", http.StatusOK)
	r.wantContains(t, "resubscribe", "subscribed again", "are sent", `name="action" value="unsubscribe"`)
	if suppressed() {
		t.Fatal("resubscribe did not lift the suppression")
	}
	e.shopperCall("POST", prefs, url.Values{"action": {"unsubscribe"}}).wantPage(t, "unsubscribe again", http.StatusOK)
	if !suppressed() {
		t.Fatal("preferences unsubscribe did not suppress")
	}
	// Only this shop's marketing to this address stops.
	if ok, _ := e.app.store.IsSuppressed(ctx, f.shop.ID+1000, "email", shopperEmail, models.SuppressUnsubscribed); ok {
		t.Fatal("the unsubscribe reached another shop")
	}
}

// ---- branded, localized pages ----

// localeOrder is shopperOrder with the shopper's checkout language.
func localeOrder(id, number int64, created time.Time, locale string) []byte {
	var o map[string]any
	dec := json.NewDecoder(bytes.NewReader(shopperOrder(id, number, shopperEmail, created, false)))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		panic(err)
	}
	if locale != "" {
		o["customer_locale"] = locale
	}
	b, _ := json.Marshal(o)
	return b
}

// packageBody is a fulfillment of qty units of one line, with an optional
// estimated delivery.
func packageBody(id, orderID, lineID int64, qty int, tracking string, at time.Time, eta *time.Time) []byte {
	f := map[string]any{"id": id, "order_id": orderID, "status": "success", "tracking_company": "UPS",
		"tracking_number": tracking, "tracking_url": "https://ups.example/" + tracking, "shipment_status": nil,
		"created_at": at.Format(time.RFC3339), "updated_at": at.Format(time.RFC3339),
		"line_items": []any{map[string]any{"id": lineID, "quantity": qty}}}
	if eta != nil {
		f["estimated_delivery_at"] = eta.Format(time.RFC3339)
	}
	b, _ := json.Marshal(f)
	return b
}

// brandedShop is a shop with saved settings and three orders: #2001 split
// in two packages, #2002 late, #2003 a French shopper's. The order ids are
// ten apart so their line ids (see lineID) never meet.
type brandedShop struct {
	e                   *testEnv
	shop                models.Shop
	split, late, french int64
	messageID           uint64
}

func newBrandedShop(t *testing.T, edit func(*jobs.Settings)) brandedShop {
	t.Helper()
	e := newEnv(t)
	const dom = "branded.myshopify.com"
	shop := e.installShop(dom)
	s := jobs.DefaultSettings()
	s.Brand.Color = "#ffb400" // too light for white text: the accent darkens
	if edit != nil {
		edit(&s)
	}
	if err := jobs.SaveSettings(context.Background(), e.app.store, shop.ID, s); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(-72 * time.Hour)
	b := brandedShop{e: e, shop: shop, split: 5_400_000_000_000_001, late: 5_400_000_000_000_011, french: 5_400_000_000_000_021}
	hook := func(topic string, body []byte) {
		e.post(webhook{shop: dom, topic: topic, body: body})
		e.processAll()
	}
	future, past := time.Now().Add(48*time.Hour), time.Now().Add(-30*time.Hour)

	hook("orders/paid", localeOrder(b.split, 2001, t0, "en"))
	hook("fulfillments/create", packageBody(6_100_000_000_000_001, b.split, lineID(b.split), 2, "1ZSPLITA", t0.Add(time.Hour), nil))
	hook("fulfillments/create", packageBody(6_100_000_000_000_002, b.split, lineID(b.split)+1, 1, "1ZSPLITB", t0.Add(2*time.Hour), &future))
	hook("fulfillment_events/create", carrierEventBody(401, 6_100_000_000_000_001, b.split, "in_transit", t0.Add(3*time.Hour)))
	hook("fulfillment_events/create", carrierEventBody(402, 6_100_000_000_000_001, b.split, "out_for_delivery", t0.Add(50*time.Hour)))

	hook("orders/paid", localeOrder(b.late, 2002, t0, ""))
	hook("fulfillments/create", packageBody(6_100_000_000_000_003, b.late, lineID(b.late), 2, "1ZLATE", t0.Add(time.Hour), &past))
	hook("fulfillment_events/create", carrierEventBody(403, 6_100_000_000_000_003, b.late, "in_transit", t0.Add(3*time.Hour)))

	hook("orders/paid", localeOrder(b.french, 2003, t0, "fr-CA"))
	hook("fulfillments/create", packageBody(6_100_000_000_000_005, b.french, lineID(b.french), 2, "1ZFRENCH", t0.Add(time.Hour), &future))

	m := &models.Message{ShopID: shop.ID, OrderPlatformID: b.split, Flow: "review_request", Step: "ask",
		Channel: "email", Recipient: shopperEmail, Marketing: true}
	if _, err := e.app.store.QueueMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	b.messageID = m.ID
	return b
}

// link is a signed path for one of the shop's orders (or its message).
func (b brandedShop) link(t *testing.T, purpose string, orderID int64) string {
	t.Helper()
	cl := links.Claims{ShopID: int64(b.shop.ID), OrderID: orderID, Purpose: purpose, Expires: time.Now().Add(time.Hour)}
	if purpose == links.Preferences || purpose == links.Unsubscribe {
		cl.Subject = "message:" + strconv.FormatUint(b.messageID, 10)
	}
	tok, err := b.e.app.composer.Signer().Sign(cl)
	if err != nil {
		t.Fatal(err)
	}
	return "/" + purpose + "/" + tok
}

func TestShopper_Tracking_SplitLateFrenchBranded(t *testing.T) {
	t.Parallel()
	b := newBrandedShop(t, func(s *jobs.Settings) {
		s.Brand.LogoURL = "https://cdn.example/logo.png"
		s.Locale = "de"
	})
	e := b.e

	r := e.shopperCall("GET", b.link(t, links.Tracking, b.split), nil)
	r.wantPage(t, "split", http.StatusOK)
	r.wantContains(t, "split", "Package 1 of 2", "Package 2 of 2", "1ZSPLITA", "1ZSPLITB", "Estimated delivery",
		"<li>Tea × 2</li></ul>", "<li>Mug (Blue) × 1</li></ul>",
		`aria-current="step">Out for delivery`, `aria-current="step">Shipped`, `<img src="https://cdn.example/logo.png" alt="Acme">`,
		"--accent:"+accessibleAccent("#ffb400"), "--stripe:#ffb400", `<meta name="viewport"`)
	r.wantLacks(t, "split", "running late", "problem with the delivery", shopperEmail)
	if strings.Count(r.body, `aria-current="step"`) != 2 {
		t.Fatalf("want one current step per package:\n%s", r.body)
	}

	// No customer_locale: the shop's default (de).
	r = e.shopperCall("GET", b.link(t, links.Tracking, b.late), nil)
	r.wantContains(t, "late", `<html lang="de">`, "Ihre Bestellung verspätet sich", "Ihr Paket")

	r = e.shopperCall("GET", b.link(t, links.Tracking, b.french), nil)
	r.wantContains(t, "french", `<html lang="fr">`, "Ana, voici où en est la commande #2003", "Livraison estimée", "Votre colis")
	months := []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
	if !strings.Contains(r.body, months[time.Now().Add(48*time.Hour).In(time.UTC).Month()-1]) &&
		!strings.Contains(r.body, months[time.Now().Month()-1]) {
		t.Fatalf("french page has no french month:\n%s", r.body)
	}
	r.wantLacks(t, "french", "Estimated delivery", "Here is where")

	// Feedback, preferences and unsubscribe pages speak the message's or
	// shop's language too (the message has no locale: German).
	r = e.shopperCall("GET", b.link(t, links.Preferences, 0), nil)
	r.wantContains(t, "prefs de", `<html lang="de">`, "Ihre Nachrichteneinstellungen", "<strong>werden gesendet</strong>", "a***@example.com")
	r = e.shopperCall("GET", b.link(t, links.Feedback, b.french), nil)
	r.wantContains(t, "feedback fr", `<html lang="fr">`, "Comment s’est passée la livraison ?", `name="rating" value="4"`, "4 étoiles")
}

func TestShopper_Tracking_ProblemStatusShowsNotice(t *testing.T) {
	t.Parallel()
	f := newShopperFixture(t)
	const fid = 5_200_000_000_000_001
	f.e.post(webhook{shop: f.domain, topic: "fulfillment_events/create",
		body: carrierEventBody(303, fid, f.orderID, "attempted_delivery", time.Now().Add(-time.Hour))})
	f.e.processAll()
	r := f.e.shopperCall("GET", "/t/"+f.token(t, links.Tracking, "", time.Now().Add(time.Hour)), nil)
	r.wantPage(t, "attempted", http.StatusOK)
	r.wantContains(t, "attempted", "a problem with the delivery", "Delivery attempted", `aria-current="step">Out for delivery`)
}

func TestShopper_Catalog_EveryKeyEveryLanguageAndEveryUsedKeyExists(t *testing.T) {
	t.Parallel()
	verbs := regexp.MustCompile(`%(\[\d+\])?[sdv]`)
	en := shopperCatalogs["en"]
	for _, loc := range shopperLocales {
		cat := shopperCatalogs[loc]
		for k, v := range en {
			got, ok := cat[k]
			if !ok {
				t.Errorf("%s lacks %q", loc, k)
				continue
			}
			if a, b := verbs.FindAllString(v, -1), verbs.FindAllString(got, -1); strings.Join(a, "") != strings.Join(b, "") {
				t.Errorf("%s %q has placeholders %v, English has %v", loc, k, b, a)
			}
		}
		for k := range cat {
			if _, ok := en[k]; !ok {
				t.Errorf("%s has %q, which English lacks", loc, k)
			}
		}
	}

	used := map[string]string{} // key → where
	tmplKey := regexp.MustCompile(`\.(?:T|H) "([^"]+)"`)
	pages, err := fs.Glob(shopperFS, "templates/shopper/*.html")
	if err != nil || len(pages) < 6 {
		t.Fatalf("templates: %v %v", pages, err)
	}
	for _, p := range pages {
		b, _ := fs.ReadFile(shopperFS, p)
		for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = p
		}
	}
	src, err := os.ReadFile("shopper.go")
	if err != nil {
		t.Fatal(err)
	}
	goKey := regexp.MustCompile(`"((?:title|problem|track|step|delay|status|fb|stars|prefs|channel|unsub)\.[a-z_.]+)"`)
	for _, m := range goKey.FindAllStringSubmatch(string(src), -1) {
		if !strings.HasSuffix(m[1], ".html") {
			used[m[1]] = "shopper.go"
		}
	}
	for _, m := range regexp.MustCompile(`shopperProblemOf\(c, [^,]+, "([a-z]+)"\)`).FindAllStringSubmatch(string(src), -1) {
		used["problem."+m[1]+".heading"], used["problem."+m[1]+".message"] = "shopper.go", "shopper.go"
	}
	for _, k := range trackingSteps {
		used[k] = "trackingSteps"
	}
	for _, s := range []string{models.ShipmentConfirmed, models.ShipmentInTransit, models.ShipmentOutForDelivery,
		models.ShipmentAttemptedDeliver, models.ShipmentDelivered, models.ShipmentFailure, models.ShipmentReadyForPickup} {
		used["status."+s] = "statuses"
	}
	for i := 0; i < 7; i++ {
		used["weekday."+strconv.Itoa(i)] = "dates"
	}
	for i := 1; i <= 12; i++ {
		used["month."+strconv.Itoa(i)] = "dates"
	}
	if len(used) < 80 {
		t.Fatalf("found only %d used keys: the scan is broken", len(used))
	}
	for k, where := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("%s uses %q, which the catalog lacks", where, k)
		}
	}
}

func TestShopper_Language_OrderThenShopThenEnglish(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"fr-CA", "de"}, "fr"}, {[]string{"es_MX"}, "es"}, {[]string{"ja", "de"}, "de"},
		{[]string{"", "ES"}, "es"}, {[]string{"ja", ""}, "en"}, {nil, "en"},
		{acceptLanguage("de-CH, de;q=0.9, en;q=0.8"), "de"}, {acceptLanguage("*"), "en"},
	} {
		if got := shopperLanguage(tc.in...); got != tc.want {
			t.Errorf("shopperLanguage(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	at := time.Date(2026, 3, 2, 13, 5, 0, 0, time.UTC)
	for code, want := range map[string]string{"en": "Monday 2 March 2026", "fr": "lundi 2 mars 2026",
		"es": "lunes, 2 de marzo de 2026", "de": "Montag, 2. März 2026"} {
		if got := langOf(code).day(paris, at); got != want {
			t.Errorf("%s day = %q, want %q", code, got, want)
		}
	}
	if got := langOf("de").moment(paris, at); got != "2. März 2026, 14:05 CET" {
		t.Errorf("de moment = %q", got)
	}
}

func TestShopper_Brand_AccentMeetsContrastLogoHTTPSOnly(t *testing.T) {
	t.Parallel()
	white, _ := parseHex("#fff")
	black, _ := parseHex("#000000")
	bg, _ := parseHex(shopperPageBG)
	if r := contrastRatio(white, black); r < 20.99 || r > 21.01 {
		t.Fatalf("white on black = %.2f, want 21", r)
	}
	for _, c := range []string{"#ffb400", "#ffffff", "#00ff00", "#1a73e8", "#0b57d0", "#7f7f7f", "#000000", "#ff0000"} {
		acc := accessibleAccent(c)
		rgb, ok := parseHex(acc)
		if !ok {
			t.Fatalf("%s → %q is not a colour", c, acc)
		}
		if contrastRatio(rgb, white) < 4.5 || contrastRatio(rgb, bg) < 4.5 {
			t.Errorf("%s → %s: %.2f on white, %.2f on the page", c, acc, contrastRatio(rgb, white), contrastRatio(rgb, bg))
		}
	}
	if got := accessibleAccent("#0b57d0"); got != "#0b57d0" {
		t.Errorf("a dark enough colour changed: %s", got)
	}
	for _, tc := range []struct{ color, logo, wantStripe, wantLogo string }{
		{"#ffb400", "https://cdn.example/l.png", "#ffb400", "https://cdn.example/l.png"},
		{"red", "http://cdn.example/l.png", defaultShopperAccent, ""},
		{"", "javascript:alert(1)", defaultShopperAccent, ""},
	} {
		s := jobs.DefaultSettings()
		s.Brand.Color, s.Brand.LogoURL = tc.color, tc.logo
		if got := brandOf(s); got.Stripe != tc.wantStripe || got.Logo != tc.wantLogo {
			t.Errorf("brandOf(%q, %q) = %+v", tc.color, tc.logo, got)
		}
	}
}
