package shopify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Discount codes are how loyalty points and referral rewards reach the
// shopper: Doorstep creates a basic (amount off) code discount, usually
// for one customer and one use, and later reads its usage or deletes it.

// Discount errors. They are wrapped with context; test with errors.Is.
var (
	// ErrDiscountCodeTaken: the shop already has a discount with this code
	// (Shopify compares codes case-insensitively). A create retried after
	// its answer was lost ends here too, so look the code up with
	// DiscountCodeByCode instead of creating another.
	ErrDiscountCodeTaken = errors.New("shopify: discount code already exists")
	// ErrDiscountRejected: Shopify refused the discount (userErrors), or the
	// DiscountCode asks for something Shopify can't do. Permanent: the same
	// request will be refused again.
	ErrDiscountRejected = errors.New("shopify: discount rejected")
)

const (
	// Only DiscountCodeBasic has codes here: Doorstep creates nothing else.
	discountCodeCreateMutation = `mutation DoorstepDiscountCodeCreate($discount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $discount) {
    codeDiscountNode {
      id
      codeDiscount {
        ... on DiscountCodeBasic {
          codes(first: 1) { nodes { code } }
        }
      }
    }
    userErrors {
      field
      code
      message
    }
  }
}`

	// A code may belong to any kind of code discount, including a
	// merchant's own, so every member of the DiscountCode union is asked
	// for the same fields.
	discountCodeByCodeQuery = `query DoorstepDiscountCodeByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount {
      __typename
      ... on DiscountCodeBasic {
        title
        status
        asyncUsageCount
        codes(first: 1) { nodes { code } }
      }
      ... on DiscountCodeBxgy {
        title
        status
        asyncUsageCount
        codes(first: 1) { nodes { code } }
      }
      ... on DiscountCodeFreeShipping {
        title
        status
        asyncUsageCount
        codes(first: 1) { nodes { code } }
      }
      ... on DiscountCodeApp {
        title
        status
        asyncUsageCount
        codes(first: 1) { nodes { code } }
      }
    }
  }
}`

	discountCodeDeleteMutation = `mutation DoorstepDiscountCodeDelete($id: ID!) {
  discountCodeDelete(id: $id) {
    deletedCodeDiscountId
    userErrors {
      field
      code
      message
    }
  }
}`

	// discountExistsQuery tells "already deleted" from a real refusal when
	// a delete comes back with userErrors, whatever their wording.
	discountExistsQuery = `query DoorstepDiscountExists($id: ID!) {
  node(id: $id) {
    id
  }
}`
)

// DiscountCode is a basic code discount to create: a percentage or a fixed
// amount off the whole order.
type DiscountCode struct {
	Code  string
	Title string // shown to the merchant in the admin; "" means Code
	// Exactly one of Percentage (0 < p ≤ 1: 0.10 is 10 % off) and Amount
	// (a fixed amount off the order, in the shop's currency) is set.
	Percentage *decimal.Decimal
	Amount     *decimal.Decimal
	// CustomerID restricts the code to one customer; 0 lets anyone use it.
	CustomerID int64
	// UsageLimit caps redemptions in total (1 = single use); 0 = no cap.
	UsageLimit             int
	AppliesOncePerCustomer bool
	StartsAt               time.Time // zero: now
	EndsAt                 *time.Time
	// MinimumSubtotal, when set, is the order subtotal the code needs.
	MinimumSubtotal *decimal.Decimal
}

// CreatedDiscount is the discount Shopify made.
type CreatedDiscount struct {
	ID   string // the DiscountCodeNode gid, for DeleteDiscountCode
	Code string
}

// DiscountInfo is what DiscountCodeByCode reads.
type DiscountInfo struct {
	ID     string // the DiscountCodeNode gid
	Code   string // as stored (Shopify matches codes case-insensitively)
	Title  string
	Status string // ACTIVE, EXPIRED or SCHEDULED
	// UsageCount is Shopify's asyncUsageCount: it lags real redemptions by
	// a little while.
	UsageCount int
}

