package app

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/models"
)

const twilioTestToken = "twilio-auth-token-for-tests"

func withTwilioToken(token string) envOption {
	return func(c *config.Config, _ *Options) { c.TwilioAuthToken = token }
}

// twilioInbound posts an inbound SMS webhook; signature "" sends none.
func (e *testEnv) twilioInbound(form url.Values, signature string) (int, string, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/webhooks/twilio", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature != "" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func inboundSMS(from, body string) url.Values {
	return url.Values{"From": {from}, "To": {"+15005550006"}, "Body": {body}, "MessageSid": {"SM0123456789abcdef0123456789abcdef"},
		"AccountSid": {"AC0123456789abcdef0123456789abcdef"}, "NumMedia": {"0"}}
}

// twilioURL is the public URL Twilio signs (cfg.AppURL in tests).
const twilioURL = "https://doorstep.test/webhooks/twilio"

func TestTwilio_StopSuppressesEveryShopStartLifts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTwilioToken(twilioTestToken))
	ctx := context.Background()
	const phone = "+33612345678"
	stopped := func() bool {
		t.Helper()
		// Any shop: the operator's number is shared, so is a STOP.
		ok, err := e.app.store.IsSuppressed(ctx, 4242, "sms", phone, models.SuppressSMSStop)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	steps := []struct {
		body        string
		wantStopped bool
	}{
		{"Hello, where is my parcel?", false},
		{"HELP", false},
		{"STOP", true},
		{" stop. ", true}, // again: still one row
		{"START", false},
		{"unsubscribe", true},
		{"unstop", false},
		{"Revoke", true},
		{"please stop", true}, // not a keyword: nothing changes
		{"yes", false},
	}
	for _, s := range steps {
		form := inboundSMS(phone, s.body)
		status, ctype, body := e.twilioInbound(form, notifytest.SignInbound(twilioTestToken, twilioURL, form))
		if status != http.StatusOK || ctype != "text/xml" || body != `<?xml version="1.0" encoding="UTF-8"?><Response></Response>` {
			t.Fatalf("%q: %d %q %s, want 200 text/xml and an empty Response", s.body, status, ctype, body)
		}
		if got := stopped(); got != s.wantStopped {
			t.Fatalf("after %q: suppressed %v, want %v", s.body, got, s.wantStopped)
		}
		if n := e.count("suppressions", ""); n > 1 {
			t.Fatalf("after %q: %d suppression rows, want at most 1", s.body, n)
		}
	}
	if n := e.count("suppressions", "shop_id = 0 AND channel = ? AND reason = ?", "sms", models.SuppressSMSStop); n != 0 {
		t.Fatalf("%d rows after the final START, want 0", n)
	}
}

func TestTwilio_BadOrMissingSignature_403NothingStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTwilioToken(twilioTestToken))
	noToken := newEnv(t)
	const phone = "+33612345678"
	stop := inboundSMS(phone, "STOP")
	signed := notifytest.SignInbound(twilioTestToken, twilioURL, stop)
	cases := []struct {
		name      string
		env       *testEnv
		form      url.Values
		signature string
	}{
		{"no signature", e, stop, ""},
		{"other token", e, stop, notifytest.SignInbound("not-our-token", twilioURL, stop)},
		{"other url", e, stop, notifytest.SignInbound(twilioTestToken, "https://evil.test/webhooks/twilio", stop)},
		{"body changed after signing", e, inboundSMS("+33600000000", "STOP"), signed},
		{"garbage signature", e, stop, "not base64!"},
		{"no auth token configured", noToken, stop, notifytest.SignInbound("", twilioURL, stop)},
	}
	for _, tc := range cases {
		status, _, _ := tc.env.twilioInbound(tc.form, tc.signature)
		if status != http.StatusForbidden {
			t.Fatalf("%s: status %d, want 403", tc.name, status)
		}
	}
	if n := e.count("suppressions", ""); n != 0 {
		t.Fatalf("%d suppressions after rejected webhooks, want 0", n)
	}
	if n := noToken.count("suppressions", ""); n != 0 {
		t.Fatalf("%d suppressions without a token, want 0", n)
	}
}
