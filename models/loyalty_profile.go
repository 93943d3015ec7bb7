package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm/clause"
)

// EnsureAccount creates the customer's account if it does not exist and
// returns it.
func (s *Store) EnsureAccount(ctx context.Context, key AccountKey) (LoyaltyAccount, error) {
	var a LoyaltyAccount
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		a, err = tx.lockAccount(key)
		return err
	})
	return a, err
}

// SetBirthday records the shopper's birthday ("MM-DD"). It is set once:
// a shopper who could change it at will could collect the birthday bonus
// every few weeks. ErrConflict when it is already set to another day.
func (s *Store) SetBirthday(ctx context.Context, key AccountKey, mmdd string) (LoyaltyAccount, error) {
	var a LoyaltyAccount
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		if a, err = tx.lockAccount(key); err != nil {
			return err
		}
		if a.Birthday == mmdd {
			return nil
		}
		if a.Birthday != "" {
			return fmt.Errorf("birthday already set: %w", ErrConflict)
		}
		a.Birthday = mmdd
		return tx.db.Model(&LoyaltyAccount{}).Where("id = ?", a.ID).
			Updates(map[string]any{"birthday": mmdd, "updated_at": tx.now}).Error
	})
	return a, err
}

// EnsureReferralCode gives the account a referral code if it has none:
// gen proposes codes until one is free in the shop.
func (s *Store) EnsureReferralCode(ctx context.Context, key AccountKey, gen func(attempt int) string) (string, error) {
	for attempt := 0; attempt < 8; attempt++ {
		var code string
		err := s.InTx(ctx, func(tx *Tx) error {
			a, err := tx.lockAccount(key)
			if err != nil {
				return err
			}
			if a.ReferralCode != "" {
				code = a.ReferralCode
				return nil
			}
			candidate := strings.ToUpper(gen(attempt))
			var taken int64
			if err := tx.db.Model(&LoyaltyAccount{}).Where("shop_id = ? AND referral_code = ?", key.ShopID, candidate).
				Count(&taken).Error; err != nil {
				return err
			}
			if taken > 0 {
				return nil // try the next candidate
			}
			if err := tx.db.Model(&LoyaltyAccount{}).Where("id = ?", a.ID).
				Updates(map[string]any{"referral_code": candidate, "updated_at": tx.now}).Error; err != nil {
				return err
			}
			code = candidate
			return nil
		})
		if err != nil {
			// Two customers racing for the same candidate: the unique index
			// refuses one; it tries the next.
			if isUniqueViolation(err) {
				continue
			}
			return "", fmt.Errorf("referral code: %w", err)
		}
		if code != "" {
			return code, nil
		}
	}
	return "", errors.New("referral code: no free code after 8 attempts")
}

// AccountByReferralCode finds the account that owns a referral code
// (case-insensitive); ErrNotFound if none.
func (s *Store) AccountByReferralCode(ctx context.Context, shopID uint64, code string) (LoyaltyAccount, error) {
	var a LoyaltyAccount
	err := s.db.WithContext(ctx).Where("shop_id = ? AND referral_code = ?", shopID, strings.ToUpper(strings.TrimSpace(code))).
		Take(&a).Error
	if err != nil || code == "" {
		if err == nil {
			err = ErrNotFound
		}
		return LoyaltyAccount{}, fmt.Errorf("referral code %q: %w", code, notFound(err))
	}
	return a, nil
}

// AccountsByReferralCode finds the accounts holding a referral code in any
// shop (codes are unique per shop only), at most limit: a referral link
// without ?shop= is resolved with one indexed query.
func (s *Store) AccountsByReferralCode(ctx context.Context, code string, limit int) ([]LoyaltyAccount, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if code == "" {
		return nil, nil
	}
	var out []LoyaltyAccount
	if err := s.db.WithContext(ctx).Where("referral_code = ?", code).Order("id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("referral code %q: %w", code, err)
	}
	return out, nil
}

// SetTier records the tier the customer's rolling spend puts them in. It
// returns true when the tier changed.
func (s *Store) SetTier(ctx context.Context, now time.Time, key AccountKey, tier string, spend decimal.Decimal) (bool, LoyaltyAccount, error) {
	var changed bool
	var a LoyaltyAccount
	err := s.InTxAt(ctx, now, func(tx *Tx) error {
		var err error
		if a, err = tx.lockAccount(key); err != nil {
			return err
		}
		upd := map[string]any{"spend12m": spend, "updated_at": tx.now}
		if a.Tier != tier {
			changed = true
			upd["tier"], upd["tier_since"] = tier, tx.now
			a.Tier, a.TierSince = tier, timePtr(tx.now)
		}
		a.Spend12m = spend
		return tx.db.Model(&LoyaltyAccount{}).Where("id = ?", a.ID).Updates(upd).Error
	})
	return changed, a, err
}

