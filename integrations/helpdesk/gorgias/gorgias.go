// Package gorgias is the helpdesk.Desk for Gorgias: its REST API (Basic
// auth email:api_key, 2 requests/s) for tickets, HTTP integrations and
// widgets, and the ticket webhooks an HTTP integration posts, which Gorgias
// does not sign: they carry the connection secret in a header Doorstep put
// into the integration.
package gorgias

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/internal/rest"
)

// Resource names in helpdesk.Installation.Resources.
const (
	ResourceSidebarIntegration = "integration_id"      // the GET integration the widget shows
	ResourceSyncIntegration    = "sync_integration_id" // the POST integration fired by ticket triggers
	ResourceWidget             = "widget_id"
)

// Desk is a Gorgias account. It is safe for concurrent use.
type Desk struct {
	conn helpdesk.Connection
	api  *rest.Client
}

var _ helpdesk.Desk = (*Desk)(nil)

// New builds a Desk. conn.BaseURL may be a host ("acme.gorgias.com") or a
// full base URL; Email, APIKey and Secret are required. A nil httpClient
// gets one with a 30s timeout.
func New(conn helpdesk.Connection, httpClient *http.Client) (*Desk, error) {
	base, err := helpdesk.NormalizeBaseURL(conn.BaseURL)
	if err != nil {
		return nil, err
	}
	if conn.Email == "" || conn.APIKey == "" || conn.Secret == "" {
		return nil, errors.New("gorgias: connection needs Email, APIKey and Secret")
	}
	conn.Kind, conn.BaseURL = helpdesk.Gorgias, base
	return &Desk{conn: conn, api: rest.New(base, conn.Email, conn.APIKey, httpClient)}, nil
}

// Kind returns helpdesk.Gorgias.
func (d *Desk) Kind() helpdesk.Kind { return helpdesk.Gorgias }

type ticket struct {
	ID         int64   `json:"id"`
	ExternalID *string `json:"external_id"`
	Status     string  `json:"status"`
	Subject    string  `json:"subject"`
	Updated    string  `json:"updated_datetime"`
	Customer   *struct {
		Email string `json:"email"`
	} `json:"customer"`
}

func (d *Desk) normalize(t ticket) helpdesk.Ticket {
	out := helpdesk.Ticket{
		ExternalID: strconv.FormatInt(t.ID, 10),
		Status:     status(t.Status),
		Subject:    t.Subject,
		URL:        d.conn.BaseURL + "/app/ticket/" + strconv.FormatInt(t.ID, 10),
	}
	if t.ExternalID != nil {
		out.DedupKey = *t.ExternalID
	}
	if t.Customer != nil {
		out.CustomerEmail = t.Customer.Email
	}
	if ts, err := time.Parse(time.RFC3339Nano, t.Updated); err == nil {
		out.UpdatedAt = ts.UTC()
	}
	return out
}

func status(s string) helpdesk.Status {
	switch strings.ToLower(s) {
	case "open":
		return helpdesk.StatusOpen
	case "closed":
		return helpdesk.StatusClosed
	}
	return helpdesk.StatusUnknown
}

