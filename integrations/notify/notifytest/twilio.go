package notifytest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TwilioMessage is one message the Twilio fake accepted.
type TwilioMessage struct {
	SID                 string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	Form                url.Values // everything that was posted
}

type twilioFailure struct {
	status     int
	code       int
	msg        string
	retryAfter string
}

// Twilio is an httptest server that behaves like Twilio's Messages API
// (POST /2010-04-01/Accounts/{sid}/Messages.json): basic auth, required
// fields, E.164 check on To, 201 with a message resource, Twilio's error
// JSON. It records what it accepted and fails on request. Safe for
// concurrent use; closed when the test ends.
type Twilio struct {
	t     testing.TB
	srv   *httptest.Server
	sid   string
	token string

	mu       sync.Mutex
	msgs     []TwilioMessage
	fails    []twilioFailure
	stall    chan struct{}
	releases []func()
	requests int
}

// StartTwilio starts the fake for one account. Point sms.Settings.BaseURL
// at URL().
func StartTwilio(t testing.TB, sid, authToken string) *Twilio {
	t.Helper()
	f := &Twilio{t: t, sid: sid, token: authToken}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", f.create)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found", "")
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.releaseStalls) // runs first, so stalled handlers let Close finish
	return f
}

// URL is the API base URL, e.g. http://127.0.0.1:41234.
func (f *Twilio) URL() string { return f.srv.URL }

// Client is an *http.Client for the fake.
func (f *Twilio) Client() *http.Client { return f.srv.Client() }

// FailNext makes the next n authenticated requests answer status with
// Twilio's error JSON {code, message, more_info, status}; retryAfter, when
// not empty, is sent as the Retry-After header.
func (f *Twilio) FailNext(n, status, code int, msg, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = nil
	for range n {
		f.fails = append(f.fails, twilioFailure{status: status, code: code, msg: msg, retryAfter: retryAfter})
	}
}

// StallNext makes the next authenticated request hang until release is
// called or the client goes away; it then answers 503 and records nothing.
func (f *Twilio) StallNext() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.stall = ch
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	f.releases = append(f.releases, release)
	return release
}

func (f *Twilio) releaseStalls() {
	f.mu.Lock()
	releases := f.releases
	f.mu.Unlock()
	for _, r := range releases {
		r()
	}
}

// Messages returns a copy of every accepted message, oldest first.
func (f *Twilio) Messages() []TwilioMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TwilioMessage(nil), f.msgs...)
}

// Count is how many messages were accepted.
func (f *Twilio) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

// Requests is how many requests reached the Messages endpoint.
func (f *Twilio) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Reset forgets recorded messages and pending failures.
func (f *Twilio) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs, f.fails, f.requests = nil, nil, 0
}

// Last implements Sink: To, no subject, and Body of the newest message.
func (f *Twilio) Last() (to, subject, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) == 0 {
		return "", "", ""
	}
	m := f.msgs[len(f.msgs)-1]
	return m.To, "", m.Body
}

// FailTransient implements Sink: the next request answers 503.
func (f *Twilio) FailTransient() {
	f.FailNext(1, http.StatusServiceUnavailable, 20503, "Service is unavailable. Please try again", "")
}

// FailPermanent implements Sink: the next request answers 400 code 21606.
func (f *Twilio) FailPermanent() string {
	const reason = "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination."
	f.FailNext(1, http.StatusBadRequest, 21606, reason, "")
	return reason
}

var e164 = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

func (f *Twilio) create(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.sid || pass != f.token {
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate", "")
		return
	}
	if r.PathValue("sid") != f.sid {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found", "")
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 20001, "Invalid form body", "")
		return
	}
	f.mu.Lock()
	f.requests++
	stall := f.stall
	f.stall = nil
	var fail *twilioFailure
	if stall == nil && len(f.fails) > 0 {
		fail = &f.fails[0]
		f.fails = f.fails[1:]
	}
	f.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
		twilioError(w, http.StatusServiceUnavailable, 20503, "stalled by the test", "")
		return
	}
	if fail != nil {
		twilioError(w, fail.status, fail.code, fail.msg, fail.retryAfter)
		return
	}

	to, from, mss, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("MessagingServiceSid"), r.PostForm.Get("Body")
	switch {
	case to == "":
		twilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.", "")
		return
	case !e164.MatchString(to):
		twilioError(w, http.StatusBadRequest, 21211, "Invalid 'To' Phone Number: "+to, "")
		return
	case from == "" && mss == "":
		twilioError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.", "")
		return
	case body == "":
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.", "")
		return
	}

	m := TwilioMessage{SID: newSID("SM"), To: to, From: from, MessagingServiceSID: mss, Body: body, Form: r.PostForm}
	f.mu.Lock()
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()

	now := time.Now().UTC().Format(time.RFC1123Z)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": m.SID, "account_sid": f.sid, "to": to, "from": nullable(from), "messaging_service_sid": nullable(mss),
		"body": body, "status": "queued", "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
		"date_created": now, "date_updated": now, "date_sent": nil, "price": nil, "error_code": nil, "error_message": nil,
		"uri": fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s.json", f.sid, m.SID),
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func twilioError(w http.ResponseWriter, status, code int, msg, retryAfter string) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}

func newSID(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// SignInbound computes the X-Twilio-Signature Twilio would send with a
// form POST to fullURL: HMAC-SHA1, keyed by the auth token, of the URL
// followed by every parameter name and value sorted by name (repeated
// values sorted too, as Twilio's SDKs do), base64. It is
// written independently of sms.VerifySignature so each checks the other.
func SignInbound(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	for _, k := range keys {
		vals := append([]string(nil), form[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
