package shopifytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const shopX = "x.myshopify.com"

func post(t *testing.T, s *Server, token, doc string, vars any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": doc, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/"+shopX+"/admin/api/"+Version+"/graphql.json", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func costOf(out map[string]any) (requested, actual float64, available float64) {
	ext, _ := out["extensions"].(map[string]any)
	c, _ := ext["cost"].(map[string]any)
	ts, _ := c["throttleStatus"].(map[string]any)
	requested, _ = c["requestedQueryCost"].(float64)
	actual, _ = c["actualQueryCost"].(float64)
	available, _ = ts["currentlyAvailable"].(float64)
	return
}

func TestCost_ShopifyRules(t *testing.T) {
	t.Parallel()
	s := New(t)
	token := s.AccessToken(shopX)
	s.GenerateOrders(shopX, 3, 1)
	for _, tc := range []struct {
		doc               string
		requested, actual float64
	}{
		{`{ shop { name } }`, 1, 1},                                    // an object
		{`{ orders(first: 10) { nodes { id name } } }`, 2 + 10, 2 + 3}, // connection: 2 + first × node
		{`{ orders(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } } }`, 12, 5},
		{`{ orders(first: 5) { nodes { customer { id } lineItems(first: 4) { nodes { id variant { id } } } } } }`, 2 + 5*(1+1+2+4*2), -1},
		{`mutation { webhookSubscriptionDelete(id: "gid://shopify/WebhookSubscription/1") { userErrors { message } } }`, 10, 10},
	} {
		out := post(t, s, token, tc.doc, nil)
		req, act, _ := costOf(out)
		if req != tc.requested || (tc.actual >= 0 && act != tc.actual) {
			t.Errorf("%s: requested %v actual %v; want %v, %v (%v)", tc.doc, req, act, tc.requested, tc.actual, out["errors"])
		}
	}
	out := post(t, s, token, `{ orders(first: 250) { nodes { lineItems(first: 10) { nodes { id } } } } }`, nil)
	errs, _ := out["errors"].([]any)
	if len(errs) != 1 || !strings.Contains(toJSON(errs[0]), "MAX_COST_EXCEEDED") || out["data"] != nil {
		t.Errorf("over 1,000 points: %v", out)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestBucket_ThrottlesWhenShort_NeverBelowZero_Refills(t *testing.T) {
	t.Parallel()
	s := New(t)
	clock := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s.SetClock(clock.Now)
	token := s.AccessToken(shopX)
	s.SetThrottle(100, 10)
	doc := `{ orders(first: 40) { nodes { id } } }` // 42 requested, 2 actual with no orders
	for range 2 {
		if out := post(t, s, token, doc, nil); out["errors"] != nil {
			t.Fatal(out)
		}
	}
	s.SetThrottle(100, 10)
	s.GenerateOrders(shopX, 50, 1)
	post(t, s, token, doc, nil) // 42 → 58 left
	post(t, s, token, doc, nil) // 42 → 16 left
	out := post(t, s, token, doc, nil)
	errs, _ := out["errors"].([]any)
	if len(errs) != 1 || !strings.Contains(toJSON(errs[0]), `"THROTTLED"`) || out["data"] != nil {
		t.Fatalf("short bucket: %v", out)
	}
	if _, _, avail := costOf(out); avail != 16 {
		t.Errorf("currentlyAvailable = %v, want 16", avail)
	}
	if s.ThrottledCount(shopX) != 1 || s.MinAvailable(shopX) != 16 {
		t.Errorf("throttled %d, min %v", s.ThrottledCount(shopX), s.MinAvailable(shopX))
	}
	clock.Advance(2600 * time.Millisecond) // 16 + 26 = 42
	if out := post(t, s, token, doc, nil); out["errors"] != nil {
		t.Errorf("after the refill: %v", out)
	}
	if s.MinAvailable(shopX) != 0 {
		t.Errorf("min %v, want 0", s.MinAvailable(shopX))
	}
}

func TestBulk_JSONLWithParentIDs(t *testing.T) {
	t.Parallel()
	s := New(t)
	token := s.AccessToken(shopX)
	s.GenerateOrders(shopX, 40, 3) // the 40th is big: fulfillments with events
	inner := `{ orders { edges { node { id name lineItems { edges { node { __typename id } } } fulfillments { id events { edges { node { __typename id } } } } } } } }`
	out := post(t, s, token, `mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id status } userErrors { message } } }`, map[string]any{"q": inner})
	op := out["data"].(map[string]any)["bulkOperationRunQuery"].(map[string]any)["bulkOperation"].(map[string]any)
	if op["status"] != "CREATED" {
		t.Fatalf("run: %v", out)
	}
	bad := post(t, s, token, `mutation($q: String!) { bulkOperationRunQuery(query: $q) { userErrors { message code } } }`, map[string]any{"q": `{ orders { edges { node { nope } } } }`})
	if !strings.Contains(toJSON(bad), "OPERATION_IN_PROGRESS") {
		t.Errorf("second run while one is running: %v", bad)
	}
	var url string
	statuses := []string{}
	for range 5 {
		p := post(t, s, token, `query($id: ID!) { node(id: $id) { ... on BulkOperation { status url objectCount } } }`, map[string]any{"id": op["id"]})
		n := p["data"].(map[string]any)["node"].(map[string]any)
		statuses = append(statuses, n["status"].(string))
		if n["status"] == "COMPLETED" {
			url, _ = n["url"].(string)
			break
		}
	}
	if strings.Join(statuses, ",") != "RUNNING,COMPLETED" || url == "" {
		t.Fatalf("statuses %v url %q", statuses, url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	seen := map[string]bool{}
	roots, events := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		id, _ := m["id"].(string)
		parent, _ := m["__parentId"].(string)
		switch {
		case parent == "":
			roots++
			if _, nested := m["lineItems"]; nested {
				t.Errorf("connection inline in the root line: %s", line)
			}
		case !seen[parent]:
			t.Errorf("child before its parent %s: %s", parent, line)
		}
		if m["__typename"] == "FulfillmentEvent" {
			events++
		}
		seen[id] = true
		if fs, ok := m["fulfillments"].([]any); ok { // inline list: its ids are parents too
			for _, f := range fs {
				seen[f.(map[string]any)["id"].(string)] = true
			}
		}
	}
	if roots != 40 || events == 0 {
		t.Errorf("%d root lines, %d event lines", roots, events)
	}
	bad = post(t, s, token, `mutation($q: String!) { bulkOperationRunQuery(query: $q) { userErrors { message } } }`, map[string]any{"q": `{ orders { edges { node { nope } } } }`})
	if !strings.Contains(toJSON(bad), "Invalid bulk query") {
		t.Errorf("invalid inner query: %v", bad)
	}
}

func TestWebhooks_SignedDroppedDelayed(t *testing.T) {
	t.Parallel()
	s := New(t)
	ids := s.GenerateOrders(shopX, 200, 5)
	var mu sync.Mutex
	got := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Shopify-Hmac-Sha256") != SignWebhook(s.APISecret, body) || r.Header.Get("X-Shopify-Event-Id") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got[r.Header.Get("X-Shopify-Topic")]++
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	s.SetWebhookTarget(recv.URL)
	s.DropWebhooks(0.1, 1)
	s.DelayWebhooks(0.1, 2)
	for _, id := range ids {
		o, _ := s.Order(shopX, id)
		if err := s.SendWebhook(shopX, "orders/updated", o); err != nil {
			t.Fatal(err)
		}
	}
	dropped, delayed := 0, 0
	for _, d := range s.Webhooks() {
		if d.Dropped {
			dropped++
		}
		if d.Delayed {
			delayed++
		}
	}
	if dropped < 5 || dropped > 40 || delayed < 5 || got["orders/updated"] != 200-dropped-delayed {
		t.Fatalf("dropped %d delayed %d received %d", dropped, delayed, got["orders/updated"])
	}
	if n := s.FlushDelayedWebhooks(); n != delayed || got["orders/updated"] != 200-dropped {
		t.Errorf("flushed %d, received %d", n, got["orders/updated"])
	}

	// With subscriptions, only subscribed topics are delivered.
	s.mu.Lock()
	s.shops[shopX].subs = []Subscription{{ID: 1, Topic: "ORDERS_CREATE", URI: "https://a.example/w", Format: "JSON"}}
	s.mu.Unlock()
	s.DropWebhooks(0, 1)
	s.DelayWebhooks(0, 1)
	before := len(s.Webhooks())
	o, _ := s.Order(shopX, ids[0])
	_ = s.SendWebhook(shopX, "orders/paid", o)
	_ = s.SendWebhook(shopX, "orders/create", o)
	if n := len(s.Webhooks()) - before; n != 1 || got["orders/create"] != 1 {
		t.Errorf("%d deliveries, orders/create received %d", n, got["orders/create"])
	}
	if s.DeleteSubscription(shopX, "orders/create") != 1 || len(s.Subscriptions(shopX)) != 0 {
		t.Error("DeleteSubscription")
	}
}

const createDiscount = `mutation C($d: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $d) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}`

func discountVars(code string) map[string]any {
	return map[string]any{"d": map[string]any{
		"title": "Reward", "code": code, "startsAt": "2026-11-01T00:00:00Z",
		"context":      map[string]any{"customers": map[string]any{"add": []string{"gid://shopify/Customer/42"}}},
		"customerGets": map[string]any{"value": map[string]any{"percentage": 0.1}, "items": map[string]any{"all": true}},
		"usageLimit":   1,
	}}
}

func TestDiscounts_FailNext_UniqueCodes(t *testing.T) {
	t.Parallel()
	s := New(t)
	token := s.AccessToken(shopX)
	s.FailNext(shopX, "discountCodeBasicCreate", 2, FailHTTP500)

	// Other operations are not affected.
	if out := post(t, s, token, `{ shop { name } }`, nil); out["errors"] != nil {
		t.Fatalf("shop query failed: %v", out)
	}
	for i := range 2 {
		if out := post(t, s, token, createDiscount, discountVars("ABC")); out["errors"] != "Internal Server Error" {
			t.Fatalf("create %d: %v, want the injected 500", i, out)
		}
	}
	if n := len(s.DiscountCodes(shopX)); n != 0 {
		t.Fatalf("%d discounts after failures before commit", n)
	}
	out := post(t, s, token, createDiscount, discountVars("ABC"))
	data, _ := out["data"].(map[string]any)
	res, _ := data["discountCodeBasicCreate"].(map[string]any)
	node, _ := res["codeDiscountNode"].(map[string]any)
	if id, _ := node["id"].(string); !strings.HasPrefix(id, "gid://shopify/DiscountCodeNode/") {
		t.Fatalf("third create: %v", out)
	}
	held := s.DiscountCodes(shopX)
	if len(held) != 1 || held[0].Code != "ABC" || len(held[0].CustomerIDs) != 1 || held[0].CustomerIDs[0] != 42 || held[0].UsageLimit != 1 {
		t.Errorf("held = %+v", held)
	}

	// Codes are unique per shop whatever their case.
	out = post(t, s, token, createDiscount, discountVars("abc"))
	data, _ = out["data"].(map[string]any)
	res, _ = data["discountCodeBasicCreate"].(map[string]any)
	if got := toJSON(res["userErrors"]); got != `[{"code":"TAKEN","field":["basicCodeDiscount","code"],"message":"Code must be unique. Please try a different code."}]` {
		t.Errorf("userErrors = %s", got)
	}

	// A throttled failure goes through the bucket: a real THROTTLED answer.
	s.FailNext(shopX, "discountCodeBasicCreate", 1, FailThrottled)
	out = post(t, s, token, createDiscount, discountVars("DEF"))
	errs, _ := out["errors"].([]any)
	first, _ := errs[0].(map[string]any)
	ext, _ := first["extensions"].(map[string]any)
	if ext["code"] != "THROTTLED" || s.ThrottledCount(shopX) != 1 {
		t.Errorf("throttled create: %v (throttled %d times)", out, s.ThrottledCount(shopX))
	}
	if _, _, available := costOf(out); available > 1 {
		t.Errorf("bucket shows %v available, want it spent", available)
	}
}
