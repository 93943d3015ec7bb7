package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// docAs loads an admin document for shop with a session token of
// tokenShop, as Shopify admin frames it.
func (e *testEnv) docAs(shop, tokenShop, path string, extra url.Values) adminReply {
	e.t.Helper()
	q := url.Values{"shop": {shop}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ"}, "embedded": {"1"},
		"id_token": {e.fake.SessionToken(tokenShop, time.Minute)}}
	for k, vs := range extra {
		q[k] = vs
	}
	resp, err := browser(e.t).Get(e.srv.URL + path + "?" + q.Encode())
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

func TestAdminFlowsPage_ShowsSavedSettingsAndTemplates_OnlyToItsShop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom, other = "flows-page.myshopify.com", "flows-other.myshopify.com"
	e.installShop(dom)
	e.installShop(other)
	tok := e.fake.SessionToken(dom, time.Minute)

	e.callAdminJSON("PUT", "/api/admin/settings", tok, `{"thank_you":{"delay":"30m"},
		"shipping":{"statuses":["delivered","failure"],"collapse":"2h"},
		"delay":{"merchant_email":"alerts@flows-page.test","stalled_after":"96h"},
		"review":{"after":"72h"},"nps":{"enabled":false},
		"quiet_hours":{"email_start":"22:30","email_end":"07:15"},"frequency_cap":{"max":3}}`).ok(t, "PUT settings", new(any))
	e.callAdminJSON("PUT", "/api/admin/templates/review_request", tok, map[string]any{"locales": map[string]any{
		"fr": map[string]string{"subject": "Votre avis sur {{.Order.Name}} compte"}}}).ok(t, "PUT template", new(any))

	e.docAs(dom, dom, "/admin/flows", nil).page(t, "flows page", http.StatusOK, []string{
		`name="thank_you.delay" value="30m"`,
		`id="f-thank_you.delay" min="0" step="any" value="30"`,
		`<option value="m" selected>minutes</option>`,
		`name="shipping.collapse" value="2h"`,
		`value="delivered" data-multi checked>Delivered`,
		`value="failure" data-multi checked>Delivery failed`,
		`value="confirmed" data-multi>Shipped`,
		`name="delay.merchant_email" value="alerts@flows-page.test"`,
		`name="delay.stalled_after" value="96h"`,
		`id="f-delay.stalled_after" min="0" step="any" value="4"`,
		`name="review.after" value="72h"`,
		`name="nps.enabled">Send the survey`,
		`name="quiet_hours.email_start" value="22:30"`,
		`name="quiet_hours.email_end" value="07:15"`,
		`name="frequency_cap.max" min="0" max="100" step="1" value="3"`,
		`data-api="PUT /api/admin/settings"`,
		// The editor opens on the thank-you in the shop's locale, with the built-in copy.
		`data-flow="thank_you" data-locale="en" data-order="0"`,
		`<span class="badge">Default copy</span>`,
		`placeholder="alerts@flows-page.test"`,
		`sandbox=""`,
	})

	// The picker's GET opens another flow and locale, with the saved set.
	e.docAs(dom, dom, "/admin/flows", url.Values{"flow": {"review_request"}, "locale": {"fr"}}).page(t, "flows page, review in fr",
		http.StatusOK, []string{`data-flow="review_request" data-locale="fr"`, `<option value="review_request" selected>`,
			`value="Votre avis sur {{.Order.Name}} compte"`, `Customised`, `.Links.Unsubscribe`})

	// Another shop sees its own defaults; this shop's token does not open
	// the other shop's page, nor the other's token this one's.
	e.docAs(other, other, "/admin/flows", nil).page(t, "other shop's flows", http.StatusOK,
		[]string{`name="thank_you.delay" value="0s"`}, "alerts@flows-page.test", "22:30")
	if r := e.docAs(dom, other, "/admin/flows", nil); r.status != http.StatusFound ||
		!strings.HasPrefix(r.header.Get("Location"), "/admin/session-token-bounce?") || strings.Contains(string(r.body), "alerts@flows-page.test") {
		t.Fatalf("another shop's token: %d %q", r.status, r.header.Get("Location"))
	}
}

