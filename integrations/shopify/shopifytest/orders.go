package shopifytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// The fake holds orders as models.Order values — what Doorstep should end
// up with — and renders them as Shopify's GraphQL Order (and REST webhook
// payloads) on the way out. A round trip through the adapter must give the
// same values back, which is what tests assert with Order.

// readAllOrdersWindow is how far back Shopify serves orders to an app
// without read_all_orders.
const readAllOrdersWindow = 60 * 24 * time.Hour

// defaultAccessScopes is what currentAppInstallation reports unless
// SetAccessScopes said otherwise: Doorstep's default scopes.
var defaultAccessScopes = []string{"read_orders", "read_all_orders", "read_customers", "read_products", "write_discounts", "read_returns", "read_fulfillments"}

// SetAccessScopes sets the scopes currentAppInstallation reports for shop.
// Without read_all_orders the fake, like Shopify, serves and counts only
// orders created in the last 60 days.
func (s *Server) SetAccessScopes(shop string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureShop(shop)
	s.shops[shop].scopes = append([]string{}, scopes...)
}

func (sh *shop) accessScopes() []string {
	if sh.scopes == nil {
		return defaultAccessScopes
	}
	return sh.scopes
}

func (sh *shop) readAllOrders() bool {
	for _, sc := range sh.accessScopes() {
		if sc == "read_all_orders" {
			return true
		}
	}
	return false
}

// newID hands out generated ids; callers hold s.mu.
func (s *Server) newID() int64 {
	s.objectID += 1 + int64(s.objectID%7)
	return s.objectID
}

// GenerateOrders adds n orders to shop (created over the past year,
// updated up to two days later), the same for the same seed and clock.
// Most are small; every 40th has more lines, fulfillments, events and a
// refund than a page of the client's query holds, and every 97th has 45
// lines. It returns their ids, oldest first.
func (s *Server) GenerateOrders(shop string, n int, seed int64) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureShop(shop)
	sh := s.shops[shop]
	if sh.orders == nil {
		sh.orders = map[int64]*models.Order{}
	}
	r := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	now := s.now().UTC().Truncate(time.Second)
	start := now.Add(-365 * 24 * time.Hour)
	step := 365 * 24 * time.Hour / time.Duration(max(n, 1))
	ids := make([]int64, 0, n)
	number := int64(1000 + len(sh.orders))
	for i := range n {
		number++
		created := start.Add(time.Duration(i) * step).Truncate(time.Second)
		o := s.generateOrder(r, sh, number, created, now, i)
		sh.orders[o.PlatformID] = o
		ids = append(ids, o.PlatformID)
	}
	return ids
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia", "Donald"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Torvalds", "Perlman", "Knuth"}
	products   = []string{"Green tea", "Oolong", "Earl Grey", "Matcha whisk", "Teapot", "Kettle", "Gift card", "Mug"}
	carriers   = []string{"UPS", "USPS", "DHL Express", "FedEx", "Canada Post"}
	scans      = []string{models.ShipmentConfirmed, models.ShipmentInTransit, models.ShipmentOutForDelivery, models.ShipmentDelivered, models.ShipmentAttemptedDeliver, models.ShipmentFailure}
)

func money(r *rand.Rand, lo, hi int64) decimal.Decimal {
	return decimal.New(lo+r.Int64N(hi-lo+1), -2)
}

