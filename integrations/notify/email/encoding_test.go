package email_test

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
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
	addr, data := startPlainSMTP(t)
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
	raw := <-data
	if enc := encodings(raw); fmt.Sprint(enc) != "[quoted-printable quoted-printable]" {
		t.Errorf("transfer encodings %v to a 7-bit relay, want quoted-printable for both bodies", enc)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] >= 0x80 {
			t.Fatalf("8-bit byte %#x at %d in the data sent to a 7-bit relay", raw[i], i)
		}
	}
}

// startPlainSMTP serves one SMTP session that announces no extensions
// beyond SIZE, and hands over the message data it received.
func startPlainSMTP(t *testing.T) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	data := make(chan string, 1)
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
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
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
						say("250-plain.test", "250 SIZE 10000000")
					case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), strings.HasPrefix(cmd, "RSET"), strings.HasPrefix(cmd, "NOOP"):
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
						select {
						case data <- b.String():
						default:
						}
						say("250 2.0.0 queued")
					case cmd == "QUIT":
						say("221 bye")
						return
					default:
						say("502 5.5.2 not implemented")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), data
}
