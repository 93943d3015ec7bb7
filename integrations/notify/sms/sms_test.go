package sms_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/integrations/notify/sms"
)

const (
	testSID   = "AC00000000000000000000000000000001"
	testToken = "tok-secret"
	testFrom  = "+15005550006"
)

func newChannel(t *testing.T) (*sms.Channel, *notifytest.Twilio) {
	t.Helper()
	fake := notifytest.StartTwilio(t, testSID, testToken)
	ch := sms.New(sms.Settings{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: fake.URL()}, fake.Client())
	return ch, fake
}

func send(t *testing.T, ch *sms.Channel, m notify.Message) (notify.Receipt, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return ch.Send(ctx, m)
}

func TestChannel_Conformance(t *testing.T) {
	t.Parallel()
	ch, fake := newChannel(t)
	notifytest.Run(t, ch, fake)
}

func TestSend_PostsFormAndReturnsSID(t *testing.T) {
	t.Parallel()
	ch, fake := newChannel(t)
	r, err := send(t, ch, notify.Message{ID: "m1", Channel: notify.SMSChannel, To: "+14155550100", Text: "Shipped! Track: https://d.test/t/x"})
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 1 || got[0].SID != r.ProviderID || len(r.ProviderID) != 34 || r.ProviderID[:2] != "SM" {
		t.Fatalf("receipt %q, fake saw %+v", r.ProviderID, got)
	}
	if got[0].To != "+14155550100" || got[0].From != testFrom || got[0].Body != "Shipped! Track: https://d.test/t/x" {
		t.Errorf("fake saw %+v", got[0])
	}

	// A per-message sender overrides the default; a Messaging Service SID
	// goes in its own field.
	if _, err := send(t, ch, notify.Message{ID: "m2", To: "+14155550100", From: "MG123", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if m := fake.Messages()[1]; m.From != "" || m.MessagingServiceSID != "MG123" {
		t.Errorf("messaging service message = %+v", m)
	}
}

func TestSend_ServerErrorThenSuccess(t *testing.T) {
	t.Parallel()
	ch, fake := newChannel(t)
	fake.FailNext(1, http.StatusInternalServerError, 20500, "Internal Server Error", "")
	m := notify.Message{ID: "m", To: "+14155550100", Text: "hi"}
	_, err := send(t, ch, m)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("500: err = %v, want transient", err)
	}
	if _, ok := notify.RetryAfter(err); ok {
		t.Errorf("500 without Retry-After has a RetryAfter")
	}
	if _, err := send(t, ch, m); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if fake.Count() != 1 || fake.Requests() != 2 {
		t.Errorf("count %d, requests %d; want 1, 2", fake.Count(), fake.Requests())
	}
}

func TestSend_ErrorsAreClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                  string
		status, code          int
		msg, retryAfter       string
		permanent, noSuchAddr bool
		wantCode              string
		wantRetry             time.Duration
	}{
		{"InvalidTo", 400, 21211, "Invalid 'To' Phone Number: +1555", "", true, true, "21211", 0},
		{"NotMobile", 400, 21614, "'To' number is not a valid mobile number", "", true, true, "21614", 0},
		{"OptedOut", 400, 21610, "Attempt to send to unsubscribed recipient", "", true, false, "21610", 0},
		{"RateLimited", 429, 20429, "Too Many Requests", "7", false, false, "20429", 7 * time.Second},
		{"Timeout", 408, 0, "Request Timeout", "", false, false, "408", 0},
		{"Unavailable", 503, 20503, "Service unavailable", "Wed, 21 Oct 2099 07:28:00 GMT", false, false, "20503", -1},
		{"BadAuth", 401, 20003, "Authenticate", "", true, false, "20003", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch, fake := newChannel(t)
			fake.FailNext(1, tc.status, tc.code, tc.msg, tc.retryAfter)
			_, err := send(t, ch, notify.Message{ID: "m", To: "+14155550100", Text: "hi"})
			var ne *notify.Error
			if !errors.As(err, &ne) {
				t.Fatalf("err = %v, want *notify.Error", err)
			}
			if ne.Permanent != tc.permanent || ne.NoSuchAddress != tc.noSuchAddr || ne.Reason != tc.msg || ne.Code != tc.wantCode {
				t.Errorf("got permanent=%v nosuch=%v code=%q reason=%q", ne.Permanent, ne.NoSuchAddress, ne.Code, ne.Reason)
			}
			ra, ok := notify.RetryAfter(err)
			switch {
			case tc.wantRetry > 0 && (ra != tc.wantRetry || !ok):
				t.Errorf("RetryAfter = %s, %v; want %s", ra, ok, tc.wantRetry)
			case tc.wantRetry < 0 && ra < time.Hour: // an HTTP date far ahead
				t.Errorf("RetryAfter from a date = %s", ra)
			case tc.wantRetry == 0 && ok:
				t.Errorf("RetryAfter = %s, want none", ra)
			}
		})
	}
}