// generateOrder builds one consistent order; callers hold s.mu.
func (s *Server) generateOrder(r *rand.Rand, sh *shop, number int64, created, now time.Time, i int) *models.Order {
	big := i%40 == 39
	updated := created.Add(time.Duration(r.Int64N(48*3600)) * time.Second)
	if updated.After(now) {
		updated = now
	}
	fn, ln := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	email := strings.ToLower(fn+"."+ln) + strconv.Itoa(i) + "@example.com"
	o := &models.Order{
		PlatformID:        s.newID(),
		Name:              "#" + strconv.FormatInt(number, 10),
		Number:            number,
		Email:             email,
		Locale:            []string{"en", "fr", "de", "en-GB"}[r.IntN(4)],
		Currency:          sh.currency(),
		FinancialStatus:   "paid",
		PlatformCreatedAt: created,
		PlatformUpdatedAt: updated,
		StatusPageURL:     fmt.Sprintf("https://%s/%d/orders/%s/authenticate?key=%s", sh.domain, sh.id, randHexR(r, 16), randHexR(r, 16)),
	}
	processed := created
	o.ProcessedAt = &processed
	if r.IntN(3) == 0 {
		o.Phone = fmt.Sprintf("+1555%07d", r.IntN(10_000_000))
	}
	if r.IntN(4) == 0 {
		o.Tags = "vip, wholesale"
	}
	o.ShippingAddress = models.Address{
		Name: fn + " " + ln, Address1: fmt.Sprintf("%d Main St", 1+r.IntN(999)), City: "Springfield",
		Province: "Illinois", Zip: fmt.Sprintf("%05d", r.IntN(100000)), CountryCode: "US", Phone: o.Phone,
	}
	if r.IntN(10) > 0 {
		cc := created.Add(-time.Duration(r.IntN(1000)) * time.Hour)
		o.Customer = &models.Customer{
			PlatformID: s.newID(), Email: email, Phone: o.Phone, FirstName: fn, LastName: ln,
			Locale: o.Locale, State: "enabled", PlatformCreatedAt: cc, PlatformUpdatedAt: updated,
		}
		o.CustomerPlatformID = o.Customer.PlatformID
	}
	lines := 1 + r.IntN(4)
	switch {
	case i%97 == 96:
		lines = 45
	case big:
		lines = 7
	}
	for range lines {
		qty := 1 + r.IntN(3)
		li := models.LineItem{
			PlatformID: s.newID(), ProductID: s.newID(), VariantID: s.newID(),
			SKU: fmt.Sprintf("SKU-%04d", r.IntN(10000)), Title: products[r.IntN(len(products))],
			VariantTitle: []string{"", "Small", "Large", "500 g"}[r.IntN(4)], Quantity: qty,
			Price: money(r, 300, 9900), RequiresShipping: r.IntN(10) > 0, FulfillableQuantity: qty,
		}
		if r.IntN(5) == 0 {
			li.TotalDiscount = money(r, 50, 300)
		}
		li.DiscountAllocated = li.TotalDiscount
		o.LineItems = append(o.LineItems, li)
		o.Subtotal = o.Subtotal.Add(li.Price.Mul(decimal.NewFromInt(int64(qty)))).Sub(li.TotalDiscount)
		o.TotalDiscounts = o.TotalDiscounts.Add(li.TotalDiscount)
	}
	o.OriginalSubtotal = o.Subtotal
	// Loyalty fields on a deterministic share of orders, drawn without the
	// random source so that every other field stays what it was for a seed.
	if i%5 == 2 {
		o.DiscountCodes = fmt.Sprintf("WELCOME10,REF-%04d", i)
		o.ReferralCode = fmt.Sprintf("REF-%04d", i)
		o.LandingSite = fmt.Sprintf("https://%s/?ref=REF-%04d", sh.domain, i)
		o.BrowserIP = fmt.Sprintf("203.0.113.%d", 1+i%250)
	}
	if i%7 == 3 {
		o.PresentmentCurrency = "EUR"
		if o.Currency == "EUR" {
			o.PresentmentCurrency = "GBP"
		}
	}
	o.TotalShipping = money(r, 0, 1500)
	o.TotalTax = o.Subtotal.Mul(decimal.New(8, -2)).Round(2)
	o.Total = o.Subtotal.Add(o.TotalShipping).Add(o.TotalTax)

	switch r.IntN(10) {
	case 0:
		o.FinancialStatus = "pending"
	case 1:
		o.FinancialStatus = "authorized"
	}
	if r.IntN(33) == 0 {
		at := updated
		o.CancelledAt, o.CancelReason, o.FinancialStatus = &at, "customer", "voided"
	}

	nf := 0
	if o.CancelledAt == nil && o.FinancialStatus == "paid" && r.IntN(10) < 6 {
		nf = 1
	}
	if big {
		nf = 3
	}
	for k := range nf {
		fcreated := created.Add(time.Duration(1+k) * time.Hour)
		f := models.Fulfillment{
			PlatformID: s.newID(), OrderPlatformID: o.PlatformID, Name: fmt.Sprintf("%s.%d", o.Name, k+1),
			Status: "success", TrackingCompany: carriers[r.IntN(len(carriers))],
			TrackingNumber: fmt.Sprintf("1Z%012d", r.Int64N(1e12)), PlatformCreatedAt: fcreated, PlatformUpdatedAt: updated,
		}
		f.TrackingURL = "https://track.example/" + f.TrackingNumber
		nev := r.IntN(4)
		if big {
			nev = 5
		}
		for e := range nev {
			ev := models.FulfillmentEvent{
				PlatformID: s.newID(), FulfillmentPlatformID: f.PlatformID, OrderPlatformID: o.PlatformID,
				Status: scans[min(e, len(scans)-1)], Message: "scan " + strconv.Itoa(e+1), City: "Memphis", Province: "Tennessee",
				Country: "United States", HappenedAt: fcreated.Add(time.Duration(e+1) * 6 * time.Hour),
			}
			f.Events = append(f.Events, ev)
		}
		f.ShipmentStatus = models.ShipmentConfirmed
		if nev > 0 {
			f.ShipmentStatus = f.Events[nev-1].Status
		}
		if r.IntN(3) == 0 {
			eta := fcreated.Add(72 * time.Hour)
			f.EstimatedDeliveryAt = &eta
		}
		if f.ShipmentStatus == models.ShipmentDelivered {
			at := f.Events[nev-1].HappenedAt
			f.DeliveredAt = &at
		}
		if big && k == 2 {
			f.Status, f.ShipmentStatus = "cancelled", ""
		}
		for j := range o.LineItems {
			if j%nf == k {
				li := &o.LineItems[j]
				f.LineItems = append(f.LineItems, models.FulfillmentLine{LineItemID: li.PlatformID, Quantity: li.Quantity})
				if f.Status == "success" {
					li.FulfillableQuantity, li.FulfillmentStatus = 0, "fulfilled"
				}
			}
		}
		o.Fulfillments = append(o.Fulfillments, f)
	}
	switch fulfilled := 0; {
	case nf == 0:
	default:
		for _, li := range o.LineItems {
			if li.FulfillmentStatus == "fulfilled" {
				fulfilled++
			}
		}
		if fulfilled == len(o.LineItems) {
			o.FulfillmentStatus = "fulfilled"
		} else if fulfilled > 0 {
			o.FulfillmentStatus = "partial"
		}
	}

	if o.FinancialStatus == "paid" && (big || r.IntN(20) == 0) {
		li := o.LineItems[0]
		rl := models.RefundLine{PlatformID: s.newID(), LineItemPlatformID: li.PlatformID, Quantity: 1,
			Subtotal: li.Price, TotalTax: li.Price.Mul(decimal.New(8, -2)).Round(2), RestockType: "no_restock"}
		if r.IntN(2) == 0 {
			rl.RestockType = "return"
		}
		at := updated
		ref := models.Refund{
			PlatformID: s.newID(), OrderPlatformID: o.PlatformID, Note: "damaged in transit",
			Amount: rl.Subtotal.Add(rl.TotalTax), Currency: o.Currency, Restock: rl.RestockType != "no_restock",
			ProcessedAt: &at, PlatformCreatedAt: at, Lines: []models.RefundLine{rl},
		}
		o.Refunds = append(o.Refunds, ref)
		o.FinancialStatus = "partially_refunded"
	}
	return o
}

