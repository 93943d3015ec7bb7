package shopifytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Bulk operations. bulkOperationRunQuery validates its inner query against
// the schema, runs it at once on a snapshot and keeps the JSONL; polling
// (node(id:), bulkOperation(id:), currentBulkOperation) walks the status
// CREATED → RUNNING → COMPLETED, one step per poll, so clients must poll.
// As on Shopify, each node of a nested connection is its own line, after
// its parent's, naming the parent in __parentId; list fields (an order's
// fulfillments and refunds) stay inline in their parent's line.

type bulkOp struct {
	id              int64
	status          string
	query           string
	createdAt       time.Time
	completedAt     time.Time
	file            string // name under /bulk/
	objectCount     int
	rootObjectCount int
	size            int
}

func (op *bulkOp) node(s *Server) map[string]any {
	n := map[string]any{
		"__typename": "BulkOperation", "id": gid("BulkOperation", op.id), "status": op.status, "type": "QUERY",
		"query": op.query, "createdAt": ts(op.createdAt), "completedAt": nil, "errorCode": nil,
		"objectCount": strconv.Itoa(0), "rootObjectCount": strconv.Itoa(0), "fileSize": nil, "url": nil, "partialDataUrl": nil,
	}
	if op.status == "COMPLETED" {
		n["completedAt"] = ts(op.completedAt)
		n["objectCount"] = strconv.Itoa(op.objectCount)
		n["rootObjectCount"] = strconv.Itoa(op.rootObjectCount)
		if op.objectCount > 0 {
			n["fileSize"] = strconv.Itoa(op.size)
			n["url"] = s.URL + "/bulk/" + op.file
		}
	}
	return n
}

// advance moves a polled operation one step; callers hold s.mu.
func (s *Server) advance(op *bulkOp) {
	switch op.status {
	case "CREATED":
		op.status = "RUNNING"
	case "RUNNING":
		op.status, op.completedAt = "COMPLETED", s.now()
	}
}

func bulkUserError(code, msg string) map[string]any {
	return map[string]any{"__typename": "BulkOperationRunQueryPayload", "bulkOperation": nil,
		"userErrors": []any{map[string]any{"__typename": "BulkOperationUserError", "field": []any{"query"}, "message": msg, "code": code}}}
}

func resolveBulkOperationRunQuery(s *Server, sh *shop, args map[string]any) (any, error) {
	q := stringArg(args, "query")
	for _, op := range sh.bulkOps {
		if op.status == "CREATED" || op.status == "RUNNING" {
			return bulkUserError("OPERATION_IN_PROGRESS", fmt.Sprintf("A bulk query operation for this app and shop is already in progress: %s.", gid("BulkOperation", op.id))), nil
		}
	}
	doc, errs := gqlparser.LoadQuery(schemaOnce.schema, q)
	if len(errs) > 0 {
		return bulkUserError("INVALID", "Invalid bulk query: "+errs.Error()), nil
	}
	if len(doc.Operations) != 1 || doc.Operations[0].Operation != ast.Query {
		return bulkUserError("INVALID", "Invalid bulk query: one query operation is required"), nil
	}
	op := doc.Operations[0]
	var lines [][]byte
	roots := 0
	for _, f := range flatten(op.SelectionSet, "") {
		if f.Name != "orders" {
			return bulkUserError("INVALID", "shopifytest: bulk queries over "+f.Name+" are not implemented by the fake (orders only)"), nil
		}
		key, _ := f.ArgumentMap(nil)["sortKey"].(string)
		if key == "" {
			key = "PROCESSED_AT"
		}
		reverse, _ := f.ArgumentMap(nil)["reverse"].(bool)
		orders, err := s.visibleOrders(sh, stringArg(f.ArgumentMap(nil), "query"), key, reverse)
		if err != nil {
			return bulkUserError("INVALID", err.Error()), nil
		}
		nodeSet := connectionNodeSet(f.SelectionSet)
		for _, o := range orders {
			node, _ := project(orderNode(sh, o, true), nodeSet, nil).(map[string]any)
			w := &bulkWriter{}
			w.emit(schemaOnce.schema, nodeSet, node, "")
			for _, l := range w.lines {
				b, _ := json.Marshal(l)
				lines = append(lines, b)
			}
			roots++
		}
	}
	s.nextID++
	bop := &bulkOp{id: s.nextID, status: "CREATED", query: q, createdAt: s.now(), rootObjectCount: roots, objectCount: len(lines)}
	if len(lines) > 0 {
		body := append(bytes.Join(lines, []byte("\n")), '\n')
		bop.file = randHex(12) + ".jsonl"
		bop.size = len(body)
		s.bulkFiles[bop.file] = body
	}
	sh.bulkOps = append(sh.bulkOps, bop)
	return map[string]any{"__typename": "BulkOperationRunQueryPayload", "bulkOperation": bop.node(s), "userErrors": []any{}}, nil
}

