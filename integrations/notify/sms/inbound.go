package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// VerifySignature checks the X-Twilio-Signature of a form-encoded webhook.
//
// Twilio signs the full URL it called (scheme, host, path and query,
// exactly as configured in the console) followed by every POST parameter
// name and value, sorted by name, with HMAC-SHA1 keyed by the auth token,
// base64-encoded. fullURL must therefore be the public URL Twilio was given,
// not what a proxy rewrote it to. Like Twilio's SDKs, a URL is also tried
// with its default port added or removed, since Twilio may sign either.
// The comparison is constant-time. An empty token or signature never
// verifies.
func VerifySignature(authToken, fullURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	ok := false
	for _, u := range urlVariants(fullURL) {
		// Evaluate every variant so timing does not depend on which matched.
		if subtle.ConstantTimeCompare(got, sign(authToken, u, form)) == 1 {
			ok = true
		}
	}
	return ok
}

func sign(authToken, fullURL string, form url.Values) []byte {
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
	return mac.Sum(nil)
}

// urlVariants returns fullURL and, for http(s) URLs, the same URL with the
// scheme's default port toggled.
func urlVariants(fullURL string) []string {
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return []string{fullURL}
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return []string{fullURL}
	}
	v := *u
	switch u.Port() {
	case "":
		v.Host = u.Host + ":" + def
	case def:
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") { // IPv6 literal
			v.Host = "[" + v.Host + "]"
		}
	default:
		return []string{fullURL}
	}
	return []string{fullURL, v.String()}
}

// Keyword is what an inbound text asks for.
type Keyword int

const (
	KeywordNone  Keyword = iota // an ordinary reply
	KeywordStop                 // opt out of texts from this sender
	KeywordStart                // opt back in
	KeywordHelp                 // asks for help; Twilio auto-replies
)

func (k Keyword) String() string {
	switch k {
	case KeywordStop:
		return "stop"
	case KeywordStart:
		return "start"
	case KeywordHelp:
		return "help"
	}
	return "none"
}

// keywords are Twilio's default opt-out, opt-in and help keywords (REVOKE
// and OPTOUT were added in May 2025 after the FCC rule). Twilio acts on them
// before our webhook sees the text, so our records must follow the same
// list or we would keep texting someone Twilio already blocks (error 21610).
var keywords = map[string]Keyword{
	"STOP": KeywordStop, "STOPALL": KeywordStop, "UNSUBSCRIBE": KeywordStop, "CANCEL": KeywordStop,
	"END": KeywordStop, "QUIT": KeywordStop, "REVOKE": KeywordStop, "OPTOUT": KeywordStop,
	"START": KeywordStart, "YES": KeywordStart, "UNSTOP": KeywordStart,
	"HELP": KeywordHelp, "INFO": KeywordHelp,
}

// ParseKeyword classifies an inbound SMS body. Like Twilio, only a message
// that is exactly one keyword counts (case-insensitive, surrounding spaces
// and trailing punctuation ignored): "STOP" opts out, "please stop" does
// not.
func ParseKeyword(body string) Keyword {
	w := strings.TrimSpace(body)
	w = strings.TrimRight(w, ".!?")
	return keywords[strings.ToUpper(strings.TrimSpace(w))]
}
