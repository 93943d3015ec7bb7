package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrInsufficientPoints: a redemption asked for more than is available.
var ErrInsufficientPoints = errors.New("not enough points")

// AccountKey names one customer's loyalty account.
type AccountKey struct {
	ShopID             uint64
	CustomerPlatformID int64
}

// lockAccount creates the account if needed and locks it for the rest of
// the transaction: every change to a customer's ledger goes through this
// lock, so concurrent awards, reversals and redemptions serialize per
// customer and never per shop.
func (tx *Tx) lockAccount(key AccountKey) (LoyaltyAccount, error) {
	if key.ShopID == 0 || key.CustomerPlatformID == 0 {
		return LoyaltyAccount{}, fmt.Errorf("loyalty account: shop and customer are required")
	}
	var a0 LoyaltyAccount
	err0 := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND customer_platform_id = ?", key.ShopID, key.CustomerPlatformID).Take(&a0).Error
	if err0 == nil {
		return a0, nil
	}
	if !errors.Is(err0, gorm.ErrRecordNotFound) {
		return LoyaltyAccount{}, fmt.Errorf("lock loyalty account: %w", err0)
	}
	fresh := LoyaltyAccount{ShopID: key.ShopID, CustomerPlatformID: key.CustomerPlatformID,
		MaturedThrough: tx.now, LastActivityAt: tx.now, CreatedAt: tx.now, UpdatedAt: tx.now}
	if err := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&fresh).Error; err != nil {
		return LoyaltyAccount{}, fmt.Errorf("create loyalty account: %w", err)
	}
	var a LoyaltyAccount
	err := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND customer_platform_id = ?", key.ShopID, key.CustomerPlatformID).
		Take(&a).Error
	if err != nil {
		return LoyaltyAccount{}, fmt.Errorf("lock loyalty account: %w", err)
	}
	return a, nil
}

// credit moves points into or out of Available: credits pay off debt
// first, and a debit larger than Available leaves the rest as debt.
func (a *LoyaltyAccount) credit(points int64) {
	if points >= 0 {
		pay := min(a.Debt, points)
		a.Debt -= pay
		a.Available += points - pay
		return
	}
	take := min(a.Available, -points)
	a.Available -= take
	a.Debt += -points - take
}

// apply updates the cached balance for one new entry.
func (a *LoyaltyAccount) apply(e LoyaltyEntry) {
	if e.Pending(a.MaturedThrough) {
		a.Pending += e.Points
	} else {
		a.credit(e.Points)
	}
	switch e.Kind {
	case EntryEarn, EntryReferralReward:
		a.Earned += e.Points
		a.LastActivityAt = e.At
	case EntryAdjust:
		if e.Points > 0 {
			a.Earned += e.Points
		}
	case EntryRedeem:
		a.Redeemed -= e.Points
		a.LastActivityAt = e.At
	case EntryReverse:
		if e.SourceType == SourceRedemption {
			a.Redeemed -= e.Points // an undone redemption
		} else {
			a.Earned += e.Points
		}
	}
}

// Source types used across the ledger.
const (
	SourceLineItem   = "line_item"   // earn: an order line (source id: the line's platform id)
	SourceRefundLine = "refund_line" // reverse: a refund line (source id: the refund line's platform id)
	SourceOrder      = "order"       // reverse: a cancelled or fully refunded order's remaining points
	SourceRedemption = "redemption"  // redeem and its undo (source id: the code)
	SourceBonus      = "bonus"       // earn: first order, review, birthday, account (source id says which and when)
	SourceReferral   = "referral"    // referral_reward and its reversal (source id: the referral id)
	SourceInactivity = "inactivity"  // expire (source id: the last activity date)
	SourceManual     = "manual"      // adjust (source id: a caller-chosen idempotency key)
)

// PostEntries appends entries to one customer's ledger and updates the
// cached balance, in one transaction. An entry whose source key is already
// in the ledger is skipped: the returned slice holds only what was posted.
func (s *Store) PostEntries(ctx context.Context, key AccountKey, entries []LoyaltyEntry) ([]LoyaltyEntry, LoyaltyAccount, error) {
	return s.PostEntriesAt(ctx, time.Now(), key, entries)
}

