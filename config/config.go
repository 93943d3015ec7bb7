// Package config reads Doorstep's configuration from environment variables,
// applies defaults and validates every value up front, so a bad value stops
// the process with a message naming the variable.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// DefaultScopes is asked once at install so later features need no re-consent.
var defaultScopes = []string{"read_orders", "read_all_orders", "read_customers", "read_products", "write_discounts", "read_returns"}

// Config is the typed configuration. Zero values of optional fields mean
// "use the embedded default" (SQLite file, in-process Redis).
type Config struct {
	DatabaseURL string // postgres://… or empty for SQLite
	SQLitePath  string // used when DatabaseURL is empty
	RedisURL    string // redis://… or empty for in-process Redis
	Port        int
	AppURL      string // public base URL, no trailing slash

	ShopifyAPIKey            string
	ShopifyAPISecret         string
	ShopifyAPISecretPrevious string
	ShopifyScopes            []string
	ShopifyAPIVersion        string
	ShopifyAPIBaseURL        string // template with {shop}

	EncryptionKey   []byte // 32 bytes
	WebhookMaxBytes int64
	LogLevel        slog.Level

	// DeliveryRetention is how long raw webhook bodies (personal data) are
	// kept before only their metadata remains.
	DeliveryRetention time.Duration

	// DispatchInterval is how often the dispatcher looks in the database for
	// work Redis does not have yet.
	DispatchInterval time.Duration

	// IntakeConcurrency is how many batches of deliveries one worker
	// process turns into orders at once. Processing is CPU work in this
	// process and in PostgreSQL, so more batches than cores only make them
	// queue for the cores, and the web role's acks queue behind them: the
	// default is the number of cores Go may use (at least 2).
	IntakeConcurrency int
	// WorkerConcurrency is how many sync tasks (backfills, reconciliation,
	// statistics) one worker process runs at once. They mostly wait on
	// Shopify's cost throttle, in a pool of their own.
	WorkerConcurrency int
	// SendConcurrency is how many tasks of the flows queue (sending
	// messages, delay scans, helpdesk tickets) one worker process runs at
	// once, in a pool of their own beside WorkerConcurrency's.
	SendConcurrency int

	// ReconcileInterval is how often each shop's orders are pulled through
	// the API to repair what webhooks missed.
	ReconcileInterval time.Duration
	// SubscriptionCheckInterval is how often each shop's webhook
	// subscriptions are checked and missing ones recreated.
	SubscriptionCheckInterval time.Duration

	// SMTPURL is the email relay (smtp://user:pass@host:587 or smtps://…);
	// empty keeps email in the outbox. Only its shape is checked here:
	// integrations/notify/email.ParseURL reads the options.
	SMTPURL  string
	SMTPFrom string // default sender, "Shop <orders@example.com>"; required with SMTPURL

	// Twilio sends SMS; all three of SID, token and sender are set or none.
	TwilioAccountSID string
	TwilioAuthToken  string
	TwilioFrom       string // E.164 number, sender id or Messaging Service SID (MG…)
	TwilioAPIBaseURL string // https://api.twilio.com, or a fake in tests
}

// Error names the variable that is wrong.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s: %s", e.Var, e.Reason) }

var apiVersionRe = regexp.MustCompile(`^(\d{4}-(01|04|07|10)|unstable)$`)

