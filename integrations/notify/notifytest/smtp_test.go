package notifytest

import (
	"net/smtp"
	"strings"
	"testing"
	"time"
)

func TestParseMessage_DecodesNestedBase64AndQuotedPrintable(t *testing.T) {
	t.Parallel()
	raw := strings.ReplaceAll(`From: a@b.test
To: c@d.test
Subject: =?UTF-8?q?Caf=C3=A9?=
Message-ID: <x@doorstep>
Content-Type: multipart/mixed; boundary=OUT

--OUT
Content-Type: multipart/alternative; boundary=IN

--IN
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

SGVsbG8gd29ybGQgw6kgYmFzZTY0IGxpbmUgdGhhdCBpcyBsb25nIGVub3VnaCB0byB3cmFw
IGFjcm9zcyB0d28gbGluZXM=
--IN
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

<p>Caf=C3=A9 with a soft=
 break</p>
--IN--
--OUT--
`, "\n", "\r\n")
	m, err := parseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Café" || m.MessageID != "<x@doorstep>" {
		t.Errorf("headers: %q %q", m.Subject, m.MessageID)
	}
	if m.Text != "Hello world é base64 line that is long enough to wrap across two lines" {
		t.Errorf("text = %q", m.Text)
	}
	if m.HTML != "<p>Café with a soft break</p>" {
		t.Errorf("html = %q", m.HTML)
	}
}

func TestSMTPSink_RecordsFailsAndResets(t *testing.T) {
	t.Parallel()
	s := StartSMTP(t)
	sendRaw := func(to string) error {
		return smtp.SendMail(s.Addr(), nil, "shop@b.test", []string{to}, []byte("Subject: hi\r\n\r\nbody\r\n"))
	}
	s.FailNext(1, 451, "4.3.0 later")
	if err := sendRaw("x@y.test"); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("err = %v, want 451", err)
	}
	s.RejectRecipient("gone@y.test", 550, "5.1.1 no such user")
	if err := sendRaw("gone@y.test"); err == nil || !strings.Contains(err.Error(), "5.1.1") {
		t.Fatalf("err = %v, want 550 5.1.1", err)
	}
	if err := sendRaw("x@y.test"); err != nil {
		t.Fatal(err)
	}
	got := s.WaitFor(1, time.Second)
	if len(got) != 1 || got[0].Text != "body" || got[0].Subject != "hi" || got[0].From != "shop@b.test" {
		t.Fatalf("got %+v", got)
	}
	if to, subject, body := s.Last(); to != "x@y.test" || subject != "hi" || body != "body" {
		t.Errorf("Last = %q %q %q", to, subject, body)
	}
	s.Reset()
	if s.Count() != 0 {
		t.Errorf("Count after Reset = %d", s.Count())
	}
	if err := sendRaw("gone@y.test"); err != nil {
		t.Errorf("rejection survived Reset: %v", err)
	}
}
