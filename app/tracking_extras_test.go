package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/helpdesk/helpdesktest"
	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/models"
)

// extrasFixture is the shopper fixture's shop (EUR) with a second order
// in French, for pages in the shopper's language.
type extrasFixture struct {
	shopperFixture
	frenchID int64
}

func newExtrasFixture(t *testing.T, opts ...envOption) extrasFixture {
	t.Helper()
	e := newEnv(t, opts...)
	const dom = "extras.myshopify.com"
	shop := e.installShop(dom)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour)
	const oid, fr = 5_600_000_000_000_001, 5_600_000_000_000_011
	e.post(webhook{shop: dom, topic: "orders/paid", body: shopperOrder(oid, 1234, shopperEmail, t0, false)})
	e.post(webhook{shop: dom, topic: "orders/paid", body: localeOrder(fr, 1235, t0, "fr-FR")})
	e.processAll()
	return extrasFixture{shopperFixture: shopperFixture{e: e, domain: dom, shop: shop, orderID: oid}, frenchID: fr}
}

// trackingPath is the order's tracking page.
func (f extrasFixture) trackingPath(t *testing.T, orderID int64) string {
	t.Helper()
	tok, err := f.e.app.composer.Signer().Sign(links.Claims{ShopID: int64(f.shop.ID), OrderID: orderID,
		Purpose: links.Tracking, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return "/t/" + tok
}

// report posts the report form without following the redirect.
func (f extrasFixture) report(t *testing.T, path string, form url.Values) shopperReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.e.srv.URL+path+"/problem", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return shopperReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (f extrasFixture) reportRows(t *testing.T) (alerts, holds int64) {
	t.Helper()
	return f.e.count("alerts", "shop_id = ? AND kind = ?", f.shop.ID, reportAlertKind),
		f.e.count("order_holds", "shop_id = ? AND reason = ? AND cleared_at IS NULL", f.shop.ID, reportHoldReason)
}

func TestTrackingReport_OneAlertOneHold_SameReportTwiceStillOne(t *testing.T) {
	t.Parallel()
	f := newExtrasFixture(t)
	path := f.trackingPath(t, f.orderID)

	page := f.e.shopperCall("GET", path, nil)
	page.wantPage(t, "tracking", http.StatusOK)
	page.wantContains(t, "form", "<summary>Report a problem with this order</summary>",
		`<form method="post" action="`+path+`/problem">`, `<label for="report-reason">What happened?</label>`,
		`<select id="report-reason" name="reason" required>`, `<option value="damaged">Something arrived damaged</option>`,
		`<label for="report-message">`, `maxlength="1000"`, `aria-describedby="report-hint"`)
	page.wantLacks(t, "before a report", "your report is sent")

	form := url.Values{"reason": {"damaged"}, "message": {"  The box was crushed.  "}}
	for i := range 2 {
		r := f.report(t, path, form)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != path+"?reported=1" {
			t.Fatalf("report %d: %d to %q, want 303 to %s?reported=1", i+1, r.status, r.header.Get("Location"), path)
		}
		if a, h := f.reportRows(t); a != 1 || h != 1 {
			t.Fatalf("after report %d: %d alerts, %d holds; want 1 and 1", i+1, a, h)
		}
	}
	var alert models.Alert
	if err := f.e.app.db.Where("shop_id = ? AND kind = ?", f.shop.ID, reportAlertKind).Take(&alert).Error; err != nil {
		t.Fatal(err)
	}
	if alert.OrderPlatformID != f.orderID || alert.Subject != strconv.FormatInt(f.orderID, 10) ||
		alert.Reason != "damaged" || alert.Detail != "The box was crushed." || alert.HandledAt != nil {
		t.Errorf("alert = %+v", alert)
	}

	// Another reason is another alert for the helpdesk; the hold is one.
	if r := f.report(t, path, url.Values{"reason": {"late"}}); r.status != http.StatusSeeOther {
		t.Fatalf("second reason: %d %s", r.status, r.body)
	}
	if a, h := f.reportRows(t); a != 2 || h != 1 {
		t.Fatalf("after a second reason: %d alerts, %d holds; want 2 and 1", a, h)
	}

	thanks := f.e.shopperCall("GET", path+"?reported=1", nil)
	thanks.wantPage(t, "thanks", http.StatusOK)
	thanks.wantContains(t, "thanks", `<div class="card notice" role="status"><h2>Thank you: your report is sent</h2>`, "Acme has it")
}

// The point of the hold: a shopper who reported a problem is not asked
// for a review until the merchant has dealt with it.
func TestTrackingReport_HoldsTheReviewAsk(t *testing.T) {
	t.Parallel()
	f := newExtrasFixture(t)
	ctx := context.Background()
	// The fixture's shopper gave no marketing consent; without this the
	// ask would be dropped for that before the hold is looked at.
	set := jobs.DefaultSettings()
	set.MarketingWithoutConsent = true
	if err := jobs.SaveSettings(ctx, f.e.app.store, f.shop.ID, set); err != nil {
		t.Fatal(err)
	}
	ask := &models.Message{ShopID: f.shop.ID, OrderPlatformID: f.orderID, Flow: "review_request", Step: "ask",
		Channel: "email", Recipient: shopperEmail, Marketing: true, DueAt: time.Now().UTC().Add(-time.Minute)}
	if _, err := f.e.app.store.QueueMessage(ctx, ask); err != nil {
		t.Fatal(err)
	}
	if r := f.report(t, f.trackingPath(t, f.orderID), url.Values{"reason": {"damaged"}}); r.status != http.StatusSeeOther {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	if err := f.e.app.messages.Send(ctx, ask.ID); err != nil {
		t.Fatal(err)
	}
	m, err := f.e.app.store.Message(ctx, ask.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != models.MessageDeferred || !strings.Contains(m.Reason, "manual hold") {
		t.Fatalf("review ask after a report: %s (%s), want deferred by the hold", m.Status, m.Reason)
	}
}

func TestTrackingReport_BadOrExpiredLink_404NothingWritten(t *testing.T) {
	t.Parallel()
	f := newExtrasFixture(t)
	good := f.trackingPath(t, f.orderID)
	expired := "/t/" + f.token(t, links.Tracking, "", time.Now().Add(-time.Minute))
	feedback := "/t/" + f.token(t, links.Feedback, "", time.Now().Add(time.Hour))
	otherShop, err := f.e.app.composer.Signer().Sign(links.Claims{ShopID: int64(f.shop.ID) + 1000, OrderID: f.orderID,
		Purpose: links.Tracking, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"reason": {"not_received"}}
	for _, tc := range []struct{ name, path, want string }{
		{"tampered", "/t/" + tamper(strings.TrimPrefix(good, "/t/")), "This link doesn&#39;t work"},
		{"expired", expired, "This link has expired"},
		{"feedback token", feedback, "This link doesn&#39;t work"},
		{"unknown shop", "/t/" + otherShop, "We can&#39;t find this"},
	} {
		r := f.report(t, tc.path, form)
		r.wantPage(t, tc.name, http.StatusNotFound)
		r.wantContains(t, tc.name, tc.want)
		r.wantLacks(t, tc.name, orderSecrets...)
	}
	if a, h := f.reportRows(t); a != 0 || h != 0 {
		t.Fatalf("%d alerts, %d holds after bad links; want none", a, h)
	}
}

func TestTrackingReport_BadInput_400InShoppersLanguageNothingWritten(t *testing.T) {
	t.Parallel()
	f := newExtrasFixture(t)
	en, fr := f.trackingPath(t, f.orderID), f.trackingPath(t, f.frenchID)
	for _, tc := range []struct {
		name, path string
		form       url.Values
		want       string
	}{
		{"no reason", en, url.Values{"message": {"hello"}}, "Please choose what happened from the list."},
		{"unknown reason", en, url.Values{"reason": {"stolen"}}, "Please choose what happened from the list."},
		{"message too long", en, url.Values{"reason": {"other"}, "message": {strings.Repeat("é", maxReportText+1)}}, "longer than 1000 characters"},
		{"french reason", fr, url.Values{"reason": {"<script>"}}, "Choisissez ce qui s’est passé dans la liste."},
		{"french too long", fr, url.Values{"reason": {"other"}, "message": {strings.Repeat("x", maxReportText+1)}}, "Votre message dépasse 1000 caractères."},
	} {
		r := f.report(t, tc.path, tc.form)
		if r.status != http.StatusBadRequest {
			t.Fatalf("%s: status %d, want 400: %s", tc.name, r.status, r.body)
		}
		r.wantContains(t, tc.name, tc.want, `role="alert"`)
		r.wantLacks(t, tc.name, "<script>")
	}
	// A message of exactly the maximum is fine.
	if r := f.report(t, en, url.Values{"reason": {"other"}, "message": {strings.Repeat("é", maxReportText)}}); r.status != http.StatusSeeOther {
		t.Fatalf("maximum message: %d %s", r.status, r.body)
	}
	if a, h := f.reportRows(t); a != 1 || h != 1 {
		t.Fatalf("%d alerts, %d holds; want only the valid report's", a, h)
	}
}

func TestTrackingReport_AHandfulPerOrder(t *testing.T) {
	t.Parallel()
	f := newExtrasFixture(t)
	path := f.trackingPath(t, f.orderID)
	for i := range reportsPerOrder {
		if r := f.report(t, path, url.Values{"reason": {reportReasons[i%len(reportReasons)]}}); r.status != http.StatusSeeOther {
			t.Fatalf("report %d: %d", i+1, r.status)
		}
	}
	r := f.report(t, path, url.Values{"reason": {"other"}, "message": {"one more"}})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("report %d: %d, want 429", reportsPerOrder+1, r.status)
	}
	r.wantContains(t, "limited", "We already have your reports")
	// Another order of the shop is not limited by this one.
	if r := f.report(t, f.trackingPath(t, f.frenchID), url.Values{"reason": {"late"}}); r.status != http.StatusSeeOther {
		t.Fatalf("other order: %d", r.status)
	}
}

// catalogCalls counts the catalog queries the fake answered for shop.
func catalogCalls(fake *shopifytest.Server, shop string) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Shop == shop && strings.Contains(r.GraphQL, "DoorstepCatalogProducts") {
			n++
		}
	}
	return n
}

func TestTrackingRecommendations_FromCatalogWithoutOrderedProductsCached(t *testing.T) {
	t.Parallel()
	f := newExtrasFixture(t)
	o, err := f.e.app.store.Order(context.Background(), f.shop.ID, f.orderID)
	if err != nil {
		t.Fatal(err)
	}
	var ordered []shopifytest.FakeProduct
	for _, l := range o.LineItems {
		ordered = append(ordered, shopifytest.FakeProduct{ID: l.ProductID, Title: "Ordered " + strconv.FormatInt(l.ProductID, 10),
			ImageURL: "https://cdn.shopify.com/ordered.png", MinPrice: "1"})
	}
	if len(ordered) != 2 {
		t.Fatalf("order has %d products, want 2", len(ordered))
	}
	// Added oldest first: the page shows the newest published first.
	f.e.fake.AddProducts(f.domain,
		shopifytest.FakeProduct{Title: "Oldest Spoon", ImageURL: "https://cdn.shopify.com/spoon.png", MinPrice: "3"},
		shopifytest.FakeProduct{Title: "Tea Towel", ImageURL: "http://insecure.example/towel.png", MinPrice: "1234.5"},
		shopifytest.FakeProduct{Title: "Hidden Kettle", Unpublished: true, MinPrice: "40"},
		shopifytest.FakeProduct{Title: "Teapot", ImageURL: "https://cdn.shopify.com/pot.png", ImageAlt: "A teapot", MinPrice: "30", MaxPrice: "45"},
		shopifytest.FakeProduct{Title: "Matcha Whisk", ImageURL: "https://cdn.shopify.com/whisk.png", MinPrice: "9.5"},
	)
	f.e.fake.AddProducts(f.domain, ordered...)
	f.e.fake.AddProducts(f.domain, shopifytest.FakeProduct{Title: "Newest Cup", ImageURL: "https://cdn.shopify.com/cup.png", MinPrice: "12"})

	path := f.trackingPath(t, f.orderID)
	r := f.e.shopperCall("GET", path, nil)
	r.wantPage(t, "tracking", http.StatusOK)
	recs := r.body[strings.Index(r.body, `<h2 id="recs">You may also like</h2>`):]
	if i := strings.Index(recs, "</section>"); i > 0 {
		recs = recs[:i]
	}
	want := []string{"Newest Cup", "Matcha Whisk", "Teapot", "Tea Towel"}
	last := -1
	for _, title := range want {
		i := strings.Index(recs, title)
		if i < 0 || i < last {
			t.Fatalf("recommendations are not %v, newest first:\n%s", want, recs)
		}
		last = i
	}
	if n := strings.Count(recs, "<li>"); n != recommendCount {
		t.Fatalf("%d recommendations, want %d:\n%s", n, recommendCount, recs)
	}
	for _, lacks := range []string{"Ordered ", "Hidden Kettle", "Oldest Spoon", "http://insecure.example"} {
		if strings.Contains(recs, lacks) {
			t.Fatalf("recommendations show %q:\n%s", lacks, recs)
		}
	}
	for _, has := range []string{
		`<a href="https://extras.myshopify.com/products/newest-cup?utm_medium=tracking_page&amp;utm_source=doorstep">`,
		`<img src="https://cdn.shopify.com/cup.png?width=400&amp;height=400" alt="" width="200" height="200" loading="lazy">`,
		`<span class="price">€12.00</span>`, `<span class="price">from €30.00</span>`, `<span class="price">€1,234.50</span>`,
		`<span class="noimg" aria-hidden="true"></span>Tea Towel`,
	} {
		if !strings.Contains(recs, has) {
			t.Fatalf("recommendations lack %q:\n%s", has, recs)
		}
	}
	if n := catalogCalls(f.e.fake, f.domain); n != 1 {
		t.Fatalf("%d catalog queries after one page, want 1", n)
	}

	// The second page, the French order's too, comes from the cache.
	r = f.e.shopperCall("GET", path, nil)
	r.wantContains(t, "cached", "Newest Cup")
	r = f.e.shopperCall("GET", f.trackingPath(t, f.frenchID), nil)
	r.wantContains(t, "french", "Vous aimerez peut-être aussi", "12,00\u00a0€", "à partir de 30,00\u00a0€")
	if n := catalogCalls(f.e.fake, f.domain); n != 1 {
		t.Fatalf("%d catalog queries after three pages, want 1 (cached)", n)
	}
}

func TestTrackingRecommendations_ShopifyFails_PageWithoutSectionMissCached(t *testing.T) {
	t.Parallel()
	f := newExtrasFixture(t)
	f.e.fake.AddProducts(f.domain, shopifytest.FakeProduct{Title: "Teapot", MinPrice: "30"})
	f.e.fake.FailNext(f.domain, "products", 1, shopifytest.FailHTTP500)
	path := f.trackingPath(t, f.orderID)
	for i := range 2 {
		r := f.e.shopperCall("GET", path, nil)
		r.wantPage(t, "tracking", http.StatusOK)
		r.wantContains(t, "tracking", "#1234", "Report a problem")
		r.wantLacks(t, "tracking", "You may also like", "Teapot")
		if n := catalogCalls(f.e.fake, f.domain); n != 1 {
			t.Fatalf("page %d: %d catalog queries, want 1 (the failure is remembered)", i+1, n)
		}
	}
}

// slowCatalog holds catalog queries back for delay (or until the request
// is given up) before passing them on; everything else goes straight on.
type slowCatalog struct {
	delay time.Duration
	calls atomic.Int32
}

func (s *slowCatalog) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		if bytes.Contains(b, []byte("DoorstepCatalogProducts")) {
			s.calls.Add(1)
			select {
			case <-time.After(s.delay):
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestTrackingRecommendations_SlowShopify_PageOnTimeWithoutSection(t *testing.T) {
	t.Parallel()
	slow := &slowCatalog{delay: 10 * time.Second}
	f := newExtrasFixture(t, func(_ *config.Config, o *Options) { o.HTTPClient = &http.Client{Transport: slow} })
	f.e.fake.AddProducts(f.domain, shopifytest.FakeProduct{Title: "Teapot", MinPrice: "30"})
	path := f.trackingPath(t, f.orderID)
	start := time.Now()
	r := f.e.shopperCall("GET", path, nil)
	if took := time.Since(start); took > catalogDeadline+2*time.Second {
		t.Fatalf("the page took %s with a slow Shopify; the catalog deadline is %s", took, catalogDeadline)
	}
	r.wantPage(t, "slow", http.StatusOK)
	r.wantContains(t, "slow", "#1234", "Report a problem")
	r.wantLacks(t, "slow", "You may also like")
	r = f.e.shopperCall("GET", path, nil)
	r.wantLacks(t, "slow again", "You may also like")
	if n := slow.calls.Load(); n != 1 {
		t.Fatalf("%d catalog queries, want 1 (the timeout is remembered)", n)
	}
}

func TestTrackingRecommendations_OnlyForInstalledShopifyShopsNotTheDemo(t *testing.T) {
	t.Parallel()
	installed := time.Now()
	shop := models.Shop{ID: 1, Platform: models.PlatformShopify, Domain: "x.myshopify.com", Name: "X", InstalledAt: &installed}
	if a := (&App{}); !a.catalogWanted(shop) {
		t.Fatalf("an installed Shopify shop gets no catalog: %+v", shop)
	}
	if a := (&App{opts: Options{Demo: true}}); a.catalogWanted(shop) {
		t.Error("the demo asks Shopify for its shop's catalog")
	}
	reauth := shop
	reauth.NeedsReauth = true
	if a := (&App{}); a.catalogWanted(reauth) {
		t.Error("a shop that must re-authorize is asked for its catalog")
	}
}

// ---- units ----

func TestCatalogCache_TTLMissesStaleAndOneFetchAtATime(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var calls atomic.Int32
	var fail atomic.Bool
	release := make(chan struct{})
	close(release)
	gate := func() chan struct{} { return release }
	fetch := func(ctx context.Context, _ models.Shop) ([]shopify.CatalogProduct, error) {
		calls.Add(1)
		select {
		case <-gate():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if fail.Load() {
			return nil, errors.New("shopify is down")
		}
		return []shopify.CatalogProduct{{ID: int64(calls.Load()), Title: "P"}}, nil
	}
	cc := newCatalogCache(fetch, clock, time.Second)
	shop := models.Shop{ID: 7}
	ctx := context.Background()

	if got := cc.get(ctx, shop); len(got) != 1 || got[0].ID != 1 {
		t.Fatalf("first get = %+v", got)
	}
	advance(catalogTTL - time.Second)
	if got := cc.get(ctx, shop); got[0].ID != 1 || calls.Load() != 1 {
		t.Fatalf("within the TTL: %+v after %d fetches", got, calls.Load())
	}
	advance(2 * time.Second)
	if got := cc.get(ctx, shop); got[0].ID != 2 {
		t.Fatalf("after the TTL: %+v", got)
	}

	// A failed refresh keeps the last catalog, for a minute.
	advance(catalogTTL)
	fail.Store(true)
	if got := cc.get(ctx, shop); len(got) != 1 || got[0].ID != 2 || calls.Load() != 3 {
		t.Fatalf("failed refresh: %+v after %d fetches", got, calls.Load())
	}
	advance(catalogMissTTL - time.Second)
	cc.get(ctx, shop)
	if calls.Load() != 3 {
		t.Fatalf("the failure was not remembered: %d fetches", calls.Load())
	}
	advance(2 * time.Second)
	cc.get(ctx, shop)
	if calls.Load() != 4 {
		t.Fatalf("the failure was remembered too long: %d fetches", calls.Load())
	}

	// A shop with nothing cached and a failing Shopify: no products.
	if got := cc.get(ctx, models.Shop{ID: 8}); got != nil {
		t.Fatalf("failing fetch, cold cache = %+v", got)
	}

	// Pages arriving during a fetch share it.
	fail.Store(false)
	hold := make(chan struct{})
	gate = func() chan struct{} { return hold }
	before := calls.Load()
	var wg sync.WaitGroup
	results := make([][]shopify.CatalogProduct, 5)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = cc.get(ctx, models.Shop{ID: 9}) }()
	}
	time.Sleep(100 * time.Millisecond)
	close(hold)
	wg.Wait()
	if n := calls.Load() - before; n != 1 {
		t.Fatalf("%d fetches for 5 concurrent pages, want 1", n)
	}
	for i, r := range results {
		if len(r) != 1 {
			t.Fatalf("page %d got %+v", i, r)
		}
	}
}

func TestCatalogCache_PanickingFetchIsAMiss(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	fetch := func(context.Context, models.Shop) ([]shopify.CatalogProduct, error) {
		calls.Add(1)
		panic("boom")
	}
	cc := newCatalogCache(fetch, time.Now, time.Second)
	var logged error
	cc.log = func(_ models.Shop, err error) { logged = err }
	for range 2 {
		if got := cc.get(context.Background(), models.Shop{ID: 1}); got != nil {
			t.Fatalf("got %+v", got)
		}
	}
	if calls.Load() != 1 || logged == nil {
		t.Fatalf("%d fetches, logged %v; want 1 and the panic", calls.Load(), logged)
	}
}

func TestCatalogCache_BoundedShops(t *testing.T) {
	t.Parallel()
	fetch := func(context.Context, models.Shop) ([]shopify.CatalogProduct, error) { return nil, nil }
	cc := newCatalogCache(fetch, time.Now, time.Second)
	for id := range uint64(catalogShops + 50) {
		cc.get(context.Background(), models.Shop{ID: id + 1})
	}
	cc.mu.Lock()
	n := len(cc.entries)
	_, newest := cc.entries[catalogShops+50]
	cc.mu.Unlock()
	if n > catalogShops || !newest {
		t.Fatalf("%d shops cached (bound %d), newest kept %v", n, catalogShops, newest)
	}
}

func TestReportLimiter_HandfulPerWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	l := newReportLimiter(func() time.Time { return now })
	for i := range reportsPerOrder {
		if !l.allow("1:2") {
			t.Fatalf("report %d refused", i+1)
		}
	}
	if l.allow("1:2") {
		t.Fatal("one report too many accepted")
	}
	if !l.allow("1:3") {
		t.Fatal("another order refused")
	}
	now = now.Add(reportWindow)
	if !l.allow("1:2") {
		t.Fatal("refused after the window")
	}
}

func TestShopperMoney_PerLanguage(t *testing.T) {
	t.Parallel()
	d := decimal.RequireFromString
	for _, tc := range []struct {
		lang, amount, cur, want string
	}{
		{"en", "9.5", "EUR", "€9.50"},
		{"en", "1234567.5", "USD", "$1,234,567.50"},
		{"en", "12", "CHF", "CHF\u00a012.00"},
		{"en", "1500", "JPY", "¥1,500"},
		{"fr", "1234.5", "EUR", "1\u202f234,50\u00a0€"},
		{"de", "12", "CHF", "12,00\u00a0CHF"},
		{"es", "1234.5", "EUR", "1.234,50\u00a0€"},
		{"de", "0.5", "", "0,50"},
	} {
		if got := langOf(tc.lang).money(d(tc.amount), tc.cur); got != tc.want {
			t.Errorf("%s money(%s %s) = %q, want %q", tc.lang, tc.amount, tc.cur, got, tc.want)
		}
	}
}

// Every catalog key tracking_extras.go names exists (the shopper catalog
// test scans shopper.go and the templates, not this file).
func TestTrackingExtras_CatalogKeys(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("tracking_extras.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`"((?:report|rec|problem|fmt)\.[a-z_.]*[a-z_])"`).FindAllStringSubmatch(string(src), -1) {
		used[m[1]] = true
	}
	for _, r := range reportReasons {
		used["report.reason."+r] = true
	}
	if len(used) < 12 {
		t.Fatalf("found only %d keys: the scan is broken", len(used))
	}
	for k := range used {
		for _, loc := range shopperLocales {
			if _, ok := shopperCatalogs[loc][k]; !ok {
				t.Errorf("tracking_extras.go uses %q, which the %s catalog lacks", k, loc)
			}
		}
	}
}

// A shopper's report becomes one ticket in the shop's helpdesk, with their
// words, however often the task runs.
func TestTrackingReport_OpensOneHelpdeskTicket(t *testing.T) {
	t.Parallel()
	f := newExtrasFixture(t)
	ctx := context.Background()
	desk := helpdesktest.StartGorgias(t, "agent@acme.test", "gorgias-key", "unused")
	tok := f.e.fake.SessionToken(f.domain, time.Minute)
	var connected map[string]any
	f.e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{
		"kind": "gorgias", "domain": desk.URL(), "email": "agent@acme.test", "api_key": "gorgias-key",
	}).ok(t, "connect gorgias", &connected)

	path := f.trackingPath(t, f.orderID)
	if r := f.report(t, path, url.Values{"reason": {"damaged"}, "message": {"The box was crushed."}}); r.status != http.StatusSeeOther {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	var req models.TicketRequest
	if err := f.e.app.db.Where("shop_id = ?", f.shop.ID).Take(&req).Error; err != nil {
		t.Fatalf("no ticket request after the report: %v", err)
	}
	// The task, as a worker would run it, twice.
	for range 2 {
		task, _ := jobs.NewHelpdeskTicketTask(req)
		if err := f.e.app.tickets.ProcessTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	tickets := desk.Tickets()
	if len(tickets) != 1 || !strings.Contains(tickets[0].Body, "The box was crushed.") || tickets[0].Email != shopperEmail {
		t.Fatalf("helpdesk tickets = %+v", tickets)
	}
	if open, err := f.e.app.store.OpenTicketForOrder(ctx, f.shop.ID, f.orderID); err != nil || !open {
		t.Fatalf("the new ticket does not hold the order's asks: %v %v", open, err)
	}
}
