package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/models"
)

const syncShop = "x.myshopify.com"

// syncClient is a fake and a client sharing one virtual clock: throttling
// waits are real waits in the model's eyes and take no wall time.
func syncClient(t *testing.T) (*shopifytest.Server, *Client, string) {
	t.Helper()
	fake := shopifytest.New(t)
	clock := shopifytest.NewClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	fake.SetClock(clock.Now)
	fake.AddShop(syncShop, shopifytest.ShopInfo{Name: "X Store", Currency: "USD"})
	c := New(Config{APIKey: fake.APIKey, APISecret: fake.APISecret, BaseURL: fake.BaseURL(), Clock: clock})
	return fake, c, fake.AccessToken(syncShop)
}

// canon is an order as JSON: decimals by value, times by instant.
func canon(t *testing.T, o models.Order) string {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func pageAll(t *testing.T, ctx context.Context, c *Client, token string, q OrdersQuery) ([]models.Order, []OrdersPage) {
	t.Helper()
	var all []models.Order
	var pages []OrdersPage
	for {
		p, err := c.Orders(ctx, syncShop, token, q)
		if err != nil {
			t.Fatalf("page %d: %v", len(pages), err)
		}
		all = append(all, p.Orders...)
		p.Orders = nil
		pages = append(pages, p)
		if !p.HasNext {
			return all, pages
		}
		q.After = p.EndCursor
	}
}

func checkAgainstFake(t *testing.T, fake *shopifytest.Server, got []models.Order) {
	t.Helper()
	want := fake.OrderIDs(syncShop)
	if len(got) != len(want) {
		t.Fatalf("%d orders, want %d", len(got), len(want))
	}
	for i, o := range got {
		if o.PlatformID != want[i] {
			t.Fatalf("order %d is %d, want %d (oldest updated first)", i, o.PlatformID, want[i])
		}
		w, _ := fake.Order(syncShop, o.PlatformID)
		if g, w := canon(t, o), canon(t, w); g != w {
			t.Fatalf("order %d differs from the fake's:\n got %s\nwant %s", o.PlatformID, g, w)
		}
	}
}

func TestSyncDocuments_ValidateAgainstSchema(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"orders":               ordersQuery,
		"orderDetail0":         orderDetailQueries[0],
		"orderDetail1":         orderDetailQueries[1],
		"orderDetail2":         orderDetailQueries[2],
		"orderLines":           orderLinesQuery,
		"accessScopes":         accessScopesQuery,
		"fulfillmentLines":     fulfillmentLinesQuery,
		"fulfillmentEvents":    fulfillmentEventsQuery,
		"refundLines":          refundLinesQuery,
		"ordersCount":          ordersCountQuery,
		"bulkRun":              bulkRunMutation,
		"bulkPoll":             bulkPollQuery,
		"bulkInner":            bulkOrdersQuery(time.Time{}),
		"bulkInnerSince":       bulkOrdersQuery(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		"webhookSubscriptions": webhookSubscriptionsQuery,
	} {
		if err := shopifytest.Validate(t, doc); err != nil {
			t.Errorf("%s does not validate against Shopify's %s schema: %v", name, shopifytest.Version, err)
		}
	}
}

func TestOrders_PageCost_MatchesFake(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.GenerateOrders(syncShop, 30, 1)
	for _, n := range []int{1, 3, 6} {
		if _, err := c.Orders(context.Background(), syncShop, token, OrdersQuery{PageSize: n}); err != nil {
			t.Fatal(err)
		}
		var page shopifytest.QueryCost
		for _, qc := range fake.CostLog(syncShop) {
			if qc.Operation == "DoorstepOrders" {
				page = qc
			}
		}
		if want := ordersPageCost(n); page.Requested != want {
			t.Errorf("page of %d: requested cost %d by the fake, %d by the client", n, page.Requested, want)
		}
	}
	gid := "gid://shopify/Order/" + strconv.FormatInt(fake.OrderIDs(syncShop)[0], 10)
	for i, sh := range detailShapes {
		cost, err := c.do(context.Background(), syncShop, token, orderDetailQueries[i], map[string]any{"id": gid}, sh.orderCost(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if cost.RequestedQueryCost != sh.orderCost() || sh.orderCost() > MaxQueryCost {
			t.Errorf("detail shape %d: requested cost %d by the fake, %d by the client", i, cost.RequestedQueryCost, sh.orderCost())
		}
	}
	lines, err := c.do(context.Background(), syncShop, token, orderLinesQuery, map[string]any{"id": gid, "first": 60}, 3+60*lineCost, nil)
	if err != nil || lines.RequestedQueryCost != 603 {
		t.Errorf("lines query: requested cost %d, %v; want 603", lines.RequestedQueryCost, err)
	}
	if got := c.maxPageSize(syncShop); got != 6 || ordersPageCost(6) > MaxQueryCost || ordersPageCost(7) <= MaxQueryCost {
		t.Errorf("max page size %d (cost %d)", got, ordersPageCost(got))
	}
}

func TestOrders_PagesEverything_DefaultBucket_NeverThrottled(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.GenerateOrders(syncShop, 2500, 42)
	got, pages := pageAll(t, context.Background(), c, token, OrdersQuery{})
	checkAgainstFake(t, fake, got)
	if n := fake.ThrottledCount(syncShop); n != 0 {
		t.Errorf("%d THROTTLED answers; the client should wait for the bucket instead", n)
	}
	if m := fake.MinAvailable(syncShop); m < 0 {
		t.Errorf("bucket went to %v", m)
	}
	if !pages[0].ReadAllOrders {
		t.Error("ReadAllOrders = false with read_all_orders granted")
	}
	plain := 0
	for _, p := range pages {
		if p.RequestedCost == ordersPageCost(6) {
			plain++
		}
	}
	if plain == 0 {
		t.Errorf("no page cost %d", ordersPageCost(6))
	}
}

func TestOrders_TinyBucket_WaitsInsteadOfHammering(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.SetThrottle(300, 50)
	fake.GenerateOrders(syncShop, 300, 7)
	got, pages := pageAll(t, context.Background(), c, token, OrdersQuery{})
	checkAgainstFake(t, fake, got)
	if n := fake.ThrottledCount(syncShop); n > 2 {
		t.Errorf("%d THROTTLED answers for %d pages", n, len(pages))
	}
	if m := fake.MinAvailable(syncShop); m < 0 {
		t.Errorf("bucket went to %v", m)
	}
	for _, qc := range fake.CostLog(syncShop) {
		if qc.Requested > 300 {
			t.Errorf("%s requested %d points from a 300-point bucket", qc.Operation, qc.Requested)
		}
	}
}

func TestOrders_Concurrent_SameShop_ShareTheBucket(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.GenerateOrders(syncShop, 400, 9)
	var wg sync.WaitGroup
	results := make([][]models.Order, 4)
	for i := range 4 {
		wg.Go(func() {
			q := OrdersQuery{}
			for {
				p, err := c.Orders(context.Background(), syncShop, token, q)
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = append(results[i], p.Orders...)
				if !p.HasNext {
					return
				}
				q.After = p.EndCursor
			}
		})
	}
	wg.Wait()
	for i := range results {
		if len(results[i]) != 400 {
			t.Errorf("goroutine %d got %d orders", i, len(results[i]))
		}
	}
	if m := fake.MinAvailable(syncShop); m < 0 {
		t.Errorf("bucket went to %v", m)
	}
	if n := fake.ThrottledCount(syncShop); n > 4 {
		t.Errorf("%d THROTTLED answers", n)
	}
}

func TestOrders_PageTooLarge_MaxCostExceeded(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.GenerateOrders(syncShop, 20, 1)
	_, err := c.Orders(context.Background(), syncShop, token, OrdersQuery{PageSize: 10})
	if !errors.Is(err, ErrMaxCostExceeded) || !strings.Contains(err.Error(), "exceeds the single query max cost") {
		t.Errorf("err = %v, want the fake's MAX_COST_EXCEEDED", err)
	}
}

func TestOrders_RevokedToken_ErrUnauthorized(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.RevokeTokens(syncShop)
	if _, err := c.Orders(context.Background(), syncShop, token, OrdersQuery{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Orders: err = %v, want ErrUnauthorized", err)
	}
	if _, err := c.CountOrders(context.Background(), syncShop, token, time.Time{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("CountOrders: err = %v, want ErrUnauthorized", err)
	}
}

func TestOrders_ServerErrors_Retried(t *testing.T) {
	t.Parallel()
	fake, _, token := syncClient(t)
	fake.GenerateOrders(syncShop, 10, 3)
	target, _ := url.Parse(fake.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := calls.Add(1); n == 2 || n == 3 {
			http.Error(w, "upstream timeout", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := New(Config{BaseURL: srv.URL + "/{shop}", Clock: shopifytest.NewClock(time.Now())})
	p, err := c.Orders(context.Background(), syncShop, token, OrdersQuery{})
	if err != nil || len(p.Orders) != 6 {
		t.Fatalf("Orders = %d orders, %v; want the 502s retried", len(p.Orders), err)
	}

	// Always failing: a few attempts, then a RetryableError.
	down := stubServer(t, http.StatusServiceUnavailable, "", `{"errors":"down"}`)
	c = New(Config{BaseURL: down + "/{shop}", Clock: shopifytest.NewClock(time.Now())})
	_, err = c.CountOrders(context.Background(), syncShop, "tok", time.Time{})
	if !errors.As(err, new(*RetryableError)) {
		t.Errorf("err = %v, want RetryableError", err)
	}
}

func TestOrders_UpdatedSince_AndTouchedOrderComesLast(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	ids := fake.GenerateOrders(syncShop, 50, 5)
	mid, _ := fake.Order(syncShop, fake.OrderIDs(syncShop)[25])
	got, _ := pageAll(t, context.Background(), c, token, OrdersQuery{UpdatedSince: mid.PlatformUpdatedAt})
	if len(got) != 25 || got[0].PlatformID != mid.PlatformID {
		t.Fatalf("since the 26th order: %d orders, first %d; want 25 from %d", len(got), got[0].PlatformID, mid.PlatformID)
	}
	if !fake.TouchOrder(syncShop, ids[0]) {
		t.Fatal("TouchOrder: unknown order")
	}
	got, _ = pageAll(t, context.Background(), c, token, OrdersQuery{UpdatedSince: mid.PlatformUpdatedAt})
	if len(got) != 26 || got[25].PlatformID != ids[0] {
		t.Errorf("touched order not last: %d orders", len(got))
	}
	n, err := c.CountOrders(context.Background(), syncShop, token, mid.PlatformUpdatedAt)
	if err != nil || n != 26 {
		t.Errorf("CountOrders = %d, %v; want 26", n, err)
	}
}

func TestOrders_WithoutReadAllOrders_Last60Days(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.SetAccessScopes(syncShop, "read_orders", "read_customers")
	fake.GenerateOrders(syncShop, 365, 11) // one a day over the past year
	got, pages := pageAll(t, context.Background(), c, token, OrdersQuery{})
	if pages[0].ReadAllOrders {
		t.Error("ReadAllOrders = true without the scope")
	}
	if len(got) < 55 || len(got) > 62 {
		t.Errorf("%d orders without read_all_orders, want about 60 days' worth", len(got))
	}
}

func TestBulkOrders_SameAsPaging(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.GenerateOrders(syncShop, 400, 13)
	paged, _ := pageAll(t, context.Background(), c, token, OrdersQuery{})
	var bulk []models.Order
	n, err := c.BulkOrders(context.Background(), syncShop, token, time.Time{}, func(o models.Order) error {
		bulk = append(bulk, o)
		return nil
	})
	if err != nil || n != len(bulk) {
		t.Fatalf("BulkOrders = %d, %v (emitted %d)", n, err, len(bulk))
	}
	if len(bulk) != len(paged) {
		t.Fatalf("bulk %d orders, paging %d", len(bulk), len(paged))
	}
	for i := range bulk {
		if g, w := canon(t, bulk[i]), canon(t, paged[i]); g != w {
			t.Fatalf("order %d: bulk\n %s\npaging\n %s", i, g, w)
		}
	}
	checkAgainstFake(t, fake, bulk)

	// A filter that matches nothing: no file, no orders.
	n, err = c.BulkOrders(context.Background(), syncShop, token, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), func(models.Order) error { return nil })
	if err != nil || n != 0 {
		t.Errorf("empty bulk = %d, %v", n, err)
	}
}

func TestWebhookSubscriptions_AsTheyStand(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	ctx := context.Background()
	const cb = "https://doorstep.example/webhooks/shopify"
	if err := c.RegisterWebhooks(ctx, syncShop, token, cb, Topics); err != nil {
		t.Fatal(err)
	}
	if n := fake.DeleteSubscription(syncShop, "fulfillment_events/create"); n != 1 {
		t.Fatalf("deleted %d", n)
	}
	subs, err := c.WebhookSubscriptions(ctx, syncShop, token)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, s := range subs {
		if s.URI != cb || !strings.HasPrefix(s.ID, "gid://shopify/WebhookSubscription/") {
			t.Errorf("subscription %+v", s)
		}
		have[s.Topic] = true
	}
	for _, tp := range Topics {
		if have[tp] == (tp == "fulfillment_events/create") {
			t.Errorf("topic %s present = %v", tp, have[tp])
		}
	}
}

func TestTopicREST_InvertsTopicEnum(t *testing.T) {
	t.Parallel()
	for _, tp := range append(Topics, "fulfillment_orders/moved", "draft_orders/create", "products/update") {
		if got := TopicREST(TopicEnum(tp)); got != tp {
			t.Errorf("TopicREST(%s) = %s", TopicEnum(tp), got)
		}
	}
}

// The fake's webhook bodies, parsed by the webhook parser, give what
// GraphQL gives, but for what only GraphQL carries (carrier events and
// delivered times on an order).
func TestFakeWebhook_ParsesToTheSameOrderAsGraphQL(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.GenerateOrders(syncShop, 80, 17)
	got, _ := pageAll(t, context.Background(), c, token, OrdersQuery{})
	for _, o := range got {
		body, err := shopifytest.WebhookBody(syncShop, "orders/updated", o)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := c.ParseWebhook("orders/updated", body)
		if err != nil || len(evs) != 1 || evs[0].Kind != commerce.EventOrder {
			t.Fatalf("parse: %v", err)
		}
		for i := range o.Fulfillments {
			o.Fulfillments[i].Events, o.Fulfillments[i].DeliveredAt = nil, nil
		}
		if g, w := canon(t, *evs[0].Order), canon(t, o); g != w {
			t.Fatalf("webhook parse\n %s\nGraphQL\n %s", g, w)
		}
	}
}

// The GraphQL sync reads the loyalty fields the webhook parser reads: the
// multi-currency referral order, stored in the fake as the webhook parsed
// it, comes back the same through Orders.
func TestOrders_LoyaltyFields_SameAsWebhook(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	body, err := os.ReadFile(filepath.Join("testdata", "order_multicurrency_referral.json"))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := c.ParseWebhook("orders/create", body)
	if err != nil {
		t.Fatal(err)
	}
	want := *evs[0].Order
	fake.SetOrder(syncShop, want)
	want, _ = fake.Order(syncShop, want.PlatformID) // as stored (updatedAt may move)
	// The order query doesn't read the customer's marketing consent; the
	// webhook does. Not what this test is about.
	want.Customer.EmailMarketing = false

	p, err := c.Orders(context.Background(), syncShop, token, OrdersQuery{})
	if err != nil || len(p.Orders) != 1 {
		t.Fatalf("Orders = %d orders, %v", len(p.Orders), err)
	}
	got := p.Orders[0]
	if g, w := canon(t, got), canon(t, want); g != w {
		t.Errorf("synced order differs from the webhook's:\n got %s\nwant %s", g, w)
	}
	if got.PresentmentCurrency != "EUR" || got.DiscountCodes != "WELCOME10,REF-ALICE" || got.ReferralCode != "REF-ALICE" ||
		got.BrowserIP != "198.51.100.23" || got.LandingSite != "/?ref=REF-ALICE&utm_source=doorstep" || !got.OriginalSubtotal.Equal(want.OriginalSubtotal) {
		t.Errorf("loyalty fields = %q %q %q %q %q %s", got.PresentmentCurrency, got.DiscountCodes, got.ReferralCode, got.BrowserIP, got.LandingSite, got.OriginalSubtotal)
	}
	if !got.LineItems[0].DiscountAllocated.Equal(want.LineItems[0].DiscountAllocated) || got.LineItems[0].DiscountAllocated.IsZero() {
		t.Errorf("DiscountAllocated = %s, want %s", got.LineItems[0].DiscountAllocated, want.LineItems[0].DiscountAllocated)
	}

	// And the bulk export reads them too.
	var bulk []models.Order
	if _, err := c.BulkOrders(context.Background(), syncShop, token, time.Time{}, func(o models.Order) error {
		bulk = append(bulk, o)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(bulk) != 1 || canon(t, bulk[0]) != canon(t, want) {
		t.Errorf("bulk export = %d orders, first differs from the webhook's", len(bulk))
	}
}

// Generated orders carry the loyalty fields on some orders, so the long
// sync tests compare them too.
func TestOrders_GeneratedOrders_HaveLoyaltyFields(t *testing.T) {
	t.Parallel()
	fake, c, token := syncClient(t)
	fake.GenerateOrders(syncShop, 40, 11)
	got, _ := pageAll(t, context.Background(), c, token, OrdersQuery{})
	checkAgainstFake(t, fake, got)
	var ref, eur, alloc int
	for _, o := range got {
		if o.ReferralCode != "" && o.LandingSite != "" && o.BrowserIP != "" && strings.Contains(o.DiscountCodes, ",") {
			ref++
		}
		if o.PresentmentCurrency != "" {
			eur++
		}
		if o.OriginalSubtotal.IsZero() {
			t.Errorf("order %d: OriginalSubtotal is zero", o.PlatformID)
		}
		for _, li := range o.LineItems {
			if !li.DiscountAllocated.IsZero() {
				alloc++
			}
		}
	}
	if ref == 0 || eur == 0 || alloc == 0 {
		t.Errorf("orders with referral fields %d, other presentment currency %d, lines with allocations %d; want some of each", ref, eur, alloc)
	}
}
