package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/shopify/shopifytest"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/jobstest"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// pkgRedis is this package's throwaway redis-server. Tests that run
// workers start their own (durability tests stop and flush theirs), so
// parallel tests never see each other's tasks.
var pkgRedis *jobstest.Redis

func TestMain(m *testing.M) {
	var err error
	pkgRedis, err = jobstest.StartRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := modelstest.Main(m)
	pkgRedis.Close()
	os.Exit(code)
}

type testEnv struct {
	t       *testing.T
	app     *App
	fake    *shopifytest.Server
	srv     *httptest.Server
	cfg     config.Config
	eventID atomic.Int64
}

type envOption func(*config.Config, *Options)

// newEnv wires a real App on its own PostgreSQL database, the package's
// Redis (or redisURL), and a fake Shopify.
func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	fake := shopifytest.New(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = modelstest.URL(t)
	cfg.RedisURL = pkgRedis.URL()
	cfg.AppURL = "https://doorstep.test"
	cfg.ShopifyAPIKey, cfg.ShopifyAPISecret = fake.APIKey, fake.APISecret
	cfg.ShopifyAPIBaseURL = fake.BaseURL()
	cfg.EncryptionKey = key
	cfg.WebhookMaxBytes = 1 << 20
	o := Options{Dispatcher: jobs.DispatcherConfig{Interval: 50 * time.Millisecond, RedispatchAfter: 500 * time.Millisecond}}
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	a, err := New(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &testEnv{t: t, app: a, fake: fake, srv: srv, cfg: cfg}
}

// installShop stores a shop as installed, as the OAuth flow would.
func (e *testEnv) installShop(domain string) models.Shop {
	e.t.Helper()
	e.fake.AddShop(domain, shopifytest.ShopInfo{Name: "Acme", Timezone: "Europe/Paris", Currency: "EUR"})
	shop, err := e.app.store.SaveInstall(context.Background(),
		models.Shop{Platform: models.PlatformShopify, Domain: domain, Name: "Acme"},
		models.Token{AccessToken: e.fake.AccessToken(domain)})
	if err != nil {
		e.t.Fatal(err)
	}
	return shop
}

type webhook struct {
	shop, topic, eventID string
	body                 []byte
	secret               string // default: the app secret
	signed               []byte // what the signature covers; default body (set to tamper)
}

// post sends a webhook signed like Shopify does and returns the status.
func (e *testEnv) post(w webhook) int {
	e.t.Helper()
	if w.eventID == "" {
		w.eventID = "ev-" + strconv.FormatInt(e.eventID.Add(1), 10)
	}
	secret := w.secret
	if secret == "" {
		secret = e.fake.APISecret
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/webhooks/shopify", bytes.NewReader(w.body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	signed := w.body
	if w.signed != nil {
		signed = w.signed
	}
	req.Header.Set("X-Shopify-Hmac-Sha256", shopifytest.SignWebhook(secret, signed))
	req.Header.Set("X-Shopify-Topic", w.topic)
	req.Header.Set("X-Shopify-Shop-Domain", w.shop)
	req.Header.Set("X-Shopify-Event-Id", w.eventID)
	req.Header.Set("X-Shopify-Webhook-Id", "wh-"+w.eventID)
	req.Header.Set("X-Shopify-API-Version", "2026-07")
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// processAll runs delivery:process for every pending delivery, as a worker
// would, until none is left.
func (e *testEnv) processAll() {
	e.t.Helper()
	ctx := context.Background()
	for {
		ids, err := e.app.store.PendingDeliveryIDs(ctx, time.Now().Add(time.Hour), 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ids) == 0 {
			return
		}
		for _, id := range ids {
			if _, err := e.app.proc.Process(ctx, id); err != nil {
				e.t.Logf("process %d: %v", id, err)
			}
		}
	}
}

func (e *testEnv) count(table, where string, args ...any) int64 {
	e.t.Helper()
	var n int64
	q := e.app.db.Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}
