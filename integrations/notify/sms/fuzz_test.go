package sms_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/integrations/notify/sms"
)

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// FuzzVerifySignature checks that what SignInbound signs verifies, and that
// changing any input breaks it, for arbitrary URLs, params and tokens.
func FuzzVerifySignature(f *testing.F) {
	f.Add("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", "Body", "STOP", "From", "+14158675309")
	f.Add("tok", "http://127.0.0.1:8080/webhooks/twilio", "", "", "a", "")
	f.Add("", "", "k", "v", "k", "w")
	f.Fuzz(func(t *testing.T, token, u, k1, v1, k2, v2 string) {
		form := url.Values{}
		form.Add(k1, v1)
		form.Add(k2, v2)
		sig := notifytest.SignInbound(token, u, form)
		if got := sms.VerifySignature(token, u, form, sig); got != (token != "") {
			t.Fatalf("VerifySignature(own signature) = %v with token %q", got, token)
		}
		if token == "" {
			return
		}
		if sms.VerifySignature(token+"x", u, form, sig) {
			t.Fatal("verified with a different token")
		}
		tampered := url.Values{}
		tampered.Add(k1, v1+"x")
		tampered.Add(k2, v2)
		if sms.VerifySignature(token, u, tampered, sig) {
			t.Fatal("verified a tampered value")
		}
		// Must never panic on garbage.
		_ = sms.VerifySignature(token, u, form, v1)
	})
}

// FuzzParseKeyword checks ParseKeyword never panics and only recognises a
// body that is a single word.
func FuzzParseKeyword(f *testing.F) {
	for _, s := range []string{"STOP", " stop ", "Stop.", "START", "help", "please stop", "", "\u017ftop", "ＳＴＯＰ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		k := sms.ParseKeyword(body)
		if k == sms.KeywordNone {
			return
		}
		if len(strings.Fields(body)) != 1 {
			t.Fatalf("ParseKeyword(%q) = %s for a body that is not one word", body, k)
		}
		if sms.ParseKeyword(strings.ToLower(body)) != k || sms.ParseKeyword("  "+body+"\n") != k {
			t.Fatalf("ParseKeyword(%q) = %s depends on case or surrounding space", body, k)
		}
	})
}
