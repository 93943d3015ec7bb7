package models

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// StatDay is one daily figure of one shop: a metric on a day (in the shop's
// time zone), optionally split by a dimension (a carrier, a rating, a
// flow/channel/status). The rollup rewrites whole days, so a figure is
// always recomputed from the source tables, never incremented.
type StatDay struct {
	ID     uint64          `gorm:"primaryKey"`
	ShopID uint64          `gorm:"not null;uniqueIndex:ux_stat_days_key,priority:1"`
	Day    time.Time       `gorm:"type:date;not null;uniqueIndex:ux_stat_days_key,priority:2"`
	Metric string          `gorm:"size:32;not null;uniqueIndex:ux_stat_days_key,priority:3"`
	Dim    string          `gorm:"size:128;not null;default:'';uniqueIndex:ux_stat_days_key,priority:4"`
	Value  decimal.Decimal `gorm:"type:numeric(24,4);not null;default:0"`
}

// StatState is a shop's rollup bookkeeping and the whole-shop figures the
// rollup snapshots (so the dashboard never counts a big table itself).
type StatState struct {
	ID         uint64    `gorm:"primaryKey"`
	ShopID     uint64    `gorm:"not null;uniqueIndex"`
	RolledUpAt time.Time `gorm:"not null"`
	// FirstDay is the earliest day any rollup covered.
	FirstDay    time.Time `gorm:"type:date;not null"`
	OrdersTotal int64     `gorm:"not null;default:0"`
	// OrdersMaxID is the highest orders.id when OrdersTotal was counted:
	// orders stored since have higher ids (platform dates can't tell,
	// backfilled orders are old and clocks disagree).
	OrdersMaxID       uint64 `gorm:"not null;default:0"`
	OutstandingPoints int64  `gorm:"not null;default:0"` // available + pending − debt
	LoyaltyAccounts   int64  `gorm:"not null;default:0"`
}

func (StatDay) TableName() string   { return "stat_days" }
func (StatState) TableName() string { return "stat_states" }

// Metric names in stat_days.
const (
	statOrders        = "orders"         // orders created
	statMsg           = "msg"            // shopper messages created, dim flow/channel/status
	statMsgMerchant   = "msg_merchant"   // internal alerts created, dim flow/channel/status
	statMsgSuppressed = "msg_suppressed" // shopper messages suppressed, dim reason
	statDelivered     = "delivered"      // packages delivered, dim carrier
	statDeliveredEst  = "delivered_est"  // of those, with an estimate
	statDeliveredLate = "delivered_late" // of those, after the estimate
	statShipSecs      = "ship_secs"      // sum of shipped → delivered, seconds
	statShipN         = "ship_n"         // packages in ship_secs
	statDSAT          = "dsat"           // delivery ratings, dim 1..5
	statNPS           = "nps"            // NPS answers, dim 0..10
	statReviewAsks    = "review_asks"    // review request messages
	statReviewResp    = "review_resp"    // orders with a review
	statPtsIssued     = "pts_issued"
	statPtsRedeemed   = "pts_redeemed"
	statRefClicks     = "ref_clicks"
	statRefConv       = "ref_conversions"
	statRefRevenue    = "ref_revenue"
)

// delayedHorizon bounds "currently delayed": a package whose estimate passed
// more than this long ago, or shipped longer ago with a carrier problem,
// has most likely arrived without a final scan (many carriers never send
// one), and would otherwise count as delayed forever.
const delayedHorizon = 30 * 24 * time.Hour

// ShopZone is the shop's time zone (UTC when unset or unknown).
func ShopZone(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// civilDay is the calendar day holding t in loc, as midnight UTC: how
// stat_days stores a day (a DATE has no zone).
func civilDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// dayStart is the instant the civil day begins in loc (DST-aware: a day
// may be 23 or 25 hours long).
func dayStart(day time.Time, loc *time.Location) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
}

