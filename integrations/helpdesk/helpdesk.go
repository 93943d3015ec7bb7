// Package helpdesk is the contract between Doorstep and the helpdesks its
// support agents work in: a Connection (where the desk is and how to
// authenticate), normalized Ticket and NewTicket types, the Desk interface
// every helpdesk implements, and the typed errors callers branch on.
//
// Implementations live in subpackages (gorgias, zendesk, freshdesk);
// helpdesktest holds httptest fakes of their APIs and Conformance, the test
// every Desk passes.
package helpdesk

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Kind names a helpdesk.
type Kind string

// The helpdesks Doorstep supports.
const (
	Gorgias   Kind = "gorgias"
	Zendesk   Kind = "zendesk"
	Freshdesk Kind = "freshdesk"
)

// Connection is one merchant's link to one helpdesk account.
type Connection struct {
	Kind Kind
	// BaseURL is the desk's scheme and host, no trailing slash, e.g.
	// "https://acme.gorgias.com". Build it with NormalizeBaseURL.
	BaseURL string
	// Email is the agent login the API key belongs to (Gorgias, Zendesk).
	Email string
	// APIKey is the Gorgias or Freshdesk API key.
	APIKey string
	// APIToken is the Zendesk API token (used as "email/token:APIToken").
	APIToken string
	// Secret is Doorstep's per-connection secret: the header value Gorgias
	// and Freshdesk send with sidebar calls and ticket webhooks.
	Secret string
	// WebhookSecret is the Zendesk webhook's signing secret. Zendesk
	// generates it; the merchant copies it from the webhook's page.
	WebhookSecret string
}

