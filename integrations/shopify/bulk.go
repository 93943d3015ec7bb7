package shopify

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/doorstep/doorstep/models"
)

// Bulk operations export every order in one server-side job: no per-page
// cost, no nested limits, one JSONL download. Paging costs about 145
// requested points per order (6 orders a page) and is paced by the bucket's
// restore rate; a bulk query costs 10 points whatever its size but has a
// fixed overhead (the job is queued, polled and its file downloaded, tens of
// seconds at best) and only one may run per shop at a time. BulkThreshold is
// where bulk starts to win: at 100 points/s (the standard plan) paging moves
// roughly 2–3 orders/s once the first bucket is spent, so a few thousand
// orders take minutes by paging and well under a minute in bulk.
const BulkThreshold = 2500

const (
	bulkRunMutation = `mutation DoorstepBulkOrders($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}`
	bulkRunCost = 10 // a mutation

	bulkPollQuery = `query DoorstepBulkOperation($id: ID!) {
  node(id: $id) {
    ... on BulkOperation {
      id
      status
      errorCode
      objectCount
      rootObjectCount
      url
    }
  }
}`
	bulkPollCost = 1
)

// bulkOrdersQuery is the inner query of bulkOperationRunQuery: the same
// order fields as a page, with every nested node (bulk queries allow five
// connections, two levels deep: orders, lineItems, events,
// fulfillmentLineItems, refundLineItems).
func bulkOrdersQuery(since time.Time) string {
	args := "sortKey: UPDATED_AT"
	if !since.IsZero() {
		args = fmt.Sprintf("query: %q, %s", updatedSinceFilter(since), args)
	}
	return `{
  orders(` + args + `) {
    edges {
      node {
  ` + orderFields(shape{}, true) + `
      }
    }
  }
}`
}

// bulkPollInterval paces polling; Shopify suggests polling no more often
// than every few seconds for large jobs, and the poll costs 1 point.
const bulkPollInterval = 2 * time.Second

