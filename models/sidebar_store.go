package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The helpdesk sidebar answers while an agent waits (Gorgias shows nothing
// if the app is slow), so every query here is an indexed lookup bounded by
// one customer: customers by email (customers.email), orders by email
// (orders.email) or customer id (orders.customer_platform_id), and the
// rest by (shop_id, order_platform_id) prefixes of the tables' keys.

// emailForms are the spellings an address may be stored under: as the desk
// sent it and lower-cased. A LOWER(email) comparison would skip the index.
func emailForms(email string) []string {
	email = strings.TrimSpace(email)
	if email == "" {
		return nil
	}
	lower := strings.ToLower(email)
	if lower == email {
		return []string{email}
	}
	return []string{email, lower}
}

// SidebarCustomers finds the shop's customers with this email or, when
// phone is given, this phone, newest first, at most limit. Redacted
// customers are left out.
//
// The phone match has no index (customers.phone is not indexed), so it runs
// only when no email is given; an index on customers (shop_id, phone) would
// make it as fast as the email lookup.
func (s *Store) SidebarCustomers(ctx context.Context, shopID uint64, email, phone string, limit int) ([]Customer, error) {
	q := s.db.WithContext(ctx).Where("shop_id = ? AND redacted_at IS NULL", shopID)
	switch forms := emailForms(email); {
	case len(forms) > 0:
		q = q.Where("email IN ?", forms)
	case strings.TrimSpace(phone) != "":
		q = q.Where("phone = ?", strings.TrimSpace(phone))
	default:
		return nil, nil
	}
	var out []Customer
	if err := q.Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("sidebar customers: %w", err)
	}
	return out, nil
}

// SidebarOrders returns the platform ids of the shop's most recent orders
// placed with this email or by one of these customers (at most limit,
// newest first), and how many such orders there are in all.
func (s *Store) SidebarOrders(ctx context.Context, shopID uint64, email string, customers []int64, limit int) ([]int64, int64, error) {
	forms := emailForms(email)
	if len(forms) == 0 && len(customers) == 0 {
		return nil, 0, nil
	}
	match := func() *gorm.DB {
		q := s.db.WithContext(ctx).Model(&Order{}).Where("shop_id = ? AND redacted_at IS NULL", shopID)
		switch {
		case len(forms) > 0 && len(customers) > 0:
			q = q.Where("(email IN ? OR customer_platform_id IN ?)", forms, customers)
		case len(forms) > 0:
			q = q.Where("email IN ?", forms)
		default:
			q = q.Where("customer_platform_id IN ?", customers)
		}
		return q
	}
	// One round trip: the window count is taken before the LIMIT, so each
	// row carries how many orders match in all.
	var rows []struct {
		PlatformID int64
		Total      int64
	}
	err := match().Select("platform_id, COUNT(*) OVER () AS total").Order("platform_created_at DESC, id DESC").Limit(limit).
		Scan(&rows).Error
	if err != nil {
		return nil, 0, fmt.Errorf("sidebar orders: %w", err)
	}
	if len(rows) == 0 {
		return nil, 0, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.PlatformID
	}
	return ids, rows[0].Total, nil
}

// SidebarMessages lists the messages about these orders, newest first, at
// most limit.
func (s *Store) SidebarMessages(ctx context.Context, shopID uint64, orders []int64, limit int) ([]Message, error) {
	if len(orders) == 0 {
		return nil, nil
	}
	var out []Message
	err := s.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id IN ? AND to_merchant = ?", shopID, orders, false).
		Order("id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("sidebar messages: %w", err)
	}
	return out, nil
}

// SidebarFeedback lists the ratings, scores and reviews given about these
// orders, newest first, at most limit.
func (s *Store) SidebarFeedback(ctx context.Context, shopID uint64, orders []int64, limit int) ([]Feedback, error) {
	if len(orders) == 0 {
		return nil, nil
	}
	var out []Feedback
	err := s.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id IN ?", shopID, orders).
		Order("updated_at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("sidebar feedback: %w", err)
	}
	return out, nil
}

// SidebarHolds lists the uncleared holds on these orders.
func (s *Store) SidebarHolds(ctx context.Context, shopID uint64, orders []int64) ([]OrderHold, error) {
	if len(orders) == 0 {
		return nil, nil
	}
	var out []OrderHold
	err := s.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id IN ? AND cleared_at IS NULL", shopID, orders).
		Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("sidebar holds: %w", err)
	}
	return out, nil
}

// ManualPointsSince sums the points of a customer's manual adjustments
// whose source id starts with prefix, posted at or after since: what the
// helpdesk's goodwill grants gave them lately, for the daily cap.
func (s *Store) ManualPointsSince(ctx context.Context, key AccountKey, prefix string, since time.Time) (int64, error) {
	var sum int64
	err := s.db.WithContext(ctx).Model(&LoyaltyEntry{}).Select("COALESCE(SUM(points), 0)").
		Where("shop_id = ? AND customer_platform_id = ? AND kind = ? AND source_type = ? AND source_id LIKE ? ESCAPE '\\' AND at >= ?",
			key.ShopID, key.CustomerPlatformID, EntryAdjust, SourceManual, escapeLike(prefix)+"%", since.UTC()).
		Scan(&sum).Error
	if err != nil {
		return 0, fmt.Errorf("manual points since %s: %w", since.Format(time.RFC3339), err)
	}
	return sum, nil
}

// ActiveHelpdeskConnectionsAt lists the active connections of a kind to
// the desk at baseURL, at most limit: a Zendesk sidebar token names the
// Zendesk account, not our connection. The table holds a few rows per
// shop, so the scan on base_url is cheap.
func (s *Store) ActiveHelpdeskConnectionsAt(ctx context.Context, kind, baseURL string, limit int) ([]HelpdeskConnection, error) {
	var out []HelpdeskConnection
	err := s.db.WithContext(ctx).Where("kind = ? AND base_url = ? AND disconnected_at IS NULL", kind, baseURL).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("helpdesk connections at %s: %w", baseURL, err)
	}
	return out, nil
}
