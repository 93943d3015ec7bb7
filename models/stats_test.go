package models_test

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// statsNow is 10:00 in New York (EST, UTC−5): the 7-day window is
// 14–20 January, New York days.
var statsNow = time.Date(2027, 1, 20, 15, 0, 0, 0, time.UTC)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func tp(s string) *time.Time { t := utc(s); return &t }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seedStatsShop installs a shop in zone tz and writes known orders,
// packages, messages, feedback, points and referrals across days. Every
// row of the second shop (other) is a decoy: none of it may show in the
// first shop's figures.
func seedStatsShop(t *testing.T, s *models.Store, domain, tz string) models.Shop {
	t.Helper()
	ctx := context.Background()
	shop, err := s.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: domain, Name: "Stats"}, models.Token{AccessToken: "x"})
	must(t, err)
	must(t, s.DB().Model(&models.Shop{}).Where("id = ?", shop.ID).Updates(map[string]any{"timezone": tz, "currency": "USD"}).Error)
	shop.Timezone, shop.Currency = tz, "USD"
	db := s.DB().WithContext(ctx)

	orders := []struct {
		id        int64
		created   string
		total     string
		cancelled bool
	}{
		{1, "2027-01-20 04:30", "10.50", false}, // 23:30 on the 19th in New York
		{2, "2027-01-20 05:30", "15.00", false}, // 00:30 on the 20th
		{3, "2027-01-15 12:00", "20.00", false},
		{4, "2026-11-01 12:00", "99.00", false}, // before the window
		{5, "2027-01-18 12:00", "5.00", true},
	}
	ids := map[int64]uint64{}
	for _, o := range orders {
		row := models.Order{ShopID: shop.ID, PlatformID: o.id, Name: "#" + string(rune('0'+o.id)), Currency: "USD",
			Total: decimal.RequireFromString(o.total), PlatformCreatedAt: utc(o.created), PlatformUpdatedAt: utc(o.created)}
		if o.cancelled {
			row.CancelledAt = tp(o.created)
		}
		must(t, db.Create(&row).Error)
		ids[o.id] = row.ID
	}

	fuls := []struct {
		id               int64
		order            int64
		carrier, status  string
		created          string
		est, delivered   *time.Time
		fulfillmentState string
	}{
		{11, 3, "UPS", models.ShipmentDelivered, "2027-01-15 13:00", tp("2027-01-17 23:00"), tp("2027-01-17 20:00"), "success"}, // on time
		{12, 1, "UPS", models.ShipmentDelivered, "2027-01-20 04:40", tp("2027-01-20 06:00"), tp("2027-01-20 10:00"), "success"}, // late
		{13, 2, "USPS", models.ShipmentDelivered, "2027-01-20 06:00", nil, tp("2027-01-20 12:00"), "success"},                   // no estimate
		{14, 2, "USPS", models.ShipmentInTransit, "2027-01-18 06:00", tp("2027-01-19 12:00"), nil, "success"},                   // estimate passed: delayed
		{15, 5, "UPS", models.ShipmentInTransit, "2027-01-18 13:00", tp("2027-01-19 12:00"), nil, "success"},                    // order cancelled
		{16, 3, "UPS", models.ShipmentFailure, "2027-01-16 13:00", nil, nil, "success"},                                         // carrier problem: delayed
		{17, 4, "UPS", models.ShipmentInTransit, "2026-11-02 13:00", tp("2026-11-05 12:00"), nil, "success"},                    // long gone: not counted
		{18, 1, "UPS", models.ShipmentInTransit, "2027-01-20 04:40", tp("2027-01-25 12:00"), nil, "success"},                    // on its way, on time
	}
	for _, f := range fuls {
		must(t, db.Create(&models.Fulfillment{ShopID: shop.ID, OrderID: ids[f.order], PlatformID: f.id, OrderPlatformID: f.order,
			Status: f.fulfillmentState, ShipmentStatus: f.status, TrackingCompany: f.carrier, EstimatedDeliveryAt: f.est,
			DeliveredAt: f.delivered, PlatformCreatedAt: utc(f.created), PlatformUpdatedAt: utc(f.created)}).Error)
	}

	msgs := []struct {
		order                 int64
		flow, channel, status string
		reason                string
		created               string
		toMerchant            bool
	}{
		{1, "thank_you", "email", models.MessageSent, "", "2027-01-19 14:00", false},
		{2, "thank_you", "sms", models.MessageSuppressed, "sms_stop", "2027-01-19 15:00", false},
		{3, "shipping", "email", models.MessageDeferred, "quiet hours: until 08:00", "2027-01-20 12:00", false},
		{4, "review", "email", models.MessageSuppressed, "hold expired: ticket 12 open", "2027-01-18 12:00", false},
		{5, "review", "email", models.MessageFailed, "550 no such user", "2027-01-18 13:00", false},
		{2, "delay", "email", models.MessageSent, "", "2027-01-20 12:00", true},      // an alert to the merchant
		{6, "thank_you", "email", models.MessageSent, "", "2027-01-20 04:59", false}, // 23:59 on the 19th in New York
		{7, "thank_you", "email", models.MessageSent, "", "2027-01-10 12:00", false}, // before the window
		{8, "review", "email", models.MessageSuppressed, "hold expired: x", "2027-01-19 09:00", false},
		{9, "review", "email", models.MessageQueued, "", "2027-01-20 13:00", false},
	}
	for _, m := range msgs {
		must(t, db.Create(&models.Message{ShopID: shop.ID, OrderPlatformID: m.order, Flow: m.flow, Channel: m.channel,
			Recipient: "shopper@example.com", ToMerchant: m.toMerchant, Status: m.status, Reason: m.reason,
			DueAt: utc(m.created), FirstDueAt: utc(m.created), CreatedAt: utc(m.created), UpdatedAt: utc(m.created)}).Error)
	}

	feedback := []struct {
		order   int64
		kind    string
		product int64
		rating  int
		at      string
	}{
		{1, models.FeedbackDelivery, 0, 5, "2027-01-19 20:00"},
		{2, models.FeedbackDelivery, 0, 2, "2027-01-20 13:00"},
		{3, models.FeedbackDelivery, 0, 4, "2027-01-20 14:00"},
		{1, models.FeedbackNPS, 0, 10, "2027-01-19 20:00"},
		{2, models.FeedbackNPS, 0, 9, "2027-01-19 20:00"},
		{3, models.FeedbackNPS, 0, 7, "2027-01-19 20:00"},
		{4, models.FeedbackNPS, 0, 3, "2027-01-19 20:00"},
		{1, models.FeedbackReview, 11, 5, "2027-01-19 20:00"},
		{1, models.FeedbackReview, 12, 4, "2027-01-19 21:00"}, // the same order: one response
		{3, models.FeedbackReview, 13, 3, "2027-01-19 21:00"},
		{4, models.FeedbackDelivery, 0, 1, "2026-11-10 12:00"}, // before the window
	}
	for _, f := range feedback {
		must(t, db.Create(&models.Feedback{ShopID: shop.ID, OrderPlatformID: f.order, Kind: f.kind, ProductID: f.product,
			Rating: f.rating, CreatedAt: utc(f.at), UpdatedAt: utc(f.at)}).Error)
	}
	asks := []struct {
		msg     uint64
		product int64
		at      string
	}{
		{100, 11, "2027-01-17 12:00"}, {100, 12, "2027-01-17 12:00"}, // one request about two products
		{101, 13, "2027-01-17 12:00"}, {102, 14, "2027-01-18 12:00"}, {103, 15, "2027-01-19 12:00"},
		{104, 16, "2026-11-10 12:00"}, // before the window
	}
	for _, a := range asks {
		must(t, db.Create(&models.ReviewAsk{ShopID: shop.ID, Recipient: "h", ProductID: a.product, MessageID: a.msg, AskedAt: utc(a.at)}).Error)
	}

	entries := []struct {
		kind   string
		points int64
		at     string
	}{
		{models.EntryEarn, 100, "2027-01-19 12:00"},
		{models.EntryReferralReward, 50, "2027-01-20 12:00"},
		{models.EntryAdjust, 20, "2027-01-18 12:00"},
		{models.EntryAdjust, -5, "2027-01-18 13:00"},
		{models.EntryRedeem, -500, "2027-01-20 12:00"},
		{models.EntryReverse, -30, "2027-01-20 13:00"},
		{models.EntryEarn, 1000, "2026-11-01 12:00"}, // before the window
	}
	for i, e := range entries {
		must(t, db.Create(&models.LoyaltyEntry{ShopID: shop.ID, CustomerPlatformID: 501, Kind: e.kind, SourceType: "test",
			SourceID: string(rune('a' + i)), Points: e.points, At: utc(e.at)}).Error)
	}
	must(t, db.Create(&models.LoyaltyAccount{ShopID: shop.ID, CustomerPlatformID: 501, Available: 300, Pending: 50, MaturedThrough: statsNow}).Error)
	must(t, db.Create(&models.LoyaltyAccount{ShopID: shop.ID, CustomerPlatformID: 502, Debt: 20, MaturedThrough: statsNow}).Error)

	for _, at := range []string{"2027-01-18 12:00", "2027-01-19 12:00", "2027-01-20 04:00", "2026-11-01 12:00"} {
		must(t, db.Create(&models.ReferralClick{ShopID: shop.ID, Code: "FRIEND", At: utc(at)}).Error)
	}
	refs := []struct {
		order  int64
		status string
		at     string
	}{
		{1, models.ReferralPending, "2027-01-20 04:31"},
		{3, models.ReferralRewarded, "2027-01-15 12:01"},
		{2, models.ReferralRejected, "2027-01-20 05:31"},
	}
	for _, r := range refs {
		must(t, db.Create(&models.Referral{ShopID: shop.ID, OrderPlatformID: r.order, ReferrerPlatformID: 501, Code: "FRIEND",
			Status: r.status, CreatedAt: utc(r.at), UpdatedAt: utc(r.at)}).Error)
	}
	return shop
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// seriesValues returns the series' values, and checks its days run from
// first, one calendar day apart, at midnight in loc.
func seriesValues(t *testing.T, name string, s models.Series, first time.Time, loc *time.Location) []float64 {
	t.Helper()
	out := make([]float64, len(s))
	for i, dv := range s {
		want := time.Date(first.Year(), first.Month(), first.Day()+i, 0, 0, 0, 0, loc)
		if !dv.Day.Equal(want) {
			t.Fatalf("%s[%d].Day = %s, want %s", name, i, dv.Day, want)
		}
		out[i] = dv.Value
	}
	return out
}

