package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/doorstep/doorstep/models"
)

// The dispatcher's reads: waiting deliveries in id order, never dispatched
// ones and those handed over too long ago together, none it handed over
// recently, none already processed, never more than asked for.
func TestPendingDeliveries_FreshAndStaleInIDOrder(t *testing.T) {
	t.Parallel()
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			cutoff := now.Add(-time.Minute)
			stale, recent := now.Add(-2*time.Minute), now.Add(-10*time.Second)
			// In insertion (id) order: what each row is, and whether the
			// dispatcher should see it.
			rows := []struct {
				status     string
				dispatched *time.Time
				want       bool
			}{
				{models.DeliveryReceived, nil, true},
				{models.DeliveryReceived, &recent, false},
				{models.DeliveryReceived, &stale, true},
				{models.DeliveryProcessed, nil, false},
				{models.DeliveryReceived, nil, true},
				{models.DeliveryFailed, &stale, false},
				{models.DeliveryReceived, &stale, true},
				{models.DeliveryReceived, &recent, false},
				{models.DeliveryReceived, nil, true},
			}
			var want, received []uint64
			for i, r := range rows {
				d := models.Delivery{Platform: models.PlatformShopify, ShopDomain: "pending.myshopify.com", Topic: "orders/create",
					EventID: fmt.Sprintf("ev-%d", i), Status: r.status, DispatchedAt: r.dispatched, ReceivedAt: now.Add(-time.Hour)}
				if _, err := s.InsertDelivery(ctx, &d); err != nil {
					t.Fatal(err)
				}
				if r.want {
					want = append(want, d.ID)
				}
				if r.status == models.DeliveryReceived {
					received = append(received, d.ID)
				}
			}
			got, err := s.PendingDeliveryIDs(ctx, cutoff, 10)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("pending = %v, want %v (fresh and stale, in id order)", got, want)
			}
			// A round smaller than the backlog takes the oldest first,
			// whichever read they come from.
			got, err = s.PendingDeliveryIDs(ctx, cutoff, 3)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want[:3]) {
				t.Fatalf("pending, limit 3 = %v, want %v", got, want[:3])
			}

			// Handed over now: none is pending until the cutoff passes them,
			// and then every delivery still received is.
			if err := s.MarkDeliveriesDispatched(ctx, want, now); err != nil {
				t.Fatal(err)
			}
			if got, err = s.PendingDeliveryIDs(ctx, cutoff, 10); err != nil || len(got) != 0 {
				t.Fatalf("pending right after dispatch = %v, %v; want none", got, err)
			}
			if got, err = s.PendingDeliveryIDs(ctx, now.Add(time.Second), 10); err != nil || fmt.Sprint(got) != fmt.Sprint(received) {
				t.Fatalf("pending once every dispatch is stale = %v, %v; want %v", got, err, received)
			}
		})
	}
}
