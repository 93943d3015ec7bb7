package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// The simulator plays Shopify for the demo: it gives each order a scripted
// life and sends every step as a signed webhook to the real intake, so the
// demo exercises the same path as production (signature, dedup, newer-wins,
// the delivery processor, triggers).

// SimulatorConfig configures a Simulator.
type SimulatorConfig struct {
	URL    string // the intake, e.g. http://127.0.0.1:8080/webhooks/shopify
	Shop   string // myshopify domain, e.g. doorstep-demo.myshopify.com
	Secret string // the app's API secret: the HMAC key
	Orders int
	Step   time.Duration // time between simulated events of one order
	Out    io.Writer     // one human line per event, then a summary; nil discards
	Seed   int64         // the scripts are deterministic from it
	// HTTPClient sends the webhooks; nil → a client with a 15 s timeout.
	HTTPClient *http.Client
	// FirstOrder is the number of the first order (its name is "#N");
	// 0 → 1001. Order and other ids derive from it, so a second run on the
	// same database can continue the numbering instead of colliding.
	FirstOrder int
}

// Scenario kinds: what life an order gets.
const (
	simHappy     = "happy"     // paid, shipped, delivered
	simSplit     = "split"     // two shipments, each with its own carrier events
	simRefunded  = "refunded"  // delivered, then refunded
	simCancelled = "cancelled" // cancelled before payment
	simDelayed   = "delayed"   // stuck in transit, failed delivery, never delivered
)

// Simulator sends the scripted webhooks. Run it once.
type Simulator struct {
	cfg    SimulatorConfig
	client *http.Client
	loc    *time.Location
	orders []*simOrder

	mu    sync.Mutex // guards Out and stats
	stats simStats
}

type simStats struct {
	sent, ok, failed, dups, stale int
}

// Deliberately big ids (around 6.1e18: far above 2^53, below 2^63): a
// float64 anywhere on the way would corrupt them.
const (
	simOrderBase       = 6_100_000_000_000_000_000
	simLineBase        = 6_200_000_000_000_000_000
	simFulfillmentBase = 6_300_000_000_000_000_000
	simEventBase       = 6_400_000_000_000_000_000
	simRefundBase      = 6_500_000_000_000_000_000
	simRefundLineBase  = 6_600_000_000_000_000_000
	simTransactionBase = 6_700_000_000_000_000_000
	simCustomerBase    = 6_800_000_000_000_000_000
	simShippingBase    = 6_900_000_000_000_000_000
)

// simAPIVersion is the X-Shopify-API-Version the simulator claims.
const simAPIVersion = "2026-07"

var (
	simTaxRate     = decimal.RequireFromString("0.08")
	simShipping    = decimal.RequireFromString("7.95")
	simFreeShipMin = decimal.RequireFromString("75.00")
)

type simProduct struct {
	productID, variantID int64
	title, variant, sku  string
	price                string
	grams                int
}

var simCatalog = []simProduct{
	{8_812_345_670_001, 45_123_456_780_001, "Trail Runner 2", "42 / Slate", "TR2-42-SLT", "89.00", 640},
	{8_812_345_670_002, 45_123_456_780_002, "Merino Crew Socks", "M / Charcoal", "MCS-M-CHA", "14.50", 80},
	{8_812_345_670_003, 45_123_456_780_003, "Insulated Bottle 750 ml", "Sage", "IB750-SAGE", "29.90", 410},
	{8_812_345_670_004, 45_123_456_780_004, "Canvas Weekender Bag", "Olive", "CWB-OLV", "119.00", 1300},
	{8_812_345_670_005, 45_123_456_780_005, "Rain Shell Jacket", "L / Navy", "RSJ-L-NVY", "149.00", 520},
	{8_812_345_670_006, 45_123_456_780_006, "Headlamp 400", "", "HL400", "39.95", 120},
	{8_812_345_670_007, 45_123_456_780_007, "Camp Mug", "Enamel White", "MUG-ENW", "12.00", 300},
	{8_812_345_670_008, 45_123_456_780_008, "Wool Beanie", "Rust", "BNE-RST", "24.00", 90},
}

type simPerson struct {
	first, last, email, phone          string
	address1, city, province, provCode string
	zip                                string
}

var simPeople = []simPerson{
	{"Maya", "Chen", "maya.chen@example.com", "+15125550142", "2104 E Cesar Chavez St", "Austin", "Texas", "TX", "78702"},
	{"Liam", "O'Connor", "liam.oconnor@example.com", "+16175550187", "48 Tremont St", "Boston", "Massachusetts", "MA", "02108"},
	{"Sofia", "Ramirez", "sofia.ramirez@example.com", "+13055550119", "1201 Brickell Ave", "Miami", "Florida", "FL", "33131"},
	{"Noah", "Williams", "noah.williams@example.com", "+12065550163", "815 Pine St", "Seattle", "Washington", "WA", "98101"},
	{"Ava", "Johnson", "ava.johnson@example.com", "+13125550128", "233 S Wacker Dr", "Chicago", "Illinois", "IL", "60606"},
	{"Ethan", "Brown", "ethan.brown@example.com", "+13035550171", "1650 Wazee St", "Denver", "Colorado", "CO", "80202"},
	{"Zoe", "Martin", "zoe.martin@example.com", "+15035550105", "921 SW Washington St", "Portland", "Oregon", "OR", "97205"},
	{"Lucas", "Garcia", "lucas.garcia@example.com", "+16155550136", "401 Church St", "Nashville", "Tennessee", "TN", "37219"},
}

type simCarrier struct {
	name               string
	hubCity, hubProv   string
	number             func(r *rand.Rand) string
	url                func(number string) string
	serviceDescription string
}

func simDigits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.Intn(10))
	}
	return string(b)
}

