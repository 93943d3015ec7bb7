package email

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/doorstep/doorstep/integrations/notify"
)

// reservedHeaders are set from Message fields; letting Headers override them
// would make two sources of truth (and a way to smuggle in recipients).
var reservedHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true, "subject": true,
	"message-id": true, "date": true, "mime-version": true, "content-type": true,
	"content-transfer-encoding": true, "sender": true, "return-path": true,
}

// build turns m into a go-mail message. Errors mean the message itself is
// unsendable and are permanent.
func (ch *Channel) build(m notify.Message) (*gomail.Msg, error) {
	if m.ID == "" {
		return nil, fmt.Errorf("message has no id")
	}
	if m.Text == "" && m.HTML == "" {
		return nil, fmt.Errorf("message %s has no body", m.ID)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())

	from := *ch.from
	if m.From != "" {
		a, err := mail.ParseAddress(m.From)
		if err != nil {
			return nil, fmt.Errorf("from %q: %w", m.From, err)
		}
		from = *a
	}
	if m.FromName != "" {
		from.Name = m.FromName
	}
	msg.FromMailAddress(&from)

	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("to %q: %w", m.To, err)
	}
	msg.ToMailAddress(to)
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply-to %q: %w", m.ReplyTo, err)
		}
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, fmt.Errorf("subject contains a line break")
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(MessageID(m.ID))
	msg.SetDateWithValue(time.Now())

	for k, v := range m.Headers {
		if !validHeaderName(k) {
			return nil, fmt.Errorf("header name %q is not valid", k)
		}
		if reservedHeaders[strings.ToLower(k)] {
			return nil, fmt.Errorf("header %q is set from the message fields", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("header %q contains a line break", k)
		}
		msg.SetGenHeader(gomail.Header(k), v)
	}

	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyWriter(gomail.TypeTextPlain, writeString(m.Text))
		msg.AddAlternativeWriter(gomail.TypeTextHTML, writeString(m.HTML))
	case m.Text != "":
		msg.SetBodyWriter(gomail.TypeTextPlain, writeString(m.Text))
	default:
		msg.SetBodyWriter(gomail.TypeTextHTML, writeString(m.HTML))
	}
	return msg, nil
}

// writeString is a go-mail body writer for s. go-mail's *String setters
// copy the body into a buffer first; this writes it straight from the
// string, every time the message is written (a retry writes it again).
func writeString(s string) func(io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, s)
		return int64(n), err
	}
}

// maxLine is RFC 5321's limit on a line of message data, without its CRLF.
const maxLine = 998

// fits8bit reports whether a body can go as it is, "Content-Transfer-Encoding:
// 8bit", to a server that announces 8BITMIME (RFC 6152): valid UTF-8, no NUL
// and no CR (go-mail writes every LF as CRLF), and no line longer than
// maxLine. Anything else is sent quoted-printable.
func fits8bit(s string) bool {
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r") {
		return false
	}
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			i = len(s)
		}
		if i > maxLine {
			return false
		}
		s = s[min(i+1, len(s)):]
	}
	return true
}

// setBodyEncoding sends msg's bodies as they are when eightBit, else
// quoted-printable. The headers are encoded already (RFC 2047), either way.
func setBodyEncoding(msg *gomail.Msg, eightBit bool) {
	enc := gomail.EncodingQP
	if eightBit {
		enc = gomail.NoEncoding
	}
	for _, p := range msg.GetParts() {
		p.SetEncoding(enc)
	}
}

// MessageID returns the Message-ID value (without angle brackets) used for
// the message with our id: "<id>@doorstep". It is stable, so a message sent
// twice after an ambiguous failure carries the same Message-ID both times.
// An id that is not a valid RFC 5322 dot-atom is replaced by its SHA-256.
func MessageID(id string) string {
	if !isDotAtom(id) || len(id) > 200 {
		sum := sha256.Sum256([]byte(id))
		id = hex.EncodeToString(sum[:16])
	}
	return id + "@doorstep"
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		default:
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}