// Load reads and validates every variable. It does not require the ones
// only `serve` needs; call RequireServe for those.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:       strings.TrimSpace(getenv("DATABASE_URL")),
		SQLitePath:        "doorstep.db",
		RedisURL:          strings.TrimSpace(getenv("REDIS_URL")),
		Port:              8080,
		ShopifyAPIKey:     strings.TrimSpace(getenv("SHOPIFY_API_KEY")),
		ShopifyAPISecret:  strings.TrimSpace(getenv("SHOPIFY_API_SECRET")),
		ShopifyScopes:     defaultScopes,
		ShopifyAPIVersion: "2026-07",
		ShopifyAPIBaseURL: "https://{shop}",
		WebhookMaxBytes:   8 << 20,
		LogLevel:          slog.LevelInfo,
		DispatchInterval:  200 * time.Millisecond,
		IntakeConcurrency: max(2, runtime.GOMAXPROCS(0)),
		WorkerConcurrency: 10,
		SendConcurrency:   20,
		DeliveryRetention: 30 * 24 * time.Hour,

		ReconcileInterval:         10 * time.Minute,
		SubscriptionCheckInterval: time.Hour,

		SMTPURL:          strings.TrimSpace(getenv("SMTP_URL")),
		SMTPFrom:         strings.TrimSpace(getenv("SMTP_FROM")),
		TwilioAccountSID: strings.TrimSpace(getenv("TWILIO_ACCOUNT_SID")),
		TwilioAuthToken:  strings.TrimSpace(getenv("TWILIO_AUTH_TOKEN")),
		TwilioFrom:       strings.TrimSpace(getenv("TWILIO_FROM")),
		TwilioAPIBaseURL: "https://api.twilio.com",
	}
	c.ShopifyAPISecretPrevious = strings.TrimSpace(getenv("SHOPIFY_API_SECRET_PREVIOUS"))

	var errs []error
	bad := func(v, format string, args ...any) {
		errs = append(errs, &Error{Var: v, Reason: fmt.Sprintf(format, args...)})
	}

	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			bad("DATABASE_URL", "must be a postgres:// URL (or empty for an embedded SQLite file)")
		}
	}
	if v := strings.TrimSpace(getenv("DOORSTEP_SQLITE_PATH")); v != "" {
		c.SQLitePath = v
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			bad("REDIS_URL", "must be a redis:// or rediss:// URL (or empty for in-process Redis)")
		}
	}
	if v := strings.TrimSpace(getenv("PORT")); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			bad("PORT", "must be a port number 1-65535, got %q", v)
		}
		c.Port = p
	}
	if v := strings.TrimSpace(getenv("APP_URL")); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("APP_URL", "must be an absolute http(s) URL, got %q", v)
		}
		c.AppURL = strings.TrimRight(v, "/")
	}
	if v := strings.TrimSpace(getenv("SHOPIFY_SCOPES")); v != "" {
		var scopes []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				scopes = append(scopes, s)
			}
		}
		if len(scopes) == 0 {
			bad("SHOPIFY_SCOPES", "must list at least one scope")
		}
		c.ShopifyScopes = scopes
	}
	if v := strings.TrimSpace(getenv("SHOPIFY_API_VERSION")); v != "" {
		if !apiVersionRe.MatchString(v) {
			bad("SHOPIFY_API_VERSION", "must look like 2026-07, got %q", v)
		}
		c.ShopifyAPIVersion = v
	}
	if v := strings.TrimSpace(getenv("SHOPIFY_API_BASE_URL")); v != "" {
		probe := strings.ReplaceAll(v, "{shop}", "example.myshopify.com")
		u, err := url.Parse(probe)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("SHOPIFY_API_BASE_URL", "must be an http(s) URL template such as https://{shop}, got %q", v)
		}
		c.ShopifyAPIBaseURL = strings.TrimRight(v, "/")
	}
	if v := strings.TrimSpace(getenv("DOORSTEP_ENCRYPTION_KEY")); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(k) != 32 {
			bad("DOORSTEP_ENCRYPTION_KEY", "must be 32 bytes encoded as base64 (openssl rand -base64 32)")
		}
		c.EncryptionKey = k
	}
	if v := strings.TrimSpace(getenv("WEBHOOK_MAX_BYTES")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 {
			bad("WEBHOOK_MAX_BYTES", "must be a byte count of at least 1024, got %q", v)
		}
		c.WebhookMaxBytes = n
	}
	if v := strings.TrimSpace(getenv("DELIVERY_RETENTION_DAYS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3650 {
			bad("DELIVERY_RETENTION_DAYS", "must be a number of days 1-3650, got %q", v)
		}
		c.DeliveryRetention = time.Duration(n) * 24 * time.Hour
	}
	if v := strings.TrimSpace(getenv("INTAKE_CONCURRENCY")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad("INTAKE_CONCURRENCY", "must be a number of tasks 1-1000, got %q", v)
		}
		c.IntakeConcurrency = n
	}
	if v := strings.TrimSpace(getenv("WORKER_CONCURRENCY")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad("WORKER_CONCURRENCY", "must be a number of tasks 1-1000, got %q", v)
		}
		c.WorkerConcurrency = n
	}
	if v := strings.TrimSpace(getenv("SEND_CONCURRENCY")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad("SEND_CONCURRENCY", "must be a number of tasks 1-1000, got %q", v)
		}
		c.SendConcurrency = n
	}
	duration := func(name string, min, max time.Duration, dst *time.Duration) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < min || d > max {
			bad(name, "must be a duration between %s and %s (e.g. 10m), got %q", min, max, v)
			return
		}
		*dst = d
	}
	duration("RECONCILE_INTERVAL", time.Minute, 24*time.Hour, &c.ReconcileInterval)
	duration("SUBSCRIPTION_CHECK_INTERVAL", time.Minute, 7*24*time.Hour, &c.SubscriptionCheckInterval)
	if c.SMTPURL != "" {
		// The parse error would quote the URL, password included.
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			bad("SMTP_URL", "must be an smtp:// or smtps:// URL with a host, such as smtp://user:pass@smtp.example.com:587")
		}
		if c.SMTPFrom == "" {
			bad("SMTP_FROM", "is required when SMTP_URL is set (e.g. \"Shop <orders@example.com>\")")
		}
	}
	if c.SMTPFrom != "" {
		if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
			bad("SMTP_FROM", "must be an email address such as \"Shop <orders@example.com>\", got %q", c.SMTPFrom)
		}
	}
	twilio := map[string]string{"TWILIO_ACCOUNT_SID": c.TwilioAccountSID, "TWILIO_AUTH_TOKEN": c.TwilioAuthToken, "TWILIO_FROM": c.TwilioFrom}
	if c.TwilioAccountSID != "" || c.TwilioAuthToken != "" || c.TwilioFrom != "" {
		for _, name := range []string{"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"} {
			if twilio[name] == "" {
				bad(name, "is required when any of TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM is set")
			}
		}
	}
	if c.TwilioAccountSID != "" && !strings.HasPrefix(c.TwilioAccountSID, "AC") {
		bad("TWILIO_ACCOUNT_SID", "must be an account SID starting with AC")
	}
	if v := strings.TrimSpace(getenv("TWILIO_API_BASE_URL")); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("TWILIO_API_BASE_URL", "must be an absolute http(s) URL, got %q", v)
		}
		c.TwilioAPIBaseURL = strings.TrimRight(v, "/")
	}
	if v := strings.TrimSpace(getenv("LOG_LEVEL")); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", v)
		}
	}
	return c, errors.Join(errs...)
}

