package config

import (
	"errors"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad_DefaultsNeedNoVariables(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.ShopifyAPIVersion != "2026-07" || c.ShopifyAPIBaseURL != "https://{shop}" ||
		c.WebhookMaxBytes != 8<<20 || !c.Embedded() || strings.Join(c.ShopifyScopes, ",") !=
		"read_orders,read_all_orders,read_customers,read_products,write_discounts,read_returns" {
		t.Fatalf("defaults = %+v", c)
	}
	if c.ShopBaseURL("a.myshopify.com") != "https://a.myshopify.com" {
		t.Fatalf("ShopBaseURL = %s", c.ShopBaseURL("a.myshopify.com"))
	}
}

func TestLoad_BadValueNamesTheVariable(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"DATABASE_URL":                "mysql://x",
		"REDIS_URL":                   "localhost:6379",
		"PORT":                        "eighty",
		"APP_URL":                     "doorstep.example.com",
		"SHOPIFY_API_VERSION":         "latest",
		"SHOPIFY_API_BASE_URL":        "ftp://{shop}",
		"DOORSTEP_ENCRYPTION_KEY":     "dG9vIHNob3J0",
		"WEBHOOK_MAX_BYTES":           "-1",
		"LOG_LEVEL":                   "loud",
		"SHOPIFY_SCOPES":              " , ",
		"DELIVERY_RETENTION_DAYS":     "0",
		"RECONCILE_INTERVAL":          "10",
		"SUBSCRIPTION_CHECK_INTERVAL": "5s",
	}
	for v, val := range cases {
		_, err := Load(env(map[string]string{v: val}))
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != v || !strings.Contains(err.Error(), v) {
			t.Errorf("%s=%q: err = %v, want an error naming %s", v, val, err, v)
		}
	}
}

func TestRequireServe_NamesMissingVariables(t *testing.T) {
	t.Parallel()
	c, _ := Load(env(nil))
	err := c.RequireServe()
	for _, v := range []string{"APP_URL", "SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "DOORSTEP_ENCRYPTION_KEY"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("missing %s not named: %v", v, err)
		}
	}
	c, err = Load(env(map[string]string{
		"APP_URL": "https://doorstep.example.com/", "SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s",
		"DOORSTEP_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"SHOPIFY_API_BASE_URL":    "http://127.0.0.1:9999/{shop}",
	}))
	if err != nil || c.RequireServe() != nil {
		t.Fatalf("complete config refused: %v / %v", err, c.RequireServe())
	}
	if c.AppURL != "https://doorstep.example.com" || c.ShopBaseURL("a.myshopify.com") != "http://127.0.0.1:9999/a.myshopify.com" {
		t.Fatalf("AppURL %q, base %q", c.AppURL, c.ShopBaseURL("a.myshopify.com"))
	}
}

func TestString_MasksSecrets(t *testing.T) {
	t.Parallel()
	c, _ := Load(env(map[string]string{"SHOPIFY_API_SECRET": "supersecret", "DATABASE_URL": "postgres://u:pw@db/x",
		"DOORSTEP_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}))
	s := c.String()
	for _, secret := range []string{"supersecret", "pw@", "0123456789abcdef"} {
		if strings.Contains(s, secret) {
			t.Fatalf("String() leaks %q: %s", secret, s)
		}
	}
}