// PostEntriesAt is PostEntries with the transaction's clock set to now.
func (s *Store) PostEntriesAt(ctx context.Context, now time.Time, key AccountKey, entries []LoyaltyEntry) ([]LoyaltyEntry, LoyaltyAccount, error) {
	var posted []LoyaltyEntry
	var acct LoyaltyAccount
	err := s.InTxAt(ctx, now, func(tx *Tx) error {
		var err error
		posted, acct, err = tx.PostEntries(key, entries)
		return err
	})
	return posted, acct, err
}

// PostEntries is the transaction's half of Store.PostEntries.
func (tx *Tx) PostEntries(key AccountKey, entries []LoyaltyEntry) ([]LoyaltyEntry, LoyaltyAccount, error) {
	a, err := tx.lockAccount(key)
	if err != nil {
		return nil, LoyaltyAccount{}, err
	}
	if tx.pg && len(entries) == 1 {
		posted, err := tx.postOneAndSave(&a, entries[0], nil)
		if err != nil {
			return nil, LoyaltyAccount{}, err
		}
		return posted, a, nil
	}
	posted, err := tx.postLocked(&a, entries)
	if err != nil {
		return nil, LoyaltyAccount{}, err
	}
	if len(posted) > 0 {
		if err := tx.saveAccount(&a); err != nil {
			return nil, LoyaltyAccount{}, err
		}
	}
	return posted, a, nil
}

// postLocked inserts entries for the locked account a, skipping those whose
// source key exists, and applies them to a (not saved).
func (tx *Tx) postLocked(a *LoyaltyAccount, entries []LoyaltyEntry) ([]LoyaltyEntry, error) {
	var posted []LoyaltyEntry
	for _, e := range entries {
		if e.Kind == "" || e.SourceType == "" || e.SourceID == "" {
			return nil, fmt.Errorf("loyalty entry: kind, source type and source id are required (%q %q %q)", e.Kind, e.SourceType, e.SourceID)
		}
		if e.Points == 0 {
			continue // nothing to record; a zero entry would only block a later real one
		}
		e.ID, e.ShopID, e.CustomerPlatformID = 0, a.ShopID, a.CustomerPlatformID
		if e.At.IsZero() {
			e.At = tx.now
		}
		e.CreatedAt = tx.now
		if e.Multiplier.IsZero() {
			e.Multiplier = decimal.NewFromInt(1)
		}
		res := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
		if res.Error != nil {
			return nil, fmt.Errorf("post %s %s/%s: %w", e.Kind, e.SourceType, e.SourceID, res.Error)
		}
		if res.RowsAffected == 0 {
			continue // already in the ledger: a replay
		}
		a.apply(e)
		posted = append(posted, e)
	}
	return posted, nil
}