// dayBuckets renders days as a derived table d(n, lo, hi) of the instants
// each day starts and ends, so one query buckets a whole range by the
// shop's calendar without any database time zone function.
func (s *Store) dayBuckets(days []time.Time, loc *time.Location) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 3*len(days))
	for i, d := range days {
		if i == 0 {
			if s.pg {
				b.WriteString("SELECT CAST(? AS INTEGER) AS n, CAST(? AS TIMESTAMPTZ) AS lo, CAST(? AS TIMESTAMPTZ) AS hi")
			} else {
				b.WriteString("SELECT ? AS n, ? AS lo, ? AS hi")
			}
		} else {
			b.WriteString(" UNION ALL SELECT ?, ?, ?")
		}
		args = append(args, i, dayStart(d, loc).UTC(), dayStart(d.AddDate(0, 0, 1), loc).UTC())
	}
	return "(" + b.String() + ")", args
}

// statKey identifies one stat_days row of a rollup.
type statKey struct {
	n      int
	metric string
	dim    string
}

// statSet accumulates a rollup's rows; adding to a key twice sums (two
// reasons cut to the same prefix, two carriers' names cut to one).
type statSet map[statKey]decimal.Decimal

func (m statSet) add(n int, metric, dim string, v decimal.Decimal) {
	if v.IsZero() {
		return
	}
	if len(dim) > 100 {
		dim = dim[:100]
	}
	k := statKey{n, metric, dim}
	m[k] = m[k].Add(v)
}

func (m statSet) addInt(n int, metric, dim string, v int64) {
	m.add(n, metric, dim, decimal.NewFromInt(v))
}

// RollupStats recomputes the shop's daily figures for every day in
// [from, to] (days in the shop's zone) from the source tables, and
// snapshots its whole-shop figures, in one transaction. Running it again
// rewrites the same days: nothing is counted twice. Two rollups of one
// shop run one after the other (the shop's stat_states row is locked).
func (s *Store) RollupStats(ctx context.Context, shopID uint64, from, to time.Time) error {
	shop, err := s.ShopByID(ctx, shopID)
	if err != nil {
		return fmt.Errorf("rollup stats: %w", err)
	}
	loc := ShopZone(shop.Timezone)
	first, last := civilDay(from, loc), civilDay(to, loc)
	if last.Before(first) {
		return fmt.Errorf("rollup stats of shop %d: %s is before %s", shopID, to, from)
	}
	var days []time.Time
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		st, err := s.lockStatState(tx, shopID, first)
		if err != nil {
			return err
		}
		set := statSet{}
		for _, q := range []func(*gorm.DB, uint64, string, []any, statSet) error{
			s.rollupOrders, s.rollupMessages, s.rollupDeliveries, s.rollupFeedback, s.rollupLoyalty, s.rollupReferrals,
		} {
			dt, args := s.dayBuckets(days, loc)
			if err := q(tx, shopID, dt, args, set); err != nil {
				return err
			}
		}
		if err := tx.Where("shop_id = ? AND day >= ? AND day <= ?", shopID, first, last).Delete(&StatDay{}).Error; err != nil {
			return fmt.Errorf("clear days: %w", err)
		}
		rows := make([]StatDay, 0, len(set))
		for k, v := range set {
			rows = append(rows, StatDay{ShopID: shopID, Day: days[k.n], Metric: k.metric, Dim: k.dim, Value: v})
		}
		if len(rows) > 0 {
			if err := tx.CreateInBatches(rows, 500).Error; err != nil {
				return fmt.Errorf("insert days: %w", err)
			}
		}
		// Whole-shop figures, counted here (every few minutes, in the
		// background) so the dashboard only reads them.
		var ot struct {
			N     int64
			MaxID uint64
		}
		if err := tx.Model(&Order{}).Where("shop_id = ?", shopID).Select("COUNT(*) AS n, COALESCE(MAX(id), 0) AS max_id").
			Scan(&ot).Error; err != nil {
			return fmt.Errorf("count orders: %w", err)
		}
		st.OrdersTotal, st.OrdersMaxID = ot.N, ot.MaxID
		var l Liability
		if err := tx.Model(&LoyaltyAccount{}).Where("shop_id = ?", shopID).
			Select("COUNT(*) AS accounts, COALESCE(SUM(available), 0) AS available, COALESCE(SUM(pending), 0) AS pending, COALESCE(SUM(debt), 0) AS debt").
			Scan(&l).Error; err != nil {
			return fmt.Errorf("sum points: %w", err)
		}
		st.OutstandingPoints = l.Available + l.Pending - l.Debt
		st.LoyaltyAccounts = l.Accounts
		st.RolledUpAt = time.Now().UTC()
		if first.Before(st.FirstDay) {
			st.FirstDay = first
		}
		if err := tx.Save(&st).Error; err != nil {
			return fmt.Errorf("save rollup state: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rollup stats of shop %d: %w", shopID, err)
	}
	return nil
}

