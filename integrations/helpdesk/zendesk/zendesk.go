// Package zendesk is the helpdesk.Desk for Zendesk Support: its REST API
// (Basic auth "{email}/token:{api_token}") for tickets, webhooks signed with
// base64(HMAC-SHA256(signing secret, timestamp + body)), and the RS256 JWT
// Zendesk posts on the sidebar app's first load when signedUrls is on.
package zendesk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/internal/rest"
)

// Webhook headers Zendesk sends.
const (
	SignatureHeader = "X-Zendesk-Webhook-Signature"
	TimestampHeader = "X-Zendesk-Webhook-Signature-Timestamp"
)

// ReplayWindow is how far a webhook's signed timestamp may be from now,
// either way, before it is refused.
const ReplayWindow = 5 * time.Minute

// Setting names in helpdesk.Installation.Settings.
const (
	SettingSidebarURL   = "sidebar_url"
	SettingWebhookURL   = "webhook_url"
	SettingConnectionID = "connection_id"
)

// Desk is a Zendesk account. It is safe for concurrent use.
type Desk struct {
	conn helpdesk.Connection
	api  *rest.Client
	now  func() time.Time
}

var _ helpdesk.Desk = (*Desk)(nil)

// New builds a Desk. conn.BaseURL may be a host ("acme.zendesk.com") or a
// full base URL; Email and APIToken are required, and WebhookSecret for
// ParseWebhook to accept anything. A nil httpClient gets one with a 30s
// timeout.
func New(conn helpdesk.Connection, httpClient *http.Client) (*Desk, error) {
	base, err := helpdesk.NormalizeBaseURL(conn.BaseURL)
	if err != nil {
		return nil, err
	}
	if conn.Email == "" || conn.APIToken == "" {
		return nil, errors.New("zendesk: connection needs Email and APIToken")
	}
	conn.Kind, conn.BaseURL = helpdesk.Zendesk, base
	return &Desk{conn: conn, api: rest.New(base, conn.Email+"/token", conn.APIToken, httpClient), now: time.Now}, nil
}

// Kind returns helpdesk.Zendesk.
func (d *Desk) Kind() helpdesk.Kind { return helpdesk.Zendesk }

// flexID reads an id sent as a JSON number or string.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*f = flexID(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	*f = flexID(s)
	return nil
}

type ticket struct {
	ID             flexID  `json:"id"`
	ExternalID     *string `json:"external_id"`
	Status         string  `json:"status"`
	Subject        string  `json:"subject"`
	UpdatedAt      string  `json:"updated_at"`
	RequesterEmail string  `json:"requester_email"` // only in the webhook body template Doorstep documents
}

func (d *Desk) normalize(t ticket) helpdesk.Ticket {
	out := helpdesk.Ticket{
		ExternalID:    string(t.ID),
		Status:        status(t.Status),
		Subject:       t.Subject,
		CustomerEmail: t.RequesterEmail,
		URL:           d.conn.BaseURL + "/agent/tickets/" + string(t.ID),
	}
	if t.ExternalID != nil {
		out.DedupKey = *t.ExternalID
	}
	if ts, err := time.Parse(time.RFC3339Nano, t.UpdatedAt); err == nil {
		out.UpdatedAt = ts.UTC()
	}
	return out
}

func status(s string) helpdesk.Status {
	switch strings.ToLower(s) {
	case "new", "open":
		return helpdesk.StatusOpen
	case "pending", "hold":
		return helpdesk.StatusPending
	case "solved", "closed":
		return helpdesk.StatusClosed
	}
	return helpdesk.StatusUnknown
}

// CreateTicket opens a ticket whose first comment is t.Body as a private
// note (so Zendesk does not email the customer), requested by the
// customer, with t.DedupKey as external_id and tags t.Tags plus
// helpdesk.DedupTag(t.DedupKey). An existing ticket with that external_id
// is returned instead. Errors: helpdesk.ErrUnauthorized,
// *helpdesk.RateLimited, *helpdesk.APIError, or a wrapped network error.
func (d *Desk) CreateTicket(ctx context.Context, t helpdesk.NewTicket) (helpdesk.Ticket, error) {
	if t.CustomerEmail == "" || t.Body == "" {
		return helpdesk.Ticket{}, errors.New("zendesk: a ticket needs CustomerEmail and Body")
	}
	if t.DedupKey != "" {
		var found struct {
			Tickets []ticket `json:"tickets"`
		}
		q := url.Values{"external_id": {t.DedupKey}}
		if err := d.api.Do(ctx, http.MethodGet, "/api/v2/tickets.json", q, nil, &found); err != nil {
			return helpdesk.Ticket{}, fmt.Errorf("zendesk: find ticket %q: %w", t.DedupKey, err)
		}
		for _, tk := range found.Tickets {
			if tk.ExternalID != nil && *tk.ExternalID == t.DedupKey {
				return withRequest(d.normalize(tk), t), nil
			}
		}
	}
	tags := append([]string(nil), t.Tags...)
	if t.DedupKey != "" {
		tags = append(tags, helpdesk.DedupTag(t.DedupKey))
	}
	requester := map[string]string{"email": t.CustomerEmail}
	if t.CustomerName != "" {
		requester["name"] = t.CustomerName
	}
	tk := map[string]any{
		"subject":   t.Subject,
		"comment":   map[string]any{"body": t.Body, "public": false},
		"requester": requester,
		"tags":      tags,
	}
	if t.DedupKey != "" {
		tk["external_id"] = t.DedupKey
	}
	var created struct {
		Ticket ticket `json:"ticket"`
	}
	if err := d.api.Do(ctx, http.MethodPost, "/api/v2/tickets.json", nil, map[string]any{"ticket": tk}, &created); err != nil {
		return helpdesk.Ticket{}, fmt.Errorf("zendesk: create ticket: %w", err)
	}
	return withRequest(d.normalize(created.Ticket), t), nil
}