// NormalizeBaseURL turns what a merchant types as the helpdesk's domain
// into a base URL: a bare host ("acme.gorgias.com", "acme.zendesk.com:443")
// gets https://; a full URL ("http://127.0.0.1:9000/") keeps its scheme and
// loses the trailing slash. Paths, queries, fragments and credentials are
// refused, so a stored base URL can only ever name a host.
func NormalizeBaseURL(domain string) (string, error) {
	d := strings.TrimSpace(domain)
	if d == "" {
		return "", errors.New("helpdesk: domain is empty")
	}
	if !strings.Contains(d, "://") {
		d = "https://" + d
	}
	u, err := url.Parse(d)
	if err != nil {
		return "", fmt.Errorf("helpdesk: domain %q: %w", domain, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("helpdesk: domain %q: scheme must be http or https", domain)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("helpdesk: domain %q has no host", domain)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return "", fmt.Errorf("helpdesk: domain %q must be a host or scheme://host[:port] only", domain)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// Status is a ticket's state, normalized across helpdesks.
type Status string

// Normalized ticket statuses. Open holds the customer's review and NPS
// asks; Closed releases them.
const (
	StatusOpen    Status = "open"    // Gorgias open; Zendesk new/open; Freshdesk Open (2)
	StatusPending Status = "pending" // waiting on the customer or a third party: Zendesk pending/hold; Freshdesk Pending (3) and custom statuses
	StatusClosed  Status = "closed"  // Gorgias closed; Zendesk solved/closed; Freshdesk Resolved (4)/Closed (5)
	StatusUnknown Status = ""
)

// Ticket is a helpdesk ticket as Doorstep keeps it.
type Ticket struct {
	ExternalID    string // the helpdesk's ticket id
	CustomerEmail string // may be empty when the desk's payload names the requester by id only
	Status        Status
	Subject       string
	UpdatedAt     time.Time // zero when the desk did not say
	URL           string    // the agent-facing page of the ticket
	DedupKey      string    // Doorstep's key for tickets it opened, when known
}

// NewTicket is a ticket Doorstep asks a helpdesk to open.
type NewTicket struct {
	CustomerEmail string
	CustomerName  string
	Subject       string
	Body          string // plain text
	// DedupKey identifies the cause (e.g. "delay:1042:fulfillment-77"); a
	// desk never opens a second ticket for the same key.
	DedupKey string
	Tags     []string
}

// EventType says what happened to a ticket, when the desk says.
type EventType string

// Event types.
const (
	EventCreated EventType = "created"
	EventUpdated EventType = "updated"
)

// TicketEvent is a verified, parsed ticket webhook.
type TicketEvent struct {
	Type   EventType
	Ticket Ticket
}

// InstallRequest says where the helpdesk should reach Doorstep.
type InstallRequest struct {
	// CallbackBaseURL is Doorstep's public base URL, e.g.
	// "https://doorstep.example.com".
	CallbackBaseURL string
	// ConnectionID names the connection in webhook URLs
	// (/webhooks/<desk>/<ConnectionID>).
	ConnectionID string
}

// Installation is what Install created or computed.
type Installation struct {
	// Resources are ids of objects created in the helpdesk, by name (Gorgias:
	// "integration_id", "widget_id"), so Uninstall can remove them.
	Resources map[string]string
	// Settings are values the merchant enters in the sidebar app's
	// installation settings (Zendesk, Freshdesk), by setting name.
	Settings map[string]string
}

// Desk is one helpdesk account, reached through its REST API.
type Desk interface {
	Kind() Kind
	// CreateTicket opens a ticket for t, or returns the one already opened
	// for t.DedupKey, so a retried task never opens two.
	CreateTicket(ctx context.Context, t NewTicket) (Ticket, error)
	// ParseWebhook verifies a ticket webhook's authentication and parses it.
	// A delivery that does not verify returns ErrBadSignature and nothing.
	ParseWebhook(h http.Header, body []byte) (TicketEvent, error)
	// Install creates (Gorgias) or describes (Zendesk, Freshdesk) what the
	// helpdesk needs to show the sidebar and send ticket events.
	Install(ctx context.Context, req InstallRequest) (Installation, error)
	// Uninstall removes what Install created; ids the desk no longer has are
	// not an error.
	Uninstall(ctx context.Context, inst Installation) error
}

// Errors returned by Desks; match with errors.Is / errors.As.
var (
	// ErrUnauthorized: the desk refused the credentials (HTTP 401/403).
	ErrUnauthorized = errors.New("helpdesk: unauthorized")
	// ErrNotFound: the desk has no such object (HTTP 404).
	ErrNotFound = errors.New("helpdesk: not found")
	// ErrBadSignature: a webhook or sidebar request failed verification.
	ErrBadSignature = errors.New("helpdesk: bad signature")
)

// RateLimited is returned for HTTP 429. The caller's queue retries after
// RetryAfter; Desks never sleep on it.
type RateLimited struct {
	RetryAfter time.Duration // zero when the desk gave no hint
}

func (e *RateLimited) Error() string {
	if e.RetryAfter > 0 {
		return "helpdesk: rate limited, retry after " + e.RetryAfter.String()
	}
	return "helpdesk: rate limited"
}

// APIError is any other non-2xx answer. Status 408 and 5xx are transient.
type APIError struct {
	Status int
	Body   string // the start of the response body, for the log
}

func (e *APIError) Error() string {
	return "helpdesk: http " + strconv.Itoa(e.Status) + ": " + e.Body
}

// Transient reports whether the same request may succeed later.
func (e *APIError) Transient() bool {
	return e.Status == http.StatusRequestTimeout || e.Status >= 500
}

// ResponseError maps a non-2xx response to ErrUnauthorized, ErrNotFound,
// *RateLimited or *APIError. The body is what the caller already read.
func ResponseError(resp *http.Response, body []byte, now time.Time) error {
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 300 {
		snippet = snippet[:300]
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: http %d: %s", ErrUnauthorized, resp.StatusCode, snippet)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, snippet)
	case http.StatusTooManyRequests:
		return &RateLimited{RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), now)}
	}
	return &APIError{Status: resp.StatusCode, Body: snippet}
}

// ParseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// VerifySecret compares a header value to the connection secret in
// constant time. An empty secret never verifies.
func VerifySecret(secret, got string) bool {
	if secret == "" || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(secret), []byte(got)) == 1
}

// SecretHeader is the header Doorstep asks Gorgias and Freshdesk to send,
// carrying the connection secret, with sidebar calls and ticket webhooks.
const SecretHeader = "X-Doorstep-Key"

// DedupTag turns a dedup key into a tag every desk accepts: "doorstep-",
// up to 40 bytes of the key with anything but lowercase letters, digits,
// '_' and '-' replaced by '_', then '-' and 12 hex digits of the key's
// SHA-256, so keys that sanitize alike still get distinct tags.
func DedupTag(key string) string {
	var b strings.Builder
	b.WriteString("doorstep-")
	n := 0
	for _, r := range strings.ToLower(key) {
		if n == 40 {
			break
		}
		n++
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(key))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:6]))
	return b.String()
}
