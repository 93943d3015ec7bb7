package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/models"
)

// Subscription health. Shopify deletes a webhook subscription after its
// deliveries keep failing (an outage on our side, a bad deploy), and then
// nothing tells us about new orders until reconcile notices. Every
// SUBSCRIPTION_CHECK_INTERVAL each shop's subscriptions are listed and any
// topic missing for our callback URL is created again; a counter and a log
// line say it happened, because it means deliveries were failing.

// TypeSubscriptionsCheck is the periodic per-shop subscription check.
const TypeSubscriptionsCheck = "shop:check_subscriptions"

// WebhookSubscription is one subscription as the platform lists it. Topic
// is in the REST form ("orders/create") or the GraphQL enum form
// ("ORDERS_CREATE"); both compare equal.
type WebhookSubscription struct {
	ID    string
	Topic string
	URI   string
}

// WebhookAPI lists and creates a shop's webhook subscriptions.
// RegisterWebhooks creates only the (topic, URL) pairs that are missing.
type WebhookAPI interface {
	WebhookSubscriptions(ctx context.Context, shop, token string) ([]WebhookSubscription, error)
	RegisterWebhooks(ctx context.Context, shop, token, callbackURL string, topics []string) error
}

// NewSubscriptionsTask builds the check of one shop for one window.
func NewSubscriptionsTask(shopID uint64, window time.Time, period time.Duration) (*asynq.Task, []asynq.Option) {
	return windowTask(TypeSubscriptionsCheck, "subscriptions", shopID, window, period)
}

// SubscriptionChecker handles shop:check_subscriptions.
type SubscriptionChecker struct {
	store       *models.Store
	api         WebhookAPI
	tokens      TokenSource
	callbackURL string
	topics      []string
	metrics     *Metrics
	log         *slog.Logger
}

// NewSubscriptionChecker builds the check: every topic in topics must be
// subscribed to callbackURL. m may be nil.
func NewSubscriptionChecker(store *models.Store, api WebhookAPI, tokens TokenSource, callbackURL string, topics []string,
	m *Metrics, log *slog.Logger) *SubscriptionChecker {
	return &SubscriptionChecker{store: store, api: api, tokens: tokens, callbackURL: callbackURL,
		topics: append([]string(nil), topics...), metrics: m, log: log}
}

// ProcessTask implements asynq.Handler.
func (c *SubscriptionChecker) ProcessTask(ctx context.Context, t *asynq.Task) error {
	pl, err := decode[WindowPayload](t)
	if err != nil {
		return err
	}
	shop, err := c.store.ShopByID(ctx, pl.ShopID)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = c.Check(ctx, shop)
	return err
}

// Check recreates the shop's missing subscriptions and returns the topics
// it recreated. Uninstalled shops and shops without a usable token are
// skipped.
func (c *SubscriptionChecker) Check(ctx context.Context, shop models.Shop) ([]string, error) {
	if !shop.Installed() || shop.NeedsReauth {
		return nil, nil
	}
	token, err := c.tokens.AccessToken(ctx, shop)
	if errors.Is(err, models.ErrNoToken) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("check subscriptions of %s: access token: %w", shop.Domain, err)
	}
	subs, err := c.api.WebhookSubscriptions(ctx, shop.Domain, token)
	if err != nil {
		return nil, c.apiErr(ctx, shop, fmt.Errorf("list subscriptions: %w", err))
	}
	have := map[string]bool{}
	for _, s := range subs {
		if s.URI == c.callbackURL {
			have[topicKey(s.Topic)] = true
		}
	}
	var missing []string
	for _, t := range c.topics {
		if !have[topicKey(t)] {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if err := c.api.RegisterWebhooks(ctx, shop.Domain, token, c.callbackURL, missing); err != nil {
		return nil, c.apiErr(ctx, shop, fmt.Errorf("recreate subscriptions %v: %w", missing, err))
	}
	for _, t := range missing {
		if c.metrics != nil {
			c.metrics.SubscriptionsRecreated.WithLabelValues(t).Inc()
		}
	}
	c.log.Warn("webhook subscriptions were missing and have been recreated (Shopify deletes them after failed deliveries)",
		"shop", shop.Domain, "topics", strings.Join(missing, ","))
	return missing, nil
}

func (c *SubscriptionChecker) apiErr(ctx context.Context, shop models.Shop, err error) error {
	if errors.Is(err, ErrUnauthorized) {
		if merr := c.store.MarkNeedsReauth(ctx, shop.ID); merr != nil {
			c.log.Error("mark needs reauth", "shop", shop.Domain, "err", merr)
		}
		return fmt.Errorf("check subscriptions of %s: %w: %w", shop.Domain, err, asynq.SkipRetry)
	}
	return fmt.Errorf("check subscriptions of %s: %w", shop.Domain, err)
}

// topicKey compares "orders/create" and "ORDERS_CREATE" as equal.
func topicKey(t string) string {
	return strings.ToUpper(strings.ReplaceAll(t, "/", "_"))
}
