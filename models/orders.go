package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// Orders loads many orders of a shop as Order does (without refund lines,
// which no message needs), with one query per
// table for all of them (a batch of messages needs their orders).
// Orders not stored are absent from the map.
func (s *Store) Orders(ctx context.Context, shopID uint64, platformIDs []int64) (map[int64]*Order, error) {
	db := s.db.WithContext(ctx)
	out := map[int64]*Order{}
	if len(platformIDs) == 0 {
		return out, nil
	}
	var orders []Order
	byPlatform, pids := anyOf(s.pg, "platform_id", platformIDs)
	if err := db.Where("shop_id = ?", shopID).Where(byPlatform, pids).Find(&orders).Error; err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	if len(orders) == 0 {
		return out, nil
	}
	byRow := map[uint64]*Order{}
	rowIDs := make([]uint64, 0, len(orders))
	var customers []int64
	for i := range orders {
		o := &orders[i]
		out[o.PlatformID], byRow[o.ID] = o, o
		rowIDs = append(rowIDs, o.ID)
		if o.CustomerPlatformID != 0 {
			customers = append(customers, o.CustomerPlatformID)
		}
	}
	byOrder, oids := anyOf(s.pg, "order_id", rowIDs)
	// The four child reads depend only on the orders: on PostgreSQL they
	// run side by side, each on its own pooled connection (SQLite has one).
	var (
		lines   []LineItem
		fuls    []Fulfillment
		evs     []FulfillmentEvent
		refunds []Refund
		cs      []Customer
	)
	reads := []func() error{
		func() error {
			if err := db.Where("shop_id = ?", shopID).Where(byOrder, oids).Order("id").Find(&lines).Error; err != nil {
				return fmt.Errorf("line items: %w", err)
			}
			return nil
		},
		func() error {
			if err := db.Where("shop_id = ?", shopID).Where(byOrder, oids).Order("platform_created_at, id").Find(&fuls).Error; err != nil {
				return fmt.Errorf("fulfillments: %w", err)
			}
			if len(fuls) == 0 {
				return nil
			}
			fids := make([]uint64, len(fuls))
			for i, f := range fuls {
				fids[i] = f.ID
			}
			byFul, fargs := anyOf(s.pg, "fulfillment_id", fids)
			if err := db.Where("shop_id = ?", shopID).Where(byFul, fargs).Order("happened_at, id").Find(&evs).Error; err != nil {
				return fmt.Errorf("fulfillment events: %w", err)
			}
			return nil
		},
		func() error {
			if err := db.Where("shop_id = ?", shopID).Where(byOrder, oids).Order("platform_created_at, id").Find(&refunds).Error; err != nil {
				return fmt.Errorf("refunds: %w", err)
			}
			return nil
		},
		func() error {
			if len(customers) == 0 {
				return nil
			}
			byCustomer, cargs := anyOf(s.pg, "platform_id", customers)
			if err := db.Where("shop_id = ?", shopID).Where(byCustomer, cargs).Find(&cs).Error; err != nil {
				return fmt.Errorf("customers: %w", err)
			}
			return nil
		},
	}
	if err := s.runReads(reads); err != nil {
		return nil, err
	}
	for _, l := range lines {
		byRow[l.OrderID].LineItems = append(byRow[l.OrderID].LineItems, l)
	}
	byF := map[uint64][]FulfillmentEvent{}
	for _, ev := range evs {
		byF[ev.FulfillmentID] = append(byF[ev.FulfillmentID], ev)
	}
	for _, f := range fuls {
		f.Events = byF[f.ID]
		byRow[f.OrderID].Fulfillments = append(byRow[f.OrderID].Fulfillments, f)
	}
	for _, r := range refunds {
		byRow[r.OrderID].Refunds = append(byRow[r.OrderID].Refunds, r)
	}
	byC := map[int64]*Customer{}
	for i := range cs {
		byC[cs[i].PlatformID] = &cs[i]
	}
	for _, o := range out {
		if c, ok := byC[o.CustomerPlatformID]; ok {
			cp := *c
			o.Customer = &cp
		}
	}
	return out, nil
}

// runReads runs independent reads: side by side on PostgreSQL, one after
// the other on SQLite (one connection). It returns their errors, joined.
func (s *Store) runReads(reads []func() error) error {
	if !s.pg {
		for _, r := range reads {
			if err := r(); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	for i, r := range reads {
		wg.Go(func() { errs[i] = r() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
