package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	gomail "github.com/wneessen/go-mail"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/email"
	"github.com/doorstep/doorstep/integrations/notify/sms"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// A shop's own channels: the SMTP relay or Twilio account a merchant
// brings instead of the deployment's. The admin API checks the
// credentials with the provider before saving them (sealed, see
// models.ShopChannel); the messenger asks shopChannels for a shop's sender
// before it falls back to the deployment's channels.

const (
	// shopChannelTTL bounds how long a saved change takes to reach the
	// workers (the messenger's settings cache has the same bound). Saves
	// happen in the web process, so the workers cannot be told.
	shopChannelTTL = 5 * time.Second
	// shopChannelPool is a shop relay's connection count: a merchant's
	// mailbox provider allows far fewer concurrent connections than a
	// transactional relay.
	shopChannelPool = 2
	// channelVerifyTimeout bounds a credentials check, so a relay that
	// never answers fails the request instead of hanging it.
	channelVerifyTimeout = 10 * time.Second
	// lastErrorEvery spaces out rewrites of the same last error while a
	// relay keeps failing.
	lastErrorEvery = time.Minute
)

// Audit actions.
const (
	auditChannelSave   = "channel_save"
	auditChannelRemove = "channel_remove"
)

// shopChannelKey names one cached sender.
type shopChannelKey struct {
	shop    uint64
	channel string
}

// builtChannel is a sender built from one version of a shop's channel, or
// the knowledge that the shop has none (sender nil). Never changed once
// cached: a newer check replaces it.
type builtChannel struct {
	id      uint64
	version int64
	sender  jobs.Sender
	close   func() error // nil when there is nothing to close
	checked time.Time
}

// shopChannels is the messenger's jobs.ShopChannels: senders built from the
// shops' saved channels, kept while their row's version is unchanged (an
// email sender is a pool of SMTP connections worth keeping), checked
// against the database at most every shopChannelTTL.
type shopChannels struct {
	store *models.Store
	build func(row models.ShopChannel) (jobs.Sender, func() error, error)
	log   *slog.Logger
	ttl   time.Duration // shopChannelTTL; tests check on every call

	mu     sync.Mutex
	built  map[shopChannelKey]*builtChannel
	closed bool
}

var _ jobs.ShopChannels = (*shopChannels)(nil)

// newShopChannels builds the messenger's resolver; App.Close closes the
// pools it holds.
func (a *App) newShopChannels() *shopChannels {
	r := &shopChannels{store: a.store, log: a.log, ttl: shopChannelTTL, built: map[shopChannelKey]*builtChannel{}}
	r.build = func(row models.ShopChannel) (jobs.Sender, func() error, error) {
		return a.buildShopChannel(row, shopChannelPool)
	}
	a.closers = append(a.closers, r.Close)
	return r
}

// Channel returns the shop's own sender for channel; found is false when
// the shop has none (it uses the deployment's). An error means the shop has
// one that cannot be loaded or built now: the caller retries later rather
// than send through another server.
func (r *shopChannels) Channel(ctx context.Context, shopID uint64, channel string) (jobs.Sender, bool, error) {
	key := shopChannelKey{shopID, channel}
	now := time.Now()
	r.mu.Lock()
	b := r.built[key]
	r.mu.Unlock()
	if b != nil && now.Sub(b.checked) < r.ttl {
		return b.sender, b.sender != nil, nil
	}

	row, err := r.store.ShopChannel(ctx, shopID, channel)
	if errors.Is(err, models.ErrNotFound) {
		r.keep(key, &builtChannel{checked: now})
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("shop's own %s channel: %w", channel, err)
	}
	if b != nil && b.sender != nil && b.id == row.ID && b.version == row.Version {
		fresh := *b
		fresh.checked = now
		b = r.keep(key, &fresh)
		return b.sender, b.sender != nil, nil
	}
	sender, closeFn, err := r.build(row)
	if err != nil {
		return nil, false, fmt.Errorf("shop's own %s channel: %w", channel, err)
	}
	rec := &recordingSender{Sender: sender, store: r.store, log: r.log, id: row.ID, version: row.Version, last: row.LastError}
	b = r.keep(key, &builtChannel{id: row.ID, version: row.Version, sender: rec, close: closeFn, checked: now})
	return b.sender, b.sender != nil, nil
}