func randHexR(r *rand.Rand, n int) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hexd[r.IntN(16)]
	}
	return string(b)
}

func (sh *shop) currency() string {
	if sh.info.Currency != "" {
		return sh.info.Currency
	}
	return "USD"
}

// SetOrder stores order for shop (by PlatformID), replacing any order with
// that id. Like Shopify, a change always moves updatedAt forward: when the
// stored order's PlatformUpdatedAt is not before order's, it becomes the
// later of now and one second after the stored one.
func (s *Server) SetOrder(shop string, order models.Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureShop(shop)
	sh := s.shops[shop]
	if sh.orders == nil {
		sh.orders = map[int64]*models.Order{}
	}
	o := copyOrder(order)
	if o.PlatformUpdatedAt.IsZero() {
		o.PlatformUpdatedAt = s.now().UTC().Truncate(time.Second)
	}
	if o.PlatformCreatedAt.IsZero() {
		o.PlatformCreatedAt = o.PlatformUpdatedAt
	}
	if old, ok := sh.orders[o.PlatformID]; ok && !o.PlatformUpdatedAt.After(old.PlatformUpdatedAt) {
		o.PlatformUpdatedAt = s.bumped(old.PlatformUpdatedAt)
	}
	sh.orders[o.PlatformID] = o
}

// bumped is the later of now and one second after t; callers hold s.mu.
func (s *Server) bumped(t time.Time) time.Time {
	now := s.now().UTC().Truncate(time.Second)
	if now.After(t) {
		return now
	}
	return t.Add(time.Second)
}

// TouchOrder moves an order's updatedAt forward (see SetOrder) without
// changing anything else, as an edit Doorstep doesn't read would. It
// returns false for an unknown order.
func (s *Server) TouchOrder(shop string, id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	if !ok {
		return false
	}
	o, ok := sh.orders[id]
	if !ok {
		return false
	}
	o.PlatformUpdatedAt = s.bumped(o.PlatformUpdatedAt)
	return true
}

