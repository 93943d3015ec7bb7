package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The store side of the tickets Doorstep opens: which alerts still need a
// ticket request, the requests themselves (one per connection and dedup
// key, written before the desk is called), and the lease a run takes on a
// request while it calls the desk, so two copies of one ticket's task
// never call at once (the desks' lookup-then-create is not atomic).

// TicketRequestCalling marks a request whose task is calling the desk
// right now. UpdatedAt is when the call began: after the caller's lease
// the run is presumed dead and another may claim the request.
const TicketRequestCalling = "calling"

// AlertLowDSAT is the alert kind raised for a delivery rating of 1 or 2
// with a comment (Subject: the order's platform id, Reason:
// FeedbackDelivery, Detail: the comment).
const AlertLowDSAT = "low_dsat"

// LowDSAT reports whether feedback is a delivery rating of 1–2 with a
// comment: the customer is unhappy and said why, so someone should answer.
func LowDSAT(f Feedback) bool {
	return f.Kind == FeedbackDelivery && f.Rating >= 1 && f.Rating <= 2 && strings.TrimSpace(f.Comment) != ""
}

// TicketDedupKey is the dedup key of Doorstep's ticket about an order for a
// reason: one ticket per order and reason, whatever alerts led to it. It
// is also the ticket's external id in the desk, so it holds no personal
// data.
func TicketDedupKey(orderPlatformID int64, reason string) string {
	return "doorstep:" + strconv.FormatInt(orderPlatformID, 10) + ":" + reason
}

// TicketCandidate is an alert that should become a ticket on a connection
// and has no ticket request there yet.
type TicketCandidate struct {
	AlertID         uint64
	ShopID          uint64
	OrderPlatformID int64
	ConnectionID    uint64
}

// AlertsAwaitingTickets finds alerts of a kind (and, when reasons is not
// empty, one of those reasons) raised since a time, for which an active
// connection of the alert's shop that opens tickets for ticketReason has
// no request for the alert's order and that reason yet. Only alerts raised
// after the connection was made count: connecting a desk must not flood
// it with the shop's history. Oldest first, at most limit.
func (s *Store) AlertsAwaitingTickets(ctx context.Context, kind string, reasons []string, ticketReason string, since time.Time, limit int) ([]TicketCandidate, error) {
	q := s.db.WithContext(ctx).Table("alerts a").
		Select("a.id AS alert_id, a.shop_id, a.order_platform_id, hc.id AS connection_id").
		Joins("JOIN helpdesk_connections hc ON hc.shop_id = a.shop_id AND hc.disconnected_at IS NULL AND hc.created_at <= a.created_at").
		Where("a.kind = ? AND a.created_at >= ? AND a.order_platform_id <> 0", kind, since.UTC()).
		// TicketReasons is a comma-separated list; the commas around both
		// sides make "delay" not match "delay_x".
		Where("(',' || REPLACE(hc.ticket_reasons, ' ', '') || ',') LIKE ?", "%,"+ticketReason+",%").
		Where("NOT EXISTS (SELECT 1 FROM ticket_requests tr WHERE tr.connection_id = hc.id AND tr.order_platform_id = a.order_platform_id AND tr.reason = ?)", ticketReason)
	if len(reasons) > 0 {
		q = q.Where("a.reason IN ?", reasons)
	}
	var out []TicketCandidate
	if err := q.Order("a.id, hc.id").Limit(limit).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("alerts awaiting tickets: %w", err)
	}
	return out, nil
}

// RequestTicket records that Doorstep will open a ticket: r is inserted as
// pending unless the connection already has a request for r.DedupKey.
// Either way r is then the stored request; created reports whether it is
// new.
func (s *Store) RequestTicket(ctx context.Context, r *TicketRequest) (created bool, err error) {
	r.ID, r.Status, r.Attempts, r.ExternalID, r.LastError = 0, TicketRequestPending, 0, "", ""
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(r)
	if res.Error != nil {
		return false, fmt.Errorf("request ticket %s: %w", r.DedupKey, res.Error)
	}
	created = res.RowsAffected == 1
	if err := s.db.WithContext(ctx).Where("connection_id = ? AND dedup_key = ?", r.ConnectionID, r.DedupKey).Take(r).Error; err != nil {
		return created, fmt.Errorf("request ticket %s: %w", r.DedupKey, notFound(err))
	}
	return created, nil
}

// TicketRequest returns a request by id, or ErrNotFound.
func (s *Store) TicketRequest(ctx context.Context, id uint64) (TicketRequest, error) {
	var r TicketRequest
	if err := s.db.WithContext(ctx).Take(&r, id).Error; err != nil {
		return TicketRequest{}, fmt.Errorf("ticket request %d: %w", id, notFound(err))
	}
	return r, nil
}

// TicketRequestsOf lists a connection's requests, oldest first.
func (s *Store) TicketRequestsOf(ctx context.Context, connectionID uint64) ([]TicketRequest, error) {
	var out []TicketRequest
	if err := s.db.WithContext(ctx).Where("connection_id = ?", connectionID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("ticket requests: %w", err)
	}
	return out, nil
}

