package email_test

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/email"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
)

func newChannel(t *testing.T, sink *notifytest.SMTPSink, opts ...email.Option) *email.Channel {
	t.Helper()
	st, err := email.ParseURL(sink.URL())
	if err != nil {
		t.Fatalf("ParseURL(%s): %v", sink.URL(), err)
	}
	ch, err := email.New(st, "Doorstep Shop <orders@shop.test>", opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func send(t *testing.T, ch *email.Channel, m notify.Message) (notify.Receipt, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return ch.Send(ctx, m)
}

func TestChannel_Conformance(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	notifytest.Run(t, newChannel(t, sink), sink)
}

func TestSend_MultipartMessageWithHeaders_ArrivesDecoded(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	ch := newChannel(t, sink)

	longLine := strings.Repeat("Thank you for shopping with us — ", 8)
	m := notify.Message{
		ID: "msg-42", ShopID: 7, Channel: notify.EmailChannel,
		To: "Ada <ada@example.com>", FromName: "Café Crème", ReplyTo: "help@shop.test",
		Subject: "Your order is on its way ✓",
		Text:    "Hi Ada,\n" + longLine + "\nTrack: https://doorstep.test/t/abc",
		HTML:    `<p>Hi Ada,</p><p>` + longLine + `</p><a href="https://doorstep.test/t/abc">Track</a>`,
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://doorstep.test/u/tok>, <mailto:unsub@doorstep.test?subject=tok>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
	}
	r, err := send(t, ch, m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if _, err := send(t, ch, m); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	got := sink.WaitFor(2, 5*time.Second)

	if got[0].MessageID != "<msg-42@doorstep>" || got[1].MessageID != got[0].MessageID {
		t.Errorf("Message-IDs = %q, %q; want <msg-42@doorstep> twice", got[0].MessageID, got[1].MessageID)
	}
	if r.ProviderID != "msg-42@doorstep" {
		// go-smtp answers "OK: queued" without an id, so the Message-ID is the handle.
		t.Errorf("ProviderID = %q", r.ProviderID)
	}
	g := got[0]
	if g.From != "orders@shop.test" || len(g.To) != 1 || g.To[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %v", g.From, g.To)
	}
	if g.Subject != m.Subject {
		t.Errorf("Subject = %q, want %q", g.Subject, m.Subject)
	}
	if g.Text != m.Text {
		t.Errorf("text part = %q\nwant %q", g.Text, m.Text)
	}
	if g.HTML != m.HTML {
		t.Errorf("html part = %q\nwant %q", g.HTML, m.HTML)
	}
	from, err := mail.ParseAddress(g.Header.Get("From"))
	if err != nil || from.Name != "Café Crème" || from.Address != "orders@shop.test" {
		t.Errorf("From = %q (%v)", g.Header.Get("From"), err)
	}
	if rt := g.Header.Get("Reply-To"); !strings.Contains(rt, "help@shop.test") {
		t.Errorf("Reply-To = %q", rt)
	}
	for k, v := range m.Headers {
		if g.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, g.Header.Get(k), v)
		}
	}
	if _, err := g.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if ct := g.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
}

func TestSend_PerMessageFromOverridesDefault(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	ch := newChannel(t, sink)
	_, err := send(t, ch, notify.Message{ID: "m1", To: "a@example.com", From: "other@shop.test", Subject: "s", Text: "t"})
	if err != nil {
		t.Fatal(err)
	}
	g := sink.WaitFor(1, 5*time.Second)[0]
	if g.From != "other@shop.test" || !strings.Contains(g.Header.Get("From"), "other@shop.test") {
		t.Errorf("from %q / %q, want other@shop.test", g.From, g.Header.Get("From"))
	}
	if g.HTML != "" || g.Text != "t" {
		t.Errorf("text-only message arrived as text %q html %q", g.Text, g.HTML)
	}
}

// modes are the two ways a message goes to a relay that announces
// PIPELINING: the envelope in one round trip (the default), and one command
// per round trip (go-mail's own exchange, as with relays that do not).
var modes = map[string][]email.Option{"pipelined": nil, "one command at a time": {email.WithoutPipelining()}}

// replyCase is a relay's reply to one message and how Send must report it.
type replyCase struct {
	name          string
	setup         func(s *notifytest.SMTPSink, to string)
	wantPermanent bool
	wantNoSuch    bool
	wantCode      string
	wantReason    string
}

func TestSend_SMTPRepliesAreClassified(t *testing.T) {
	t.Parallel()
	cases := []replyCase{
		{"DataTempFailure", func(s *notifytest.SMTPSink, _ string) { s.FailNext(1, 451, "4.3.0 try later") }, false, false, "451 4.3.0", "try later"},
		{"DataRejected", func(s *notifytest.SMTPSink, _ string) { s.FailNext(1, 554, "5.7.1 spam detected") }, true, false, "554 5.7.1", "spam detected"},
		{"MailboxUnknown", func(s *notifytest.SMTPSink, to string) { s.RejectRecipient(to, 550, "5.1.1 no such user") }, true, true, "550 5.1.1", "no such user"},
		{"UserUnknownWithoutDetail", func(s *notifytest.SMTPSink, to string) { s.RejectRecipient(to, 550, "User unknown") }, true, true, "550 5.0.0", "User unknown"},
		{"BadSyntax553", func(s *notifytest.SMTPSink, to string) { s.RejectRecipient(to, 553, "5.1.3 bad address syntax") }, true, true, "553 5.1.3", "bad address"},
		{"RelayDenied", func(s *notifytest.SMTPSink, to string) { s.RejectRecipient(to, 550, "5.7.1 relaying denied") }, true, false, "550 5.7.1", "relaying denied"},
		{"MailboxFull", func(s *notifytest.SMTPSink, to string) { s.RejectRecipient(to, 452, "4.2.2 mailbox full") }, false, false, "452 4.2.2", "mailbox full"},
	}
	for mode, opts := range modes {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				checkClassified(t, tc, opts)
			})
		}
	}
}

