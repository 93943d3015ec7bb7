package jobs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/freshdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/gorgias"
	"github.com/doorstep/doorstep/integrations/helpdesk/zendesk"
	"github.com/doorstep/doorstep/models"
)

// Ticket sync: a helpdesk's ticket webhooks are stored by the intake as
// deliveries whose Platform is the helpdesk's kind, WebhookID the
// connection id, and Topic TopicTicket. delivery:process applies them here,
// in the delivery's transaction: the ticket is upserted (older events never
// win), and a ticket that just closed makes its customer's held review and
// NPS asks due now, so the sender decides again at once instead of at the
// next hourly recheck.

// TopicTicket is the topic of every ticket-webhook delivery.
const TopicTicket = "ticket"

// IsHelpdeskPlatform reports whether a delivery's platform is a helpdesk
// (its body is a ticket event, not a commerce webhook).
func IsHelpdeskPlatform(platform string) bool {
	switch helpdesk.Kind(platform) {
	case helpdesk.Gorgias, helpdesk.Zendesk, helpdesk.Freshdesk:
		return true
	}
	return false
}

// NewDesk builds the client for a connection from its opened credentials
// and secret. A nil httpClient gets the client's default (30 s timeout).
func NewDesk(c models.HelpdeskConnection, creds models.HelpdeskCredentials, secret string, httpClient *http.Client) (helpdesk.Desk, error) {
	conn := helpdesk.Connection{
		Kind: helpdesk.Kind(c.Kind), BaseURL: c.BaseURL, Email: c.Email,
		APIKey: creds.APIKey, APIToken: creds.APIToken, WebhookSecret: creds.WebhookSecret, Secret: secret,
	}
	switch conn.Kind {
	case helpdesk.Gorgias:
		return gorgias.New(conn, httpClient)
	case helpdesk.Zendesk:
		return zendesk.New(conn, httpClient)
	case helpdesk.Freshdesk:
		return freshdesk.New(conn, httpClient)
	}
	return nil, fmt.Errorf("helpdesk kind %q is not supported", c.Kind)
}

// OpenDesk opens a stored connection's credentials and builds its client.
func OpenDesk(store *models.Store, c models.HelpdeskConnection, httpClient *http.Client) (helpdesk.Desk, error) {
	creds, secret, err := store.HelpdeskCredentialsOf(c)
	if err != nil {
		return nil, err
	}
	return NewDesk(c, creds, secret, httpClient)
}

// StoreTickets is the messenger's TicketChecker over the tickets table.
type StoreTickets struct{ Store *models.Store }

// OpenTicket reports whether the order's customer has a ticket that is not
// closed on one of the shop's active connections.
func (s StoreTickets) OpenTicket(ctx context.Context, tx *models.Tx, shopID uint64, orderPlatformID int64) (bool, error) {
	if tx != nil {
		return tx.OpenTicketForOrder(shopID, orderPlatformID)
	}
	return s.Store.OpenTicketForOrder(ctx, shopID, orderPlatformID)
}

// ticketEvent is a ticket delivery parsed and waiting to be applied.
type ticketEvent struct {
	conn models.HelpdeskConnection
	ev   helpdesk.TicketEvent
}