func TestAdminFlowsPage_PreviewOrderIsTheLatestWithAShipmentWhenTheFlowNeedsOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "flows-orders.myshopify.com"
	e.installShop(dom)
	t0 := time.Now().UTC().Truncate(time.Second)
	shipped, unshipped := shopperX, shopperY
	shipped.orderID, unshipped.orderID = 8_100_000_000_001, 8_100_000_000_002
	e.post(webhook{shop: dom, topic: "orders/paid", body: shipped.order(t0.Add(-time.Hour), "paid")})
	e.post(webhook{shop: dom, topic: "fulfillments/create", body: shipped.fulfillment(t0.Add(-30 * time.Minute))})
	e.post(webhook{shop: dom, topic: "orders/paid", body: unshipped.order(t0, "paid")})
	e.processAll()

	e.docAs(dom, dom, "/admin/flows", nil).page(t, "thank-you", http.StatusOK,
		[]string{fmt.Sprintf(`data-order="%d"`, unshipped.orderID)})
	e.docAs(dom, dom, "/admin/flows", url.Values{"flow": {"shipping_notice"}}).page(t, "shipping notice", http.StatusOK,
		[]string{fmt.Sprintf(`data-order="%d"`, shipped.orderID)})
}

func TestAdminSettingsPage_ShowsSavedSettingsLoyaltyAndExports(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.SMTPURL, c.SMTPFrom = sink.URL(), "orders@doorstep.test"
	})
	const dom, other = "settings-page.myshopify.com", "settings-other.myshopify.com"
	e.installShop(dom)
	e.installShop(other)
	tok := e.fake.SessionToken(dom, time.Minute)

	e.callAdminJSON("PUT", "/api/admin/settings", tok, `{"channels":{"email":true,"sms":true},
		"brand":{"logo_url":"https://cdn.example/logo.png","color":"#112233","address":"1 Tea Street, Leeds"},
		"sender":{"from_name":"Acme Teas","from_email":"hello@acme.test","reply_to":"help@acme.test"},
		"review":{"enabled":false,"product_window":"720h"},"marketing_without_consent":true,"timezone":"Europe/London"}`).ok(t, "PUT settings", new(any))
	e.callAdminJSON("PUT", "/api/admin/loyalty", tok, `{"enabled":true,"points_per_unit":2.5,"redeem_options":[300,900],
		"return_window":"336h","referral":{"enabled":true,"reward_points":250}}`).ok(t, "PUT loyalty", new(any))

	// A customer's data request, assembled into an export.
	t0 := time.Now().UTC().Truncate(time.Second)
	e.post(webhook{shop: dom, topic: "orders/paid", body: shopperX.order(t0, "paid")})
	e.post(webhook{shop: dom, topic: "customers/data_request", body: shopperX.compliance(dom, "orders_requested", 4242)})
	e.processAll()
	e.runTriggers(models.TriggerCustomerDataReq)
	rows, err := e.app.store.ListDataExports(context.Background(), e.shopID(dom), 0, 10)
	if err != nil || len(rows) != 1 {
		t.Fatalf("exports = %v, %v", rows, err)
	}

	e.docAs(dom, dom, "/admin/settings", nil).page(t, "settings page", http.StatusOK, []string{
		"SMTP, 127.0.0.1:", "from orders@doorstep.test", // the deployment's channels, without credentials
		`name="channels.email" checked`, `name="channels.sms" checked`,
		`name="brand.logo_url" value="https://cdn.example/logo.png"`,
		`name="brand.color" value="#112233"`,
		`name="brand.address" value="1 Tea Street, Leeds"`,
		`name="sender.from_name" value="Acme Teas"`,
		`name="sender.from_email" value="hello@acme.test"`,
		`name="sender.reply_to" value="help@acme.test"`,
		`name="timezone" value="Europe/London"`,
		`name="review.enabled">Ask for reviews`,
		`name="review.product_window" value="720h"`,
		`name="marketing_without_consent" checked`,
		`name="enabled" checked>Shoppers earn points`,
		`name="points_per_unit" min="0" max="10000" step="any" value="2.5"`,
		`name="return_window" value="336h"`,
		`name="redeem_options" value="300, 900"`,
		`name="referral.enabled" checked`,
		`name="referral.reward_points" min="0" step="1" value="250"`,
		fmt.Sprintf(`data-download="/api/admin/privacy/exports/%d"`, rows[0].ID),
		"4242", "Data request", "shop/redact",
	}, "doorstep:secret")

	// Another shop: its own defaults, none of this shop's values or exports.
	e.docAs(other, other, "/admin/settings", nil).page(t, "other shop's settings", http.StatusOK,
		[]string{"No data requests yet."}, "hello@acme.test", "1 Tea Street", "4242", `data-download="/api`)
}