// postOneAndSave (PostgreSQL): one statement inserts the entry (nothing on
// a replay), the redemption row if r is set, and saves the account a.
func (tx *Tx) postOneAndSave(a *LoyaltyAccount, e LoyaltyEntry, r *LoyaltyRedemption) ([]LoyaltyEntry, error) {
	if e.Kind == "" || e.SourceType == "" || e.SourceID == "" {
		return nil, fmt.Errorf("loyalty entry: kind, source type and source id are required (%q %q %q)", e.Kind, e.SourceType, e.SourceID)
	}
	if e.Points == 0 {
		return nil, nil
	}
	e.ID, e.ShopID, e.CustomerPlatformID = 0, a.ShopID, a.CustomerPlatformID
	if e.At.IsZero() {
		e.At = tx.now
	}
	e.CreatedAt = tx.now
	if e.Multiplier.IsZero() {
		e.Multiplier = decimal.NewFromInt(1)
	}
	b := *a
	b.apply(e)
	b.UpdatedAt = tx.now
	args := []any{e.ShopID, e.CustomerPlatformID, e.Kind, e.SourceType, e.SourceID, e.Points, e.PendingUntil, e.Rate, e.Multiplier,
		e.Basis, e.Currency, e.OrderPlatformID, e.RelatedID, e.Reason, e.Actor, e.At, e.CreatedAt}
	red := ""
	if r != nil {
		red = `, r AS (INSERT INTO loyalty_redemptions (shop_id, customer_platform_id, code, points, value, currency, status, discount_id, error, attempts, created_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, '', '', 0, ?, ?) RETURNING id)`
		args = append(args, r.ShopID, r.CustomerPlatformID, r.Code, r.Points, r.Value, r.Currency, r.Status, r.CreatedAt, r.UpdatedAt)
	}
	args = append(args, b.Available, b.Pending, b.Debt, b.MaturedThrough, b.Earned, b.Redeemed, b.LastActivityAt, b.UpdatedAt, a.ID)
	ret := "e.id AS entry_id, 0 AS redemption_id"
	if r != nil {
		ret = "e.id AS entry_id, (SELECT id FROM r) AS redemption_id"
	}
	var out struct{ EntryID, RedemptionID uint64 }
	res := tx.db.Raw(`WITH e AS (INSERT INTO loyalty_entries (shop_id, customer_platform_id, kind, source_type, source_id, points, pending_until,
  rate, multiplier, basis, currency, order_platform_id, related_id, reason, actor, at, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (shop_id, kind, source_type, source_id) DO NOTHING RETURNING id)`+red+`
UPDATE loyalty_accounts SET available = ?, pending = ?, debt = ?, matured_through = ?, earned = ?, redeemed = ?, last_activity_at = ?, updated_at = ?
FROM e WHERE loyalty_accounts.id = ? RETURNING `+ret, args...).Scan(&out)
	if res.Error != nil {
		return nil, fmt.Errorf("post %s %s/%s: %w", e.Kind, e.SourceType, e.SourceID, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, nil // a replay
	}
	e.ID = out.EntryID
	if r != nil {
		r.ID = out.RedemptionID
	}
	*a = b
	return []LoyaltyEntry{e}, nil
}

func (tx *Tx) saveAccount(a *LoyaltyAccount) error {
	a.UpdatedAt = tx.now
	err := tx.db.Model(&LoyaltyAccount{}).Where("id = ?", a.ID).Updates(map[string]any{
		"available": a.Available, "pending": a.Pending, "debt": a.Debt, "matured_through": a.MaturedThrough,
		"earned": a.Earned, "redeemed": a.Redeemed, "last_activity_at": a.LastActivityAt, "updated_at": a.UpdatedAt,
	}).Error
	if err != nil {
		return fmt.Errorf("save loyalty account %d: %w", a.ID, err)
	}
	return nil
}

// Account reads a customer's account; ErrNotFound if they have none yet.
func (s *Store) Account(ctx context.Context, key AccountKey) (LoyaltyAccount, error) {
	var a LoyaltyAccount
	err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_platform_id = ?", key.ShopID, key.CustomerPlatformID).Take(&a).Error
	if err != nil {
		return LoyaltyAccount{}, fmt.Errorf("loyalty account %d/%d: %w", key.ShopID, key.CustomerPlatformID, notFound(err))
	}
	return a, nil
}

// Ledger lists a customer's entries newest first, before the entry id
// before (0: from the newest), at most limit.
func (s *Store) Ledger(ctx context.Context, key AccountKey, before uint64, limit int) ([]LoyaltyEntry, error) {
	q := s.db.WithContext(ctx).Where("shop_id = ? AND customer_platform_id = ?", key.ShopID, key.CustomerPlatformID)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var out []LoyaltyEntry
	if err := q.Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("loyalty ledger: %w", err)
	}
	return out, nil
}

// OrderEntries lists every entry about one order (earns, reversals), oldest
// first: what a reversal computes against.
func (s *Store) OrderEntries(ctx context.Context, shopID uint64, orderPlatformID int64) ([]LoyaltyEntry, error) {
	var out []LoyaltyEntry
	err := s.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id = ?", shopID, orderPlatformID).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("loyalty entries of order %d: %w", orderPlatformID, err)
	}
	return out, nil
}

// EntryBySource reads the entry with that source key; ErrNotFound if none.
func (s *Store) EntryBySource(ctx context.Context, shopID uint64, kind, sourceType, sourceID string) (LoyaltyEntry, error) {
	var e LoyaltyEntry
	err := s.db.WithContext(ctx).Where("shop_id = ? AND kind = ? AND source_type = ? AND source_id = ?", shopID, kind, sourceType, sourceID).
		Take(&e).Error
	if err != nil {
		return LoyaltyEntry{}, fmt.Errorf("loyalty entry %s/%s/%s: %w", kind, sourceType, sourceID, notFound(err))
	}
	return e, nil
}

