package email_test

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/email"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
)

var transferEncoding = regexp.MustCompile(`(?im)^Content-Transfer-Encoding: *(\S+)`)

// encodings lists the bodies' Content-Transfer-Encoding values in raw.
func encodings(raw string) []string {
	var out []string
	for _, m := range transferEncoding.FindAllStringSubmatch(raw, -1) {
		out = append(out, strings.ToLower(m[1]))
	}
	return out
}

// A relay that takes 8-bit data gets the bodies as they are, accents and
// emoji included, unless a line is too long for SMTP; either way the
// shopper reads exactly what was rendered.
func TestSend_BodiesGo8bitToAn8BITMIMERelay_QuotedPrintableWhenALineIsTooLong(t *testing.T) {
	t.Parallel()
	sink := notifytest.StartSMTP(t) // go-smtp announces 8BITMIME
	ch := newChannel(t, sink)
	short := notify.Message{ID: "enc-1", To: "ada@example.com", Subject: "Grüße ✓",
		Text: "Hallo Zoë,\ndanke für deine Bestellung · 😊\n", HTML: "<p>Hallo Zoë,</p>\n<p>danke für deine Bestellung · 😊</p>\n"}
	long := short
	long.ID = "enc-2"
	long.HTML = "<p>" + strings.Repeat("é", 600) + "</p>\n" // 1,200 bytes on one line
	for _, m := range []notify.Message{short, long} {
		if _, err := send(t, ch, m); err != nil {
			t.Fatalf("Send %s: %v", m.ID, err)
		}
	}
	got := sink.WaitFor(2, 5*time.Second)
	want := map[string][]string{"<enc-1@doorstep>": {"8bit", "8bit"}, "<enc-2@doorstep>": {"quoted-printable", "quoted-printable"}}
	sent := map[string]notify.Message{"<enc-1@doorstep>": short, "<enc-2@doorstep>": long}
	for _, g := range got {
		if enc := encodings(string(g.Raw)); fmt.Sprint(enc) != fmt.Sprint(want[g.MessageID]) {
			t.Errorf("%s: transfer encodings %v, want %v", g.MessageID, enc, want[g.MessageID])
		}
		m := sent[g.MessageID]
		if g.Text != m.Text || g.HTML != m.HTML || g.Subject != m.Subject {
			t.Errorf("%s arrived as subject %q text %q html %q", g.MessageID, g.Subject, g.Text, g.HTML)
		}
		for i, line := range strings.Split(string(g.Raw), "\r\n") {
			if len(line) > 998 {
				t.Errorf("%s: line %d of the message data is %d bytes, over SMTP's 998", g.MessageID, i, len(line))
			}
		}
	}
}