// connectionNodeSet is the selection of one node of a connection field,
// through nodes or edges { node }.
func connectionNodeSet(set ast.SelectionSet) ast.SelectionSet {
	for _, f := range flatten(set, "") {
		switch f.Name {
		case "nodes":
			return f.SelectionSet
		case "edges":
			for _, e := range flatten(f.SelectionSet, "") {
				if e.Name == "node" {
					return e.SelectionSet
				}
			}
		}
	}
	return nil
}

// bulkWriter flattens one projected root node into JSONL objects.
type bulkWriter struct{ lines []map[string]any }

// emit appends obj's line (after which its connection nodes follow as
// their own lines) and pulls nested connections out of inline objects.
func (w *bulkWriter) emit(schema *ast.Schema, set ast.SelectionSet, obj map[string]any, parent string) {
	if parent != "" {
		obj["__parentId"] = parent
	}
	w.lines = append(w.lines, obj)
	w.extract(schema, set, obj)
}

func (w *bulkWriter) extract(schema *ast.Schema, set ast.SelectionSet, obj map[string]any) {
	id, _ := obj["id"].(string)
	for _, f := range flatten(set, "") {
		key := f.Alias
		if key == "" {
			key = f.Name
		}
		v, ok := obj[key]
		if !ok || v == nil || f.Name == "__typename" || isLeaf(schema, f) {
			continue
		}
		if isConnection(schema, f) {
			delete(obj, key)
			conn, _ := v.(map[string]any)
			nodeSet := connectionNodeSet(f.SelectionSet)
			for _, n := range connectionNodes(f.SelectionSet, conn) {
				w.emit(schema, nodeSet, n, id)
			}
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			w.extract(schema, f.SelectionSet, x)
		case []any:
			for _, e := range x {
				if m, ok := e.(map[string]any); ok {
					w.extract(schema, f.SelectionSet, m)
				}
			}
		}
	}
}

func connectionNodes(set ast.SelectionSet, conn map[string]any) []map[string]any {
	var out []map[string]any
	for _, f := range flatten(set, "") {
		key := f.Alias
		if key == "" {
			key = f.Name
		}
		list, _ := conn[key].([]any)
		switch f.Name {
		case "nodes":
			for _, e := range list {
				if m, ok := e.(map[string]any); ok {
					out = append(out, m)
				}
			}
			return out
		case "edges":
			for _, e := range list {
				edge, _ := e.(map[string]any)
				for _, nf := range flatten(f.SelectionSet, "") {
					k := nf.Alias
					if k == "" {
						k = nf.Name
					}
					if m, ok := edge[k].(map[string]any); ok && nf.Name == "node" {
						out = append(out, m)
					}
				}
			}
			return out
		}
	}
	return out
}

func (s *Server) findBulkOp(sh *shop, id int64) *bulkOp {
	for _, op := range sh.bulkOps {
		if op.id == id {
			return op
		}
	}
	return nil
}

func resolveCurrentBulkOperation(s *Server, sh *shop, args map[string]any) (any, error) {
	if t := stringArg(args, "type"); t == "MUTATION" || len(sh.bulkOps) == 0 {
		return nil, nil
	}
	op := sh.bulkOps[len(sh.bulkOps)-1]
	s.advance(op)
	return op.node(s), nil
}

func resolveBulkOperation(s *Server, sh *shop, args map[string]any) (any, error) {
	op := s.findBulkOp(sh, gidNumber(stringArg(args, "id"), "BulkOperation"))
	if op == nil {
		return nil, nil
	}
	s.advance(op)
	return op.node(s), nil
}

// resolveNode answers node(id:) for the types the fake holds: bulk
// operations, orders, fulfillments and refunds.
func resolveNode(s *Server, sh *shop, args map[string]any) (any, error) {
	id := stringArg(args, "id")
	switch {
	case gidNumber(id, "BulkOperation") != 0:
		return resolveBulkOperation(s, sh, args)
	case gidNumber(id, "Order") != 0:
		return resolveOrder(s, sh, args)
	case gidNumber(id, "Fulfillment") != 0:
		want := gidNumber(id, "Fulfillment")
		for _, o := range sh.orders {
			for _, f := range o.Fulfillments {
				if f.PlatformID == want {
					return fulfillmentNode(f, o.Currency, false), nil
				}
			}
		}
	case gidNumber(id, "DiscountCodeNode") != 0:
		if d := sh.discountByGID(id); d != nil {
			return s.discountNode(sh, d), nil
		}
	case gidNumber(id, "Refund") != 0:
		want := gidNumber(id, "Refund")
		for _, o := range sh.orders {
			for _, r := range o.Refunds {
				if r.PlatformID == want {
					return refundNode(r, o, false), nil
				}
			}
		}
	}
	return nil, nil
}

// handleBulkFile serves a bulk operation's JSONL, as Shopify's signed
// storage URL does (no access token).
func (s *Server) handleBulkFile(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.bulkFiles[r.PathValue("file")]
	s.mu.Unlock()
	status := http.StatusOK
	if !ok {
		status = http.StatusNotFound
	}
	s.record(r, nil, "", nil, status)
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	_, _ = w.Write(body)
}
