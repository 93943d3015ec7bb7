package shopify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"

	"github.com/doorstep/doorstep/models"
)

// The GraphQL documents Doorstep sends. Each is checked against Shopify's
// 2026-07 schema by the fake in shopifytest, which refuses anything that
// does not validate.
const (
	shopInfoQuery = `query DoorstepShopInfo {
  shop {
    name
    email
    ianaTimezone
    currencyCode
    myshopifyDomain
  }
}`

	// uri replaces the deprecated callbackUrl/endpoint fields in 2026-07.
	webhookSubscriptionsQuery = `query DoorstepWebhookSubscriptions($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    pageInfo {
      hasNextPage
      endCursor
    }
    nodes {
      id
      topic
      uri
    }
  }
}`

	webhookSubscriptionCreateMutation = `mutation DoorstepWebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription {
      id
      topic
      uri
    }
    userErrors {
      field
      message
    }
  }
}`
)

// ShopInfo reads the shop's name, email, IANA timezone and currency.
// Errors: ErrUnauthorized (token revoked or expired), *RetryableError.
func (c *Client) ShopInfo(ctx context.Context, shopDomain, accessToken string) (models.Shop, error) {
	var resp struct {
		Shop struct {
			Name            string `json:"name"`
			Email           string `json:"email"`
			IanaTimezone    string `json:"ianaTimezone"`
			CurrencyCode    string `json:"currencyCode"`
			MyshopifyDomain string `json:"myshopifyDomain"`
		} `json:"shop"`
	}
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return models.Shop{}, fmt.Errorf("shop info: %w", err)
	}
	if err := c.graphQL(ctx, shop, accessToken, shopInfoQuery, nil, &resp); err != nil {
		return models.Shop{}, fmt.Errorf("shop info for %s: %w", shop, err)
	}
	domain := shop
	if d, err := NormalizeShopDomain(resp.Shop.MyshopifyDomain); err == nil {
		domain = d
	}
	return models.Shop{
		Platform: models.PlatformShopify,
		Domain:   domain,
		Name:     resp.Shop.Name,
		Email:    resp.Shop.Email,
		Timezone: resp.Shop.IanaTimezone,
		Currency: resp.Shop.CurrencyCode,
	}, nil
}

// TopicEnum turns a REST-style topic ("orders/create") into the GraphQL
// WebhookSubscriptionTopic value ("ORDERS_CREATE").
func TopicEnum(topic string) string {
	return strings.ToUpper(strings.ReplaceAll(topic, "/", "_"))
}

// complianceTopics can only be configured in shopify.app.toml.
var complianceTopics = map[string]bool{
	"customers/data_request": true,
	"customers/redact":       true,
	"shop/redact":            true,
}

type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