func checkStatsShop(t *testing.T, d models.Dashboard, loc *time.Location) {
	t.Helper()
	first := time.Date(2027, 1, 14, 0, 0, 0, 0, loc)
	if d.Days != 7 || !d.From.Equal(first) || !d.To.Equal(time.Date(2027, 1, 20, 0, 0, 0, 0, loc)) {
		t.Fatalf("window = %d days %s .. %s", d.Days, d.From, d.To)
	}
	if d.RolledUpAt.IsZero() {
		t.Error("RolledUpAt is zero after a rollup")
	}
	// Days: 14 15 16 17 18 19 20 (New York).
	check := func(name string, s models.Series, want ...float64) {
		t.Helper()
		if len(s) != 7 {
			t.Fatalf("%s has %d days, want 7", name, len(s))
		}
		got := seriesValues(t, name, s, first, loc)
		for i := range want {
			if !approx(got[i], want[i]) {
				t.Errorf("%s = %v, want %v", name, got, want)
				return
			}
		}
	}

	if d.Orders.Total != 5 || d.Orders.InWindow != 4 {
		t.Errorf("orders total %d in window %d, want 5 and 4", d.Orders.Total, d.Orders.InWindow)
	}
	check("Orders.Daily", d.Orders.Daily, 0, 1, 0, 0, 1, 1, 1)

	m := d.Messages
	if m.Sent != 2 || m.Deferred != 1 || m.Suppressed != 3 || m.Failed != 1 {
		t.Errorf("messages sent %d deferred %d suppressed %d failed %d, want 2 1 3 1", m.Sent, m.Deferred, m.Suppressed, m.Failed)
	}
	wantFlows := []models.FlowChannelCount{
		{Flow: "review", Channel: "email", Suppressed: 2, Failed: 1},
		{Flow: "shipping", Channel: "email", Deferred: 1},
		{Flow: "thank_you", Channel: "email", Sent: 2},
		{Flow: "thank_you", Channel: "sms", Suppressed: 1},
	}
	if !reflect.DeepEqual(m.ByFlow, wantFlows) {
		t.Errorf("ByFlow = %+v\nwant      %+v", m.ByFlow, wantFlows)
	}
	wantReasons := []models.ReasonCount{{Reason: "hold expired", Count: 2}, {Reason: "sms_stop", Count: 1}}
	if !reflect.DeepEqual(m.TopSuppressed, wantReasons) {
		t.Errorf("TopSuppressed = %+v, want %+v", m.TopSuppressed, wantReasons)
	}
	check("SentDaily", m.SentDaily, 0, 0, 0, 0, 0, 2, 0)

	dl := d.Delivery
	if dl.Delivered != 3 || dl.WithEstimate != 2 || dl.Late != 1 || !approx(dl.OnTimeRate, 0.5) {
		t.Errorf("delivered %d with estimate %d late %d on time %v, want 3 2 1 0.5", dl.Delivered, dl.WithEstimate, dl.Late, dl.OnTimeRate)
	}
	// 55 h + 5 h 20 min + 6 h over three packages.
	if want := (198000.0 + 19200 + 21600) / 3 / 86400; !approx(dl.AvgDaysToDeliver, want) {
		t.Errorf("AvgDaysToDeliver = %v, want %v", dl.AvgDaysToDeliver, want)
	}
	wantCarriers := []models.CarrierRate{
		{Carrier: "UPS", Delivered: 2, Late: 1, LateRate: 0.5, WithEstimate: 2},
		{Carrier: "USPS", Delivered: 1},
	}
	if !reflect.DeepEqual(dl.ByCarrier, wantCarriers) {
		t.Errorf("ByCarrier = %+v, want %+v", dl.ByCarrier, wantCarriers)
	}
	if dl.CurrentlyDelayed != 2 {
		t.Errorf("CurrentlyDelayed = %d, want 2 (orders 2 and 3)", dl.CurrentlyDelayed)
	}
	check("DeliveredDaily", dl.DeliveredDaily, 0, 0, 0, 1, 0, 0, 2)
	check("OnTimeDaily", dl.OnTimeDaily, 0, 0, 0, 1, 0, 0, 0)

	fb := d.Feedback
	if fb.DSATCount != 3 || !approx(fb.DSATAvg, 11.0/3) || fb.DSATDist != [5]int64{0, 1, 0, 1, 1} {
		t.Errorf("DSAT count %d avg %v dist %v, want 3 3.67 [0 1 0 1 1]", fb.DSATCount, fb.DSATAvg, fb.DSATDist)
	}
	if fb.NPSCount != 4 || fb.Promoters != 2 || fb.Passives != 1 || fb.Detractors != 1 || !approx(fb.NPS, 25) {
		t.Errorf("NPS %+v, want 4 answers, 2/1/1, NPS 25", fb)
	}
	if fb.ReviewAsks != 4 || fb.ReviewResponses != 2 || !approx(fb.ReviewResponseRate, 0.5) {
		t.Errorf("reviews asked %d answered %d rate %v, want 4 2 0.5", fb.ReviewAsks, fb.ReviewResponses, fb.ReviewResponseRate)
	}
	check("DSATDaily", fb.DSATDaily, 0, 0, 0, 0, 0, 5, 3)

	l := d.Loyalty
	if l.Issued != 170 || l.Redeemed != 500 || l.OutstandingPoints != 330 || l.Currency != "USD" {
		t.Errorf("points issued %d redeemed %d outstanding %d %s, want 170 500 330 USD", l.Issued, l.Redeemed, l.OutstandingPoints, l.Currency)
	}
	check("IssuedDaily", l.IssuedDaily, 0, 0, 0, 0, 20, 100, 50)
	check("RedeemedDaily", l.RedeemedDaily, 0, 0, 0, 0, 0, 0, 500)

	r := d.Referrals
	if r.Clicks != 3 || r.Conversions != 2 || !r.Revenue.Equal(decimal.RequireFromString("30.50")) || r.Currency != "USD" {
		t.Errorf("referrals clicks %d conversions %d revenue %s %s, want 3 2 30.50 USD", r.Clicks, r.Conversions, r.Revenue, r.Currency)
	}
	check("ClicksDaily", r.ClicksDaily, 0, 0, 0, 0, 1, 2, 0)
	check("ConversionsDaily", r.ConversionsDaily, 0, 1, 0, 0, 0, 1, 0)
}

