package models

import (
	"time"

	"github.com/shopspring/decimal"
)

// Dashboard is what the embedded admin's dashboard shows for one shop over
// the last Days days (30 or 90). Every figure comes from the daily rollups
// (stat_days) and small indexed lookups, so it costs the same for a shop
// with a thousand orders as for one with a million.
type Dashboard struct {
	Days int
	// From and To are the first and last day shown, in the shop's zone.
	From, To time.Time
	// RolledUpAt is when the rollup last ran for this shop (zero: never).
	RolledUpAt time.Time

	Orders    OrderStats
	Messages  MessageStats
	Delivery  DeliveryStats
	Feedback  FeedbackStats
	Loyalty   LoyaltyStats
	Referrals ReferralStats
}

// DayValue is one day's figure for a chart.
type DayValue struct {
	Day   time.Time // midnight in the shop's zone
	Value float64
}

// Series holds one value per day, oldest first, Days long (days with
// nothing are zero).
type Series []DayValue

type OrderStats struct {
	Total    int64 // every order Doorstep holds for the shop
	InWindow int64 // created in the window
	Daily    Series
}

type FlowChannelCount struct {
	Flow, Channel                      string
	Sent, Deferred, Suppressed, Failed int64
}

type ReasonCount struct {
	Reason string
	Count  int64
}

type MessageStats struct {
	Sent, Deferred, Suppressed, Failed int64
	ByFlow                             []FlowChannelCount // sorted by flow, then channel
	TopSuppressed                      []ReasonCount      // at most 5, most first
	SentDaily                          Series
}

type CarrierRate struct {
	Carrier         string
	Delivered, Late int64
	LateRate        float64 // 0..1 of those with an estimate
	WithEstimate    int64   // delivered packages that had an estimate
}

type DeliveryStats struct {
	Delivered        int64   // packages delivered in the window
	WithEstimate     int64   // of those, with an estimated delivery
	Late             int64   // of those, delivered after the estimate
	OnTimeRate       float64 // 0..1 of those with an estimate
	AvgDaysToDeliver float64 // shipped → delivered
	ByCarrier        []CarrierRate
	CurrentlyDelayed int64 // orders late or with a carrier problem now
	DeliveredDaily   Series
	OnTimeDaily      Series // 0..1 per day
}

type FeedbackStats struct {
	DSATCount                       int64
	DSATAvg                         float64
	DSATDist                        [5]int64 // index 0 is 1 star
	NPSCount                        int64
	Promoters, Passives, Detractors int64
	NPS                             float64 // -100..100
	ReviewAsks, ReviewResponses     int64
	ReviewResponseRate              float64 // 0..1
	DSATDaily                       Series  // average per day (0: no answer)
}

type LoyaltyStats struct {
	Issued, Redeemed  int64 // points in the window
	OutstandingPoints int64 // available now, all customers
	Liability         decimal.Decimal
	Currency          string
	IssuedDaily       Series
	RedeemedDaily     Series
}

type ReferralStats struct {
	Clicks, Conversions int64
	Revenue             decimal.Decimal
	Currency            string
	ClicksDaily         Series
	ConversionsDaily    Series
}