// lockStatState returns the shop's rollup state, created if missing, locked
// until the transaction ends.
func (s *Store) lockStatState(tx *gorm.DB, shopID uint64, first time.Time) (StatState, error) {
	if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "shop_id"}}, DoNothing: true}).
		Create(&StatState{ShopID: shopID, FirstDay: first}).Error; err != nil {
		return StatState{}, fmt.Errorf("create rollup state: %w", err)
	}
	var st StatState
	if err := forUpdate(tx, s.pg).Where("shop_id = ?", shopID).Take(&st).Error; err != nil {
		return StatState{}, fmt.Errorf("lock rollup state: %w", err)
	}
	st.FirstDay = st.FirstDay.UTC()
	return st, nil
}

func (s *Store) rollupOrders(tx *gorm.DB, shopID uint64, dt string, args []any, set statSet) error {
	var rows []struct {
		N int
		C int64
	}
	err := tx.Raw("SELECT d.n AS n, COUNT(*) AS c FROM "+dt+" d JOIN orders o ON o.shop_id = ? AND o.platform_created_at >= d.lo AND o.platform_created_at < d.hi GROUP BY d.n",
		append(args, shopID)...).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("roll up orders: %w", err)
	}
	for _, r := range rows {
		set.addInt(r.N, statOrders, "", r.C)
	}
	return nil
}

// rollupMessages counts messages by the day they were created, in the
// status they have now: a message deferred overnight and sent the next
// morning counts as sent once the rollup rewrites its day (the job rewrites
// the last two days every few minutes).
func (s *Store) rollupMessages(tx *gorm.DB, shopID uint64, dt string, args []any, set statSet) error {
	var rows []struct {
		N                     int
		ToMerchant            bool
		Flow, Channel, Status string
		C                     int64
	}
	err := tx.Raw("SELECT d.n AS n, m.to_merchant AS to_merchant, m.flow AS flow, m.channel AS channel, m.status AS status, COUNT(*) AS c FROM "+dt+
		" d JOIN messages m ON m.shop_id = ? AND m.created_at >= d.lo AND m.created_at < d.hi GROUP BY d.n, m.to_merchant, m.flow, m.channel, m.status",
		append(args, shopID)...).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("roll up messages: %w", err)
	}
	for _, r := range rows {
		metric := statMsg
		if r.ToMerchant {
			metric = statMsgMerchant
		}
		set.addInt(r.N, metric, r.Flow+"/"+r.Channel+"/"+r.Status, r.C)
	}
	var reasons []struct {
		N      int
		Reason string
		C      int64
	}
	err = tx.Raw("SELECT d.n AS n, m.reason AS reason, COUNT(*) AS c FROM "+dt+
		" d JOIN messages m ON m.shop_id = ? AND m.created_at >= d.lo AND m.created_at < d.hi AND m.status = ? AND m.to_merchant = ? GROUP BY d.n, m.reason",
		append(args, shopID, MessageSuppressed, false)...).Scan(&reasons).Error
	if err != nil {
		return fmt.Errorf("roll up suppression reasons: %w", err)
	}
	for _, r := range reasons {
		set.addInt(r.N, statMsgSuppressed, reasonKind(r.Reason), r.C)
	}
	return nil
}

// reasonKind is a reason without its detail ("hold expired: ticket 12" →
// "hold expired"), so the dashboard ranks kinds of reasons.
func reasonKind(reason string) string {
	k, _, _ := strings.Cut(reason, ":")
	k = strings.TrimSpace(k)
	if k == "" {
		return "unknown"
	}
	return k
}

