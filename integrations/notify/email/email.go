// Package email sends notify.Messages over SMTP through a relay (Postmark,
// SES, Mailgun, a local Postfix...) using github.com/wneessen/go-mail.
//
// A Channel keeps a small pool of persistent SMTP connections: each is dialed
// once (HELO, STARTTLS, AUTH) and then carries message after message, so a
// burst of thousands of messages does not pay a TCP and TLS handshake each.
// A connection that fails with anything other than an SMTP reply is closed
// and redialed on its next use.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/doorstep/doorstep/integrations/notify"
)

// DefaultPoolSize is how many SMTP connections a Channel keeps open. Relays
// usually cap concurrent connections per account at 5-10.
const DefaultPoolSize = 4

type options struct {
	poolSize  int
	tlsConfig *tls.Config
	timeout   time.Duration
	helo      string
	log       *slog.Logger
	// noPipelining: one command per round trip even where the relay
	// announces PIPELINING.
	noPipelining bool
}

// Option configures New.
type Option func(*options)

// WithPoolSize sets how many persistent connections are kept (default 4).
func WithPoolSize(n int) Option { return func(o *options) { o.poolSize = n } }

// WithTLSConfig replaces the TLS configuration used for STARTTLS and smtps,
// e.g. to trust a test CA. ServerName defaults to the URL's host.
func WithTLSConfig(c *tls.Config) Option { return func(o *options) { o.tlsConfig = c } }

// WithInsecureSkipVerify accepts any server certificate. For tests and
// relays on loopback only.
func WithInsecureSkipVerify() Option {
	return func(o *options) {
		if o.tlsConfig == nil {
			o.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			o.tlsConfig = o.tlsConfig.Clone()
		}
		o.tlsConfig.InsecureSkipVerify = true //nolint:gosec // opt-in, documented as test only
	}
}

// WithTimeout bounds every SMTP exchange (dial, each command, the message
// data) when the context has no earlier deadline. Default 30s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithHELO sets the name sent in EHLO; default is the machine's hostname.
// Some relays reject "localhost" or container ids.
func WithHELO(name string) Option { return func(o *options) { o.helo = name } }

// WithoutPipelining sends one SMTP command per round trip even to a relay
// that announces PIPELINING, for one that announces it and mishandles it.
// By default MAIL FROM, RCPT TO and DATA share one round trip there.
func WithoutPipelining() Option { return func(o *options) { o.noPipelining = true } }

// WithLogger sets where connection events are logged (debug level).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Channel is the email notify.Channel. It is safe for concurrent use.
type Channel struct {
	from   *mail.Address
	tokens chan struct{} // one per idle connection; receiving one entitles you to pop idle
	mu     sync.Mutex
	idle   []*conn // a stack, so the warm connection just used is reused first
	size   int
	done   chan struct{}
	close  sync.Once
	log    *slog.Logger
}

var _ notify.Channel = (*Channel)(nil)

