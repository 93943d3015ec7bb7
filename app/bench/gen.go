package bench

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The generator makes Shopify-shaped order webhooks (the fields, nesting and
// size of a real orders/create body: money sets, addresses, customer, line
// items with tax lines) without paying for json.Marshal on every request:
// a few bodies are rendered once with placeholders, and each request fills
// the order's ids, number and timestamps into one of them.

// Placeholders. Numeric ones are rendered as the JSON string "§n:NAME§" and
// lose their quotes when compiled.
const (
	phOrderID  = "OID"
	phName     = "NAME"
	phNumber   = "NUM"
	phOrderNum = "ONUM"
	phTime     = "TS"
	phCustomer = "CID"
	phLine0    = "L0"
	phLine1    = "L1"
	phLine2    = "L2"
)

// Big ids, as Shopify's are (above 2^53: a float64 on the way would show).
const (
	orderIDBase    = 7_100_000_000_000_000_000
	customerIDBase = 7_200_000_000_000_000_000
	lineIDBase     = 7_300_000_000_000_000_000
)

type segment struct {
	lit []byte
	ph  string // "" for the last literal
}

type template struct {
	segs  []segment
	topic string
}

type product struct {
	productID, variantID int64
	title, variant, sku  string
	price                string
	grams                int
}

var catalog = []product{
	{8_812_345_670_001, 45_123_456_780_001, "Trail Runner 2", "42 / Slate", "TR2-42-SLT", "89.00", 640},
	{8_812_345_670_002, 45_123_456_780_002, "Merino Crew Socks", "M / Charcoal", "MCS-M-CHA", "14.50", 80},
	{8_812_345_670_003, 45_123_456_780_003, "Insulated Bottle 750 ml", "Sage", "IB750-SAGE", "29.90", 410},
	{8_812_345_670_004, 45_123_456_780_004, "Canvas Weekender Bag", "Olive", "CWB-OLV", "119.00", 1300},
	{8_812_345_670_005, 45_123_456_780_005, "Rain Shell Jacket", "L / Navy", "RSJ-L-NVY", "149.00", 520},
	{8_812_345_670_006, 45_123_456_780_006, "Headlamp 400", "Black", "HL400", "39.95", 120},
}

type person struct {
	first, last, email, phone, address1, city, province, provCode, zip string
}

var people = []person{
	{"Maya", "Chen", "maya.chen@example.com", "+15125550142", "2104 E Cesar Chavez St", "Austin", "Texas", "TX", "78702"},
	{"Liam", "O'Connor", "liam.oconnor@example.com", "+16175550187", "48 Tremont St", "Boston", "Massachusetts", "MA", "02108"},
	{"Sofia", "Ramirez", "sofia.ramirez@example.com", "+13055550119", "1201 Brickell Ave", "Miami", "Florida", "FL", "33131"},
	{"Noah", "Williams", "noah.williams@example.com", "+12065550163", "815 Pine St", "Seattle", "Washington", "WA", "98101"},
	{"Ava", "Johnson", "ava.johnson@example.com", "+13125550128", "233 S Wacker Dr", "Chicago", "Illinois", "IL", "60606"},
	{"Ethan", "Brown", "ethan.brown@example.com", "+13035550171", "1650 Wazee St", "Denver", "Colorado", "CO", "80202"},
}

func money(amount string) map[string]any {
	m := map[string]any{"amount": amount, "currency_code": "USD"}
	return map[string]any{"shop_money": m, "presentment_money": m}
}

func cents(s string) int64 {
	f, _ := strconv.ParseFloat(s, 64)
	return int64(f*100 + 0.5)
}

func fmtCents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// renderTemplate renders one order body with placeholders: variant v picks
// the shopper, the lines and the topic.
func renderTemplate(shop string, v int) template {
	p := people[v%len(people)]
	nLines := 1 + v%3
	var lines []any
	var sub, tax int64
	for k := 0; k < nLines; k++ {
		pr := catalog[(v+k*2)%len(catalog)]
		qty := 1 + (v+k)%2
		lineSub := cents(pr.price) * int64(qty)
		lineTax := lineSub * 8 / 100
		sub += lineSub
		tax += lineTax
		lines = append(lines, map[string]any{
			"id": "§n:L" + strconv.Itoa(k) + "§", "admin_graphql_api_id": "gid://shopify/LineItem/§L" + strconv.Itoa(k) + "§",
			"attributed_staffs": []any{}, "current_quantity": qty, "fulfillable_quantity": qty, "fulfillment_service": "manual",
			"fulfillment_status": nil, "gift_card": false, "grams": pr.grams, "name": pr.title + " - " + pr.variant,
			"price": pr.price, "price_set": money(pr.price), "product_exists": true, "product_id": pr.productID,
			"properties": []any{}, "quantity": qty, "requires_shipping": true, "sku": pr.sku, "taxable": true,
			"title": pr.title, "total_discount": "0.00", "total_discount_set": money("0.00"), "variant_id": pr.variantID,
			"variant_inventory_management": "shopify", "variant_title": pr.variant, "vendor": "Doorstep Bench Store",
			"tax_lines": []any{map[string]any{"channel_liable": false, "price": fmtCents(lineTax), "price_set": money(fmtCents(lineTax)),
				"rate": 0.08, "title": "Sales Tax"}},
			"duties": []any{}, "discount_allocations": []any{},
		})
	}
	ship := int64(795)
	if sub >= 7500 {
		ship = 0
	}
	total := sub + tax + ship
	addr := map[string]any{
		"first_name": p.first, "last_name": p.last, "name": p.first + " " + p.last, "address1": p.address1, "address2": nil,
		"city": p.city, "province": p.province, "province_code": p.provCode, "country": "United States", "country_code": "US",
		"zip": p.zip, "phone": p.phone, "company": nil, "latitude": nil, "longitude": nil,
	}
	topic, financial := "orders/create", "paid"
	if v%5 == 4 {
		topic = "orders/paid"
	}
	o := map[string]any{
		"id": "§n:OID§", "admin_graphql_api_id": "gid://shopify/Order/§OID§", "app_id": 580111, "browser_ip": "203.0.113.7",
		"buyer_accepts_marketing": v%2 == 0, "cancel_reason": nil, "cancelled_at": nil, "cart_token": nil,
		"checkout_id": "§n:OID§", "checkout_token": "c1c2c3c4c5c6c7c8c9c0§OID§", "closed_at": nil, "confirmation_number": "BNCH§NUM§",
		"confirmed": true, "contact_email": p.email, "created_at": "§TS§", "currency": "USD",
		"current_subtotal_price": fmtCents(sub), "current_subtotal_price_set": money(fmtCents(sub)),
		"current_total_discounts": "0.00", "current_total_discounts_set": money("0.00"),
		"current_total_price": fmtCents(total), "current_total_price_set": money(fmtCents(total)),
		"current_total_tax": fmtCents(tax), "current_total_tax_set": money(fmtCents(tax)),
		"customer_locale": "en", "discount_codes": []any{}, "email": p.email, "estimated_taxes": false,
		"financial_status": financial, "fulfillment_status": nil, "landing_site": "/", "location_id": nil,
		"name": "#§NAME§", "note": nil, "note_attributes": []any{}, "number": "§n:NUM§", "order_number": "§n:ONUM§",
		"order_status_url": "https://" + shop + "/70000001/orders/§OID§/authenticate?key=0a1b2c3d4e5f", "payment_gateway_names": []string{"shopify_payments"},
		"phone": nil, "presentment_currency": "USD", "processed_at": "§TS§", "reference": nil, "referring_site": "",
		"source_identifier": nil, "source_name": "web", "subtotal_price": fmtCents(sub), "subtotal_price_set": money(fmtCents(sub)),
		"tags": "", "tax_exempt": false, "tax_lines": []any{map[string]any{"price": fmtCents(tax), "rate": 0.08, "title": "Sales Tax",
			"price_set": money(fmtCents(tax)), "channel_liable": false}},
		"taxes_included": false, "test": false, "token": "t0k3n§OID§", "total_discounts": "0.00", "total_discounts_set": money("0.00"),
		"total_line_items_price": fmtCents(sub), "total_line_items_price_set": money(fmtCents(sub)),
		"total_outstanding": "0.00", "total_price": fmtCents(total), "total_price_set": money(fmtCents(total)),
		"total_shipping_price_set": money(fmtCents(ship)), "total_tax": fmtCents(tax), "total_tax_set": money(fmtCents(tax)),
		"total_tip_received": "0.00", "total_weight": 0, "updated_at": "§TS§", "user_id": nil,
		"billing_address": addr, "shipping_address": addr,
		"customer": map[string]any{
			"id": "§n:CID§", "email": p.email, "created_at": "§TS§", "updated_at": "§TS§", "first_name": p.first,
			"last_name": p.last, "state": "enabled", "note": nil, "verified_email": true, "multipass_identifier": nil,
			"tax_exempt": false, "phone": p.phone, "currency": "USD", "tax_exemptions": []any{},
			"admin_graphql_api_id": "gid://shopify/Customer/§CID§", "default_address": addr,
			"email_marketing_consent": map[string]any{"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": nil},
		},
		"discount_applications": []any{}, "fulfillments": []any{}, "line_items": lines, "payment_terms": nil,
		"refunds": []any{}, "shipping_lines": []any{map[string]any{"id": "§n:OID§", "carrier_identifier": nil, "code": "Standard",
			"discounted_price": fmtCents(ship), "discounted_price_set": money(fmtCents(ship)), "phone": nil, "price": fmtCents(ship),
			"price_set": money(fmtCents(ship)), "source": "shopify", "title": "Standard", "tax_lines": []any{}, "discount_allocations": []any{}}},
	}
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // static data
	}
	return template{segs: compile(b), topic: topic}
}