func dialects(t *testing.T) map[string]func(*testing.T) *models.Store {
	return map[string]func(*testing.T) *models.Store{
		"postgres": func(t *testing.T) *models.Store { return modelstest.Store(t) },
		"sqlite":   sqliteStore,
	}
}

func TestDashboard_KnownShop_ExactFigures(t *testing.T) {
	t.Parallel()
	for name, open := range dialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			ny, err := time.LoadLocation("America/New_York")
			must(t, err)
			a := seedStatsShop(t, s, "stats-a.myshopify.com", "America/New_York")
			b := seedStatsShop(t, s, "stats-b.myshopify.com", "")
			// More of b, on a's days: none of it may show in a's figures.
			must(t, s.DB().Create(&models.Order{ShopID: b.ID, PlatformID: 9, PlatformCreatedAt: utc("2027-01-16 12:00"), PlatformUpdatedAt: utc("2027-01-16 12:00")}).Error)

			must(t, s.RollupStats(ctx, a.ID, statsNow.AddDate(0, 0, -30), statsNow))
			d, err := s.Dashboard(ctx, a.ID, 7, statsNow)
			must(t, err)
			checkStatsShop(t, d, ny)

			// Not rolled up yet: b has no figures but its live ones.
			db, err := s.Dashboard(ctx, b.ID, 7, statsNow)
			must(t, err)
			if !db.RolledUpAt.IsZero() || db.Orders.InWindow != 0 || db.Delivery.CurrentlyDelayed != 2 {
				t.Errorf("b before its rollup: rolled up %s, %d orders, %d delayed", db.RolledUpAt, db.Orders.InWindow, db.Delivery.CurrentlyDelayed)
			}
			must(t, s.RollupStats(ctx, b.ID, statsNow.AddDate(0, 0, -30), statsNow))
			db, err = s.Dashboard(ctx, b.ID, 7, statsNow)
			must(t, err)
			// In UTC, order 1 (04:30 on the 20th) is on the 20th, and b has its extra order.
			got := seriesValues(t, "b Orders.Daily", db.Orders.Daily, time.Date(2027, 1, 14, 0, 0, 0, 0, time.UTC), time.UTC)
			if want := []float64{0, 1, 1, 0, 1, 0, 2}; !reflect.DeepEqual(got, want) || db.Orders.Total != 6 {
				t.Errorf("b orders daily %v total %d, want %v and 6", got, db.Orders.Total, want)
			}
			// a is unchanged by b's rollup.
			d2, err := s.Dashboard(ctx, a.ID, 7, statsNow)
			must(t, err)
			checkStatsShop(t, d2, ny)
		})
	}
}