// Spend12m sums what the customer paid in the year before now: the
// original subtotals of their paid, uncancelled orders, less refunds.
func (s *Store) Spend12m(ctx context.Context, key AccountKey, now time.Time) (decimal.Decimal, error) {
	since := now.AddDate(-1, 0, 0)
	var paid, refunded decimal.NullDecimal
	err := s.db.WithContext(ctx).Model(&Order{}).Select("SUM(original_subtotal)").
		Where("shop_id = ? AND customer_platform_id = ? AND cancelled_at IS NULL AND platform_created_at >= ? AND platform_created_at <= ?",
			key.ShopID, key.CustomerPlatformID, since, now).
		Where("financial_status IN ?", []string{"paid", "partially_paid", "partially_refunded", "refunded"}).
		Scan(&paid).Error
	if err != nil {
		return decimal.Zero, fmt.Errorf("12-month spend: %w", err)
	}
	err = s.db.WithContext(ctx).Raw(`SELECT SUM(rl.subtotal) FROM refund_lines rl
JOIN refunds r ON r.id = rl.refund_id
JOIN orders o ON o.shop_id = r.shop_id AND o.platform_id = r.order_platform_id
WHERE o.shop_id = ? AND o.customer_platform_id = ? AND o.cancelled_at IS NULL AND o.platform_created_at >= ? AND o.platform_created_at <= ?`,
		key.ShopID, key.CustomerPlatformID, since, now).Scan(&refunded).Error
	if err != nil {
		return decimal.Zero, fmt.Errorf("12-month refunds: %w", err)
	}
	out := paid.Decimal.Sub(refunded.Decimal)
	if out.IsNegative() {
		out = decimal.Zero
	}
	return out, nil
}

// LoyaltyCustomers lists the shop's customers that have an account, for the
// nightly jobs (tiers, expiry), after the account id after, at most limit.
func (s *Store) LoyaltyCustomers(ctx context.Context, shopID uint64, after uint64, limit int) ([]LoyaltyAccount, error) {
	var out []LoyaltyAccount
	err := s.db.WithContext(ctx).Where("shop_id = ? AND id > ?", shopID, after).Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("loyalty accounts: %w", err)
	}
	return out, nil
}

// ExpireInactive posts an expire entry for every account whose last activity
// is before inactiveSince and that still has points available: the points
// lapse. The source id is the last activity's date, so one period expires
// once. It returns the accounts changed with the points each lost.
func (s *Store) ExpireInactive(ctx context.Context, now time.Time, shopID uint64, inactiveSince time.Time) (map[AccountKey]int64, error) {
	var keys []AccountKey
	err := s.db.WithContext(ctx).Model(&LoyaltyAccount{}).Select("shop_id, customer_platform_id").
		Where("shop_id = ? AND available > 0 AND last_activity_at < ?", shopID, inactiveSince).Scan(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("inactive accounts: %w", err)
	}
	out := map[AccountKey]int64{}
	for _, k := range keys {
		err := s.InTxAt(ctx, now, func(tx *Tx) error {
			a, err := tx.lockAccount(k)
			if err != nil {
				return err
			}
			if a.Available <= 0 || !a.LastActivityAt.Before(inactiveSince) {
				return nil // someone was active meanwhile
			}
			posted, err := tx.postLocked(&a, []LoyaltyEntry{{Kind: EntryExpire, SourceType: SourceInactivity,
				SourceID: a.LastActivityAt.UTC().Format(time.RFC3339), Points: -a.Available,
				Reason: "no activity since " + a.LastActivityAt.UTC().Format("2006-01-02")}})
			if err != nil || len(posted) == 0 {
				return err
			}
			out[k] = -posted[0].Points
			return tx.saveAccount(&a)
		})
		if err != nil {
			return nil, fmt.Errorf("expire %d/%d: %w", k.ShopID, k.CustomerPlatformID, err)
		}
	}
	return out, nil
}

// ExpiringAccounts lists accounts with points available whose last activity
// falls in [from, to) and that have had no reminder for that expiry date
// yet: their points expire soon unless they are active.
func (s *Store) ExpiringAccounts(ctx context.Context, shopID uint64, from, to time.Time, limit int) ([]LoyaltyAccount, error) {
	var out []LoyaltyAccount
	err := s.db.WithContext(ctx).Where("shop_id = ? AND available > 0 AND last_activity_at >= ? AND last_activity_at < ?", shopID, from, to).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("expiring accounts: %w", err)
	}
	return out, nil
}

// MarkExpiryNotice records that the customer was reminded about points
// expiring on expiresAt; false if they already were.
func (s *Store) MarkExpiryNotice(ctx context.Context, now time.Time, key AccountKey, expiresAt time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&LoyaltyAccount{}).
		Where("shop_id = ? AND customer_platform_id = ? AND (expiry_notice_for IS NULL OR expiry_notice_for <> ?)",
			key.ShopID, key.CustomerPlatformID, expiresAt).
		Updates(map[string]any{"expiry_notice_for": expiresAt, "updated_at": now.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("mark expiry notice: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// LoyaltyProgramData reads the shop's program settings JSON ("" if none).
func (s *Store) LoyaltyProgramData(ctx context.Context, shopID uint64) (string, error) {
	var p LoyaltyProgram
	err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Take(&p).Error
	if err != nil {
		if errors.Is(notFound(err), ErrNotFound) {
			return "", nil
		}
		return "", fmt.Errorf("loyalty program: %w", err)
	}
	return p.Data, nil
}

// SaveLoyaltyProgramData stores the shop's program settings JSON.
func (s *Store) SaveLoyaltyProgramData(ctx context.Context, shopID uint64, data string) error {
	now := time.Now().UTC()
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"data", "updated_at"}),
	}).Create(&LoyaltyProgram{ShopID: shopID, Data: data, CreatedAt: now, UpdatedAt: now}).Error
	if err != nil {
		return fmt.Errorf("save loyalty program: %w", err)
	}
	return nil
}
