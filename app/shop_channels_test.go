package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

type channelsReply struct {
	Email channelView `json:"email"`
	SMS   channelView `json:"sms"`
}

// quietHoursOff lets a test send email at any hour.
func quietHoursOff(t *testing.T, e *testEnv, shop models.Shop) {
	t.Helper()
	set := jobs.DefaultSettings()
	set.Quiet.EmailEnabled = false
	if err := jobs.SaveSettings(context.Background(), e.app.store, shop.ID, set); err != nil {
		t.Fatal(err)
	}
}

// The whole story of a merchant's own SMTP server: a wrong password is
// refused with the server's reason and nothing saved; the right one is
// verified (AUTH, no mail) and saved sealed; the shop's messages then go
// to its server while another shop's still go to the deployment's; test
// sends follow; DELETE goes back to the deployment's.
func TestShopChannels_OwnSMTP_VerifiedSavedSealedAndUsedForThatShopOnly(t *testing.T) {
	t.Parallel()
	deployment := notifytest.StartSMTP(t)
	const relayUser, relayPass = "acme-mailer", "s3cret-relay-pass"
	own := notifytest.StartSMTP(t, notifytest.WithCredentials(relayUser, relayPass))
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.SMTPURL, c.SMTPFrom = deployment.URL(), "orders@doorstep.test"
	})
	const domA, domB = "own-relay.myshopify.com", "default-relay.myshopify.com"
	shopA, shopB := e.installShop(domA), e.installShop(domB)
	quietHoursOff(t, e, shopA)
	quietHoursOff(t, e, shopB)
	tok := e.fake.SessionToken(domA, time.Minute)

	var got channelsReply
	e.callAdminJSON("GET", "/api/admin/channels", tok, nil).ok(t, "GET before", &got)
	if got.Email.Source != sourceDeployment || got.Email.Host != deployment.Addr() || got.SMS.Source != sourceOutbox {
		t.Fatalf("before: %+v", got)
	}

	// Bad input and a refused login: 422, nothing saved, nothing sent.
	wrong := strings.Replace(own.URL(), relayPass, "not-the-password", 1)
	for _, tc := range []struct {
		name, body, code string
		names            []string
	}{
		{"no url", `{"from":"orders@acme.test"}`, "invalid_channel", []string{"smtp_url"}},
		{"bad scheme", `{"smtp_url":"http://x:y@mail.acme.test","from":"orders@acme.test"}`, "invalid_channel", []string{"smtp_url", "scheme"}},
		{"bad from", fmt.Sprintf(`{"smtp_url":%q,"from":"not an address"}`, own.URL()), "invalid_channel", []string{"from"}},
		{"wrong password", fmt.Sprintf(`{"smtp_url":%q,"from":"orders@acme.test"}`, wrong), "channel_unverified", []string{"SMTP server", "535"}},
	} {
		r := e.callAdminJSON("PUT", "/api/admin/channels/email", tok, tc.body)
		r.errorNaming(t, tc.name, http.StatusUnprocessableEntity, tc.code, tc.names...)
		if strings.Contains(string(r.body), "not-the-password") {
			t.Errorf("%s: the error echoes the password: %s", tc.name, r.body)
		}
	}
	if n := e.count("shop_channels", ""); n != 0 {
		t.Fatalf("%d shop_channels rows after refusals, want 0", n)
	}
	if own.AuthFailures() == 0 {
		t.Fatal("the wrong password never reached the server's AUTH")
	}

	// The right password: verified without sending anything, then saved.
	var saved channelView
	e.callAdminJSON("PUT", "/api/admin/channels/email", tok, map[string]string{"smtp_url": own.URL(), "from": "Acme Teas <orders@acme.test>"}).
		ok(t, "PUT own relay", &saved)
	if saved.Source != sourceShop || saved.Host != own.Addr() || saved.Username != relayUser || saved.VerifiedAt == nil ||
		saved.From != "Acme Teas <orders@acme.test>" {
		t.Fatalf("saved: %+v", saved)
	}
	if own.Connections() == 0 || own.Count() != 0 {
		t.Fatalf("verification: %d connections, %d messages; want some and none", own.Connections(), own.Count())
	}

	// The secrets are nowhere in the clear: the API, the page, the table,
	// the audit log.
	r := e.callAdminJSON("GET", "/api/admin/channels", tok, nil)
	r.ok(t, "GET after", &got)
	if got.Email.Source != sourceShop || got.Email.Host != own.Addr() || got.SMS.Source != sourceOutbox {
		t.Fatalf("after: %+v", got)
	}
	page := e.docAs(domA, domA, "/admin/settings", nil)
	if page.status != http.StatusOK || !strings.Contains(string(page.body), "Your SMTP server") {
		t.Fatalf("settings page: %d\n%s", page.status, page.body)
	}
	var rows []models.ShopChannel
	if err := e.app.db.Where("shop_id = ?", shopA.ID).Find(&rows).Error; err != nil || len(rows) != 1 {
		t.Fatalf("rows: %v %v", rows, err)
	}
	var audits []models.AuditLog
	if err := e.app.db.Where("action = ?", auditChannelSave).Find(&audits).Error; err != nil || len(audits) != 1 {
		t.Fatalf("audit: %v %v", audits, err)
	}
	for what, b := range map[string]string{"GET": string(r.body), "page": string(page.body), "row": string(rows[0].ConfigEnc),
		"audit": audits[0].Detail} {
		if strings.Contains(b, relayPass) {
			t.Errorf("%s shows the relay password", what)
		}
	}

	// A third shop's own relay cannot be opened (its seal is damaged): its
	// mail waits and retries, and never leaves through the deployment's.
	const domC = "broken-relay.myshopify.com"
	shopC := e.installShop(domC)
	quietHoursOff(t, e, shopC)
	if _, err := e.app.store.SaveShopChannel(context.Background(), shopC.ID, "email", models.ShopChannelConfig{SMTPURL: own.URL(), From: "c@acme.test"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.app.db.Model(&models.ShopChannel{}).Where("shop_id = ?", shopC.ID).Update("config_enc", []byte("not a sealed config at all")).Error; err != nil {
		t.Fatal(err)
	}

	// One paid order per shop: A's thank-you goes to A's server, B's to the
	// deployment's.
	created := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	for _, o := range []struct {
		dom   string
		id    int64
		email string
	}{{domA, 7_400_000_000_000_001, "ana@example.com"}, {domB, 7_400_000_000_000_002, "bo@example.com"}, {domC, 7_400_000_000_000_003, "cy@example.com"}} {
		if st := e.post(webhook{shop: o.dom, topic: "orders/paid", body: shopOrder(o.id, 1401, o.email, created, "paid")}); st != 200 {
			t.Fatalf("webhook %s: %d", o.dom, st)
		}
	}
	runWorker(t, e.app)
	waitFor(t, "both thank-yous", 30*time.Second, func() bool { return own.Count() >= 1 && deployment.Count() >= 1 })
	time.Sleep(300 * time.Millisecond) // a stray would arrive by now
	if msgs := own.Messages(); len(msgs) != 1 || msgs[0].To[0] != "ana@example.com" || !strings.Contains(msgs[0].Header.Get("From"), "orders@acme.test") {
		t.Fatalf("own relay got %+v", msgs)
	}
	if msgs := deployment.Messages(); len(msgs) != 1 || msgs[0].To[0] != "bo@example.com" {
		t.Fatalf("deployment relay got %+v", msgs)
	}
	waitFor(t, "the broken shop's message to wait for a retry", 10*time.Second, func() bool {
		return e.count("messages", "shop_id = ? AND status = ? AND reason LIKE ?", shopC.ID, models.MessageQueued, "retry: shop's own email channel%") == 1
	})

	// "Send a test to me" goes where the shop's mail goes, before and after
	// going back to the deployment's.
	test := `{"to":"owner@acme.test"}`
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", tok, test).ok(t, "test via own relay", new(any))
	if own.WaitFor(2, 10*time.Second); own.Count() != 2 || deployment.Count() != 1 {
		t.Fatalf("test send: own %d, deployment %d", own.Count(), deployment.Count())
	}
	var back channelView
	e.callAdminJSON("DELETE", "/api/admin/channels/email", tok, nil).ok(t, "DELETE", &back)
	if back.Source != sourceDeployment || e.count("shop_channels", "shop_id = ?", shopA.ID) != 0 ||
		e.count("audit_logs", "action = ? AND subject = ?", auditChannelRemove, "channel:email") != 1 {
		t.Fatalf("after DELETE: %+v", back)
	}
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", tok, test).ok(t, "test via deployment", new(any))
	if deployment.WaitFor(2, 10*time.Second); own.Count() != 2 || deployment.Count() != 2 {
		t.Fatalf("test send after DELETE: own %d, deployment %d", own.Count(), deployment.Count())
	}
	// Deleting again is not an error, and audits nothing.
	e.callAdminJSON("DELETE", "/api/admin/channels/email", tok, nil).ok(t, "DELETE again", &back)
	if n := e.count("audit_logs", "action = ?", auditChannelRemove); n != 1 {
		t.Errorf("%d remove audits, want 1", n)
	}
	e.callAdminJSON("DELETE", "/api/admin/channels/fax", tok, nil).isError(t, "DELETE fax", http.StatusNotFound, "not_found")
}

// twilioWithAccounts is the notifytest Twilio fake plus the account
// endpoint the verification reads (the fake only sends messages).
func twilioWithAccounts(t *testing.T, sid, token string) (*notifytest.Twilio, string) {
	t.Helper()
	fake := notifytest.StartTwilio(t, sid, token)
	target, _ := url.Parse(fake.URL())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2010-04-01/Accounts/{file}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		user, pass, _ := r.BasicAuth()
		if user != sid || pass != token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`))
			return
		}
		if r.PathValue("file") != sid+".json" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":20404,"message":"The requested resource was not found","status":404}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"sid": sid, "friendly_name": "Acme", "status": "active", "type": "Full"})
	})
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return fake, srv.URL
}

func TestShopChannels_OwnTwilio_VerifiedAgainstTheAccountEndpoint(t *testing.T) {
	t.Parallel()
	const sid, token = "AC0123456789abcdef0123456789abcdef", "f00dfeedf00dfeedf00dfeedf00dfeed"
	fake, base := twilioWithAccounts(t, sid, token)
	e := newEnv(t, func(c *config.Config, o *Options) { c.TwilioAPIBaseURL = base })
	const dom = "own-twilio.myshopify.com"
	e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)

	for _, tc := range []struct {
		name, body, code string
		names            []string
	}{
		{"bad sid", `{"account_sid":"AC12","auth_token":"x","from":"+14155550123"}`, "invalid_channel", []string{"account_sid"}},
		{"no token", `{"account_sid":"` + sid + `","from":"+14155550123"}`, "invalid_channel", []string{"auth_token"}},
		{"bad from", `{"account_sid":"` + sid + `","auth_token":"x","from":"12345"}`, "invalid_channel", []string{"from"}},
		{"wrong token", `{"account_sid":"` + sid + `","auth_token":"wrong-token","from":"+14155550123"}`, "channel_unverified", []string{"Authenticate", "401"}},
	} {
		e.callAdminJSON("PUT", "/api/admin/channels/sms", tok, tc.body).errorNaming(t, tc.name, http.StatusUnprocessableEntity, tc.code, tc.names...)
	}
	if n := e.count("shop_channels", ""); n != 0 {
		t.Fatalf("%d rows after refusals", n)
	}

	var saved channelView
	e.callAdminJSON("PUT", "/api/admin/channels/sms", tok, map[string]string{"account_sid": sid, "auth_token": token, "from": "+14155550100"}).
		ok(t, "PUT twilio", &saved)
	if saved.Source != sourceShop || saved.AccountSID != sid || saved.From != "+14155550100" {
		t.Fatalf("saved: %+v", saved)
	}
	// A new sender, the token left empty: the saved one is kept (the form
	// never shows it back).
	e.callAdminJSON("PUT", "/api/admin/channels/sms", tok, map[string]string{"account_sid": sid, "from": "+14155550199"}).ok(t, "PUT from only", &saved)
	r := e.callAdminJSON("GET", "/api/admin/channels", tok, nil)
	var got channelsReply
	r.ok(t, "GET", &got)
	if got.SMS.Source != sourceShop || got.SMS.From != "+14155550199" || got.Email.Source != sourceOutbox {
		t.Fatalf("GET: %+v", got)
	}
	var enc []byte
	if err := e.app.db.Raw("SELECT config_enc FROM shop_channels").Row().Scan(&enc); err != nil {
		t.Fatal(err)
	}
	page := e.docAs(dom, dom, "/admin/settings", nil)
	if page.status != http.StatusOK || !strings.Contains(string(page.body), "Your Twilio account") {
		t.Fatalf("settings page: %d\n%s", page.status, page.body)
	}
	for what, b := range map[string]string{"GET": string(r.body), "row": string(enc), "page": string(page.body)} {
		if strings.Contains(b, token) {
			t.Errorf("%s shows the auth token", what)
		}
	}

	// A test text goes out through the shop's account, with its token.
	e.callAdminJSON("POST", "/api/admin/templates/thank_you/test", tok, `{"channel":"sms","to":"+14155550123"}`).ok(t, "test sms", new(any))
	if msgs := fake.Messages(); len(msgs) != 1 || msgs[0].From != "+14155550199" || msgs[0].To != "+14155550123" {
		t.Fatalf("twilio got %+v", msgs)
	}

	var back channelView
	e.callAdminJSON("DELETE", "/api/admin/channels/sms", tok, nil).ok(t, "DELETE", &back)
	if back.Source != sourceOutbox || e.count("shop_channels", "") != 0 {
		t.Fatalf("after DELETE: %+v", back)
	}
}

// The messenger's resolver: a shop without a row has none; a saved row
// builds a sender that is kept while its version holds and rebuilt (the
// old pool closed) when it changes; its sending errors are recorded on the
// row; a row that cannot be opened is an error, never the deployment's.
func TestShopChannels_ResolverFollowsVersionsAndRecordsErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	relay := notifytest.StartSMTP(t)
	shop := e.installShop("resolver.myshopify.com")
	ctx := context.Background()
	r := e.app.newShopChannels()
	r.ttl = 0 // check the row on every call

	if _, found, err := r.Channel(ctx, shop.ID, "email"); found || err != nil {
		t.Fatalf("no row: found %v, %v", found, err)
	}
	cfg := models.ShopChannelConfig{SMTPURL: relay.URL(), From: "orders@resolver.test"}
	if _, err := e.app.store.SaveShopChannel(ctx, shop.ID, "email", cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	first, found, err := r.Channel(ctx, shop.ID, "email")
	if !found || err != nil {
		t.Fatalf("saved: found %v, %v", found, err)
	}
	if again, _, _ := r.Channel(ctx, shop.ID, "email"); again != first {
		t.Fatal("the same version built a second sender")
	}
	send := func(s jobs.Sender, id string) error {
		_, err := s.Send(ctx, notify.Message{ID: id, Channel: "email", To: "ana@example.com", Subject: "Hi", Text: "Hello"})
		return err
	}
	if err := send(first, "msg-1"); err != nil {
		t.Fatal(err)
	}

	// A refusal is recorded on the row; the next success clears it.
	relay.FailNext(1, 554, "5.7.1 relay access denied")
	if err := send(first, "msg-2"); err == nil {
		t.Fatal("the refusal was not reported")
	}
	row, _ := e.app.store.ShopChannel(ctx, shop.ID, "email")
	if !strings.Contains(row.LastError, "relay access denied") {
		t.Fatalf("last error = %q", row.LastError)
	}
	if err := send(first, "msg-3"); err != nil {
		t.Fatal(err)
	}
	if row, _ = e.app.store.ShopChannel(ctx, shop.ID, "email"); row.LastError != "" {
		t.Fatalf("last error not cleared: %q", row.LastError)
	}

	// A new version: a new sender, and the old pool closes.
	cfg.From = "hello@resolver.test"
	if _, err := e.app.store.SaveShopChannel(ctx, shop.ID, "email", cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	second, found, err := r.Channel(ctx, shop.ID, "email")
	if !found || err != nil || second == first {
		t.Fatalf("after a new save: found %v, %v, same sender %v", found, err, second == first)
	}
	// (It closes in the background: a send may still get through first.)
	waitFor(t, "the old pool to close", 5*time.Second, func() bool { return send(first, "msg-old") != nil })
	if err := send(second, "msg-new"); err != nil {
		t.Fatal(err)
	}
	msgs := relay.Messages()
	if last := msgs[len(msgs)-1]; last.MessageID != "<msg-new@doorstep>" || !strings.Contains(last.Header.Get("From"), "hello@resolver.test") {
		t.Fatalf("the new version's message: %s from %q", last.MessageID, last.Header.Get("From"))
	}

	// A row that cannot be opened (sealed for another shop) is an error.
	other := e.installShop("resolver-other.myshopify.com")
	if err := e.app.db.Model(&models.ShopChannel{}).Where("shop_id = ?", shop.ID).Update("shop_id", other.ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Channel(ctx, other.ID, "email"); err == nil {
		t.Fatal("a row that does not open resolved")
	}
	if _, found, err := r.Channel(ctx, shop.ID, "email"); found || err != nil {
		t.Fatalf("after the row left: found %v, %v", found, err)
	}
	if err := r.Close(); err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("close: %v", err)
	}
}