func TestRollupStats_RunTwice_NothingDoubleCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	ny, _ := time.LoadLocation("America/New_York")
	a := seedStatsShop(t, s, "stats-twice.myshopify.com", "America/New_York")
	must(t, s.RollupStats(ctx, a.ID, statsNow.AddDate(0, 0, -30), statsNow))
	first, err := s.Dashboard(ctx, a.ID, 7, statsNow)
	must(t, err)
	var rows int64
	must(t, s.DB().Model(&models.StatDay{}).Where("shop_id = ?", a.ID).Count(&rows).Error)

	// Again over the same range, and over an overlapping smaller one.
	must(t, s.RollupStats(ctx, a.ID, statsNow.AddDate(0, 0, -30), statsNow))
	must(t, s.RollupStats(ctx, a.ID, statsNow.AddDate(0, 0, -1), statsNow))
	again, err := s.Dashboard(ctx, a.ID, 7, statsNow)
	must(t, err)
	checkStatsShop(t, again, ny)
	var rows2 int64
	must(t, s.DB().Model(&models.StatDay{}).Where("shop_id = ?", a.ID).Count(&rows2).Error)
	if rows2 != rows {
		t.Errorf("stat_days rows %d after re-running, %d before", rows2, rows)
	}
	again.RolledUpAt = first.RolledUpAt
	if !reflect.DeepEqual(first, again) {
		t.Errorf("dashboard changed after re-running the rollup:\n%+v\n%+v", first, again)
	}

	// A change in a rolled-up day is picked up by rewriting that day.
	must(t, s.DB().Model(&models.Message{}).Where("shop_id = ? AND status = ?", a.ID, models.MessageDeferred).
		Update("status", models.MessageSent).Error)
	must(t, s.RollupStats(ctx, a.ID, statsNow, statsNow))
	d, err := s.Dashboard(ctx, a.ID, 7, statsNow)
	must(t, err)
	if d.Messages.Sent != 3 || d.Messages.Deferred != 0 {
		t.Errorf("after the deferred message went: sent %d deferred %d, want 3 0", d.Messages.Sent, d.Messages.Deferred)
	}
}

