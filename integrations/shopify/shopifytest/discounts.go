package shopifytest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The fake keeps basic code discounts per shop, as discountCodeBasicCreate
// makes them, and answers codeDiscountNodeByCode, discountCodeDelete and
// node(id:) for them. Codes are unique per shop, compared
// case-insensitively, as on Shopify; a deleted discount frees its code.

// FakeDiscount is a code discount the fake holds.
type FakeDiscount struct {
	ID    int64 // of gid://shopify/DiscountCodeNode/ID
	Code  string
	Title string
	// CustomerIDs are the customers the discount is limited to (context
	// customers add); empty means every buyer.
	CustomerIDs []int64
	// Exactly one of Percentage (0.10 = 10 %) and Amount is set.
	Percentage             *decimal.Decimal
	Amount                 *decimal.Decimal
	AppliesOnEachItem      bool
	UsageLimit             int // 0: no limit
	AppliesOncePerCustomer bool
	MinimumSubtotal        *decimal.Decimal
	StartsAt               time.Time
	EndsAt                 *time.Time
	UsageCount             int // what asyncUsageCount answers; see SetDiscountUsage
	Deleted                bool
}

// DiscountCodes returns every discount created on shop, deleted ones
// included (Deleted is set), oldest first.
func (s *Server) DiscountCodes(shop string) []FakeDiscount {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	if !ok {
		return nil
	}
	out := make([]FakeDiscount, 0, len(sh.discounts))
	for _, d := range sh.discounts {
		c := *d
		c.CustomerIDs = append([]int64(nil), d.CustomerIDs...)
		out = append(out, c)
	}
	return out
}

// SetDiscountUsage sets how many times the live discount holding code was
// used, as asyncUsageCount will report it. An unknown code fails the test.
func (s *Server) SetDiscountUsage(shop, code string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[shop]; ok {
		if d := sh.liveDiscount(code); d != nil {
			d.UsageCount = n
			return
		}
	}
	s.t.Errorf("shopifytest: SetDiscountUsage: %s has no discount with code %q", shop, code)
}

// liveDiscount is the undeleted discount holding code; callers hold s.mu.
func (sh *shop) liveDiscount(code string) *FakeDiscount {
	for _, d := range sh.discounts {
		if !d.Deleted && strings.EqualFold(d.Code, code) {
			return d
		}
	}
	return nil
}

// discountUserError is one entry of a discount mutation's userErrors.
func discountUserError(code, msg string, field ...string) map[string]any {
	return map[string]any{"__typename": "DiscountUserError", "field": field, "code": code, "message": msg, "extraInfo": nil}
}