// rollupDeliveries counts packages by the day they were delivered. On time
// means delivered at or before the estimate, among packages that had one.
func (s *Store) rollupDeliveries(tx *gorm.DB, shopID uint64, dt string, args []any, set statSet) error {
	secs := "(julianday(f.delivered_at) - julianday(f.platform_created_at)) * 86400.0"
	if s.pg {
		secs = "EXTRACT(EPOCH FROM (f.delivered_at - f.platform_created_at))"
	}
	var rows []struct {
		N                          int
		Carrier                    string
		Delivered, Est, Late, Ship int64
		Secs                       float64
	}
	err := tx.Raw("SELECT d.n AS n, f.tracking_company AS carrier, COUNT(*) AS delivered,"+
		" SUM(CASE WHEN f.estimated_delivery_at IS NOT NULL THEN 1 ELSE 0 END) AS est,"+
		" SUM(CASE WHEN f.estimated_delivery_at IS NOT NULL AND f.delivered_at > f.estimated_delivery_at THEN 1 ELSE 0 END) AS late,"+
		" SUM(CASE WHEN f.platform_created_at <= f.delivered_at THEN 1 ELSE 0 END) AS ship,"+
		" COALESCE(SUM(CASE WHEN f.platform_created_at <= f.delivered_at THEN "+secs+" ELSE 0 END), 0) AS secs"+
		" FROM "+dt+" d JOIN fulfillments f ON f.shop_id = ? AND f.delivered_at >= d.lo AND f.delivered_at < d.hi"+
		" GROUP BY d.n, f.tracking_company",
		append(args, shopID)...).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("roll up deliveries: %w", err)
	}
	for _, r := range rows {
		c := strings.TrimSpace(r.Carrier)
		set.addInt(r.N, statDelivered, c, r.Delivered)
		set.addInt(r.N, statDeliveredEst, c, r.Est)
		set.addInt(r.N, statDeliveredLate, c, r.Late)
		set.addInt(r.N, statShipN, c, r.Ship)
		set.add(r.N, statShipSecs, c, decimal.NewFromFloat(r.Secs).Round(0))
	}
	return nil
}

// rollupFeedback counts ratings by the day they were given, and review
// requests (one message, however many products it asks about) against
// orders that got a review.
func (s *Store) rollupFeedback(tx *gorm.DB, shopID uint64, dt string, args []any, set statSet) error {
	var ratings []struct {
		N      int
		Kind   string
		Rating int
		C      int64
	}
	err := tx.Raw("SELECT d.n AS n, fb.kind AS kind, fb.rating AS rating, COUNT(*) AS c FROM "+dt+
		" d JOIN feedback fb ON fb.shop_id = ? AND fb.created_at >= d.lo AND fb.created_at < d.hi AND fb.kind IN (?, ?) GROUP BY d.n, fb.kind, fb.rating",
		append(args, shopID, FeedbackDelivery, FeedbackNPS)...).Scan(&ratings).Error
	if err != nil {
		return fmt.Errorf("roll up ratings: %w", err)
	}
	for _, r := range ratings {
		switch {
		case r.Kind == FeedbackDelivery && r.Rating >= 1 && r.Rating <= 5:
			set.addInt(r.N, statDSAT, strconv.Itoa(r.Rating), r.C)
		case r.Kind == FeedbackNPS && r.Rating >= 0 && r.Rating <= 10:
			set.addInt(r.N, statNPS, strconv.Itoa(r.Rating), r.C)
		}
	}
	var counts []struct {
		N int
		C int64
	}
	err = tx.Raw("SELECT d.n AS n, COUNT(DISTINCT fb.order_platform_id) AS c FROM "+dt+
		" d JOIN feedback fb ON fb.shop_id = ? AND fb.created_at >= d.lo AND fb.created_at < d.hi AND fb.kind = ? GROUP BY d.n",
		append(args, shopID, FeedbackReview)...).Scan(&counts).Error
	if err != nil {
		return fmt.Errorf("roll up reviews: %w", err)
	}
	for _, r := range counts {
		set.addInt(r.N, statReviewResp, "", r.C)
	}
	counts = nil
	err = tx.Raw("SELECT d.n AS n, COUNT(DISTINCT ra.message_id) AS c FROM "+dt+
		" d JOIN review_asks ra ON ra.shop_id = ? AND ra.asked_at >= d.lo AND ra.asked_at < d.hi GROUP BY d.n",
		append(args, shopID)...).Scan(&counts).Error
	if err != nil {
		return fmt.Errorf("roll up review asks: %w", err)
	}
	for _, r := range counts {
		set.addInt(r.N, statReviewAsks, "", r.C)
	}
	return nil
}