// RequireServe checks the variables `serve` cannot run without.
func (c Config) RequireServe() error {
	var errs []error
	need := func(v, val string) {
		if val == "" {
			errs = append(errs, &Error{Var: v, Reason: "is required for serve"})
		}
	}
	need("APP_URL", c.AppURL)
	need("SHOPIFY_API_KEY", c.ShopifyAPIKey)
	need("SHOPIFY_API_SECRET", c.ShopifyAPISecret)
	if c.EncryptionKey == nil {
		errs = append(errs, &Error{Var: "DOORSTEP_ENCRYPTION_KEY", Reason: "is required for serve (32 bytes, base64)"})
	}
	return errors.Join(errs...)
}

// ShopBaseURL is where every call to a shop goes: the template with {shop}
// replaced, so a local fake can play Shopify.
func (c Config) ShopBaseURL(shop string) string {
	return strings.ReplaceAll(c.ShopifyAPIBaseURL, "{shop}", shop)
}

// Embedded reports whether the process runs on the embedded stores.
func (c Config) Embedded() bool { return c.DatabaseURL == "" || c.RedisURL == "" }

// String prints the configuration with secrets masked.
func (c Config) String() string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "****"
	}
	db := "sqlite:" + c.SQLitePath
	if c.DatabaseURL != "" {
		db = redactURL(c.DatabaseURL)
	}
	redis := "in-process"
	if c.RedisURL != "" {
		redis = redactURL(c.RedisURL)
	}
	smtpURL := ""
	if c.SMTPURL != "" {
		smtpURL = redactURL(c.SMTPURL)
	}
	return fmt.Sprintf("database=%s redis=%s port=%d app_url=%s shopify_api_key=%s shopify_api_secret=%s shopify_api_secret_previous=%s scopes=%s api_version=%s api_base_url=%s encryption_key=%s webhook_max_bytes=%d delivery_retention=%s reconcile_interval=%s subscription_check_interval=%s log_level=%s smtp_url=%s smtp_from=%s twilio_account_sid=%s twilio_auth_token=%s twilio_from=%s twilio_api_base_url=%s",
		db, redis, c.Port, c.AppURL, c.ShopifyAPIKey, mask(c.ShopifyAPISecret), mask(c.ShopifyAPISecretPrevious),
		strings.Join(c.ShopifyScopes, ","), c.ShopifyAPIVersion, c.ShopifyAPIBaseURL, mask(string(c.EncryptionKey)), c.WebhookMaxBytes, c.DeliveryRetention, c.ReconcileInterval, c.SubscriptionCheckInterval, c.LogLevel,
		smtpURL, c.SMTPFrom, c.TwilioAccountSID, mask(c.TwilioAuthToken), c.TwilioFrom, c.TwilioAPIBaseURL)
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "****"
	}
	return u.Redacted()
}
