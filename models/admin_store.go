package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// Queries behind the admin API. Every one is scoped by the shop id from the
// authenticated session; lists page by id-based cursors (the last row's id)
// and fetch one row more than asked, so callers know whether another page
// exists without a trailing empty page.

// ErrBadCursor means a list cursor names no row of this shop (forged, or
// the row is gone).
var ErrBadCursor = errors.New("bad cursor")

// DeliveryStatuses lists every delivery status, for validating filters.
var DeliveryStatuses = []string{DeliveryReceived, DeliveryProcessed, DeliveryFailed, DeliveryIgnored}

// OrderSearch selects a page of a shop's orders, newest first (by the
// platform's creation time, then id).
type OrderSearch struct {
	// Q matches an order name ("#1001" or "1001"), a customer email (any
	// case) or a fulfillment's tracking number (any case), exactly.
	Q string
	// Limit is the page size; SearchOrders returns up to Limit+1 rows.
	Limit int
	// After is the id of the last order of the previous page (0: first page).
	After uint64
}

// SearchOrders returns up to s.Limit+1 of the shop's orders matching s, with
// their fulfillments (no events). Returns ErrBadCursor when s.After is not
// one of the shop's orders.
func (st *Store) SearchOrders(ctx context.Context, shopID uint64, s OrderSearch) ([]Order, error) {
	db := st.db.WithContext(ctx)
	q := db.Model(&Order{}).Where("orders.shop_id = ?", shopID)
	if term := strings.TrimSpace(s.Q); term != "" {
		name := strings.TrimPrefix(term, "#")
		cond := db.Where("LOWER(orders.name) = LOWER(?)", term).
			Or("LOWER(orders.name) = LOWER(?)", "#"+name).
			Or("LOWER(orders.email) = LOWER(?)", term).
			Or("EXISTS (SELECT 1 FROM fulfillments f WHERE f.shop_id = orders.shop_id AND f.order_id = orders.id"+
				" AND LOWER(f.tracking_number) = LOWER(?))", term)
		if n, err := strconv.ParseInt(name, 10, 64); err == nil && n > 0 {
			cond = cond.Or("orders.number = ?", n)
		}
		q = q.Where(cond)
	}
	if s.After != 0 {
		// Keyset on (platform_created_at, id), with the cursor row's time
		// read in SQL so it compares exactly on PostgreSQL and SQLite.
		var n int64
		if err := db.Model(&Order{}).Where("shop_id = ? AND id = ?", shopID, s.After).Count(&n).Error; err != nil {
			return nil, fmt.Errorf("search orders: cursor: %w", err)
		}
		if n == 0 {
			return nil, ErrBadCursor
		}
		at := "(SELECT c.platform_created_at FROM orders c WHERE c.shop_id = ? AND c.id = ?)"
		q = q.Where("(orders.platform_created_at < "+at+" OR (orders.platform_created_at = "+at+" AND orders.id < ?))",
			shopID, s.After, shopID, s.After, s.After)
	}
	var orders []Order
	if err := q.Order("orders.platform_created_at DESC, orders.id DESC").Limit(s.Limit + 1).Find(&orders).Error; err != nil {
		return nil, fmt.Errorf("search orders: %w", err)
	}
	if len(orders) == 0 {
		return orders, nil
	}
	ids := make([]uint64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	var fs []Fulfillment
	if err := db.Where("shop_id = ? AND order_id IN ?", shopID, ids).Order("platform_created_at, id").Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("search orders: fulfillments: %w", err)
	}
	byOrder := map[uint64][]Fulfillment{}
	for _, f := range fs {
		byOrder[f.OrderID] = append(byOrder[f.OrderID], f)
	}
	for i := range orders {
		orders[i].Fulfillments = byOrder[orders[i].ID]
	}
	return orders, nil
}

// ownDeliveries scopes a deliveries query to one shop: processed deliveries
// carry its id, unprocessed, failed and unknown-shop ones only its domain.
func ownDeliveries(db *gorm.DB, shop Shop) *gorm.DB {
	return db.Where("(deliveries.shop_id = ? OR (deliveries.platform = ? AND deliveries.shop_domain = ?))",
		shop.ID, shop.Platform, shop.Domain)
}

// deliveryColumns are what lists show: everything but the raw body (personal
// data, and large).
var deliveryColumns = []string{"id", "platform", "shop_domain", "topic", "event_id", "shop_id", "order_platform_id",
	"webhook_id", "api_version", "triggered_at", "status", "error", "attempts", "dispatched_at", "processed_at",
	"received_at", "created_at", "updated_at"}

// DeliverySearch selects a page of a shop's deliveries, newest first.
type DeliverySearch struct {
	Status string // "" for all
	Limit  int    // ListDeliveries returns up to Limit+1 rows
	After  uint64 // last id of the previous page (0: first page)
}