// rollupLoyalty sums points issued (earned, referral rewards, positive
// adjustments) and redeemed (spent on codes) by the entries' day.
func (s *Store) rollupLoyalty(tx *gorm.DB, shopID uint64, dt string, args []any, set statSet) error {
	var rows []struct {
		N                int
		Issued, Redeemed int64
	}
	err := tx.Raw("SELECT d.n AS n,"+
		" COALESCE(SUM(CASE WHEN e.kind IN (?, ?) OR (e.kind = ? AND e.points > 0) THEN e.points ELSE 0 END), 0) AS issued,"+
		" COALESCE(SUM(CASE WHEN e.kind = ? THEN -e.points ELSE 0 END), 0) AS redeemed"+
		" FROM "+dt+" d JOIN loyalty_entries e ON e.shop_id = ? AND e.at >= d.lo AND e.at < d.hi GROUP BY d.n",
		append([]any{EntryEarn, EntryReferralReward, EntryAdjust, EntryRedeem}, append(args, shopID)...)...).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("roll up points: %w", err)
	}
	for _, r := range rows {
		set.addInt(r.N, statPtsIssued, "", r.Issued)
		set.addInt(r.N, statPtsRedeemed, "", r.Redeemed)
	}
	return nil
}

// rollupReferrals counts link clicks, and conversions (a referee order
// attributed to a referrer and not rejected or reversed, by the day it was
// attributed) with those orders' totals.
func (s *Store) rollupReferrals(tx *gorm.DB, shopID uint64, dt string, args []any, set statSet) error {
	var clicks []struct {
		N int
		C int64
	}
	err := tx.Raw("SELECT d.n AS n, COUNT(*) AS c FROM "+dt+
		" d JOIN referral_clicks c ON c.shop_id = ? AND c.at >= d.lo AND c.at < d.hi GROUP BY d.n",
		append(args, shopID)...).Scan(&clicks).Error
	if err != nil {
		return fmt.Errorf("roll up referral clicks: %w", err)
	}
	for _, r := range clicks {
		set.addInt(r.N, statRefClicks, "", r.C)
	}
	var conv []struct {
		N       int
		C       int64
		Revenue decimal.Decimal
	}
	err = tx.Raw("SELECT d.n AS n, COUNT(*) AS c, COALESCE(SUM(o.total), 0) AS revenue FROM "+dt+
		" d JOIN referrals r ON r.shop_id = ? AND r.created_at >= d.lo AND r.created_at < d.hi AND r.status NOT IN (?, ?)"+
		" LEFT JOIN orders o ON o.shop_id = r.shop_id AND o.platform_id = r.order_platform_id GROUP BY d.n",
		append(args, shopID, ReferralRejected, ReferralReversed)...).Scan(&conv).Error
	if err != nil {
		return fmt.Errorf("roll up referral conversions: %w", err)
	}
	for _, r := range conv {
		set.addInt(r.N, statRefConv, "", r.C)
		set.add(r.N, statRefRevenue, "", r.Revenue)
	}
	return nil
}

// StatState returns the shop's rollup state, or ErrNotFound if the shop
// was never rolled up.
func (s *Store) StatState(ctx context.Context, shopID uint64) (StatState, error) {
	var st StatState
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Take(&st).Error; err != nil {
		return StatState{}, fmt.Errorf("rollup state of shop %d: %w", shopID, notFound(err))
	}
	return st, nil
}