var simCarriers = []simCarrier{
	{name: "UPS", hubCity: "Louisville", hubProv: "KY",
		number: func(r *rand.Rand) string {
			const an = "0123456789ABCDEFGHJKLMNPRSTVWXYZ"
			b := []byte("1Z")
			for i := 0; i < 16; i++ {
				b = append(b, an[r.Intn(len(an))])
			}
			return string(b)
		},
		url: func(n string) string { return "https://www.ups.com/track?tracknum=" + n }},
	{name: "FedEx", hubCity: "Memphis", hubProv: "TN",
		number: func(r *rand.Rand) string { return simDigits(r, 12) },
		url:    func(n string) string { return "https://www.fedex.com/fedextrack/?trknbr=" + n }},
	{name: "USPS", hubCity: "Chicago", hubProv: "IL",
		number: func(r *rand.Rand) string { return "9400" + simDigits(r, 18) },
		url:    func(n string) string { return "https://tools.usps.com/go/TrackConfirmAction?tLabels=" + n }},
}

// ---- the world: one order's state as Shopify would hold it ----

type simLine struct {
	id         int64
	product    simProduct
	qty        int
	price, tax decimal.Decimal // unit price; tax of the whole line
	fulfilled  bool
}

type simFulfillment struct {
	id               int64
	seq              int // 1, 2: "#1001.1"
	lines            []int
	carrier          simCarrier
	number           string
	shipment         string // "" until the first carrier scan (Shopify sends null)
	created, updated time.Time
	eta              *time.Time
}

type simRefund struct {
	id      int64
	lines   []int
	amount  decimal.Decimal
	shipTax decimal.Decimal // shipping refunded, if any
	at      time.Time
}

type simOrder struct {
	num    int
	id     int64
	name   string
	kind   string
	person simPerson
	custID int64
	lines  []*simLine
	start  time.Duration
	steps  []*simStep

	// what the script should leave behind
	wantFinancial string
	wantShipments []string // last carrier status per fulfillment
	wantCancelled bool
	wantRefunds   int

	// state, touched only by the order's own goroutine
	clock               time.Time
	created, updated    time.Time
	financial           string
	cancelledAt, closed *time.Time
	fulfillments        []*simFulfillment
	refunds             []*simRefund
	staleBody           []byte
	nextEvent           int64
}

type simStep struct {
	label  string
	topic  string
	delay  time.Duration // wait before sending
	event  string        // X-Shopify-Event-Id
	hook   string        // X-Shopify-Webhook-Id
	build  func(at time.Time) any
	dupOf  *simStep // re-send that step's exact request
	stale  bool
	sent   *simRequest
	status string // what the intake answered, for the log
}

type simRequest struct {
	topic, event, hook, triggeredAt string
	body                            []byte
}

// NewSimulator plans every order's script (deterministic from cfg.Seed).
func NewSimulator(cfg SimulatorConfig) *Simulator {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Step <= 0 {
		cfg.Step = 3 * time.Second
	}
	if cfg.FirstOrder <= 0 {
		cfg.FirstOrder = 1001
	}
	s := &Simulator{cfg: cfg, client: cfg.HTTPClient, loc: time.UTC}
	if s.client == nil {
		s.client = &http.Client{Timeout: 15 * time.Second}
	}
	if loc, err := time.LoadLocation("America/New_York"); err == nil {
		s.loc = loc // Shopify writes times in the shop's zone
	}
	r := rand.New(rand.NewSource(cfg.Seed))
	kinds := simKinds(r, cfg.Orders)
	var start time.Duration
	for i, kind := range kinds {
		num := cfg.FirstOrder + i
		o := &simOrder{num: num, id: simOrderBase + int64(num), name: "#" + strconv.Itoa(num), kind: kind,
			financial: "pending", start: start}
		pi := r.Intn(len(simPeople))
		o.person, o.custID = simPeople[pi], simCustomerBase+int64(pi)+1
		nLines := 1 + r.Intn(3)
		if kind == simSplit && nLines < 2 {
			nLines = 2
		}
		for j, pj := range r.Perm(len(simCatalog))[:nLines] {
			p := simCatalog[pj]
			qty := 1
			if r.Intn(4) == 0 {
				qty = 2
			}
			price := decimal.RequireFromString(p.price)
			o.lines = append(o.lines, &simLine{id: simLineBase + int64(num)*100 + int64(j), product: p, qty: qty,
				price: price, tax: price.Mul(decimal.NewFromInt(int64(qty))).Mul(simTaxRate).Round(2)})
		}
		s.plan(r, o, i == 0)
		s.orders = append(s.orders, o)
		start += time.Duration(float64(cfg.Step) * (0.8 + 0.8*r.Float64()))
	}
	// Show dedup at least once.
	if s.countSteps(func(st *simStep) bool { return st.dupOf != nil }) == 0 && len(s.orders) > 0 {
		o := s.orders[0]
		s.insertDup(o, 1) // the first order's second step (orders/paid)
	}
	return s
}

// simKinds deals scenarios in shuffled blocks of nine: five happy, one of
// each other kind. The first order is always happy so something is
// delivered early.
func simKinds(r *rand.Rand, n int) []string {
	block := []string{simHappy, simHappy, simHappy, simHappy, simHappy, simSplit, simRefunded, simCancelled, simDelayed}
	var out []string
	for len(out) < n {
		b := append([]string(nil), block...)
		r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		if len(out) == 0 {
			for i, k := range b {
				if k == simHappy {
					b[0], b[i] = b[i], b[0]
					break
				}
			}
		}
		out = append(out, b...)
	}
	return out[:n]
}

