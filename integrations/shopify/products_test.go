package shopify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
)

const catalogShop = "catalog.myshopify.com"

func catalogClient(t *testing.T) (*shopifytest.Server, *Client, string) {
	t.Helper()
	fake := shopifytest.New(t)
	fake.AddShop(catalogShop, shopifytest.ShopInfo{Name: "Catalog", Currency: "EUR"})
	c := New(Config{APIKey: fake.APIKey, APISecret: fake.APISecret, BaseURL: fake.BaseURL()})
	return fake, c, fake.AccessToken(catalogShop)
}

func TestCatalogProducts_ActivePublishedNewestFirstWithImageAndPrices(t *testing.T) {
	t.Parallel()
	fake, c, token := catalogClient(t)
	fake.AddProducts(catalogShop,
		shopifytest.FakeProduct{ID: 101, Title: "Green Tea", ImageURL: "https://cdn.shopify.com/tea.png", ImageAlt: "A tin of tea", MinPrice: "9.5"},
		shopifytest.FakeProduct{ID: 102, Title: "Draft Kettle", Status: "DRAFT", MinPrice: "40"},
		shopifytest.FakeProduct{ID: 103, Title: "Hidden Cup", Unpublished: true, MinPrice: "5"},
		shopifytest.FakeProduct{ID: 104, Title: "Gift Card", GiftCard: true, MinPrice: "25"},
		shopifytest.FakeProduct{ID: 105, Title: "Teapot", MinPrice: "30", MaxPrice: "45.90", Currency: "USD"},
	)
	got, err := c.CatalogProducts(context.Background(), catalogShop, token, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != 105 || got[1].ID != 101 {
		t.Fatalf("products = %+v, want the teapot then the tea (active, published, not gift cards, newest first)", got)
	}
	pot, tea := got[0], got[1]
	if pot.Title != "Teapot" || pot.URL != "https://"+catalogShop+"/products/teapot" || pot.ImageURL != "" ||
		pot.MinPrice.String() != "30" || pot.MaxPrice.String() != "45.9" || pot.Currency != "USD" {
		t.Errorf("teapot = %+v", pot)
	}
	if !strings.HasPrefix(tea.ImageURL, "https://cdn.shopify.com/tea.png?") || !strings.Contains(tea.ImageURL, "width=400") ||
		tea.ImageAlt != "A tin of tea" || !tea.MinPrice.Equal(tea.MaxPrice) || tea.Currency != "EUR" {
		t.Errorf("tea = %+v", tea)
	}

	// n bounds the page.
	if got, err := c.CatalogProducts(context.Background(), catalogShop, token, 1); err != nil || len(got) != 1 || got[0].ID != 105 {
		t.Errorf("first 1 = %+v, %v", got, err)
	}
	for _, n := range []int{0, MaxCatalogProducts + 1} {
		if _, err := c.CatalogProducts(context.Background(), catalogShop, token, n); err == nil {
			t.Errorf("n = %d: no error", n)
		}
	}
}

func TestCatalogProducts_EmptyCatalogIsNoProductsNoError(t *testing.T) {
	t.Parallel()
	_, c, token := catalogClient(t)
	got, err := c.CatalogProducts(context.Background(), catalogShop, token, 4)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty catalog = %+v, %v", got, err)
	}
}

func TestCatalogProducts_Errors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		setup         func(fake *shopifytest.Server)
		retry, unauth bool
	}{
		{"5xx", func(f *shopifytest.Server) { f.FailNext(catalogShop, "products", 1, shopifytest.FailHTTP500) }, true, false},
		{"revoked", func(f *shopifytest.Server) { f.RevokeTokens(catalogShop) }, false, true},
		{"no read_products", func(f *shopifytest.Server) { f.SetAccessScopes(catalogShop, "read_orders") }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake, c, token := catalogClient(t)
			fake.AddProducts(catalogShop, shopifytest.FakeProduct{Title: "Tea", MinPrice: "9"})
			tc.setup(fake)
			got, err := c.CatalogProducts(context.Background(), catalogShop, token, 4)
			if err == nil {
				t.Fatalf("no error, products %+v", got)
			}
			if errors.As(err, new(*RetryableError)) != tc.retry || errors.Is(err, ErrUnauthorized) != tc.unauth {
				t.Errorf("err = %v: retryable %v, unauthorized %v; want %v, %v", err,
					errors.As(err, new(*RetryableError)), errors.Is(err, ErrUnauthorized), tc.retry, tc.unauth)
			}
		})
	}
}
