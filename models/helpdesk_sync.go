package models

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The store functions the helpdesk ticket sync needs beyond helpdesk.go:
// the webhook intake's one lookup, and the Tx versions the delivery
// processor applies a ticket event with (it works inside the delivery's
// own transaction, and SQLite has one connection, so a second transaction
// opened from inside it would wait forever).

// HelpdeskWebhookTarget returns an active connection and its shop's domain
// in one query: the intake needs both to verify a ticket webhook and to
// file its delivery under the shop. ErrNotFound if the connection does
// not exist or is disconnected.
func (s *Store) HelpdeskWebhookTarget(ctx context.Context, id uint64) (HelpdeskConnection, string, error) {
	var row struct {
		HelpdeskConnection
		ShopDomain string
	}
	res := s.db.WithContext(ctx).Table("helpdesk_connections").
		Select("helpdesk_connections.*, shops.domain AS shop_domain").
		Joins("JOIN shops ON shops.id = helpdesk_connections.shop_id").
		Where("helpdesk_connections.id = ? AND helpdesk_connections.disconnected_at IS NULL", id).
		Limit(1).Scan(&row)
	if res.Error != nil {
		return HelpdeskConnection{}, "", fmt.Errorf("helpdesk connection %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 || row.ID == 0 {
		return HelpdeskConnection{}, "", fmt.Errorf("helpdesk connection %d: %w", id, ErrNotFound)
	}
	return row.HelpdeskConnection, row.ShopDomain, nil
}

// SetHelpdeskTicketReasons replaces the causes an active connection opens
// tickets for. ErrNotFound if the shop has no such active connection.
func (s *Store) SetHelpdeskTicketReasons(ctx context.Context, shopID, id uint64, reasons []string) error {
	res := s.db.WithContext(ctx).Model(&HelpdeskConnection{}).
		Where("shop_id = ? AND id = ? AND disconnected_at IS NULL", shopID, id).
		Update("ticket_reasons", strings.Join(reasons, ","))
	if res.Error != nil {
		return fmt.Errorf("helpdesk ticket reasons %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("helpdesk ticket reasons %d: %w", id, ErrNotFound)
	}
	return nil
}

// HelpdeskConnectionByID is Store.HelpdeskConnectionByID inside a
// transaction (active or not; the caller decides).
func (tx *Tx) HelpdeskConnectionByID(id uint64) (HelpdeskConnection, error) {
	var c HelpdeskConnection
	if err := tx.db.Take(&c, id).Error; err != nil {
		return HelpdeskConnection{}, fmt.Errorf("helpdesk connection %d: %w", id, notFound(err))
	}
	return c, nil
}

// UpsertTicket is Store.UpsertTicket inside a transaction, with the same
// rules: a new ticket is inserted, a known one updated unless the event is
// older than what is stored; changed reports a new status.
func (tx *Tx) UpsertTicket(t Ticket) (changed bool, err error) {
	t.CustomerEmail = strings.ToLower(strings.TrimSpace(t.CustomerEmail))
	var cur Ticket
	e := forUpdate(tx.db, tx.pg).Where("connection_id = ? AND external_id = ?", t.ConnectionID, t.ExternalID).Take(&cur).Error
	if errors.Is(e, gorm.ErrRecordNotFound) {
		t.ID = 0
		res := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&t)
		if res.Error != nil {
			return false, fmt.Errorf("upsert ticket: %w", res.Error)
		}
		return res.RowsAffected == 1, nil
	}
	if e != nil {
		return false, fmt.Errorf("upsert ticket: %w", e)
	}
	if cur.RemoteUpdatedAt != nil && t.RemoteUpdatedAt != nil && t.RemoteUpdatedAt.Before(*cur.RemoteUpdatedAt) {
		return false, nil // a late, older event
	}
	up := map[string]any{"status": t.Status, "updated_at": tx.now}
	if t.Subject != "" {
		up["subject"] = t.Subject
	}
	if t.URL != "" {
		up["url"] = t.URL
	}
	if t.CustomerEmail != "" {
		up["customer_email"] = t.CustomerEmail
	}
	if t.RemoteUpdatedAt != nil {
		up["remote_updated_at"] = t.RemoteUpdatedAt.UTC()
	}
	if t.OrderPlatformID != 0 {
		up["order_platform_id"] = t.OrderPlatformID
	}
	if t.DedupKey != "" {
		up["dedup_key"] = t.DedupKey
	}
	if err := tx.db.Model(&Ticket{}).Where("id = ?", cur.ID).Updates(up).Error; err != nil {
		return false, fmt.Errorf("upsert ticket: %w", err)
	}
	return cur.Status != t.Status, nil
}

// ResumeHeldForTicket makes due now the held messages of every order the
// ticket stands for: the customer's orders in the shop (by email, any
// case) and the order the ticket was opened about. The sender decides
// again, so another open ticket or hold still holds them. It is
// ResumeHeld for a customer instead of an order, and returns how many
// messages it resumed.
func (tx *Tx) ResumeHeldForTicket(shopID, connectionID uint64, externalID string) (int64, error) {
	var t Ticket
	err := tx.db.Where("shop_id = ? AND connection_id = ? AND external_id = ?", shopID, connectionID, externalID).Take(&t).Error
	if err != nil {
		return 0, fmt.Errorf("resume held: ticket %s: %w", externalID, notFound(err))
	}
	if t.CustomerEmail == "" && t.OrderPlatformID == 0 {
		return 0, nil // the desk named nobody we can match
	}
	orders := tx.db.Model(&Order{}).Select("platform_id").Where("shop_id = ? AND email <> '' AND LOWER(email) = ?", shopID, t.CustomerEmail)
	q := tx.db.Model(&Message{}).Where("shop_id = ? AND status = ? AND held_since IS NOT NULL", shopID, MessageDeferred)
	switch {
	case t.CustomerEmail == "":
		q = q.Where("order_platform_id = ?", t.OrderPlatformID)
	case t.OrderPlatformID == 0:
		q = q.Where("order_platform_id IN (?)", orders)
	default:
		q = q.Where("(order_platform_id IN (?) OR order_platform_id = ?)", orders, t.OrderPlatformID)
	}
	res := q.Updates(map[string]any{"due_at": tx.now, "dispatched_at": nil})
	if res.Error != nil {
		return 0, fmt.Errorf("resume held messages: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// OpenTicketForOrder is Store.OpenTicketForOrder inside a transaction. The
// messenger decides a message inside one; on SQLite (one connection) the
// Store version called from there would wait for that transaction forever.
func (tx *Tx) OpenTicketForOrder(shopID uint64, orderPlatformID int64) (bool, error) {
	var email string
	err := tx.db.Model(&Order{}).Select("email").Where("shop_id = ? AND platform_id = ?", shopID, orderPlatformID).Scan(&email).Error
	if err != nil {
		return false, fmt.Errorf("open ticket: order: %w", err)
	}
	email = strings.ToLower(strings.TrimSpace(email))
	q := tx.db.Model(&Ticket{}).
		Joins("JOIN helpdesk_connections hc ON hc.id = tickets.connection_id AND hc.disconnected_at IS NULL").
		Where("tickets.shop_id = ? AND tickets.status <> ?", shopID, TicketClosed)
	if email != "" {
		q = q.Where("(tickets.customer_email = ? OR tickets.order_platform_id = ?)", email, orderPlatformID)
	} else {
		q = q.Where("tickets.order_platform_id = ?", orderPlatformID)
	}
	var n int64
	if err := q.Limit(1).Count(&n).Error; err != nil {
		return false, fmt.Errorf("open ticket: %w", err)
	}
	return n > 0, nil
}