func simUUID(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Intn(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Simulator) countSteps(pred func(*simStep) bool) int {
	n := 0
	for _, o := range s.orders {
		for _, st := range o.steps {
			if pred(st) {
				n++
			}
		}
	}
	return n
}

func (s *Simulator) insertDup(o *simOrder, after int) {
	if after >= len(o.steps) {
		after = len(o.steps) - 1
	}
	orig := o.steps[after]
	dup := &simStep{label: "re-sent: " + orig.label, topic: orig.topic, delay: s.cfg.Step / 3, dupOf: orig}
	o.steps = append(o.steps[:after+1], append([]*simStep{dup}, o.steps[after+1:]...)...)
}

// plan writes the order's script. Each step's build mutates the order's
// state at send time (timestamps are real, updated_at strictly increasing)
// and returns the payload.
func (s *Simulator) plan(r *rand.Rand, o *simOrder, showStale bool) {
	add := func(label, topic string, build func(time.Time) any) *simStep {
		st := &simStep{label: label, topic: topic, build: build, event: simUUID(r), hook: simUUID(r),
			delay: time.Duration(float64(s.cfg.Step) * (0.7 + 0.6*r.Float64()))}
		if len(o.steps) == 0 {
			st.delay = 0
		}
		o.steps = append(o.steps, st)
		return st
	}
	add("created · pending", "orders/create", func(at time.Time) any {
		o.created, o.updated = at, at
		p := s.orderPayload(o)
		o.staleBody, _ = json.Marshal(p)
		return p
	})
	if o.kind == simCancelled {
		add("cancelled · voided", "orders/cancelled", func(at time.Time) any {
			o.updated, o.financial = at, "voided"
			o.cancelledAt, o.closed = &at, &at
			return s.orderPayload(o)
		})
		o.wantFinancial, o.wantCancelled = "voided", true
		s.sprinkleDups(r, o)
		return
	}
	add("paid", "orders/paid", func(at time.Time) any {
		o.updated, o.financial = at, "paid"
		return s.orderPayload(o)
	})
	if showStale {
		st := add("stale orders/updated (older updated_at)", "orders/updated", func(time.Time) any {
			return json.RawMessage(o.staleBody)
		})
		st.stale, st.delay = true, s.cfg.Step/3
	}
	o.wantFinancial = "paid"

	pickCarrier := func() simCarrier { return simCarriers[r.Intn(len(simCarriers))] }
	newF := func(seq int, lines []int) *simFulfillment {
		c := pickCarrier()
		return &simFulfillment{id: simFulfillmentBase + int64(o.num)*10 + int64(seq), seq: seq, lines: lines,
			carrier: c, number: c.number(r)}
	}
	allLines := make([]int, len(o.lines))
	for i := range allLines {
		allLines[i] = i
	}
	p := o.person
	local := p.city + ", " + p.provCode
	prefix := func(f *simFulfillment) string {
		if o.kind == simSplit {
			return "pkg " + strconv.Itoa(f.seq) + " "
		}
		return ""
	}
	planned := map[int]bool{} // lines shipped by the script so far
	ship := func(f *simFulfillment) {
		add(prefix(f)+"shipped · "+f.carrier.name, "fulfillments/create", func(at time.Time) any {
			f.created, f.updated = at, at
			for _, li := range f.lines {
				o.lines[li].fulfilled = true
			}
			o.fulfillments = append(o.fulfillments, f)
			return s.fulfillmentPayload(o, f)
		})
		for _, li := range f.lines {
			planned[li] = true
		}
		status, topic := "fulfilled", "orders/fulfilled"
		if len(planned) < len(o.lines) {
			status, topic = "partially fulfilled", "orders/partially_fulfilled"
		}
		add("order "+status, topic, func(at time.Time) any {
			o.updated = at
			return s.orderPayload(o)
		})
	}
	scan := func(f *simFulfillment, status, label, city, prov, msg string, etaDays int) {
		add(prefix(f)+label, "fulfillment_events/create", func(at time.Time) any {
			return s.scan(o, f, at, status, city, prov, msg, etaDays)
		})
	}

	switch o.kind {
	case simHappy, simRefunded:
		f := newF(1, allLines)
		ship(f)
		scan(f, "in_transit", "in transit · "+f.carrier.hubCity+", "+f.carrier.hubProv, f.carrier.hubCity, f.carrier.hubProv, "Departed facility", 2)
		scan(f, "out_for_delivery", "out for delivery · "+local, p.city, p.provCode, "Out for delivery", 0)
		scan(f, "delivered", "delivered · "+local, p.city, p.provCode, "Delivered, left at front door", 0)
		o.wantShipments = []string{"delivered"}
		if o.kind == simRefunded {
			s.planRefund(add, o)
		}
	case simDelayed:
		f := newF(1, allLines)
		ship(f)
		scan(f, "in_transit", "in transit · "+f.carrier.hubCity+", "+f.carrier.hubProv, f.carrier.hubCity, f.carrier.hubProv, "Departed facility", 2)
		scan(f, "in_transit", "delayed · weather at hub", f.carrier.hubCity, f.carrier.hubProv, "Delayed: severe weather at the hub", 4)
		scan(f, "attempted_delivery", "delivery attempted · "+local, p.city, p.provCode, "Delivery attempted: no access to the building", 0)
		scan(f, "failure", "delivery failed", p.city, p.provCode, "Undeliverable: returning to sender", 0)
		o.wantShipments = []string{"failure"}
	case simSplit:
		f1 := newF(1, allLines[:1])
		f2 := newF(2, allLines[1:])
		ship(f1)
		scan(f1, "in_transit", "in transit · "+f1.carrier.hubCity+", "+f1.carrier.hubProv, f1.carrier.hubCity, f1.carrier.hubProv, "Departed facility", 2)
		ship(f2)
		scan(f1, "out_for_delivery", "out for delivery · "+local, p.city, p.provCode, "Out for delivery", 0)
		scan(f2, "in_transit", "in transit · "+f2.carrier.hubCity+", "+f2.carrier.hubProv, f2.carrier.hubCity, f2.carrier.hubProv, "Arrived at facility", 3)
		scan(f1, "delivered", "delivered · "+local, p.city, p.provCode, "Delivered to mailroom", 0)
		scan(f2, "out_for_delivery", "out for delivery · "+local, p.city, p.provCode, "Out for delivery", 0)
		scan(f2, "delivered", "delivered · "+local, p.city, p.provCode, "Delivered, left at front door", 0)
		o.wantShipments = []string{"delivered", "delivered"}
	}
	s.sprinkleDups(r, o)
}

// sprinkleDups re-sends an occasional step identically (same event id):
// Shopify delivers at least once, and the intake must dedup.
func (s *Simulator) sprinkleDups(r *rand.Rand, o *simOrder) {
	for i := 0; i < len(o.steps); i++ {
		st := o.steps[i]
		if st.stale || st.dupOf != nil || r.Float64() >= 0.07 {
			continue
		}
		s.insertDup(o, i)
		i++
	}
}

func (s *Simulator) planRefund(add func(string, string, func(time.Time) any) *simStep, o *simOrder) {
	// One line back: the whole order when it has one line (shipping too),
	// else the first line only.
	rf := &simRefund{id: simRefundBase + int64(o.num)*10 + 1, lines: []int{0}}
	full := len(o.lines) == 1
	for _, li := range rf.lines {
		l := o.lines[li]
		rf.amount = rf.amount.Add(l.price.Mul(decimal.NewFromInt(int64(l.qty)))).Add(l.tax)
	}
	if full {
		rf.shipTax = o.shipping()
		rf.amount = rf.amount.Add(rf.shipTax)
		o.wantFinancial = "refunded"
	} else {
		o.wantFinancial = "partially_refunded"
	}
	o.wantRefunds = 1
	add("refund "+rf.amount.StringFixed(2)+" USD", "refunds/create", func(at time.Time) any {
		rf.at = at
		return s.refundPayload(o, rf)
	})
	add("order "+strings.ReplaceAll(o.wantFinancial, "_", " "), "orders/updated", func(at time.Time) any {
		o.updated, o.financial = at, o.wantFinancial
		o.refunds = append(o.refunds, rf)
		return s.orderPayload(o)
	})
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (s *Simulator) scan(o *simOrder, f *simFulfillment, at time.Time, status, city, prov, msg string, etaDays int) any {
	f.shipment, f.updated = status, at
	if etaDays > 0 {
		eta := at.Add(time.Duration(etaDays) * 24 * time.Hour).Truncate(time.Hour)
		f.eta = &eta
	}
	o.nextEvent++
	ev := shEvent{
		ID: simEventBase + int64(o.num)*100 + o.nextEvent, FulfillmentID: f.id, OrderID: o.id, Status: status,
		Message: msg, HappenedAt: s.ts(at), City: city, Province: prov, Country: "United States", Zip: nil,
		CreatedAt: s.ts(at), UpdatedAt: s.ts(at), ShopID: 0,
		AdminGraphqlAPIID: "gid://shopify/FulfillmentEvent/" + strconv.FormatInt(simEventBase+int64(o.num)*100+o.nextEvent, 10),
	}
	if etaDays > 0 {
		e := s.ts(*f.eta)
		ev.EstimatedDeliveryAt = &e
	}
	return ev
}

// ---- payloads, shaped like Shopify's REST webhook bodies ----

type shMoney struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currency_code"`
}

type shMoneySet struct {
	ShopMoney        shMoney `json:"shop_money"`
	PresentmentMoney shMoney `json:"presentment_money"`
}

func usd(d decimal.Decimal) shMoneySet {
	m := shMoney{Amount: d.StringFixed(2), CurrencyCode: "USD"}
	return shMoneySet{ShopMoney: m, PresentmentMoney: m}
}

type shAddress struct {
	FirstName    string   `json:"first_name"`
	LastName     string   `json:"last_name"`
	Name         string   `json:"name"`
	Company      *string  `json:"company"`
	Address1     string   `json:"address1"`
	Address2     *string  `json:"address2"`
	City         string   `json:"city"`
	Province     string   `json:"province"`
	ProvinceCode string   `json:"province_code"`
	Country      string   `json:"country"`
	CountryCode  string   `json:"country_code"`
	Zip          string   `json:"zip"`
	Phone        string   `json:"phone"`
	Latitude     *float64 `json:"latitude"`
	Longitude    *float64 `json:"longitude"`
}

type shCustomer struct {
	ID                int64     `json:"id"`
	Email             string    `json:"email"`
	FirstName         string    `json:"first_name"`
	LastName          string    `json:"last_name"`
	Phone             string    `json:"phone"`
	State             string    `json:"state"`
	VerifiedEmail     bool      `json:"verified_email"`
	Currency          string    `json:"currency"`
	Note              *string   `json:"note"`
	TaxExempt         bool      `json:"tax_exempt"`
	CreatedAt         string    `json:"created_at"`
	UpdatedAt         string    `json:"updated_at"`
	AdminGraphqlAPIID string    `json:"admin_graphql_api_id"`
	DefaultAddress    shAddress `json:"default_address"`
}

type shLineItem struct {
	ID                  int64      `json:"id"`
	AdminGraphqlAPIID   string     `json:"admin_graphql_api_id"`
	ProductID           int64      `json:"product_id"`
	VariantID           int64      `json:"variant_id"`
	Title               string     `json:"title"`
	VariantTitle        *string    `json:"variant_title"`
	Name                string     `json:"name"`
	SKU                 string     `json:"sku"`
	Vendor              string     `json:"vendor"`
	Quantity            int        `json:"quantity"`
	CurrentQuantity     int        `json:"current_quantity"`
	Price               string     `json:"price"`
	PriceSet            shMoneySet `json:"price_set"`
	TotalDiscount       string     `json:"total_discount"`
	TotalDiscountSet    shMoneySet `json:"total_discount_set"`
	FulfillableQuantity int        `json:"fulfillable_quantity"`
	FulfillmentService  string     `json:"fulfillment_service"`
	FulfillmentStatus   *string    `json:"fulfillment_status"`
	RequiresShipping    bool       `json:"requires_shipping"`
	Taxable             bool       `json:"taxable"`
	GiftCard            bool       `json:"gift_card"`
	Grams               int        `json:"grams"`
	ProductExists       bool       `json:"product_exists"`
	Properties          []any      `json:"properties"`
	TaxLines            []shTax    `json:"tax_lines"`
	DiscountAllocations []any      `json:"discount_allocations"`
}

type shTax struct {
	Title    string     `json:"title"`
	Rate     float64    `json:"rate"`
	Price    string     `json:"price"`
	PriceSet shMoneySet `json:"price_set"`
}

type shShippingLine struct {
	ID       int64      `json:"id"`
	Title    string     `json:"title"`
	Code     string     `json:"code"`
	Source   string     `json:"source"`
	Price    string     `json:"price"`
	PriceSet shMoneySet `json:"price_set"`
}

type shFulfillment struct {
	ID                  int64        `json:"id"`
	AdminGraphqlAPIID   string       `json:"admin_graphql_api_id"`
	OrderID             int64        `json:"order_id"`
	Name                string       `json:"name"`
	Status              string       `json:"status"`
	Service             string       `json:"service"`
	ShipmentStatus      *string      `json:"shipment_status"`
	TrackingCompany     string       `json:"tracking_company"`
	TrackingNumber      string       `json:"tracking_number"`
	TrackingNumbers     []string     `json:"tracking_numbers"`
	TrackingURL         string       `json:"tracking_url"`
	TrackingURLs        []string     `json:"tracking_urls"`
	EstimatedDeliveryAt *string      `json:"estimated_delivery_at"`
	LocationID          *int64       `json:"location_id"`
	OriginAddress       *shAddress   `json:"origin_address"`
	Email               string       `json:"email"`
	Destination         shAddress    `json:"destination"`
	Receipt             struct{}     `json:"receipt"`
	CreatedAt           string       `json:"created_at"`
	UpdatedAt           string       `json:"updated_at"`
	LineItems           []shLineItem `json:"line_items"`
}

type shEvent struct {
	ID                  int64   `json:"id"`
	FulfillmentID       int64   `json:"fulfillment_id"`
	OrderID             int64   `json:"order_id"`
	ShopID              int64   `json:"shop_id"`
	Status              string  `json:"status"`
	Message             string  `json:"message"`
	HappenedAt          string  `json:"happened_at"`
	City                string  `json:"city"`
	Province            string  `json:"province"`
	Country             string  `json:"country"`
	Zip                 *string `json:"zip"`
	Address1            *string `json:"address1"`
	Latitude            *string `json:"latitude"`
	Longitude           *string `json:"longitude"`
	EstimatedDeliveryAt *string `json:"estimated_delivery_at"`
	CreatedAt           string  `json:"created_at"`
	UpdatedAt           string  `json:"updated_at"`
	AdminGraphqlAPIID   string  `json:"admin_graphql_api_id"`
}

type shRefundLine struct {
	ID          int64       `json:"id"`
	LineItemID  int64       `json:"line_item_id"`
	Quantity    int         `json:"quantity"`
	LocationID  *int64      `json:"location_id"`
	RestockType string      `json:"restock_type"`
	Subtotal    json.Number `json:"subtotal"` // Shopify sends these two as JSON numbers
	TotalTax    json.Number `json:"total_tax"`
	SubtotalSet shMoneySet  `json:"subtotal_set"`
	TotalTaxSet shMoneySet  `json:"total_tax_set"`
	LineItem    shLineItem  `json:"line_item"`
}

type shTransaction struct {
	ID          int64   `json:"id"`
	OrderID     int64   `json:"order_id"`
	Kind        string  `json:"kind"`
	Gateway     string  `json:"gateway"`
	Status      string  `json:"status"`
	Message     string  `json:"message"`
	Amount      string  `json:"amount"`
	Currency    string  `json:"currency"`
	Test        bool    `json:"test"`
	ParentID    *int64  `json:"parent_id"`
	CreatedAt   string  `json:"created_at"`
	ProcessedAt string  `json:"processed_at"`
	SourceName  string  `json:"source_name"`
	ErrorCode   *string `json:"error_code"`
}

type shRefundShipping struct {
	ID                int64      `json:"id"`
	ShippingLineID    int64      `json:"shipping_line_id"`
	SubtotalAmountSet shMoneySet `json:"subtotal_amount_set"`
}

type shRefund struct {
	ID                  int64              `json:"id"`
	AdminGraphqlAPIID   string             `json:"admin_graphql_api_id"`
	OrderID             int64              `json:"order_id"`
	Note                string             `json:"note"`
	Restock             bool               `json:"restock"`
	UserID              *int64             `json:"user_id"`
	CreatedAt           string             `json:"created_at"`
	ProcessedAt         string             `json:"processed_at"`
	Duties              []any              `json:"duties"`
	OrderAdjustments    []any              `json:"order_adjustments"`
	RefundShippingLines []shRefundShipping `json:"refund_shipping_lines"`
	RefundLineItems     []shRefundLine     `json:"refund_line_items"`
	Transactions        []shTransaction    `json:"transactions"`
}

type shOrder struct {
	ID                    int64            `json:"id"`
	AdminGraphqlAPIID     string           `json:"admin_graphql_api_id"`
	Name                  string           `json:"name"`
	Number                int              `json:"number"`
	OrderNumber           int              `json:"order_number"`
	Email                 string           `json:"email"`
	ContactEmail          string           `json:"contact_email"`
	Phone                 *string          `json:"phone"`
	CustomerLocale        string           `json:"customer_locale"`
	Currency              string           `json:"currency"`
	PresentmentCurrency   string           `json:"presentment_currency"`
	TotalLineItemsPrice   string           `json:"total_line_items_price"`
	SubtotalPrice         string           `json:"subtotal_price"`
	CurrentSubtotalPrice  string           `json:"current_subtotal_price"`
	TotalDiscounts        string           `json:"total_discounts"`
	CurrentTotalDiscounts string           `json:"current_total_discounts"`
	TotalShippingPriceSet shMoneySet       `json:"total_shipping_price_set"`
	TotalTax              string           `json:"total_tax"`
	CurrentTotalTax       string           `json:"current_total_tax"`
	TotalPrice            string           `json:"total_price"`
	CurrentTotalPrice     string           `json:"current_total_price"`
	TotalOutstanding      string           `json:"total_outstanding"`
	TaxesIncluded         bool             `json:"taxes_included"`
	FinancialStatus       string           `json:"financial_status"`
	FulfillmentStatus     *string          `json:"fulfillment_status"`
	Confirmed             bool             `json:"confirmed"`
	CancelledAt           *string          `json:"cancelled_at"`
	CancelReason          *string          `json:"cancel_reason"`
	ClosedAt              *string          `json:"closed_at"`
	ProcessedAt           string           `json:"processed_at"`
	CreatedAt             string           `json:"created_at"`
	UpdatedAt             string           `json:"updated_at"`
	Tags                  string           `json:"tags"`
	Test                  bool             `json:"test"`
	SourceName            string           `json:"source_name"`
	PaymentGatewayNames   []string         `json:"payment_gateway_names"`
	OrderStatusURL        string           `json:"order_status_url"`
	BillingAddress        shAddress        `json:"billing_address"`
	ShippingAddress       shAddress        `json:"shipping_address"`
	Customer              shCustomer       `json:"customer"`
	LineItems             []shLineItem     `json:"line_items"`
	ShippingLines         []shShippingLine `json:"shipping_lines"`
	Fulfillments          []shFulfillment  `json:"fulfillments"`
	Refunds               []shRefund       `json:"refunds"`
}

// ts formats like Shopify: seconds, in the shop's zone, with its offset.
func (s *Simulator) ts(t time.Time) string { return t.In(s.loc).Format(time.RFC3339) }

func strp(s string) *string { return &s }

func (o *simOrder) subtotal() decimal.Decimal {
	sum := decimal.Zero
	for _, l := range o.lines {
		sum = sum.Add(l.price.Mul(decimal.NewFromInt(int64(l.qty))))
	}
	return sum
}

func (o *simOrder) tax() decimal.Decimal {
	sum := decimal.Zero
	for _, l := range o.lines {
		sum = sum.Add(l.tax)
	}
	return sum
}

func (o *simOrder) shipping() decimal.Decimal {
	if o.subtotal().GreaterThanOrEqual(simFreeShipMin) {
		return decimal.Zero
	}
	return simShipping
}

func (s *Simulator) address(o *simOrder) shAddress {
	p := o.person
	return shAddress{FirstName: p.first, LastName: p.last, Name: p.first + " " + p.last, Address1: p.address1,
		City: p.city, Province: p.province, ProvinceCode: p.provCode, Country: "United States", CountryCode: "US",
		Zip: p.zip, Phone: p.phone}
}

func (s *Simulator) lineItem(o *simOrder, i int) shLineItem {
	l := o.lines[i]
	name := l.product.title
	var variant *string
	if l.product.variant != "" {
		variant = strp(l.product.variant)
		name += " - " + l.product.variant
	}
	li := shLineItem{
		ID: l.id, AdminGraphqlAPIID: "gid://shopify/LineItem/" + strconv.FormatInt(l.id, 10),
		ProductID: l.product.productID, VariantID: l.product.variantID, Title: l.product.title, VariantTitle: variant,
		Name: name, SKU: l.product.sku, Vendor: "Doorstep Demo Store", Quantity: l.qty, CurrentQuantity: l.qty,
		Price: l.price.StringFixed(2), PriceSet: usd(l.price), TotalDiscount: "0.00", TotalDiscountSet: usd(decimal.Zero),
		FulfillableQuantity: l.qty, FulfillmentService: "manual", RequiresShipping: true, Taxable: true,
		Grams: l.product.grams, ProductExists: true, Properties: []any{}, DiscountAllocations: []any{},
		TaxLines: []shTax{{Title: "Sales Tax", Rate: 0.08, Price: l.tax.StringFixed(2), PriceSet: usd(l.tax)}},
	}
	if l.fulfilled {
		li.FulfillableQuantity, li.FulfillmentStatus = 0, strp("fulfilled")
	}
	for _, rf := range o.refunds {
		if containsInt(rf.lines, i) {
			li.CurrentQuantity = 0
		}
	}
	return li
}

func (s *Simulator) orderPayload(o *simOrder) shOrder {
	sub, tax, ship := o.subtotal(), o.tax(), o.shipping()
	total := sub.Add(tax).Add(ship)
	curSub, curTax, curTotal := sub, tax, total
	for _, rf := range o.refunds {
		for _, li := range rf.lines {
			l := o.lines[li]
			curSub = curSub.Sub(l.price.Mul(decimal.NewFromInt(int64(l.qty))))
			curTax = curTax.Sub(l.tax)
		}
		curTotal = curTotal.Sub(rf.amount)
	}
	outstanding := decimal.Zero
	if o.financial == "pending" {
		outstanding = total
	}
	p := shOrder{
		ID: o.id, AdminGraphqlAPIID: "gid://shopify/Order/" + strconv.FormatInt(o.id, 10),
		Name: o.name, Number: o.num - 1000, OrderNumber: o.num,
		Email: o.person.email, ContactEmail: o.person.email, Phone: nil, CustomerLocale: "en",
		Currency: "USD", PresentmentCurrency: "USD",
		TotalLineItemsPrice: sub.StringFixed(2), SubtotalPrice: sub.StringFixed(2), CurrentSubtotalPrice: curSub.StringFixed(2),
		TotalDiscounts: "0.00", CurrentTotalDiscounts: "0.00", TotalShippingPriceSet: usd(ship),
		TotalTax: tax.StringFixed(2), CurrentTotalTax: curTax.StringFixed(2),
		TotalPrice: total.StringFixed(2), CurrentTotalPrice: curTotal.StringFixed(2), TotalOutstanding: outstanding.StringFixed(2),
		FinancialStatus: o.financial, Confirmed: true,
		ProcessedAt: s.ts(o.created), CreatedAt: s.ts(o.created), UpdatedAt: s.ts(o.updated),
		Tags: "doorstep-demo", SourceName: "web", PaymentGatewayNames: []string{"shopify_payments"},
		OrderStatusURL: fmt.Sprintf("https://%s/70000001/orders/%016x/authenticate?key=%x", s.cfg.Shop, o.id, o.id^0x5a5a5a5a),
		BillingAddress: s.address(o), ShippingAddress: s.address(o),
		Customer: shCustomer{
			ID: o.custID, Email: o.person.email, FirstName: o.person.first, LastName: o.person.last, Phone: o.person.phone,
			State: "enabled", VerifiedEmail: true, Currency: "USD",
			CreatedAt: "2025-03-14T10:21:07-04:00", UpdatedAt: "2025-03-14T10:21:07-04:00",
			AdminGraphqlAPIID: "gid://shopify/Customer/" + strconv.FormatInt(o.custID, 10), DefaultAddress: s.address(o),
		},
		Fulfillments: []shFulfillment{}, Refunds: []shRefund{},
	}
	for i := range o.lines {
		p.LineItems = append(p.LineItems, s.lineItem(o, i))
	}
	if ship.IsPositive() {
		p.ShippingLines = []shShippingLine{{ID: simShippingBase + int64(o.num), Title: "Standard", Code: "Standard",
			Source: "shopify", Price: ship.StringFixed(2), PriceSet: usd(ship)}}
	} else {
		p.ShippingLines = []shShippingLine{{ID: simShippingBase + int64(o.num), Title: "Free shipping", Code: "Free",
			Source: "shopify", Price: "0.00", PriceSet: usd(decimal.Zero)}}
	}
	switch n := len(o.fulfillments); {
	case n == 0:
	case allFulfilled(o):
		p.FulfillmentStatus = strp("fulfilled")
	default:
		p.FulfillmentStatus = strp("partial")
	}
	if o.cancelledAt != nil {
		p.CancelledAt, p.CancelReason = strp(s.ts(*o.cancelledAt)), strp("customer")
	}
	if o.closed != nil {
		p.ClosedAt = strp(s.ts(*o.closed))
	}
	for _, f := range o.fulfillments {
		p.Fulfillments = append(p.Fulfillments, s.fulfillmentPayload(o, f))
	}
	for _, rf := range o.refunds {
		p.Refunds = append(p.Refunds, s.refundPayload(o, rf))
	}
	return p
}

func allFulfilled(o *simOrder) bool {
	for _, l := range o.lines {
		if !l.fulfilled {
			return false
		}
	}
	return true
}

func (s *Simulator) fulfillmentPayload(o *simOrder, f *simFulfillment) shFulfillment {
	p := shFulfillment{
		ID: f.id, AdminGraphqlAPIID: "gid://shopify/Fulfillment/" + strconv.FormatInt(f.id, 10), OrderID: o.id,
		Name: o.name + "." + strconv.Itoa(f.seq), Status: "success", Service: "manual",
		TrackingCompany: f.carrier.name, TrackingNumber: f.number, TrackingNumbers: []string{f.number},
		TrackingURL: f.carrier.url(f.number), TrackingURLs: []string{f.carrier.url(f.number)},
		Email: o.person.email, Destination: s.address(o), CreatedAt: s.ts(f.created), UpdatedAt: s.ts(f.updated),
	}
	if f.shipment != "" {
		p.ShipmentStatus = strp(f.shipment)
	}
	if f.eta != nil {
		p.EstimatedDeliveryAt = strp(s.ts(*f.eta))
	}
	for _, li := range f.lines {
		p.LineItems = append(p.LineItems, s.lineItem(o, li))
	}
	return p
}

func (s *Simulator) refundPayload(o *simOrder, rf *simRefund) shRefund {
	at := s.ts(rf.at)
	p := shRefund{
		ID: rf.id, AdminGraphqlAPIID: "gid://shopify/Refund/" + strconv.FormatInt(rf.id, 10), OrderID: o.id,
		Note: "Arrived damaged", CreatedAt: at, ProcessedAt: at, Duties: []any{}, OrderAdjustments: []any{},
		RefundShippingLines: []shRefundShipping{},
		Transactions: []shTransaction{{
			ID: simTransactionBase + int64(o.num)*10 + 1, OrderID: o.id, Kind: "refund", Gateway: "shopify_payments",
			Status: "success", Message: "Transaction approved", Amount: rf.amount.StringFixed(2), Currency: "USD",
			CreatedAt: at, ProcessedAt: at, SourceName: "admin",
		}},
	}
	for k, li := range rf.lines {
		l := o.lines[li]
		sub := l.price.Mul(decimal.NewFromInt(int64(l.qty)))
		p.RefundLineItems = append(p.RefundLineItems, shRefundLine{
			ID: simRefundLineBase + int64(o.num)*100 + int64(k), LineItemID: l.id, Quantity: l.qty, RestockType: "no_restock",
			Subtotal: json.Number(sub.StringFixed(2)), TotalTax: json.Number(l.tax.StringFixed(2)),
			SubtotalSet: usd(sub), TotalTaxSet: usd(l.tax), LineItem: s.lineItem(o, li),
		})
	}
	if rf.shipTax.IsPositive() {
		p.RefundShippingLines = []shRefundShipping{{ID: simRefundLineBase + int64(o.num)*100 + 99,
			ShippingLineID: simShippingBase + int64(o.num), SubtotalAmountSet: usd(rf.shipTax)}}
	}
	return p
}

// ---- running ----

// tick is the order's clock: real time, but strictly after the previous
// change (timestamps have whole seconds, and newer-wins compares them).
func (o *simOrder) tick() time.Time {
	t := time.Now().Truncate(time.Second)
	if !t.After(o.clock) {
		t = o.clock.Add(time.Second)
	}
	o.clock = t
	return t
}

// Run sends every order's script, orders running side by side with
// staggered starts, and returns when all have finished (nil) or ctx ends
// (its error). A non-200 answer is printed and counted, not fatal.
func (s *Simulator) Run(ctx context.Context) error {
	s.printPlan()
	begin := time.Now()
	var wg sync.WaitGroup
	for _, o := range s.orders {
		wg.Add(1)
		go func(o *simOrder) {
			defer wg.Done()
			s.runOrder(ctx, o)
		}(o)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	s.printSummary(time.Since(begin))
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Simulator) runOrder(ctx context.Context, o *simOrder) {
	if !sleepCtx(ctx, o.start) {
		return
	}
	for _, st := range o.steps {
		if !sleepCtx(ctx, st.delay) {
			return
		}
		req := st.sent
		switch {
		case st.dupOf != nil:
			req = st.dupOf.sent
		default:
			at := o.tick()
			body, err := json.Marshal(st.build(at))
			if err != nil { // cannot happen with these types
				s.logf("%-6s %-40s %-27s → not sent: %v\n", o.name, st.label, st.topic, err)
				continue
			}
			req = &simRequest{topic: st.topic, event: st.event, hook: st.hook,
				triggeredAt: at.UTC().Format(time.RFC3339Nano), body: body}
			st.sent = req
		}
		if req == nil {
			continue
		}
		code, err := s.send(ctx, req)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.stats.sent++
		if st.dupOf != nil {
			s.stats.dups++
		}
		if st.stale {
			s.stats.stale++
		}
		var answer string
		switch {
		case err != nil:
			s.stats.failed++
			answer = "error: " + err.Error()
		case code != http.StatusOK:
			s.stats.failed++
			answer = strconv.Itoa(code) + " " + http.StatusText(code)
		default:
			s.stats.ok++
			answer = "200"
		}
		st.status = answer
		fmt.Fprintf(s.cfg.Out, "%-6s %-40s %-27s → %s\n", o.name, st.label, st.topic, answer)
		s.mu.Unlock()
	}
}

func (s *Simulator) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.cfg.Out, format, args...)
}

