package models

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// RecordReferralClick counts one visit through a referral link.
func (s *Store) RecordReferralClick(ctx context.Context, shopID uint64, code string, at time.Time) error {
	if err := s.db.WithContext(ctx).Create(&ReferralClick{ShopID: shopID, Code: strings.ToUpper(code), At: at.UTC()}).Error; err != nil {
		return fmt.Errorf("record referral click: %w", err)
	}
	return nil
}

// ReferralClicks counts the shop's referral clicks since a time.
func (s *Store) ReferralClicks(ctx context.Context, shopID uint64, since time.Time) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&ReferralClick{}).Where("shop_id = ? AND at >= ?", shopID, since).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count referral clicks: %w", err)
	}
	return n, nil
}

// CreateReferral records an attributed referee order; an order is attributed
// once (created is false when it already was, and the stored row returns).
func (s *Store) CreateReferral(ctx context.Context, now time.Time, r Referral) (Referral, bool, error) {
	r.ID, r.CreatedAt, r.UpdatedAt = 0, now.UTC(), now.UTC()
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&r)
	if res.Error != nil {
		return Referral{}, false, fmt.Errorf("record referral of order %d: %w", r.OrderPlatformID, res.Error)
	}
	if res.RowsAffected == 1 {
		return r, true, nil
	}
	stored, err := s.ReferralByOrder(ctx, r.ShopID, r.OrderPlatformID)
	return stored, false, err
}

// ReferralByOrder finds the referral of a referee order; ErrNotFound if the
// order was not referred.
func (s *Store) ReferralByOrder(ctx context.Context, shopID uint64, orderPlatformID int64) (Referral, error) {
	var r Referral
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id = ?", shopID, orderPlatformID).Take(&r).Error; err != nil {
		return Referral{}, fmt.Errorf("referral of order %d: %w", orderPlatformID, notFound(err))
	}
	return r, nil
}

// ReferralByID reads one referral of the shop.
func (s *Store) ReferralByID(ctx context.Context, shopID, id uint64) (Referral, error) {
	var r Referral
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&r).Error; err != nil {
		return Referral{}, fmt.Errorf("referral %d: %w", id, notFound(err))
	}
	return r, nil
}

// ReferralSearch filters a shop's referrals.
type ReferralSearch struct {
	Status   string // "" for all
	Referrer int64  // 0 for all
	Before   uint64 // id cursor, newest first
	Limit    int
}

// Referrals lists a shop's referrals newest first.
func (s *Store) Referrals(ctx context.Context, shopID uint64, q ReferralSearch) ([]Referral, error) {
	db := s.db.WithContext(ctx).Where("shop_id = ?", shopID)
	if q.Status != "" {
		db = db.Where("status = ?", q.Status)
	}
	if q.Referrer != 0 {
		db = db.Where("referrer_platform_id = ?", q.Referrer)
	}
	if q.Before > 0 {
		db = db.Where("id < ?", q.Before)
	}
	var out []Referral
	if err := db.Order("id DESC").Limit(q.Limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("referrals: %w", err)
	}
	return out, nil
}

// DueReferrals lists pending referrals whose reward is due.
func (s *Store) DueReferrals(ctx context.Context, shopID uint64, now time.Time, limit int) ([]Referral, error) {
	var out []Referral
	err := s.db.WithContext(ctx).Where("shop_id = ? AND status = ? AND reward_due_at <= ?", shopID, ReferralPending, now).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("due referrals: %w", err)
	}
	return out, nil
}