// Dashboard returns the shop's figures for the last days days up to now's
// day (in the shop's zone), from the rollups, plus a few live figures read
// through small indexes: orders since the last rollup and the packages
// delayed now. Liability is left zero: valuing points takes the loyalty
// program, which the caller has (jobs.Dashboards fills it).
// Returns ErrNotFound if the shop does not exist.
func (s *Store) Dashboard(ctx context.Context, shopID uint64, days int, now time.Time) (Dashboard, error) {
	if days < 1 || days > 400 {
		return Dashboard{}, fmt.Errorf("dashboard of shop %d: %d days: out of range 1..400", shopID, days)
	}
	shop, err := s.ShopByID(ctx, shopID)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: %w", err)
	}
	loc := ShopZone(shop.Timezone)
	last := civilDay(now, loc)
	first := last.AddDate(0, 0, -(days - 1))
	db := s.db.WithContext(ctx)

	d := Dashboard{Days: days, From: dayStart(first, loc), To: dayStart(last, loc)}
	agg := newDashAgg(first, days, loc)
	// Scanned by hand, values as text: a 90-day window is some 6,000 rows,
	// and gorm's reflection and a decimal per row cost more than the query.
	rows, err := db.Raw("SELECT day, metric, dim, value FROM stat_days WHERE shop_id = ? AND day >= ? AND day <= ?", shopID, first, last).Rows()
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard of shop %d: read rollups: %w", shopID, err)
	}
	for rows.Next() {
		var r statRow
		if err := rows.Scan(&r.day, &r.metric, &r.dim, &r.raw); err != nil {
			rows.Close()
			return Dashboard{}, fmt.Errorf("dashboard of shop %d: read rollups: %w", shopID, err)
		}
		agg.add(r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard of shop %d: read rollups: %w", shopID, err)
	}
	agg.fill(&d)

	st, err := s.StatState(ctx, shopID)
	switch {
	case err == nil:
		d.RolledUpAt = st.RolledUpAt
		// Orders stored since the snapshot: the short tail of the primary
		// key past OrdersMaxID, however big the shop.
		var since int64
		if err := db.Model(&Order{}).Where("id > ? AND shop_id = ?", st.OrdersMaxID, shopID).
			Count(&since).Error; err != nil {
			return Dashboard{}, fmt.Errorf("dashboard of shop %d: orders since rollup: %w", shopID, err)
		}
		d.Orders.Total = st.OrdersTotal + since
		d.Loyalty.OutstandingPoints = st.OutstandingPoints
	case !errors.Is(err, ErrNotFound):
		return Dashboard{}, fmt.Errorf("dashboard: %w", err)
	}
	d.Loyalty.Currency = shop.Currency
	d.Referrals.Currency = shop.Currency

	d.Delivery.CurrentlyDelayed, err = s.currentlyDelayed(ctx, shopID, now)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard of shop %d: %w", shopID, err)
	}
	return d, nil
}

// currentlyDelayed counts orders (not cancelled) with a package on its way
// whose estimate has passed, or that the carrier reports failed or
// attempted. Each half is a range of its own small partial index
// (ix_fulfillments_open, ix_fulfillments_problem), which hold only packages
// not delivered; the statuses are literals so that PostgreSQL can match the
// indexes' predicates even in a cached generic plan.
func (s *Store) currentlyDelayed(ctx context.Context, shopID uint64, now time.Time) (int64, error) {
	var n int64
	horizon := now.Add(-delayedHorizon).UTC()
	const live = "f.delivered_at IS NULL AND f.status NOT IN ('cancelled', 'error', 'failure')"
	err := s.db.WithContext(ctx).Raw("SELECT COUNT(DISTINCT x.order_id) FROM ("+
		"SELECT f.order_id FROM fulfillments f WHERE f.shop_id = ? AND "+live+" AND f.shipment_status <> 'delivered'"+
		" AND f.estimated_delivery_at >= ? AND f.estimated_delivery_at < ?"+
		" UNION ALL "+
		"SELECT f.order_id FROM fulfillments f WHERE f.shop_id = ? AND "+live+" AND f.shipment_status IN ('failure', 'attempted_delivery')"+
		" AND f.platform_created_at >= ?"+
		") x JOIN orders o ON o.id = x.order_id AND o.cancelled_at IS NULL",
		shopID, horizon, now.UTC(), shopID, horizon).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count delayed orders: %w", err)
	}
	return n, nil
}

// dashAgg folds stat_days rows into the dashboard's totals and series.
type dashAgg struct {
	first time.Time
	days  int
	loc   *time.Location
	// per day index
	orders, sent, delivered, deliveredEst, deliveredLate, dsatN, dsatSum []float64
	issued, redeemed, clicks, conversions                                []float64

	byFlow          map[[2]string]*FlowChannelCount
	reasons         map[string]int64
	carriers        map[string]*CarrierRate
	shipSecs, shipN float64
	dsat            [5]int64
	nps             [11]int64
	asks, responses int64
	revenue         decimal.Decimal
}

