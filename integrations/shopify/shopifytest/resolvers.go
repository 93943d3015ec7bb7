package shopifytest

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

func resolveShop(_ *Server, sh *shop, _ map[string]any) (any, error) {
	return map[string]any{
		"__typename":      "Shop",
		"id":              fmt.Sprintf("gid://shopify/Shop/%d", sh.id),
		"name":            sh.info.Name,
		"email":           sh.info.Email,
		"contactEmail":    sh.info.Email,
		"ianaTimezone":    sh.info.Timezone,
		"currencyCode":    sh.info.Currency,
		"myshopifyDomain": sh.domain,
	}, nil
}

func subscriptionNode(sub Subscription) map[string]any {
	return map[string]any{
		"__typename":          "WebhookSubscription",
		"id":                  fmt.Sprintf("gid://shopify/WebhookSubscription/%d", sub.ID),
		"legacyResourceId":    strconv.FormatInt(sub.ID, 10),
		"topic":               sub.Topic,
		"uri":                 sub.URI,
		"callbackUrl":         sub.URI,
		"format":              sub.Format,
		"apiVersion":          map[string]any{"__typename": "ApiVersion", "handle": Version, "displayName": Version, "supported": true},
		"includeFields":       []any{},
		"metafieldNamespaces": []any{},
		"metafields":          []any{},
		"endpoint": map[string]any{
			"__typename":  "WebhookHttpEndpoint",
			"callbackUrl": sub.URI,
		},
	}
}

func cursorFor(id int64) string {
	return base64.StdEncoding.EncodeToString([]byte(`{"last_id":` + strconv.FormatInt(id, 10) + `}`))
}

func idFromCursor(c string) (int64, error) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, fmt.Errorf("invalid cursor")
	}
	s := strings.TrimSuffix(strings.TrimPrefix(string(b), `{"last_id":`), "}")
	return strconv.ParseInt(s, 10, 64)
}

// connection pages nodes (ordered by id) like Shopify: first/after only,
// which is all Doorstep uses; Shopify requires first or last.
func connection(ids []int64, nodes []map[string]any, args map[string]any) (any, error) {
	first := toInt(args["first"])
	if first == 0 && toInt(args["last"]) == 0 {
		return nil, fmt.Errorf("you must provide one of first or last")
	}
	if first > 250 {
		return nil, fmt.Errorf("the first argument must be at most 250")
	}
	if first == 0 {
		return nil, fmt.Errorf("shopifytest: last/before pagination is not implemented by the fake")
	}
	start := 0
	if after, _ := args["after"].(string); after != "" {
		id, err := idFromCursor(after)
		if err != nil {
			return nil, err
		}
		for start < len(ids) && ids[start] <= id {
			start++
		}
	}
	end := min(start+first, len(ids))
	edges := []any{}
	page := []any{}
	for i := start; i < end; i++ {
		edges = append(edges, map[string]any{"cursor": cursorFor(ids[i]), "node": nodes[i]})
		page = append(page, nodes[i])
	}
	pi := map[string]any{"hasNextPage": end < len(ids), "hasPreviousPage": start > 0, "startCursor": nil, "endCursor": nil}
	if end > start {
		pi["startCursor"] = cursorFor(ids[start])
		pi["endCursor"] = cursorFor(ids[end-1])
	}
	return map[string]any{"edges": edges, "nodes": page, "pageInfo": pi}, nil
}

func resolveWebhookSubscriptions(_ *Server, sh *shop, args map[string]any) (any, error) {
	topics := map[string]bool{}
	if ts, ok := args["topics"].([]any); ok {
		for _, t := range ts {
			topics[fmt.Sprint(t)] = true
		}
	}
	uri, _ := args["uri"].(string)
	if uri == "" {
		uri, _ = args["callbackUrl"].(string)
	}
	var ids []int64
	var nodes []map[string]any
	for _, sub := range sh.subs {
		if len(topics) > 0 && !topics[sub.Topic] {
			continue
		}
		if uri != "" && sub.URI != uri {
			continue
		}
		ids = append(ids, sub.ID)
		nodes = append(nodes, subscriptionNode(sub))
	}
	return connection(ids, nodes, args)
}

func userErrors(field []string, msg string) map[string]any {
	return map[string]any{"__typename": "WebhookSubscriptionCreatePayload", "webhookSubscription": nil,
		"userErrors": []any{map[string]any{"__typename": "UserError", "field": field, "message": msg}}}
}

func resolveWebhookSubscriptionCreate(s *Server, sh *shop, args map[string]any) (any, error) {
	topic := fmt.Sprint(args["topic"])
	in, _ := args["webhookSubscription"].(map[string]any)
	uri, _ := in["uri"].(string)
	if uri == "" {
		uri, _ = in["callbackUrl"].(string)
	}
	format, _ := in["format"].(string)
	if format == "" {
		format = "JSON"
	}
	switch {
	case uri == "":
		return userErrors([]string{"webhookSubscription", "callbackUrl"}, "Address can't be blank"), nil
	case !strings.HasPrefix(uri, "https://") && !strings.HasPrefix(uri, "pubsub://") && !strings.HasPrefix(uri, "arn:aws:events:"):
		return userErrors([]string{"webhookSubscription", "callbackUrl"}, "Address protocol "+strings.SplitN(uri, ":", 2)[0]+" is not supported"), nil
	}
	for _, sub := range sh.subs {
		if sub.Topic == topic && sub.URI == uri {
			return userErrors([]string{"webhookSubscription", "callbackUrl"}, "Address for this topic has already been taken"), nil
		}
	}
	s.nextID++
	sub := Subscription{ID: s.nextID, Topic: topic, URI: uri, Format: format}
	sh.subs = append(sh.subs, sub)
	return map[string]any{"__typename": "WebhookSubscriptionCreatePayload", "webhookSubscription": subscriptionNode(sub), "userErrors": []any{}}, nil
}

func resolveWebhookSubscriptionDelete(_ *Server, sh *shop, args map[string]any) (any, error) {
	gid := fmt.Sprint(args["id"])
	for i, sub := range sh.subs {
		if fmt.Sprintf("gid://shopify/WebhookSubscription/%d", sub.ID) == gid {
			sh.subs = append(sh.subs[:i], sh.subs[i+1:]...)
			return map[string]any{"deletedWebhookSubscriptionId": gid, "userErrors": []any{}}, nil
		}
	}
	return map[string]any{"deletedWebhookSubscriptionId": nil,
		"userErrors": []any{map[string]any{"field": []string{"id"}, "message": "Webhook subscription does not exist"}}}, nil
}
