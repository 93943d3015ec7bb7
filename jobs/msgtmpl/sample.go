package msgtmpl

import (
	"fmt"
	"time"
)

// SampleData returns a realistic order for flow, for previews in the admin
// and for Validate. Shipping notices get a shipped package, delay alerts a
// parcel three days late, review and NPS requests are marketing, and the
// loyalty flows a points account: 820 points reversed after a refund of the
// order, the Gold tier, 300 points expiring, 500 points for a referral.
func SampleData(flow string) Data {
	const base, token = "https://northwind.example/apps/doorstep", "7Kp2QxWm"
	links := Links{
		Tracking:    base + "/t/" + token,
		Feedback:    base + "/f/" + token,
		Preferences: base + "/p/" + token,
		Unsubscribe: base + "/u/" + token,
		Review:      base + "/r/" + token,
	}
	for i := range links.Rating {
		links.Rating[i] = fmt.Sprintf("%s/f/%s?rating=%d", base, token, i+1)
	}
	for i := range links.NPS {
		links.NPS[i] = fmt.Sprintf("%s/f/%s?nps=%d", base, token, i)
	}
	items := []Item{
		{Title: "Ethiopia Yirgacheffe coffee beans", Variant: "250 g / Whole bean", ImageURL: "https://cdn.northwind.example/products/yirgacheffe.jpg", Price: "€29.00", Quantity: 2},
		{Title: "Ceramic pour-over dripper", Variant: "White", Price: "€32.00", Quantity: 1},
		{Title: "Stoneware mug", Variant: "Speckled / 350 ml", ImageURL: "https://cdn.northwind.example/products/mug.jpg", Price: "€18.00", Quantity: 1},
	}
	d := Data{
		Locale: "en",
		Shop: Shop{
			Name:       "Northwind Coffee Co.",
			Email:      "hello@northwind.example",
			LogoURL:    "https://cdn.northwind.example/logo.png",
			BrandColor: "#2f6f4e",
			Domain:     "northwind.example",
			Address:    "Keizersgracht 123, 1015 CJ Amsterdam, Netherlands",
		},
		Customer: Customer{FirstName: "Emma", Name: "Emma Laurent"},
		Order: Order{
			Name:      "#1042",
			CreatedAt: time.Date(2026, time.March, 9, 14, 32, 0, 0, time.UTC),
			Items:     items,
			Subtotal:  "€79.00",
			Discounts: "-€7.90",
			Shipping:  "€4.90",
			Tax:       "€6.08",
			Total:     "€82.08",
			Currency:  "EUR",
		},
		Links: links,
	}
	eta := time.Date(2026, time.March, 12, 0, 0, 0, 0, time.UTC)
	shipment := func(status string) *Shipment {
		return &Shipment{
			Status:            status,
			Carrier:           "UPS",
			TrackingNumber:    "1Z999AA10123456784",
			TrackingURL:       "https://www.ups.com/track?tracknum=1Z999AA10123456784",
			Index:             1,
			Count:             1,
			Items:             items,
			EstimatedDelivery: &eta,
		}
	}
	switch flow {
	case ShippingNotice:
		d.Shipment = shipment(StatusConfirmed)
	case DelayAlert, MerchantDelay:
		d.Shipment = shipment(StatusInTransit)
		d.Delay = &Delay{Reason: ReasonLate, DaysLate: 3}
	case ReviewRequest:
		d.Shipment = shipment(StatusDelivered)
		d.Shipment.EstimatedDelivery = nil
		d.Step = StepAsk
		d.Marketing = true
	case NPSRequest:
		d.Marketing = true
	case LoyaltyReversed, LoyaltyTierUp, LoyaltyExpiring, ReferralReward:
		d.Links.Rewards = base + "/l/" + token
		d.Links.Referral = "https://northwind.example/?ref=EMMA-7K2Q"
		d.Loyalty = sampleLoyalty(flow, d.Order.Name)
	}
	return d
}

// sampleLoyalty is the points account of the loyalty samples.
func sampleLoyalty(flow, order string) *Loyalty {
	switch flow {
	case LoyaltyReversed:
		return &Loyalty{Points: 820, Balance: 1240, Reason: LoyaltyReasonRefund, OrderName: order}
	case LoyaltyTierUp:
		return &Loyalty{Balance: 2060, Tier: "Gold", Multiplier: "1.5", OrderName: order}
	case LoyaltyExpiring:
		return &Loyalty{Points: 300, Balance: 1240, ExpiresAt: time.Date(2026, time.April, 30, 0, 0, 0, 0, time.UTC)}
	default: // ReferralReward
		return &Loyalty{Points: 500, Balance: 1740, Pending: 150}
	}
}

