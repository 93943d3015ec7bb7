package shopify

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/models"
)

// OrdersQuery selects one page of orders.
type OrdersQuery struct {
	UpdatedSince time.Time // zero: all orders
	After        string    // cursor; "" = first page
	// PageSize 0 is the largest page whose requested cost stays within
	// Shopify's single-query maximum (1,000 points) and the shop's bucket.
	PageSize int
}

// OrdersPage is one page of orders, oldest updated first.
type OrdersPage struct {
	Orders    []models.Order
	EndCursor string
	HasNext   bool
	// RequestedCost and ActualCost add up every query the page took: the
	// page itself and, for the rare order whose lines, fulfillments or
	// refunds overflow the page's nested limits, its follow-up queries.
	RequestedCost, ActualCost int
	// ReadAllOrders is false when the app lacks read_all_orders: Shopify
	// then serves only the last 60 days of orders.
	ReadAllOrders bool
}

// shape is how many nested nodes an order query asks for. Shopify's cost
// is static: every object is 1 point and a connection (or sized list) of n
// costs as if it returned n nodes, so nested limits multiply the cost of
// every order on the page whether or not the order has that many lines.
type shape struct {
	Lines            int // lineItems
	Fulfillments     int // fulfillments (a list, not a connection)
	Events           int // fulfillment events per fulfillment
	FulfillmentLines int // fulfillmentLineItems per fulfillment
	Refunds          int // refunds (a list)
	RefundLines      int // refundLineItems per refund
}

var (
	// pageShape covers typical orders (a few lines, one or two shipments,
	// rarely a refund) at 145 points an order, so a page holds 6 orders
	// (2 + 6 × 145 = 872 points). Orders that overflow it are completed
	// with one detail query each (detailShapes).
	pageShape = shape{Lines: 5, Fulfillments: 2, Events: 3, FulfillmentLines: 5, Refunds: 1, RefundLines: 5}
	// detailShapes complete an overflowing order with one query: the first
	// the shop's bucket can hold. The largest is about the most one order
	// query can hold under 1,000 points (987); lines beyond its limit are
	// paged with orderLinesQuery, so lines give way before fulfillments and
	// refunds, whose counts are not paged.
	detailShapes = []shape{
		{Lines: 28, Fulfillments: 10, Events: 10, FulfillmentLines: 10, Refunds: 5, RefundLines: 10}, // 987
		{Lines: 20, Fulfillments: 5, Events: 10, FulfillmentLines: 10, Refunds: 3, RefundLines: 10},  // 597
		{Lines: 10, Fulfillments: 3, Events: 5, FulfillmentLines: 5, Refunds: 2, RefundLines: 5},     // 255
	}
	orderDetailQueries = func() []string {
		out := make([]string, len(detailShapes))
		for i, s := range detailShapes {
			out[i] = orderDetailQuery(s)
		}
		return out
	}()
)

// orderCost is the requested cost of one Order node selected with
// orderFields(s), by Shopify's rules (scalars and enums 0, objects 1,
// connection 2 + first × node, sized list first × element, unsized list of
// objects 1 × element):
//
//	order 1 + customer (with defaultEmailAddress, defaultPhoneNumber) 3
//	+ shippingAddress 1 + six MoneyBags with shopMoney 6 × 2
//	+ customAttributes 1 + customerJourneySummary.lastVisit 2
//	+ lineItems 2 + L × lineCost
//	+ fulfillments F × (1 + trackingInfo(first: 1) 1 + events 2 + E
//	  + fulfillmentLineItems 2 + FL × (1 + lineItem 1))
//	+ refunds R × (1 + totalRefundedSet 2 + refundLineItems 2
//	  + RL × (1 + lineItem 1 + 2 MoneyBags 4))
//
// pageInfo, edges and cursors are part of a connection's 2 points.
func (s shape) orderCost() int {
	return 20 +
		2 + lineCost*s.Lines +
		s.Fulfillments*(1+1+2+s.Events+2+2*s.FulfillmentLines) +
		s.Refunds*(1+2+2+6*s.RefundLines)
}

// lineCost is the requested cost of one line selected with lineFields:
// line 1 + product 1 + variant 1 + 2 MoneyBags 4 + discountAllocations
// (1 + allocatedAmountSet 2).
const lineCost = 10

const lineFields = `id
      sku
      title
      variantTitle
      quantity
      currentQuantity
      unfulfilledQuantity
      requiresShipping
      product { legacyResourceId }
      variant { legacyResourceId }
      originalUnitPriceSet { shopMoney { amount } }
      totalDiscountSet { shopMoney { amount } }
      discountAllocations { allocatedAmountSet { shopMoney { amount } } }`