// RegisterWebhooks makes sure each topic (REST form, e.g. Topics) is
// subscribed to callbackURL, creating only the missing (topic, URL) pairs,
// so calling it again creates nothing. Subscriptions to other URLs are left
// alone. userErrors from Shopify are returned as errors.
func (c *Client) RegisterWebhooks(ctx context.Context, shopDomain, accessToken, callbackURL string, topics []string) error {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return fmt.Errorf("register webhooks: %w", err)
	}
	for _, t := range topics {
		if complianceTopics[t] {
			return fmt.Errorf("register webhooks: %s is a compliance topic: configure it in shopify.app.toml, not through the API", t)
		}
	}

	have := map[string]bool{} // TOPIC_ENUM + " " + uri
	var after *string
	for page := 0; ; page++ {
		if page > 100 {
			return fmt.Errorf("register webhooks for %s: more than 100 pages of subscriptions", shop)
		}
		var resp struct {
			WebhookSubscriptions struct {
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
				Nodes []struct {
					ID    string `json:"id"`
					Topic string `json:"topic"`
					URI   string `json:"uri"`
				} `json:"nodes"`
			} `json:"webhookSubscriptions"`
		}
		if err := c.graphQL(ctx, shop, accessToken, webhookSubscriptionsQuery, map[string]any{"after": after}, &resp); err != nil {
			return fmt.Errorf("list webhook subscriptions for %s: %w", shop, err)
		}
		for _, n := range resp.WebhookSubscriptions.Nodes {
			have[n.Topic+" "+n.URI] = true
		}
		pi := resp.WebhookSubscriptions.PageInfo
		if !pi.HasNextPage || pi.EndCursor == "" {
			break
		}
		cursor := pi.EndCursor
		after = &cursor
	}

	for _, t := range topics {
		enum := TopicEnum(t)
		if have[enum+" "+callbackURL] {
			continue
		}
		var resp struct {
			WebhookSubscriptionCreate struct {
				WebhookSubscription *struct {
					ID string `json:"id"`
				} `json:"webhookSubscription"`
				UserErrors []userError `json:"userErrors"`
			} `json:"webhookSubscriptionCreate"`
		}
		vars := map[string]any{
			"topic": enum,
			"webhookSubscription": map[string]any{
				"uri":    callbackURL,
				"format": "JSON",
			},
		}
		if err := c.graphQL(ctx, shop, accessToken, webhookSubscriptionCreateMutation, vars, &resp); err != nil {
			return fmt.Errorf("subscribe %s for %s: %w", t, shop, err)
		}
		if ue := resp.WebhookSubscriptionCreate.UserErrors; len(ue) > 0 {
			msgs := make([]string, len(ue))
			for i, e := range ue {
				msgs[i] = e.Message
				if len(e.Field) > 0 {
					msgs[i] = strings.Join(e.Field, ".") + ": " + e.Message
				}
			}
			return fmt.Errorf("subscribe %s for %s: %s", t, shop, strings.Join(msgs, "; "))
		}
		if resp.WebhookSubscriptionCreate.WebhookSubscription == nil {
			return fmt.Errorf("subscribe %s for %s: no subscription in the answer", t, shop)
		}
		have[enum+" "+callbackURL] = true
	}
	return nil
}

// graphQL runs one document for one shop. A go-shopify Client is not safe
// for concurrent use, so each call builds its own; they are cheap.
func (c *Client) graphQL(ctx context.Context, shop, token, doc string, vars, out any) (err error) {
	// go-shopify's error decoding panics on some error bodies (an "errors"
	// object holding a null); a remote answer must not crash a worker.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode shopify answer: %v", r)
		}
	}()
	gc, err := goshopify.NewClient(goshopify.App{ApiKey: c.cfg.APIKey, ApiSecret: c.cfg.APISecret}, shop, token,
		goshopify.WithVersion(c.cfg.APIVersion),
		goshopify.WithHTTPClient(c.apiHC),
	)
	if err != nil {
		return err
	}
	return classify(ctx, gc.GraphQL.Query(ctx, doc, vars, out))
}

// classify maps go-shopify's errors onto Doorstep's contract. go-shopify is
// built without retries (the default), so it returns THROTTLED and 429 at
// once instead of sleeping; the job queue does the waiting.
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var rl goshopify.RateLimitError
	if errors.As(err, &rl) {
		wait := time.Duration(rl.RetryAfter) * time.Second
		if wait <= 0 {
			wait = time.Second
		}
		return &RetryableError{RetryAfter: wait, Err: fmt.Errorf("throttled: %w", err)}
	}
	status := 0
	var re goshopify.ResponseError
	var de goshopify.ResponseDecodingError
	switch {
	case errors.As(err, &re):
		status = re.Status
	case errors.As(err, &de):
		status = de.Status
	}
	switch {
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case retryableStatus(status):
		return &RetryableError{Err: fmt.Errorf("HTTP %d: %w", status, err)}
	case status == http.StatusOK:
		// GraphQL errors other than THROTTLED: an invalid document, access
		// denied for a scope. Retrying won't help.
		return fmt.Errorf("graphql errors: %w", err)
	case status != 0:
		return fmt.Errorf("HTTP %d: %w", status, err)
	}
	if ctx.Err() != nil {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &RetryableError{Err: err}
	}
	return err
}
