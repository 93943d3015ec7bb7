// Package benchdata holds the data generator the benchmarks (and tests
// that want a shop with history) fill a shop with: plain SQL run by
// PostgreSQL itself (INSERT … SELECT … generate_series), so a million orders
// take a minute or two rather than hours of row-by-row inserts.
package benchdata

import (
	"context"
	"fmt"
	"time"
)

// Stmt fills one table. $1 is the shop, $2 now, $3 the order count,
// $4 the span in days.
type Stmt struct {
	Table string
	SQL   string
}

// Groups are the generator's statements, in dependency order: each group runs after
// the previous one, the statements of a group at once. Ratios, per order:
// ~1.2 packages (every order not cancelled ships once, one in five twice)
// with ~2 carrier scans each, ~3.1 messages (thank-you, shipping notice,
// review request on 70%, delivery SMS on 40%, a delay alert to the merchant
// on 1%), feedback on ~20% (delivery rating; NPS and reviews on some), an
// earn entry per order and a redemption on 5%, a referral on 2% and a
// link click per 10 orders. Per-order "randomness" is a hash of the order
// id where several rows must agree, random() elsewhere.
var Groups = [][]Stmt{
	{{"orders", `
INSERT INTO orders (shop_id, platform_id, name, number, email, customer_platform_id, locale, currency,
  subtotal, total_discounts, total_shipping, total_tax, total, original_subtotal, financial_status, fulfillment_status,
  cancelled_at, cancel_reason, processed_at, test, platform_created_at, platform_updated_at, created_at, updated_at)
SELECT $1::bigint, 5000000000000 + g, '#' || (1000 + g), 1000 + g, 'shopper' || c || '@example.com', 7000000000000 + c, 'en', 'USD',
  amt, 0, 5, round(amt * 0.08, 2), amt + 5 + round(amt * 0.08, 2), amt,
  CASE WHEN g % 40 = 0 THEN 'refunded' ELSE 'paid' END, CASE WHEN g % 100 = 0 THEN '' ELSE 'fulfilled' END,
  CASE WHEN g % 100 = 0 THEN ts + interval '2 hours' END, CASE WHEN g % 100 = 0 THEN 'customer' ELSE '' END,
  ts, false, ts, ts, ts, ts
FROM (SELECT g, (g * 7919) % GREATEST($3 / 3, 1) AS c,
             $2::timestamptz - ($4 * 86400.0 * random()) * interval '1 second' AS ts,
             round((15 + random() * 185)::numeric, 2) AS amt
      FROM generate_series(1, $3::bigint) g) s`}},
	{{"fulfillments", `
INSERT INTO fulfillments (shop_id, order_id, platform_id, order_platform_id, name, status, shipment_status, tracking_company,
  tracking_number, estimated_delivery_at, delivered_at, line_items, platform_created_at, platform_updated_at, created_at, updated_at)
SELECT shop_id, id, platform_id * 10 + k, platform_id, name || '.' || k, 'success',
  CASE WHEN arrive <= $2 THEN 'delivered' WHEN r3 < 0.02 THEN 'failure' WHEN r3 < 0.04 THEN 'attempted_delivery' ELSE 'in_transit' END,
  carrier, '1Z' || platform_id || k,
  CASE WHEN r2 < 0.85 THEN shipped + interval '4 days' END,
  CASE WHEN arrive <= $2 THEN arrive END,
  '[]', shipped, LEAST(arrive, $2), shipped, LEAST(arrive, $2)
FROM (SELECT *, shipped + transit * interval '1 day' AS arrive
      FROM (SELECT o.shop_id, o.id, o.platform_id, o.name, k, random() AS r2, random() AS r3,
                   (ARRAY['UPS','USPS','FedEx','DHL Express','Canada Post'])[1 + (o.id * 31 + k) % 5] AS carrier,
                   o.platform_created_at + (6 + random() * 42) * interval '1 hour' AS shipped,
                   1 + random() * 3 + ((o.id * 31 + k) % 5) * 0.4 AS transit
            FROM orders o CROSS JOIN generate_series(1, 2) k
            WHERE o.shop_id = $1 AND o.cancelled_at IS NULL AND (k = 1 OR o.id % 5 = 0)) a) b
WHERE shipped <= $2 AND $3::int > 0 AND $4::int > 0`}},
	{
		{"fulfillment_events", `
INSERT INTO fulfillment_events (shop_id, fulfillment_id, platform_id, fulfillment_platform_id, order_platform_id, status,
  message, happened_at, created_at)
SELECT f.shop_id, f.id, f.platform_id * 10 + k, f.platform_id, f.order_platform_id,
  CASE k WHEN 1 THEN 'in_transit' ELSE 'delivered' END, CASE k WHEN 1 THEN 'Departed facility' ELSE 'Delivered' END,
  CASE k WHEN 1 THEN f.platform_created_at + interval '8 hours' ELSE f.delivered_at END, $2::timestamptz
FROM fulfillments f CROSS JOIN generate_series(1, 2) k
WHERE f.shop_id = $1 AND (k = 1 OR f.delivered_at IS NOT NULL) AND $3::int > 0 AND $4::int > 0`},
		{"messages", `
INSERT INTO messages (shop_id, order_platform_id, flow, step, subject, channel, recipient, to_merchant, customer_platform_id,
  locale, status, reason, due_at, first_due_at, sent_at, attempts, created_at, updated_at)
SELECT shop_id, platform_id, flow, (ARRAY['', 'in_transit', 'ask', 'delivered', 'stalled'])[k], '', channel,
  CASE WHEN k = 5 THEN 'merchant@example.com' WHEN channel = 'sms' THEN '+1555' || customer_platform_id ELSE email END,
  k = 5, customer_platform_id, 'en', status,
  CASE status WHEN 'suppressed' THEN (ARRAY['unsubscribed','hold expired: support ticket open','bounced','sms_stop','already asked'])[1 + (id * 13 + k) % 5]
              WHEN 'deferred' THEN 'quiet hours: until 08:00' WHEN 'failed' THEN '550 5.1.1 no such user' ELSE '' END,
  CASE WHEN status = 'deferred' THEN at + interval '10 hours' ELSE at END, at,
  CASE WHEN status = 'sent' THEN at + interval '3 seconds' END, 1, at, at
FROM (SELECT o.shop_id, o.id, o.platform_id, o.email, o.customer_platform_id, k,
             (ARRAY['thank_you','shipping_notice','review_request','shipping_notice','merchant_delay_alert'])[k] AS flow,
             CASE WHEN k = 4 THEN 'sms' ELSE 'email' END AS channel,
             o.platform_created_at + (ARRAY[interval '5 minutes', interval '36 hours', interval '14 days', interval '4 days', interval '6 days'])[k] AS at,
             CASE WHEN h < 80 THEN 'sent' WHEN h < 92 THEN 'suppressed' WHEN h < 96 THEN 'deferred' ELSE 'failed' END AS status
      FROM (SELECT o.*, k, (o.id * 7 + k * 13) % 100 AS h FROM orders o CROSS JOIN generate_series(1, 5) k WHERE o.shop_id = $1) o
      WHERE k <= 2 OR (k = 3 AND o.id % 10 < 7) OR (k = 4 AND o.id % 10 >= 6) OR (k = 5 AND o.id % 100 = 7)) m
WHERE at <= $2 AND $3::int > 0 AND $4::int > 0`},
		{"feedback", `
INSERT INTO feedback (shop_id, order_platform_id, kind, product_id, customer_platform_id, rating, comment, created_at, updated_at)
SELECT shop_id, platform_id, (ARRAY['delivery','nps','review'])[k], CASE WHEN k = 3 THEN 900 + id % 50 ELSE 0 END,
  customer_platform_id,
  CASE k WHEN 2 THEN (ARRAY[10,10,10,10,10,9,9,9,9,8,8,8,7,7,7,6,5,4,2,0])[1 + (id * 17) % 20]
         ELSE (ARRAY[1,2,3,3,4,4,4,5,5,5,5,5])[1 + (id * 11) % 12] END,
  '', at, at
FROM (SELECT o.*, k, o.platform_created_at + interval '7 days' + k * interval '1 hour' AS at
      FROM orders o CROSS JOIN generate_series(1, 3) k
      WHERE o.shop_id = $1 AND (o.id * 7919) % 1000 < 200
        AND (k = 1 OR (k = 2 AND (o.id * 7919) % 1000 < 100) OR (k = 3 AND (o.id * 7919) % 1000 < 60))) f
WHERE at <= $2 AND $3::int > 0 AND $4::int > 0`},
		{"loyalty_entries", `
INSERT INTO loyalty_entries (shop_id, customer_platform_id, kind, source_type, source_id, points, rate, multiplier, basis, currency,
  order_platform_id, reason, at, created_at)
SELECT shop_id, customer_platform_id, kind, CASE kind WHEN 'earn' THEN 'line_item' ELSE 'redemption' END, platform_id::text,
  CASE kind WHEN 'earn' THEN floor(original_subtotal)::bigint ELSE -500 END, 1, 1, original_subtotal, 'USD',
  CASE kind WHEN 'earn' THEN platform_id ELSE 0 END, '', at, at
FROM (SELECT o.*, (ARRAY['earn','redeem'])[k] AS kind, o.platform_created_at + (k - 1) * interval '1 day' AS at
      FROM orders o CROSS JOIN generate_series(1, 2) k
      WHERE o.shop_id = $1 AND o.cancelled_at IS NULL AND (k = 1 OR (o.id * 31) % 100 < 5)) e
WHERE at <= $2 AND $3::int > 0 AND $4::int > 0`},
		{"referrals", `
INSERT INTO referrals (shop_id, order_platform_id, referrer_platform_id, referee_platform_id, code, via, status, created_at, updated_at)
SELECT shop_id, platform_id, customer_platform_id + 1, customer_platform_id, 'REF' || (customer_platform_id + 1), 'link',
  (ARRAY['rewarded','rewarded','rewarded','rewarded','rewarded','rewarded','pending','pending','flagged','rejected','reversed'])[1 + (id * 37) % 11],
  platform_created_at + interval '1 minute', platform_created_at + interval '1 minute'
FROM orders WHERE shop_id = $1 AND (id * 131) % 100 < 2 AND $2::timestamptz IS NOT NULL AND $3::int > 0 AND $4::int > 0`},
		{"referral_clicks", `
INSERT INTO referral_clicks (shop_id, code, at)
SELECT $1::bigint, 'REF' || (7000000000000 + g % 5000), $2::timestamptz - ($4 * 86400.0 * random()) * interval '1 second'
FROM generate_series(1, GREATEST($3::int / 10, 1)) g`},
	},
	{
		{"review_asks", `
INSERT INTO review_asks (shop_id, recipient, product_id, message_id, asked_at)
SELECT shop_id, md5(recipient), 900 + order_platform_id % 50, id, created_at
FROM messages WHERE shop_id = $1 AND flow = 'review_request' AND status = 'sent' AND $2::timestamptz IS NOT NULL AND $3::int > 0 AND $4::int > 0`},
		{"loyalty_accounts", `
INSERT INTO loyalty_accounts (shop_id, customer_platform_id, available, pending, debt, matured_through, earned, redeemed,
  referral_code, last_activity_at, created_at, updated_at)
SELECT $1::bigint, customer_platform_id, GREATEST(SUM(points), 0), 0, GREATEST(-SUM(points), 0), $2::timestamptz,
  SUM(GREATEST(points, 0)), -SUM(LEAST(points, 0)), 'REF' || customer_platform_id, MAX(at), MIN(at), MAX(at)
FROM loyalty_entries WHERE shop_id = $1 AND $3::int > 0 AND $4::int > 0 GROUP BY customer_platform_id`},
	},
}

// Tables are the tables the generator fills.
var Tables = []string{"orders", "fulfillments", "fulfillment_events", "messages", "feedback", "loyalty_entries",
	"referrals", "referral_clicks", "review_asks", "loyalty_accounts"}

// Exec runs one statement with PostgreSQL placeholders and reports the rows
// it wrote.
type Exec func(ctx context.Context, sql string, args ...any) (int64, error)

// Fill runs groups in order, one statement after another, for shopID with
// orders orders spread over the spanDays days before now. The benchmarks
// run a group's statements at once and rebuild indexes around the load;
// Fill is the plain way, for small shops in tests.
func Fill(ctx context.Context, exec Exec, groups [][]Stmt, shopID uint64, now time.Time, orders, spanDays int) error {
	for _, g := range groups {
		for _, st := range g {
			if _, err := exec(ctx, st.SQL, int64(shopID), now, orders, spanDays); err != nil {
				return fmt.Errorf("fill %s: %w", st.Table, err)
			}
		}
	}
	return nil
}
