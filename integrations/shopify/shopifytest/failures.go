package shopifytest

import (
	"github.com/vektah/gqlparser/v2/ast"
)

// Failure is a failure FailNext injects into a GraphQL request.
type Failure int

const (
	// FailHTTP500 answers HTTP 500 before anything runs: nothing is
	// charged to the bucket and nothing changes.
	FailHTTP500 Failure = iota + 1
	// FailHTTP500AfterCommit runs the request, then answers HTTP 500, as
	// when Shopify did the work and the answer was lost on the way: a
	// created discount exists though the client saw an error.
	FailHTTP500AfterCommit
	// FailThrottled empties the shop's cost bucket first, so the request is
	// answered THROTTLED through the fake's usual cost machinery, with a
	// throttleStatus that says how long the bucket needs.
	FailThrottled
)

type failPlan struct {
	n int
	f Failure
}

// FailNext makes the next n GraphQL requests for shop whose operation
// selects rootField (e.g. "discountCodeBasicCreate") fail with f. A later
// call for the same shop and field replaces the plan; n = 0 cancels it.
func (s *Server) FailNext(shop, rootField string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureShop(shop)
	sh := s.shops[shop]
	if sh.failNext == nil {
		sh.failNext = map[string]*failPlan{}
	}
	if n <= 0 {
		delete(sh.failNext, rootField)
		return
	}
	sh.failNext[rootField] = &failPlan{n: n, f: f}
}

// nextFailure uses up one planned failure of op's root fields, if any;
// callers hold s.mu.
func (s *Server) nextFailure(sh *shop, op *ast.OperationDefinition) (Failure, bool) {
	for _, f := range flatten(op.SelectionSet, "") {
		p, ok := sh.failNext[f.Name]
		if !ok {
			continue
		}
		if p.n--; p.n <= 0 {
			delete(sh.failNext, f.Name)
		}
		return p.f, true
	}
	return 0, false
}
