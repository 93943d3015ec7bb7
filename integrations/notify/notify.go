// Package notify is the contract between the flows that decide to send a
// message and the channels that carry it: a rendered Message, the Channel
// interface, and one typed Error that tells the retry policy whether trying
// again can help.
//
// Channels live in subpackages (email, sms, outbox); notifytest holds fakes of
// the outside systems and the conformance test every channel passes.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Channel names used in Message.Channel.
const (
	EmailChannel = "email"
	SMSChannel   = "sms"
)

// Message is one rendered message ready for a channel. No template logic here.
type Message struct {
	// ID is our durable message id and the idempotency key: email sends it as
	// the Message-ID "<ID@doorstep>" so a resend after an ambiguous failure is
	// recognisable downstream. Twilio's Messages API has no idempotency key, so
	// an SMS retried after a timeout may arrive twice; callers keep SMS retries
	// to failures that happened before Twilio accepted the request.
	ID       string
	ShopID   int64
	Channel  string            // EmailChannel or SMSChannel
	To       string            // email address, or E.164 phone number
	From     string            // email address or SMS sender number; empty = channel default
	FromName string            // display name for email
	ReplyTo  string            // email only
	Subject  string            // email only
	HTML     string            // email only
	Text     string            // plain text part (email) or the whole SMS body
	Headers  map[string]string // extra email headers, e.g. List-Unsubscribe, List-Unsubscribe-Post
}

// Receipt is what a channel hands back for a message it accepted.
type Receipt struct {
	// ProviderID is the provider's id for the message: the SMTP queue id from
	// the 250 reply when the server gives one (else our Message-ID), the
	// Twilio message SID, or the outbox row id.
	ProviderID string
}

// Channel carries rendered messages to one kind of recipient.
//
// Send returns a Receipt once the provider accepted the message. Any error
// can be inspected with IsPermanent, IsNoSuchAddress and RetryAfter; an
// error that is not a *Error is transient.
type Channel interface {
	Name() string // "email", "sms", "outbox"
	Send(ctx context.Context, m Message) (Receipt, error)
}

// Error is a classified delivery failure.
//
// Transient (Permanent false): HTTP 408, 429 and 5xx, SMTP 4yz, timeouts and
// network errors — the same message may succeed later, after RetryAfter if
// the provider said so. Permanent: other HTTP 4xx and SMTP 5yz — the message
// is recorded as failed with Reason and never retried. NoSuchAddress marks a
// permanent failure caused by the recipient address itself (SMTP 5.1.1
// mailbox unknown, Twilio 21211 invalid To, 21614 not a mobile number), so
// the caller can stop using that address.
type Error struct {
	Permanent     bool
	NoSuchAddress bool
	RetryAfter    time.Duration // zero when the provider gave no hint
	Code          string        // provider code: SMTP reply ("550", "5.1.1"), Twilio error code, HTTP status
	Reason        string        // the provider's own words, kept for the message log
	Err           error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Permanent {
		b.WriteString("permanent")
	} else {
		b.WriteString("transient")
	}
	if e.NoSuchAddress {
		b.WriteString(", no such address")
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil && (e.Reason == "" || !strings.Contains(e.Reason, e.Err.Error())) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err (or anything it wraps) is a *Error marked
// permanent. Unclassified errors are transient: retrying an unknown failure
// costs a little, dropping a message the shopper should have had costs more.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// IsNoSuchAddress reports whether err says the recipient address does not
// exist or cannot receive this channel.
func IsNoSuchAddress(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.NoSuchAddress
}

// RetryAfter returns the provider's back-off hint, if it gave one.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}