// simSign returns the X-Shopify-Hmac-Sha256 value for body.
func simSign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *Simulator) send(ctx context.Context, r *simRequest) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(r.body))
	if err != nil {
		return 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook")
	h.Set("X-Shopify-Hmac-Sha256", simSign(s.cfg.Secret, r.body))
	h.Set("X-Shopify-Topic", r.topic)
	h.Set("X-Shopify-Shop-Domain", s.cfg.Shop)
	h.Set("X-Shopify-Event-Id", r.event)
	h.Set("X-Shopify-Webhook-Id", r.hook)
	h.Set("X-Shopify-API-Version", simAPIVersion)
	h.Set("X-Shopify-Triggered-At", r.triggeredAt)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

var simKindText = map[string]string{
	simHappy:     "delivered",
	simSplit:     "split into two shipments",
	simRefunded:  "refunded after delivery",
	simCancelled: "cancelled before payment",
	simDelayed:   "delayed and never delivered",
}

var simKindOrder = []string{simHappy, simSplit, simRefunded, simCancelled, simDelayed}

func (s *Simulator) byKind() map[string][]string {
	m := map[string][]string{}
	for _, o := range s.orders {
		m[o.kind] = append(m[o.kind], o.name)
	}
	return m
}

func (s *Simulator) printPlan() {
	m := s.byKind()
	var parts []string
	for _, k := range simKindOrder {
		if n := len(m[k]); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, simKindText[k]))
		}
	}
	s.logf("Simulating %d orders on %s (%s), one signed webhook every ~%s per order.\n\n",
		len(s.orders), s.cfg.Shop, strings.Join(parts, ", "), s.cfg.Step)
}

func (s *Simulator) printSummary(took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	fmt.Fprintf(s.cfg.Out, "\nSimulation finished in %s: %d orders, %d webhooks sent (%d re-sent with the same event id, %d stale update), %d answered 200, %d did not.\n",
		took.Round(time.Second), len(s.orders), st.sent, st.dups, st.stale, st.ok, st.failed)
	m := s.byKind()
	for _, k := range simKindOrder {
		if names := m[k]; len(names) > 0 {
			sort.Strings(names)
			fmt.Fprintf(s.cfg.Out, "  %-26s %s\n", simKindText[k]+":", strings.Join(names, " "))
		}
	}
}