// A relay that does not announce 8BITMIME gets quoted-printable, whatever
// the body.
func TestSend_RelayWithout8BITMIME_GetsQuotedPrintable(t *testing.T) {
	t.Parallel()
	relay := &plainRelay{}
	addr := startPlainSMTP(t, relay)
	st, err := email.ParseURL("smtp://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := email.New(st, "orders@shop.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	m := notify.Message{ID: "enc-3", To: "ada@example.com", Subject: "Hi", Text: "Zoë · 😊\n", HTML: "<p>Zoë · 😊</p>\n"}
	if _, err := send(t, ch, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	raw := <-relay.data
	if enc := encodings(raw); fmt.Sprint(enc) != "[quoted-printable quoted-printable]" {
		t.Errorf("transfer encodings %v to a 7-bit relay, want quoted-printable for both bodies", enc)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] >= 0x80 {
			t.Fatalf("8-bit byte %#x at %d in the data sent to a 7-bit relay", raw[i], i)
		}
	}
}

// plainRelay is a hand-written SMTP relay: the shared sink (go-smtp)
// always announces 8BITMIME and PIPELINING, and always refuses DATA after
// refusing every recipient.
type plainRelay struct {
	ext       []string // EHLO keywords beyond SIZE, e.g. "PIPELINING"
	rcptReply string   // the reply to RCPT TO ("" is "250 2.0.0 ok")
	// Filled in by the relay: each message's data; for each MAIL FROM,
	// whether RCPT TO and DATA had arrived with it (pipelined); and the
	// connections accepted.
	data      chan string
	pipelined chan bool
	conns     atomic.Int32
}

// startPlainSMTP serves SMTP sessions as r says on a free port.
func startPlainSMTP(t *testing.T, relay *plainRelay) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relay.data, relay.pipelined = make(chan string, 16), make(chan bool, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			relay.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				relay.serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func (relay *plainRelay) serve(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(lines ...string) {
		for _, l := range lines {
			_, _ = w.WriteString(l + "\r\n")
		}
		_ = w.Flush()
	}
	say("220 plain.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			lines := []string{"250-plain.test"}
			for _, e := range relay.ext {
				lines = append(lines, "250-"+e)
			}
			say(append(lines, "250 SIZE 10000000")...)
		case strings.HasPrefix(cmd, "MAIL"):
			// Give a pipelining client a moment to finish its write.
			time.Sleep(20 * time.Millisecond)
			waiting, _ := r.Peek(r.Buffered())
			relay.pipelined <- strings.Contains(string(waiting), "RCPT TO") && strings.Contains(string(waiting), "DATA")
			say("250 2.0.0 ok")
		case strings.HasPrefix(cmd, "RCPT") && relay.rcptReply != "":
			say(relay.rcptReply)
		case strings.HasPrefix(cmd, "RCPT"), strings.HasPrefix(cmd, "RSET"), strings.HasPrefix(cmd, "NOOP"):
			say("250 2.0.0 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			relay.data <- b.String()
			say("250 2.0.0 queued as PLAIN1")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 5.5.2 not implemented")
		}
	}
}

// A relay that announces PIPELINING gets MAIL FROM, RCPT TO and DATA in
// one write (two round trips a message instead of four), and the message
// arrives whole; with WithoutPipelining or ?pipelining=off in the URL each
// command waits for its reply.
func TestSend_PipeliningRelay_GetsTheEnvelopeInOneWrite(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		query string
		opts  []email.Option
		want  bool
	}{
		{"pipelined", "", nil, true},
		{"WithoutPipelining", "", []email.Option{email.WithoutPipelining()}, false},
		{"pipelining=off", "?pipelining=off", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			relay := &plainRelay{ext: []string{"PIPELINING", "8BITMIME"}}
			st, err := email.ParseURL("smtp://" + startPlainSMTP(t, relay) + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := email.New(st, "orders@shop.test", tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ch.Close() })
			for i := range 2 {
				m := notify.Message{ID: fmt.Sprintf("pipe-%d", i), To: "ada@example.com", Subject: "Hi", Text: "Zoë\n", HTML: "<p>Zoë</p>\n"}
				rec, err := send(t, ch, m)
				if err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
				if rec.ProviderID != "PLAIN1" {
					t.Errorf("provider id %q, want the relay's queue id", rec.ProviderID)
				}
				if got := <-relay.pipelined; got != tc.want {
					t.Errorf("message %d: RCPT TO and DATA arrived with MAIL FROM: %v, want %v", i, got, tc.want)
				}
				if raw := <-relay.data; !strings.Contains(raw, "Message-ID: <pipe-") || !strings.Contains(raw, "<p>Zoë</p>") {
					t.Errorf("message %d arrived as:\n%s", i, raw)
				}
			}
			if n := relay.conns.Load(); n != 1 {
				t.Errorf("%d connections for two messages, want 1", n)
			}
		})
	}
}

// A relay that refuses the recipient and then takes DATA anyway (RFC 2920
// says it must not) gets an empty message ended at once; the send fails
// with the recipient's refusal and the connection is not used again.
func TestSend_PipeliningRelayTakesDataAfterRefusal_FailsAndRedials(t *testing.T) {
	t.Parallel()
	relay := &plainRelay{ext: []string{"PIPELINING"}, rcptReply: "550 5.1.1 no such user"}
	st, err := email.ParseURL("smtp://" + startPlainSMTP(t, relay))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := email.New(st, "orders@shop.test", email.WithPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	_, err = send(t, ch, notify.Message{ID: "odd-1", To: "gone@example.com", Subject: "Hi", Text: "t\n"})
	if !notify.IsPermanent(err) || !notify.IsNoSuchAddress(err) {
		t.Fatalf("err = %v, want a permanent no-such-address error", err)
	}
	select {
	case raw := <-relay.data:
		if raw != "" {
			t.Errorf("the relay got message data after refusing the recipient:\n%s", raw)
		}
	case <-time.After(5 * time.Second):
		t.Error("the relay's DATA was never ended")
	}
	_, _ = send(t, ch, notify.Message{ID: "odd-2", To: "gone@example.com", Subject: "Hi", Text: "t\n"})
	if n := relay.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the one left in an unknown state is not reused", n)
	}
}
