package jobs

import (
	"strconv"
	"time"

	"github.com/doorstep/doorstep/models"
)

// historyMargin: a first sighting of an order placed more than this before
// the install is history (an edit to an old order, a late webhook), and
// history must never cause a customer message.
const historyMargin = 24 * time.Hour

func isHistory(shop models.Shop, created time.Time) bool {
	if shop.InstalledAt == nil || created.IsZero() {
		return false
	}
	return created.Before(shop.InstalledAt.Add(-historyMargin))
}

func orderSubject(id int64) string { return "order:" + strconv.FormatInt(id, 10) }

// orderTriggers derives the consequences of an order moving from prev (nil
// when first seen) to next. They come from the state, not the topic: an
// orders/paid delivery for an order that is already cancelled triggers no
// thank-you, and an orders/updated that first shows an order as paid does.
func orderTriggers(shop models.Shop, prev *models.Order, next *models.Order) []models.Trigger {
	if prev == nil && isHistory(shop, next.PlatformCreatedAt) {
		return nil
	}
	var out []models.Trigger
	add := func(kind string) {
		out = append(out, models.Trigger{ShopID: shop.ID, Kind: kind, Subject: orderSubject(next.PlatformID),
			OrderPlatformID: next.PlatformID})
	}
	if prev == nil {
		add(models.TriggerOrderCreated)
	}
	paidNow := next.FinancialStatus == "paid" || next.FinancialStatus == "partially_paid"
	if paidNow && !next.Cancelled() && (prev == nil || !prev.Paid()) {
		add(models.TriggerOrderPaid)
	}
	if next.Cancelled() && (prev == nil || !prev.Cancelled()) {
		add(models.TriggerOrderCancelled)
	}
	return out
}

// fulfillmentTrigger is the consequence of a shipment reaching a status it
// did not have; the status is the version, so each status fires once per
// fulfillment however many deliveries report it.
func fulfillmentTrigger(shop models.Shop, prevStatus string, f *models.Fulfillment) []models.Trigger {
	if f.ShipmentStatus == "" || f.ShipmentStatus == prevStatus || f.Status == "cancelled" || f.Status == "error" ||
		f.Status == "failure" || isHistory(shop, f.PlatformCreatedAt) {
		return nil
	}
	return []models.Trigger{{ShopID: shop.ID, Kind: models.TriggerFulfillmentStatus,
		Subject: "fulfillment:" + strconv.FormatInt(f.PlatformID, 10), Version: f.ShipmentStatus,
		OrderPlatformID: f.OrderPlatformID}}
}

func refundTrigger(shop models.Shop, r *models.Refund) []models.Trigger {
	if isHistory(shop, r.PlatformCreatedAt) {
		return nil
	}
	return []models.Trigger{{ShopID: shop.ID, Kind: models.TriggerRefundCreated,
		Subject: "refund:" + strconv.FormatInt(r.PlatformID, 10), OrderPlatformID: r.OrderPlatformID}}
}
