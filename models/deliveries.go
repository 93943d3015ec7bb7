package models

import (
	"context"
	"fmt"
	"strings"
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
	// Two reads of ix_deliveries_pending (status, dispatched_at, id), each
	// stopping at limit: the never dispatched in id order, and those handed
	// over too long ago, oldest hand-over first (empty unless Redis lost
	// tasks). Each is ordered exactly as the index is (status and
	// dispatched_at are fixed in the first, so that is id order), which no
	// other plan gives without sorting: asked for "ORDER BY id", PostgreSQL
	// walked the primary key past every processed delivery whenever its
	// statistics were from a burst (15–35 ms a round after a
	// 20,000-delivery backlog).
	err := s.db.WithContext(ctx).Raw(`SELECT id, attempts, received_at, dispatched_at FROM (
  SELECT * FROM (SELECT id, attempts, received_at, dispatched_at FROM deliveries
    WHERE status = ? AND dispatched_at IS NULL ORDER BY status, dispatched_at, id LIMIT ?) AS fresh
  UNION ALL
  SELECT * FROM (SELECT id, attempts, received_at, dispatched_at FROM deliveries
    WHERE status = ? AND dispatched_at < ? ORDER BY dispatched_at, id LIMIT ?) AS stale
) AS pending ORDER BY id LIMIT ?`, DeliveryReceived, limit, DeliveryReceived, dispatchedBefore.UTC(), limit, limit).Scan(&out).Error
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
	q := s.db.WithContext(ctx).Model(&Delivery{})
	if s.pg {
		// Batch processing locks deliveries in id order; an UPDATE … IN
		// locks them in whatever order the plan visits them, and the two
		// deadlocked. A row a batch holds is being processed: skip it.
		// ARRAY(…) is computed once, before the UPDATE, so the UPDATE finds
		// its rows by primary key; as "id IN (subquery)" PostgreSQL joined
		// the subquery to a scan of the whole table (10–15 ms at 30,000
		// deliveries).
		cond, arg := anyOf(true, "id", ids)
		q = q.Where("id = ANY(ARRAY(SELECT id FROM deliveries WHERE "+cond+" AND status = ? ORDER BY id FOR UPDATE SKIP LOCKED))", arg, DeliveryReceived)
	} else {
		q = q.Where("id IN ? AND status = ?", ids, DeliveryReceived)
	}
	err := q.Update("dispatched_at", at.UTC()).Error
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

// AsyncBatchCommit is AsyncCommit for a transaction that applies a batch:
// it also has PostgreSQL plan each statement for its own arguments and the
// tables' current sizes (plan_cache_mode = force_custom_plan, this
// transaction only), in the same round trip. A connection otherwise keeps
// the generic plan it made for a statement after five runs, and one made
// while a table was nearly empty (a fresh install, a first import) kept
// reading every order of the shop to find a batch's fifty: 14 ms a batch
// at 20,000 orders, growing with the table, until autovacuum's next
// ANALYZE. Planning costs a fraction of a millisecond per statement.
func (tx *Tx) AsyncBatchCommit() error {
	if !tx.pg {
		return nil
	}
	return tx.db.Exec("SELECT set_config('synchronous_commit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)").Error
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

// LockDeliveries re-reads the deliveries still waiting to be processed among
// ids, locked, in id order (so two batches that share a delivery lock in
// the same order and the second one waits, then skips it).
func (tx *Tx) LockDeliveries(ids []uint64) ([]Delivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var ds []Delivery
	err := forUpdate(tx.db, tx.pg).Where("id IN ? AND status = ?", ids, DeliveryReceived).Order("id").Find(&ds).Error
	if err != nil {
		return nil, fmt.Errorf("lock %d deliveries: %w", len(ids), err)
	}
	return ds, nil
}

// DeliveryOutcome is how processing one delivery ended.
type DeliveryOutcome struct {
	ID              uint64
	ShopID          uint64
	OrderPlatformID int64
	Status          string
	Reason          string
}

// FinishDeliveries records many outcomes. On PostgreSQL it is one UPDATE
// joined to a VALUES list, whatever the batch size: a batch of deliveries
// is finished in one round trip instead of one per delivery.
func (tx *Tx) FinishDeliveries(outs []DeliveryOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	if !tx.pg {
		for _, o := range outs {
			if err := tx.FinishDelivery(o.ID, o.ShopID, o.OrderPlatformID, o.Status, o.Reason); err != nil {
				return err
			}
		}
		return nil
	}
	var sb strings.Builder
	args := make([]any, 0, len(outs)*5+1)
	args = append(args, tx.now)
	sb.WriteString(`UPDATE deliveries AS d SET status = v.status, shop_id = v.shop_id, error = v.error,
  order_platform_id = v.order_platform_id, processed_at = ?, attempts = d.attempts + 1
FROM (VALUES `)
	for i, o := range outs {
		if i > 0 {
			sb.WriteString(", ")
		}
		// The first row's casts type the VALUES columns.
		if i == 0 {
			sb.WriteString("(?::bigint, ?::text, ?::bigint, ?::text, ?::bigint)")
		} else {
			sb.WriteString("(?, ?, ?, ?, ?)")
		}
		args = append(args, o.ID, o.Status, o.ShopID, truncate(o.Reason, 4000), o.OrderPlatformID)
	}
	sb.WriteString(") AS v(id, status, shop_id, error, order_platform_id) WHERE d.id = v.id")
	if err := tx.db.Exec(sb.String(), args...).Error; err != nil {
		return fmt.Errorf("finish %d deliveries: %w", len(outs), err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// FailDeliveryIfPending marks a delivery failed with the reason unless it
// was processed (or ended otherwise) meanwhile.
func (s *Store) FailDeliveryIfPending(ctx context.Context, id uint64, reason string) error {
	err := s.db.WithContext(ctx).Model(&Delivery{}).Where("id = ? AND status = ?", id, DeliveryReceived).Updates(map[string]any{
		"status": DeliveryFailed, "error": truncate(reason, 4000), "attempts": gorm.Expr("attempts + 1"),
	}).Error
	if err != nil {
		return fmt.Errorf("fail delivery %d: %w", id, err)
	}
	return nil
}