func (e *testEnv) shopID(domain string) uint64 {
	e.t.Helper()
	s, err := e.app.store.ShopByDomain(context.Background(), models.PlatformShopify, domain)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.ID
}

type testSendReply struct {
	Channel    string `json:"channel"`
	To         string `json:"to"`
	Subject    string `json:"subject"`
	ProviderID string `json:"provider_id"`
}

func TestTemplateTest_SendsOneEmailToTheMerchantThroughSMTP(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.SMTPURL, c.SMTPFrom = sink.URL(), "orders@doorstep.test"
	})
	const dom = "test-send.myshopify.com"
	e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)
	e.callAdminJSON("PUT", "/api/admin/settings", tok, `{"delay":{"merchant_email":"owner@test-send.test"},
		"sender":{"from_name":"Acme Teas"},"brand":{"color":"#112233"}}`).ok(t, "PUT settings", new(any))

	var got testSendReply
	e.callAdminJSON("POST", "/api/admin/templates/review_request/test", tok, map[string]any{"locale": "en", "channel": "email",
		"template": msgtmpl.Set{Subject: "Unsaved: how was {{.Order.Name}}, {{.Customer.FirstName}}?"}}).ok(t, "POST test", &got)
	if got.Channel != "email" || got.To != "owner@test-send.test" || got.Subject != "[Test] Unsaved: how was #1042, Emma?" || got.ProviderID == "" {
		t.Fatalf("reply = %+v", got)
	}
	msgs := sink.WaitFor(1, 10*time.Second)
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "owner@test-send.test" || msgs[0].Subject != got.Subject {
		t.Fatalf("sent = %+v", msgs)
	}
	if !strings.Contains(msgs[0].HTML, "#112233") || !strings.Contains(msgs[0].Header.Get("From"), "Acme Teas") {
		t.Errorf("the test lacks the shop's brand or sender: from %q\n%s", msgs[0].Header.Get("From"), msgs[0].HTML)
	}
	// Not a shopper message, and audited.
	if n := e.count("messages", ""); n != 0 {
		t.Errorf("%d message rows, want 0", n)
	}
	if n := e.count("audit_logs", "action = ? AND subject = ?", auditTemplateTest, "template:review_request"); n != 1 {
		t.Errorf("%d audit rows, want 1", n)
	}

	// Without a merchant email, the shop's email; "to" wins over both.
	e.callAdminJSON("PUT", "/api/admin/settings", tok, `{"delay":{"merchant_email":""}}`).ok(t, "clear merchant email", new(any))
	if err := e.app.db.Model(&models.Shop{}).Where("domain = ?", dom).Update("email", "shop@test-send.test").Error; err != nil {
		t.Fatal(err)
	}
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", tok, `{}`).ok(t, "POST test, shop email", &got)
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", tok, `{"to":"me@elsewhere.test","locale":"fr"}`).ok(t, "POST test, to", new(any))
	msgs = sink.WaitFor(3, 10*time.Second)
	if len(msgs) != 3 || msgs[1].To[0] != "shop@test-send.test" || msgs[2].To[0] != "me@elsewhere.test" {
		t.Fatalf("recipients = %+v", msgs)
	}
	if msgs[1].Subject == msgs[2].Subject {
		t.Errorf("the fr test has the en subject %q", msgs[2].Subject)
	}
}

