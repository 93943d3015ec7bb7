package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Sync states: where a shop's order backfill stands.
const (
	SyncIdle    = "idle"    // never started
	SyncRunning = "running" // a backfill run is under way (or was interrupted and will resume)
	SyncDone    = "done"    // the last run imported everything
	SyncFailed  = "failed"  // the last run stopped for good; LastError says why
)

// Backfill modes.
const (
	SyncModePaged = "paged" // cursor pages through the Admin API; resumes at the saved cursor
	SyncModeBulk  = "bulk"  // one bulk operation; resumes by running it again (idempotent)
)

// SyncState is a shop's order sync: the backfill run's progress and the
// reconcile high-water mark. One row per shop.
type SyncState struct {
	ID     uint64 `gorm:"primaryKey"`
	ShopID uint64 `gorm:"not null;uniqueIndex:ux_sync_states_shop"`
	State  string `gorm:"size:16;not null;default:'idle'"`
	// Run numbers backfill runs; a task for an older run is a no-op.
	Run  int    `gorm:"not null;default:0"`
	Mode string `gorm:"size:16;not null;default:''"`
	// Cursor is the Admin API cursor after the last imported page, saved
	// in the same transaction as the page's orders.
	Cursor string `gorm:"size:2048;not null;default:''"`
	// Since limits the run to orders updated at or after it (nil: all).
	Since *time.Time
	Done  int64 `gorm:"not null;default:0"`
	Total int64 `gorm:"not null;default:0"`
	// Rate is orders per second over the current attempt.
	Rate      float64 `gorm:"not null;default:0"`
	LastError string  `gorm:"size:4096;not null;default:''"`
	// ReadAllOrders is false when Shopify serves only the last 60 days
	// (the app lacks the read_all_orders scope).
	ReadAllOrders bool `gorm:"not null;default:false"`
	StartedAt     *time.Time
	FinishedAt    *time.Time
	// HighWaterMark is the latest platform updated_at seen by a backfill or
	// reconcile; reconcile asks for orders updated since it (minus an
	// overlap).
	HighWaterMark *time.Time
	// ReconcileWindow is the start of the last reconcile window that ran to
	// completion: a replay of that window's task is a no-op.
	ReconcileWindow *time.Time
	LastReconcileAt *time.Time
	ReconcileRuns   int64 `gorm:"not null;default:0"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// SyncState returns the shop's sync state, or ErrNotFound when no backfill
// was ever started for it.
func (s *Store) SyncState(ctx context.Context, shopID uint64) (SyncState, error) {
	var st SyncState
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Take(&st).Error; err != nil {
		return SyncState{}, fmt.Errorf("sync state of shop %d: %w", shopID, notFound(err))
	}
	return st, nil
}

// ListSyncStates returns every shop's sync state, by shop id.
func (s *Store) ListSyncStates(ctx context.Context) (map[uint64]SyncState, error) {
	var sts []SyncState
	if err := s.db.WithContext(ctx).Order("shop_id").Find(&sts).Error; err != nil {
		return nil, fmt.Errorf("list sync states: %w", err)
	}
	out := make(map[uint64]SyncState, len(sts))
	for _, st := range sts {
		out[st.ShopID] = st
	}
	return out, nil
}

// BeginBackfill starts or resumes the shop's backfill and returns the state
// to run. A run that is running or failed with the same since resumes at
// its cursor (a failed one under the next run number) (a crash or restart never starts over); otherwise (no state,
// idle, done, or another since) a new run starts from the first page.
// since zero means all orders.
func (s *Store) BeginBackfill(ctx context.Context, shopID uint64, since time.Time) (SyncState, error) {
	var out SyncState
	err := s.InTx(ctx, func(tx *Tx) error {
		// Insert-if-absent first, so two callers racing on a new shop both
		// end up locking the same row.
		if err := tx.db.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&SyncState{ShopID: shopID, State: SyncIdle}).Error; err != nil {
			return fmt.Errorf("create sync state: %w", err)
		}
		st, err := tx.LockSyncState(shopID)
		if err != nil {
			return err
		}
		sinceP := timePtr(since)
		sameSince := (st.Since == nil && sinceP == nil) || (st.Since != nil && sinceP != nil && st.Since.Equal(*sinceP))
		switch {
		case st.State == SyncRunning && sameSince:
			// Resume as is: the run's queued task (same run number) goes on.
		case st.State == SyncFailed && sameSince:
			// Resume at the cursor under a new run number: the failed run's
			// task id is still in the queue's archive.
			st.Run++
			st.State, st.FinishedAt = SyncRunning, nil
		default:
			st.Run++
			st.State, st.Mode, st.Cursor, st.Since = SyncRunning, "", "", sinceP
			st.Done, st.Total, st.Rate = 0, 0, 0
			now := tx.now
			st.StartedAt, st.FinishedAt = &now, nil
		}
		st.LastError = ""
		if err := tx.SaveSyncState(&st); err != nil {
			return err
		}
		out = st
		return nil
	})
	return out, err
}

// UpdateSyncState locks the shop's sync state, lets fn change it and saves
// it, all in one transaction. fn returning an error saves nothing. Returns
// ErrNotFound when the shop has no sync state.
func (s *Store) UpdateSyncState(ctx context.Context, shopID uint64, fn func(st *SyncState) error) (SyncState, error) {
	var out SyncState
	err := s.InTx(ctx, func(tx *Tx) error {
		st, err := tx.LockSyncState(shopID)
		if err != nil {
			return err
		}
		if err := fn(&st); err != nil {
			return err
		}
		if err := tx.SaveSyncState(&st); err != nil {
			return err
		}
		out = st
		return nil
	})
	return out, err
}

// LockSyncState reads the shop's sync state locked for the rest of the
// transaction, or ErrNotFound.
func (tx *Tx) LockSyncState(shopID uint64) (SyncState, error) {
	var st SyncState
	err := forUpdate(tx.db, tx.pg).Where("shop_id = ?", shopID).Take(&st).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return SyncState{}, fmt.Errorf("sync state of shop %d: %w", shopID, ErrNotFound)
	}
	if err != nil {
		return SyncState{}, fmt.Errorf("lock sync state of shop %d: %w", shopID, err)
	}
	return st, nil
}

// SaveSyncState writes every column of st (read with LockSyncState).
func (tx *Tx) SaveSyncState(st *SyncState) error {
	if len(st.LastError) > 4000 {
		st.LastError = st.LastError[:4000]
	}
	if err := tx.db.Select("*").Omit("created_at").Save(st).Error; err != nil {
		return fmt.Errorf("save sync state of shop %d: %w", st.ShopID, err)
	}
	return nil
}

// Now is the transaction's clock (UTC), for timestamps written with it.
func (tx *Tx) Now() time.Time { return tx.now }