// CreateTicket opens a ticket with one message from the customer, tagged
// with t.Tags and helpdesk.DedupTag(t.DedupKey), and t.DedupKey as the
// ticket's external_id. When a ticket with that external_id exists it is
// returned instead. Errors: helpdesk.ErrUnauthorized, *helpdesk.RateLimited,
// *helpdesk.APIError, or a wrapped network error.
func (d *Desk) CreateTicket(ctx context.Context, t helpdesk.NewTicket) (helpdesk.Ticket, error) {
	if t.CustomerEmail == "" || t.Body == "" {
		return helpdesk.Ticket{}, errors.New("gorgias: a ticket needs CustomerEmail and Body")
	}
	if t.DedupKey != "" {
		var found struct {
			Data []ticket `json:"data"`
		}
		q := url.Values{"external_id": {t.DedupKey}, "limit": {"1"}}
		if err := d.api.Do(ctx, http.MethodGet, "/api/tickets", q, nil, &found); err != nil {
			return helpdesk.Ticket{}, fmt.Errorf("gorgias: find ticket %q: %w", t.DedupKey, err)
		}
		for _, tk := range found.Data {
			if tk.ExternalID != nil && *tk.ExternalID == t.DedupKey {
				return d.withCustomer(d.normalize(tk), t), nil
			}
		}
	}
	tags := []map[string]string{}
	for _, tag := range t.Tags {
		tags = append(tags, map[string]string{"name": tag})
	}
	if t.DedupKey != "" {
		tags = append(tags, map[string]string{"name": helpdesk.DedupTag(t.DedupKey)})
	}
	customer := map[string]string{"email": t.CustomerEmail}
	if t.CustomerName != "" {
		customer["name"] = t.CustomerName
	}
	in := map[string]any{
		"customer": customer,
		"subject":  t.Subject,
		"channel":  "api",
		"via":      "api",
		"tags":     tags,
		"messages": []map[string]any{{
			"channel":    "api",
			"via":        "api",
			"from_agent": false,
			"sender":     map[string]string{"email": t.CustomerEmail},
			"subject":    t.Subject,
			"body_text":  t.Body,
			"body_html":  "<p>" + strings.ReplaceAll(html.EscapeString(t.Body), "\n", "<br>") + "</p>",
		}},
	}
	if t.DedupKey != "" {
		in["external_id"] = t.DedupKey
	}
	var created ticket
	if err := d.api.Do(ctx, http.MethodPost, "/api/tickets", nil, in, &created); err != nil {
		return helpdesk.Ticket{}, fmt.Errorf("gorgias: create ticket: %w", err)
	}
	return d.withCustomer(d.normalize(created), t), nil
}

func (d *Desk) withCustomer(tk helpdesk.Ticket, t helpdesk.NewTicket) helpdesk.Ticket {
	if tk.CustomerEmail == "" {
		tk.CustomerEmail = t.CustomerEmail
	}
	if tk.DedupKey == "" {
		tk.DedupKey = t.DedupKey
	}
	return tk
}

// ParseWebhook checks the connection secret in helpdesk.SecretHeader
// (constant time) and parses the body: a Gorgias ticket object, bare or
// under "ticket". Gorgias's body does not say whether the ticket was
// created or updated, so Type is empty. A wrong or missing secret returns
// helpdesk.ErrBadSignature.
func (d *Desk) ParseWebhook(h http.Header, body []byte) (helpdesk.TicketEvent, error) {
	if !helpdesk.VerifySecret(d.conn.Secret, h.Get(helpdesk.SecretHeader)) {
		return helpdesk.TicketEvent{}, fmt.Errorf("gorgias webhook: %w", helpdesk.ErrBadSignature)
	}
	return d.parseTicket(body)
}

func (d *Desk) parseTicket(body []byte) (helpdesk.TicketEvent, error) {
	var wrapped struct {
		Ticket *ticket `json:"ticket"`
	}
	var tk ticket
	if err := json.Unmarshal(body, &wrapped); err == nil && wrapped.Ticket != nil {
		tk = *wrapped.Ticket
	} else if err := json.Unmarshal(body, &tk); err != nil {
		return helpdesk.TicketEvent{}, fmt.Errorf("gorgias webhook: decode: %w", err)
	}
	if tk.ID == 0 {
		return helpdesk.TicketEvent{}, errors.New("gorgias webhook: body has no ticket id")
	}
	return helpdesk.TicketEvent{Ticket: d.normalize(tk)}, nil
}