func withRequest(tk helpdesk.Ticket, t helpdesk.NewTicket) helpdesk.Ticket {
	if tk.CustomerEmail == "" {
		tk.CustomerEmail = t.CustomerEmail
	}
	if tk.DedupKey == "" {
		tk.DedupKey = t.DedupKey
	}
	return tk
}

// VerifyWebhook checks Zendesk's signature on a webhook: SignatureHeader
// must be base64(HMAC-SHA256(secret, TimestampHeader + body)) and the
// timestamp within ReplayWindow of now. It returns an error wrapping
// helpdesk.ErrBadSignature otherwise; an empty secret never verifies.
func VerifyWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	bad := func(why string) error { return fmt.Errorf("zendesk webhook: %s: %w", why, helpdesk.ErrBadSignature) }
	if secret == "" {
		return bad("no signing secret configured")
	}
	ts, sig := h.Get(TimestampHeader), h.Get(SignatureHeader)
	if ts == "" || sig == "" {
		return bad("missing signature or timestamp")
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return bad("signature is not base64")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return bad("signature mismatch")
	}
	// Checked after the signature, so an attacker learns nothing about the
	// window from a forged request; the timestamp is trusted because it is
	// signed.
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return bad("timestamp " + strconv.Quote(ts) + " is not RFC 3339")
	}
	if d := now.Sub(at); d > ReplayWindow || d < -ReplayWindow {
		return bad("timestamp " + ts + " outside the replay window")
	}
	return nil
}

// ParseWebhook verifies the delivery (VerifyWebhook with the connection's
// WebhookSecret and the current time) and parses either a ticket event
// subscription body ({"type":"zen:event-type:ticket.…","detail":{…}}),
// whose requester is an id only so CustomerEmail is empty, or the trigger
// body Doorstep documents ({"ticket":{"id","status","subject",
// "requester_email","updated_at"}}).
func (d *Desk) ParseWebhook(h http.Header, body []byte) (helpdesk.TicketEvent, error) {
	if err := VerifyWebhook(d.conn.WebhookSecret, h, body, d.now()); err != nil {
		return helpdesk.TicketEvent{}, err
	}
	var in struct {
		Type   string  `json:"type"`
		Detail *ticket `json:"detail"`
		Ticket *ticket `json:"ticket"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return helpdesk.TicketEvent{}, fmt.Errorf("zendesk webhook: decode: %w", err)
	}
	var ev helpdesk.TicketEvent
	switch {
	case in.Detail != nil:
		if !strings.HasPrefix(in.Type, "zen:event-type:ticket.") {
			return helpdesk.TicketEvent{}, fmt.Errorf("zendesk webhook: event type %q is not a ticket event", in.Type)
		}
		ev.Ticket = d.normalize(*in.Detail)
		ev.Type = helpdesk.EventUpdated
		if in.Type == "zen:event-type:ticket.created" {
			ev.Type = helpdesk.EventCreated
		}
	case in.Ticket != nil:
		ev.Ticket = d.normalize(*in.Ticket)
	default:
		return helpdesk.TicketEvent{}, errors.New("zendesk webhook: body has neither detail nor ticket")
	}
	if ev.Ticket.ExternalID == "" {
		return helpdesk.TicketEvent{}, errors.New("zendesk webhook: body has no ticket id")
	}
	return ev, nil
}

// Install creates nothing in Zendesk: the merchant installs the ZAF
// sidebar app from extensions/ and a webhook. It returns the values for
// the app's settings and the webhook's endpoint.
func (d *Desk) Install(_ context.Context, req helpdesk.InstallRequest) (helpdesk.Installation, error) {
	base, err := helpdesk.NormalizeBaseURL(req.CallbackBaseURL)
	if err != nil {
		return helpdesk.Installation{}, fmt.Errorf("zendesk install: callback: %w", err)
	}
	if req.ConnectionID == "" {
		return helpdesk.Installation{}, errors.New("zendesk install: ConnectionID is empty")
	}
	return helpdesk.Installation{Settings: map[string]string{
		SettingSidebarURL:   base + "/helpdesk/zendesk/sidebar",
		SettingWebhookURL:   base + "/webhooks/zendesk/" + url.PathEscape(req.ConnectionID),
		SettingConnectionID: req.ConnectionID,
	}}, nil
}

// Uninstall has nothing to remove: the merchant uninstalls the app.
func (d *Desk) Uninstall(context.Context, helpdesk.Installation) error { return nil }