// ClaimTicketRequest takes the request for one call to the desk: a pending
// request, or one left "calling" for longer than lease (its run died),
// becomes "calling" as of now. claimed is false when the request is done
// (created or failed) or another run holds it; r is then the stored
// request, so the caller can tell which. ErrNotFound if there is none.
func (s *Store) ClaimTicketRequest(ctx context.Context, id uint64, now time.Time, lease time.Duration) (r TicketRequest, claimed bool, err error) {
	now = now.UTC()
	res := s.db.WithContext(ctx).Model(&TicketRequest{}).
		Where("id = ? AND (status = ? OR (status = ? AND updated_at < ?))", id, TicketRequestPending, TicketRequestCalling, now.Add(-lease)).
		Updates(map[string]any{"status": TicketRequestCalling, "updated_at": now})
	if res.Error != nil {
		return TicketRequest{}, false, fmt.Errorf("claim ticket request %d: %w", id, res.Error)
	}
	r, err = s.TicketRequest(ctx, id)
	return r, res.RowsAffected == 1 && err == nil, err
}

// ReleaseTicketRequest puts a claimed request back to pending after a call
// that may succeed later (lastErr says why); called says whether the desk
// was reached, which counts an attempt. It changes nothing unless the
// request is still "calling" (a run whose lease ran out must not undo the
// work of the run that took over).
func (s *Store) ReleaseTicketRequest(ctx context.Context, id uint64, lastErr string, called bool, now time.Time) error {
	up := map[string]any{"status": TicketRequestPending, "last_error": truncateUTF8(lastErr, 1024), "updated_at": now.UTC()}
	if called {
		up["attempts"] = gorm.Expr("attempts + 1")
	}
	return finishTicketRequest(s.db.WithContext(ctx), id, up)
}

// FailTicketRequest gives a request up for good with the reason; called
// counts an attempt. Like ReleaseTicketRequest it needs the claim.
func (s *Store) FailTicketRequest(ctx context.Context, id uint64, reason string, called bool, now time.Time) error {
	up := map[string]any{"status": TicketRequestFailed, "last_error": truncateUTF8(reason, 1024), "updated_at": now.UTC()}
	if called {
		up["attempts"] = gorm.Expr("attempts + 1")
	}
	return finishTicketRequest(s.db.WithContext(ctx), id, up)
}

// ErrTicketRequestNotClaimed is returned when a run finishes a request it
// no longer holds.
var ErrTicketRequestNotClaimed = errors.New("ticket request is not claimed by this run")

func finishTicketRequest(db *gorm.DB, id uint64, up map[string]any) error {
	res := db.Model(&TicketRequest{}).Where("id = ? AND status = ?", id, TicketRequestCalling).Updates(up)
	if res.Error != nil {
		return fmt.Errorf("finish ticket request %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("finish ticket request %d: %w", id, ErrTicketRequestNotClaimed)
	}
	return nil
}

// CompleteTicketRequest marks a claimed request created with the desk's
// ticket and stores the ticket, in one transaction: a request is never
// "created" without its ticket row, which is what holds the order's review
// and NPS asks while the ticket is open.
func (s *Store) CompleteTicketRequest(ctx context.Context, id uint64, t Ticket, now time.Time) error {
	return s.InTxAt(ctx, now, func(tx *Tx) error {
		up := map[string]any{"status": TicketRequestCreated, "external_id": t.ExternalID, "last_error": "",
			"attempts": gorm.Expr("attempts + 1"), "updated_at": now.UTC()}
		if err := finishTicketRequest(tx.db, id, up); err != nil {
			return err
		}
		_, err := tx.UpsertTicket(t)
		return err
	})
}

// StaleTicketRequests lists requests whose task may be lost: pending and
// untouched since pendingBefore, or "calling" since callingBefore (the run
// died). Requests older than since are left alone. Oldest first.
func (s *Store) StaleTicketRequests(ctx context.Context, pendingBefore, callingBefore, since time.Time, limit int) ([]TicketRequest, error) {
	var out []TicketRequest
	err := s.db.WithContext(ctx).
		Where("created_at >= ? AND ((status = ? AND updated_at < ?) OR (status = ? AND updated_at < ?))",
			since.UTC(), TicketRequestPending, pendingBefore.UTC(), TicketRequestCalling, callingBefore.UTC()).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("stale ticket requests: %w", err)
	}
	return out, nil
}

// OrderAlerts lists an order's alerts of a kind (and one of reasons, when
// given), oldest first: what a ticket about them tells the agent.
func (s *Store) OrderAlerts(ctx context.Context, shopID uint64, orderPlatformID int64, kind string, reasons []string) ([]Alert, error) {
	q := s.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id = ? AND kind = ?", shopID, orderPlatformID, kind)
	if len(reasons) > 0 {
		q = q.Where("reason IN ?", reasons)
	}
	var out []Alert
	if err := q.Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("order alerts: %w", err)
	}
	return out, nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character
// (PostgreSQL refuses invalid UTF-8, and a comment may be 5,000 runes).
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