// compile splits a rendered body at its placeholders.
func compile(b []byte) []segment {
	s := string(b)
	for _, ph := range []string{phOrderID, phNumber, phOrderNum, phCustomer, phLine0, phLine1, phLine2} {
		s = strings.ReplaceAll(s, `"§n:`+ph+`§"`, "§"+ph+"§")
	}
	var segs []segment
	for {
		i := strings.Index(s, "§")
		if i < 0 {
			segs = append(segs, segment{lit: []byte(s)})
			return segs
		}
		j := strings.Index(s[i+len("§"):], "§")
		if j < 0 {
			panic("unbalanced placeholder")
		}
		segs = append(segs, segment{lit: []byte(s[:i]), ph: s[i+len("§") : i+len("§")+j]})
		s = s[i+len("§")+j+len("§"):]
	}
}

// Request is one webhook as sent: a duplicate re-sends the same Request.
type Request struct {
	Topic, EventID, WebhookID, HMAC, TriggeredAt string
	Body                                         []byte
	Order                                        int64 // the order's platform id
}

// Generator makes distinct order webhooks; it is safe for concurrent use.
type Generator struct {
	shop, secret, run string
	tmpls             []template
	seq               atomic.Int64
}

// NewGenerator renders the templates for shop, signing with secret. run
// makes event ids unique to this run.
func NewGenerator(shop, secret, run string) *Generator {
	g := &Generator{shop: shop, secret: secret, run: run}
	for v := 0; v < 30; v++ {
		g.tmpls = append(g.tmpls, renderTemplate(shop, v))
	}
	return g
}

