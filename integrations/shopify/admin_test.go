package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/models"
)

// stubServer answers every request with status, an optional Retry-After
// and body; it returns its URL.
func stubServer(t *testing.T, status int, retryAfter, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestGraphQLDocuments_ValidateAgainstSchema(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"shopInfo":                  shopInfoQuery,
		"webhookSubscriptions":      webhookSubscriptionsQuery,
		"webhookSubscriptionCreate": webhookSubscriptionCreateMutation,
	} {
		if err := shopifytest.Validate(t, doc); err != nil {
			t.Errorf("%s does not validate against Shopify's %s schema: %v", name, shopifytest.Version, err)
		}
	}
}

func TestShopInfo(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	got, err := c.ShopInfo(context.Background(), "X.myshopify.com", fake.AccessToken("x.myshopify.com"))
	if err != nil {
		t.Fatal(err)
	}
	want := models.Shop{Platform: "shopify", Domain: "x.myshopify.com", Name: "X Store", Email: "owner@x.example", Timezone: "Europe/Paris", Currency: "EUR"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ShopInfo = %+v, want %+v", got, want)
	}
	reqs := fake.Requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/x.myshopify.com/admin/api/2026-07/graphql.json" || last.Shop != "x.myshopify.com" || last.GraphQL != shopInfoQuery {
		t.Errorf("request = %+v", last)
	}
}

func TestRegisterWebhooks_CreatesMissingOnly_Idempotent(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	ctx := context.Background()
	token := fake.AccessToken("x.myshopify.com")
	const cb = "https://doorstep.example/webhooks/shopify"
	if err := c.RegisterWebhooks(ctx, "x.myshopify.com", token, cb, Topics); err != nil {
		t.Fatal(err)
	}
	subs := fake.Subscriptions("x.myshopify.com")
	if len(subs) != len(Topics) {
		t.Fatalf("%d subscriptions, want %d", len(subs), len(Topics))
	}
	got := map[string]bool{}
	for _, s := range subs {
		got[s.Topic] = s.URI == cb && s.Format == "JSON"
	}
	for _, tp := range Topics {
		if !got[TopicEnum(tp)] {
			t.Errorf("no JSON subscription of %s to %s", TopicEnum(tp), cb)
		}
	}

	before := len(fake.Requests())
	if err := c.RegisterWebhooks(ctx, "x.myshopify.com", token, cb, Topics); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Subscriptions("x.myshopify.com")); n != len(Topics) {
		t.Errorf("second call: %d subscriptions, want %d", n, len(Topics))
	}
	for _, r := range fake.Requests()[before:] {
		if strings.Contains(r.GraphQL, "webhookSubscriptionCreate") {
			t.Errorf("second call sent a create: %s", r.Variables)
		}
	}

	// A new callback URL is a missing pair; the old ones are left alone.
	if err := c.RegisterWebhooks(ctx, "x.myshopify.com", token, cb+"/v2", []string{"orders/create"}); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Subscriptions("x.myshopify.com")); n != len(Topics)+1 {
		t.Errorf("%d subscriptions, want %d", n, len(Topics)+1)
	}
}