func TestDashboard_OrdersSinceRollup_CountedLive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	a := seedStatsShop(t, s, "stats-live.myshopify.com", "America/New_York")
	must(t, s.RollupStats(ctx, a.ID, statsNow.AddDate(0, 0, -7), statsNow))
	later := time.Now().UTC().Add(time.Minute)
	must(t, s.DB().Create(&models.Order{ShopID: a.ID, PlatformID: 77, PlatformCreatedAt: later, PlatformUpdatedAt: later}).Error)
	d, err := s.Dashboard(ctx, a.ID, 7, statsNow)
	must(t, err)
	if d.Orders.Total != 6 {
		t.Errorf("total = %d, want 6 (5 rolled up + 1 since)", d.Orders.Total)
	}
}

func TestDashboard_DayBoundaryFollowsShopZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	cases := []struct {
		tz   string
		want []float64 // orders on 18, 19, 20 January, local days
	}{
		// 2027-01-19 23:30 UTC and 2027-01-20 00:30 UTC.
		{"", []float64{0, 1, 1}},
		{"Asia/Tokyo", []float64{0, 0, 2}},          // 08:30 and 09:30 on the 20th
		{"America/Los_Angeles", []float64{0, 2, 0}}, // 15:30 and 16:30 on the 19th
		{"Not/AZone", []float64{0, 1, 1}},           // unknown: UTC
		{"Pacific/Kiritimati", []float64{0, 0, 2}},  // UTC+14
	}
	for i, c := range cases {
		shop, err := s.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: "tz" + string(rune('a'+i)) + ".myshopify.com"}, models.Token{AccessToken: "x"})
		must(t, err)
		must(t, s.DB().Model(&models.Shop{}).Where("id = ?", shop.ID).Update("timezone", c.tz).Error)
		for j, at := range []string{"2027-01-19 23:30", "2027-01-20 00:30"} {
			must(t, s.DB().Create(&models.Order{ShopID: shop.ID, PlatformID: int64(j + 1), PlatformCreatedAt: utc(at), PlatformUpdatedAt: utc(at)}).Error)
		}
		now := utc("2027-01-20 10:00")
		if c.tz == "Asia/Tokyo" || c.tz == "Pacific/Kiritimati" {
			now = utc("2027-01-20 05:00") // still the 20th there
		}
		if c.tz == "America/Los_Angeles" {
			now = utc("2027-01-21 05:00") // the 20th there
		}
		must(t, s.RollupStats(ctx, shop.ID, now.AddDate(0, 0, -5), now))
		d, err := s.Dashboard(ctx, shop.ID, 3, now)
		must(t, err)
		loc := models.ShopZone(c.tz)
		got := seriesValues(t, c.tz, d.Orders.Daily, time.Date(2027, 1, 18, 0, 0, 0, 0, loc), loc)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("zone %q: orders per day %v, want %v", c.tz, got, c.want)
		}
	}
}