func TestSend_RealValidationAndAuth(t *testing.T) {
	t.Parallel()
	ch, fake := newChannel(t)
	_, err := send(t, ch, notify.Message{ID: "m", To: "0412 345 678", Text: "hi"})
	if !notify.IsNoSuchAddress(err) {
		t.Errorf("non-E.164 To: err = %v, want NoSuchAddress (21211)", err)
	}
	bad := sms.New(sms.Settings{AccountSID: testSID, AuthToken: "wrong", From: testFrom, BaseURL: fake.URL()}, nil)
	_, err = send(t, bad, notify.Message{ID: "m", To: "+14155550100", Text: "hi"})
	var ne *notify.Error
	if !errors.As(err, &ne) || !ne.Permanent || ne.Code != "20003" {
		t.Errorf("wrong token: err = %v, want permanent 20003", err)
	}
	if _, err := send(t, ch, notify.Message{ID: "m", To: "+14155550100"}); !notify.IsPermanent(err) {
		t.Errorf("empty body: err = %v, want permanent", err)
	}
	if fake.Count() != 0 {
		t.Errorf("fake accepted %d messages", fake.Count())
	}
}

func TestSend_NonJSONErrorFromProxy(t *testing.T) {
	t.Parallel()
	srv := http.NewServeMux()
	srv.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	})
	fake := newServer(t, srv)
	ch := sms.New(sms.Settings{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: fake}, nil)
	_, err := send(t, ch, notify.Message{ID: "m", To: "+14155550100", Text: "hi"})
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Permanent || ne.Code != "502" || ne.RetryAfter != 3*time.Second {
		t.Fatalf("err = %#v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	// The example from Twilio's webhook security documentation.
	const docURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docForm := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
	}
	if !sms.VerifySignature("12345", docURL, docForm, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("Twilio's documented example does not verify")
	}

	const hook = "https://doorstep.example.com/webhooks/twilio"
	form := url.Values{"From": {"+14155550100"}, "To": {testFrom}, "Body": {"STOP"}, "MessageSid": {"SM1"}}
	sig := notifytest.SignInbound(testToken, hook, form)
	cases := []struct {
		name  string
		token string
		url   string
		form  url.Values
		sig   string
		want  bool
	}{
		{"Valid", testToken, hook, form, sig, true},
		{"DefaultPortAdded", testToken, "https://doorstep.example.com:443/webhooks/twilio", form, sig, true},
		{"WrongToken", "other", hook, form, sig, false},
		{"OtherURL", testToken, hook + "?x=1", form, sig, false},
		{"TamperedBody", testToken, hook, url.Values{"From": {"+14155550100"}, "To": {testFrom}, "Body": {"START"}, "MessageSid": {"SM1"}}, sig, false},
		{"ExtraParam", testToken, hook, url.Values{"From": {"+14155550100"}, "To": {testFrom}, "Body": {"STOP"}, "MessageSid": {"SM1"}, "X": {""}}, sig, false},
		{"EmptySignature", testToken, hook, form, "", false},
		{"EmptyToken", "", hook, form, notifytest.SignInbound("", hook, form), false},
		{"NotBase64", testToken, hook, form, "!!!", false},
	}
	for _, tc := range cases {
		if got := sms.VerifySignature(tc.token, tc.url, tc.form, tc.sig); got != tc.want {
			t.Errorf("%s: VerifySignature = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseKeyword(t *testing.T) {
	t.Parallel()
	cases := map[string]sms.Keyword{
		"STOP": sms.KeywordStop, " stop ": sms.KeywordStop, "Stop.": sms.KeywordStop, "StopAll": sms.KeywordStop,
		"unsubscribe": sms.KeywordStop, "CANCEL": sms.KeywordStop, "end": sms.KeywordStop, "quit\n": sms.KeywordStop,
		"revoke": sms.KeywordStop, "OPTOUT": sms.KeywordStop,
		"START": sms.KeywordStart, "yes": sms.KeywordStart, "Unstop": sms.KeywordStart,
		"HELP": sms.KeywordHelp, "info?": sms.KeywordHelp,
		"": sms.KeywordNone, "please stop": sms.KeywordNone, "STOP IT": sms.KeywordNone, "thanks!": sms.KeywordNone,
		"opt out": sms.KeywordNone, "stopp": sms.KeywordNone,
	}
	for body, want := range cases {
		if got := sms.ParseKeyword(body); got != want {
			t.Errorf("ParseKeyword(%q) = %s, want %s", body, got, want)
		}
	}
}
