package shopifytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"
)

// The schema is 3.7 MB of SDL and takes a moment to load, so it is loaded
// once per test process and shared read-only by every fake.
var schemaOnce struct {
	sync.Once
	schema *ast.Schema
	err    error
}

func loadSchema(t testing.TB) (*ast.Schema, error) {
	path := filepath.Join(SharedDir(t), "shopify", "admin_"+Version+".graphql")
	schemaOnce.Do(func() {
		sdl, err := os.ReadFile(path)
		if err != nil {
			schemaOnce.err = fmt.Errorf("read schema: %w", err)
			return
		}
		schemaOnce.schema, schemaOnce.err = gqlparser.LoadSchema(&ast.Source{Name: filepath.Base(path), Input: string(sdl)})
	})
	return schemaOnce.schema, schemaOnce.err
}

// Schema returns Shopify's Admin API schema (skipping the test when
// ../shared is absent), for tests that want to validate a document without
// a server.
func Schema(t testing.TB) *ast.Schema {
	t.Helper()
	s, err := loadSchema(t)
	if err != nil {
		t.Fatalf("shopifytest: %v", err)
	}
	return s
}

// Validate reports whether doc validates against Shopify's schema.
func Validate(t testing.TB, doc string) error {
	t.Helper()
	if _, errs := gqlparser.LoadQuery(Schema(t), doc); len(errs) > 0 {
		return errs
	}
	return nil
}

// resolver answers one root field. It returns the full object (maps,
// slices, scalars; a func(args) any for fields that take arguments) and
// the projection keeps what the document selected. Callers hold s.mu.
type resolver func(s *Server, sh *shop, args map[string]any) (any, error)

// queryResolvers and mutationResolvers are the root fields the fake knows;
// add orders etc. here. A validated document asking for another root field
// gets a clear "not implemented by the fake" error.
var (
	queryResolvers = map[string]resolver{
		"shop":                   resolveShop,
		"webhookSubscriptions":   resolveWebhookSubscriptions,
		"orders":                 resolveOrders,
		"ordersCount":            resolveOrdersCount,
		"order":                  resolveOrder,
		"currentAppInstallation": resolveCurrentAppInstallation,
		"currentBulkOperation":   resolveCurrentBulkOperation,
		"bulkOperation":          resolveBulkOperation,
		"node":                   resolveNode,
		"codeDiscountNodeByCode": resolveCodeDiscountNodeByCode,
		"products":               resolveProducts,
	}
	mutationResolvers = map[string]resolver{
		"webhookSubscriptionCreate": resolveWebhookSubscriptionCreate,
		"webhookSubscriptionDelete": resolveWebhookSubscriptionDelete,
		"bulkOperationRunQuery":     resolveBulkOperationRunQuery,
		"discountCodeBasicCreate":   resolveDiscountCodeBasicCreate,
		"discountCodeDelete":        resolveDiscountCodeDelete,
	}
)

type gqlRequest struct {
	Query         string          `json:"query"`
	Variables     json.RawMessage `json:"variables"`
	OperationName string          `json:"operationName"`
}

const invalidToken = "[API] Invalid API key or access token (unrecognized login or wrong password)"

func (s *Server) handleGraphQL(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	var req gqlRequest
	_ = json.Unmarshal(body, &req)
	status, resp := s.graphQL(r, req)
	s.record(r, body, req.Query, req.Variables, status)
	writeJSON(w, status, resp)
}

