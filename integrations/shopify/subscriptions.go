package shopify

import (
	"context"
	"fmt"
	"strings"
)

// Subscription is a webhook subscription as Shopify holds it: Topic in
// REST form ("orders/create"), URI the delivery address, ID its GID.
type Subscription struct{ ID, Topic, URI string }

// webhookSubscriptionsCost: a connection of 100 WebhookSubscription objects.
const webhookSubscriptionsCost = 2 + 100*1

// WebhookSubscriptions lists the shop's webhook subscriptions as they stand
// (Shopify deletes one after repeated failed deliveries), for health
// checks. Errors: ErrUnauthorized, *RetryableError, others permanent.
func (c *Client) WebhookSubscriptions(ctx context.Context, shopDomain, token string) ([]Subscription, error) {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return nil, fmt.Errorf("webhook subscriptions: %w", err)
	}
	var out []Subscription
	var after any
	for page := 0; ; page++ {
		if page > 100 {
			return nil, fmt.Errorf("webhook subscriptions for %s: more than 100 pages", shop)
		}
		var resp struct {
			WebhookSubscriptions struct {
				PageInfo pageInfo `json:"pageInfo"`
				Nodes    []struct {
					ID    string `json:"id"`
					Topic string `json:"topic"`
					URI   string `json:"uri"`
				} `json:"nodes"`
			} `json:"webhookSubscriptions"`
		}
		if _, err := c.do(ctx, shop, token, webhookSubscriptionsQuery, map[string]any{"after": after}, webhookSubscriptionsCost, &resp); err != nil {
			return nil, fmt.Errorf("webhook subscriptions for %s: %w", shop, err)
		}
		for _, n := range resp.WebhookSubscriptions.Nodes {
			out = append(out, Subscription{ID: n.ID, Topic: TopicREST(n.Topic), URI: n.URI})
		}
		pi := resp.WebhookSubscriptions.PageInfo
		if !pi.HasNextPage || pi.EndCursor == "" {
			return out, nil
		}
		after = pi.EndCursor
	}
}

// multiWordResources are REST topic resources with an underscore in them,
// where "the first underscore is the slash" would split wrongly.
var multiWordResources = []string{
	"fulfillment_events", "fulfillment_orders", "fulfillment_holds", "draft_orders", "order_transactions",
	"inventory_items", "inventory_levels", "customer_groups", "customer_account_settings",
	"customers_email_marketing_consent", "customers_marketing_consent", "customer_payment_methods",
	"product_listings", "product_feeds", "product_publications", "selling_plan_groups",
	"subscription_contracts", "subscription_billing_attempts", "subscription_billing_cycles",
	"subscription_billing_cycle_edits", "app_subscriptions", "app_purchases_one_time",
	"bulk_operations", "tender_transactions", "payment_terms", "payment_schedules",
	"shipping_addresses", "delivery_promise_settings", "company_contacts", "company_locations",
	"company_contact_roles", "scheduled_product_listings", "variants_in_stock", "variants_out_of_stock",
}

// TopicREST turns a WebhookSubscriptionTopic ("ORDERS_PARTIALLY_FULFILLED")
// into its REST form ("orders/partially_fulfilled"), the inverse of
// TopicEnum.
func TopicREST(enum string) string {
	for _, t := range Topics {
		if TopicEnum(t) == enum {
			return t
		}
	}
	low := strings.ToLower(enum)
	for _, r := range multiWordResources {
		if rest, ok := strings.CutPrefix(low, r+"_"); ok {
			return r + "/" + rest
		}
	}
	if res, rest, ok := strings.Cut(low, "_"); ok {
		return res + "/" + rest
	}
	return low
}