func TestRegisterWebhooks_PaginatesExisting(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	ctx := context.Background()
	token := fake.AccessToken("x.myshopify.com")
	// Listing 100 subscriptions costs ~200 points; this test is about
	// pagination, not the cost bucket.
	fake.SetThrottle(1e9, 1e9)
	// 130 subscriptions to other URLs push ours past the first page of 100.
	for i := range 130 {
		if err := c.RegisterWebhooks(ctx, "x.myshopify.com", token, fmt.Sprintf("https://other.example/%d", i), []string{"orders/paid"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RegisterWebhooks(ctx, "x.myshopify.com", token, "https://doorstep.example/w", []string{"orders/paid"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterWebhooks(ctx, "x.myshopify.com", token, "https://doorstep.example/w", []string{"orders/paid"}); err != nil {
		t.Fatalf("second registration (duplicate beyond page 1?): %v", err)
	}
	if n := len(fake.Subscriptions("x.myshopify.com")); n != 131 {
		t.Errorf("%d subscriptions, want 131", n)
	}
}

func TestRegisterWebhooks_UserErrors_AreErrors(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	// Shopify refuses plain-http callback addresses with a userError.
	err := c.RegisterWebhooks(context.Background(), "x.myshopify.com", fake.AccessToken("x.myshopify.com"), "http://insecure.example/w", []string{"orders/create"})
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("err = %v, want the userError", err)
	}
}

func TestRegisterWebhooks_ComplianceTopic_Refused(t *testing.T) {
	t.Parallel()
	err := testClient().RegisterWebhooks(context.Background(), "x.myshopify.com", "t", "https://a.example/w", []string{"customers/redact"})
	if err == nil || !strings.Contains(err.Error(), "shopify.app.toml") {
		t.Errorf("err = %v", err)
	}
}

func TestGraphQL_RevokedToken_ErrUnauthorized(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	token := fake.AccessToken("x.myshopify.com")
	fake.RevokeTokens("x.myshopify.com")
	_, err := c.ShopInfo(context.Background(), "x.myshopify.com", token)
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("ShopInfo: err = %v, want ErrUnauthorized", err)
	}
	if err := c.RegisterWebhooks(context.Background(), "x.myshopify.com", token, "https://a.example/w", Topics); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("RegisterWebhooks: err = %v, want ErrUnauthorized", err)
	}
}

func TestGraphQL_Throttled_Retryable(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	fake.SetThrottle(0.5, 0.5) // less than any query costs
	_, err := c.ShopInfo(context.Background(), "x.myshopify.com", fake.AccessToken("x.myshopify.com"))
	var re *RetryableError
	if !errors.As(err, &re) || re.RetryAfter <= 0 {
		t.Errorf("err = %v, want RetryableError with RetryAfter", err)
	}
}

func TestGraphQL_ServerErrors_Retryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		body   string
		retry  bool
		unauth bool
	}{
		{http.StatusInternalServerError, `{"errors":"Internal error"}`, true, false},
		{http.StatusBadGateway, `<html>bad gateway</html>`, true, false},
		{http.StatusTooManyRequests, `{"errors":"Exceeded 2 calls per second"}`, true, false},
		{http.StatusUnauthorized, `{"errors":"[API] Invalid API key or access token"}`, false, true},
		{http.StatusPaymentRequired, `{"errors":"Unavailable Shop"}`, false, false},
		{http.StatusOK, `{"errors":{"bad": null}}`, false, false}, // must not panic
	} {
		url := stubServer(t, tc.status, "", tc.body)
		c := New(Config{APIKey: "k", APISecret: "s", BaseURL: url + "/{shop}"})
		_, err := c.ShopInfo(context.Background(), "x.myshopify.com", "tok")
		if err == nil {
			t.Errorf("HTTP %d: no error", tc.status)
			continue
		}
		if errors.As(err, new(*RetryableError)) != tc.retry || errors.Is(err, ErrUnauthorized) != tc.unauth {
			t.Errorf("HTTP %d: err = %v; want retryable=%v unauthorized=%v", tc.status, err, tc.retry, tc.unauth)
		}
	}
}

func TestFake_RefusesInvalidDocument(t *testing.T) {
	t.Parallel()
	fake, _ := fakeClient(t)
	token := fake.AccessToken("x.myshopify.com")
	post := func(doc string, vars any) (int, map[string]any) {
		body, _ := json.Marshal(map[string]any{"query": doc, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, fake.URL+"/x.myshopify.com/admin/api/2026-07/graphql.json", bytes.NewReader(body))
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
		return resp.StatusCode, out
	}
	for name, tc := range map[string]struct {
		doc  string
		vars any
	}{
		"made-up field":          {`{ shop { name madeUpField } }`, nil},
		"syntax error":           {`{ shop { name `, nil},
		"made-up root field":     {`{ orderz(first: 1) { nodes { id } } }`, nil},
		"input field of old API": {`mutation { webhookSubscriptionCreate(topic: ORDERS_CREATE, webhookSubscription: {address: "https://a"}) { userErrors { message } } }`, nil},
		"bad enum in variables":  {webhookSubscriptionCreateMutation, map[string]any{"topic": "ORDERS_EXPLODED", "webhookSubscription": map[string]any{"uri": "https://a.example"}}},
		"missing required arg":   {`mutation { webhookSubscriptionCreate(webhookSubscription: {uri: "https://a"}) { userErrors { message } } }`, nil},
	} {
		status, out := post(tc.doc, tc.vars)
		errs, _ := out["errors"].([]any)
		if status != http.StatusOK || len(errs) == 0 || out["data"] != nil {
			t.Errorf("%s: status %d, answer %v; want 200 with errors and no data", name, status, out)
		}
	}
	if n := len(fake.Subscriptions("x.myshopify.com")); n != 0 {
		t.Errorf("invalid documents created %d subscriptions", n)
	}

	status, out := post(`query { shop { __typename n: name myshopifyDomain } }`, nil)
	data, _ := out["data"].(map[string]any)
	shop, _ := data["shop"].(map[string]any)
	if status != http.StatusOK || out["errors"] != nil || shop["n"] != "X Store" || shop["__typename"] != "Shop" || len(shop) != 3 {
		t.Errorf("valid query: %d %v", status, out)
	}
	ext, _ := out["extensions"].(map[string]any)
	if cost, _ := ext["cost"].(map[string]any); cost["requestedQueryCost"] == nil || cost["throttleStatus"] == nil {
		t.Errorf("answer without extensions.cost: %v", out)
	}
}

func TestClient_ConcurrentCalls(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	token := fake.AccessToken("x.myshopify.com")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := c.ShopInfo(context.Background(), "x.myshopify.com", token); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