func newDashAgg(first time.Time, days int, loc *time.Location) *dashAgg {
	mk := func() []float64 { return make([]float64, days) }
	return &dashAgg{first: first, days: days, loc: loc,
		orders: mk(), sent: mk(), delivered: mk(), deliveredEst: mk(), deliveredLate: mk(), dsatN: mk(), dsatSum: mk(),
		issued: mk(), redeemed: mk(), clicks: mk(), conversions: mk(),
		byFlow: map[[2]string]*FlowChannelCount{}, reasons: map[string]int64{}, carriers: map[string]*CarrierRate{}}
}

func (a *dashAgg) carrier(name string) *CarrierRate {
	c := a.carriers[name]
	if c == nil {
		c = &CarrierRate{Carrier: name}
		a.carriers[name] = c
	}
	return c
}

// statRow is one stat_days row as the dashboard reads it.
type statRow struct {
	day         time.Time
	metric, dim string
	raw         string // the value as the database prints it
}

func (a *dashAgg) add(r statRow) {
	y, m, dd := r.day.UTC().Date()
	i := int(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC).Sub(a.first).Hours()+0.5) / 24
	if i < 0 || i >= a.days {
		return
	}
	v, err := strconv.ParseFloat(r.raw, 64)
	if err != nil {
		return
	}
	n := int64(math.Round(v))
	switch r.metric {
	case statOrders:
		a.orders[i] += v
	case statMsg:
		parts := strings.SplitN(r.dim, "/", 3)
		if len(parts) != 3 {
			return
		}
		fc := a.byFlow[[2]string{parts[0], parts[1]}]
		if fc == nil {
			fc = &FlowChannelCount{Flow: parts[0], Channel: parts[1]}
			a.byFlow[[2]string{parts[0], parts[1]}] = fc
		}
		switch parts[2] {
		case MessageSent:
			fc.Sent += n
			a.sent[i] += v
		case MessageDeferred:
			fc.Deferred += n
		case MessageSuppressed:
			fc.Suppressed += n
		case MessageFailed:
			fc.Failed += n
		}
	case statMsgSuppressed:
		a.reasons[r.dim] += n
	case statDelivered:
		a.delivered[i] += v
		a.carrier(r.dim).Delivered += n
	case statDeliveredEst:
		a.deliveredEst[i] += v
		a.carrier(r.dim).WithEstimate += n
	case statDeliveredLate:
		a.deliveredLate[i] += v
		a.carrier(r.dim).Late += n
	case statShipSecs:
		a.shipSecs += v
	case statShipN:
		a.shipN += v
	case statDSAT:
		if k, err := strconv.Atoi(r.dim); err == nil && k >= 1 && k <= 5 {
			a.dsat[k-1] += n
			a.dsatN[i] += v
			a.dsatSum[i] += v * float64(k)
		}
	case statNPS:
		if k, err := strconv.Atoi(r.dim); err == nil && k >= 0 && k <= 10 {
			a.nps[k] += n
		}
	case statReviewAsks:
		a.asks += n
	case statReviewResp:
		a.responses += n
	case statPtsIssued:
		a.issued[i] += v
	case statPtsRedeemed:
		a.redeemed[i] += v
	case statRefClicks:
		a.clicks[i] += v
	case statRefConv:
		a.conversions[i] += v
	case statRefRevenue:
		if dv, err := decimal.NewFromString(r.raw); err == nil {
			a.revenue = a.revenue.Add(dv)
		}
	}
}

func (a *dashAgg) series(vals []float64) Series {
	out := make(Series, a.days)
	for i := range out {
		out[i] = DayValue{Day: dayStart(a.first.AddDate(0, 0, i), a.loc), Value: vals[i]}
	}
	return out
}

func sumDays(vals []float64) int64 {
	var t float64
	for _, v := range vals {
		t += v
	}
	return int64(t + 0.5)
}

func ratio(num, den float64) float64 {
	if den <= 0 {
		return 0
	}
	return num / den
}

