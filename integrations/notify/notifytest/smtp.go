package notifytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SinkMessage is one message the SMTP sink accepted.
type SinkMessage struct {
	From      string   // envelope MAIL FROM
	To        []string // envelope RCPT TO
	Raw       []byte
	Header    mail.Header // raw header fields; Subject below is decoded
	Subject   string
	MessageID string
	Text      string // decoded text/plain part, line endings normalised to \n
	HTML      string // decoded text/html part, line endings normalised to \n
}

// SMTPOption configures StartSMTP.
type SMTPOption func(*SMTPSink)

// WithSTARTTLS makes the sink offer STARTTLS with a self-signed certificate
// for 127.0.0.1; URL then asks for tls=mandatory and ClientTLSConfig trusts
// the certificate.
func WithSTARTTLS() SMTPOption { return func(s *SMTPSink) { s.mode = "starttls" } }

// WithImplicitTLS makes the sink speak TLS from the first byte; URL is then
// smtps://.
func WithImplicitTLS() SMTPOption { return func(s *SMTPSink) { s.mode = "implicit" } }

// WithCredentials makes the sink require AUTH PLAIN with exactly these
// credentials (by default any user and password are accepted, and
// unauthenticated senders too).
func WithCredentials(user, pass string) SMTPOption {
	return func(s *SMTPSink) { s.user, s.pass, s.requireAuth = user, pass, true }
}

// SMTPSink is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// records what it accepts and fails on request. It is safe for concurrent
// use and stops when the test ends.
type SMTPSink struct {
	t           testing.TB
	addr        string
	mode        string // "", "starttls", "implicit"
	user, pass  string
	requireAuth bool
	clientTLS   *tls.Config
	conns       atomic.Int64

	mu        sync.Mutex
	msgs      []SinkMessage
	failLeft  int
	failErr   *smtp.SMTPError
	rejects   map[string]*smtp.SMTPError
	stall     chan struct{}
	releases  []func()
	open      []net.Conn
	changed   chan struct{} // closed and replaced whenever msgs grows
	authFails int
}

// StartSMTP starts an SMTP sink on a free port of 127.0.0.1. AUTH PLAIN is
// allowed without TLS; any credentials are accepted unless WithCredentials
// is given. The server is closed in t.Cleanup.
func StartSMTP(t testing.TB, opts ...SMTPOption) *SMTPSink {
	t.Helper()
	s := &SMTPSink{t: t, user: "doorstep", pass: "secret", rejects: map[string]*smtp.SMTPError{}, changed: make(chan struct{})}
	for _, opt := range opts {
		opt(s)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{sink: s}, nil
	}))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("notifytest: smtp listen: %v", err)
	}
	s.addr = l.Addr().String()
	if s.mode != "" {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.clientTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var ln net.Listener = countingListener{Listener: l, sink: s}
	if s.mode == "implicit" {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		// Close the listener ourselves: srv.Close only closes listeners
		// Serve has registered, and Serve may not have started yet.
		_ = ln.Close()
		_ = srv.Close()
		<-done
	})
	// Registered last so it runs first: a stalled session must not keep its
	// connection open while the server closes.
	t.Cleanup(s.releaseStall)
	return s
}

// URL is the relay URL for email.ParseURL: smtp://doorstep:secret@127.0.0.1:port?tls=none
// (tls=mandatory with WithSTARTTLS, smtps:// with WithImplicitTLS).
func (s *SMTPSink) URL() string {
	u := url.URL{Scheme: "smtp", User: url.UserPassword(s.user, s.pass), Host: s.addr}
	switch s.mode {
	case "implicit":
		u.Scheme = "smtps"
	case "starttls":
		u.RawQuery = "tls=mandatory"
	default:
		u.RawQuery = "tls=none"
	}
	return u.String()
}

// Addr is host:port of the sink.
func (s *SMTPSink) Addr() string { return s.addr }

// ClientTLSConfig trusts the sink's self-signed certificate (nil without TLS).
func (s *SMTPSink) ClientTLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Connections is how many TCP connections the sink has accepted.
func (s *SMTPSink) Connections() int { return int(s.conns.Load()) }

// AuthFailures is how many AUTH attempts were refused.
func (s *SMTPSink) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFails
}

// Messages returns a copy of every accepted message, oldest first.
func (s *SMTPSink) Messages() []SinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SinkMessage(nil), s.msgs...)
}

// Count is how many messages were accepted.
func (s *SMTPSink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// WaitFor waits until at least n messages were accepted and returns them;
// it fails the test after timeout.
func (s *SMTPSink) WaitFor(n int, timeout time.Duration) []SinkMessage {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs, changed := append([]SinkMessage(nil), s.msgs...), s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline.C:
			s.t.Fatalf("notifytest: smtp sink has %d messages after %s, want %d", len(msgs), timeout, n)
			return msgs
		}
	}
}

// FailNext makes the next n DATA commands answer code with msg, e.g.
// FailNext(1, 451, "4.3.0 try again later") or FailNext(1, 554, "5.7.1
// rejected as spam"). A leading enhanced status code in msg is sent as such.
func (s *SMTPSink) FailNext(n, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft, s.failErr = n, smtpError(code, msg)
}

