// Package freshdesk is the helpdesk.Desk for Freshdesk: its API v2 (Basic
// auth api_key:X) for tickets, and the ticket webhooks an automation rule
// posts, which Freshdesk does not sign: the rule sends the connection
// secret in a header.
//
// Freshdesk tickets have no external id field Doorstep can set without the
// merchant creating a custom field, so a ticket's dedup key is carried as a
// tag (helpdesk.DedupTag) and found again among the customer's recent
// tickets.
package freshdesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/internal/rest"
)

// Setting names in helpdesk.Installation.Settings.
const (
	SettingDoorstepURL   = "doorstep_url"   // the FDK app's base URL for its request templates
	SettingDoorstepKey   = "doorstep_key"   // the secret the app and the rule send in helpdesk.SecretHeader
	SettingWebhookURL    = "webhook_url"    // the automation rule's "Trigger webhook" URL
	SettingWebhookHeader = "webhook_header" // the header name the rule sends the key in
	SettingWebhookBody   = "webhook_body"   // the rule's JSON body, with Freshdesk placeholders
)

// WebhookBody is the automation-rule body Doorstep asks merchants to use;
// ParseWebhook reads it.
const WebhookBody = `{"freshdesk_webhook":{"ticket_id":"{{ticket.id}}","ticket_subject":"{{ticket.subject}}",` +
	`"ticket_status":"{{ticket.status}}","ticket_contact_email":"{{ticket.contact.email}}",` +
	`"ticket_tags":"{{ticket.tags}}","ticket_url":"{{ticket.url}}"}}`

// Freshdesk's numeric ticket statuses and priority.
const (
	statusOpen     = 2
	statusPending  = 3
	statusResolved = 4
	statusClosed   = 5
	priorityLow    = 1
)

// Desk is a Freshdesk account. It is safe for concurrent use.
type Desk struct {
	conn helpdesk.Connection
	api  *rest.Client
}

var _ helpdesk.Desk = (*Desk)(nil)

// New builds a Desk. conn.BaseURL may be a host ("acme.freshdesk.com") or
// a full base URL; APIKey and Secret are required. A nil httpClient gets
// one with a 30s timeout.
func New(conn helpdesk.Connection, httpClient *http.Client) (*Desk, error) {
	base, err := helpdesk.NormalizeBaseURL(conn.BaseURL)
	if err != nil {
		return nil, err
	}
	if conn.APIKey == "" || conn.Secret == "" {
		return nil, errors.New("freshdesk: connection needs APIKey and Secret")
	}
	conn.Kind, conn.BaseURL = helpdesk.Freshdesk, base
	return &Desk{conn: conn, api: rest.New(base, conn.APIKey, "X", httpClient)}, nil
}

// Kind returns helpdesk.Freshdesk.
func (d *Desk) Kind() helpdesk.Kind { return helpdesk.Freshdesk }

type ticket struct {
	ID        int64    `json:"id"`
	Subject   string   `json:"subject"`
	Status    int      `json:"status"`
	Tags      []string `json:"tags"`
	UpdatedAt string   `json:"updated_at"`
}

func (d *Desk) url(id string) string { return d.conn.BaseURL + "/a/tickets/" + id }

func (d *Desk) normalize(t ticket, nt helpdesk.NewTicket) helpdesk.Ticket {
	id := strconv.FormatInt(t.ID, 10)
	out := helpdesk.Ticket{
		ExternalID:    id,
		CustomerEmail: nt.CustomerEmail, // Freshdesk answers with requester_id only
		Status:        statusNumber(t.Status),
		Subject:       t.Subject,
		URL:           d.url(id),
		DedupKey:      nt.DedupKey,
	}
	if ts, err := time.Parse(time.RFC3339Nano, t.UpdatedAt); err == nil {
		out.UpdatedAt = ts.UTC()
	}
	return out
}

func statusNumber(n int) helpdesk.Status {
	switch {
	case n == statusOpen:
		return helpdesk.StatusOpen
	case n == statusResolved, n == statusClosed:
		return helpdesk.StatusClosed
	case n == statusPending, n > statusClosed: // custom statuses ("Waiting on Customer" …) wait on someone
		return helpdesk.StatusPending
	}
	return helpdesk.StatusUnknown
}

func statusName(s string) helpdesk.Status {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return statusNumber(n)
	}
	switch s = strings.ToLower(strings.TrimSpace(s)); {
	case s == "open":
		return helpdesk.StatusOpen
	case s == "resolved", s == "closed":
		return helpdesk.StatusClosed
	case s == "pending", strings.HasPrefix(s, "waiting"):
		return helpdesk.StatusPending
	}
	return helpdesk.StatusUnknown
}