// Order returns a copy of what the fake holds for order id of shop.
func (s *Server) Order(shop string, id int64) (models.Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	if !ok {
		return models.Order{}, false
	}
	o, ok := sh.orders[id]
	if !ok {
		return models.Order{}, false
	}
	return *copyOrder(*o), true
}

// OrderIDs returns shop's order ids, oldest updated first.
func (s *Server) OrderIDs(shop string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	if !ok {
		return nil
	}
	var ids []int64
	for _, o := range sortOrders(sh.orders, "UPDATED_AT", false) {
		ids = append(ids, o.PlatformID)
	}
	return ids
}

func copyOrder(o models.Order) *models.Order {
	c := o
	c.LineItems = append([]models.LineItem(nil), o.LineItems...)
	c.Fulfillments = nil
	for _, f := range o.Fulfillments {
		f.LineItems = append([]models.FulfillmentLine(nil), f.LineItems...)
		f.Events = append([]models.FulfillmentEvent(nil), f.Events...)
		c.Fulfillments = append(c.Fulfillments, f)
	}
	c.Refunds = nil
	for _, r := range o.Refunds {
		r.Lines = append([]models.RefundLine(nil), r.Lines...)
		c.Refunds = append(c.Refunds, r)
	}
	if o.Customer != nil {
		cu := *o.Customer
		c.Customer = &cu
	}
	return &c
}

// sortValue is the time an order sorts by under key.
func sortValue(o *models.Order, key string) time.Time {
	switch key {
	case "UPDATED_AT":
		return o.PlatformUpdatedAt
	case "CREATED_AT":
		return o.PlatformCreatedAt
	case "ID":
		return time.Time{}
	}
	if o.ProcessedAt != nil { // PROCESSED_AT, the default
		return *o.ProcessedAt
	}
	return o.PlatformCreatedAt
}

func sortOrders(m map[int64]*models.Order, key string, reverse bool) []*models.Order {
	out := make([]*models.Order, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := sortValue(out[i], key), sortValue(out[j], key)
		less := a.Before(b) || (a.Equal(b) && out[i].PlatformID < out[j].PlatformID)
		if reverse {
			return !less
		}
		return less
	})
	return out
}

type orderCursor struct {
	LastID    int64  `json:"last_id"`
	LastValue string `json:"last_value"`
}

func orderCursorFor(o *models.Order, key string) string {
	b, _ := json.Marshal(orderCursor{LastID: o.PlatformID, LastValue: sortValue(o, key).UTC().Format(time.RFC3339Nano)})
	return base64.StdEncoding.EncodeToString(b)
}

// searchTerm is one "field:op value" of Shopify's search syntax.
var searchTerm = regexp.MustCompile(`^(\w+):(>=|<=|>|<)?['"]?([^'"]*)['"]?$`)

// matcher turns an orders search query into a filter. It understands
// updated_at and created_at with >=, >, <=, <; Shopify ignores terms it
// doesn't know, and so does the fake.
func matcher(q string) (func(*models.Order) bool, error) {
	var tests []func(*models.Order) bool
	for _, term := range strings.Fields(q) {
		if strings.EqualFold(term, "AND") {
			continue
		}
		m := searchTerm.FindStringSubmatch(term)
		if m == nil || (m[1] != "updated_at" && m[1] != "created_at") {
			continue
		}
		t, err := time.Parse(time.RFC3339, m[3])
		if err != nil {
			if t, err = time.Parse("2006-01-02", m[3]); err != nil {
				return nil, fmt.Errorf("invalid date in search term %q", term)
			}
		}
		field, op := m[1], m[2]
		tests = append(tests, func(o *models.Order) bool {
			v := o.PlatformUpdatedAt
			if field == "created_at" {
				v = o.PlatformCreatedAt
			}
			switch op {
			case ">=":
				return !v.Before(t)
			case ">":
				return v.After(t)
			case "<=":
				return !v.After(t)
			case "<":
				return v.Before(t)
			}
			return v.Equal(t)
		})
	}
	return func(o *models.Order) bool {
		for _, t := range tests {
			if !t(o) {
				return false
			}
		}
		return true
	}, nil
}

