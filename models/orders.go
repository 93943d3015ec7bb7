package models

import (
	"context"
	"fmt"
)

// ListOrders returns a shop's most recent orders (by platform creation
// time), with their fulfillments.
func (s *Store) ListOrders(ctx context.Context, shopID uint64, limit int) ([]Order, error) {
	var orders []Order
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Order("platform_created_at DESC, id DESC").
		Limit(limit).Find(&orders).Error; err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	if len(orders) == 0 {
		return orders, nil
	}
	ids := make([]uint64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	var fs []Fulfillment
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND order_id IN ?", shopID, ids).Order("platform_created_at, id").
		Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("list fulfillments: %w", err)
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

// Order returns one order by platform id with its lines, fulfillments (with
// carrier events), refunds (with lines) and customer. Returns ErrNotFound
// when the shop has no such order.
func (s *Store) Order(ctx context.Context, shopID uint64, platformID int64) (Order, error) {
	db := s.db.WithContext(ctx)
	var o Order
	if err := db.Where("shop_id = ? AND platform_id = ?", shopID, platformID).Take(&o).Error; err != nil {
		return Order{}, fmt.Errorf("order %d: %w", platformID, notFound(err))
	}
	if err := db.Where("shop_id = ? AND order_id = ?", shopID, o.ID).Order("id").Find(&o.LineItems).Error; err != nil {
		return Order{}, fmt.Errorf("line items: %w", err)
	}
	if err := db.Where("shop_id = ? AND order_id = ?", shopID, o.ID).Order("platform_created_at, id").Find(&o.Fulfillments).Error; err != nil {
		return Order{}, fmt.Errorf("fulfillments: %w", err)
	}
	if len(o.Fulfillments) > 0 {
		// One query for every shipment's carrier events.
		ids := make([]uint64, len(o.Fulfillments))
		for i, f := range o.Fulfillments {
			ids[i] = f.ID
		}
		var evs []FulfillmentEvent
		if err := db.Where("shop_id = ? AND fulfillment_id IN ?", shopID, ids).Order("happened_at, id").Find(&evs).Error; err != nil {
			return Order{}, fmt.Errorf("fulfillment events: %w", err)
		}
		for i := range o.Fulfillments {
			f := &o.Fulfillments[i]
			for _, ev := range evs {
				if ev.FulfillmentID == f.ID {
					f.Events = append(f.Events, ev)
				}
			}
		}
	}
	if err := db.Where("shop_id = ? AND order_id = ?", shopID, o.ID).Order("platform_created_at, id").Find(&o.Refunds).Error; err != nil {
		return Order{}, fmt.Errorf("refunds: %w", err)
	}
	for i := range o.Refunds {
		r := &o.Refunds[i]
		if err := db.Where("shop_id = ? AND refund_id = ?", shopID, r.ID).Order("id").Find(&r.Lines).Error; err != nil {
			return Order{}, fmt.Errorf("refund lines: %w", err)
		}
	}
	if o.CustomerPlatformID != 0 {
		var c Customer
		err := db.Where("shop_id = ? AND platform_id = ?", shopID, o.CustomerPlatformID).Take(&c).Error
		if err == nil {
			o.Customer = &c
		}
	}
	return o, nil
}

// CountOrders counts a shop's orders.
func (s *Store) CountOrders(ctx context.Context, shopID uint64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Order{}).Where("shop_id = ?", shopID).Count(&n).Error
	return n, err
}
