package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
)

func TestOrderTriggers_FromStateNotTopic(t *testing.T) {
	t.Parallel()
	installed := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	shop := models.Shop{ID: 1, InstalledAt: &installed}
	recent := installed.Add(48 * time.Hour)
	cancelled := recent.Add(time.Hour)
	order := func(fin string, created time.Time, cancel bool) *models.Order {
		o := &models.Order{PlatformID: 5, FinancialStatus: fin, PlatformCreatedAt: created}
		if cancel {
			o.CancelledAt = &cancelled
		}
		return o
	}
	cases := []struct {
		name       string
		prev, next *models.Order
		want       string
	}{
		{"new pending order", nil, order("pending", recent, false), "order_created"},
		{"new paid order", nil, order("paid", recent, false), "order_created,order_paid"},
		{"pending becomes paid", order("pending", recent, false), order("paid", recent, false), "order_paid"},
		{"paid stays paid", order("paid", recent, false), order("paid", recent, false), ""},
		{"paid after cancel: no thank-you", order("pending", recent, true), order("paid", recent, true), ""},
		{"cancelled", order("paid", recent, false), order("refunded", recent, true), "order_cancelled"},
		{"new order already cancelled", nil, order("voided", recent, true), "order_created,order_cancelled"},
		{"first sight of a refunded order is not a payment", nil, order("refunded", recent, false), "order_created"},
		{"history: old order seen first now", nil, order("paid", installed.Add(-72*time.Hour), false), ""},
		{"old order already stored, now paid", order("pending", installed.Add(-72*time.Hour), false), order("paid", installed.Add(-72*time.Hour), false), "order_paid"},
	}
	for _, tc := range cases {
		var kinds []string
		for _, tr := range orderTriggers(shop, tc.prev, tc.next) {
			if tr.Subject != "order:5" || tr.OrderPlatformID != 5 || tr.ShopID != 1 {
				t.Errorf("%s: trigger %+v", tc.name, tr)
			}
			kinds = append(kinds, tr.Kind)
		}
		if got := strings.Join(kinds, ","); got != tc.want {
			t.Errorf("%s: triggers %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFulfillmentTrigger_OncePerStatus(t *testing.T) {
	t.Parallel()
	shop := models.Shop{ID: 1}
	f := &models.Fulfillment{PlatformID: 9, OrderPlatformID: 5, Status: "success", ShipmentStatus: models.ShipmentInTransit}
	if got := fulfillmentTrigger(shop, models.ShipmentConfirmed, f); len(got) != 1 || got[0].Version != "in_transit" || got[0].Subject != "fulfillment:9" {
		t.Fatalf("status change: %+v", got)
	}
	if got := fulfillmentTrigger(shop, models.ShipmentInTransit, f); len(got) != 0 {
		t.Fatalf("same status again: %+v", got)
	}
	f.Status = "cancelled"
	if got := fulfillmentTrigger(shop, "", f); len(got) != 0 {
		t.Fatalf("cancelled fulfillment: %+v", got)
	}
}