func TestDashboard_DSTDay_23Hours(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop, err := s.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: "dst.myshopify.com"}, models.Token{AccessToken: "x"})
	must(t, err)
	must(t, s.DB().Model(&models.Shop{}).Where("id = ?", shop.ID).Update("timezone", "America/New_York").Error)
	// 2027-03-14 is 23 hours long in New York: it ends at 04:00 UTC on the 15th.
	for j, at := range []string{"2027-03-15 03:59", "2027-03-15 04:01"} {
		must(t, s.DB().Create(&models.Order{ShopID: shop.ID, PlatformID: int64(j + 1), PlatformCreatedAt: utc(at), PlatformUpdatedAt: utc(at)}).Error)
	}
	now := utc("2027-03-15 16:00")
	must(t, s.RollupStats(ctx, shop.ID, now.AddDate(0, 0, -2), now))
	d, err := s.Dashboard(ctx, shop.ID, 2, now)
	must(t, err)
	ny, _ := time.LoadLocation("America/New_York")
	if got := seriesValues(t, "dst", d.Orders.Daily, time.Date(2027, 3, 14, 0, 0, 0, 0, ny), ny); !reflect.DeepEqual(got, []float64{1, 1}) {
		t.Errorf("orders on 14 and 15 March = %v, want [1 1]", got)
	}
}

func TestDashboard_UnknownShopAndBadDays(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	if _, err := s.Dashboard(context.Background(), 999, 30, statsNow); err == nil {
		t.Error("unknown shop: no error")
	}
	if _, err := s.Dashboard(context.Background(), 1, 0, statsNow); err == nil {
		t.Error("0 days: no error")
	}
}
