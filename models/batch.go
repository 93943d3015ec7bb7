package models

import (
	"cmp"
	"fmt"
	"slices"
)

// Batch mode lets one transaction apply many deliveries with set-based
// reads and writes instead of a round trip per row: the orders the batch
// will touch are read and locked in one statement up front, orders known
// to have no early fulfillments or refunds skip the linking update, and
// customers are written in one multi-row upsert at the end. Outside batch
// mode (tx.batch == nil) every method behaves as before.

type orderKey struct {
	shopID     uint64
	platformID int64
}

type batchState struct {
	// orders holds the locked rows read up front; a key with a nil value
	// is an order known not to exist yet. An entry is used once: after an
	// upsert the row is read again, so a second delivery for the same
	// order in the batch sees the first one's result.
	orders map[orderKey]*Order
	// orphaned marks orders with fulfillments or refunds waiting for them
	// (read up front, and added to when the batch itself stores one).
	orphaned map[orderKey]bool
	// read marks the orders BeginBatch looked up (so orphaned is known).
	read map[orderKey]bool
	// customers are upserted together by FlushBatch, newest per customer.
	customers map[orderKey]Customer
}

// BeginBatch enters batch mode for the orders (platform ids per shop) the
// batch will apply: it reads and locks them, and finds which of them have
// fulfillments or refunds that arrived first, in two statements per shop.
func (tx *Tx) BeginBatch(orders map[uint64][]int64) error {
	b := &batchState{orders: map[orderKey]*Order{}, orphaned: map[orderKey]bool{}, read: map[orderKey]bool{},
		customers: map[orderKey]Customer{}}
	for shopID, ids := range orders {
		ids = slices.Compact(slices.Sorted(slices.Values(ids)))
		if len(ids) == 0 {
			continue
		}
		var rows []Order
		// Locked in platform id order, the order every batch applies them
		// in, so two batches sharing orders wait instead of deadlocking.
		if err := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND platform_id IN ?", shopID, ids).
			Order("platform_id").Find(&rows).Error; err != nil {
			return fmt.Errorf("read %d orders of shop %d: %w", len(ids), shopID, err)
		}
		for _, id := range ids {
			b.orders[orderKey{shopID, id}] = nil
			b.read[orderKey{shopID, id}] = true
		}
		for i := range rows {
			b.orders[orderKey{shopID, rows[i].PlatformID}] = &rows[i]
		}
		var orphaned []int64
		if err := tx.db.Raw(`SELECT order_platform_id FROM fulfillments WHERE shop_id = ? AND order_id = 0 AND order_platform_id IN ?
UNION SELECT order_platform_id FROM refunds WHERE shop_id = ? AND order_id = 0 AND order_platform_id IN ?`,
			shopID, ids, shopID, ids).Scan(&orphaned).Error; err != nil {
			return fmt.Errorf("find early fulfillments and refunds of shop %d: %w", shopID, err)
		}
		for _, id := range orphaned {
			b.orphaned[orderKey{shopID, id}] = true
		}
	}
	tx.batch = b
	return nil
}

// FlushBatch writes what batch mode deferred (customers) and leaves batch
// mode. Call it before the transaction commits.
func (tx *Tx) FlushBatch() error {
	b := tx.batch
	tx.batch = nil
	if b == nil || len(b.customers) == 0 {
		return nil
	}
	byShop := map[uint64][]Customer{}
	for k, c := range b.customers {
		byShop[k.shopID] = append(byShop[k.shopID], c)
	}
	for shopID, cs := range byShop {
		// Sorted, so concurrent batches lock shared customers in the same order.
		slices.SortFunc(cs, func(a, b Customer) int { return cmp.Compare(a.PlatformID, b.PlatformID) })
		if _, err := tx.upsertCustomers(shopID, cs); err != nil {
			return err
		}
	}
	return nil
}

// prefetchedOrder returns the batch's up-front read of an order, once.
func (tx *Tx) prefetchedOrder(shopID uint64, platformID int64) (prev *Order, known bool) {
	if tx.batch == nil {
		return nil, false
	}
	k := orderKey{shopID, platformID}
	prev, known = tx.batch.orders[k]
	delete(tx.batch.orders, k)
	return prev, known
}

// mayHaveOrphans reports whether a new order needs the linking update.
func (tx *Tx) mayHaveOrphans(shopID uint64, platformID int64) bool {
	if tx.batch == nil {
		return true
	}
	k := orderKey{shopID, platformID}
	return !tx.batch.read[k] || tx.batch.orphaned[k]
}

// noteOrphan records that the batch stored a fulfillment or refund before
// its order.
func (tx *Tx) noteOrphan(shopID uint64, orderPlatformID int64) {
	if tx.batch != nil {
		tx.batch.orphaned[orderKey{shopID, orderPlatformID}] = true
	}
}

// deferCustomer keeps the newest version of a customer for FlushBatch.
func (tx *Tx) deferCustomer(shopID uint64, c *Customer) {
	k := orderKey{shopID, c.PlatformID}
	if prev, ok := tx.batch.customers[k]; ok && !c.PlatformUpdatedAt.After(prev.PlatformUpdatedAt) {
		return
	}
	cp := *c
	cp.ShopID, cp.ID = shopID, 0
	tx.batch.customers[k] = cp
}
