package models

import (
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The upserts below are newer-wins: a payload whose platform updated_at is
// not after the stored one changes nothing (webhooks arrive late, twice and
// out of order). Each returns the state before (nil when the row is new) and
// whether it applied the payload, so the caller can derive triggers from
// the change. They set ShopID and internal ids on the values passed in.

// errRetryRace is internal: an INSERT lost a race with a concurrent INSERT of
// the same row; the caller re-reads the winner.
var errRetryRace = errors.New("lost insert race")

// upsertNewerWins is the shared shape: lock the row, insert if absent (a
// concurrent insert of the same key makes us re-read), or update when
// newer.
//
// known, when set, is the row as the caller already read it locked in this
// transaction (nil: known absent), which saves the first lookup.
func upsertNewerWins[T any](tx *Tx, where string, args []any, row *T, id func(*T) uint64, setID func(*T, uint64),
	newer func(prev, next *T) bool, keep func(prev, next *T), known *T, isKnown bool) (*T, bool, error) {
	for attempt := 0; attempt < 2; attempt++ {
		var prev T
		var err error
		switch {
		case attempt == 0 && isKnown && known == nil:
			err = gorm.ErrRecordNotFound
		case attempt == 0 && isKnown:
			prev = *known
		default:
			err = forUpdate(tx.db, tx.pg).Where(where, args...).Take(&prev).Error
		}
		if errors.Is(err, gorm.ErrRecordNotFound) {
			setID(row, 0)
			res := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(row)
			if res.Error != nil {
				return nil, false, res.Error
			}
			if res.RowsAffected == 1 {
				return nil, true, nil
			}
			continue // someone else inserted it first: read theirs and compare
		}
		if err != nil {
			return nil, false, err
		}
		setID(row, id(&prev))
		if !newer(&prev, row) {
			return &prev, false, nil
		}
		if keep != nil {
			keep(&prev, row)
		}
		if err := tx.db.Select("*").Omit("created_at").Save(row).Error; err != nil {
			return &prev, false, err
		}
		return &prev, true, nil
	}
	return nil, false, errRetryRace
}

// UpsertOrder stores the order (not its nested lines, fulfillments, refunds
// or customer: see UpsertLineItems and friends). It links fulfillments and
// refunds that arrived before their order.
func (tx *Tx) UpsertOrder(shopID uint64, o *Order) (prev *Order, applied bool, err error) {
	o.ShopID = shopID
	known, isKnown := tx.prefetchedOrder(shopID, o.PlatformID)
	prev, applied, err = upsertNewerWins(tx, "shop_id = ? AND platform_id = ?", []any{shopID, o.PlatformID}, o,
		func(x *Order) uint64 { return x.ID }, func(x *Order, id uint64) { x.ID = id },
		func(p, n *Order) bool { return n.PlatformUpdatedAt.After(p.PlatformUpdatedAt) },
		func(p, n *Order) {
			// A redacted order stays redacted whatever the platform sends later.
			if p.RedactedAt != nil {
				n.Email, n.Phone, n.Locale, n.StatusPageURL, n.BrowserIP = "", "", "", "", ""
				n.ShippingAddress = Address{}
				n.RedactedAt = p.RedactedAt
			}
		}, known, isKnown)
	if err != nil {
		return nil, false, fmt.Errorf("upsert order %d: %w", o.PlatformID, err)
	}
	if prev != nil && o.CreatedAt.IsZero() {
		o.CreatedAt = prev.CreatedAt
	}
	if prev == nil && tx.mayHaveOrphans(shopID, o.PlatformID) {
		if err := tx.linkOrphans(shopID, o); err != nil {
			return nil, false, err
		}
	}
	return prev, applied, nil
}

// linkOrphans points fulfillments and refunds that arrived before their
// order at it. On PostgreSQL both updates go in one round trip (a
// data-modifying CTE): this runs for every new order.
func (tx *Tx) linkOrphans(shopID uint64, o *Order) error {
	if tx.pg {
		err := tx.db.Exec(`WITH f AS (UPDATE fulfillments SET order_id = @id WHERE shop_id = @shop AND order_platform_id = @pid AND order_id = 0 RETURNING 1),
r AS (UPDATE refunds SET order_id = @id WHERE shop_id = @shop AND order_platform_id = @pid AND order_id = 0 RETURNING 1)
SELECT (SELECT count(*) FROM f) + (SELECT count(*) FROM r)`,
			map[string]any{"id": o.ID, "shop": shopID, "pid": o.PlatformID}).Error
		if err != nil {
			return fmt.Errorf("link fulfillments and refunds to order %d: %w", o.PlatformID, err)
		}
		return nil
	}
	for _, table := range []string{"fulfillments", "refunds"} {
		if err := tx.db.Table(table).Where("shop_id = ? AND order_platform_id = ? AND order_id = 0", shopID, o.PlatformID).
			Update("order_id", o.ID).Error; err != nil {
			return fmt.Errorf("link %s to order %d: %w", table, o.PlatformID, err)
		}
	}
	return nil
}

// UpsertLineItems stores the order's lines; call it only when UpsertOrder
// applied the payload, so stale payloads don't rewrite lines.
func (tx *Tx) UpsertLineItems(shopID, orderID uint64, lines []LineItem) error {
	if len(lines) == 0 {
		return nil
	}
	for i := range lines {
		lines[i].ShopID, lines[i].OrderID, lines[i].ID = shopID, orderID, 0
	}
	// One multi-row upsert for all the order's lines.
	err := tx.db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "shop_id"}, {Name: "platform_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"order_id", "product_id", "variant_id", "sku", "title",
			"variant_title", "quantity", "price", "total_discount", "discount_allocated", "fulfillable_quantity", "fulfillment_status",
			"requires_shipping", "image_url", "updated_at"}),
	}).Create(&lines).Error
	if err != nil {
		return fmt.Errorf("upsert %d line items of order %d: %w", len(lines), orderID, err)
	}
	return nil
}