// orderFields is the selection for an Order. bulk leaves out the page
// limits and pageInfo (bulk operations read every nested node) and uses
// edges/node, which bulk queries document.
func orderFields(s shape, bulk bool) string {
	conn := func(name string, n int, fields string) string {
		if bulk {
			return fmt.Sprintf("%s {\n    edges { node { __typename id\n      %s } }\n  }", name, fields)
		}
		return fmt.Sprintf("%s(first: %d) {\n    pageInfo { hasNextPage endCursor }\n    nodes {\n      %s\n    }\n  }", name, n, fields)
	}
	list := func(name string, n int) string {
		if bulk {
			return name
		}
		return fmt.Sprintf("%s(first: %d)", name, n)
	}
	evFields := `status message city province country estimatedDeliveryAt happenedAt createdAt`
	if !bulk {
		evFields = "id " + evFields
	}
	fliFields := `quantity lineItem { id }`
	rliFields := `quantity restockType restocked lineItem { id } subtotalSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } }`
	if !bulk {
		fliFields = "id " + fliFields
		rliFields = "id " + rliFields
	}
	lines := lineFields
	if bulk {
		lines = strings.TrimPrefix(lineFields, "id\n      ")
	}
	return `id
  legacyResourceId
  name
  number
  email
  phone
  customerLocale
  currencyCode
  currentSubtotalPriceSet { shopMoney { amount } }
  subtotalPriceSet { shopMoney { amount } }
  currentTotalDiscountsSet { shopMoney { amount } }
  totalShippingPriceSet { shopMoney { amount } }
  currentTotalTaxSet { shopMoney { amount } }
  currentTotalPriceSet { shopMoney { amount } }
  displayFinancialStatus
  displayFulfillmentStatus
  cancelledAt
  cancelReason
  closedAt
  processedAt
  createdAt
  updatedAt
  tags
  test
  statusPageUrl
  presentmentCurrencyCode
  discountCodes
  customAttributes { key value }
  clientIp
  customerJourneySummary { lastVisit { landingPage } }
  shippingAddress { name firstName lastName company address1 address2 city province provinceCode zip countryCodeV2 phone }
  customer {
    legacyResourceId firstName lastName locale state createdAt updatedAt
    defaultEmailAddress { emailAddress }
    defaultPhoneNumber { phoneNumber }
  }
  ` + conn("lineItems", s.Lines, lines) + `
  ` + list("fulfillments", s.Fulfillments) + ` {
    id legacyResourceId name status displayStatus createdAt updatedAt estimatedDeliveryAt deliveredAt
    ` + list("trackingInfo", 1) + ` { company number url }
    ` + conn("events", s.Events, evFields) + `
    ` + conn("fulfillmentLineItems", s.FulfillmentLines, fliFields) + `
  }
  ` + list("refunds", s.Refunds) + ` {
    id legacyResourceId note createdAt processedAt
    totalRefundedSet { shopMoney { amount currencyCode } }
    ` + conn("refundLineItems", s.RefundLines, rliFields) + `
  }`
}

var (
	ordersQuery = `query DoorstepOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
  ` + orderFields(pageShape, false) + `
    }
  }
}`

	// orderLinesQuery pages the lines of an order with more than a detail
	// shape holds: 1 + 2 + first × lineCost points.
	orderLinesQuery = `query DoorstepOrderLines($id: ID!, $first: Int!, $after: String) {
  order(id: $id) {
    id
    lineItems(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
      ` + lineFields + `
      }
    }
  }
}`

	// Nested connections of a fulfillment or refund that overflow a detail
	// shape are paged through node(id:): 1 + 2 + first × node cost.
	fulfillmentLinesQuery = `query DoorstepFulfillmentLines($id: ID!, $first: Int!, $after: String) {
  node(id: $id) {
    ... on Fulfillment {
      fulfillmentLineItems(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id quantity lineItem { id } }
      }
    }
  }
}`
	fulfillmentEventsQuery = `query DoorstepFulfillmentEvents($id: ID!, $first: Int!, $after: String) {
  node(id: $id) {
    ... on Fulfillment {
      events(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id status message city province country estimatedDeliveryAt happenedAt createdAt }
      }
    }
  }
}`
	refundLinesQuery = `query DoorstepRefundLines($id: ID!, $first: Int!, $after: String) {
  node(id: $id) {
    ... on Refund {
      refundLineItems(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id quantity restockType restocked lineItem { id } subtotalSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } } }
      }
    }
  }
}`

	accessScopesQuery = `query DoorstepAccessScopes {
  currentAppInstallation {
    accessScopes { handle }
  }
}`
	// currentAppInstallation 1 + accessScopes, an unsized list of objects, 1.
	accessScopesCost = 2

	ordersCountQuery = `query DoorstepOrdersCount($query: String) {
  ordersCount(query: $query, limit: null) {
    count
    precision
  }
}`
	ordersCountCost = 1
)

func orderDetailQuery(s shape) string {
	return `query DoorstepOrderDetail($id: ID!) {
  order(id: $id) {
  ` + orderFields(s, false) + `
  }
}`
}

// ordersPageCost is the requested cost of ordersQuery for a page of n.
func ordersPageCost(n int) int { return 2 + n*pageShape.orderCost() }