// checkClassified sends a message the relay refuses as tc says, checks the
// error, then checks that the connection carries the next message.
func checkClassified(t *testing.T, tc replyCase, opts []email.Option) {
	t.Helper()
	sink := notifytest.StartSMTP(t)
	ch := newChannel(t, sink, opts...)
	const to = "gone@example.com"
	tc.setup(sink, to)
	_, err := send(t, ch, notify.Message{ID: "m", To: to, Subject: "s", Text: "t"})
	var ne *notify.Error
	if !errors.As(err, &ne) {
		t.Fatalf("err = %v, want *notify.Error", err)
	}
	if ne.Permanent != tc.wantPermanent || ne.NoSuchAddress != tc.wantNoSuch || ne.Code != tc.wantCode ||
		!strings.Contains(ne.Reason, tc.wantReason) {
		t.Errorf("got permanent=%v nosuch=%v code=%q reason=%q; want %v %v %q %q",
			ne.Permanent, ne.NoSuchAddress, ne.Code, ne.Reason, tc.wantPermanent, tc.wantNoSuch, tc.wantCode, tc.wantReason)
	}
	if notify.IsPermanent(err) != tc.wantPermanent || notify.IsNoSuchAddress(err) != tc.wantNoSuch {
		t.Errorf("helpers disagree with the fields: %v", err)
	}
	// The connection survives an SMTP reply and carries the next message.
	if _, err := send(t, ch, notify.Message{ID: "m2", To: "ok@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatalf("send after %s: %v", tc.name, err)
	}
	if sink.Count() != 1 || sink.Connections() != 1 {
		t.Errorf("count %d over %d connections, want 1 over 1", sink.Count(), sink.Connections())
	}
}

func TestSend_ManyMessages_ReuseThePool(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	const pool, total, workers = 4, 100, 16
	ch := newChannel(t, sink, email.WithPoolSize(pool))

	var wg sync.WaitGroup
	errs := make(chan error, total)
	jobs := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				_, err := send(t, ch, notify.Message{ID: fmt.Sprintf("bulk-%d", i),
					To: "bulk@example.com", Subject: "s", Text: "t", HTML: "<b>t</b>"})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := sink.Count(); got != total {
		t.Fatalf("sink has %d messages, want %d", got, total)
	}
	if c := sink.Connections(); c > pool {
		t.Errorf("sink saw %d connections for %d messages, want at most %d", c, total, pool)
	}
}

func TestSend_ServerDroppedIdleConnection_RedialsTransparently(t *testing.T) {
	t.Parallel()
	for mode, opts := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			redials(t, opts)
		})
	}
}