// Install creates, through the REST API, the HTTP integration the sidebar
// widget reads (GET {callback}/helpdesk/gorgias/customer?email=…), a
// second HTTP integration that posts ticket-created/updated events to
// {callback}/webhooks/gorgias/{connection}, and the widget. Both
// integrations send the connection secret in helpdesk.SecretHeader. If a
// step fails, what was already created is removed before returning.
func (d *Desk) Install(ctx context.Context, req helpdesk.InstallRequest) (helpdesk.Installation, error) {
	base, err := helpdesk.NormalizeBaseURL(req.CallbackBaseURL)
	if err != nil {
		return helpdesk.Installation{}, fmt.Errorf("gorgias install: callback: %w", err)
	}
	if req.ConnectionID == "" {
		return helpdesk.Installation{}, errors.New("gorgias install: ConnectionID is empty")
	}
	headers := map[string]string{helpdesk.SecretHeader: d.conn.Secret}
	inst := helpdesk.Installation{Resources: map[string]string{}}
	fail := func(step string, err error) (helpdesk.Installation, error) {
		// Best effort: a half-installed connection would show an empty
		// widget or post events nobody reads.
		_ = d.Uninstall(context.WithoutCancel(ctx), inst)
		return helpdesk.Installation{}, fmt.Errorf("gorgias install: %s: %w", step, err)
	}

	var created struct {
		ID int64 `json:"id"`
	}
	sidebar := map[string]any{
		"name": "Doorstep",
		"type": "http",
		"http": map[string]any{
			"url":                   base + "/helpdesk/gorgias/customer?email={{ticket.customer.email}}",
			"method":                "GET",
			"headers":               headers,
			"request_content_type":  "application/json",
			"response_content_type": "application/json",
			"triggers":              map[string]bool{"ticket-created": false, "ticket-updated": false, "ticket-message-created": false},
		},
	}
	if err := d.api.Do(ctx, http.MethodPost, "/api/integrations", nil, sidebar, &created); err != nil {
		return fail("create sidebar integration", err)
	}
	inst.Resources[ResourceSidebarIntegration] = strconv.FormatInt(created.ID, 10)
	sidebarID := created.ID

	sync := map[string]any{
		"name": "Doorstep ticket sync",
		"type": "http",
		"http": map[string]any{
			"url":                   base + "/webhooks/gorgias/" + url.PathEscape(req.ConnectionID),
			"method":                "POST",
			"headers":               headers,
			"request_content_type":  "application/json",
			"response_content_type": "application/json",
			"triggers":              map[string]bool{"ticket-created": true, "ticket-updated": true, "ticket-message-created": false},
		},
	}
	created.ID = 0
	if err := d.api.Do(ctx, http.MethodPost, "/api/integrations", nil, sync, &created); err != nil {
		return fail("create sync integration", err)
	}
	inst.Resources[ResourceSyncIntegration] = strconv.FormatInt(created.ID, 10)

	widget := map[string]any{
		"context":        "ticket",
		"type":           "http",
		"integration_id": sidebarID,
		"order":          0,
		"template": map[string]any{
			"type": "wrapper",
			"widgets": []any{map[string]any{
				"type": "card", "title": "Doorstep", "path": "",
				"widgets": []any{
					map[string]any{"type": "text", "title": "Summary", "path": "summary"},
					map[string]any{"type": "list", "title": "Orders", "path": "orders"},
				},
			}},
		},
	}
	created.ID = 0
	if err := d.api.Do(ctx, http.MethodPost, "/api/widgets", nil, widget, &created); err != nil {
		return fail("create widget", err)
	}
	inst.Resources[ResourceWidget] = strconv.FormatInt(created.ID, 10)
	return inst, nil
}

// Uninstall deletes the widget and both integrations Install created.
// Objects already gone (404) are skipped; the first other error is
// returned after trying the rest.
func (d *Desk) Uninstall(ctx context.Context, inst helpdesk.Installation) error {
	var first error
	for _, r := range []struct{ key, path string }{
		{ResourceWidget, "/api/widgets/"},
		{ResourceSyncIntegration, "/api/integrations/"},
		{ResourceSidebarIntegration, "/api/integrations/"},
	} {
		id := inst.Resources[r.key]
		if id == "" {
			continue
		}
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			if first == nil {
				first = fmt.Errorf("gorgias uninstall: %s %q is not an id", r.key, id)
			}
			continue
		}
		err := d.api.Do(ctx, http.MethodDelete, r.path+id, nil, nil, nil)
		if err != nil && !errors.Is(err, helpdesk.ErrNotFound) && first == nil {
			first = fmt.Errorf("gorgias uninstall: delete %s %s: %w", r.key, id, err)
		}
	}
	return first
}
