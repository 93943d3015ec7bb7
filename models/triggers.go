package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// InsertTriggers writes triggers, skipping any whose (shop, kind, subject,
// version) exists: the same consequence seen twice makes one trigger. It
// returns how many were new.
func (tx *Tx) InsertTriggers(ts []Trigger) (int, error) {
	if len(ts) == 0 {
		return 0, nil
	}
	rows := make([]Trigger, len(ts))
	for i, t := range ts {
		if t.Status == "" {
			t.Status = TriggerPending
		}
		if t.DueAt.IsZero() {
			t.DueAt = tx.now
		}
		t.ID = 0
		rows[i] = t
	}
	// One multi-row INSERT: the conflicting rows are skipped, the count is
	// what was new.
	res := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
	if res.Error != nil {
		return 0, fmt.Errorf("insert %d triggers: %w", len(rows), res.Error)
	}
	return int(res.RowsAffected), nil
}

// DueTriggers lists triggers of the given kinds that are due and were never
// dispatched, or were dispatched before redispatchBefore and not yet done
// (Redis may have lost the flow task), in due order.
func (s *Store) DueTriggers(ctx context.Context, kinds []string, now, redispatchBefore time.Time, limit int) ([]Trigger, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	q, args := dueTriggersQuery(kinds, now, redispatchBefore, limit)
	var ts []Trigger
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&ts).Error; err != nil {
		return nil, fmt.Errorf("due triggers: %w", err)
	}
	return ts, nil
}

// dueTriggersQuery is DueTriggers' statement and arguments.
func dueTriggersQuery(kinds []string, now, redispatchBefore time.Time, limit int) (string, []any) {
	// One read of ix_triggers_kind_due (kind, status, due_at) per kind,
	// each in due order and stopping at limit, and one of the partial
	// index ix_triggers_lost (dispatched_at) WHERE status = 'dispatched'
	// for lost tasks. Triggers of kinds no flow takes stay pending for a
	// week (TriggerTTL): a read that could start from (status, due_at), as
	// the planner chose whenever its statistics predated a backlog,
	// visited every one of them on every round, and so would "kind IN (…)"
	// on the kind index, which must sort every due trigger before it can
	// stop. The statuses are literals so that a prepared statement's
	// generic plan can use the partial index too.
	var (
		q    strings.Builder
		args []any
	)
	q.WriteString("SELECT * FROM (")
	for i, kind := range kinds {
		fmt.Fprintf(&q, "\n  SELECT * FROM (SELECT * FROM triggers WHERE kind = ? AND status = '%s' AND due_at <= ? ORDER BY due_at, id LIMIT ?) AS k%d\n  UNION ALL", TriggerPending, i)
		args = append(args, kind, now.UTC(), limit)
	}
	fmt.Fprintf(&q, "\n  SELECT * FROM (SELECT * FROM triggers WHERE status = '%s' AND dispatched_at < ? AND kind IN ? ORDER BY due_at, id LIMIT ?) AS lost\n) AS due ORDER BY due_at, id LIMIT ?", TriggerDispatched)
	args = append(args, redispatchBefore.UTC(), kinds, limit, limit)
	return q.String(), args
}

// MarkTriggersDispatched records that flow tasks were enqueued.
func (s *Store) MarkTriggersDispatched(ctx context.Context, ids []uint64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return s.db.WithContext(ctx).Model(&Trigger{}).Where("id IN ? AND status IN ?", ids, []string{TriggerPending, TriggerDispatched}).
		Updates(map[string]any{"status": TriggerDispatched, "dispatched_at": at.UTC()}).Error
}

// MarkTriggerDone records that every subscriber of the trigger finished.
func (s *Store) MarkTriggerDone(ctx context.Context, id uint64) error {
	// A cancellation that landed while the flows ran stands.
	return s.db.WithContext(ctx).Model(&Trigger{}).Where("id = ? AND status <> ?", id, TriggerCancelled).
		Update("status", TriggerDone).Error
}

// Trigger returns one trigger, or ErrNotFound.
func (s *Store) Trigger(ctx context.Context, id uint64) (Trigger, error) {
	var t Trigger
	if err := s.db.WithContext(ctx).Take(&t, id).Error; err != nil {
		return Trigger{}, fmt.Errorf("trigger %d: %w", id, notFound(err))
	}
	return t, nil
}

// ExpireTriggers marks pending triggers created before `before` expired: a
// flow that doesn't exist yet has no subscriber, and its triggers must not
// fire months later when it ships. Returns how many expired.
func (s *Store) ExpireTriggers(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Model(&Trigger{}).Where("status = ? AND created_at < ?", TriggerPending, before.UTC()).
		Update("status", TriggerExpired)
	if res.Error != nil {
		return 0, fmt.Errorf("expire triggers: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// TriggersForOrder lists an order's triggers, oldest first.
func (s *Store) TriggersForOrder(ctx context.Context, shopID uint64, orderPlatformID int64) ([]Trigger, error) {
	var ts []Trigger
	err := s.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id = ?", shopID, orderPlatformID).
		Order("created_at, id").Find(&ts).Error
	return ts, err
}