// Next builds the next distinct order's webhook.
func (g *Generator) Next() Request {
	n := g.seq.Add(1)
	t := g.tmpls[int(n)%len(g.tmpls)]
	order := orderIDBase + n
	ts := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	var buf bytes.Buffer
	buf.Grow(6 << 10)
	for _, s := range t.segs {
		buf.Write(s.lit)
		switch s.ph {
		case "":
		case phOrderID:
			buf.WriteString(strconv.FormatInt(order, 10))
		case phName, phOrderNum:
			buf.WriteString(strconv.FormatInt(1000+n, 10))
		case phNumber:
			buf.WriteString(strconv.FormatInt(n, 10))
		case phTime:
			buf.WriteString(ts)
		case phCustomer:
			buf.WriteString(strconv.FormatInt(customerIDBase+n, 10))
		case phLine0, phLine1, phLine2:
			buf.WriteString(strconv.FormatInt(lineIDBase+n*4+int64(s.ph[1]-'0'), 10))
		default:
			panic("unknown placeholder " + s.ph)
		}
	}
	body := buf.Bytes()
	// A UUID-shaped event id, unique per run and order.
	eid := fmt.Sprintf("%s-%04x-4%03x-8%03x-%012x", g.run, (n>>40)&0xffff, (n>>28)&0xfff, (n>>16)&0xfff, n&0xffffffffffff)
	return Request{
		Topic: t.topic, EventID: eid, WebhookID: "wh-" + eid, HMAC: Sign(g.secret, body),
		TriggeredAt: time.Now().UTC().Format(time.RFC3339Nano), Body: body, Order: order,
	}
}

// Sign is Shopify's webhook signature: base64 HMAC-SHA256 of the body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