func TestTemplateTest_BadInput_422AndNothingSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // no SMTP, no Twilio: the channels are the outbox
	const dom = "test-bad.myshopify.com"
	e.installShop(dom) // no email
	tok := e.fake.SessionToken(dom, time.Minute)

	bad := []struct {
		name, flow, body string
		status           int
		code, names      string
	}{
		{"no recipient at all", "thank_you", `{}`, 422, "invalid_recipient", "to"},
		{"bad channel", "thank_you", `{"channel":"fax","to":"a@b.test"}`, 422, "invalid_channel", "channel"},
		{"bad locale", "thank_you", `{"locale":"english","to":"a@b.test"}`, 422, "invalid_locale", "locale"},
		{"bad template", "thank_you", `{"to":"a@b.test","template":{"subject":"{{.Nope"}}`, 422, "invalid_template", "subject"},
		{"marketing without unsubscribe", "nps_request", `{"to":"a@b.test","template":{"html":"<p>hi</p>"}}`, 422, "invalid_template", "html"},
		{"bad email", "thank_you", `{"to":"Bob <b@b.test>"}`, 422, "invalid_recipient", "to"},
		{"sms without a phone", "thank_you", `{"channel":"sms"}`, 422, "invalid_recipient", "phone"},
		{"sms to an email", "thank_you", `{"channel":"sms","to":"a@b.test"}`, 422, "invalid_recipient", "phone"},
		{"unknown flow", "birthday", `{"to":"a@b.test"}`, 404, "not_found", "birthday"},
		{"not json", "thank_you", `{"to":`, 400, "bad_request", "JSON"},
	}
	for _, tc := range bad {
		e.callAdminJSON("POST", "/api/admin/templates/"+tc.flow+"/test", tok, tc.body).
			errorNaming(t, tc.name, tc.status, tc.code, tc.names)
	}
	if n := e.count("outbox_messages", ""); n != 0 {
		t.Fatalf("%d messages sent after bad requests, want 0", n)
	}
	if n := e.count("audit_logs", "action = ?", auditTemplateTest); n != 0 {
		t.Fatalf("%d test sends counted after bad requests, want 0", n)
	}
	// No session token: 401, as everywhere in the admin API.
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", "", `{"to":"a@b.test"}`).isError(t, "no token", http.StatusUnauthorized, "unauthorized")
}

func TestTemplateTest_TenAnHourPerShop_Then429(t *testing.T) {
	t.Parallel()
	var later atomic.Int64 // how far the app's clock runs ahead
	e := newEnv(t, func(_ *config.Config, o *Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
	})
	const dom, other = "test-limit.myshopify.com", "test-limit-other.myshopify.com"
	e.installShop(dom)
	e.installShop(other)
	tok := e.fake.SessionToken(dom, time.Minute)

	for i := range templateTestsPerHour {
		body := `{"to":"owner@test-limit.test"}`
		if i == 0 {
			body = `{"channel":"sms","to":"+14155550123"}`
		}
		e.callAdminJSON("POST", "/api/admin/templates/shipping_notice/test", tok, body).ok(t, fmt.Sprintf("send %d", i+1), new(any))
	}
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", tok, `{"to":"owner@test-limit.test"}`).
		errorNaming(t, "send 11", http.StatusTooManyRequests, "rate_limited", "10")
	if n := e.count("outbox_messages", "shop_id = ?", e.shopID(dom)); n != int64(templateTestsPerHour) {
		t.Fatalf("%d messages in the outbox, want %d", n, templateTestsPerHour)
	}
	if n := e.count("outbox_messages", "channel = ? AND \"to\" = ? AND text LIKE ?", "sms", "+14155550123", "[Test] %"); n != 1 {
		t.Fatalf("%d SMS tests in the outbox, want 1", n)
	}
	// The budget is the shop's own.
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", e.fake.SessionToken(other, time.Minute), `{"to":"x@other.test"}`).
		ok(t, "other shop", new(any))

	// An hour later, the budget is back.
	later.Store(int64(time.Hour + time.Minute))
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", tok, `{"to":"owner@test-limit.test"}`).ok(t, "an hour later", new(any))
}