// updatedSinceFilter is Shopify's search syntax for "updated at or after t".
func updatedSinceFilter(t time.Time) string {
	return fmt.Sprintf("updated_at:>='%s'", t.UTC().Format(time.RFC3339))
}

// Orders returns one page of orders updated at or after q.UpdatedSince,
// oldest updated first. Errors: ErrUnauthorized, ErrMaxCostExceeded (a
// PageSize whose cost is over 1,000 points or the shop's bucket),
// *RetryableError, others permanent.
func (c *Client) Orders(ctx context.Context, shopDomain, token string, q OrdersQuery) (OrdersPage, error) {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return OrdersPage{}, fmt.Errorf("orders: %w", err)
	}
	all, err := c.readAllOrders(ctx, shop, token)
	if err != nil {
		return OrdersPage{}, fmt.Errorf("orders for %s: %w", shop, err)
	}
	n := q.PageSize
	if n <= 0 {
		n = c.maxPageSize(shop)
	}
	vars := map[string]any{"first": n, "after": nil, "query": nil}
	if q.After != "" {
		vars["after"] = q.After
	}
	if !q.UpdatedSince.IsZero() {
		vars["query"] = updatedSinceFilter(q.UpdatedSince)
	}
	var resp struct {
		Orders struct {
			PageInfo pageInfo    `json:"pageInfo"`
			Nodes    []orderNode `json:"nodes"`
		} `json:"orders"`
	}
	cost, err := c.do(ctx, shop, token, ordersQuery, vars, ordersPageCost(n), &resp)
	if err != nil {
		return OrdersPage{}, fmt.Errorf("orders for %s: %w", shop, err)
	}
	page := OrdersPage{
		EndCursor:     resp.Orders.PageInfo.EndCursor,
		HasNext:       resp.Orders.PageInfo.HasNextPage,
		RequestedCost: cost.RequestedQueryCost,
		ActualCost:    cost.actual(),
		ReadAllOrders: all,
	}
	for i := range resp.Orders.Nodes {
		node := &resp.Orders.Nodes[i]
		if node.truncated(pageShape) {
			full, rc, ac, err := c.orderDetail(ctx, shop, token, node.ID)
			page.RequestedCost += rc
			page.ActualCost += ac
			if err != nil {
				return OrdersPage{}, fmt.Errorf("orders for %s: complete order %s: %w", shop, node.ID, err)
			}
			node = full
		}
		o, err := node.order()
		if err != nil {
			return OrdersPage{}, fmt.Errorf("orders for %s: order %s: %w", shop, node.ID, err)
		}
		page.Orders = append(page.Orders, o)
	}
	return page, nil
}

// costLimit is the most one query may request on shop: Shopify's
// single-query maximum, or the shop's whole bucket when that is smaller (a
// query costing more than the bucket holds is throttled forever).
func (c *Client) costLimit(shop string) int {
	limit := float64(MaxQueryCost)
	if m := c.throttle.maxAvailable(shop); m > 0 && m < limit {
		limit = m
	}
	return int(limit)
}

// maxPageSize is the largest page whose requested cost (2 for the orders
// connection + n × the cost of one order, see shape.orderCost) stays
// within costLimit.
func (c *Client) maxPageSize(shop string) int {
	n := (c.costLimit(shop) - 2) / pageShape.orderCost()
	return max(1, min(n, 250))
}

// orderDetail reads one order with the largest detail shape the shop's
// bucket holds, then pages its lines if there are more. Further overflow
// (with the largest shape: more than 10 fulfillments, 10 events or 10 lines
// per fulfillment, 5 refunds or 10 lines per refund) is cut off; orders
// like that are vanishingly rare.
func (c *Client) orderDetail(ctx context.Context, shop, token, gid string) (*orderNode, int, int, error) {
	limit := c.costLimit(shop)
	pick := len(detailShapes) - 1
	for i, s := range detailShapes {
		if s.orderCost() <= limit {
			pick = i
			break
		}
	}
	var resp struct {
		Order *orderNode `json:"order"`
	}
	cost, err := c.do(ctx, shop, token, orderDetailQueries[pick], map[string]any{"id": gid}, detailShapes[pick].orderCost(), &resp)
	rc, ac := cost.RequestedQueryCost, cost.actual()
	if err != nil {
		return nil, rc, ac, err
	}
	if resp.Order == nil {
		return nil, rc, ac, fmt.Errorf("order %s vanished", gid)
	}
	o := resp.Order
	for o.LineItems.PageInfo.HasNextPage && o.LineItems.PageInfo.EndCursor != "" {
		var lr struct {
			Order *struct {
				LineItems connection[lineNode] `json:"lineItems"`
			} `json:"order"`
		}
		first := max(1, min(250, (limit-3)/lineCost))
		cost, err := c.do(ctx, shop, token, orderLinesQuery, map[string]any{"id": gid, "first": first, "after": o.LineItems.PageInfo.EndCursor}, 3+lineCost*first, &lr)
		rc, ac = rc+cost.RequestedQueryCost, ac+cost.actual()
		if err != nil {
			return nil, rc, ac, err
		}
		if lr.Order == nil {
			return nil, rc, ac, fmt.Errorf("order %s vanished", gid)
		}
		o.LineItems.Nodes = append(o.LineItems.Nodes, lr.Order.LineItems.Nodes...)
		o.LineItems.PageInfo = lr.Order.LineItems.PageInfo
	}
	add := func(cost Cost) { rc, ac = rc+cost.RequestedQueryCost, ac+cost.actual() }
	for i := range o.Fulfillments {
		f := &o.Fulfillments[i]
		if err := pageRest(ctx, c, shop, token, fulfillmentLinesQuery, f.ID, limit, 2, "fulfillmentLineItems", &f.FulfillmentLineItems, add); err != nil {
			return nil, rc, ac, err
		}
		if err := pageRest(ctx, c, shop, token, fulfillmentEventsQuery, f.ID, limit, 1, "events", &f.Events, add); err != nil {
			return nil, rc, ac, err
		}
	}
	for i := range o.Refunds {
		r := &o.Refunds[i]
		if err := pageRest(ctx, c, shop, token, refundLinesQuery, r.ID, limit, 6, "refundLineItems", &r.RefundLineItems, add); err != nil {
			return nil, rc, ac, err
		}
	}
	return o, rc, ac, nil
}

