package models

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// CustomerSummary is a row of the admin's customer list: the customer, how
// many orders Doorstep holds for them, and their loyalty standing (zero
// when they have no account).
type CustomerSummary struct {
	Customer
	Orders    int64
	Available int64
	Pending   int64
	Tier      string
}

// CustomerSearch selects a page of a shop's customers, newest first.
type CustomerSearch struct {
	// Q matches an email exactly (any case), a customer id, or the start
	// of a first or last name (any case).
	Q     string
	Limit int
	After uint64 // id of the last customer of the previous page
}

// SearchCustomers returns up to s.Limit+1 of the shop's customers matching
// s, with order counts and loyalty balances.
func (st *Store) SearchCustomers(ctx context.Context, shopID uint64, s CustomerSearch) ([]CustomerSummary, error) {
	db := st.db.WithContext(ctx)
	q := db.Table("customers").Where("customers.shop_id = ? AND customers.redacted_at IS NULL", shopID)
	if term := strings.TrimSpace(s.Q); term != "" {
		prefix := strings.ToLower(escapeLike(term)) + "%"
		cond := db.Where("LOWER(customers.email) = LOWER(?)", term).
			Or("LOWER(customers.first_name) LIKE ? ESCAPE '\\'", prefix).
			Or("LOWER(customers.last_name) LIKE ? ESCAPE '\\'", prefix)
		if n, err := strconv.ParseInt(term, 10, 64); err == nil && n > 0 {
			cond = cond.Or("customers.platform_id = ?", n)
		}
		q = q.Where(cond)
	}
	if s.After != 0 {
		q = q.Where("customers.id < ?", s.After)
	}
	var out []CustomerSummary
	err := q.Select("customers.*, " +
		"(SELECT COUNT(*) FROM orders o WHERE o.shop_id = customers.shop_id AND o.customer_platform_id = customers.platform_id) AS orders, " +
		"COALESCE(la.available, 0) AS available, COALESCE(la.pending, 0) AS pending, COALESCE(la.tier, '') AS tier").
		Joins("LEFT JOIN loyalty_accounts la ON la.shop_id = customers.shop_id AND la.customer_platform_id = customers.platform_id").
		Order("customers.id DESC").Limit(s.Limit + 1).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("search customers: %w", err)
	}
	return out, nil
}

// escapeLike makes s match literally inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CustomerOrders lists a customer's most recent orders in the shop.
func (st *Store) CustomerOrders(ctx context.Context, shopID uint64, customerPlatformID int64, limit int) ([]Order, error) {
	var out []Order
	err := st.db.WithContext(ctx).Where("shop_id = ? AND customer_platform_id = ?", shopID, customerPlatformID).
		Order("platform_created_at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("customer orders: %w", err)
	}
	return out, nil
}

// CustomerFeedback lists the ratings, scores and reviews a customer gave.
func (st *Store) CustomerFeedback(ctx context.Context, shopID uint64, customerPlatformID int64, limit int) ([]Feedback, error) {
	var out []Feedback
	err := st.db.WithContext(ctx).Where("shop_id = ? AND customer_platform_id = ?", shopID, customerPlatformID).
		Order("updated_at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("customer feedback: %w", err)
	}
	return out, nil
}

// OrderHolds lists an order's uncleared holds.
func (st *Store) OrderHolds(ctx context.Context, shopID uint64, orderPlatformID int64) ([]OrderHold, error) {
	var hs []OrderHold
	err := st.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id = ? AND cleared_at IS NULL", shopID, orderPlatformID).
		Order("id").Find(&hs).Error
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	return hs, nil
}
