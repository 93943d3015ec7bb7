// Package sms sends notify.Messages as text messages through Twilio's
// Messages REST API (or any service that speaks it), and has the helpers the
// inbound webhook needs: signature verification and STOP/START/HELP keywords.
//
// Twilio's API has no idempotency key: a request that timed out may still
// have created a message, and sending again texts the shopper twice. Send
// therefore reports a timeout after the request was written as transient
// like any other, and the caller's retry policy decides; the SID in the
// Receipt is the only durable handle.
package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep/doorstep/integrations/notify"
)

// DefaultBaseURL is Twilio's API host.
const DefaultBaseURL = "https://api.twilio.com"

// Settings says which Twilio account sends and from which number.
type Settings struct {
	AccountSID string // AC…
	AuthToken  string
	// From is the default sender: an E.164 number, an alphanumeric sender
	// id, or a Messaging Service SID (MG…), which is sent as
	// MessagingServiceSid so Twilio picks the number.
	From    string
	BaseURL string // default DefaultBaseURL; a notifytest.Twilio URL in tests
}

// Channel is the SMS notify.Channel. It is safe for concurrent use.
type Channel struct {
	settings Settings
	endpoint string
	http     *http.Client
}

var _ notify.Channel = (*Channel)(nil)

// New builds a Channel. A nil httpClient gets a client with a 30s timeout;
// per-message deadlines come from the ctx passed to Send.
func New(settings Settings, httpClient *http.Client) *Channel {
	if settings.BaseURL == "" {
		settings.BaseURL = DefaultBaseURL
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Channel{
		settings: settings,
		endpoint: strings.TrimRight(settings.BaseURL, "/") + "/2010-04-01/Accounts/" +
			url.PathEscape(settings.AccountSID) + "/Messages.json",
		http: httpClient,
	}
}

// Name returns "sms".
func (c *Channel) Name() string { return notify.SMSChannel }

// Send posts m.Text to m.To. The Receipt's ProviderID is the message SID.
//
// Errors are *notify.Error: transient for 408, 429 (with RetryAfter from the
// Retry-After header), 5xx and network failures; permanent for other 4xx,
// with Twilio's code and message in Code and Reason. Codes 21211 (invalid
// To) and 21614 (not a mobile number) also set NoSuchAddress. 21610 (the
// recipient texted STOP) is permanent but not NoSuchAddress: the number is
// fine, the shopper opted out, and START re-enables it.
func (c *Channel) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	if m.To == "" || m.Text == "" {
		err := fmt.Errorf("sms: message %s needs To and Text", m.ID)
		return notify.Receipt{}, &notify.Error{Permanent: true, Reason: err.Error(), Err: err}
	}
	from := m.From
	if from == "" {
		from = c.settings.From
	}
	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if strings.HasPrefix(from, "MG") {
		form.Set("MessagingServiceSid", from)
	} else {
		form.Set("From", from)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return notify.Receipt{}, &notify.Error{Permanent: true, Reason: "build request: " + err.Error(), Err: err}
	}
	req.SetBasicAuth(c.settings.AccountSID, c.settings.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		// Network failure, timeout or a done ctx: all worth another try.
		return notify.Receipt{}, &notify.Error{Reason: "twilio request failed", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return notify.Receipt{}, &notify.Error{Reason: "read twilio response", Err: err}
	}

	if resp.StatusCode/100 == 2 {
		var created struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(body, &created); err != nil || created.SID == "" {
			// Twilio took the message but we cannot name it: not an error
			// worth resending over, so report success without an id.
			return notify.Receipt{}, nil
		}
		return notify.Receipt{ProviderID: created.SID}, nil
	}
	return notify.Receipt{}, responseError(resp, body)
}

// apiError is Twilio's error body.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// noSuchAddress lists Twilio error codes that blame the To number itself.
var noSuchAddress = map[int]bool{
	21211: true, // Invalid 'To' phone number
	21614: true, // 'To' number is not a valid mobile number
}

func responseError(resp *http.Response, body []byte) *notify.Error {
	e := &notify.Error{Code: strconv.Itoa(resp.StatusCode)}
	var ae apiError
	if json.Unmarshal(body, &ae) == nil && (ae.Code != 0 || ae.Message != "") {
		e.Reason = ae.Message
		if ae.Code != 0 {
			e.Code = strconv.Itoa(ae.Code)
		}
		e.Err = fmt.Errorf("twilio: http %d, code %d: %s", resp.StatusCode, ae.Code, ae.Message)
	} else {
		// A proxy or load balancer answered, not Twilio's API.
		snippet := strings.TrimSpace(string(body))
		if len(snippet) > 200 {
			snippet = snippet[:200]
		}
		e.Reason = resp.Status
		if snippet != "" {
			e.Reason += ": " + snippet
		}
		e.Err = fmt.Errorf("twilio: http %d", resp.StatusCode)
	}

	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	default:
		// Other 4xx and anything unexpected (3xx) will not get better by
		// sending the same request again.
		e.Permanent = true
		e.NoSuchAddress = noSuchAddress[ae.Code]
	}
	return e
}

// retryAfter reads Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
