package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HelpdeskConnection is one shop's link to one helpdesk account (Gorgias,
// Zendesk or Freshdesk). Credentials and the per-connection secret are
// sealed like the Shopify tokens; the secret is also kept as a SHA-256 hash
// so a sidebar call or a ticket webhook, which presents only the secret,
// finds its connection by an indexed lookup (a constant-time compare with
// the opened secret then confirms it).
type HelpdeskConnection struct {
	ID      uint64 `gorm:"primaryKey"`
	ShopID  uint64 `gorm:"not null;index"`
	Kind    string `gorm:"size:16;not null"`
	BaseURL string `gorm:"size:255;not null"`
	Email   string `gorm:"size:320;not null;default:''"`
	// CredentialsEnc seals HelpdeskCredentials as JSON.
	CredentialsEnc []byte
	SecretEnc      []byte
	SecretHash     string `gorm:"size:64;not null;uniqueIndex"`
	// Zendesk's sidebar JWTs are verified with this key, given as PEM or
	// fetched from the URL when connecting.
	PublicKeyPEM string `gorm:"type:text;not null;default:''"`
	PublicKeyURL string `gorm:"size:2048;not null;default:''"`
	// Resources and Settings are what Install created or computed (JSON
	// objects of strings): the ids Uninstall removes, and the values the
	// merchant enters in the sidebar app.
	Resources string `gorm:"type:text;not null;default:'{}'"`
	Settings  string `gorm:"type:text;not null;default:'{}'"`
	// TicketReasons lists the causes Doorstep opens tickets for,
	// comma-separated (see TicketReason*); empty: none.
	TicketReasons string `gorm:"size:255;not null;default:''"`
	// Health, for the admin: the last call to the desk and the last error.
	LastCallAt     *time.Time
	LastError      string `gorm:"size:1024;not null;default:''"`
	LastErrorAt    *time.Time
	DisconnectedAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// HelpdeskCredentials are the secrets a connection calls the desk with.
type HelpdeskCredentials struct {
	APIKey        string `json:"api_key,omitempty"`        // Gorgias, Freshdesk
	APIToken      string `json:"api_token,omitempty"`      // Zendesk
	WebhookSecret string `json:"webhook_secret,omitempty"` // Zendesk's webhook signing secret
}

// The causes Doorstep opens a ticket for.
const (
	TicketReasonDelay   = "delay"          // predicted or carrier-reported delay
	TicketReasonFailed  = "failed"         // failed delivery
	TicketReasonLowDSAT = "low_dsat"       // delivery rating 1-2 with a comment
	TicketReasonReport  = "shopper_report" // "report a problem" on the tracking page
)

// AllTicketReasons is every cause, the default for a new connection.
var AllTicketReasons = []string{TicketReasonDelay, TicketReasonFailed, TicketReasonLowDSAT, TicketReasonReport}

// Active reports whether the connection is still connected.
func (c HelpdeskConnection) Active() bool { return c.DisconnectedAt == nil }

// OpensTicketsFor reports whether reason is one of the connection's.
func (c HelpdeskConnection) OpensTicketsFor(reason string) bool {
	for _, r := range strings.Split(c.TicketReasons, ",") {
		if strings.TrimSpace(r) == reason {
			return true
		}
	}
	return false
}

// Ticket is a helpdesk ticket as Doorstep keeps it, from the desk's ticket
// webhooks and from the tickets Doorstep opened. An open ticket holds its
// customer's review and NPS asks.
type Ticket struct {
	ID           uint64 `gorm:"primaryKey"`
	ShopID       uint64 `gorm:"not null;index:ix_tickets_shop_email,priority:1"`
	ConnectionID uint64 `gorm:"not null;uniqueIndex:ux_tickets_external,priority:1"`
	ExternalID   string `gorm:"size:64;not null;uniqueIndex:ux_tickets_external,priority:2"`
	// CustomerEmail is lower-cased; empty when the desk named the requester
	// by id only.
	CustomerEmail   string `gorm:"size:320;not null;default:'';index:ix_tickets_shop_email,priority:2"`
	OrderPlatformID int64  `gorm:"not null;default:0"`
	Status          string `gorm:"size:16;not null"` // open, pending, closed
	Subject         string `gorm:"size:512;not null;default:''"`
	URL             string `gorm:"size:2048;not null;default:''"`
	DedupKey        string `gorm:"size:255;not null;default:''"`
	// RemoteUpdatedAt is the desk's update time, so a late, older event
	// never overwrites a newer state.
	RemoteUpdatedAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Ticket statuses (helpdesk.Status values).
const (
	TicketOpen    = "open"
	TicketPending = "pending"
	TicketClosed  = "closed"
)

// TicketRequest is a ticket Doorstep decided to open: one per connection
// and dedup key (the cause), written before the desk is called, so a
// retried task finds it and never opens a second ticket.
type TicketRequest struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;index"`
	ConnectionID    uint64 `gorm:"not null;uniqueIndex:ux_ticket_requests_key,priority:1"`
	DedupKey        string `gorm:"size:255;not null;uniqueIndex:ux_ticket_requests_key,priority:2"`
	OrderPlatformID int64  `gorm:"not null;default:0"`
	Reason          string `gorm:"size:32;not null"`
	AlertID         uint64 `gorm:"not null;default:0"`
	Status          string `gorm:"size:16;not null"` // pending, created, failed
	ExternalID      string `gorm:"size:64;not null;default:''"`
	Attempts        int    `gorm:"not null;default:0"`
	LastError       string `gorm:"size:1024;not null;default:''"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Ticket request statuses.
const (
	TicketRequestPending = "pending"
	TicketRequestCreated = "created"
	TicketRequestFailed  = "failed"
)

// SecretHash is how a connection secret is looked up.
func SecretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func connectionAAD(shopID uint64, kind, what string) []byte {
	return []byte("helpdesk:" + strconv.FormatUint(shopID, 10) + ":" + kind + ":" + what)
}

// ErrConnectionExists is returned when the shop already has an active
// connection of that kind.
var ErrConnectionExists = errors.New("the shop already has an active connection to this helpdesk")

// CreateHelpdeskConnection stores a new connection with its sealed
// credentials and secret. One active connection per shop and kind.
func (s *Store) CreateHelpdeskConnection(ctx context.Context, c *HelpdeskConnection, creds HelpdeskCredentials, secret string) error {
	js, err := json.Marshal(creds)
	if err != nil {
		return fmt.Errorf("helpdesk credentials: %w", err)
	}
	if c.CredentialsEnc, err = s.cipher.Seal(string(js), connectionAAD(c.ShopID, c.Kind, "credentials")); err != nil {
		return fmt.Errorf("seal helpdesk credentials: %w", err)
	}
	if c.SecretEnc, err = s.cipher.Seal(secret, connectionAAD(c.ShopID, c.Kind, "secret")); err != nil {
		return fmt.Errorf("seal helpdesk secret: %w", err)
	}
	c.SecretHash = SecretHash(secret)
	if c.Resources == "" {
		c.Resources = "{}"
	}
	if c.Settings == "" {
		c.Settings = "{}"
	}
	return s.InTx(ctx, func(tx *Tx) error {
		// Lock the shop row so two concurrent connects of one kind serialize.
		var shop Shop
		if err := forUpdate(tx.db, tx.pg).Take(&shop, c.ShopID).Error; err != nil {
			return fmt.Errorf("connect helpdesk: shop %d: %w", c.ShopID, notFound(err))
		}
		var n int64
		if err := tx.db.Model(&HelpdeskConnection{}).Where("shop_id = ? AND kind = ? AND disconnected_at IS NULL", c.ShopID, c.Kind).
			Count(&n).Error; err != nil {
			return fmt.Errorf("connect helpdesk: %w", err)
		}
		if n > 0 {
			return ErrConnectionExists
		}
		if err := tx.db.Create(c).Error; err != nil {
			return fmt.Errorf("connect helpdesk: %w", err)
		}
		return nil
	})
}

// HelpdeskCredentialsOf opens a connection's credentials and secret.
func (s *Store) HelpdeskCredentialsOf(c HelpdeskConnection) (HelpdeskCredentials, string, error) {
	js, err := s.cipher.Open(c.CredentialsEnc, connectionAAD(c.ShopID, c.Kind, "credentials"))
	if err != nil {
		return HelpdeskCredentials{}, "", fmt.Errorf("open helpdesk credentials %d: %w", c.ID, err)
	}
	var creds HelpdeskCredentials
	if err := json.Unmarshal([]byte(js), &creds); err != nil {
		return HelpdeskCredentials{}, "", fmt.Errorf("helpdesk credentials %d: %w", c.ID, err)
	}
	secret, err := s.cipher.Open(c.SecretEnc, connectionAAD(c.ShopID, c.Kind, "secret"))
	if err != nil {
		return HelpdeskCredentials{}, "", fmt.Errorf("open helpdesk secret %d: %w", c.ID, err)
	}
	return creds, secret, nil
}

// UpdateHelpdeskCredentials replaces a connection's sealed credentials (the
// Zendesk webhook secret is entered after connecting).
func (s *Store) UpdateHelpdeskCredentials(ctx context.Context, c HelpdeskConnection, creds HelpdeskCredentials) error {
	js, err := json.Marshal(creds)
	if err != nil {
		return fmt.Errorf("helpdesk credentials: %w", err)
	}
	enc, err := s.cipher.Seal(string(js), connectionAAD(c.ShopID, c.Kind, "credentials"))
	if err != nil {
		return fmt.Errorf("seal helpdesk credentials: %w", err)
	}
	return s.db.WithContext(ctx).Model(&HelpdeskConnection{}).Where("id = ?", c.ID).Update("credentials_enc", enc).Error
}

// HelpdeskConnectionBySecret finds the active connection of a kind whose
// secret hashes to SecretHash(secret); ErrNotFound otherwise. The caller
// confirms with a constant-time compare of the opened secret.
func (s *Store) HelpdeskConnectionBySecret(ctx context.Context, kind, secret string) (HelpdeskConnection, error) {
	var c HelpdeskConnection
	err := s.db.WithContext(ctx).Where("secret_hash = ? AND kind = ? AND disconnected_at IS NULL", SecretHash(secret), kind).Take(&c).Error
	if err != nil {
		return HelpdeskConnection{}, fmt.Errorf("helpdesk connection: %w", notFound(err))
	}
	return c, nil
}

// HelpdeskConnection returns one of the shop's connections (active or not).
func (s *Store) HelpdeskConnection(ctx context.Context, shopID, id uint64) (HelpdeskConnection, error) {
	var c HelpdeskConnection
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&c).Error; err != nil {
		return HelpdeskConnection{}, fmt.Errorf("helpdesk connection %d: %w", id, notFound(err))
	}
	return c, nil
}

// HelpdeskConnectionByID returns a connection by id alone (webhook URLs
// name it; the caller then verifies the request against its secret).
func (s *Store) HelpdeskConnectionByID(ctx context.Context, id uint64) (HelpdeskConnection, error) {
	var c HelpdeskConnection
	if err := s.db.WithContext(ctx).Take(&c, id).Error; err != nil {
		return HelpdeskConnection{}, fmt.Errorf("helpdesk connection %d: %w", id, notFound(err))
	}
	return c, nil
}

// HelpdeskConnections lists a shop's active connections.
func (s *Store) HelpdeskConnections(ctx context.Context, shopID uint64) ([]HelpdeskConnection, error) {
	var out []HelpdeskConnection
	err := s.db.WithContext(ctx).Where("shop_id = ? AND disconnected_at IS NULL", shopID).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("helpdesk connections: %w", err)
	}
	return out, nil
}

// SaveHelpdeskInstallation records what Install created or computed.
func (s *Store) SaveHelpdeskInstallation(ctx context.Context, id uint64, resources, settings map[string]string) error {
	r, _ := json.Marshal(emptyIfNil(resources))
	st, _ := json.Marshal(emptyIfNil(settings))
	err := s.db.WithContext(ctx).Model(&HelpdeskConnection{}).Where("id = ?", id).
		Updates(map[string]any{"resources": string(r), "settings": string(st)}).Error
	if err != nil {
		return fmt.Errorf("save helpdesk installation %d: %w", id, err)
	}
	return nil
}

func emptyIfNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// DisconnectHelpdesk marks a connection disconnected; its tickets stop
// holding asks (OpenTicketForOrder only counts active connections).
func (s *Store) DisconnectHelpdesk(ctx context.Context, shopID, id uint64, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&HelpdeskConnection{}).Where("shop_id = ? AND id = ? AND disconnected_at IS NULL", shopID, id).
		Update("disconnected_at", at.UTC())
	if res.Error != nil {
		return fmt.Errorf("disconnect helpdesk %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("disconnect helpdesk %d: %w", id, ErrNotFound)
	}
	return nil
}

// RecordHelpdeskCall notes a call to the desk for the connection's health:
// err nil clears nothing but stamps the call; an error is kept with its time.
func (s *Store) RecordHelpdeskCall(ctx context.Context, id uint64, at time.Time, callErr error) error {
	up := map[string]any{"last_call_at": at.UTC()}
	if callErr != nil {
		up["last_error"] = truncate(callErr.Error(), 1024)
		up["last_error_at"] = at.UTC()
	}
	return s.db.WithContext(ctx).Model(&HelpdeskConnection{}).Where("id = ?", id).Updates(up).Error
}

// UpsertTicket stores a ticket event: a new ticket is inserted; a known one
// is updated unless the event is older than what is stored. It reports
// whether the stored status changed (the caller then re-checks holds).
func (s *Store) UpsertTicket(ctx context.Context, t Ticket) (changed bool, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		changed, err = tx.UpsertTicket(t)
		return err
	})
	return changed, err
}

// OpenTicketForOrder reports whether the order's customer has a ticket
// that is not closed, on an active connection of the shop: matched by the
// order's email, or by the order itself for tickets Doorstep opened.
func (s *Store) OpenTicketForOrder(ctx context.Context, shopID uint64, orderPlatformID int64) (open bool, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		open, err = tx.OpenTicketForOrder(shopID, orderPlatformID)
		return err
	})
	return open, err
}

// CustomerTickets lists a customer's tickets in the shop, newest first.
func (s *Store) CustomerTickets(ctx context.Context, shopID uint64, email string, limit int) ([]Ticket, error) {
	var out []Ticket
	err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_email = ?", shopID, strings.ToLower(strings.TrimSpace(email))).
		Order("updated_at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("customer tickets: %w", err)
	}
	return out, nil
}