// HasEntry reports whether the source key is in the ledger.
func (s *Store) HasEntry(ctx context.Context, shopID uint64, kind, sourceType, sourceID string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&LoyaltyEntry{}).
		Where("shop_id = ? AND kind = ? AND source_type = ? AND source_id = ?", shopID, kind, sourceType, sourceID).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("loyalty entry %s/%s/%s: %w", kind, sourceType, sourceID, err)
	}
	return n > 0, nil
}

// Mature moves every pending entry whose time came (PendingUntil ≤ now) into
// Available, account by account; it returns the accounts changed.
func (s *Store) Mature(ctx context.Context, shopID uint64, now time.Time) ([]AccountKey, error) {
	var keys []AccountKey
	err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT a.shop_id, a.customer_platform_id FROM loyalty_accounts a
JOIN loyalty_entries e ON e.shop_id = a.shop_id AND e.customer_platform_id = a.customer_platform_id
WHERE a.shop_id = ? AND e.pending_until IS NOT NULL AND e.pending_until > a.matured_through AND e.pending_until <= ?`,
		shopID, now).Scan(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("accounts with points to mature: %w", err)
	}
	for _, k := range keys {
		err := s.InTxAt(ctx, now, func(tx *Tx) error {
			a, err := tx.lockAccount(k)
			if err != nil {
				return err
			}
			var due int64
			if err := tx.db.Model(&LoyaltyEntry{}).Select("COALESCE(SUM(points), 0)").
				Where("shop_id = ? AND customer_platform_id = ? AND pending_until > ? AND pending_until <= ?",
					k.ShopID, k.CustomerPlatformID, a.MaturedThrough, tx.now).Scan(&due).Error; err != nil {
				return fmt.Errorf("points to mature: %w", err)
			}
			a.Pending -= due
			a.credit(due)
			a.MaturedThrough = tx.now
			return tx.saveAccount(&a)
		})
		if err != nil {
			return nil, fmt.Errorf("mature %d/%d: %w", k.ShopID, k.CustomerPlatformID, err)
		}
	}
	return keys, nil
}

// Redeem takes points for a discount code: in one transaction it checks the
// available balance under the account's lock, posts the redeem entry and
// records the redemption in state creating. Two concurrent redemptions of
// the same points: one wins, the other gets ErrInsufficientPoints.
func (s *Store) Redeem(ctx context.Context, now time.Time, key AccountKey, r LoyaltyRedemption) (LoyaltyRedemption, LoyaltyAccount, error) {
	if r.Points <= 0 || r.Code == "" {
		return LoyaltyRedemption{}, LoyaltyAccount{}, fmt.Errorf("redeem: points and code are required")
	}
	var acct LoyaltyAccount
	err := s.InTxAt(ctx, now, func(tx *Tx) error {
		a, err := tx.lockAccount(key)
		if err != nil {
			return err
		}
		if a.Available < r.Points {
			return fmt.Errorf("redeem %d points with %d available: %w", r.Points, a.Available, ErrInsufficientPoints)
		}
		r.ID, r.ShopID, r.CustomerPlatformID, r.Status = 0, key.ShopID, key.CustomerPlatformID, RedemptionCreating
		r.CreatedAt, r.UpdatedAt = tx.now, tx.now
		if tx.pg {
			posted, err := tx.postOneAndSave(&a, LoyaltyEntry{Kind: EntryRedeem, SourceType: SourceRedemption, SourceID: r.Code,
				Points: -r.Points, Basis: r.Value, Currency: r.Currency, Reason: "discount code " + r.Code}, &r)
			if err != nil {
				return err
			}
			if len(posted) != 1 {
				return fmt.Errorf("redeem %s: %w", r.Code, ErrConflict)
			}
			acct = a
			return nil
		}
		if err := tx.db.Create(&r).Error; err != nil {
			return fmt.Errorf("record redemption %s: %w", r.Code, err)
		}
		posted, err := tx.postLocked(&a, []LoyaltyEntry{{Kind: EntryRedeem, SourceType: SourceRedemption, SourceID: r.Code,
			Points: -r.Points, Basis: r.Value, Currency: r.Currency, Reason: "discount code " + r.Code}})
		if err != nil {
			return err
		}
		if len(posted) != 1 {
			return fmt.Errorf("redeem %s: %w", r.Code, ErrConflict)
		}
		acct = a
		return tx.saveAccount(&a)
	})
	if err != nil {
		if isUniqueViolation(err) {
			// The code exists: a resubmitted request that chose its code
			// (RedemptionByCode finds what the first one did).
			return LoyaltyRedemption{}, LoyaltyAccount{}, fmt.Errorf("redemption code %s: %w", r.Code, ErrConflict)
		}
		return LoyaltyRedemption{}, LoyaltyAccount{}, err
	}
	return r, acct, nil
}

// RedemptionByCode reads one of the shop's redemptions; ErrNotFound if none.
func (s *Store) RedemptionByCode(ctx context.Context, shopID uint64, code string) (LoyaltyRedemption, error) {
	var r LoyaltyRedemption
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND code = ?", shopID, code).Take(&r).Error; err != nil {
		return LoyaltyRedemption{}, fmt.Errorf("redemption %s: %w", code, notFound(err))
	}
	return r, nil
}

// ActivateRedemption records that the platform holds the code.
func (s *Store) ActivateRedemption(ctx context.Context, now time.Time, id uint64, discountID string) error {
	err := s.db.WithContext(ctx).Model(&LoyaltyRedemption{}).Where("id = ? AND status = ?", id, RedemptionCreating).
		Updates(map[string]any{"status": RedemptionActive, "discount_id": discountID, "error": "", "updated_at": now.UTC()}).Error
	if err != nil {
		return fmt.Errorf("activate redemption %d: %w", id, err)
	}
	return nil
}

// NoteRedemptionAttempt counts a failed attempt to create the code that may
// still succeed later (the platform was down or throttled).
func (s *Store) NoteRedemptionAttempt(ctx context.Context, now time.Time, id uint64, reason string) error {
	err := s.db.WithContext(ctx).Model(&LoyaltyRedemption{}).Where("id = ? AND status = ?", id, RedemptionCreating).
		Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "error": truncate(reason, 1000), "updated_at": now.UTC()}).Error
	if err != nil {
		return fmt.Errorf("note redemption attempt %d: %w", id, err)
	}
	return nil
}

// UndoRedemption gives the points of a redemption back, once: status is
// RedemptionFailed (the platform refused the code) or RedemptionCancelled
// (the code was withdrawn unused). It returns false if the redemption was
// no longer in a state that can be undone.
func (s *Store) UndoRedemption(ctx context.Context, now time.Time, shopID, id uint64, status, reason string) (bool, LoyaltyAccount, error) {
	if status != RedemptionFailed && status != RedemptionCancelled {
		return false, LoyaltyAccount{}, fmt.Errorf("undo redemption: bad status %q", status)
	}
	var done bool
	var acct LoyaltyAccount
	err := s.InTxAt(ctx, now, func(tx *Tx) error {
		var r LoyaltyRedemption
		if err := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND id = ?", shopID, id).Take(&r).Error; err != nil {
			return fmt.Errorf("redemption %d: %w", id, notFound(err))
		}
		from := RedemptionCreating
		if status == RedemptionCancelled {
			from = RedemptionActive
		}
		if r.Status != from {
			return nil
		}
		a, err := tx.lockAccount(AccountKey{ShopID: r.ShopID, CustomerPlatformID: r.CustomerPlatformID})
		if err != nil {
			return err
		}
		if _, err := tx.postLocked(&a, []LoyaltyEntry{{Kind: EntryReverse, SourceType: SourceRedemption, SourceID: r.Code,
			Points: r.Points, Basis: r.Value, Currency: r.Currency, Reason: truncate(reason, 1000)}}); err != nil {
			return err
		}
		if err := tx.saveAccount(&a); err != nil {
			return err
		}
		if err := tx.db.Model(&LoyaltyRedemption{}).Where("id = ?", r.ID).
			Updates(map[string]any{"status": status, "error": truncate(reason, 1000), "updated_at": tx.now}).Error; err != nil {
			return fmt.Errorf("mark redemption %d %s: %w", r.ID, status, err)
		}
		done, acct = true, a
		return nil
	})
	return done, acct, err
}

// StaleRedemptions lists redemptions still creating since before olderThan:
// the process that took the points may have died before the platform call.
func (s *Store) StaleRedemptions(ctx context.Context, shopID uint64, olderThan time.Time, limit int) ([]LoyaltyRedemption, error) {
	var out []LoyaltyRedemption
	err := s.db.WithContext(ctx).Where("shop_id = ? AND status = ? AND updated_at < ?", shopID, RedemptionCreating, olderThan).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("stale redemptions: %w", err)
	}
	return out, nil
}

// Redemptions lists a customer's redemptions, newest first.
func (s *Store) Redemptions(ctx context.Context, key AccountKey, limit int) ([]LoyaltyRedemption, error) {
	var out []LoyaltyRedemption
	err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_platform_id = ?", key.ShopID, key.CustomerPlatformID).
		Order("id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("redemptions: %w", err)
	}
	return out, nil
}

// LedgerMismatch is an account whose cached balance disagrees with its
// ledger, or breaks a balance rule.
type LedgerMismatch struct {
	Key                      AccountKey
	Available, Pending, Debt int64 // cached
	LedgerSum, LedgerPending int64 // from the entries
	Problem                  string
}

// VerifyLedger checks every account of the shop against its entries:
// Available − Debt + Pending equals the sum of the points, Pending equals
// the sum of the entries still pending, Available and Debt are never
// negative and never both positive. An empty result means all is well.
func (s *Store) VerifyLedger(ctx context.Context, shopID uint64) ([]LedgerMismatch, error) {
	type row struct {
		ShopID             uint64
		CustomerPlatformID int64
		Available, Pending int64
		Debt               int64
		Total, PendingSum  int64
	}
	var rows []row
	err := s.db.WithContext(ctx).Raw(`SELECT a.shop_id, a.customer_platform_id, a.available, a.pending, a.debt,
  COALESCE(SUM(e.points), 0) AS total,
  COALESCE(SUM(CASE WHEN e.pending_until IS NOT NULL AND e.pending_until > a.matured_through THEN e.points ELSE 0 END), 0) AS pending_sum
FROM loyalty_accounts a
LEFT JOIN loyalty_entries e ON e.shop_id = a.shop_id AND e.customer_platform_id = a.customer_platform_id
WHERE a.shop_id = ?
GROUP BY a.shop_id, a.customer_platform_id, a.available, a.pending, a.debt`, shopID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("verify loyalty ledger: %w", err)
	}
	var out []LedgerMismatch
	for _, r := range rows {
		m := LedgerMismatch{Key: AccountKey{r.ShopID, r.CustomerPlatformID}, Available: r.Available, Pending: r.Pending,
			Debt: r.Debt, LedgerSum: r.Total, LedgerPending: r.PendingSum}
		switch {
		case r.Available < 0 || r.Debt < 0 || r.Pending < 0:
			m.Problem = "negative balance"
		case r.Available > 0 && r.Debt > 0:
			m.Problem = "available and debt both positive"
		case r.Available-r.Debt+r.Pending != r.Total:
			m.Problem = "cached balance differs from the ledger sum"
		case r.Pending != r.PendingSum:
			m.Problem = "cached pending differs from the pending entries"
		default:
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// Liability is a shop's outstanding points.
type Liability struct {
	Accounts                 int64
	Available, Pending, Debt int64
}

// LoyaltyLiability sums the shop's outstanding points.
func (s *Store) LoyaltyLiability(ctx context.Context, shopID uint64) (Liability, error) {
	var l Liability
	err := s.db.WithContext(ctx).Model(&LoyaltyAccount{}).Where("shop_id = ?", shopID).
		Select("COUNT(*) AS accounts, COALESCE(SUM(available), 0) AS available, COALESCE(SUM(pending), 0) AS pending, COALESCE(SUM(debt), 0) AS debt").
		Scan(&l).Error
	if err != nil {
		return Liability{}, fmt.Errorf("loyalty liability: %w", err)
	}
	return l, nil
}
