package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// InsertDelivery stores a received webhook with one INSERT. It returns false
// (and no error) when the same (platform, shop, topic, event id) is already
// stored: the duplicate is acknowledged without doing anything.
func (s *Store) InsertDelivery(ctx context.Context, d *Delivery) (bool, error) {
	if d.Status == "" {
		d.Status = DeliveryReceived
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = time.Now().UTC()
	}
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(d)
	if res.Error != nil {
		return false, fmt.Errorf("insert delivery: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Delivery returns one delivery, or ErrNotFound.
func (s *Store) Delivery(ctx context.Context, id uint64) (Delivery, error) {
	var d Delivery
	if err := s.db.WithContext(ctx).Take(&d, id).Error; err != nil {
		return Delivery{}, fmt.Errorf("delivery %d: %w", id, notFound(err))
	}
	return d, nil
}

// PendingDelivery is what the dispatcher needs to hand a delivery over.
type PendingDelivery struct {
	ID           uint64
	Attempts     int
	ReceivedAt   time.Time
	DispatchedAt *time.Time
}

// PendingDeliveries lists deliveries that still need processing and were
// never handed to the queue, or were handed over before dispatchedBefore.
func (s *Store) PendingDeliveries(ctx context.Context, dispatchedBefore time.Time, limit int) ([]PendingDelivery, error) {
	var out []PendingDelivery
	err := s.db.WithContext(ctx).Model(&Delivery{}).Select("id", "attempts", "received_at", "dispatched_at").
		Where("status = ? AND (dispatched_at IS NULL OR dispatched_at < ?)", DeliveryReceived, dispatchedBefore).
		Order("id").Limit(limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("pending deliveries: %w", err)
	}
	return out, nil
}

// PendingDeliveryIDs lists deliveries that still need processing and were
// never handed to the queue, or were handed over before dispatchedBefore
// (Redis may have lost them: re-dispatching is harmless because the task id
// is the delivery id and processing is idempotent).
func (s *Store) PendingDeliveryIDs(ctx context.Context, dispatchedBefore time.Time, limit int) ([]uint64, error) {
	pending, err := s.PendingDeliveries(ctx, dispatchedBefore, limit)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(pending))
	for i, p := range pending {
		ids[i] = p.ID
	}
	return ids, nil
}

// MarkDeliveriesDispatched records that the deliveries were enqueued.
func (s *Store) MarkDeliveriesDispatched(ctx context.Context, ids []uint64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Model(&Delivery{}).Where("id IN ? AND status = ?", ids, DeliveryReceived).
		Update("dispatched_at", at.UTC()).Error
	if err != nil {
		return fmt.Errorf("mark dispatched: %w", err)
	}
	return nil
}

// FailDelivery marks a delivery failed with the reason; it stays stored so a
// fixed parser can replay it.
func (s *Store) FailDelivery(ctx context.Context, id uint64, reason string) error {
	if len(reason) > 4000 {
		reason = reason[:4000]
	}
	err := s.db.WithContext(ctx).Model(&Delivery{}).Where("id = ?", id).Updates(map[string]any{
		"status": DeliveryFailed, "error": reason, "attempts": gorm.Expr("attempts + 1"),
	}).Error
	if err != nil {
		return fmt.Errorf("fail delivery %d: %w", id, err)
	}
	return nil
}

// LockDelivery re-reads the delivery inside the transaction, locked, so two
// workers given the same delivery (a re-dispatch racing the original) apply
// it once: the second sees it already processed.
func (tx *Tx) LockDelivery(id uint64) (Delivery, error) {
	var d Delivery
	if err := forUpdate(tx.db, tx.pg).Take(&d, id).Error; err != nil {
		return Delivery{}, fmt.Errorf("lock delivery %d: %w", id, notFound(err))
	}
	return d, nil
}

// ShopByDomain reads the shop inside the transaction; ErrNotFound if none.
func (tx *Tx) ShopByDomain(platform, domain string) (Shop, error) {
	var shop Shop
	if err := tx.db.Where("platform = ? AND domain = ?", platform, domain).Take(&shop).Error; err != nil {
		return Shop{}, fmt.Errorf("shop %s: %w", domain, notFound(err))
	}
	return shop, nil
}

// AsyncCommit lets this transaction's commit return before its WAL record
// is flushed (PostgreSQL's synchronous_commit = off, for this transaction
// only). Use it only where losing the last few hundred milliseconds of
// commits in a database crash is harmless because the work is redone.
func (tx *Tx) AsyncCommit() error {
	if !tx.pg {
		return nil
	}
	return tx.db.Exec("SET LOCAL synchronous_commit TO OFF").Error
}

// FinishDelivery records the outcome of processing.
// orderPlatformID is the order it changed (0 if none), for timelines.
func (tx *Tx) FinishDelivery(id, shopID uint64, orderPlatformID int64, status, reason string) error {
	err := tx.db.Model(&Delivery{}).Where("id = ?", id).Updates(map[string]any{
		"status": status, "shop_id": shopID, "error": reason, "processed_at": tx.now, "order_platform_id": orderPlatformID,
		"attempts": gorm.Expr("attempts + 1"),
	}).Error
	if err != nil {
		return fmt.Errorf("finish delivery %d: %w", id, err)
	}
	return nil
}

// CountDeliveries counts a shop's deliveries by status (all when status is "").
func (s *Store) CountDeliveries(ctx context.Context, shopDomain, status string) (int64, error) {
	q := s.db.WithContext(ctx).Model(&Delivery{}).Where("shop_domain = ?", shopDomain)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var n int64
	err := q.Count(&n).Error
	return n, err
}