// orderIDFor finds the internal id of an order by platform id; 0 when the
// order has not arrived yet (it is linked when it does).
func (tx *Tx) orderIDFor(shopID uint64, orderPlatformID int64) (uint64, error) {
	var ids []uint64
	if err := tx.db.Model(&Order{}).Where("shop_id = ? AND platform_id = ?", shopID, orderPlatformID).
		Limit(1).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("find order %d: %w", orderPlatformID, err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return ids[0], nil
}

// UpsertFulfillment stores a fulfillment newer-wins, linking it to its order
// (0 until the order arrives) and linking carrier events that came first.
// What only carrier events know survives a newer payload that lacks it: a
// payload without a shipment status ("confirmed") does not move a shipment
// back from a scanned status, and delivered/ETA times are kept.
func (tx *Tx) UpsertFulfillment(shopID uint64, f *Fulfillment) (prev *Fulfillment, applied bool, err error) {
	f.ShopID = shopID
	if f.OrderID, err = tx.orderIDFor(shopID, f.OrderPlatformID); err != nil {
		return nil, false, err
	}
	if f.OrderID == 0 {
		tx.noteOrphan(shopID, f.OrderPlatformID)
	}
	// Scans that arrived before the fulfillment itself (webhooks are
	// unordered) decide its status when the payload has none.
	latest, err := tx.latestEvent(shopID, f.PlatformID)
	if err != nil {
		return nil, false, err
	}
	if latest != nil && (f.ShipmentStatus == "" || f.ShipmentStatus == ShipmentConfirmed) && latest.Status != "" {
		f.ShipmentStatus = latest.Status
		if latest.EstimatedDeliveryAt != nil && f.EstimatedDeliveryAt == nil {
			f.EstimatedDeliveryAt = latest.EstimatedDeliveryAt
		}
		if latest.Status == ShipmentDelivered && f.DeliveredAt == nil {
			at := latest.HappenedAt
			f.DeliveredAt = &at
		}
	}
	prev, applied, err = upsertNewerWins(tx, "shop_id = ? AND platform_id = ?", []any{shopID, f.PlatformID}, f,
		func(x *Fulfillment) uint64 { return x.ID }, func(x *Fulfillment, id uint64) { x.ID = id },
		func(p, n *Fulfillment) bool { return n.PlatformUpdatedAt.After(p.PlatformUpdatedAt) },
		func(p, n *Fulfillment) {
			if (n.ShipmentStatus == "" || n.ShipmentStatus == ShipmentConfirmed) && p.ShipmentStatus != "" {
				n.ShipmentStatus = p.ShipmentStatus
			}
			if n.DeliveredAt == nil {
				n.DeliveredAt = p.DeliveredAt
			}
			if n.EstimatedDeliveryAt == nil {
				n.EstimatedDeliveryAt = p.EstimatedDeliveryAt
			}
		}, nil, false)
	if err != nil {
		return nil, false, fmt.Errorf("upsert fulfillment %d: %w", f.PlatformID, err)
	}
	if prev == nil {
		if err := tx.db.Model(&FulfillmentEvent{}).Where("shop_id = ? AND fulfillment_platform_id = ? AND fulfillment_id = 0", shopID, f.PlatformID).
			Update("fulfillment_id", f.ID).Error; err != nil {
			return nil, false, fmt.Errorf("link events to fulfillment %d: %w", f.PlatformID, err)
		}
	}
	return prev, applied, nil
}

// latestEvent is the fulfillment's most recent carrier scan, nil if none.
func (tx *Tx) latestEvent(shopID uint64, fulfillmentPlatformID int64) (*FulfillmentEvent, error) {
	var evs []FulfillmentEvent
	if err := tx.db.Where("shop_id = ? AND fulfillment_platform_id = ?", shopID, fulfillmentPlatformID).
		Order("happened_at DESC, id DESC").Limit(1).Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("latest event of fulfillment %d: %w", fulfillmentPlatformID, err)
	}
	if len(evs) == 0 {
		return nil, nil
	}
	return &evs[0], nil
}

