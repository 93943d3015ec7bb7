package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/doorstep/doorstep/app/bench/benchdata"
)

// The embedded admin in a real browser. Shopify's App Bridge comes from its
// CDN, which tests cannot reach: the browser's requests for it are answered
// with a stand-in that hands out the token the test chooses and, on the
// bounce page, reloads with it, as App Bridge does.

// appBridgeStub is the stand-in's source; an empty token makes it hand out
// nothing, so a bounce stays on the bounce page.
func appBridgeStub(token string) string {
	return fmt.Sprintf(`(function () {
  var tok = %q;
  window.shopify = { idToken: function () { return tok ? Promise.resolve(tok) : Promise.reject(new Error("no token")); } };
  var reload = new URLSearchParams(location.search).get("shopify-reload");
  if (reload && tok) {
    var u = new URL(reload, location.origin);
    u.searchParams.set("id_token", tok);
    location.replace(u.toString());
  }
})();`, token)
}

// serveAppBridge answers the browser's requests to Shopify's CDN with the
// stand-in, using whatever token holds when the request is made.
func serveAppBridge(t *testing.T, bctx context.Context, token *atomic.Value) *atomic.Int64 {
	t.Helper()
	served := &atomic.Int64{}
	paused := chromedp.Events(bctx, fetch.RequestPaused)
	if _, err := chromedp.Call(bctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "https://cdn.shopify.com/*"}}}); err != nil {
		t.Fatalf("intercept the CDN: %v", err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			served.Add(1)
			tok, _ := token.Load().(string)
			_, _ = chromedp.Call(bctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/javascript"}}, Body: []byte(appBridgeStub(tok))})
		}
	}()
	return served
}

type dashboardState struct {
	Bounce   bool              `json:"bounce"`
	KPIs     map[string]string `json:"kpis"`
	Charts   int               `json:"charts"`
	Text     string            `json:"text"`
	Location string            `json:"location"`
}

const dashboardJS = `(() => {
  const kpis = {};
  document.querySelectorAll('[data-kpi]').forEach((e) => { kpis[e.dataset.kpi] = e.textContent.trim(); });
  return { bounce: document.getElementById('bounce') !== null, kpis, charts: document.querySelectorAll('svg.chart').length,
    text: document.body ? document.body.innerText : '', location: location.pathname };
})()`