// pageRest reads the rest of a nested connection of the node id (a
// fulfillment or refund) after what conn already holds. nodeCost is the
// requested cost of one of its nodes.
func pageRest[T any](ctx context.Context, c *Client, shop, token, doc, id string, limit, nodeCost int, field string, conn *connection[T], add func(Cost)) error {
	first := max(1, min(250, (limit-3)/nodeCost))
	for conn.PageInfo.HasNextPage && conn.PageInfo.EndCursor != "" {
		var resp struct {
			Node map[string]connection[T] `json:"node"`
		}
		cost, err := c.do(ctx, shop, token, doc, map[string]any{"id": id, "first": first, "after": conn.PageInfo.EndCursor}, 3+first*nodeCost, &resp)
		add(cost)
		if err != nil {
			return fmt.Errorf("%s of %s: %w", field, id, err)
		}
		next, ok := resp.Node[field]
		if !ok {
			return fmt.Errorf("%s of %s: vanished", field, id)
		}
		conn.Nodes = append(conn.Nodes, next.Nodes...)
		conn.PageInfo = next.PageInfo
	}
	return nil
}

// readAllOrders reports whether the app holds read_all_orders on shop,
// asking Shopify once per shop and Client.
func (c *Client) readAllOrders(ctx context.Context, shop, token string) (bool, error) {
	c.scopesMu.Lock()
	v, ok := c.allOrders[shop]
	c.scopesMu.Unlock()
	if ok {
		return v, nil
	}
	var resp struct {
		CurrentAppInstallation struct {
			AccessScopes []struct {
				Handle string `json:"handle"`
			} `json:"accessScopes"`
		} `json:"currentAppInstallation"`
	}
	if _, err := c.do(ctx, shop, token, accessScopesQuery, nil, accessScopesCost, &resp); err != nil {
		return false, fmt.Errorf("access scopes: %w", err)
	}
	all := false
	for _, s := range resp.CurrentAppInstallation.AccessScopes {
		if s.Handle == "read_all_orders" {
			all = true
		}
	}
	c.scopesMu.Lock()
	c.allOrders[shop] = all
	c.scopesMu.Unlock()
	return all, nil
}

// CountOrders counts the orders updated at or after since (zero: all), with
// no upper limit. Without read_all_orders Shopify counts the last 60 days
// only.
func (c *Client) CountOrders(ctx context.Context, shopDomain, token string, since time.Time) (int, error) {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return 0, fmt.Errorf("count orders: %w", err)
	}
	vars := map[string]any{"query": nil}
	if !since.IsZero() {
		vars["query"] = updatedSinceFilter(since)
	}
	var resp struct {
		OrdersCount *struct {
			Count     int    `json:"count"`
			Precision string `json:"precision"`
		} `json:"ordersCount"`
	}
	if _, err := c.do(ctx, shop, token, ordersCountQuery, vars, ordersCountCost, &resp); err != nil {
		return 0, fmt.Errorf("count orders for %s: %w", shop, err)
	}
	if resp.OrdersCount == nil {
		return 0, fmt.Errorf("count orders for %s: no count in the answer", shop)
	}
	return resp.OrdersCount.Count, nil
}

// The answer types mirror orderFields.

type pageInfo struct {
	HasNextPage bool   `json:"hasNextPage"`
	EndCursor   string `json:"endCursor"`
}

// connection decodes both the paged form (nodes) and the bulk form's
// absence of it.
type connection[T any] struct {
	PageInfo pageInfo `json:"pageInfo"`
	Nodes    []T      `json:"nodes"`
}