func (a *dashAgg) fill(d *Dashboard) {
	d.Orders.InWindow = sumDays(a.orders)
	d.Orders.Daily = a.series(a.orders)

	for _, fc := range a.byFlow {
		d.Messages.Sent += fc.Sent
		d.Messages.Deferred += fc.Deferred
		d.Messages.Suppressed += fc.Suppressed
		d.Messages.Failed += fc.Failed
		d.Messages.ByFlow = append(d.Messages.ByFlow, *fc)
	}
	sort.Slice(d.Messages.ByFlow, func(i, j int) bool {
		x, y := d.Messages.ByFlow[i], d.Messages.ByFlow[j]
		if x.Flow != y.Flow {
			return x.Flow < y.Flow
		}
		return x.Channel < y.Channel
	})
	for reason, c := range a.reasons {
		d.Messages.TopSuppressed = append(d.Messages.TopSuppressed, ReasonCount{Reason: reason, Count: c})
	}
	sort.Slice(d.Messages.TopSuppressed, func(i, j int) bool {
		x, y := d.Messages.TopSuppressed[i], d.Messages.TopSuppressed[j]
		if x.Count != y.Count {
			return x.Count > y.Count
		}
		return x.Reason < y.Reason
	})
	if len(d.Messages.TopSuppressed) > 5 {
		d.Messages.TopSuppressed = d.Messages.TopSuppressed[:5]
	}
	d.Messages.SentDaily = a.series(a.sent)

	dl := &d.Delivery
	dl.Delivered = sumDays(a.delivered)
	dl.WithEstimate = sumDays(a.deliveredEst)
	dl.Late = sumDays(a.deliveredLate)
	dl.OnTimeRate = ratio(float64(dl.WithEstimate-dl.Late), float64(dl.WithEstimate))
	dl.AvgDaysToDeliver = ratio(a.shipSecs, a.shipN) / 86400
	for _, c := range a.carriers {
		c.LateRate = ratio(float64(c.Late), float64(c.WithEstimate))
		dl.ByCarrier = append(dl.ByCarrier, *c)
	}
	sort.Slice(dl.ByCarrier, func(i, j int) bool {
		x, y := dl.ByCarrier[i], dl.ByCarrier[j]
		if x.Delivered != y.Delivered {
			return x.Delivered > y.Delivered
		}
		return x.Carrier < y.Carrier
	})
	dl.DeliveredDaily = a.series(a.delivered)
	onTime := make([]float64, a.days)
	for i := range onTime {
		onTime[i] = ratio(a.deliveredEst[i]-a.deliveredLate[i], a.deliveredEst[i])
	}
	dl.OnTimeDaily = a.series(onTime)

	fb := &d.Feedback
	fb.DSATDist = a.dsat
	var dsatSum int64
	for k, c := range a.dsat {
		fb.DSATCount += c
		dsatSum += c * int64(k+1)
	}
	fb.DSATAvg = ratio(float64(dsatSum), float64(fb.DSATCount))
	for k, c := range a.nps {
		fb.NPSCount += c
		switch {
		case k >= 9:
			fb.Promoters += c
		case k >= 7:
			fb.Passives += c
		default:
			fb.Detractors += c
		}
	}
	fb.NPS = 100 * ratio(float64(fb.Promoters-fb.Detractors), float64(fb.NPSCount))
	fb.ReviewAsks, fb.ReviewResponses = a.asks, a.responses
	fb.ReviewResponseRate = min(1, ratio(float64(a.responses), float64(a.asks)))
	avg := make([]float64, a.days)
	for i := range avg {
		avg[i] = ratio(a.dsatSum[i], a.dsatN[i])
	}
	fb.DSATDaily = a.series(avg)

	d.Loyalty.Issued = sumDays(a.issued)
	d.Loyalty.Redeemed = sumDays(a.redeemed)
	d.Loyalty.IssuedDaily = a.series(a.issued)
	d.Loyalty.RedeemedDaily = a.series(a.redeemed)

	d.Referrals.Clicks = sumDays(a.clicks)
	d.Referrals.Conversions = sumDays(a.conversions)
	d.Referrals.Revenue = a.revenue
	d.Referrals.ClicksDaily = a.series(a.clicks)
	d.Referrals.ConversionsDaily = a.series(a.conversions)
}