// prepareTicket is prepare for a helpdesk delivery: find its connection
// and parse the body with the connection's desk. Like prepare, it decides
// the outcomes that need no writes and returns an error only for a
// database problem worth a retry.
func (p *Processor) prepareTicket(tx *models.Tx, d models.Delivery, log *slog.Logger) (prepared, error) {
	pr := prepared{d: d, out: models.DeliveryOutcome{ID: d.ID}}
	id, err := strconv.ParseUint(d.WebhookID, 10, 64)
	if err != nil {
		pr.out.Status, pr.out.Reason = models.DeliveryFailed, fmt.Sprintf("ticket delivery names no connection (%q)", d.WebhookID)
		return pr, nil
	}
	conn, err := tx.HelpdeskConnectionByID(id)
	if errors.Is(err, models.ErrNotFound) {
		pr.out.Status, pr.out.Reason = models.DeliveryIgnored, "unknown helpdesk connection"
		return pr, nil
	}
	if err != nil {
		return pr, err
	}
	pr.shop.ID, pr.out.ShopID = conn.ShopID, conn.ShopID
	if !conn.Active() || conn.Kind != d.Platform {
		// Disconnected since the webhook arrived: its tickets no longer
		// hold anything, so there is nothing to keep.
		log.Info("ticket delivery for a disconnected helpdesk ignored", "connection", conn.ID)
		pr.out.Status, pr.out.Reason = models.DeliveryIgnored, "helpdesk disconnected"
		return pr, nil
	}
	creds, secret, err := p.store.HelpdeskCredentialsOf(conn)
	if err != nil {
		pr.out.Status, pr.out.Reason = models.DeliveryFailed, err.Error()
		return pr, nil
	}
	desk, err := NewDesk(conn, creds, secret, nil)
	if err != nil {
		pr.out.Status, pr.out.Reason = models.DeliveryFailed, err.Error()
		return pr, nil
	}
	ev, err := desk.ParseWebhook(storedTicketHeaders(conn.Kind, creds, secret, d.Body, time.Now()), d.Body)
	if err != nil {
		log.Warn("ticket delivery does not parse", "err", err)
		pr.out.Status, pr.out.Reason = models.DeliveryFailed, "parse: "+err.Error()
		return pr, nil
	}
	pr.ticket = &ticketEvent{conn: conn, ev: ev}
	pr.out.Status = models.DeliveryProcessed
	return pr, nil
}

// storedTicketHeaders authenticates a stored body for the desk's
// ParseWebhook. The intake verified the delivery before storing it, but
// the clients only parse what verifies, and the original headers are not
// stored (a Zendesk signature also expires after its replay window, so a
// retried delivery would never parse again). So the body is presented
// with the connection's own secret, or re-signed now for Zendesk.
func storedTicketHeaders(kind string, creds models.HelpdeskCredentials, secret string, body []byte, now time.Time) http.Header {
	h := http.Header{}
	if helpdesk.Kind(kind) == helpdesk.Zendesk {
		ts := now.UTC().Format(time.RFC3339)
		m := hmac.New(sha256.New, []byte(creds.WebhookSecret))
		m.Write([]byte(ts))
		m.Write(body)
		h.Set(zendesk.TimestampHeader, ts)
		h.Set(zendesk.SignatureHeader, base64.StdEncoding.EncodeToString(m.Sum(nil)))
		return h
	}
	h.Set(helpdesk.SecretHeader, secret)
	return h
}

// applyTicket stores a parsed ticket event and, when the ticket has just
// closed, resumes the asks it held.
func applyTicket(tx *models.Tx, t *ticketEvent) error {
	tk := t.ev.Ticket
	status := string(tk.Status)
	if tk.Status == helpdesk.StatusUnknown {
		// A status the client does not map (a Gorgias snooze, a renamed
		// Zendesk status) keeps holding: asking for a review in the middle
		// of a conversation is the mistake to avoid.
		status = models.TicketOpen
	}
	row := models.Ticket{
		ShopID: t.conn.ShopID, ConnectionID: t.conn.ID, ExternalID: tk.ExternalID,
		CustomerEmail: tk.CustomerEmail, Status: status, Subject: truncateRunes(tk.Subject, 512),
		URL: tk.URL, DedupKey: tk.DedupKey,
	}
	if !tk.UpdatedAt.IsZero() {
		at := tk.UpdatedAt.UTC()
		row.RemoteUpdatedAt = &at
	}
	changed, err := tx.UpsertTicket(row)
	if err != nil {
		return err
	}
	if !changed || status != models.TicketClosed {
		return nil
	}
	_, err = tx.ResumeHeldForTicket(t.conn.ShopID, t.conn.ID, tk.ExternalID)
	return err
}

// truncateRunes cuts s to at most n bytes without splitting a character.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