// ApplyFulfillmentEvent stores a carrier event once and, when it is the
// latest event of a known fulfillment, moves the fulfillment's shipment
// status to it. It returns the fulfillment as it is afterwards (nil when the
// fulfillment is not stored yet), its shipment status before, and whether
// the event was new.
func (tx *Tx) ApplyFulfillmentEvent(shopID uint64, ev *FulfillmentEvent) (f *Fulfillment, prevStatus string, inserted bool, err error) {
	ev.ShopID, ev.ID = shopID, 0
	var fl Fulfillment
	ferr := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND platform_id = ?", shopID, ev.FulfillmentPlatformID).Take(&fl).Error
	switch {
	case errors.Is(ferr, gorm.ErrRecordNotFound):
	case ferr != nil:
		return nil, "", false, fmt.Errorf("load fulfillment %d: %w", ev.FulfillmentPlatformID, ferr)
	default:
		ev.FulfillmentID = fl.ID
	}
	res := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(ev)
	if res.Error != nil {
		return nil, "", false, fmt.Errorf("insert fulfillment event %d: %w", ev.PlatformID, res.Error)
	}
	inserted = res.RowsAffected == 1
	if fl.ID == 0 {
		return nil, "", inserted, nil
	}
	prevStatus = fl.ShipmentStatus
	if !inserted {
		return &fl, prevStatus, false, nil
	}
	// Is any stored event of this fulfillment later than this one?
	var later int64
	if err := tx.db.Model(&FulfillmentEvent{}).Where("shop_id = ? AND fulfillment_id = ? AND happened_at > ?", shopID, fl.ID, ev.HappenedAt).
		Count(&later).Error; err != nil {
		return nil, "", false, fmt.Errorf("compare events: %w", err)
	}
	if later > 0 || ev.Status == "" {
		return &fl, prevStatus, true, nil
	}
	updates := map[string]any{"shipment_status": ev.Status}
	fl.ShipmentStatus = ev.Status
	if ev.EstimatedDeliveryAt != nil {
		updates["estimated_delivery_at"] = ev.EstimatedDeliveryAt
		fl.EstimatedDeliveryAt = ev.EstimatedDeliveryAt
	}
	if ev.Status == ShipmentDelivered && fl.DeliveredAt == nil {
		t := ev.HappenedAt
		updates["delivered_at"] = t
		fl.DeliveredAt = &t
	}
	if err := tx.db.Model(&Fulfillment{}).Where("id = ?", fl.ID).Updates(updates).Error; err != nil {
		return nil, "", false, fmt.Errorf("update shipment status: %w", err)
	}
	return &fl, prevStatus, true, nil
}

// UpsertRefund stores a refund and its lines once (refunds don't change
// after creation). It returns whether the refund was new.
func (tx *Tx) UpsertRefund(shopID uint64, r *Refund) (bool, error) {
	r.ShopID, r.ID = shopID, 0
	var err error
	if r.OrderID, err = tx.orderIDFor(shopID, r.OrderPlatformID); err != nil {
		return false, err
	}
	if r.OrderID == 0 {
		tx.noteOrphan(shopID, r.OrderPlatformID)
	}
	res := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(r)
	if res.Error != nil {
		return false, fmt.Errorf("insert refund %d: %w", r.PlatformID, res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	for i := range r.Lines {
		l := &r.Lines[i]
		l.ShopID, l.RefundID, l.ID = shopID, r.ID, 0
		if err := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(l).Error; err != nil {
			return false, fmt.Errorf("insert refund line %d: %w", l.PlatformID, err)
		}
	}
	return true, nil
}

// UpsertCustomer stores a customer newer-wins in one statement (customers
// cause no triggers, so the previous state is not needed). A redacted
// customer is never written again. Returns whether the row changed.
func (tx *Tx) UpsertCustomer(shopID uint64, c *Customer) (bool, error) {
	if tx.batch != nil {
		// Written with the batch's other customers by FlushBatch; whether
		// the row changes is not known until then.
		tx.deferCustomer(shopID, c)
		return false, nil
	}
	rows := []Customer{*c}
	n, err := tx.upsertCustomers(shopID, rows)
	c.ShopID, c.ID = shopID, rows[0].ID
	return n > 0, err
}

// upsertCustomers is UpsertCustomer for many customers in one statement;
// they must be distinct (one row may not be updated twice by a statement).
func (tx *Tx) upsertCustomers(shopID uint64, cs []Customer) (int64, error) {
	for i := range cs {
		cs[i].ShopID, cs[i].ID = shopID, 0
	}
	res := tx.db.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "shop_id"}, {Name: "platform_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"email", "phone", "first_name", "last_name", "locale", "state",
			"email_marketing", "sms_marketing", "platform_created_at", "platform_updated_at", "updated_at"}),
		Where: clause.Where{Exprs: []clause.Expression{clause.Expr{
			SQL: "customers.platform_updated_at < excluded.platform_updated_at AND customers.redacted_at IS NULL"}}},
	}).Create(&cs)
	if res.Error != nil {
		return 0, fmt.Errorf("upsert %d customers: %w", len(cs), res.Error)
	}
	return res.RowsAffected, nil
}
