package shopify

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
)

// allDocuments is every GraphQL document the package sends.
func allDocuments() map[string]string {
	return map[string]string{
		"shopInfo":                  shopInfoQuery,
		"webhookSubscriptions":      webhookSubscriptionsQuery,
		"webhookSubscriptionCreate": webhookSubscriptionCreateMutation,
		"orders":                    ordersQuery,
		"orderDetail0":              orderDetailQueries[0],
		"orderDetail1":              orderDetailQueries[1],
		"orderDetail2":              orderDetailQueries[2],
		"orderLines":                orderLinesQuery,
		"accessScopes":              accessScopesQuery,
		"fulfillmentLines":          fulfillmentLinesQuery,
		"fulfillmentEvents":         fulfillmentEventsQuery,
		"refundLines":               refundLinesQuery,
		"ordersCount":               ordersCountQuery,
		"bulkRun":                   bulkRunMutation,
		"bulkPoll":                  bulkPollQuery,
		"bulkInner":                 bulkOrdersQuery(time.Time{}),
		"discountCodeCreate":        discountCodeCreateMutation,
		"discountCodeByCode":        discountCodeByCodeQuery,
		"discountCodeDelete":        discountCodeDeleteMutation,
		"discountExists":            discountExistsQuery,
		"catalogProducts":           catalogQuery,
	}
}

// Deprecated fields still validate, and then disappear in a later version;
// none of ours should use one.
func TestGraphQLDocuments_NoDeprecatedFields(t *testing.T) {
	t.Parallel()
	schema := shopifytest.Schema(t)
	for name, doc := range allDocuments() {
		q, errs := gqlparser.LoadQuery(schema, doc)
		if len(errs) > 0 {
			t.Errorf("%s does not validate: %v", name, errs)
			continue
		}
		var walk func(set ast.SelectionSet)
		walk = func(set ast.SelectionSet) {
			for _, sel := range set {
				switch v := sel.(type) {
				case *ast.Field:
					if d := v.Definition; d != nil && d.Directives.ForName("deprecated") != nil {
						t.Errorf("%s selects %s.%s, deprecated in %s", name, v.ObjectDefinition.Name, v.Name, shopifytest.Version)
					}
					for _, a := range v.Arguments {
						if d := v.Definition.Arguments.ForName(a.Name); d != nil && d.Directives.ForName("deprecated") != nil {
							t.Errorf("%s passes %s(%s:), deprecated in %s", name, v.Name, a.Name, shopifytest.Version)
						}
					}
					walk(v.SelectionSet)
				case *ast.InlineFragment:
					walk(v.SelectionSet)
				case *ast.FragmentSpread:
					walk(v.Definition.SelectionSet)
				}
			}
		}
		for _, op := range q.Operations {
			walk(op.SelectionSet)
		}
	}
}

// The discount input travels as variables, which the document check above
// can't see: walk it against DiscountCodeBasicInput.
func TestDiscountInput_NoDeprecatedOrUnknownFields(t *testing.T) {
	t.Parallel()
	schema := shopifytest.Schema(t)
	pct, amt, minSub := decimal.RequireFromString("0.15"), decimal.RequireFromString("5"), decimal.RequireFromString("50")
	ends := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []DiscountCode{
		{Code: "A", Percentage: &pct, CustomerID: 42, UsageLimit: 1, AppliesOncePerCustomer: true, EndsAt: &ends},
		{Code: "B", Amount: &amt, MinimumSubtotal: &minSub},
	} {
		in, err := d.input(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		var walk func(path string, def *ast.Definition, v map[string]any)
		walk = func(path string, def *ast.Definition, v map[string]any) {
			for k, val := range v {
				f := def.Fields.ForName(k)
				if f == nil {
					t.Errorf("%s.%s is not a field of %s", path, k, def.Name)
					continue
				}
				if f.Directives.ForName("deprecated") != nil {
					t.Errorf("%s.%s is deprecated in %s", path, k, shopifytest.Version)
				}
				if m, ok := val.(map[string]any); ok {
					walk(path+"."+k, schema.Types[f.Type.Name()], m)
				}
			}
		}
		walk("basicCodeDiscount", schema.Types["DiscountCodeBasicInput"], in)
	}
}
