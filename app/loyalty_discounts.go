package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// shopifyDiscounts is jobs.Discounts over the Shopify client: each call
// takes a fresh offline token for the shop (refreshed when about to
// expire), and on a 401 refreshes once and retries, as the sync jobs do.
// Shopify's discount errors become the sentinels jobs decides on.
type shopifyDiscounts struct {
	a *App
}

var _ jobs.Discounts = shopifyDiscounts{}

// withToken runs call with the shop's token and, if Shopify refuses it,
// once more with a refreshed one.
func (d shopifyDiscounts) withToken(ctx context.Context, shop models.Shop, call func(token string) error) error {
	tok, err := d.a.AccessToken(ctx, shop)
	if err != nil {
		return fmt.Errorf("access token for %s: %w", shop.Domain, err)
	}
	err = call(tok)
	if errors.Is(err, shopify.ErrUnauthorized) {
		fresh, rerr := d.a.refreshRejected(ctx, shop.Domain, tok)
		if rerr == nil && fresh != tok {
			err = call(fresh)
		}
	}
	return discountErr(err)
}

// discountErr keeps Shopify's error (its text and its type, e.g.
// *shopify.RetryableError) and adds the sentinel jobs tests for.
func discountErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, shopify.ErrDiscountCodeTaken):
		return fmt.Errorf("%w: %w", jobs.ErrCodeTaken, err)
	case errors.Is(err, shopify.ErrDiscountRejected):
		return fmt.Errorf("%w: %w", jobs.ErrCodeRejected, err)
	case errors.Is(err, shopify.ErrUnauthorized):
		return fmt.Errorf("%w: %w", jobs.ErrUnauthorized, err)
	}
	return err
}

func (d shopifyDiscounts) CreateDiscountCode(ctx context.Context, shop models.Shop, dc jobs.DiscountCode) (string, error) {
	in := shopify.DiscountCode{
		Code: dc.Code, Title: dc.Title, Percentage: dc.Percentage, Amount: dc.Amount,
		CustomerID: dc.CustomerID, UsageLimit: dc.UsageLimit, AppliesOncePerCustomer: dc.OncePerCustomer,
		StartsAt: dc.StartsAt, EndsAt: dc.EndsAt,
	}
	var out shopify.CreatedDiscount
	err := d.withToken(ctx, shop, func(tok string) (err error) {
		out, err = d.a.shopify.CreateDiscountCode(ctx, shop.Domain, tok, in)
		return err
	})
	if err != nil {
		return "", err
	}
	return out.ID, nil
}

func (d shopifyDiscounts) DiscountCodeByCode(ctx context.Context, shop models.Shop, code string) (*jobs.DiscountInfo, error) {
	var info *shopify.DiscountInfo
	err := d.withToken(ctx, shop, func(tok string) (err error) {
		info, err = d.a.shopify.DiscountCodeByCode(ctx, shop.Domain, tok, code)
		return err
	})
	if err != nil || info == nil {
		return nil, err
	}
	return &jobs.DiscountInfo{ID: info.ID, Code: info.Code, Status: info.Status, UsageCount: info.UsageCount}, nil
}

func (d shopifyDiscounts) DeleteDiscountCode(ctx context.Context, shop models.Shop, id string) error {
	return d.withToken(ctx, shop, func(tok string) error {
		return d.a.shopify.DeleteDiscountCode(ctx, shop.Domain, tok, id)
	})
}