type shopMoney struct {
	ShopMoney struct {
		Amount       decimal.Decimal `json:"amount"`
		CurrencyCode string          `json:"currencyCode"`
	} `json:"shopMoney"`
}

// amount is the shop-money amount, zero for a missing bag.
func (m *shopMoney) amount() decimal.Decimal {
	if m == nil {
		return decimal.Zero
	}
	return m.ShopMoney.Amount
}

type legacyRef struct {
	LegacyResourceID int64 `json:"legacyResourceId,string"`
}

type gidRef struct {
	ID string `json:"id"`
}

type lineNode struct {
	ID                  string     `json:"id"`
	SKU                 string     `json:"sku"`
	Title               string     `json:"title"`
	VariantTitle        string     `json:"variantTitle"`
	Quantity            int        `json:"quantity"`
	CurrentQuantity     int        `json:"currentQuantity"`
	UnfulfilledQuantity int        `json:"unfulfilledQuantity"`
	RequiresShipping    bool       `json:"requiresShipping"`
	Product             *legacyRef `json:"product"`
	Variant             *legacyRef `json:"variant"`
	OriginalUnitPrice   *shopMoney `json:"originalUnitPriceSet"`
	TotalDiscount       *shopMoney `json:"totalDiscountSet"`
	DiscountAllocations []struct {
		AllocatedAmount *shopMoney `json:"allocatedAmountSet"`
	} `json:"discountAllocations"`
}

type eventNode struct {
	ID                  string `json:"id"`
	Status              string `json:"status"`
	Message             string `json:"message"`
	City                string `json:"city"`
	Province            string `json:"province"`
	Country             string `json:"country"`
	EstimatedDeliveryAt jtime  `json:"estimatedDeliveryAt"`
	HappenedAt          jtime  `json:"happenedAt"`
	CreatedAt           jtime  `json:"createdAt"`
}

type fulfillmentLineNode struct {
	ID       string `json:"id"`
	Quantity int    `json:"quantity"`
	LineItem gidRef `json:"lineItem"`
}

type fulfillmentNode struct {
	ID                  string `json:"id"`
	LegacyResourceID    int64  `json:"legacyResourceId,string"`
	Name                string `json:"name"`
	Status              string `json:"status"`
	DisplayStatus       string `json:"displayStatus"`
	CreatedAt           jtime  `json:"createdAt"`
	UpdatedAt           jtime  `json:"updatedAt"`
	EstimatedDeliveryAt jtime  `json:"estimatedDeliveryAt"`
	DeliveredAt         jtime  `json:"deliveredAt"`
	TrackingInfo        []struct {
		Company string `json:"company"`
		Number  string `json:"number"`
		URL     string `json:"url"`
	} `json:"trackingInfo"`
	Events               connection[eventNode]           `json:"events"`
	FulfillmentLineItems connection[fulfillmentLineNode] `json:"fulfillmentLineItems"`
}

type refundLineNode struct {
	ID          string     `json:"id"`
	Quantity    int        `json:"quantity"`
	RestockType string     `json:"restockType"`
	Restocked   bool       `json:"restocked"`
	LineItem    gidRef     `json:"lineItem"`
	Subtotal    *shopMoney `json:"subtotalSet"`
	TotalTax    *shopMoney `json:"totalTaxSet"`
}

type refundNode struct {
	ID               string                     `json:"id"`
	LegacyResourceID int64                      `json:"legacyResourceId,string"`
	Note             string                     `json:"note"`
	CreatedAt        jtime                      `json:"createdAt"`
	ProcessedAt      jtime                      `json:"processedAt"`
	TotalRefunded    *shopMoney                 `json:"totalRefundedSet"`
	RefundLineItems  connection[refundLineNode] `json:"refundLineItems"`
}

