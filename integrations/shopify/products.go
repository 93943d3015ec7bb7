package shopify

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"
)

// The Admin API has no productRecommendations (that is the Storefront
// API's, and needs a storefront token and a product to start from), so
// products for a shopper to look at come from the catalog itself: the
// newest active products published to the online store. Choosing among
// them is the caller's business.

// catalogQuery asks for what a product card needs. featuredMedia and
// priceRangeV2 replace featuredImage and priceRange, deprecated in
// 2026-07; the image is asked for small, as a card shows it.
const catalogQuery = `query DoorstepCatalogProducts($first: Int!, $query: String!) {
  products(first: $first, query: $query, sortKey: PUBLISHED_AT, reverse: true) {
    nodes {
      id
      title
      onlineStoreUrl
      featuredMedia {
        alt
        preview {
          image {
            url(transform: {maxWidth: 400, maxHeight: 400})
            altText
          }
        }
      }
      priceRangeV2 {
        minVariantPrice {
          amount
          currencyCode
        }
        maxVariantPrice {
          amount
          currencyCode
        }
      }
    }
  }
}`

// catalogFilter keeps what a shopper can buy on the storefront: active,
// published to the online store, not a gift card.
const catalogFilter = "status:active published_status:published gift_card:false"

// MaxCatalogProducts bounds CatalogProducts' n: a page of cards, not a sync.
const MaxCatalogProducts = 50

// CatalogProduct is a product as a storefront card shows it.
type CatalogProduct struct {
	ID    int64
	Title string
	// URL is the product's page on the online store ("" if Shopify gave
	// none: not published there after all).
	URL string
	// ImageURL is the featured image, sized for a card ("" without one).
	ImageURL, ImageAlt string
	// MinPrice and MaxPrice are the cheapest and dearest variant's price.
	MinPrice, MaxPrice decimal.Decimal
	Currency           string
}

type moneyV2 struct {
	Amount       decimal.Decimal `json:"amount"`
	CurrencyCode string          `json:"currencyCode"`
}

// CatalogProducts returns up to n (1 to MaxCatalogProducts) active products
// published to the shop's online store, most recently published first.
// Errors: ErrUnauthorized, *RetryableError, others permanent.
func (c *Client) CatalogProducts(ctx context.Context, shopDomain, accessToken string, n int) ([]CatalogProduct, error) {
	shop, err := NormalizeShopDomain(shopDomain)
	if err != nil {
		return nil, fmt.Errorf("catalog products: %w", err)
	}
	if n < 1 || n > MaxCatalogProducts {
		return nil, fmt.Errorf("catalog products for %s: n = %d, want 1 to %d", shop, n, MaxCatalogProducts)
	}
	var resp struct {
		Products struct {
			Nodes []struct {
				ID             string  `json:"id"`
				Title          string  `json:"title"`
				OnlineStoreURL *string `json:"onlineStoreUrl"`
				FeaturedMedia  *struct {
					Alt     *string `json:"alt"`
					Preview *struct {
						Image *struct {
							URL     string  `json:"url"`
							AltText *string `json:"altText"`
						} `json:"image"`
					} `json:"preview"`
				} `json:"featuredMedia"`
				PriceRangeV2 struct {
					MinVariantPrice moneyV2 `json:"minVariantPrice"`
					MaxVariantPrice moneyV2 `json:"maxVariantPrice"`
				} `json:"priceRangeV2"`
			} `json:"nodes"`
		} `json:"products"`
	}
	vars := map[string]any{"first": n, "query": catalogFilter}
	if err := c.graphQL(ctx, shop, accessToken, catalogQuery, vars, &resp); err != nil {
		return nil, fmt.Errorf("catalog products for %s: %w", shop, err)
	}
	out := make([]CatalogProduct, 0, len(resp.Products.Nodes))
	for _, p := range resp.Products.Nodes {
		cp := CatalogProduct{
			ID: gidID(p.ID), Title: p.Title,
			MinPrice: p.PriceRangeV2.MinVariantPrice.Amount, MaxPrice: p.PriceRangeV2.MaxVariantPrice.Amount,
			Currency: p.PriceRangeV2.MinVariantPrice.CurrencyCode,
		}
		if p.OnlineStoreURL != nil {
			cp.URL = *p.OnlineStoreURL
		}
		if m := p.FeaturedMedia; m != nil && m.Preview != nil && m.Preview.Image != nil {
			cp.ImageURL = m.Preview.Image.URL
			// The media's alt is what the merchant wrote for it; the
			// image's is the older place for the same words.
			switch {
			case m.Alt != nil && *m.Alt != "":
				cp.ImageAlt = *m.Alt
			case m.Preview.Image.AltText != nil:
				cp.ImageAlt = *m.Preview.Image.AltText
			}
		}
		out = append(out, cp)
	}
	return out, nil
}