// New builds a Channel for the relay in settings. defaultFrom ("Shop
// <orders@example.com>" or a bare address) is used when a message has no
// From. Nothing is dialed until the first Send.
func New(settings Settings, defaultFrom string, opts ...Option) (*Channel, error) {
	o := options{poolSize: DefaultPoolSize, timeout: 30 * time.Second, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.poolSize < 1 {
		return nil, fmt.Errorf("email: pool size must be at least 1, got %d", o.poolSize)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("email: timeout must be positive, got %s", o.timeout)
	}
	if settings.Host == "" || settings.Port == 0 {
		return nil, fmt.Errorf("email: settings have no host or port (use ParseURL)")
	}
	from, err := mail.ParseAddress(defaultFrom)
	if err != nil {
		return nil, fmt.Errorf("email: default from %q: %w", defaultFrom, err)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.tlsConfig != nil {
		tlsConfig = o.tlsConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = settings.Host
	}

	ch := &Channel{
		from:   from,
		tokens: make(chan struct{}, o.poolSize),
		size:   o.poolSize,
		done:   make(chan struct{}),
		log:    o.log,
	}
	for i := range o.poolSize {
		c := &conn{tlsConfig: tlsConfig, implicitTLS: settings.ImplicitTLS, timeout: o.timeout, noPipelining: o.noPipelining || settings.NoPipelining,
			log: o.log.With("smtp_conn", i)}
		mc, err := gomail.NewClient(settings.Host, clientOptions(settings, tlsConfig, o, c.dial)...)
		if err != nil {
			return nil, fmt.Errorf("email: configure client: %w", err)
		}
		c.client = mc
		ch.release(c)
	}
	return ch, nil
}

func clientOptions(s Settings, tlsConfig *tls.Config, o options, dial gomail.DialContextFunc) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.Port),
		gomail.WithTimeout(o.timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(dial),
		// NOOP before and RSET after every message are two extra round trips
		// per message; a dead connection shows up on MAIL FROM instead, which
		// is retried once on a fresh connection (see conn.send).
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	switch {
	case s.ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case s.TLS == TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case s.TLS == TLSMandatory:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.Username != "" {
		auth := gomail.SMTPAuthPlain
		switch s.Auth {
		case AuthLogin:
			auth = gomail.SMTPAuthLogin
		case AuthCRAMMD5:
			auth = gomail.SMTPAuthCramMD5
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
	}
	if o.helo != "" {
		opts = append(opts, gomail.WithHELO(o.helo))
	}
	return opts
}

// Name returns "email".
func (ch *Channel) Name() string { return notify.EmailChannel }

// Send delivers m to the relay. It returns a *notify.Error: permanent for a
// message that cannot be built (bad address, no body) and for SMTP 5yz
// replies, with NoSuchAddress for 5.1.1-style unknown mailboxes; transient
// for SMTP 4yz, network failures and a done ctx. The ctx deadline bounds the
// whole exchange, including waiting for a free connection.
func (ch *Channel) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	msg, err := ch.build(m)
	if err != nil {
		return notify.Receipt{}, &notify.Error{Permanent: true, Reason: err.Error(), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return notify.Receipt{}, &notify.Error{Reason: "not sent", Err: err}
	}
	select {
	case <-ch.tokens:
	case <-ctx.Done():
		return notify.Receipt{}, &notify.Error{Reason: "waiting for an SMTP connection", Err: ctx.Err()}
	case <-ch.done:
		return notify.Receipt{}, &notify.Error{Reason: "email channel closed", Err: errClosed}
	}
	c := ch.pop()
	defer ch.release(c)

	// Bodies go unencoded where the relay takes 8-bit data: quoted-printable
	// costs a fifth of the sending CPU and ~8% more bytes on the wire.
	resp, err := c.send(ctx, msg, fits8bit(m.Text) && fits8bit(m.HTML))
	if err != nil {
		return notify.Receipt{}, err
	}
	return notify.Receipt{ProviderID: providerID(resp, strings.Trim(msg.GetMessageID(), "<>"))}, nil
}

var errClosed = errors.New("email: channel closed")

// pop takes the most recently used connection; the caller holds a token.
func (ch *Channel) pop() *conn {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	c := ch.idle[len(ch.idle)-1]
	ch.idle = ch.idle[:len(ch.idle)-1]
	return c
}

func (ch *Channel) release(c *conn) {
	ch.mu.Lock()
	ch.idle = append(ch.idle, c)
	ch.mu.Unlock()
	ch.tokens <- struct{}{}
}

// Close waits for sends in flight, then says QUIT on every open connection.
// Sends after Close fail with a transient error.
func (ch *Channel) Close() error {
	var errs []error
	ch.close.Do(func() {
		close(ch.done)
		for range ch.size {
			<-ch.tokens
			errs = append(errs, ch.pop().quit())
		}
	})
	return errors.Join(errs...)
}

// conn is one pooled SMTP connection. Only the goroutine that took it from
// the pool uses client and smtp; mu guards raw and aborted, which the
// context watcher touches from its own goroutine.
type conn struct {
	client *gomail.Client // configuration plus dialer for this slot
	smtp   *gosmtp.Client // nil until dialed, and after a failure
	// eightBitMIME and pipelining: the server behind smtp announced
	// 8BITMIME and PIPELINING.
	eightBitMIME, pipelining bool
	noPipelining             bool // WithoutPipelining
	tlsConfig                *tls.Config
	implicitTLS              bool
	timeout                  time.Duration
	log                      *slog.Logger

	mu      sync.Mutex
	raw     net.Conn
	aborted bool
}

// dial is go-mail's DialContextFunc. We dial ourselves to get hold of the
// net.Conn: go-mail's smtp.Client holds its mutex while blocked on a read,
// so closing the socket is the only way to make a cancelled ctx interrupt a
// stuck server.
func (c *conn) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var (
		nc  net.Conn
		err error
	)
	d := &net.Dialer{}
	if c.implicitTLS {
		nc, err = (&tls.Dialer{NetDialer: d, Config: c.tlsConfig}).DialContext(ctx, network, addr)
	} else {
		nc, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		nc.Close()
		return nil, context.Canceled
	}
	c.raw = nc
	return nc, nil
}

// abort closes the socket under a send whose ctx is done.
func (c *conn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	if c.raw != nil {
		c.raw.Close()
	}
}

// drop forgets a connection that is broken or in an unknown state.
func (c *conn) drop(reason error) {
	c.mu.Lock()
	raw := c.raw
	c.raw = nil
	c.mu.Unlock()
	if raw != nil {
		raw.Close()
	}
	if c.smtp != nil {
		c.log.Debug("smtp connection dropped", "err", reason)
	}
	c.smtp = nil
}

func (c *conn) quit() error {
	if c.smtp == nil {
		return nil
	}
	// The deadline left by the last command may have passed while idle.
	_ = c.smtp.UpdateDeadline(c.timeout)
	err := c.client.CloseWithSMTPClient(c.smtp)
	c.drop(nil)
	if err != nil {
		return fmt.Errorf("email: quit: %w", err)
	}
	return nil
}

// send delivers msg on this connection, dialing first if needed, and returns
// the server's reply to the message data.
func (c *conn) send(ctx context.Context, msg *gomail.Msg, eightBit bool) (string, error) {
	c.mu.Lock()
	c.aborted = false
	c.mu.Unlock()
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.abort()
		close(aborted)
	})
	defer func() {
		if !stop() {
			// The watcher ran: wait for it so it cannot close the socket of
			// whoever takes this connection next, and forget the socket.
			<-aborted
			c.drop(ctx.Err())
		}
	}()

	for attempt := 0; ; attempt++ {
		reused := c.smtp != nil
		if !reused {
			sc, err := c.client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				c.drop(err)
				return "", dialError(ctx, err)
			}
			c.smtp = sc
			c.eightBitMIME, _ = sc.Extension("8BITMIME")
			c.pipelining, _ = sc.Extension("PIPELINING")
			c.pipelining = c.pipelining && !c.noPipelining
			c.log.Debug("smtp connection opened", "8bitmime", c.eightBitMIME, "pipelining", c.pipelining)
		}
		setBodyEncoding(msg, eightBit && c.eightBitMIME)
		var (
			resp string
			err  error
		)
		if c.pipelining {
			resp, err = c.sendPipelined(msg)
		} else {
			err = c.client.SendWithSMTPClient(c.smtp, msg)
			resp = msg.ServerResponse()
		}
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			c.drop(err)
			return "", &notify.Error{Reason: "smtp send interrupted", Err: fmt.Errorf("%w (%w)", ctx.Err(), err)}
		}
		nerr, code := classify(err)
		if errors.Is(err, errUnknownState) {
			c.drop(err)
			return "", nerr
		}
		if code == 0 || code == 421 {
			// No SMTP reply means the socket is broken; 421 means the server
			// is closing it. A connection idle in the pool is often closed
			// by the relay (with or without a 421), so if nothing of the
			// message was transmitted yet, try once more on a fresh one.
			c.drop(err)
			if reused && attempt == 0 && beforeData(err) {
				continue
			}
		}
		return "", nerr
	}
}

func dialError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &notify.Error{Reason: "smtp connect interrupted", Err: fmt.Errorf("%w (%w)", ctx.Err(), err)}
	}
	// A failed handshake says nothing about this message: even a 5yz here
	// (535 bad credentials, 554 no service) is fixed on our side or the
	// relay's, after which the message should still go out. So it stays
	// transient, with the reply code kept for the log.
	e, _ := classify(err)
	e.Permanent, e.NoSuchAddress = false, false
	e.Reason = "smtp connect: " + e.Reason
	return e
}