// SetReferralStatus moves a referral from one of the from statuses to to,
// recording who decided (a merchant's review); false if it was in none of
// them.
func (s *Store) SetReferralStatus(ctx context.Context, now time.Time, shopID, id uint64, from []string, to, reviewer string) (bool, error) {
	upd := map[string]any{"status": to, "updated_at": now.UTC()}
	if reviewer != "" {
		upd["reviewed_by"], upd["reviewed_at"] = reviewer, now.UTC()
	}
	res := s.db.WithContext(ctx).Model(&Referral{}).Where("shop_id = ? AND id = ? AND status IN ?", shopID, id, from).Updates(upd)
	if res.Error != nil {
		return false, fmt.Errorf("referral %d → %s: %w", id, to, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RewardReferral grants the referrer's reward for a pending referral, once:
// the referral becomes rewarded and the reward entry (reward.Points, kind
// referral_reward) is posted to the referrer in the same transaction.
func (s *Store) RewardReferral(ctx context.Context, now time.Time, r Referral, reward LoyaltyEntry) (bool, LoyaltyAccount, error) {
	var done bool
	var acct LoyaltyAccount
	err := s.InTxAt(ctx, now, func(tx *Tx) error {
		res := tx.db.Model(&Referral{}).Where("shop_id = ? AND id = ? AND status = ?", r.ShopID, r.ID, ReferralPending).
			Updates(map[string]any{"status": ReferralRewarded, "updated_at": tx.now})
		if res.Error != nil {
			return fmt.Errorf("reward referral %d: %w", r.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		reward.Kind, reward.SourceType, reward.SourceID = EntryReferralReward, SourceReferral, strconv.FormatUint(r.ID, 10)
		reward.OrderPlatformID = r.OrderPlatformID
		a, err := tx.lockAccount(AccountKey{ShopID: r.ShopID, CustomerPlatformID: r.ReferrerPlatformID})
		if err != nil {
			return err
		}
		if _, err := tx.postLocked(&a, []LoyaltyEntry{reward}); err != nil {
			return err
		}
		done, acct = true, a
		return tx.saveAccount(&a)
	})
	return done, acct, err
}

// ReverseReferral marks a referral reversed because the referee's order was
// refunded or cancelled; a reward already granted is taken back by a
// reverse entry. It returns the points taken back.
func (s *Store) ReverseReferral(ctx context.Context, now time.Time, r Referral, reason string) (int64, LoyaltyAccount, error) {
	var taken int64
	var acct LoyaltyAccount
	err := s.InTxAt(ctx, now, func(tx *Tx) error {
		var cur Referral
		if err := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND id = ?", r.ShopID, r.ID).Take(&cur).Error; err != nil {
			return fmt.Errorf("referral %d: %w", r.ID, notFound(err))
		}
		switch cur.Status {
		case ReferralReversed, ReferralRejected:
			return nil
		}
		if err := tx.db.Model(&Referral{}).Where("id = ?", cur.ID).
			Updates(map[string]any{"status": ReferralReversed, "updated_at": tx.now}).Error; err != nil {
			return fmt.Errorf("reverse referral %d: %w", cur.ID, err)
		}
		if cur.Status != ReferralRewarded {
			return nil
		}
		var reward LoyaltyEntry
		err := tx.db.Where("shop_id = ? AND kind = ? AND source_type = ? AND source_id = ?", cur.ShopID, EntryReferralReward,
			SourceReferral, strconv.FormatUint(cur.ID, 10)).Take(&reward).Error
		if err != nil {
			return fmt.Errorf("reward of referral %d: %w", cur.ID, notFound(err))
		}
		a, err := tx.lockAccount(AccountKey{ShopID: cur.ShopID, CustomerPlatformID: cur.ReferrerPlatformID})
		if err != nil {
			return err
		}
		posted, err := tx.postLocked(&a, []LoyaltyEntry{{Kind: EntryReverse, SourceType: SourceReferral,
			SourceID: strconv.FormatUint(cur.ID, 10), Points: -reward.Points, RelatedID: reward.ID,
			OrderPlatformID: cur.OrderPlatformID, Reason: truncate(reason, 1000)}})
		if err != nil {
			return err
		}
		if len(posted) == 1 {
			taken = reward.Points
		}
		acct = a
		return tx.saveAccount(&a)
	})
	return taken, acct, err
}

// ReferralFraudCounts are what the fraud rules compare against their limits.
type ReferralFraudCounts struct {
	FromIP        int64 // other referred orders from the same browser IP
	ToAddress     int64 // other referred orders shipped to the same address
	ReferrerMonth int64 // referrals this referrer got this calendar month
}

// ReferralFraudCounts counts, for a referee order about to be attributed,
// the shop's other referred orders from the same IP and to the same
// shipping address, and the referrer's referrals since monthStart.
func (s *Store) ReferralFraudCounts(ctx context.Context, shopID uint64, o Order, referrer int64, monthStart time.Time) (ReferralFraudCounts, error) {
	var c ReferralFraudCounts
	db := s.db.WithContext(ctx)
	base := func() *gorm.DB {
		return db.Table("referrals r").Joins("JOIN orders o ON o.shop_id = r.shop_id AND o.platform_id = r.order_platform_id").
			Where("r.shop_id = ? AND r.order_platform_id <> ?", shopID, o.PlatformID)
	}
	if o.BrowserIP != "" {
		if err := base().Where("o.browser_ip = ?", o.BrowserIP).Count(&c.FromIP).Error; err != nil {
			return c, fmt.Errorf("referrals from ip: %w", err)
		}
	}
	if a := o.ShippingAddress; a.Address1 != "" {
		if err := base().Where("LOWER(o.ship_address1) = ? AND LOWER(o.ship_zip) = ? AND o.ship_country_code = ?",
			strings.ToLower(strings.TrimSpace(a.Address1)), strings.ToLower(strings.TrimSpace(a.Zip)), a.CountryCode).
			Count(&c.ToAddress).Error; err != nil {
			return c, fmt.Errorf("referrals to address: %w", err)
		}
	}
	if err := db.Model(&Referral{}).Where("shop_id = ? AND referrer_platform_id = ? AND created_at >= ? AND order_platform_id <> ?",
		shopID, referrer, monthStart, o.PlatformID).Count(&c.ReferrerMonth).Error; err != nil {
		return c, fmt.Errorf("referrals this month: %w", err)
	}
	return c, nil
}

// PriorOrders counts the customer's orders placed before the given one
// (by platform creation time): a referee must be a new customer.
func (s *Store) PriorOrders(ctx context.Context, shopID uint64, customer int64, o Order) (int64, error) {
	var n int64
	q := s.db.WithContext(ctx).Model(&Order{}).Where("shop_id = ? AND platform_id <> ? AND platform_created_at < ?",
		shopID, o.PlatformID, o.PlatformCreatedAt)
	if customer != 0 && o.Email != "" {
		q = q.Where("(customer_platform_id = ? OR LOWER(email) = ?)", customer, strings.ToLower(o.Email))
	} else if customer != 0 {
		q = q.Where("customer_platform_id = ?", customer)
	} else {
		q = q.Where("LOWER(email) = ?", strings.ToLower(o.Email))
	}
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("prior orders: %w", err)
	}
	return n, nil
}

// CustomerByPlatformID reads one customer of the shop.
func (s *Store) CustomerByPlatformID(ctx context.Context, shopID uint64, id int64) (Customer, error) {
	var c Customer
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND platform_id = ?", shopID, id).Take(&c).Error; err != nil {
		return Customer{}, fmt.Errorf("customer %d: %w", id, notFound(err))
	}
	return c, nil
}

// LatestOrderOf reads the customer's most recent order (for the referrer's
// shipping address in the self-referral check); ErrNotFound if none.
func (s *Store) LatestOrderOf(ctx context.Context, shopID uint64, customer int64, except int64) (Order, error) {
	var o Order
	err := s.db.WithContext(ctx).Where("shop_id = ? AND customer_platform_id = ? AND platform_id <> ?", shopID, customer, except).
		Order("platform_created_at DESC").Take(&o).Error
	if err != nil {
		return Order{}, fmt.Errorf("latest order of customer %d: %w", customer, notFound(err))
	}
	return o, nil
}
