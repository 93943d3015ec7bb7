package notifytest

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/doorstep/doorstep/integrations/notify"
)

// Outbox is an in-memory store for outbox.New: pass its Save method. It
// implements Sink. Safe for concurrent use.
type Outbox struct {
	mu        sync.Mutex
	msgs      []notify.Message
	transient int
	permanent int
	stall     chan struct{}
}

// NewOutbox returns an empty recorder.
func NewOutbox() *Outbox { return &Outbox{} }

const outboxPermanentReason = "message rejected by the outbox"

// Save records m and returns its 1-based position as the id, or fails as
// asked by FailTransient, FailPermanent or StallNext.
func (o *Outbox) Save(ctx context.Context, m notify.Message) (string, error) {
	o.mu.Lock()
	stall := o.stall
	o.stall = nil
	o.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
		}
		return "", &notify.Error{Reason: "stalled by the test", Err: errors.New("stalled")}
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.transient > 0:
		o.transient--
		return "", errors.New("database is locked")
	case o.permanent > 0:
		o.permanent--
		return "", &notify.Error{Permanent: true, Reason: outboxPermanentReason}
	}
	o.msgs = append(o.msgs, m)
	return strconv.Itoa(len(o.msgs)), nil
}

// Messages returns a copy of every saved message, oldest first.
func (o *Outbox) Messages() []notify.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]notify.Message(nil), o.msgs...)
}

// Count is how many messages were saved.
func (o *Outbox) Count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

// Last implements Sink.
func (o *Outbox) Last() (to, subject, body string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) == 0 {
		return "", "", ""
	}
	m := o.msgs[len(o.msgs)-1]
	return m.To, m.Subject, m.Text
}

// FailTransient implements Sink: the next Save fails with a plain error.
func (o *Outbox) FailTransient() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.transient = 1
}

// FailPermanent implements Sink: the next Save fails permanently.
func (o *Outbox) FailPermanent() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.permanent = 1
	return outboxPermanentReason
}

// StallNext implements Staller: the next Save blocks until release or until
// its ctx is done, then fails without saving.
func (o *Outbox) StallNext() (release func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ch := make(chan struct{})
	o.stall = ch
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}