// ListDeliveries returns up to s.Limit+1 of the shop's deliveries, newest
// first, without their bodies.
func (st *Store) ListDeliveries(ctx context.Context, shop Shop, s DeliverySearch) ([]Delivery, error) {
	q := ownDeliveries(st.db.WithContext(ctx).Model(&Delivery{}), shop).Select(deliveryColumns)
	if s.Status != "" {
		q = q.Where("status = ?", s.Status)
	}
	if s.After != 0 {
		q = q.Where("id < ?", s.After)
	}
	var ds []Delivery
	if err := q.Order("id DESC").Limit(s.Limit + 1).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, nil
}

// ShopDelivery returns one of the shop's deliveries without its body, or
// ErrNotFound (also when it belongs to another shop).
func (st *Store) ShopDelivery(ctx context.Context, shop Shop, id uint64) (Delivery, error) {
	var d Delivery
	err := ownDeliveries(st.db.WithContext(ctx).Model(&Delivery{}), shop).Select(deliveryColumns).
		Where("id = ?", id).Take(&d).Error
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery %d: %w", id, notFound(err))
	}
	return d, nil
}

// DeliveriesForOrder lists the deliveries that changed an order (set when
// they were processed), oldest first, without bodies.
func (st *Store) DeliveriesForOrder(ctx context.Context, shopID uint64, orderPlatformID int64) ([]Delivery, error) {
	var ds []Delivery
	err := st.db.WithContext(ctx).Select(deliveryColumns).
		Where("shop_id = ? AND order_platform_id = ?", shopID, orderPlatformID).
		Order("received_at, id").Find(&ds).Error
	if err != nil {
		return nil, fmt.Errorf("deliveries of order %d: %w", orderPlatformID, err)
	}
	return ds, nil
}

// ReplayRefused says why a delivery cannot be replayed. It wraps ErrConflict.
type ReplayRefused struct {
	DeliveryID uint64
	Status     string
	Reason     string
}

func (e *ReplayRefused) Error() string { return e.Reason }

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *ReplayRefused) Unwrap() error { return ErrConflict }

// ReplayDelivery puts one of the shop's failed or ignored deliveries back to
// "received" (error cleared, attempts kept) and writes an audit row, in one
// transaction, so a fixed parser or a since-installed shop can process it
// again. The status guard is in the UPDATE itself: of two concurrent
// replays only one changes the row. It marks the delivery dispatched now,
// because the caller processes it at once; the dispatcher picks it up again
// only if that does not finish.
//
// Returns ErrNotFound when the shop has no such delivery, and a
// *ReplayRefused (which wraps ErrConflict) when it is not failed or ignored,
// or its body is gone (retention).
func (st *Store) ReplayDelivery(ctx context.Context, shop Shop, id uint64) error {
	return st.InTx(ctx, func(tx *Tx) error {
		var d Delivery
		err := ownDeliveries(tx.db.Model(&Delivery{}), shop).Select("id", "status").
			Where("id = ?", id).Take(&d).Error
		if err != nil {
			return fmt.Errorf("delivery %d: %w", id, notFound(err))
		}
		res := tx.db.Model(&Delivery{}).
			Where("id = ? AND status IN ? AND body IS NOT NULL", id, []string{DeliveryFailed, DeliveryIgnored}).
			Updates(map[string]any{"status": DeliveryReceived, "error": "", "dispatched_at": tx.now, "updated_at": tx.now})
		if res.Error != nil {
			return fmt.Errorf("replay delivery %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			// Re-read: a concurrent replay may have changed it meanwhile.
			if err := tx.db.Model(&Delivery{}).Select("id", "status").Where("id = ?", id).Take(&d).Error; err != nil {
				return fmt.Errorf("delivery %d: %w", id, notFound(err))
			}
			return replayRefused(id, d.Status)
		}
		audit := AuditLog{ShopID: shop.ID, Action: AuditReplay, Subject: "delivery:" + strconv.FormatUint(id, 10),
			Rows: 1, Detail: fmt.Sprintf(`{"deliveries":1,"from":%q}`, d.Status), CreatedAt: tx.now}
		if err := tx.db.Create(&audit).Error; err != nil {
			return fmt.Errorf("audit replay of delivery %d: %w", id, err)
		}
		return nil
	})
}

func replayRefused(id uint64, status string) error {
	e := &ReplayRefused{DeliveryID: id, Status: status}
	switch status {
	case DeliveryFailed, DeliveryIgnored:
		e.Reason = fmt.Sprintf("delivery %d cannot be replayed: its body was dropped after the retention period", id)
	case DeliveryReceived:
		e.Reason = fmt.Sprintf("delivery %d is already waiting to be processed", id)
	default:
		e.Reason = fmt.Sprintf("delivery %d was already %s: only failed or ignored deliveries can be replayed", id, status)
	}
	return e
}
