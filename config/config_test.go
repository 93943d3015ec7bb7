package config

import (
	"errors"
	"runtime"
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
		"WORKER_CONCURRENCY":          "0",
		"INTAKE_CONCURRENCY":          "1001",
		"SEND_CONCURRENCY":            "many",
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

// badVars lists the variables named by the *Error values joined in err.
func badVars(err error) []string {
	var vars []string
	var walk func(error)
	walk = func(err error) {
		var ce *Error
		if errors.As(err, &ce) && err == error(ce) {
			vars = append(vars, ce.Var)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return vars
}

func TestLoad_MessagingBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	const (
		sid   = "AC0123456789abcdef0123456789abcdef"
		from  = "Shop <orders@example.com>"
		relay = "smtp://user:pw@smtp.example.com:587"
	)
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"SMTPURLWrongScheme", map[string]string{"SMTP_URL": "http://smtp.example.com", "SMTP_FROM": from}, []string{"SMTP_URL"}},
		{"SMTPURLNoScheme", map[string]string{"SMTP_URL": "smtp.example.com:587", "SMTP_FROM": from}, []string{"SMTP_URL"}},
		{"SMTPURLNoHost", map[string]string{"SMTP_URL": "smtps://user:pw@:465", "SMTP_FROM": from}, []string{"SMTP_URL"}},
		{"SMTPURLUnparseable", map[string]string{"SMTP_URL": "smtp://u:p@h:port%zz", "SMTP_FROM": from}, []string{"SMTP_URL"}},
		{"SMTPFromMissing", map[string]string{"SMTP_URL": relay}, []string{"SMTP_FROM"}},
		{"SMTPFromNotAnAddress", map[string]string{"SMTP_URL": relay, "SMTP_FROM": "orders at example"}, []string{"SMTP_FROM"}},
		{"SMTPFromAloneStillChecked", map[string]string{"SMTP_FROM": "<<>>"}, []string{"SMTP_FROM"}},
		{"TwilioSIDOnly", map[string]string{"TWILIO_ACCOUNT_SID": sid}, []string{"TWILIO_AUTH_TOKEN", "TWILIO_FROM"}},
		{"TwilioFromMissing", map[string]string{"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": "tok"}, []string{"TWILIO_FROM"}},
		{"TwilioSIDMissing", map[string]string{"TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM": "+15005550006"}, []string{"TWILIO_ACCOUNT_SID"}},
		{"TwilioSIDNotAccount", map[string]string{"TWILIO_ACCOUNT_SID": "SK0123", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM": "+15005550006"}, []string{"TWILIO_ACCOUNT_SID"}},
		{"TwilioBaseURLNotHTTP", map[string]string{"TWILIO_API_BASE_URL": "api.twilio.com"}, []string{"TWILIO_API_BASE_URL"}},
		{"TwilioBaseURLFTP", map[string]string{"TWILIO_API_BASE_URL": "ftp://api.twilio.com"}, []string{"TWILIO_API_BASE_URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(env(tc.env))
			if got := strings.Join(badVars(err), ","); got != strings.Join(tc.want, ",") {
				t.Fatalf("bad variables = %q, want %q (err: %v)", got, strings.Join(tc.want, ","), err)
			}
			if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "tok") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestLoad_WorkerPools(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	// Intake is CPU work: by default one batch per core, never fewer than 2.
	if want := max(2, runtime.GOMAXPROCS(0)); c.IntakeConcurrency != want || c.WorkerConcurrency != 10 || c.SendConcurrency != 20 {
		t.Fatalf("pools = intake %d, sync %d, send %d; want %d, 10, 20", c.IntakeConcurrency, c.WorkerConcurrency, c.SendConcurrency, want)
	}
	c, err = Load(env(map[string]string{"INTAKE_CONCURRENCY": " 3 ", "WORKER_CONCURRENCY": "4", "SEND_CONCURRENCY": "50"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.IntakeConcurrency != 3 || c.WorkerConcurrency != 4 || c.SendConcurrency != 50 {
		t.Fatalf("pools = intake %d, sync %d, send %d; want 3, 4, 50", c.IntakeConcurrency, c.WorkerConcurrency, c.SendConcurrency)
	}
}

func TestLoad_MessagingDefaultsAndValidValues(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "" || c.TwilioAccountSID != "" || c.TwilioAPIBaseURL != "https://api.twilio.com" {
		t.Fatalf("messaging defaults = %q %q %q", c.SMTPURL, c.TwilioAccountSID, c.TwilioAPIBaseURL)
	}
	c, err = Load(env(map[string]string{
		"SMTP_URL": " smtps://user:pw@smtp.example.com ", "SMTP_FROM": "Shop <orders@example.com>",
		"TWILIO_ACCOUNT_SID": "AC0123", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM": "+15005550006",
		"TWILIO_API_BASE_URL": "http://127.0.0.1:9999/",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "smtps://user:pw@smtp.example.com" || c.SMTPFrom != "Shop <orders@example.com>" ||
		c.TwilioAccountSID != "AC0123" || c.TwilioAuthToken != "tok" || c.TwilioFrom != "+15005550006" ||
		c.TwilioAPIBaseURL != "http://127.0.0.1:9999" {
		t.Fatalf("loaded %+v", c)
	}
}

func TestString_MasksMessagingSecrets(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"SMTP_URL": "smtp://apikey:smtp-hunter2@smtp.example.com:587", "SMTP_FROM": "orders@example.com",
		"TWILIO_ACCOUNT_SID": "AC0123", "TWILIO_AUTH_TOKEN": "twilio-hunter2", "TWILIO_FROM": "+15005550006",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	for _, secret := range []string{"smtp-hunter2", "twilio-hunter2"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() leaks %q: %s", secret, s)
		}
	}
	for _, shown := range []string{"smtp.example.com:587", "orders@example.com", "AC0123", "+15005550006"} {
		if !strings.Contains(s, shown) {
			t.Errorf("String() hides %q: %s", shown, s)
		}
	}
}