// The Flows page's script in a real browser: a duration and the shipment
// statuses saved through the admin API, the live preview, the template
// saved, and a test sent. App Bridge (Shopify's CDN) is out of reach, so
// the page gets a shopify.idToken() that hands out a session token.
func TestAdminFlowsBrowser_SavesPreviewsAndSendsATest(t *testing.T) {
	t.Parallel()
	bctx := headlessChromium(t, 90*time.Second)
	e := newEnv(t)
	const dom = "flows-browser.myshopify.com"
	e.installShop(dom)
	tok := e.fake.SessionToken(dom, 5*time.Minute)
	e.callAdminJSON("PUT", "/api/admin/settings", tok, `{"delay":{"merchant_email":"owner@flows-browser.test"}}`).ok(t, "PUT settings", new(any))
	order := shopperX
	order.orderID = 8_200_000_000_001
	e.post(webhook{shop: dom, topic: "orders/paid", body: order.order(time.Now().UTC().Add(-time.Hour), "paid")})
	e.processAll()

	// Requests to Shopify's CDN get a stand-in App Bridge with the token.
	paused := chromedp.Events(bctx, fetch.RequestPaused)
	if _, err := chromedp.Call(bctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "https://cdn.shopify.com/*"}}}); err != nil {
		t.Fatalf("intercept the CDN: %v", err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(bctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/javascript"}},
				Body:            []byte(fmt.Sprintf(`window.shopify = { idToken: () => Promise.resolve(%q) };`, tok))})
		}
	}()

	q := url.Values{"shop": {dom}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ"}, "embedded": {"1"}, "id_token": {tok}}
	if err := chromedp.Do(bctx, chromedp.Navigate(e.srv.URL+"/admin/flows?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	eval := func(js string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](js)); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
	waitJS := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}

	waitJS("the page", `document.getElementById('tpl') !== null && typeof window.doorstepAPI === 'function'`)

	// Thank-you after 2 hours; no notice for "shipped".
	eval(`(() => {
	  const box = document.querySelector('#flow-thank-you [data-dur]'), n = box.querySelector('input[type=number]'), u = box.querySelector('select');
	  n.value = '2'; u.value = 'h'; u.dispatchEvent(new Event('change')); n.dispatchEvent(new Event('input'));
	  document.querySelector('#flow-thank-you button[type=submit]').click();
	})()`)
	waitJS("the thank-you saved", `document.getElementById('toast').textContent === 'Saved'`)
	eval(`document.querySelector('#flow-shipping input[value=confirmed]').click(); document.querySelector('#flow-shipping button[type=submit]').click()`)
	waitJS("the shipping card saved", `document.querySelector('#flow-shipping [data-status]').textContent === '' && !document.querySelector('#flow-shipping button').disabled`)
	var set struct {
		ThankYou struct{ Delay string } `json:"thank_you"`
		Shipping struct{ Statuses []string }
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		e.callAdminJSON("GET", "/api/admin/settings", tok, nil).ok(t, "GET settings", &set)
		if set.ThankYou.Delay == "2h0m0s" && len(set.Shipping.Statuses) == len(msgtmpl.Statuses())-1 && !slices.Contains(set.Shipping.Statuses, "confirmed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("settings after the forms = %+v", set)
		}
	}

	// The preview follows the unsaved subject; a broken template says why.
	eval(`(() => { const s = document.getElementById('tpl-subject'); s.value = 'Edited {{.Order.Name}}'; s.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	waitJS("the preview", `document.getElementById('pv-subject').textContent === 'Edited #1001' && document.getElementById('pv-html').srcdoc.includes('#1001')`)

	// Send a test of the unsaved template, then save it.
	eval(`document.getElementById('test-send').click()`)
	waitJS("the test sent", `document.getElementById('test-status').textContent.startsWith('Sent to owner@flows-browser.test')`)
	if n := e.count("outbox_messages", `"to" = ? AND subject = ?`, "owner@flows-browser.test", "[Test] Edited #1042"); n != 1 {
		t.Fatalf("%d test messages in the outbox, want 1", n)
	}
	eval(`document.getElementById('tpl-save').click()`)
	waitJS("the template saved", `document.getElementById('toast').textContent === 'Template saved'`)
	var tpl templatesBody
	e.callAdminJSON("GET", "/api/admin/templates/thank_you", tok, nil).ok(t, "GET templates", &tpl)
	if c := tpl.Locales["en"].Custom; c == nil || c.Subject != "Edited {{.Order.Name}}" || c.HTML != "" || c.Text != "" || c.SMS != "" {
		t.Fatalf("saved en template = %+v", c)
	}

	eval(`(() => { const s = document.getElementById('tpl-html'); s.value = '{{.Nope'; s.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	waitJS("the template error", `document.getElementById('pv-note').textContent.startsWith('html:')`)
}