// BulkOrders exports the orders updated at or after since (zero: all)
// through a bulk operation and calls emit for each, in file order (oldest
// updated first). It returns how many orders it emitted. An error from emit
// stops it and is returned. A bulk query already running on the shop is a
// *RetryableError.
func (c *Client) BulkOrders(ctx context.Context, shopDomain, token string, since time.Time, emit func(models.Order) error) (int, error) {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return 0, fmt.Errorf("bulk orders: %w", err)
	}
	var run struct {
		BulkOperationRunQuery struct {
			BulkOperation *struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"bulkOperation"`
			UserErrors []struct {
				Field   []string `json:"field"`
				Message string   `json:"message"`
				Code    string   `json:"code"`
			} `json:"userErrors"`
		} `json:"bulkOperationRunQuery"`
	}
	if _, err := c.do(ctx, shop, token, bulkRunMutation, map[string]any{"query": bulkOrdersQuery(since)}, bulkRunCost, &run); err != nil {
		return 0, fmt.Errorf("bulk orders for %s: start: %w", shop, err)
	}
	if ue := run.BulkOperationRunQuery.UserErrors; len(ue) > 0 {
		msgs := make([]string, len(ue))
		busy := false
		for i, e := range ue {
			msgs[i] = e.Message
			busy = busy || e.Code == "OPERATION_IN_PROGRESS" || strings.Contains(e.Message, "already in progress")
		}
		err := fmt.Errorf("bulk orders for %s: start: %s", shop, strings.Join(msgs, "; "))
		if busy {
			return 0, &RetryableError{RetryAfter: time.Minute, Err: err}
		}
		return 0, err
	}
	op := run.BulkOperationRunQuery.BulkOperation
	if op == nil {
		return 0, fmt.Errorf("bulk orders for %s: no bulk operation in the answer", shop)
	}

	url := ""
	for {
		var poll struct {
			Node *struct {
				ID        string  `json:"id"`
				Status    string  `json:"status"`
				ErrorCode *string `json:"errorCode"`
				URL       *string `json:"url"`
			} `json:"node"`
		}
		if _, err := c.do(ctx, shop, token, bulkPollQuery, map[string]any{"id": op.ID}, bulkPollCost, &poll); err != nil {
			return 0, fmt.Errorf("bulk orders for %s: poll %s: %w", shop, op.ID, err)
		}
		if poll.Node == nil {
			return 0, fmt.Errorf("bulk orders for %s: bulk operation %s not found", shop, op.ID)
		}
		switch poll.Node.Status {
		case "COMPLETED":
			if poll.Node.URL != nil {
				url = *poll.Node.URL
			}
		case "CREATED", "RUNNING":
			if err := c.clock.Sleep(ctx, bulkPollInterval); err != nil {
				return 0, err
			}
			continue
		default: // FAILED, CANCELED, CANCELING, EXPIRED
			code := ""
			if poll.Node.ErrorCode != nil {
				code = " (" + *poll.Node.ErrorCode + ")"
			}
			return 0, fmt.Errorf("bulk orders for %s: bulk operation %s ended %s%s", shop, op.ID, poll.Node.Status, code)
		}
		break
	}
	if url == "" {
		return 0, nil // no orders matched: Shopify gives no file
	}
	n, err := c.readBulkOrders(ctx, url, emit)
	if err != nil {
		return n, fmt.Errorf("bulk orders for %s: %w", shop, err)
	}
	return n, nil
}

// readBulkOrders downloads the JSONL with the plain HTTP client (the URL is
// a signed storage link, not the shop: no token goes with it) and
// reassembles each order from its line and the lines that follow it, which
// name their parent in __parentId (the order for line items; a fulfillment
// or refund, inlined in the order's line, for theirs).
func (c *Client) readBulkOrders(ctx context.Context, url string, emit func(models.Order) error) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("bulk file: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, &RetryableError{Err: fmt.Errorf("download bulk file: %w", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("download bulk file: HTTP %d", resp.StatusCode)
		if retryableStatus(resp.StatusCode) {
			return 0, &RetryableError{Err: err}
		}
		return 0, err
	}

	count := 0
	var cur *orderNode
	emitted := map[string]bool{} // order GIDs already emitted
	flush := func() error {
		if cur == nil {
			return nil
		}
		o, err := cur.order()
		if err != nil {
			return fmt.Errorf("order %s: %w", cur.ID, err)
		}
		emitted[cur.ID] = true
		cur = nil
		count++
		return emit(o)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		raw := sc.Bytes()
		if len(strings.TrimSpace(string(raw))) == 0 {
			continue
		}
		var head struct {
			Typename string `json:"__typename"`
			ParentID string `json:"__parentId"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return count, fmt.Errorf("bulk file line %d: %w", lineNo, err)
		}
		if head.ParentID == "" {
			if err := flush(); err != nil {
				return count, err
			}
			cur = &orderNode{}
			if err := json.Unmarshal(raw, cur); err != nil {
				return count, fmt.Errorf("bulk file line %d: %w", lineNo, err)
			}
			continue
		}
		if cur == nil || emitted[head.ParentID] {
			return count, fmt.Errorf("bulk file line %d: child of %s does not follow its order", lineNo, head.ParentID)
		}
		if err := cur.attach(head.Typename, head.ParentID, raw); err != nil {
			return count, fmt.Errorf("bulk file line %d: %w", lineNo, err)
		}
	}
	if err := sc.Err(); err != nil {
		return count, &RetryableError{Err: fmt.Errorf("read bulk file: %w", err)}
	}
	if err := flush(); err != nil {
		return count, err
	}
	return count, nil
}

// attach adds one child line of the bulk file to the order being built.
func (n *orderNode) attach(typename, parent string, raw []byte) error {
	switch typename {
	case "LineItem":
		if parent != n.ID {
			return fmt.Errorf("line item of %s inside order %s", parent, n.ID)
		}
		var l lineNode
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		n.LineItems.Nodes = append(n.LineItems.Nodes, l)
		return nil
	case "FulfillmentEvent", "FulfillmentLineItem":
		for i := range n.Fulfillments {
			f := &n.Fulfillments[i]
			if f.ID != parent {
				continue
			}
			if typename == "FulfillmentEvent" {
				var e eventNode
				if err := json.Unmarshal(raw, &e); err != nil {
					return err
				}
				f.Events.Nodes = append(f.Events.Nodes, e)
				return nil
			}
			var l fulfillmentLineNode
			if err := json.Unmarshal(raw, &l); err != nil {
				return err
			}
			f.FulfillmentLineItems.Nodes = append(f.FulfillmentLineItems.Nodes, l)
			return nil
		}
	case "RefundLineItem":
		for i := range n.Refunds {
			r := &n.Refunds[i]
			if r.ID != parent {
				continue
			}
			var l refundLineNode
			if err := json.Unmarshal(raw, &l); err != nil {
				return err
			}
			r.RefundLineItems.Nodes = append(r.RefundLineItems.Nodes, l)
			return nil
		}
	default:
		return fmt.Errorf("unexpected %q line", typename)
	}
	return fmt.Errorf("%s line whose parent %s is not in order %s", typename, parent, n.ID)
}