// sample is one named variant of the sample data.
type sample struct {
	name string
	data Data
}

// sampleVariants returns every shape of data flow can be rendered with, so
// Validate runs each branch a template is likely to take.
func sampleVariants(flow string) []sample {
	var shapes []sample
	shapes = append(shapes, sample{"default", SampleData(flow)}, sample{"minimal", minimalSample(flow)})
	switch flow {
	case ShippingNotice:
		for _, status := range Statuses() {
			for _, count := range []int{1, 3} {
				d := SampleData(flow)
				d.Shipment.Status = status
				if count > 1 {
					d.Shipment.Index, d.Shipment.Count = 2, count
					d.Shipment.Items = d.Order.Items[1:2]
				}
				shapes = append(shapes, sample{fmt.Sprintf("status=%s packages=%d", status, count), d})
			}
		}
	case DelayAlert, MerchantDelay:
		for _, reason := range DelayReasons() {
			d := SampleData(flow)
			d.Delay.Reason = reason
			shapes = append(shapes, sample{"reason=" + reason, d})
		}
	case ReviewRequest:
		for _, step := range []string{StepAsk, StepReminder} {
			d := SampleData(flow)
			d.Step = step
			shapes = append(shapes, sample{"step=" + step, d})
		}
	case LoyaltyReversed:
		for _, reason := range LoyaltyReasons() {
			for _, debt := range []int64{0, 310, 1500} { // none, part of the points, more than them
				d := SampleData(flow)
				d.Loyalty.Reason = reason
				if debt > 0 {
					d.Loyalty.Balance, d.Loyalty.Debt = 0, debt
				}
				shapes = append(shapes, sample{fmt.Sprintf("reason=%s debt=%d", reason, debt), d})
			}
		}
	case LoyaltyTierUp, LoyaltyExpiring:
		d := SampleData(flow)
		d.Loyalty.Points, d.Loyalty.Balance, d.Loyalty.Pending = 1, 1, 1
		shapes = append(shapes, sample{"one point", d})
	case ReferralReward:
		d := SampleData(flow)
		d.Loyalty.Points, d.Loyalty.Code, d.Loyalty.CodeValue = 0, "FRIEND-5K2Q", "€5.00"
		shapes = append(shapes, sample{"reward=code", d})
	}
	var out []sample
	for _, s := range shapes {
		for _, marketing := range []bool{false, true} {
			d := s.data
			d.Marketing = marketing
			out = append(out, sample{fmt.Sprintf("%s marketing=%t", s.name, marketing), d})
		}
	}
	return out
}

// minimalSample strips everything optional: no logo or brand colour, no
// first name, images, variants, discounts, tax, dates or estimate, one
// late day, and no shipment where a flow can do without one; for loyalty
// no order name, multiplier, pending points, expiry date, code value or
// referral link, and a zero balance.
func minimalSample(flow string) Data {
	d := SampleData(flow)
	d.Shop.LogoURL, d.Shop.BrandColor, d.Shop.Domain, d.Shop.Address = "", "", "", ""
	d.Customer.FirstName = ""
	d.Order.CreatedAt = time.Time{}
	d.Order.Discounts, d.Order.Tax, d.Order.Shipping, d.Order.Subtotal = "", "", "", ""
	d.Order.Items = []Item{{Title: "Gift card", Price: "€25.00", Quantity: 1}}
	if d.Shipment != nil {
		d.Shipment.Carrier, d.Shipment.TrackingNumber, d.Shipment.TrackingURL = "", "", ""
		d.Shipment.EstimatedDelivery = nil
		d.Shipment.Items = nil
	}
	if d.Delay != nil {
		d.Delay.DaysLate = 1
	}
	if flow == ReviewRequest {
		d.Shipment = nil
	}
	if l := d.Loyalty; l != nil {
		l.OrderName, l.Multiplier, l.CodeValue = "", "", ""
		l.Pending, l.Balance = 0, 0
		l.ExpiresAt = time.Time{}
		d.Links.Referral = ""
		if flow == ReferralReward {
			l.Points, l.Code = 0, "FRIEND-5K2Q"
		}
	}
	return d
}