// keep caches next unless a concurrent check already cached a sender of
// the same or a newer version, and closes whichever sender lost. It
// returns what is cached.
func (r *shopChannels) keep(key shopChannelKey, next *builtChannel) *builtChannel {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		// Shutting down: nothing is kept, and the sender closes at once
		// (its sends fail as transient, for the next process to retry).
		r.closeLater(key, next)
		return next
	}
	old := r.built[key]
	winner, loser := next, old
	if old != nil && old.sender != nil && next.sender != nil && old.sender != next.sender &&
		old.id == next.id && old.version >= next.version {
		winner, loser = old, next
	}
	r.built[key] = winner
	r.mu.Unlock()
	if loser != nil && loser.sender != winner.sender {
		r.closeLater(key, loser)
	}
	return winner
}

// closeLater closes b's pool off the caller's path: Close waits for the
// sends in flight on it.
func (r *shopChannels) closeLater(key shopChannelKey, b *builtChannel) {
	if b.close == nil {
		return
	}
	go func() {
		if err := b.close(); err != nil {
			r.log.Debug("close a shop's old channel", "shop_id", key.shop, "channel", key.channel, "err", err)
		}
	}()
}

// Close closes every pool; later calls build senders that are closed at once.
func (r *shopChannels) Close() error {
	r.mu.Lock()
	r.closed = true
	built := r.built
	r.built = map[shopChannelKey]*builtChannel{}
	r.mu.Unlock()
	var errs []error
	for _, b := range built {
		if b.close != nil {
			errs = append(errs, b.close())
		}
	}
	return errors.Join(errs...)
}

// recordingSender keeps the channel's last error on its row, for the
// Settings page: a merchant who changes the relay's password learns why
// mail stopped.
type recordingSender struct {
	jobs.Sender
	store   *models.Store
	log     *slog.Logger
	id      uint64
	version int64

	mu     sync.Mutex
	last   string
	lastAt time.Time
}

func (s *recordingSender) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	receipt, err := s.Sender.Send(ctx, m)
	msg := ""
	if err != nil {
		if notify.IsNoSuchAddress(err) || ctx.Err() != nil {
			return receipt, err // about the address or our deadline, not the channel
		}
		msg = err.Error()
	}
	now := time.Now()
	s.mu.Lock()
	same := msg == s.last && (msg == "" || now.Sub(s.lastAt) < lastErrorEvery)
	if !same {
		s.last, s.lastAt = msg, now
	}
	s.mu.Unlock()
	if !same {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if werr := s.store.SetShopChannelError(wctx, s.id, s.version, msg); werr != nil {
			s.log.Error("record a shop channel's error", "channel_id", s.id, "err", werr)
		}
	}
	return receipt, err
}

// buildShopChannel builds the sender of a saved channel with poolSize SMTP
// connections; close is nil for SMS.
func (a *App) buildShopChannel(row models.ShopChannel, poolSize int) (jobs.Sender, func() error, error) {
	cfg, err := a.store.ShopChannelConfigOf(row)
	if err != nil {
		return nil, nil, err
	}
	switch row.Channel {
	case notify.EmailChannel:
		st, err := email.ParseURL(cfg.SMTPURL)
		if err != nil {
			return nil, nil, err
		}
		ch, err := email.New(st, cfg.From, email.WithLogger(a.log.With("shop_id", row.ShopID)), email.WithPoolSize(poolSize))
		if err != nil {
			return nil, nil, err
		}
		return ch, ch.Close, nil
	case notify.SMSChannel:
		return sms.New(a.twilioSettings(cfg), nil), nil, nil
	}
	return nil, nil, fmt.Errorf("unknown channel %q", row.Channel)
}

// twilioSettings are a shop's Twilio credentials on the deployment's API
// host (tests point it at a fake).
func (a *App) twilioSettings(cfg models.ShopChannelConfig) sms.Settings {
	return sms.Settings{AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken, From: cfg.From,
		BaseURL: strings.TrimRight(cmp.Or(a.cfg.TwilioAPIBaseURL, sms.DefaultBaseURL), "/")}
}

// shopTestSender is the shop's own channel for a test send, built for the
// one send; found is false when the shop uses the deployment's.
func (a *App) shopTestSender(ctx context.Context, shopID uint64, channel string) (jobs.Sender, func(), bool, error) {
	row, err := a.store.ShopChannel(ctx, shopID, channel)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	ch, closeFn, err := a.buildShopChannel(row, 1)
	if err != nil {
		return nil, nil, false, err
	}
	done := func() {}
	if closeFn != nil {
		done = func() { _ = closeFn() }
	}
	return ch, done, true, nil
}