// RejectRecipient makes RCPT TO:<addr> answer code with msg, e.g.
// RejectRecipient("gone@example.com", 550, "5.1.1 no such user").
func (s *SMTPSink) RejectRecipient(addr string, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejects[strings.ToLower(addr)] = smtpError(code, msg)
}

// StallNext makes the next DATA hang until release is called (or the test
// ends); the stalled message is then refused with 451 and not recorded.
func (s *SMTPSink) StallNext() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.stall = ch
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	s.releases = append(s.releases, release)
	return release
}

func (s *SMTPSink) releaseStall() {
	s.mu.Lock()
	releases := s.releases
	s.mu.Unlock()
	for _, r := range releases {
		r()
	}
}

// Reset forgets recorded messages, pending failures and rejections.
func (s *SMTPSink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs, s.failLeft, s.failErr = nil, 0, nil
	s.rejects = map[string]*smtp.SMTPError{}
}

// Last implements Sink: the envelope recipient, subject and text part of
// the newest message.
func (s *SMTPSink) Last() (to, subject, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return "", "", ""
	}
	m := s.msgs[len(s.msgs)-1]
	if len(m.To) > 0 {
		to = m.To[0]
	}
	return to, m.Subject, m.Text
}

// FailTransient implements Sink: the next DATA answers 451.
func (s *SMTPSink) FailTransient() { s.FailNext(1, 451, "4.3.0 mailbox busy, try again later") }

// FailPermanent implements Sink: the next DATA answers 554.
func (s *SMTPSink) FailPermanent() string {
	const reason = "message rejected as spam"
	s.FailNext(1, 554, "5.7.1 "+reason)
	return reason
}

var enhancedPrefix = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})\s+`)

func smtpError(code int, msg string) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: msg}
	if m := enhancedPrefix.FindStringSubmatch(msg); m != nil {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		c, _ := strconv.Atoi(m[3])
		e.EnhancedCode = smtp.EnhancedCode{a, b, c}
		e.Message = msg[len(m[0]):]
	}
	return e
}

type session struct {
	sink   *SMTPSink
	authed bool
	from   string
	to     []string
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s := se.sink
		if s.requireAuth && (username != s.user || password != s.pass) {
			s.mu.Lock()
			s.authFails++
			s.mu.Unlock()
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.sink.requireAuth && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.sink.mu.Lock()
	rej := se.sink.rejects[strings.ToLower(to)]
	se.sink.mu.Unlock()
	if rej != nil {
		return rej
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := se.sink
	s.mu.Lock()
	stall := s.stall
	s.stall = nil
	var fail *smtp.SMTPError
	if stall == nil && s.failLeft > 0 {
		s.failLeft--
		fail = s.failErr
	}
	s.mu.Unlock()
	if stall != nil {
		<-stall
		return smtpError(451, "4.4.2 stalled by the test")
	}
	if fail != nil {
		return fail
	}
	m, err := parseMessage(raw)
	if err != nil {
		return smtpError(554, "5.6.0 unparseable message: "+err.Error())
	}
	m.From, m.To = se.from, append([]string(nil), se.to...)
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// parseMessage decodes what a test wants to assert on: headers and the text
// and HTML parts, whatever transfer encoding the client chose.
func parseMessage(raw []byte) (SinkMessage, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return SinkMessage{}, fmt.Errorf("read message: %w", err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return SinkMessage{}, fmt.Errorf("decode subject: %w", err)
	}
	m := SinkMessage{Raw: raw, Header: msg.Header, Subject: subject, MessageID: msg.Header.Get("Message-ID")}
	if err := walkPart(msg.Header, msg.Body, &m); err != nil {
		return m, err
	}
	if !strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/") {
		// A single-part body ends with the line break that precedes the
		// SMTP terminator; in multipart bodies it belongs to the boundary
		// and mime/multipart already drops it.
		m.Text = strings.TrimSuffix(m.Text, "\n")
		m.HTML = strings.TrimSuffix(m.HTML, "\n")
	}
	return m, nil
}

func walkPart(h map[string][]string, body io.Reader, m *SinkMessage) error {
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	ct := get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := walkPart(p.Header, p, m); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("decode %s part: %w", mediaType, err)
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mediaType {
	case "text/plain":
		m.Text = text
	case "text/html":
		m.HTML = text
	}
	return nil
}

// newlineStripper drops CR and LF so base64 wrapped at 76 columns decodes.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// countingListener counts accepted connections and remembers them so the
// sink can cut them (DropConnections).
type countingListener struct {
	net.Listener
	sink *SMTPSink
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.sink.conns.Add(1)
		l.sink.mu.Lock()
		l.sink.open = append(l.sink.open, c)
		l.sink.mu.Unlock()
	}
	return c, err
}

// DropConnections closes every connection accepted so far, as a relay does
// with idle clients; the server keeps listening.
func (s *SMTPSink) DropConnections() {
	s.mu.Lock()
	open := s.open
	s.open = nil
	s.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// selfSigned makes a throwaway certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("notifytest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "notifytest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("notifytest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("notifytest: parse certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}