func discountCreateFailed(errs ...map[string]any) map[string]any {
	list := make([]any, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return map[string]any{"__typename": "DiscountCodeBasicCreatePayload", "codeDiscountNode": nil, "userErrors": list}
}

// toDecimal reads a Decimal or Float variable as it arrives decoded from
// JSON: a string or a number.
func toDecimal(v any) (decimal.Decimal, bool) {
	switch x := v.(type) {
	case string:
		d, err := decimal.NewFromString(x)
		return d, err == nil
	case float64:
		return decimal.NewFromFloat(x), true
	case json.Number:
		d, err := decimal.NewFromString(x.String())
		return d, err == nil
	case int:
		return decimal.NewFromInt(int64(x)), true
	case int64:
		return decimal.NewFromInt(x), true
	}
	return decimal.Decimal{}, false
}

func timeArg(v any) (time.Time, bool) {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err == nil
}

// resolveDiscountCodeBasicCreate checks the input the way Shopify does
// for what Doorstep sends (the field paths and codes are Shopify's; some
// wordings are the fake's own) and stores the discount. The deprecated
// customerSelection is not read: a discount sent with it alone is for
// everyone here.
func resolveDiscountCodeBasicCreate(s *Server, sh *shop, args map[string]any) (any, error) {
	in, _ := args["basicCodeDiscount"].(map[string]any)
	const root = "basicCodeDiscount"
	d := &FakeDiscount{}
	d.Code = strings.TrimSpace(stringArg(in, "code"))
	d.Title = strings.TrimSpace(stringArg(in, "title"))
	switch {
	case d.Code == "":
		return discountCreateFailed(discountUserError("BLANK", "Code can't be blank", root, "code")), nil
	case len([]rune(d.Code)) > 255:
		return discountCreateFailed(discountUserError("TOO_LONG", "Code is too long (maximum is 255 characters)", root, "code")), nil
	case d.Title == "":
		return discountCreateFailed(discountUserError("BLANK", "Title can't be blank", root, "title")), nil
	}
	starts, ok := timeArg(in["startsAt"])
	if !ok {
		return discountCreateFailed(discountUserError("BLANK", "Start date can't be blank", root, "startsAt")), nil
	}
	d.StartsAt = starts
	if v := in["endsAt"]; v != nil {
		ends, ok := timeArg(v)
		if !ok || !ends.After(starts) {
			return discountCreateFailed(discountUserError("END_DATE_BEFORE_START_DATE", "End date must be after the start date", root, "endsAt")), nil
		}
		d.EndsAt = &ends
	}
	if v := in["usageLimit"]; v != nil {
		if d.UsageLimit = toInt(v); d.UsageLimit <= 0 {
			return discountCreateFailed(discountUserError("GREATER_THAN", "Usage limit must be greater than 0", root, "usageLimit")), nil
		}
	}
	d.AppliesOncePerCustomer, _ = in["appliesOncePerCustomer"].(bool)

	if c, ok := in["context"].(map[string]any); ok {
		if cs, ok := c["customers"].(map[string]any); ok {
			adds, _ := cs["add"].([]any)
			for _, a := range adds {
				id := gidNumber(fmt.Sprint(a), "Customer")
				if id == 0 {
					return discountCreateFailed(discountUserError("INVALID", "Customer is invalid", root, "context", "customers", "add")), nil
				}
				d.CustomerIDs = append(d.CustomerIDs, id)
			}
		}
	}

	gets, _ := in["customerGets"].(map[string]any)
	value, _ := gets["value"].(map[string]any)
	pct, hasPct := value["percentage"]
	amt, hasAmt := value["discountAmount"].(map[string]any)
	hasPct = hasPct && pct != nil
	switch {
	case hasPct == hasAmt:
		return discountCreateFailed(discountUserError("INVALID", "Value must be either a percentage or a discount amount", root, "customerGets", "value")), nil
	case hasPct:
		p, ok := toDecimal(pct)
		if !ok || !p.IsPositive() || p.GreaterThan(decimal.NewFromInt(1)) {
			return discountCreateFailed(discountUserError("VALUE_OUTSIDE_RANGE", "Value must be between 0.0 and 1.0", root, "customerGets", "value", "percentage")), nil
		}
		d.Percentage = &p
	default:
		a, ok := toDecimal(amt["amount"])
		if !ok || !a.IsPositive() {
			return discountCreateFailed(discountUserError("GREATER_THAN", "Value must be greater than 0", root, "customerGets", "value", "discountAmount", "amount")), nil
		}
		d.Amount = &a
		d.AppliesOnEachItem, _ = amt["appliesOnEachItem"].(bool)
	}
	items, _ := gets["items"].(map[string]any)
	if all, _ := items["all"].(bool); !all {
		// The fake has no products or collections to point at.
		return discountCreateFailed(discountUserError("APPLIES_ON_NOTHING", "Items must be all items in the fake", root, "customerGets", "items")), nil
	}
	if mr, ok := in["minimumRequirement"].(map[string]any); ok {
		if sub, ok := mr["subtotal"].(map[string]any); ok {
			m, ok := toDecimal(sub["greaterThanOrEqualToSubtotal"])
			if !ok || !m.IsPositive() {
				return discountCreateFailed(discountUserError("GREATER_THAN", "Minimum subtotal must be greater than 0", root, "minimumRequirement", "subtotal", "greaterThanOrEqualToSubtotal")), nil
			}
			d.MinimumSubtotal = &m
		}
	}
	if sh.liveDiscount(d.Code) != nil {
		return discountCreateFailed(discountUserError("TAKEN", "Code must be unique. Please try a different code.", root, "code")), nil
	}
	d.ID = s.newID()
	sh.discounts = append(sh.discounts, d)
	return map[string]any{"__typename": "DiscountCodeBasicCreatePayload", "codeDiscountNode": s.discountNode(sh, d), "userErrors": []any{}}, nil
}

// discountNode renders a discount as a DiscountCodeNode; callers hold s.mu.
func (s *Server) discountNode(sh *shop, d *FakeDiscount) map[string]any {
	now := s.now()
	status := "ACTIVE"
	switch {
	case now.Before(d.StartsAt):
		status = "SCHEDULED"
	case d.EndsAt != nil && !now.Before(*d.EndsAt):
		status = "EXPIRED"
	}
	var value map[string]any
	if d.Percentage != nil {
		f, _ := d.Percentage.Float64()
		value = map[string]any{"__typename": "DiscountPercentage", "percentage": f}
	} else {
		value = map[string]any{"__typename": "DiscountAmount", "appliesOnEachItem": d.AppliesOnEachItem,
			"amount": map[string]any{"__typename": "MoneyV2", "amount": d.Amount.String(), "currencyCode": sh.currency()}}
	}
	ctx := map[string]any{"__typename": "DiscountBuyerSelectionAll", "all": "ALL"}
	if len(d.CustomerIDs) > 0 {
		var customers []any
		for _, id := range d.CustomerIDs {
			customers = append(customers, map[string]any{"__typename": "Customer", "id": gid("Customer", id), "legacyResourceId": strconv.FormatInt(id, 10)})
		}
		ctx = map[string]any{"__typename": "DiscountCustomers", "customers": customers}
	}
	var minimum any
	if d.MinimumSubtotal != nil {
		minimum = map[string]any{"__typename": "DiscountMinimumSubtotal",
			"greaterThanOrEqualToSubtotal": map[string]any{"__typename": "MoneyV2", "amount": d.MinimumSubtotal.String(), "currencyCode": sh.currency()}}
	}
	var usageLimit any
	if d.UsageLimit > 0 {
		usageLimit = d.UsageLimit
	}
	code := map[string]any{"__typename": "DiscountRedeemCode", "id": gid("DiscountRedeemCode", d.ID), "code": d.Code, "asyncUsageCount": d.UsageCount}
	codes := func(args map[string]any) any {
		c, err := connection([]int64{d.ID}, []map[string]any{code}, args)
		if err != nil {
			return nil
		}
		return c
	}
	return map[string]any{
		"__typename": "DiscountCodeNode",
		"id":         gid("DiscountCodeNode", d.ID),
		"codeDiscount": map[string]any{
			"__typename":             "DiscountCodeBasic",
			"title":                  d.Title,
			"status":                 status,
			"asyncUsageCount":        d.UsageCount,
			"usageLimit":             usageLimit,
			"appliesOncePerCustomer": d.AppliesOncePerCustomer,
			"startsAt":               ts(d.StartsAt),
			"endsAt":                 timeOrNil(d.EndsAt),
			"createdAt":              ts(d.StartsAt),
			"updatedAt":              ts(d.StartsAt),
			"codes":                  codes,
			"codesCount":             map[string]any{"__typename": "Count", "count": 1, "precision": "EXACT"},
			"context":                ctx,
			"customerGets": map[string]any{"__typename": "DiscountCustomerGets", "value": value,
				"items": map[string]any{"__typename": "AllDiscountItems", "allItems": true}},
			"minimumRequirement": minimum,
			"summary":            d.Title,
			"shortSummary":       d.Title,
		},
	}
}

func resolveCodeDiscountNodeByCode(s *Server, sh *shop, args map[string]any) (any, error) {
	d := sh.liveDiscount(stringArg(args, "code"))
	if d == nil {
		return nil, nil
	}
	return s.discountNode(sh, d), nil
}

// discountByGID is the live discount whose DiscountCodeNode gid is id;
// callers hold s.mu.
func (sh *shop) discountByGID(id string) *FakeDiscount {
	n := gidNumber(id, "DiscountCodeNode")
	if n == 0 {
		return nil
	}
	for _, d := range sh.discounts {
		if !d.Deleted && d.ID == n {
			return d
		}
	}
	return nil
}

func resolveDiscountCodeDelete(_ *Server, sh *shop, args map[string]any) (any, error) {
	id := stringArg(args, "id")
	d := sh.discountByGID(id)
	if d == nil {
		return map[string]any{"__typename": "DiscountCodeDeletePayload", "deletedCodeDiscountId": nil,
			"userErrors": []any{discountUserError("INVALID", "Discount does not exist", "id")}}, nil
	}
	d.Deleted = true
	return map[string]any{"__typename": "DiscountCodeDeletePayload", "deletedCodeDiscountId": id, "userErrors": []any{}}, nil
}
