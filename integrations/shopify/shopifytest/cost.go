package shopifytest

import (
	"math"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Shopify's calculated query cost
// (shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits): scalars and
// enums 0, objects 1, a connection 2 + first (or last) × the cost of one of
// its nodes, nested multiplicatively; a list field sized by a first
// argument costs first × its element. pageInfo, edges and cursors are paid
// by the connection's 2. Mutations cost 10. The requested cost assumes every
// connection returns first nodes; the actual cost counts what came back.

// MaxQueryCost is the single-query maximum: a query requesting more is
// refused with MAX_COST_EXCEEDED.
const MaxQueryCost = 1000

// mutationCost is what any mutation costs.
const mutationCost = 10

func queryCost(schema *ast.Schema, op *ast.OperationDefinition, vars map[string]any) int {
	if op.Operation == ast.Mutation {
		return mutationCost
	}
	return setCost(schema, op.SelectionSet, vars)
}

func isLeaf(schema *ast.Schema, f *ast.Field) bool {
	if f.Definition == nil {
		return true
	}
	def := schema.Types[f.Definition.Type.Name()]
	return def == nil || def.Kind == ast.Scalar || def.Kind == ast.Enum
}

func isConnection(schema *ast.Schema, f *ast.Field) bool {
	if f.Definition == nil || f.Definition.Type.Elem != nil {
		return false
	}
	name := f.Definition.Type.Name()
	def := schema.Types[name]
	return def != nil && strings.HasSuffix(name, "Connection") && def.Fields.ForName("pageInfo") != nil
}

// sizeArg is first (or last) of a field, -1 when it has neither.
func sizeArg(f *ast.Field, vars map[string]any) int {
	args := f.ArgumentMap(vars)
	for _, k := range []string{"first", "last"} {
		if v, ok := args[k]; ok && v != nil {
			return toInt(v)
		}
	}
	return -1
}

func setCost(schema *ast.Schema, set ast.SelectionSet, vars map[string]any) int {
	total := 0
	for _, f := range flatten(set, "") {
		total += fieldCost(schema, f, vars)
	}
	return total
}

func fieldCost(schema *ast.Schema, f *ast.Field, vars map[string]any) int {
	if f.Name == "__typename" || isLeaf(schema, f) {
		return 0
	}
	n := sizeArg(f, vars)
	if isConnection(schema, f) {
		return 2 + max(n, 1)*connectionNodeCost(schema, f.SelectionSet, vars)
	}
	one := 1 + setCost(schema, f.SelectionSet, vars)
	if f.Definition.Type.Elem != nil && n >= 0 {
		return n * one
	}
	return one
}

// connectionNodeCost is the cost of one node selected through nodes or
// edges { node } (the same objects: the larger selection counts).
func connectionNodeCost(schema *ast.Schema, set ast.SelectionSet, vars map[string]any) int {
	best := 0
	for _, f := range flatten(set, "") {
		switch f.Name {
		case "nodes":
			best = max(best, 1+setCost(schema, f.SelectionSet, vars))
		case "edges":
			for _, e := range flatten(f.SelectionSet, "") {
				if e.Name == "node" {
					best = max(best, 1+setCost(schema, e.SelectionSet, vars))
				}
			}
		}
	}
	return best
}

// actualCost prices a projected answer by what it holds.
func actualCost(schema *ast.Schema, set ast.SelectionSet, data map[string]any, vars map[string]any) int {
	total := 0
	for _, f := range flatten(set, "") {
		if f.Name == "__typename" || isLeaf(schema, f) {
			continue
		}
		key := f.Alias
		if key == "" {
			key = f.Name
		}
		v, ok := data[key]
		if !ok || v == nil {
			continue
		}
		if isConnection(schema, f) {
			conn, _ := v.(map[string]any)
			total += 2 + actualConnectionCost(schema, f.SelectionSet, conn, vars)
			continue
		}
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if m, ok := e.(map[string]any); ok {
					total += 1 + actualCost(schema, f.SelectionSet, m, vars)
				}
			}
		case map[string]any:
			total += 1 + actualCost(schema, f.SelectionSet, x, vars)
		}
	}
	return total
}

func actualConnectionCost(schema *ast.Schema, set ast.SelectionSet, conn map[string]any, vars map[string]any) int {
	best := 0
	for _, f := range flatten(set, "") {
		key := f.Alias
		if key == "" {
			key = f.Name
		}
		list, _ := conn[key].([]any)
		sum := 0
		switch f.Name {
		case "nodes":
			for _, e := range list {
				if m, ok := e.(map[string]any); ok {
					sum += 1 + actualCost(schema, f.SelectionSet, m, vars)
				}
			}
		case "edges":
			for _, e := range list {
				edge, _ := e.(map[string]any)
				for _, nf := range flatten(f.SelectionSet, "") {
					if nf.Name != "node" {
						continue
					}
					k := nf.Alias
					if k == "" {
						k = nf.Name
					}
					if m, ok := edge[k].(map[string]any); ok {
						sum += 1 + actualCost(schema, nf.SelectionSet, m, vars)
					}
				}
			}
		}
		best = max(best, sum)
	}
	return best
}

// take refills the shop's bucket for the time passed and, when it holds
// cost, spends it; false means throttled (nothing spent). The bucket never
// goes below zero. Callers hold s.mu.
func (s *Server) take(sh *shop, cost int) bool {
	now := s.now()
	if el := now.Sub(sh.filledAt).Seconds(); el > 0 {
		sh.available = math.Min(s.bucketMax, sh.available+el*s.bucketRestore)
	}
	sh.filledAt = now
	if float64(cost) > sh.available {
		sh.throttled++
		return false
	}
	sh.available -= float64(cost)
	if sh.available < sh.minAvailable {
		sh.minAvailable = sh.available
	}
	return true
}

// refund gives back what a query requested but did not use. Callers hold s.mu.
func (s *Server) refund(sh *shop, points int) {
	if points > 0 {
		sh.available = math.Min(s.bucketMax, sh.available+float64(points))
	}
}

// cost is the extensions object Shopify puts on every answer; actual is nil
// when the query did not run. Callers hold s.mu.
func (s *Server) cost(sh *shop, requested int, actual *int) map[string]any {
	var a any
	if actual != nil {
		a = *actual
	}
	return map[string]any{"cost": map[string]any{
		"requestedQueryCost": requested,
		"actualQueryCost":    a,
		"throttleStatus": map[string]any{
			"maximumAvailable":   s.bucketMax,
			"currentlyAvailable": math.Floor(sh.available),
			"restoreRate":        s.bucketRestore,
		},
	}}
}

// MinAvailable is the lowest level shop's cost bucket has reached (it
// starts full); it is never below zero.
func (s *Server) MinAvailable(shop string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[shop]; ok {
		return sh.minAvailable
	}
	return s.bucketMax
}

// ThrottledCount is how many queries for shop were answered THROTTLED.
func (s *Server) ThrottledCount(shop string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[shop]; ok {
		return sh.throttled
	}
	return 0
}

// CostLog returns, for shop, the requested and actual cost of every query
// that ran, in order (for benchmarks: the fake's numbers, not the client's).
func (s *Server) CostLog(shop string) []QueryCost {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[shop]; ok {
		return append([]QueryCost(nil), sh.costs...)
	}
	return nil
}

// QueryCost is one query's cost as the fake computed it.
type QueryCost struct {
	Operation         string
	Requested, Actual int
	AvailableAfter    float64
}
