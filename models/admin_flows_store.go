package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// LatestOrderIDs returns the platform ids of the shop's newest order and
// of its newest order with a shipment (0 when there is none): what the
// admin's template preview renders against.
func (s *Store) LatestOrderIDs(ctx context.Context, shopID uint64) (latest, shipped int64, err error) {
	db := s.db.WithContext(ctx)
	if latest, err = newestOrder(db.Where("orders.shop_id = ?", shopID)); err != nil {
		return 0, 0, fmt.Errorf("latest order: %w", err)
	}
	shippedQ := db.Where("orders.shop_id = ?", shopID).
		Where("EXISTS (SELECT 1 FROM fulfillments f WHERE f.shop_id = orders.shop_id AND f.order_id = orders.id)")
	if shipped, err = newestOrder(shippedQ); err != nil {
		return 0, 0, fmt.Errorf("latest shipped order: %w", err)
	}
	return latest, shipped, nil
}

func newestOrder(q *gorm.DB) (int64, error) {
	var ids []int64
	err := q.Model(&Order{}).Order("orders.platform_created_at DESC, orders.id DESC").Limit(1).Pluck("orders.platform_id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return ids[0], nil
}

// ErrRateLimited is returned when an action is over its budget.
var ErrRateLimited = errors.New("rate limited")

// WriteAuditWithin records a (the audit row is also the budget's ledger)
// unless the shop already has max rows of a.Action created at or after
// since; then it writes nothing and returns ErrRateLimited. The shop's row
// is locked meanwhile, so concurrent callers cannot both take the last
// slot. It returns the row's id.
func (s *Store) WriteAuditWithin(ctx context.Context, a AuditLog, since time.Time, max int64) (uint64, error) {
	var id uint64
	err := s.InTx(ctx, func(tx *Tx) error {
		var shop Shop
		if err := forUpdate(tx.db, tx.pg).Select("id").Take(&shop, a.ShopID).Error; err != nil {
			return fmt.Errorf("lock shop %d: %w", a.ShopID, notFound(err))
		}
		var n int64
		if err := tx.db.Model(&AuditLog{}).Where("shop_id = ? AND action = ? AND created_at >= ?", a.ShopID, a.Action, since).
			Count(&n).Error; err != nil {
			return fmt.Errorf("count audit %s: %w", a.Action, err)
		}
		if n >= max {
			return fmt.Errorf("%s: %d since %s: %w", a.Action, n, since.UTC().Format(time.RFC3339), ErrRateLimited)
		}
		a.ID = 0
		if a.CreatedAt.IsZero() {
			a.CreatedAt = tx.now
		}
		if err := tx.db.Create(&a).Error; err != nil {
			return fmt.Errorf("write audit %s %s: %w", a.Action, a.Subject, err)
		}
		id = a.ID
		return nil
	})
	return id, err
}