func TestAdminBrowser_DashboardWithSessionTokenAndBounce(t *testing.T) {
	t.Parallel()
	b := newBrandedShop(t, nil)
	e := b.e
	dom := b.shop.Domain
	ctx := context.Background()
	now := time.Now()
	if err := e.app.store.RollupStats(ctx, b.shop.ID, now.AddDate(0, 0, -90), now); err != nil {
		t.Fatal(err)
	}

	bctx := headlessChromium(t, 60*time.Second)
	var token atomic.Value
	token.Store("")
	served := serveAppBridge(t, bctx, &token)
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	adminURL := func(tok string) string {
		q := url.Values{"shop": {dom}, "host": {"YWRtaW4"}, "embedded": {"1"}}
		if tok != "" {
			q.Set("id_token", tok)
		}
		return e.srv.URL + "/admin?" + q.Encode()
	}
	read := func(what string) dashboardState {
		t.Helper()
		st, err := chromedp.Run(bctx, chromedp.Evaluate[dashboardState](dashboardJS))
		if err != nil {
			t.Fatalf("%s: read the page: %v", what, err)
		}
		return st
	}
	// waitFor polls until js holds; a poll cut short by a navigation (the
	// bounce reloading) is simply tried again.
	waitFor := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ok, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(2*time.Second)))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v\npage: %+v", what, err, read(what))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// A valid session token: the seeded shop's KPIs.
	if err := chromedp.Do(bctx, chromedp.Navigate(adminURL(e.fake.SessionToken(dom, time.Minute)))); err != nil {
		t.Fatal(err)
	}
	waitFor("dashboard", `document.querySelector('[data-kpi="orders-total"]') !== null`)
	st := read("dashboard")
	if st.KPIs["orders-total"] != "3" {
		t.Errorf("orders synced = %q, want 3", st.KPIs["orders-total"])
	}
	if st.KPIs["delayed"] != "1" {
		t.Errorf("delayed now = %q, want 1 (#2002 is past its estimate)", st.KPIs["delayed"])
	}
	if st.Charts < 6 {
		t.Errorf("%d charts, want one per KPI card", st.Charts)
	}
	if served.Load() == 0 {
		t.Error("the page did not load App Bridge from Shopify's CDN")
	}
	shotAdmin(t, bctx, "dashboard-small")

	// 90 days is one click away. The link has no id_token: the document
	// bounces, and App Bridge (the stand-in, now with a token) reloads it
	// with one.
	token.Store(e.fake.SessionToken(dom, time.Minute))
	if err := chromedp.Do(bctx, chromedp.Click(`a[href*="days=90"]`)); err != nil {
		t.Fatal(err)
	}
	waitFor("90 days", `location.search.includes('days=90') && document.querySelector('[data-kpi="orders-total"]') !== null`)

	// An expired token: the bounce page, never the data.
	token.Store("")
	if err := chromedp.Do(bctx, chromedp.Navigate(adminURL(e.fake.SessionToken(dom, -time.Minute)))); err != nil {
		t.Fatal(err)
	}
	waitFor("bounce", `document.getElementById('bounce') !== null`)
	st = read("bounce")
	if len(st.KPIs) != 0 || strings.Contains(st.Text, "Orders synced") || st.Location != "/admin/session-token-bounce" {
		t.Fatalf("expired token showed %+v", st)
	}
	// With a fresh token App Bridge reloads the page it bounced from.
	token.Store(e.fake.SessionToken(dom, time.Minute))
	if err := chromedp.Do(bctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitFor("reloaded after bounce", `document.querySelector('[data-kpi="orders-total"]') !== null`)

	// A shop with three months of history, as a merchant would see it
	// (and as the README shows it).
	busy := e.installShop("busy-dashboard.myshopify.com")
	sqlDB, err := e.app.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	exec := func(ctx context.Context, q string, args ...any) (int64, error) {
		res, err := sqlDB.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	if err := benchdata.Fill(ctx, exec, benchdata.Groups, busy.ID, now, 3000, 90); err != nil {
		t.Fatal(err)
	}
	if err := e.app.store.RollupStats(ctx, busy.ID, now.AddDate(0, 0, -90), now); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(e.srv.URL+"/admin?"+url.Values{"shop": {busy.Domain}, "host": {"YWRtaW4"},
		"embedded": {"1"}, "id_token": {e.fake.SessionToken(busy.Domain, time.Minute)}}.Encode())); err != nil {
		t.Fatal(err)
	}
	waitFor("busy dashboard", `document.querySelector('[data-kpi="orders-total"]') !== null`)
	if st := read("busy dashboard"); st.KPIs["orders-total"] != "3,000" || st.KPIs["messages-sent"] == "0" || st.KPIs["dsat"] == "–" {
		t.Errorf("busy shop's dashboard: %v", st.KPIs)
	}
	shotAdmin(t, bctx, "dashboard")

	// The document carries the frame-ancestors CSP.
	resp, err := http.Get(adminURL(e.fake.SessionToken(dom, time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "frame-ancestors https://"+dom+" https://admin.shopify.com;" {
		t.Fatalf("CSP = %q", csp)
	}
}

// shotAdmin saves a full-page screenshot as a test artifact, and into
// docs/screenshots when DOORSTEP_SCREENSHOTS=1 for the one the README shows.
func shotAdmin(t *testing.T, bctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("DOORSTEP_SCREENSHOTS") == "1" && name == "dashboard" {
		dir := filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot %s: %d bytes", name, len(png))
}