// visibleOrders are shop's orders matching the search query, sorted, within
// the 60-day window when the app lacks read_all_orders. Callers hold s.mu.
func (s *Server) visibleOrders(sh *shop, query, sortKey string, reverse bool) ([]*models.Order, error) {
	match, err := matcher(query)
	if err != nil {
		return nil, err
	}
	cutoff := time.Time{}
	if !sh.readAllOrders() {
		cutoff = s.now().Add(-readAllOrdersWindow)
	}
	var out []*models.Order
	for _, o := range sortOrders(sh.orders, sortKey, reverse) {
		if o.PlatformCreatedAt.Before(cutoff) || !match(o) {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

func stringArg(args map[string]any, k string) string {
	v, _ := args[k].(string)
	return v
}

func resolveOrders(s *Server, sh *shop, args map[string]any) (any, error) {
	first, last := toInt(args["first"]), toInt(args["last"])
	switch {
	case first == 0 && last == 0:
		return nil, fmt.Errorf("you must provide one of first or last")
	case first > 250 || last > 250:
		return nil, fmt.Errorf("the first argument must be at most 250")
	case first == 0:
		return nil, fmt.Errorf("shopifytest: last/before pagination is not implemented by the fake")
	}
	key := stringArg(args, "sortKey")
	if key == "" {
		key = "PROCESSED_AT"
	}
	reverse, _ := args["reverse"].(bool)
	all, err := s.visibleOrders(sh, stringArg(args, "query"), key, reverse)
	if err != nil {
		return nil, err
	}
	start := 0
	if after := stringArg(args, "after"); after != "" {
		raw, err := base64.StdEncoding.DecodeString(after)
		var c orderCursor
		if err != nil || json.Unmarshal(raw, &c) != nil {
			return nil, fmt.Errorf("invalid cursor")
		}
		cv, _ := time.Parse(time.RFC3339Nano, c.LastValue)
		for start < len(all) {
			v := sortValue(all[start], key)
			past := v.After(cv) || (v.Equal(cv) && all[start].PlatformID > c.LastID)
			if reverse {
				past = v.Before(cv) || (v.Equal(cv) && all[start].PlatformID < c.LastID)
			}
			if past {
				break
			}
			start++
		}
	}
	end := min(start+first, len(all))
	edges, nodes := []any{}, []any{}
	for _, o := range all[start:end] {
		n := orderNode(sh, o, false)
		edges = append(edges, map[string]any{"cursor": orderCursorFor(o, key), "node": n})
		nodes = append(nodes, n)
	}
	pi := map[string]any{"hasNextPage": end < len(all), "hasPreviousPage": start > 0, "startCursor": nil, "endCursor": nil}
	if end > start {
		pi["startCursor"] = orderCursorFor(all[start], key)
		pi["endCursor"] = orderCursorFor(all[end-1], key)
	}
	return map[string]any{"edges": edges, "nodes": nodes, "pageInfo": pi}, nil
}

func resolveOrdersCount(s *Server, sh *shop, args map[string]any) (any, error) {
	all, err := s.visibleOrders(sh, stringArg(args, "query"), "ID", false)
	if err != nil {
		return nil, err
	}
	n, precision := len(all), "EXACT"
	if v, ok := args["limit"]; !ok || v != nil {
		limit := 10000
		if ok {
			limit = toInt(v)
		}
		if n > limit {
			n, precision = limit, "AT_LEAST"
		}
	}
	return map[string]any{"__typename": "Count", "count": n, "precision": precision}, nil
}

func resolveOrder(s *Server, sh *shop, args map[string]any) (any, error) {
	id := gidNumber(stringArg(args, "id"), "Order")
	o, ok := sh.orders[id]
	if !ok {
		return nil, nil
	}
	if !sh.readAllOrders() && o.PlatformCreatedAt.Before(s.now().Add(-readAllOrdersWindow)) {
		return nil, nil
	}
	return orderNode(sh, o, false), nil
}

func resolveCurrentAppInstallation(_ *Server, sh *shop, _ map[string]any) (any, error) {
	var scopes []any
	for _, h := range sh.accessScopes() {
		scopes = append(scopes, map[string]any{"__typename": "AccessScope", "handle": h, "description": h})
	}
	return map[string]any{
		"__typename":   "AppInstallation",
		"id":           fmt.Sprintf("gid://shopify/AppInstallation/%d", sh.id),
		"accessScopes": scopes,
	}, nil
}

// gidNumber is the id at the end of "gid://shopify/<typ>/<id>", 0 if gid
// isn't one.
func gidNumber(gid, typ string) int64 {
	rest, ok := strings.CutPrefix(gid, "gid://shopify/"+typ+"/")
	if !ok {
		return 0
	}
	id, _ := strconv.ParseInt(rest, 10, 64)
	return id
}

func gid(typ string, id int64) string { return fmt.Sprintf("gid://shopify/%s/%d", typ, id) }

func moneyBag(d decimal.Decimal, currency string) map[string]any {
	m := map[string]any{"__typename": "MoneyV2", "amount": d.String(), "currencyCode": currency}
	return map[string]any{"__typename": "MoneyBag", "shopMoney": m, "presentmentMoney": m}
}

func timeOrNil(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func ts(t time.Time) any { return timeOrNil(&t) }

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sized is a list field taking first: all of it when first is absent.
func sized(items []any) func(map[string]any) any {
	return func(args map[string]any) any {
		if v, ok := args["first"]; ok && v != nil {
			if n := toInt(v); n < len(items) {
				return items[:n]
			}
		}
		return items
	}
}

// nested is a connection under an order. Paged queries must say first, as
// on Shopify; bulk queries read every node.
func nested(ids []int64, nodes []map[string]any, bulk bool) func(map[string]any) any {
	return func(args map[string]any) any {
		if bulk {
			args = map[string]any{"first": max(len(ids), 1)}
		}
		c, err := connection(ids, nodes, args)
		if err != nil {
			return nil
		}
		return c
	}
}

// orderNode renders an order as Shopify's GraphQL Order.
func orderNode(sh *shop, o *models.Order, bulk bool) map[string]any {
	cur := o.Currency
	n := map[string]any{
		"__typename":               "Order",
		"id":                       gid("Order", o.PlatformID),
		"legacyResourceId":         strconv.FormatInt(o.PlatformID, 10),
		"name":                     o.Name,
		"number":                   o.Number,
		"email":                    nilIfEmpty(o.Email),
		"phone":                    nilIfEmpty(o.Phone),
		"customerLocale":           nilIfEmpty(o.Locale),
		"currencyCode":             cur,
		"presentmentCurrencyCode":  cur,
		"currentSubtotalPriceSet":  moneyBag(o.Subtotal, cur),
		"subtotalPriceSet":         moneyBag(o.OriginalSubtotal, cur),
		"currentTotalDiscountsSet": moneyBag(o.TotalDiscounts, cur),
		"totalDiscountsSet":        moneyBag(o.TotalDiscounts, cur),
		"totalShippingPriceSet":    moneyBag(o.TotalShipping, cur),
		"currentShippingPriceSet":  moneyBag(o.TotalShipping, cur),
		"currentTotalTaxSet":       moneyBag(o.TotalTax, cur),
		"totalTaxSet":              moneyBag(o.TotalTax, cur),
		"currentTotalPriceSet":     moneyBag(o.Total, cur),
		"totalPriceSet":            moneyBag(o.Total, cur),
		"displayFinancialStatus":   nilIfEmpty(strings.ToUpper(o.FinancialStatus)),
		"displayFulfillmentStatus": displayFulfillmentStatus(o.FulfillmentStatus),
		"cancelledAt":              timeOrNil(o.CancelledAt),
		"cancelReason":             nilIfEmpty(strings.ToUpper(o.CancelReason)),
		"closedAt":                 timeOrNil(o.ClosedAt),
		"closed":                   o.ClosedAt != nil,
		"processedAt":              timeOrNil(o.ProcessedAt),
		"createdAt":                ts(o.PlatformCreatedAt),
		"updatedAt":                ts(o.PlatformUpdatedAt),
		"tags":                     splitTags(o.Tags),
		"test":                     o.Test,
		"statusPageUrl":            o.StatusPageURL,
		"shippingAddress":          nil,
		"customer":                 nil,
		"discountCode":             nil,
		"discountCodes":            []any{},
		"customAttributes":         []any{},
		"clientIp":                 nilIfEmpty(o.BrowserIP),
		// Shopify builds the journey asynchronously; a finished one
		// without visits has both visits null.
		"customerJourneySummary": map[string]any{"__typename": "CustomerJourneySummary", "ready": true, "firstVisit": nil, "lastVisit": nil},
	}
	if o.PresentmentCurrency != "" {
		n["presentmentCurrencyCode"] = o.PresentmentCurrency
	}
	if o.DiscountCodes != "" {
		var codes []any
		for _, c := range strings.Split(o.DiscountCodes, ",") {
			codes = append(codes, c)
		}
		n["discountCodes"], n["discountCode"] = codes, codes[0]
	}
	if o.ReferralCode != "" {
		n["customAttributes"] = []any{map[string]any{"__typename": "Attribute", "key": "doorstep_ref", "value": o.ReferralCode}}
	}
	if o.LandingSite != "" {
		visit := map[string]any{
			"__typename": "CustomerVisit", "id": gid("CustomerVisit", o.PlatformID), "landingPage": o.LandingSite,
			"occurredAt": ts(o.PlatformCreatedAt), "source": "direct", "referralInfoHtml": "",
		}
		j := n["customerJourneySummary"].(map[string]any)
		j["firstVisit"], j["lastVisit"] = visit, visit
	}
	if o.ShippingAddress != (models.Address{}) {
		a := o.ShippingAddress
		first, last, _ := strings.Cut(a.Name, " ")
		n["shippingAddress"] = map[string]any{
			"__typename": "MailingAddress", "id": gid("MailingAddress", o.PlatformID),
			"name": nilIfEmpty(a.Name), "firstName": nilIfEmpty(first), "lastName": nilIfEmpty(last),
			"company": nilIfEmpty(a.Company), "address1": nilIfEmpty(a.Address1), "address2": nilIfEmpty(a.Address2),
			"city": nilIfEmpty(a.City), "province": nilIfEmpty(a.Province), "zip": nilIfEmpty(a.Zip),
			"countryCodeV2": nilIfEmpty(a.CountryCode), "phone": nilIfEmpty(a.Phone),
		}
	}
	if c := o.Customer; c != nil {
		cu := map[string]any{
			"__typename": "Customer", "id": gid("Customer", c.PlatformID), "legacyResourceId": strconv.FormatInt(c.PlatformID, 10),
			"firstName": nilIfEmpty(c.FirstName), "lastName": nilIfEmpty(c.LastName), "locale": c.Locale,
			"state": strings.ToUpper(c.State), "createdAt": ts(c.PlatformCreatedAt), "updatedAt": ts(c.PlatformUpdatedAt),
			"email": nilIfEmpty(c.Email), "phone": nilIfEmpty(c.Phone),
			"defaultEmailAddress": nil, "defaultPhoneNumber": nil,
		}
		if c.Email != "" {
			cu["defaultEmailAddress"] = map[string]any{"__typename": "CustomerEmailAddress", "emailAddress": c.Email}
		}
		if c.Phone != "" {
			cu["defaultPhoneNumber"] = map[string]any{"__typename": "CustomerPhoneNumber", "phoneNumber": c.Phone}
		}
		n["customer"] = cu
	}

	var lineIDs []int64
	var lines []map[string]any
	for _, li := range o.LineItems {
		lineIDs = append(lineIDs, li.PlatformID)
		lines = append(lines, lineItemNode(li, cur))
	}
	n["lineItems"] = nested(lineIDs, lines, bulk)

	var fuls []any
	for _, f := range o.Fulfillments {
		fuls = append(fuls, fulfillmentNode(f, cur, bulk))
	}
	n["fulfillments"] = sized(fuls)

	var refunds []any
	for _, r := range o.Refunds {
		refunds = append(refunds, refundNode(r, o, bulk))
	}
	n["refunds"] = sized(refunds)
	return n
}

func splitTags(tags string) []any {
	out := []any{}
	for _, t := range strings.Split(tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func displayFulfillmentStatus(s string) string {
	switch s {
	case "fulfilled":
		return "FULFILLED"
	case "partial":
		return "PARTIALLY_FULFILLED"
	case "restocked":
		return "RESTOCKED"
	}
	return "UNFULFILLED"
}

func lineItemNode(li models.LineItem, cur string) map[string]any {
	n := map[string]any{
		"__typename": "LineItem", "id": gid("LineItem", li.PlatformID),
		"sku": nilIfEmpty(li.SKU), "title": li.Title, "name": li.Title, "variantTitle": nilIfEmpty(li.VariantTitle),
		"quantity": li.Quantity, "currentQuantity": li.Quantity, "unfulfilledQuantity": li.FulfillableQuantity,
		"requiresShipping":     li.RequiresShipping,
		"originalUnitPriceSet": moneyBag(li.Price, cur), "totalDiscountSet": moneyBag(li.TotalDiscount, cur),
		"product": nil, "variant": nil, "discountAllocations": []any{},
	}
	if !li.DiscountAllocated.IsZero() {
		// One allocation holding the line's whole discount (the fake
		// doesn't render discountApplication).
		n["discountAllocations"] = []any{map[string]any{"__typename": "DiscountAllocation", "allocatedAmountSet": moneyBag(li.DiscountAllocated, cur)}}
	}
	if li.ProductID != 0 {
		n["product"] = map[string]any{"__typename": "Product", "id": gid("Product", li.ProductID), "legacyResourceId": strconv.FormatInt(li.ProductID, 10)}
	}
	if li.VariantID != 0 {
		n["variant"] = map[string]any{"__typename": "ProductVariant", "id": gid("ProductVariant", li.VariantID), "legacyResourceId": strconv.FormatInt(li.VariantID, 10)}
	}
	return n
}

// fulfillmentDisplayStatus is the GraphQL displayStatus of a fulfillment:
// its latest shipment status, else FULFILLED (or CANCELED).
func fulfillmentDisplayStatus(f models.Fulfillment) string {
	switch {
	case f.Status == "cancelled":
		return "CANCELED"
	case f.ShipmentStatus != "":
		return strings.ToUpper(f.ShipmentStatus)
	}
	return "FULFILLED"
}

func fulfillmentNode(f models.Fulfillment, cur string, bulk bool) map[string]any {
	n := map[string]any{
		"__typename": "Fulfillment", "id": gid("Fulfillment", f.PlatformID), "legacyResourceId": strconv.FormatInt(f.PlatformID, 10),
		"name": f.Name, "status": strings.ToUpper(f.Status), "displayStatus": fulfillmentDisplayStatus(f),
		"createdAt": ts(f.PlatformCreatedAt), "updatedAt": ts(f.PlatformUpdatedAt),
		"estimatedDeliveryAt": timeOrNil(f.EstimatedDeliveryAt), "deliveredAt": timeOrNil(f.DeliveredAt),
		"requiresShipping": true, "totalQuantity": 0,
	}
	var tracking []any
	if f.TrackingCompany != "" || f.TrackingNumber != "" || f.TrackingURL != "" {
		tracking = append(tracking, map[string]any{"__typename": "FulfillmentTrackingInfo",
			"company": nilIfEmpty(f.TrackingCompany), "number": nilIfEmpty(f.TrackingNumber), "url": nilIfEmpty(f.TrackingURL)})
	}
	n["trackingInfo"] = sized(tracking)
	var evIDs []int64
	var evs []map[string]any
	for _, e := range f.Events {
		evIDs = append(evIDs, e.PlatformID)
		evs = append(evs, map[string]any{
			"__typename": "FulfillmentEvent", "id": gid("FulfillmentEvent", e.PlatformID), "status": strings.ToUpper(e.Status),
			"message": nilIfEmpty(e.Message), "city": nilIfEmpty(e.City), "province": nilIfEmpty(e.Province), "country": nilIfEmpty(e.Country),
			"estimatedDeliveryAt": timeOrNil(e.EstimatedDeliveryAt), "happenedAt": ts(e.HappenedAt), "createdAt": ts(e.HappenedAt),
		})
	}
	n["events"] = nested(evIDs, evs, bulk)
	var fliIDs []int64
	var flis []map[string]any
	total := 0
	for i, l := range f.LineItems {
		id := f.PlatformID*100 + int64(i) // FulfillmentLineItem ids Doorstep never stores
		fliIDs = append(fliIDs, id)
		flis = append(flis, map[string]any{"__typename": "FulfillmentLineItem", "id": gid("FulfillmentLineItem", id),
			"quantity": l.Quantity, "lineItem": map[string]any{"__typename": "LineItem", "id": gid("LineItem", l.LineItemID)}})
		total += l.Quantity
	}
	n["totalQuantity"] = total
	n["fulfillmentLineItems"] = nested(fliIDs, flis, bulk)
	return n
}

func restocked(restockType string) bool {
	switch restockType {
	case "return", "cancel", "legacy_restock":
		return true
	}
	return false
}

func refundNode(r models.Refund, o *models.Order, bulk bool) map[string]any {
	cur := r.Currency
	if cur == "" {
		cur = o.Currency
	}
	n := map[string]any{
		"__typename": "Refund", "id": gid("Refund", r.PlatformID), "legacyResourceId": strconv.FormatInt(r.PlatformID, 10),
		"note": nilIfEmpty(r.Note), "createdAt": ts(r.PlatformCreatedAt), "processedAt": timeOrNil(r.ProcessedAt),
		"updatedAt": ts(r.PlatformCreatedAt), "totalRefundedSet": moneyBag(r.Amount, cur),
	}
	var ids []int64
	var lines []map[string]any
	for _, l := range r.Lines {
		ids = append(ids, l.PlatformID)
		var id any
		if l.PlatformID != 0 {
			id = gid("RefundLineItem", l.PlatformID)
		}
		lines = append(lines, map[string]any{
			"__typename": "RefundLineItem", "id": id, "quantity": l.Quantity,
			"restockType": strings.ToUpper(l.RestockType), "restocked": restocked(l.RestockType),
			"lineItem":    map[string]any{"__typename": "LineItem", "id": gid("LineItem", l.LineItemPlatformID)},
			"subtotalSet": moneyBag(l.Subtotal, cur), "totalTaxSet": moneyBag(l.TotalTax, cur),
			"priceSet": moneyBag(l.Subtotal, cur),
		})
	}
	n["refundLineItems"] = nested(ids, lines, bulk)
	return n
}