// CreateTicket opens an Open, low-priority ticket from the customer with
// t.Body as its description, tagged t.Tags plus helpdesk.DedupTag(
// t.DedupKey). Before creating, it lists the customer's most recent tickets
// (newest first, one page of 100) and returns one already carrying that
// tag. Errors: helpdesk.ErrUnauthorized, *helpdesk.RateLimited,
// *helpdesk.APIError, or a wrapped network error.
func (d *Desk) CreateTicket(ctx context.Context, t helpdesk.NewTicket) (helpdesk.Ticket, error) {
	if t.CustomerEmail == "" || t.Body == "" || t.Subject == "" {
		return helpdesk.Ticket{}, errors.New("freshdesk: a ticket needs CustomerEmail, Subject and Body")
	}
	tags := slices.Clone(t.Tags)
	if t.DedupKey != "" {
		tag := helpdesk.DedupTag(t.DedupKey)
		tags = append(tags, tag)
		var recent []ticket
		q := url.Values{"email": {t.CustomerEmail}, "order_by": {"created_at"}, "order_type": {"desc"}, "per_page": {"100"}}
		if err := d.api.Do(ctx, http.MethodGet, "/api/v2/tickets", q, nil, &recent); err != nil {
			return helpdesk.Ticket{}, fmt.Errorf("freshdesk: find ticket %q: %w", t.DedupKey, err)
		}
		for _, tk := range recent {
			if slices.Contains(tk.Tags, tag) {
				return d.normalize(tk, t), nil
			}
		}
	}
	in := map[string]any{
		"email":       t.CustomerEmail,
		"subject":     t.Subject,
		"description": "<p>" + strings.ReplaceAll(html.EscapeString(t.Body), "\n", "<br>") + "</p>",
		"status":      statusOpen,
		"priority":    priorityLow,
		"tags":        tags,
	}
	if t.CustomerName != "" {
		in["name"] = t.CustomerName
	}
	var created ticket
	if err := d.api.Do(ctx, http.MethodPost, "/api/v2/tickets", nil, in, &created); err != nil {
		return helpdesk.Ticket{}, fmt.Errorf("freshdesk: create ticket: %w", err)
	}
	return d.normalize(created, t), nil
}

// ParseWebhook checks the connection secret in helpdesk.SecretHeader
// (constant time) and parses the WebhookBody shape, wrapped in
// "freshdesk_webhook" or not. Freshdesk's placeholders give no update time,
// so UpdatedAt is zero, and the rule fires on what the merchant chose, so
// Type is empty. A wrong or missing secret returns helpdesk.ErrBadSignature.
func (d *Desk) ParseWebhook(h http.Header, body []byte) (helpdesk.TicketEvent, error) {
	if !helpdesk.VerifySecret(d.conn.Secret, h.Get(helpdesk.SecretHeader)) {
		return helpdesk.TicketEvent{}, fmt.Errorf("freshdesk webhook: %w", helpdesk.ErrBadSignature)
	}
	type fields struct {
		ID      json.Number `json:"ticket_id"`
		Subject string      `json:"ticket_subject"`
		Status  string      `json:"ticket_status"`
		Email   string      `json:"ticket_contact_email"`
		Tags    string      `json:"ticket_tags"`
		URL     string      `json:"ticket_url"`
	}
	var in struct {
		Wrapped *fields `json:"freshdesk_webhook"`
		fields
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return helpdesk.TicketEvent{}, fmt.Errorf("freshdesk webhook: decode: %w", err)
	}
	f := in.fields
	if in.Wrapped != nil {
		f = *in.Wrapped
	}
	id := strings.TrimSpace(f.ID.String())
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return helpdesk.TicketEvent{}, fmt.Errorf("freshdesk webhook: ticket_id %q is not a ticket id", id)
	}
	tk := helpdesk.Ticket{
		ExternalID:    id,
		CustomerEmail: f.Email,
		Status:        statusName(f.Status),
		Subject:       f.Subject,
		URL:           d.url(id), // built, not taken from the body: it points at this account
	}
	return helpdesk.TicketEvent{Ticket: tk}, nil
}

// Install creates nothing in Freshdesk: the merchant installs the FDK
// sidebar app from extensions/ and adds an automation rule. It returns the
// values for the app's installation parameters and the rule's webhook.
func (d *Desk) Install(_ context.Context, req helpdesk.InstallRequest) (helpdesk.Installation, error) {
	base, err := helpdesk.NormalizeBaseURL(req.CallbackBaseURL)
	if err != nil {
		return helpdesk.Installation{}, fmt.Errorf("freshdesk install: callback: %w", err)
	}
	if req.ConnectionID == "" {
		return helpdesk.Installation{}, errors.New("freshdesk install: ConnectionID is empty")
	}
	return helpdesk.Installation{Settings: map[string]string{
		SettingDoorstepURL:   base,
		SettingDoorstepKey:   d.conn.Secret,
		SettingWebhookURL:    base + "/webhooks/freshdesk/" + url.PathEscape(req.ConnectionID),
		SettingWebhookHeader: helpdesk.SecretHeader,
		SettingWebhookBody:   WebhookBody,
	}}, nil
}

// Uninstall has nothing to remove: the merchant uninstalls the app and
// deletes the rule.
func (d *Desk) Uninstall(context.Context, helpdesk.Installation) error { return nil }