func redials(t *testing.T, opts []email.Option) {
	sink := notifytest.StartSMTP(t)
	ch := newChannel(t, sink, append(opts, email.WithPoolSize(1))...)
	if _, err := send(t, ch, notify.Message{ID: "a", To: "x@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	sink.DropConnections()
	if _, err := send(t, ch, notify.Message{ID: "b", To: "x@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatalf("send on a dropped connection: %v", err)
	}
	if sink.Count() != 2 || sink.Connections() != 2 {
		t.Errorf("count %d over %d connections, want 2 over 2", sink.Count(), sink.Connections())
	}
}

func TestSend_TLS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sink []notifytest.SMTPOption
		opts func(s *notifytest.SMTPSink) []email.Option
	}{
		{"STARTTLSTrustedCA", []notifytest.SMTPOption{notifytest.WithSTARTTLS()},
			func(s *notifytest.SMTPSink) []email.Option {
				return []email.Option{email.WithTLSConfig(s.ClientTLSConfig())}
			}},
		{"STARTTLSInsecureSkipVerify", []notifytest.SMTPOption{notifytest.WithSTARTTLS()},
			func(*notifytest.SMTPSink) []email.Option { return []email.Option{email.WithInsecureSkipVerify()} }},
		{"ImplicitTLS", []notifytest.SMTPOption{notifytest.WithImplicitTLS()},
			func(s *notifytest.SMTPSink) []email.Option {
				return []email.Option{email.WithTLSConfig(s.ClientTLSConfig())}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := notifytest.StartSMTP(t, append(tc.sink, notifytest.WithCredentials("doorstep", "secret"))...)
			ch := newChannel(t, sink, tc.opts(sink)...)
			if _, err := send(t, ch, notify.Message{ID: "tls", To: "x@example.com", Subject: "s", Text: "over tls"}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := sink.WaitFor(1, 5*time.Second)[0].Text; got != "over tls" {
				t.Errorf("text = %q", got)
			}
		})
	}

	t.Run("UntrustedCertificateFailsTransient", func(t *testing.T) {
		t.Parallel()
		sink := notifytest.StartSMTP(t, notifytest.WithSTARTTLS())
		ch := newChannel(t, sink)
		_, err := send(t, ch, notify.Message{ID: "tls", To: "x@example.com", Subject: "s", Text: "t"})
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("err = %v, want a transient certificate error", err)
		}
		if sink.Count() != 0 {
			t.Errorf("message delivered over an untrusted connection")
		}
	})
}

func TestSend_WrongCredentials_TransientWithCode(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t, notifytest.WithCredentials("doorstep", "right"))
	st, err := email.ParseURL(sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	st.Password = "wrong"
	ch, err := email.New(st, "orders@shop.test")
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	_, err = send(t, ch, notify.Message{ID: "x", To: "x@example.com", Subject: "s", Text: "t"})
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Permanent || !strings.HasPrefix(ne.Code, "535") {
		t.Fatalf("err = %v, want transient with code 535 (fix the config, then the message should still go)", err)
	}
	if sink.AuthFailures() != 1 {
		t.Errorf("auth failures = %d", sink.AuthFailures())
	}
}

func TestSend_UnsendableMessage_Permanent(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	ch := newChannel(t, sink)
	ok := notify.Message{ID: "m", To: "a@example.com", Subject: "s", Text: "t"}
	cases := map[string]func(m *notify.Message){
		"NoID":            func(m *notify.Message) { m.ID = "" },
		"BadTo":           func(m *notify.Message) { m.To = "not an address" },
		"BadFrom":         func(m *notify.Message) { m.From = "@@" },
		"NoBody":          func(m *notify.Message) { m.Text = "" },
		"HeaderInjection": func(m *notify.Message) { m.Headers = map[string]string{"X-A": "b\r\nBcc: evil@example.com"} },
		"ReservedHeader":  func(m *notify.Message) { m.Headers = map[string]string{"bcc": "evil@example.com"} },
		"BadHeaderName":   func(m *notify.Message) { m.Headers = map[string]string{"X A:": "b"} },
		"SubjectNewline":  func(m *notify.Message) { m.Subject = "a\nBcc: evil@example.com" },
	}
	for name, mutate := range cases {
		m := ok
		mutate(&m)
		if _, err := send(t, ch, m); !notify.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
	if sink.Count() != 0 || sink.Connections() != 0 {
		t.Errorf("an unsendable message reached the server")
	}
}

func TestClose_LaterSendsFailTransient(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	ch := newChannel(t, sink)
	if _, err := send(t, ch, notify.Message{ID: "m", To: "a@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ch.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := send(t, ch, notify.Message{ID: "m2", To: "a@example.com", Subject: "s", Text: "t"})
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Send after Close: %v, want transient error", err)
	}
}

func TestMessageID_StableAndValid(t *testing.T) {
	t.Parallel()
	if got := email.MessageID("01HZX-42"); got != "01HZX-42@doorstep" {
		t.Errorf("MessageID = %q", got)
	}
	weird := email.MessageID("a b<c>@d")
	if weird != email.MessageID("a b<c>@d") || strings.ContainsAny(strings.TrimSuffix(weird, "@doorstep"), " <>@") {
		t.Errorf("MessageID of an unsafe id = %q", weird)
	}
}

func TestTimeout_BoundsHungServerAndIdleClose(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t)
	ch := newChannel(t, sink, email.WithTimeout(300*time.Millisecond), email.WithPoolSize(1))
	m := notify.Message{ID: "m", To: "a@example.com", Subject: "s", Text: "t"}

	release := sink.StallNext()
	defer release()
	start := time.Now()
	_, err := ch.Send(context.Background(), m) // no ctx deadline: the option bounds it
	if err == nil || notify.IsPermanent(err) || time.Since(start) > 3*time.Second {
		t.Fatalf("hung server: err = %v after %s, want a prompt transient error", err, time.Since(start))
	}
	release()

	if _, err := send(t, ch, m); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // idle past the last command's deadline
	if err := ch.Close(); err != nil {
		t.Errorf("Close after idle: %v", err)
	}
}

// BenchmarkSend measures throughput over the pool against the in-process
// sink (go test -bench Send -run XXX ./integrations/notify/email).
func BenchmarkSend(b *testing.B) {
	sink := notifytest.StartSMTP(b)
	st, err := email.ParseURL(sink.URL())
	if err != nil {
		b.Fatal(err)
	}
	ch, err := email.New(st, "orders@shop.test")
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	var n atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("bench-%d", n.Add(1))
			if _, err := ch.Send(context.Background(), notify.Message{ID: id, To: "a@example.com", Subject: "s", Text: "t", HTML: "<p>t</p>"}); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(sink.Connections()), "conns")
}
