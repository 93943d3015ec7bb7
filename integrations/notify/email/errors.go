package email

import (
	"errors"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/doorstep/doorstep/integrations/notify"
)

var (
	enhancedRe = regexp.MustCompile(`\b([245]\.\d{1,3}\.\d{1,3})\b`)
	replyRe    = regexp.MustCompile(`\b([45]\d\d)[ -](.*)`)
)

// noSuchMailbox lists enhanced status codes (RFC 3463) that blame the
// recipient address itself: bad mailbox, bad system, bad syntax, moved, null
// MX.
var noSuchMailbox = map[string]bool{"5.1.1": true, "5.1.2": true, "5.1.3": true, "5.1.6": true, "5.1.10": true}

// unknownUserPhrases catch relays that answer 550 without a useful enhanced
// code. Kept narrow: a 550 for spam or policy must not get an address
// suppressed.
var unknownUserPhrases = []string{"no such user", "user unknown", "unknown user", "no such mailbox",
	"mailbox not found", "does not exist", "invalid recipient", "unknown recipient", "recipient unknown"}

// classify turns a go-mail error into a *notify.Error and returns the SMTP
// reply code (0 when the server never replied: network errors, timeouts).
//
// go-mail v0.8.1's *SendError has no Unwrap, so the server's words are only
// reachable through ErrorCode, EnhancedStatusCode and the Error string.
func classify(err error) (*notify.Error, int) {
	e := &notify.Error{Reason: err.Error(), Err: err}
	var (
		code     int
		enhanced string
		atRcpt   bool
	)
	var se *gomail.SendError
	var te *textproto.Error
	var ste *stepError
	switch {
	case errors.As(err, &se):
		code, enhanced = se.ErrorCode(), se.EnhancedStatusCode()
		atRcpt = se.Reason == gomail.ErrSMTPRcptTo
	case errors.As(err, &te):
		code = te.Code
		atRcpt = errors.As(err, &ste) && ste.step == stepRcpt
	}
	if code < 400 || code > 599 {
		return e, 0
	}
	if m := replyRe.FindStringSubmatch(e.Reason); m != nil {
		// Keep the server's reply, not go-mail's wrapping around it.
		text, _, _ := strings.Cut(m[0], ", affected recipient")
		text, _, _ = strings.Cut(text, ", affected message ID")
		e.Reason = text
	}
	if enhanced == "" {
		enhanced = enhancedRe.FindString(e.Reason)
	}
	e.Code = strconv.Itoa(code)
	if enhanced != "" {
		e.Code += " " + enhanced
	}
	e.Permanent = code >= 500
	if code == 550 || code == 551 || code == 553 {
		switch {
		case noSuchMailbox[enhanced]:
			e.NoSuchAddress = true
		case atRcpt && (enhanced == "" || strings.HasSuffix(enhanced, ".0.0")):
			lower := strings.ToLower(e.Reason)
			for _, p := range unknownUserPhrases {
				if strings.Contains(lower, p) {
					e.NoSuchAddress = true
					break
				}
			}
		}
	}
	return e, code
}

// beforeData reports whether a failed send stopped before any of the
// message was transmitted, so repeating it cannot deliver twice.
func beforeData(err error) bool {
	var ste *stepError
	if errors.As(err, &ste) {
		return ste.step != stepMessage
	}
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrConnCheck, gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData:
		return true
	}
	return false
}

var queuedAsRe = regexp.MustCompile(`(?i)\bqueued as ([^\s;,]+)`)

// providerID picks the relay's queue id out of its reply to the message
// data ("2.0.0 Ok: queued as 4F9D12" from Postfix, "Ok 0100018f..." from
// SES); without one the Message-ID is the best handle we have.
func providerID(resp, messageID string) string {
	if m := queuedAsRe.FindStringSubmatch(resp); m != nil {
		return m[1]
	}
	fields := strings.Fields(resp)
	if len(fields) > 0 && enhancedRe.MatchString(fields[0]) {
		fields = fields[1:]
	}
	if len(fields) == 2 && strings.EqualFold(strings.TrimRight(fields[0], ":"), "ok") && len(fields[1]) >= 8 {
		return fields[1]
	}
	return messageID
}