func (s *Server) graphQL(r *http.Request, req gqlRequest) (int, map[string]any) {
	if v := r.PathValue("version"); v != Version {
		return http.StatusNotFound, map[string]any{"errors": fmt.Sprintf("Not Found: the fake serves API version %s only, not %q", Version, v)}
	}
	shopDomain := r.PathValue("shop")
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shopDomain]
	if !ok {
		return http.StatusNotFound, map[string]any{"errors": "Not Found"}
	}
	if !s.authorize(r, shopDomain) {
		return http.StatusUnauthorized, map[string]any{"errors": invalidToken}
	}
	schema := schemaOnce.schema

	if strings.TrimSpace(req.Query) == "" {
		return http.StatusBadRequest, map[string]any{"errors": map[string]any{"query": "Required parameter missing or invalid"}}
	}
	doc, errs := gqlparser.LoadQuery(schema, req.Query)
	if len(errs) > 0 {
		// Shopify answers an invalid document with 200 and errors only.
		return http.StatusOK, map[string]any{"errors": gqlErrors(errs), "extensions": s.cost(sh, 0, nil)}
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil {
		return http.StatusOK, map[string]any{"errors": []map[string]any{{"message": fmt.Sprintf("No operation named %q", req.OperationName)}}}
	}
	var rawVars map[string]any
	if len(req.Variables) > 0 && string(req.Variables) != "null" {
		if err := json.Unmarshal(req.Variables, &rawVars); err != nil {
			return http.StatusOK, map[string]any{"errors": []map[string]any{{"message": "variables must be a JSON object"}}}
		}
	}
	vars, err := validator.VariableValues(schema, op, rawVars)
	if err != nil {
		var ge *gqlerror.Error
		if !errors.As(err, &ge) {
			ge = gqlerror.Wrap(err)
		}
		return http.StatusOK, map[string]any{"errors": gqlErrors(gqlerror.List{ge}), "extensions": s.cost(sh, 0, nil)}
	}

	failure, failing := s.nextFailure(sh, op)
	switch {
	case failing && failure == FailHTTP500:
		return http.StatusInternalServerError, map[string]any{"errors": "Internal Server Error"}
	case failing && failure == FailThrottled:
		// Spend the bucket, so the answer below is a real THROTTLED one,
		// with a throttleStatus that says how long to wait.
		sh.available, sh.filledAt = 0, s.now()
	}

	cost := queryCost(schema, op, vars)
	if op.Operation == ast.Query && cost > MaxQueryCost {
		return http.StatusOK, map[string]any{
			"errors": []map[string]any{{
				"message": fmt.Sprintf("Query cost is %d, which exceeds the single query max cost limit (%d).", cost, MaxQueryCost),
				"extensions": map[string]any{"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MaxQueryCost,
					"documentation": "https://shopify.dev/api/usage/rate-limits"},
			}},
			"extensions": s.cost(sh, cost, nil),
		}
	}
	if !s.take(sh, cost) {
		return http.StatusOK, map[string]any{
			"errors": []map[string]any{{
				"message":    "Throttled",
				"extensions": map[string]any{"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
			}},
			"extensions": s.cost(sh, cost, nil),
		}
	}

	table := queryResolvers
	if op.Operation == ast.Mutation {
		table = mutationResolvers
	}
	data := map[string]any{}
	var execErrs []map[string]any
	for _, sel := range flatten(op.SelectionSet, "") {
		key := sel.Alias
		if key == "" {
			key = sel.Name
		}
		if sel.Name == "__typename" {
			if op.Operation == ast.Mutation {
				data[key] = "Mutation"
			} else {
				data[key] = "QueryRoot"
			}
			continue
		}
		res, ok := table[sel.Name]
		if !ok {
			data[key] = nil
			execErrs = append(execErrs, map[string]any{"message": fmt.Sprintf("shopifytest: root field %s is valid but not implemented by the fake", sel.Name), "path": []string{key}})
			continue
		}
		v, err := res(s, sh, sel.ArgumentMap(vars))
		if err != nil {
			data[key] = nil
			execErrs = append(execErrs, map[string]any{"message": err.Error(), "path": []string{key}})
			continue
		}
		data[key] = project(v, sel.SelectionSet, vars)
	}
	actual := cost
	if op.Operation == ast.Query {
		actual = actualCost(schema, op.SelectionSet, data, vars)
	}
	s.refund(sh, cost-actual)
	sh.costs = append(sh.costs, QueryCost{Operation: op.Name, Requested: cost, Actual: actual, AvailableAfter: sh.available})
	if failing && failure == FailHTTP500AfterCommit {
		// The work is done; only the answer is lost.
		return http.StatusInternalServerError, map[string]any{"errors": "Internal Server Error"}
	}
	resp := map[string]any{"data": data, "extensions": s.cost(sh, cost, &actual)}
	if len(execErrs) > 0 {
		resp["errors"] = execErrs
	}
	return http.StatusOK, resp
}

func gqlErrors(errs gqlerror.List) []map[string]any {
	out := make([]map[string]any, 0, len(errs))
	for _, e := range errs {
		m := map[string]any{"message": e.Message}
		if len(e.Locations) > 0 {
			m["locations"] = e.Locations
		}
		if len(e.Path) > 0 {
			m["path"] = e.Path
		}
		ext := map[string]any{}
		for k, v := range e.Extensions {
			ext[k] = v
		}
		if e.Rule != "" {
			ext["code"] = e.Rule
		}
		if len(ext) > 0 {
			m["extensions"] = ext
		}
		out = append(out, m)
	}
	return out
}

// flatten returns the fields of a selection set with fragments inlined;
// typename is the concrete type (for fragment type conditions), "" when
// unknown (then every fragment applies).
func flatten(set ast.SelectionSet, typename string) []*ast.Field {
	var out []*ast.Field
	for _, sel := range set {
		switch v := sel.(type) {
		case *ast.Field:
			out = append(out, v)
		case *ast.InlineFragment:
			if typename == "" || v.TypeCondition == "" || v.TypeCondition == typename {
				out = append(out, flatten(v.SelectionSet, typename)...)
			}
		case *ast.FragmentSpread:
			if v.Definition != nil && (typename == "" || v.Definition.TypeCondition == typename) {
				out = append(out, flatten(v.Definition.SelectionSet, typename)...)
			}
		}
	}
	return out
}

// project keeps from a resolved value only what the selection set asked
// for, under the requested aliases.
func project(v any, set ast.SelectionSet, vars map[string]any) any {
	if len(set) == 0 || v == nil {
		return v
	}
	switch x := v.(type) {
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(e, set, vars)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(e, set, vars)
		}
		return out
	case map[string]any:
		typename, _ := x["__typename"].(string)
		out := map[string]any{}
		for _, f := range flatten(set, typename) {
			key := f.Alias
			if key == "" {
				key = f.Name
			}
			if f.Name == "__typename" {
				if typename == "" && f.ObjectDefinition != nil {
					typename = f.ObjectDefinition.Name
				}
				out[key] = typename
				continue
			}
			val := x[f.Name]
			if fn, ok := val.(func(map[string]any) any); ok {
				val = fn(f.ArgumentMap(vars))
			}
			out[key] = project(val, f.SelectionSet, vars)
		}
		return out
	}
	return v
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}