// ---- verification ----

// verifySMTP connects to the relay as a send would — TLS or STARTTLS as
// the URL says, EHLO, AUTH — and says QUIT, sending nothing. The error is
// the server's reason, fit to show the merchant.
func verifySMTP(ctx context.Context, st email.Settings) error {
	ctx, cancel := context.WithTimeout(ctx, channelVerifyTimeout)
	defer cancel()
	opts := []gomail.Option{
		gomail.WithPort(st.Port),
		gomail.WithTimeout(channelVerifyTimeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: st.Host, MinVersion: tls.VersionTLS12}),
	}
	switch {
	case st.ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case st.TLS == email.TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case st.TLS == email.TLSMandatory:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if st.Username != "" {
		auth := gomail.SMTPAuthPlain
		switch st.Auth {
		case email.AuthLogin:
			auth = gomail.SMTPAuthLogin
		case email.AuthCRAMMD5:
			auth = gomail.SMTPAuthCramMD5
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(st.Username), gomail.WithPassword(st.Password))
	}
	c, err := gomail.NewClient(st.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("%s:%d: %w", st.Host, st.Port, err)
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("%s:%d: quit: %w", st.Host, st.Port, err)
	}
	return nil
}

// verifyTwilio reads the account (GET /2010-04-01/Accounts/{sid}.json), which
// needs the same credentials a send does and sends nothing. A suspended or
// closed account fails too.
func verifyTwilio(ctx context.Context, client *http.Client, st sms.Settings) error {
	ctx, cancel := context.WithTimeout(ctx, channelVerifyTimeout)
	defer cancel()
	u := st.BaseURL + "/2010-04-01/Accounts/" + url.PathEscape(st.AccountSID) + ".json"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	req.SetBasicAuth(st.AccountSID, st.AuthToken)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("twilio could not be reached: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		Status  string `json:"status"` // the account's: active, suspended, closed
		Code    int    `json:"code"`   // an error's
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK {
		if out.Message != "" {
			return fmt.Errorf("twilio answered %d: %s (code %d)", resp.StatusCode, out.Message, out.Code)
		}
		return fmt.Errorf("twilio answered %d", resp.StatusCode)
	}
	if out.Status != "" && out.Status != "active" {
		return fmt.Errorf("the Twilio account is %s", out.Status)
	}
	return nil
}

// ---- admin API ----

// channelView is one channel as the admin shows it: where mail or texts
// leave from, never a password or token.
type channelView struct {
	Source     string     `json:"source"`                // shop, deployment or outbox
	Host       string     `json:"host,omitempty"`        // email: host:port
	Username   string     `json:"username,omitempty"`    // email
	Security   string     `json:"security,omitempty"`    // email: tls, starttls, starttls_if_offered, none
	AccountSID string     `json:"account_sid,omitempty"` // sms
	From       string     `json:"from,omitempty"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
}

// Channel sources.
const (
	sourceShop       = "shop"
	sourceDeployment = "deployment"
	sourceOutbox     = "outbox"
)

// shopChannelsAPI mounts /api/admin/channels.
func (a *App) shopChannelsAPI(api *gin.RouterGroup) {
	api.GET("/channels", a.handleGetChannels())
	api.PUT("/channels/email", a.handlePutEmailChannel())
	api.PUT("/channels/sms", a.handlePutSMSChannel())
	api.DELETE("/channels/:channel", a.handleDeleteChannel())
}

// channelViews describes both channels of the shop.
func (a *App) channelViews(ctx context.Context, shopID uint64) (map[string]channelView, error) {
	own, err := a.store.ShopChannelsOf(ctx, shopID)
	if err != nil {
		return nil, err
	}
	out := map[string]channelView{}
	for _, ch := range []string{notify.EmailChannel, notify.SMSChannel} {
		row, ok := own[ch]
		if !ok {
			out[ch] = a.deploymentChannelView(ch)
			continue
		}
		out[ch] = a.shopChannelView(row)
	}
	return out, nil
}

// shopChannelView describes a saved channel. One that no longer opens (the
// encryption key changed) still shows, with the reason, so the merchant
// can save it again or remove it.
func (a *App) shopChannelView(row models.ShopChannel) channelView {
	v := channelView{Source: sourceShop, VerifiedAt: row.VerifiedAt, LastError: row.LastError}
	cfg, err := a.store.ShopChannelConfigOf(row)
	if err != nil {
		a.log.Error("open a shop's channel", "shop_id", row.ShopID, "channel", row.Channel, "err", err)
		v.LastError = "the saved settings cannot be read: save them again"
		return v
	}
	v.From = cfg.From
	if row.Channel == notify.SMSChannel {
		v.AccountSID = cfg.AccountSID
		return v
	}
	if st, err := email.ParseURL(cfg.SMTPURL); err == nil {
		v.Host, v.Username, v.Security = st.Host+":"+strconv.Itoa(st.Port), st.Username, smtpSecurity(st)
	}
	return v
}

func (a *App) deploymentChannelView(channel string) channelView {
	info := a.emailInfo()
	if channel == notify.SMSChannel {
		info = a.smsInfo()
	}
	if info.Outbox {
		return channelView{Source: sourceOutbox}
	}
	v := channelView{Source: sourceDeployment, From: info.From}
	if channel == notify.EmailChannel {
		if st, err := email.ParseURL(a.cfg.SMTPURL); err == nil {
			v.Host, v.Security = st.Host+":"+strconv.Itoa(st.Port), smtpSecurity(st)
		}
	}
	return v
}

func smtpSecurity(st email.Settings) string {
	switch {
	case st.ImplicitTLS:
		return "tls"
	case st.TLS == email.TLSMandatory:
		return "starttls"
	case st.TLS == email.TLSNone:
		return "none"
	}
	return "starttls_if_offered"
}

func (a *App) handleGetChannels() gin.HandlerFunc {
	return func(c *gin.Context) {
		views, err := a.channelViews(c.Request.Context(), shopOf(c).ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, views)
	}
}

type emailChannelRequest struct {
	// SMTPURL is smtp://user:pass@host:port or smtps://…; empty keeps the
	// saved one (the form never shows it back, password and all).
	SMTPURL string `json:"smtp_url"`
	From    string `json:"from"`
}

// handlePutEmailChannel checks the relay and, if it lets us in, makes it
// the shop's: 422 invalid_channel for a bad field, 422 channel_unverified
// with the server's reason when the relay refuses; nothing saved then.
func (a *App) handlePutEmailChannel() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		var in emailChannelRequest
		if !bindBody(c, &in) {
			return
		}
		in.SMTPURL, in.From = strings.TrimSpace(in.SMTPURL), strings.TrimSpace(in.From)
		if in.SMTPURL == "" {
			cur, ok := a.savedChannelConfig(c, shop.ID, notify.EmailChannel)
			if !ok {
				return
			}
			if cur.SMTPURL == "" {
				apiError(c, http.StatusUnprocessableEntity, "invalid_channel", "smtp_url: required, such as smtp://user:password@smtp.example.com:587")
				return
			}
			in.SMTPURL = cur.SMTPURL
		}
		st, err := email.ParseURL(in.SMTPURL)
		if err != nil {
			apiError(c, http.StatusUnprocessableEntity, "invalid_channel", "smtp_url: "+strings.TrimPrefix(err.Error(), "smtp url: "))
			return
		}
		if _, err := mail.ParseAddress(in.From); err != nil {
			apiError(c, http.StatusUnprocessableEntity, "invalid_channel", "from: an address such as orders@example.com or \"Shop <orders@example.com>\"")
			return
		}
		if err := verifySMTP(ctx, st); err != nil {
			a.log.Info("shop smtp relay refused", "shop", shop.Domain, "relay", st.String(), "err", err)
			apiError(c, http.StatusUnprocessableEntity, "channel_unverified", "the SMTP server did not accept the connection: "+err.Error())
			return
		}
		cfg := models.ShopChannelConfig{SMTPURL: in.SMTPURL, From: in.From}
		a.saveShopChannel(c, shop, notify.EmailChannel, cfg, map[string]any{"host": st.Host + ":" + strconv.Itoa(st.Port), "from": in.From})
	}
}

type smsChannelRequest struct {
	AccountSID string `json:"account_sid"`
	// AuthToken empty keeps the saved one when the account is the same.
	AuthToken string `json:"auth_token"`
	From      string `json:"from"`
}

var (
	twilioAccountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	twilioServiceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	// An alphanumeric sender id: up to 11 letters, digits and spaces, not
	// only digits.
	alphaSenderID = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
)

// handlePutSMSChannel checks the Twilio account and, if its credentials
// work, makes it the shop's; errors as for email.
func (a *App) handlePutSMSChannel() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		var in smsChannelRequest
		if !bindBody(c, &in) {
			return
		}
		in.AccountSID, in.AuthToken, in.From = strings.TrimSpace(in.AccountSID), strings.TrimSpace(in.AuthToken), strings.TrimSpace(in.From)
		if !twilioAccountSID.MatchString(in.AccountSID) {
			apiError(c, http.StatusUnprocessableEntity, "invalid_channel", "account_sid: AC followed by 32 hexadecimal digits, from your Twilio console")
			return
		}
		if in.AuthToken == "" {
			cur, ok := a.savedChannelConfig(c, shop.ID, notify.SMSChannel)
			if !ok {
				return
			}
			if cur.AuthToken == "" || cur.AccountSID != in.AccountSID {
				apiError(c, http.StatusUnprocessableEntity, "invalid_channel", "auth_token: required")
				return
			}
			in.AuthToken = cur.AuthToken
		}
		if len(in.AuthToken) > 128 {
			apiError(c, http.StatusUnprocessableEntity, "invalid_channel", "auth_token: too long")
			return
		}
		if !e164.MatchString(in.From) && !twilioServiceSID.MatchString(in.From) &&
			(!alphaSenderID.MatchString(in.From) || strings.Trim(in.From, "0123456789 ") == "") {
			apiError(c, http.StatusUnprocessableEntity, "invalid_channel",
				"from: a number such as +14155550123, a Messaging Service SID (MG…) or a sender id of up to 11 letters and digits")
			return
		}
		cfg := models.ShopChannelConfig{AccountSID: in.AccountSID, AuthToken: in.AuthToken, From: in.From}
		if err := verifyTwilio(ctx, http.DefaultClient, a.twilioSettings(cfg)); err != nil {
			a.log.Info("shop twilio account refused", "shop", shop.Domain, "account", in.AccountSID, "err", err)
			apiError(c, http.StatusUnprocessableEntity, "channel_unverified", "Twilio did not accept the credentials: "+err.Error())
			return
		}
		a.saveShopChannel(c, shop, notify.SMSChannel, cfg, map[string]any{"account_sid": in.AccountSID, "from": in.From})
	}
}

// savedChannelConfig is the shop's saved configuration of channel, empty
// when there is none; false when it has answered an error.
func (a *App) savedChannelConfig(c *gin.Context, shopID uint64, channel string) (models.ShopChannelConfig, bool) {
	row, err := a.store.ShopChannel(c.Request.Context(), shopID, channel)
	if errors.Is(err, models.ErrNotFound) {
		return models.ShopChannelConfig{}, true
	}
	if err != nil {
		a.storeError(c, err)
		return models.ShopChannelConfig{}, false
	}
	cfg, err := a.store.ShopChannelConfigOf(row)
	if err != nil {
		a.storeError(c, err)
		return models.ShopChannelConfig{}, false
	}
	return cfg, true
}

// saveShopChannel stores a verified channel, audits it (detail without
// secrets) and answers its view.
func (a *App) saveShopChannel(c *gin.Context, shop models.Shop, channel string, cfg models.ShopChannelConfig, detail map[string]any) {
	row, err := a.store.SaveShopChannel(c.Request.Context(), shop.ID, channel, cfg, a.now())
	if err != nil {
		a.storeError(c, err)
		return
	}
	detail["user"] = sessionUser(c)
	a.audit(c, shop, auditChannelSave, "channel:"+channel, detail)
	c.JSON(http.StatusOK, a.shopChannelView(row))
}

// handleDeleteChannel goes back to the deployment's channel; it answers
// the channel's view either way (deleting twice is not an error).
func (a *App) handleDeleteChannel() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		channel := c.Param("channel")
		if channel != notify.EmailChannel && channel != notify.SMSChannel {
			apiError(c, http.StatusNotFound, "not_found", "channel must be email or sms")
			return
		}
		deleted, err := a.store.DeleteShopChannel(c.Request.Context(), shop.ID, channel)
		if err != nil {
			a.storeError(c, err)
			return
		}
		if deleted {
			a.audit(c, shop, auditChannelRemove, "channel:"+channel, map[string]any{"user": sessionUser(c)})
		}
		c.JSON(http.StatusOK, a.deploymentChannelView(channel))
	}
}