type orderNode struct {
	ID                       string     `json:"id"`
	LegacyResourceID         int64      `json:"legacyResourceId,string"`
	Name                     string     `json:"name"`
	Number                   int64      `json:"number"`
	Email                    string     `json:"email"`
	Phone                    string     `json:"phone"`
	CustomerLocale           string     `json:"customerLocale"`
	CurrencyCode             string     `json:"currencyCode"`
	CurrentSubtotalPriceSet  *shopMoney `json:"currentSubtotalPriceSet"`
	CurrentTotalDiscountsSet *shopMoney `json:"currentTotalDiscountsSet"`
	TotalShippingPriceSet    *shopMoney `json:"totalShippingPriceSet"`
	CurrentTotalTaxSet       *shopMoney `json:"currentTotalTaxSet"`
	CurrentTotalPriceSet     *shopMoney `json:"currentTotalPriceSet"`
	DisplayFinancialStatus   string     `json:"displayFinancialStatus"`
	DisplayFulfillmentStatus string     `json:"displayFulfillmentStatus"`
	CancelledAt              jtime      `json:"cancelledAt"`
	CancelReason             string     `json:"cancelReason"`
	ClosedAt                 jtime      `json:"closedAt"`
	ProcessedAt              jtime      `json:"processedAt"`
	CreatedAt                jtime      `json:"createdAt"`
	UpdatedAt                jtime      `json:"updatedAt"`
	Tags                     []string   `json:"tags"`
	Test                     bool       `json:"test"`
	StatusPageURL            string     `json:"statusPageUrl"`
	SubtotalPriceSet         *shopMoney `json:"subtotalPriceSet"`
	PresentmentCurrencyCode  string     `json:"presentmentCurrencyCode"`
	DiscountCodes            []string   `json:"discountCodes"`
	CustomAttributes         []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"customAttributes"`
	ClientIP               string `json:"clientIp"`
	CustomerJourneySummary *struct {
		LastVisit *struct {
			LandingPage string `json:"landingPage"`
		} `json:"lastVisit"`
	} `json:"customerJourneySummary"`
	ShippingAddress *struct {
		Name          string `json:"name"`
		FirstName     string `json:"firstName"`
		LastName      string `json:"lastName"`
		Company       string `json:"company"`
		Address1      string `json:"address1"`
		Address2      string `json:"address2"`
		City          string `json:"city"`
		Province      string `json:"province"`
		ProvinceCode  string `json:"provinceCode"`
		Zip           string `json:"zip"`
		CountryCodeV2 string `json:"countryCodeV2"`
		Phone         string `json:"phone"`
	} `json:"shippingAddress"`
	Customer *struct {
		LegacyResourceID    int64  `json:"legacyResourceId,string"`
		FirstName           string `json:"firstName"`
		LastName            string `json:"lastName"`
		Locale              string `json:"locale"`
		State               string `json:"state"`
		CreatedAt           jtime  `json:"createdAt"`
		UpdatedAt           jtime  `json:"updatedAt"`
		DefaultEmailAddress *struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"defaultEmailAddress"`
		DefaultPhoneNumber *struct {
			PhoneNumber string `json:"phoneNumber"`
		} `json:"defaultPhoneNumber"`
	} `json:"customer"`
	LineItems    connection[lineNode] `json:"lineItems"`
	Fulfillments []fulfillmentNode    `json:"fulfillments"`
	Refunds      []refundNode         `json:"refunds"`
}

// truncated reports whether a nested limit of s cut the order short.
// Lists (fulfillments, refunds) have no pageInfo: a full list may be cut.
func (n *orderNode) truncated(s shape) bool {
	if n.LineItems.PageInfo.HasNextPage || len(n.Fulfillments) >= s.Fulfillments || len(n.Refunds) >= s.Refunds {
		return true
	}
	for _, f := range n.Fulfillments {
		if f.Events.PageInfo.HasNextPage || f.FulfillmentLineItems.PageInfo.HasNextPage {
			return true
		}
	}
	for _, r := range n.Refunds {
		if r.RefundLineItems.PageInfo.HasNextPage {
			return true
		}
	}
	return false
}

