// Package notifytest holds fakes of the systems notify channels talk to — a
// real in-process SMTP server (StartSMTP), a Twilio Messages API
// (StartTwilio), an in-memory outbox store (NewOutbox) — and Run, the
// conformance test every notify.Channel passes.
package notifytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/notify"
)

// Sink is the far end of a channel as the conformance test sees it.
type Sink interface {
	// Count is how many messages were accepted so far.
	Count() int
	// Last returns the recipient, subject ("" for SMS) and text body of the
	// newest accepted message.
	Last() (to, subject, body string)
	// FailTransient makes the next delivery fail in a way worth retrying.
	FailTransient()
	// FailPermanent makes the next delivery fail for good and returns the
	// reason the provider will give.
	FailPermanent() (reason string)
}

// Staller is implemented by sinks that can hang a delivery, so Run can check
// that cancelling ctx interrupts a send in flight.
type Staller interface {
	StallNext() (release func())
}

// Run is the conformance test for a notify.Channel delivering into sink. It
// runs its cases in order (they share the sink) and leaves the channel
// usable. The message it sends is an email for channels named other than
// "sms", a text otherwise.
func Run(t *testing.T, ch notify.Channel, sink Sink) {
	t.Helper()
	n := 0
	next := func() notify.Message {
		n++
		m := notify.Message{
			ID:     fmt.Sprintf("conformance-%d-%d", time.Now().UnixNano(), n),
			ShopID: 1,
			Text:   fmt.Sprintf("Your order #%d has shipped.", 1000+n),
		}
		if ch.Name() == notify.SMSChannel {
			m.Channel, m.To = notify.SMSChannel, "+15005550006"
		} else {
			m.Channel, m.To = notify.EmailChannel, "shopper@example.com"
			m.Subject = fmt.Sprintf("Order #%d shipped", 1000+n)
			m.HTML = "<p>" + m.Text + "</p>"
		}
		return m
	}
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		t.Cleanup(cancel)
		return c
	}
	deliversOnce := func(t *testing.T) {
		t.Helper()
		m := next()
		before := sink.Count()
		r, err := ch.Send(ctx(t), m)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if r.ProviderID == "" {
			t.Errorf("Receipt.ProviderID is empty")
		}
		if got := sink.Count(); got != before+1 {
			t.Fatalf("sink count = %d after one send, want %d", got, before+1)
		}
		to, subject, body := sink.Last()
		if !strings.EqualFold(to, m.To) || subject != m.Subject || strings.TrimSpace(body) != m.Text {
			t.Errorf("sink got (%q, %q, %q), want (%q, %q, %q)", to, subject, body, m.To, m.Subject, m.Text)
		}
	}

	t.Run("Name", func(t *testing.T) {
		if ch.Name() == "" {
			t.Fatal("Name() is empty")
		}
	})
	t.Run("DeliversOnce", deliversOnce)

	t.Run("TransientFailureIsRetryable", func(t *testing.T) {
		before := sink.Count()
		sink.FailTransient()
		_, err := ch.Send(ctx(t), next())
		if err == nil {
			t.Fatal("Send succeeded, want a transient error")
		}
		if notify.IsPermanent(err) || notify.IsNoSuchAddress(err) {
			t.Fatalf("err = %v: classified permanent, want transient", err)
		}
		if sink.Count() != before {
			t.Fatalf("sink accepted a message it was told to fail")
		}
		deliversOnce(t) // the channel recovers
	})

	t.Run("PermanentFailureKeepsReason", func(t *testing.T) {
		before := sink.Count()
		reason := sink.FailPermanent()
		_, err := ch.Send(ctx(t), next())
		if !notify.IsPermanent(err) {
			t.Fatalf("err = %v, want permanent", err)
		}
		var ne *notify.Error
		if !errors.As(err, &ne) || !strings.Contains(ne.Reason, reason) {
			t.Fatalf("err = %v: Reason does not carry the provider's %q", err, reason)
		}
		if sink.Count() != before {
			t.Fatalf("sink accepted a message it was told to fail")
		}
		deliversOnce(t)
	})

	t.Run("CancelledContextReturnsPromptly", func(t *testing.T) {
		before := sink.Count()
		c, cancel := context.WithCancel(t.Context())
		cancel()
		start := time.Now()
		_, err := ch.Send(c, next())
		if err == nil {
			t.Fatal("Send with a cancelled ctx succeeded")
		}
		if notify.IsPermanent(err) {
			t.Errorf("err = %v: a cancelled send must stay retryable", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Send took %s with a cancelled ctx", d)
		}
		if sink.Count() != before {
			t.Errorf("sink accepted a message sent with a cancelled ctx")
		}
	})

	if st, ok := sink.(Staller); ok {
		t.Run("DeadlineInterruptsHungProvider", func(t *testing.T) {
			release := st.StallNext()
			defer release()
			c, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := ch.Send(c, next())
			if err == nil {
				t.Fatal("Send to a hung provider succeeded")
			}
			if notify.IsPermanent(err) {
				t.Errorf("err = %v: a timed-out send must stay retryable", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Send took %s with a 200ms deadline", d)
			}
			release()
			deliversOnce(t)
		})
	}
}
