package shopifytest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The fake keeps a product catalog per shop and answers products(first:,
// after:, query:, sortKey:, reverse:) from it, filtering on the search
// terms Doorstep sends (status, published_status, gift_card) and refusing
// any other term, so a query the fake can't honour fails loudly instead of
// answering the whole catalog.

// FakeProduct is a product the fake holds.
type FakeProduct struct {
	ID     int64 // of gid://shopify/Product/ID; 0: the fake picks one
	Title  string
	Handle string // "" → from the title
	// Status is ACTIVE, DRAFT, ARCHIVED or UNLISTED; "" means ACTIVE.
	Status string
	// Unpublished products are not on the online store: onlineStoreUrl
	// is null and published_status:published leaves them out.
	Unpublished bool
	GiftCard    bool
	// ImageURL is the featured image ("" for none); url(transform:)
	// answers it with the transform as query parameters, like Shopify's CDN.
	ImageURL, ImageAlt string
	// MinPrice and MaxPrice are variant prices ("12.50"); MaxPrice ""
	// means MinPrice.
	MinPrice, MaxPrice string
	Currency           string // "" → the shop's currency, else USD
	PublishedAt        time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// AddProducts adds products to shop's catalog (an unknown shop is added
// with default info). Products without an ID get one; without dates, each
// is published, created and updated a minute after the one before, so
// PUBLISHED_AT order is the order they were added in.
func (s *Server) AddProducts(shop string, ps ...FakeProduct) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureShop(shop)
	sh := s.shops[shop]
	for _, p := range ps {
		if p.ID == 0 {
			s.objectID++
			p.ID = s.objectID
		}
		if p.Handle == "" {
			p.Handle = strings.ToLower(strings.Join(strings.Fields(p.Title), "-"))
		}
		if p.Status == "" {
			p.Status = "ACTIVE"
		}
		if p.MaxPrice == "" {
			p.MaxPrice = p.MinPrice
		}
		if p.Currency == "" {
			p.Currency = sh.info.Currency
		}
		if p.Currency == "" {
			p.Currency = "USD"
		}
		at := s.now().Add(time.Duration(len(sh.products)) * time.Minute)
		for _, t := range []*time.Time{&p.PublishedAt, &p.CreatedAt, &p.UpdatedAt} {
			if t.IsZero() {
				*t = at
			}
		}
		sh.products = append(sh.products, p)
	}
}

// Products returns shop's catalog in the order it was added.
func (s *Server) Products(shop string) []FakeProduct {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[shop]; ok {
		return append([]FakeProduct(nil), sh.products...)
	}
	return nil
}

func (sh *shop) hasScope(handle string) bool {
	return slices.Contains(sh.accessScopes(), handle)
}

// productMatcher turns a products search query into a filter. Only the
// terms Doorstep sends are known; Shopify ANDs terms separated by spaces.
func productMatcher(query string) (func(FakeProduct) bool, error) {
	var tests []func(FakeProduct) bool
	for _, term := range strings.Fields(query) {
		key, value, ok := strings.Cut(term, ":")
		if !ok {
			return nil, fmt.Errorf("shopifytest: products query term %q (free text) is not implemented by the fake", term)
		}
		value = strings.ToLower(strings.Trim(value, `'"`))
		switch key {
		case "status":
			want := strings.Split(value, ",")
			tests = append(tests, func(p FakeProduct) bool { return slices.Contains(want, strings.ToLower(p.Status)) })
		case "published_status":
			switch value {
			case "published", "visible":
				tests = append(tests, func(p FakeProduct) bool { return !p.Unpublished })
			case "unpublished":
				tests = append(tests, func(p FakeProduct) bool { return p.Unpublished })
			default:
				return nil, fmt.Errorf("shopifytest: published_status:%s is not implemented by the fake", value)
			}
		case "gift_card":
			want := value == "true"
			tests = append(tests, func(p FakeProduct) bool { return p.GiftCard == want })
		default:
			return nil, fmt.Errorf("shopifytest: products query term %q is not implemented by the fake", term)
		}
	}
	return func(p FakeProduct) bool {
		for _, t := range tests {
			if !t(p) {
				return false
			}
		}
		return true
	}, nil
}

// productSortValue is what sortKey orders by; ties go by id, as on Shopify.
func productSortValue(p FakeProduct, key string) (string, error) {
	switch key {
	case "ID":
		return fmt.Sprintf("%020d", p.ID), nil
	case "TITLE":
		return strings.ToLower(p.Title), nil
	case "CREATED_AT":
		return p.CreatedAt.UTC().Format(time.RFC3339Nano), nil
	case "UPDATED_AT":
		return p.UpdatedAt.UTC().Format(time.RFC3339Nano), nil
	case "PUBLISHED_AT":
		return p.PublishedAt.UTC().Format(time.RFC3339Nano), nil
	}
	return "", fmt.Errorf("shopifytest: products sortKey %s is not implemented by the fake", key)
}

func resolveProducts(_ *Server, sh *shop, args map[string]any) (any, error) {
	if !sh.hasScope("read_products") {
		return nil, errors.New("access denied for products field: required access: `read_products` access scope")
	}
	first := toInt(args["first"])
	switch {
	case first == 0 && toInt(args["last"]) == 0:
		return nil, fmt.Errorf("you must provide one of first or last")
	case first > 250:
		return nil, fmt.Errorf("the first argument must be at most 250")
	case first == 0:
		return nil, fmt.Errorf("shopifytest: last/before pagination is not implemented by the fake")
	}
	match, err := productMatcher(stringArg(args, "query"))
	if err != nil {
		return nil, err
	}
	key := stringArg(args, "sortKey")
	if key == "" {
		key = "ID"
	}
	type sorted struct {
		p FakeProduct
		v string
	}
	var all []sorted
	for _, p := range sh.products {
		if !match(p) {
			continue
		}
		v, err := productSortValue(p, key)
		if err != nil {
			return nil, err
		}
		all = append(all, sorted{p, v})
	}
	slices.SortStableFunc(all, func(a, b sorted) int {
		if c := strings.Compare(a.v, b.v); c != 0 {
			return c
		}
		return int(a.p.ID - b.p.ID)
	})
	if reverse, _ := args["reverse"].(bool); reverse {
		slices.Reverse(all)
	}
	start := 0
	if after := stringArg(args, "after"); after != "" {
		id, err := idFromCursor(after)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(all, func(s sorted) bool { return s.p.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("invalid cursor")
		}
		start = i + 1
	}
	end := min(start+first, len(all))
	edges, nodes := []any{}, []any{}
	for _, s := range all[start:end] {
		n := productNode(sh, s.p)
		edges = append(edges, map[string]any{"cursor": cursorFor(s.p.ID), "node": n})
		nodes = append(nodes, n)
	}
	pi := map[string]any{"hasNextPage": end < len(all), "hasPreviousPage": start > 0, "startCursor": nil, "endCursor": nil}
	if end > start {
		pi["startCursor"] = cursorFor(all[start].p.ID)
		pi["endCursor"] = cursorFor(all[end-1].p.ID)
	}
	return map[string]any{"edges": edges, "nodes": nodes, "pageInfo": pi}, nil
}

// fakeMoney is a MoneyV2; Shopify writes a Decimal as a string ("12.5").
func fakeMoney(amount, currency string) map[string]any {
	d, err := decimal.NewFromString(amount)
	if err != nil {
		d = decimal.Zero
	}
	return map[string]any{"__typename": "MoneyV2", "amount": d.String(), "currencyCode": currency}
}

func productNode(sh *shop, p FakeProduct) map[string]any {
	gid := "gid://shopify/Product/" + strconv.FormatInt(p.ID, 10)
	var storeURL any
	if !p.Unpublished && p.Status == "ACTIVE" {
		storeURL = "https://" + sh.domain + "/products/" + p.Handle
	}
	var media any
	if p.ImageURL != "" {
		img := map[string]any{
			"__typename": "Image",
			"id":         "gid://shopify/ImageSource/" + strconv.FormatInt(p.ID, 10),
			"altText":    nullable(p.ImageAlt),
			"url":        func(args map[string]any) any { return transformedURL(p.ImageURL, args["transform"]) },
		}
		media = map[string]any{
			"__typename":       "MediaImage",
			"id":               "gid://shopify/MediaImage/" + strconv.FormatInt(p.ID, 10),
			"alt":              nullable(p.ImageAlt),
			"mediaContentType": "IMAGE",
			"status":           "READY",
			"image":            img,
			"preview":          map[string]any{"__typename": "MediaPreviewImage", "status": "READY", "image": img},
		}
	}
	return map[string]any{
		"__typename":       "Product",
		"id":               gid,
		"legacyResourceId": strconv.FormatInt(p.ID, 10),
		"title":            p.Title,
		"handle":           p.Handle,
		"status":           p.Status,
		"isGiftCard":       p.GiftCard,
		"onlineStoreUrl":   storeURL,
		"featuredMedia":    media,
		"createdAt":        p.CreatedAt.UTC().Format(time.RFC3339),
		"updatedAt":        p.UpdatedAt.UTC().Format(time.RFC3339),
		"publishedAt":      p.PublishedAt.UTC().Format(time.RFC3339),
		"priceRangeV2": map[string]any{
			"__typename":      "ProductPriceRangeV2",
			"minVariantPrice": fakeMoney(p.MinPrice, p.Currency),
			"maxVariantPrice": fakeMoney(p.MaxPrice, p.Currency),
		},
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// transformedURL adds an ImageTransformInput to an image URL the way
// Shopify's CDN takes it (width and height parameters).
func transformedURL(u string, transform any) string {
	t, _ := transform.(map[string]any)
	var params []string
	if w := toInt(t["maxWidth"]); w > 0 {
		params = append(params, "width="+strconv.Itoa(w))
	}
	if h := toInt(t["maxHeight"]); h > 0 {
		params = append(params, "height="+strconv.Itoa(h))
	}
	if len(params) == 0 {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + strings.Join(params, "&")
}