// gidID is the numeric id a Shopify GID ends with
// ("gid://shopify/LineItem/123" → 123); 0 when there is none.
func gidID(gid string) int64 {
	s := gid
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	s = s[strings.LastIndexByte(s, '/')+1:]
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// Enum vocabularies: models keep the webhook (REST) words.

func financialStatus(s string) string { return strings.ToLower(s) } // PAID → paid, PARTIALLY_REFUNDED → partially_refunded

func orderFulfillmentStatus(s string) string {
	switch s {
	case "FULFILLED":
		return "fulfilled"
	case "PARTIALLY_FULFILLED":
		return "partial"
	case "RESTOCKED":
		return "restocked"
	}
	// UNFULFILLED, OPEN, IN_PROGRESS, ON_HOLD, SCHEDULED, …: REST says null.
	return ""
}

// shipmentStatus maps a fulfillment's displayStatus onto the REST
// shipment_status vocabulary (the latest carrier scan). Statuses that are
// not carrier scans (FULFILLED, MARKED_AS_FULFILLED, SUBMITTED, CANCELED,
// LABEL_VOIDED) give "", which order() turns into "confirmed" for a live
// fulfillment, as the webhook parser does.
func shipmentStatus(s string) string {
	switch s {
	case "ATTEMPTED_DELIVERY", "CARRIER_PICKED_UP", "CONFIRMED", "DELAYED", "DELIVERED", "FAILURE",
		"IN_TRANSIT", "LABEL_PRINTED", "LABEL_PURCHASED", "OUT_FOR_DELIVERY", "READY_FOR_PICKUP":
		return strings.ToLower(s)
	case "NOT_DELIVERED":
		return models.ShipmentFailure
	case "PICKED_UP":
		return models.ShipmentDelivered
	}
	return ""
}

// lineFulfillmentStatus rebuilds REST's per-line fulfillment_status (the
// GraphQL field is deprecated) from the quantities.
func lineFulfillmentStatus(current, unfulfilled int) string {
	switch {
	case current > 0 && unfulfilled == 0:
		return "fulfilled"
	case unfulfilled < current:
		return "partial"
	}
	return ""
}

func (l *lineNode) lineItem() (models.LineItem, error) {
	id := gidID(l.ID)
	if id == 0 {
		return models.LineItem{}, fmt.Errorf("line item %q: %w", l.ID, errMissingID)
	}
	li := models.LineItem{
		PlatformID:          id,
		SKU:                 l.SKU,
		Title:               l.Title,
		VariantTitle:        l.VariantTitle,
		Quantity:            l.Quantity,
		Price:               l.OriginalUnitPrice.amount(),
		TotalDiscount:       l.TotalDiscount.amount(),
		FulfillableQuantity: l.UnfulfilledQuantity,
		FulfillmentStatus:   lineFulfillmentStatus(l.CurrentQuantity, l.UnfulfilledQuantity),
		RequiresShipping:    l.RequiresShipping,
	}
	for _, a := range l.DiscountAllocations {
		li.DiscountAllocated = li.DiscountAllocated.Add(a.AllocatedAmount.amount())
	}
	if l.Product != nil {
		li.ProductID = l.Product.LegacyResourceID
	}
	if l.Variant != nil {
		li.VariantID = l.Variant.LegacyResourceID
	}
	return li, nil
}

// order maps the node onto models.Order the way the webhook parser fills
// it (plus fulfillment events and delivered times, which only GraphQL has).
func (n *orderNode) order() (models.Order, error) {
	id := n.LegacyResourceID
	if id == 0 {
		id = gidID(n.ID)
	}
	if id == 0 {
		return models.Order{}, errMissingID
	}
	updated := n.UpdatedAt.t
	if updated.IsZero() {
		updated = n.CreatedAt.t
	}
	if updated.IsZero() {
		return models.Order{}, fmt.Errorf("order has neither updatedAt nor createdAt")
	}
	o := models.Order{
		PlatformID:        id,
		Name:              n.Name,
		Number:            n.Number,
		Email:             n.Email,
		Phone:             n.Phone,
		Locale:            n.CustomerLocale,
		Currency:          n.CurrencyCode,
		Subtotal:          n.CurrentSubtotalPriceSet.amount(),
		TotalDiscounts:    n.CurrentTotalDiscountsSet.amount(),
		TotalShipping:     n.TotalShippingPriceSet.amount(),
		TotalTax:          n.CurrentTotalTaxSet.amount(),
		Total:             n.CurrentTotalPriceSet.amount(),
		FinancialStatus:   financialStatus(n.DisplayFinancialStatus),
		FulfillmentStatus: orderFulfillmentStatus(n.DisplayFulfillmentStatus),
		CancelledAt:       n.CancelledAt.ptr(),
		CancelReason:      strings.ToLower(n.CancelReason),
		ClosedAt:          n.ClosedAt.ptr(),
		ProcessedAt:       n.ProcessedAt.ptr(),
		Tags:              strings.Join(n.Tags, ", "),
		Test:              n.Test,
		StatusPageURL:     n.StatusPageURL,
		OriginalSubtotal:  n.SubtotalPriceSet.amount(),
		DiscountCodes:     joinCodes(n.DiscountCodes),
		BrowserIP:         clip(n.ClientIP, maxBrowserIP),
		PlatformCreatedAt: n.CreatedAt.t,
		PlatformUpdatedAt: updated,
	}
	if n.PresentmentCurrencyCode != n.CurrencyCode {
		o.PresentmentCurrency = n.PresentmentCurrencyCode
	}
	attrs := make([]attribute, 0, len(n.CustomAttributes))
	for _, a := range n.CustomAttributes {
		attrs = append(attrs, attribute{Name: a.Key, Value: a.Value})
	}
	o.ReferralCode = referralCode(attrs)
	// REST's landing_site became Order.landingPageUrl, deprecated in favour
	// of the journey's lastVisit.landingPage: the visit that ended in the
	// order, not the first one of the attribution window. Shopify fills the
	// journey in asynchronously, so a very fresh order may have none yet.
	if j := n.CustomerJourneySummary; j != nil && j.LastVisit != nil {
		o.LandingSite = clip(j.LastVisit.LandingPage, maxLandingSite)
	}
	if a := n.ShippingAddress; a != nil {
		name := a.Name
		if name == "" {
			name = strings.TrimSpace(a.FirstName + " " + a.LastName)
		}
		o.ShippingAddress = models.Address{
			Name: name, Company: a.Company, Address1: a.Address1, Address2: a.Address2,
			City: a.City, Province: a.Province, ProvinceCode: a.ProvinceCode, Zip: a.Zip, CountryCode: a.CountryCodeV2, Phone: a.Phone,
		}
	}
	if cu := n.Customer; cu != nil && cu.LegacyResourceID != 0 {
		mc := models.Customer{
			PlatformID:        cu.LegacyResourceID,
			FirstName:         cu.FirstName,
			LastName:          cu.LastName,
			Locale:            cu.Locale,
			State:             strings.ToLower(cu.State),
			PlatformCreatedAt: cu.CreatedAt.t,
			PlatformUpdatedAt: cu.UpdatedAt.t,
		}
		if mc.PlatformUpdatedAt.IsZero() {
			mc.PlatformUpdatedAt = mc.PlatformCreatedAt
		}
		if cu.DefaultEmailAddress != nil {
			mc.Email = cu.DefaultEmailAddress.EmailAddress
		}
		if cu.DefaultPhoneNumber != nil {
			mc.Phone = cu.DefaultPhoneNumber.PhoneNumber
		}
		o.Customer = &mc
		o.CustomerPlatformID = mc.PlatformID
	}
	for i := range n.LineItems.Nodes {
		li, err := n.LineItems.Nodes[i].lineItem()
		if err != nil {
			return models.Order{}, err
		}
		o.LineItems = append(o.LineItems, li)
	}
	for i := range n.Fulfillments {
		f, err := n.Fulfillments[i].fulfillment(id)
		if err != nil {
			return models.Order{}, fmt.Errorf("fulfillments[%d]: %w", i, err)
		}
		o.Fulfillments = append(o.Fulfillments, f)
	}
	for i := range n.Refunds {
		r, err := n.Refunds[i].refund(id, o.Currency)
		if err != nil {
			return models.Order{}, fmt.Errorf("refunds[%d]: %w", i, err)
		}
		o.Refunds = append(o.Refunds, r)
	}
	return o, nil
}

func (n *fulfillmentNode) fulfillment(orderID int64) (models.Fulfillment, error) {
	id := n.LegacyResourceID
	if id == 0 {
		id = gidID(n.ID)
	}
	if id == 0 {
		return models.Fulfillment{}, errMissingID
	}
	updated := n.UpdatedAt.t
	if updated.IsZero() {
		updated = n.CreatedAt.t
	}
	f := models.Fulfillment{
		PlatformID:          id,
		OrderPlatformID:     orderID,
		Name:                n.Name,
		Status:              strings.ToLower(n.Status),
		ShipmentStatus:      shipmentStatus(n.DisplayStatus),
		EstimatedDeliveryAt: n.EstimatedDeliveryAt.ptr(),
		DeliveredAt:         n.DeliveredAt.ptr(),
		PlatformCreatedAt:   n.CreatedAt.t,
		PlatformUpdatedAt:   updated,
	}
	if f.ShipmentStatus == "" {
		switch f.Status {
		case "success", "open", "pending":
			f.ShipmentStatus = models.ShipmentConfirmed
		}
	}
	if len(n.TrackingInfo) > 0 {
		t := n.TrackingInfo[0]
		f.TrackingCompany, f.TrackingNumber, f.TrackingURL = t.Company, t.Number, t.URL
	}
	for _, l := range n.FulfillmentLineItems.Nodes {
		f.LineItems = append(f.LineItems, models.FulfillmentLine{LineItemID: gidID(l.LineItem.ID), Quantity: l.Quantity})
	}
	for _, e := range n.Events.Nodes {
		happened := e.HappenedAt.t
		if happened.IsZero() {
			happened = e.CreatedAt.t
		}
		f.Events = append(f.Events, models.FulfillmentEvent{
			PlatformID:            gidID(e.ID),
			FulfillmentPlatformID: id,
			OrderPlatformID:       orderID,
			Status:                strings.ToLower(e.Status),
			Message:               e.Message,
			City:                  e.City,
			Province:              e.Province,
			Country:               e.Country,
			EstimatedDeliveryAt:   e.EstimatedDeliveryAt.ptr(),
			HappenedAt:            happened,
		})
	}
	return f, nil
}

func (n *refundNode) refund(orderID int64, currency string) (models.Refund, error) {
	id := n.LegacyResourceID
	if id == 0 {
		id = gidID(n.ID)
	}
	if id == 0 {
		return models.Refund{}, errMissingID
	}
	r := models.Refund{
		PlatformID:        id,
		OrderPlatformID:   orderID,
		Note:              n.Note,
		ProcessedAt:       n.ProcessedAt.ptr(),
		PlatformCreatedAt: n.CreatedAt.t,
		Amount:            n.TotalRefunded.amount(),
		Currency:          currency,
	}
	if n.TotalRefunded != nil {
		r.Currency = firstNonEmpty(n.TotalRefunded.ShopMoney.CurrencyCode, currency)
	}
	for _, l := range n.RefundLineItems.Nodes {
		if l.Restocked {
			r.Restock = true
		}
		r.Lines = append(r.Lines, models.RefundLine{
			PlatformID:         gidID(l.ID),
			LineItemPlatformID: gidID(l.LineItem.ID),
			Quantity:           l.Quantity,
			Subtotal:           l.Subtotal.amount(),
			TotalTax:           l.TotalTax.amount(),
			RestockType:        strings.ToLower(l.RestockType),
		})
	}
	return r, nil
}