type discountUserError struct {
	Field   []string `json:"field"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
}

// taken reports whether the error says the code already exists. Shopify
// answers code TAKEN on the code field; the message is checked too in case
// the code is ever missing.
func (e discountUserError) taken() bool {
	if len(e.Field) == 0 || e.Field[len(e.Field)-1] != "code" {
		return false
	}
	return e.Code == "TAKEN" || strings.Contains(strings.ToLower(e.Message), "must be unique")
}

func discountUserErrorText(ue []discountUserError) string {
	msgs := make([]string, len(ue))
	for i, e := range ue {
		msgs[i] = e.Message
		if len(e.Field) > 0 {
			msgs[i] = strings.Join(e.Field, ".") + ": " + e.Message
		}
		if e.Code != "" {
			msgs[i] += " (" + e.Code + ")"
		}
	}
	return strings.Join(msgs, "; ")
}

// input builds DiscountCodeBasicInput. It uses context, which replaces
// the deprecated customerSelection in 2026-07.
func (d DiscountCode) input(now time.Time) (map[string]any, error) {
	code := strings.TrimSpace(d.Code)
	switch {
	case code == "":
		return nil, errors.New("code is empty")
	case (d.Percentage == nil) == (d.Amount == nil):
		return nil, errors.New("set exactly one of Percentage and Amount")
	case d.Percentage != nil && (!d.Percentage.IsPositive() || d.Percentage.GreaterThan(decimal.NewFromInt(1))):
		return nil, fmt.Errorf("percentage %s is not in (0, 1]", d.Percentage)
	case d.Amount != nil && !d.Amount.IsPositive():
		return nil, fmt.Errorf("amount %s is not positive", d.Amount)
	case d.MinimumSubtotal != nil && !d.MinimumSubtotal.IsPositive():
		return nil, fmt.Errorf("minimum subtotal %s is not positive", d.MinimumSubtotal)
	case d.CustomerID < 0:
		return nil, fmt.Errorf("customer id %d is negative", d.CustomerID)
	case d.UsageLimit < 0:
		return nil, fmt.Errorf("usage limit %d is negative", d.UsageLimit)
	}
	starts := d.StartsAt
	if starts.IsZero() {
		starts = now
	}
	if d.EndsAt != nil && !d.EndsAt.After(starts) {
		return nil, fmt.Errorf("ends at %s, not after it starts (%s)", d.EndsAt.Format(time.RFC3339), starts.Format(time.RFC3339))
	}
	title := strings.TrimSpace(d.Title)
	if title == "" {
		title = code
	}

	value := map[string]any{}
	if d.Percentage != nil {
		// Percentage is a GraphQL Float (Amount below is a Decimal).
		value["percentage"] = d.Percentage.InexactFloat64()
	} else {
		// Decimal travels as a string, so no float rounding. Not on each
		// item: the amount comes off the order once.
		value["discountAmount"] = map[string]any{"amount": d.Amount.String(), "appliesOnEachItem": false}
	}
	ctx := map[string]any{"all": "ALL"}
	if d.CustomerID != 0 {
		ctx = map[string]any{"customers": map[string]any{"add": []string{"gid://shopify/Customer/" + strconv.FormatInt(d.CustomerID, 10)}}}
	}
	in := map[string]any{
		"title":                  title,
		"code":                   code,
		"startsAt":               starts.UTC().Format(time.RFC3339),
		"endsAt":                 nil,
		"context":                ctx,
		"customerGets":           map[string]any{"value": value, "items": map[string]any{"all": true}},
		"appliesOncePerCustomer": d.AppliesOncePerCustomer,
		"usageLimit":             nil,
		"minimumRequirement":     nil,
	}
	if d.EndsAt != nil {
		in["endsAt"] = d.EndsAt.UTC().Format(time.RFC3339)
	}
	if d.UsageLimit > 0 {
		in["usageLimit"] = d.UsageLimit
	}
	if d.MinimumSubtotal != nil {
		in["minimumRequirement"] = map[string]any{"subtotal": map[string]any{"greaterThanOrEqualToSubtotal": d.MinimumSubtotal.String()}}
	}
	return in, nil
}

// CreateDiscountCode creates a basic code discount on the whole order.
// Errors: ErrDiscountCodeTaken (the code exists, possibly from an earlier
// attempt of this very call: look it up), ErrDiscountRejected (permanent),
// ErrUnauthorized, *RetryableError (a 5xx or THROTTLED: the discount may
// or may not exist, so a retry can end in ErrDiscountCodeTaken).
func (c *Client) CreateDiscountCode(ctx context.Context, shopDomain, accessToken string, d DiscountCode) (CreatedDiscount, error) {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return CreatedDiscount{}, fmt.Errorf("create discount: %w", err)
	}
	code := strings.TrimSpace(d.Code)
	in, err := d.input(c.clock.Now())
	if err != nil {
		return CreatedDiscount{}, fmt.Errorf("create discount %q for %s: %w: %w", code, shop, ErrDiscountRejected, err)
	}
	var resp struct {
		DiscountCodeBasicCreate struct {
			CodeDiscountNode *struct {
				ID           string `json:"id"`
				CodeDiscount struct {
					Codes struct {
						Nodes []struct {
							Code string `json:"code"`
						} `json:"nodes"`
					} `json:"codes"`
				} `json:"codeDiscount"`
			} `json:"codeDiscountNode"`
			UserErrors []discountUserError `json:"userErrors"`
		} `json:"discountCodeBasicCreate"`
	}
	if err := c.graphQL(ctx, shop, accessToken, discountCodeCreateMutation, map[string]any{"discount": in}, &resp); err != nil {
		return CreatedDiscount{}, fmt.Errorf("create discount %q for %s: %w", code, shop, err)
	}
	res := resp.DiscountCodeBasicCreate
	if len(res.UserErrors) > 0 {
		// Taken wins over any other complaint: the code existing is what
		// the caller must act on (it may be this call's own earlier try).
		sentinel := ErrDiscountRejected
		for _, e := range res.UserErrors {
			if e.taken() {
				sentinel = ErrDiscountCodeTaken
			}
		}
		return CreatedDiscount{}, fmt.Errorf("create discount %q for %s: %w: %s", code, shop, sentinel, discountUserErrorText(res.UserErrors))
	}
	node := res.CodeDiscountNode
	if node == nil || node.ID == "" {
		return CreatedDiscount{}, fmt.Errorf("create discount %q for %s: no discount in the answer", code, shop)
	}
	out := CreatedDiscount{ID: node.ID, Code: code}
	if n := node.CodeDiscount.Codes.Nodes; len(n) > 0 && n[0].Code != "" {
		out.Code = n[0].Code
	}
	return out, nil
}

// DiscountCodeByCode finds the code discount holding code (compared
// case-insensitively, as at checkout). It returns nil, nil when there is
// none. Errors: ErrUnauthorized, *RetryableError, others permanent.
func (c *Client) DiscountCodeByCode(ctx context.Context, shopDomain, accessToken, code string) (*DiscountInfo, error) {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return nil, fmt.Errorf("find discount: %w", err)
	}
	code = strings.TrimSpace(code)
	if code == "" {
		return nil, fmt.Errorf("find discount for %s: code is empty", shop)
	}
	var resp struct {
		Node *struct {
			ID           string `json:"id"`
			CodeDiscount struct {
				Title           string `json:"title"`
				Status          string `json:"status"`
				AsyncUsageCount int    `json:"asyncUsageCount"`
				Codes           struct {
					Nodes []struct {
						Code string `json:"code"`
					} `json:"nodes"`
				} `json:"codes"`
			} `json:"codeDiscount"`
		} `json:"codeDiscountNodeByCode"`
	}
	if err := c.graphQL(ctx, shop, accessToken, discountCodeByCodeQuery, map[string]any{"code": code}, &resp); err != nil {
		return nil, fmt.Errorf("find discount %q for %s: %w", code, shop, err)
	}
	n := resp.Node
	if n == nil {
		return nil, nil
	}
	info := &DiscountInfo{ID: n.ID, Code: code, Title: n.CodeDiscount.Title, Status: n.CodeDiscount.Status, UsageCount: n.CodeDiscount.AsyncUsageCount}
	// A discount may hold many codes; report the stored spelling only when
	// the first one is the code asked for.
	if codes := n.CodeDiscount.Codes.Nodes; len(codes) > 0 && strings.EqualFold(codes[0].Code, code) {
		info.Code = codes[0].Code
	}
	return info, nil
}

// DeleteDiscountCode deletes the code discount id (a DiscountCodeNode gid).
// Deleting one that no longer exists is not an error, so a retry after a
// lost answer succeeds. Errors: ErrDiscountRejected, ErrUnauthorized,
// *RetryableError, others permanent.
func (c *Client) DeleteDiscountCode(ctx context.Context, shopDomain, accessToken, id string) error {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return fmt.Errorf("delete discount: %w", err)
	}
	if id == "" {
		return fmt.Errorf("delete discount for %s: id is empty", shop)
	}
	var resp struct {
		DiscountCodeDelete struct {
			DeletedCodeDiscountID *string             `json:"deletedCodeDiscountId"`
			UserErrors            []discountUserError `json:"userErrors"`
		} `json:"discountCodeDelete"`
	}
	if err := c.graphQL(ctx, shop, accessToken, discountCodeDeleteMutation, map[string]any{"id": id}, &resp); err != nil {
		return fmt.Errorf("delete discount %s for %s: %w", id, shop, err)
	}
	ue := resp.DiscountCodeDelete.UserErrors
	if len(ue) == 0 {
		return nil
	}
	// Shopify refuses to delete what isn't there; rather than trust the
	// wording of that refusal, ask whether the discount still exists.
	var exists struct {
		Node *struct {
			ID string `json:"id"`
		} `json:"node"`
	}
	if err := c.graphQL(ctx, shop, accessToken, discountExistsQuery, map[string]any{"id": id}, &exists); err != nil {
		return fmt.Errorf("delete discount %s for %s: check it still exists: %w", id, shop, err)
	}
	if exists.Node == nil {
		return nil
	}
	return fmt.Errorf("delete discount %s for %s: %w: %s", id, shop, ErrDiscountRejected, discountUserErrorText(ue))
}
