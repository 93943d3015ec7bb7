package app

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/doorstep/doorstep/models"
)

// The Zendesk sidebar page in headless Chromium at the sidebar's width:
// Zendesk's signed first load (a form post carrying the JWT, as the ZAF
// frame does), then the agent's actions, with no script and nothing loaded
// from anywhere else.

const sidebarWidth = 350

type sidebarPageState struct {
	Text        string   `json:"text"`
	ScrollWidth int      `json:"scrollWidth"`
	Orders      int      `json:"orders"`
	Scripts     int      `json:"scripts"`
	Resources   []string `json:"resources"`
	Unlabelled  []string `json:"unlabelled"`
}

const sidebarPageJS = `(() => ({
  text: document.body.innerText,
  scrollWidth: document.documentElement.scrollWidth,
  orders: document.querySelectorAll('article').length,
  scripts: document.querySelectorAll('script').length,
  resources: performance.getEntriesByType('resource').map((r) => r.name),
  unlabelled: [...document.querySelectorAll('input:not([type=hidden])')]
    .filter((i) => !i.labels || i.labels.length === 0).map((i) => i.outerHTML),
}))()`

func TestSidebar_ZendeskBrowser_PageAndActions(t *testing.T) {
	t.Parallel()
	s := newSidebarShop(t)
	bctx := headlessChromium(t, 60*time.Second)

	// What Zendesk does on a signedUrls first load: post the token to the
	// app's URL.
	token := zendeskToken(t, s.zkey, nil)
	launcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s">
<input type="hidden" name="token" value="%s"><input type="hidden" name="email" value="%s">
<input type="hidden" name="ticket" value="7001"><button id="open">Open</button></form>`,
			html.EscapeString(s.e.srv.URL+zendeskSidebarPath+"?c="+strconv.FormatUint(s.zendesk.ID, 10)),
			html.EscapeString(token), html.EscapeString(shopperEmail))
	}))
	t.Cleanup(launcher.Close)

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	state := func(what string) sidebarPageState {
		t.Helper()
		st, err := chromedp.Run(bctx, chromedp.Evaluate[sidebarPageState](sidebarPageJS))
		if err != nil {
			t.Fatalf("%s: read the page: %v", what, err)
		}
		if st.ScrollWidth > sidebarWidth {
			t.Errorf("%s: scrolls sideways at %dpx (scrollWidth %d)", what, sidebarWidth, st.ScrollWidth)
		}
		// The browser's own favicon request aside, nothing is fetched.
		var elsewhere []string
		for _, r := range st.Resources {
			if !strings.HasSuffix(r, "/favicon.ico") {
				elsewhere = append(elsewhere, r)
			}
		}
		if st.Scripts != 0 || len(elsewhere) != 0 {
			t.Errorf("%s: %d scripts, loaded %q: the page must need nothing else", what, st.Scripts, elsewhere)
		}
		if len(st.Unlabelled) > 0 {
			t.Errorf("%s: inputs without a label: %q", what, st.Unlabelled)
		}
		return st
	}
	has := func(what string, st sidebarPageState, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(st.Text, p) {
				t.Errorf("%s: page lacks %q; it shows:\n%s", what, p, st.Text)
			}
		}
	}

	do("sidebar viewport", chromedp.EmulateViewport(sidebarWidth, 900))
	do("first load", chromedp.Navigate(launcher.URL), chromedp.Click(chromedp.CSS(`#open`)),
		chromedp.WaitVisible(chromedp.CSS(`article`)))
	st := state("first load")
	if st.Orders != 3 {
		t.Errorf("first load: %d orders, want 3", st.Orders)
	}
	has("first load", st, "#2001", "#2002", "#2003", "Package 1 of 2", "Package 2 of 2", "1ZSPLITA", "out for delivery",
		"120 points", "Box was crushed", "Lovely mug", "Open in Shopify admin", "late")

	do("resend #2001", chromedp.Click(chromedp.CSS(`article[aria-label="Order #2001"] form button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice[data-notice="resent"]`)))
	has("resent", state("resent"), "The tracking notice is on its way again.", "#2001")

	do("grant points", chromedp.SendKeys(chromedp.CSS(`#goodwill-points`), "40"),
		chromedp.SendKeys(chromedp.CSS(`#goodwill-reason`), "late parcel"),
		chromedp.Click(chromedp.CSS(`form[action$="/goodwill"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice[data-notice="granted"]`)))
	has("granted", state("granted"), "Points granted.", "160 points", "Goodwill from support (ticket 7001): late parcel")

	do("pause reviews", chromedp.Click(chromedp.CSS(`form[action$="/pause"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice[data-notice="paused"]`)))
	has("paused", state("paused"), "Review requests are paused for this customer.", "Resume review requests", "reviews paused")

	do("resume reviews", chromedp.Click(chromedp.CSS(`form[action$="/resume"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice[data-notice="resumed"]`)))
	has("resumed", state("resumed"), "Pause review requests")

	e := s.e
	if n := e.count("messages", "shop_id = ? AND order_platform_id = ? AND subject LIKE ?", s.shop.ID, s.split, "fulfillment:%:resend:%"); n != 1 {
		t.Errorf("%d resent notices, want 1", n)
	}
	acct, err := e.app.store.Account(context.Background(), models.AccountKey{ShopID: s.shop.ID, CustomerPlatformID: s.customer})
	if err != nil {
		t.Fatal(err)
	}
	if acct.Available != 160 {
		t.Errorf("available %d, want 160", acct.Available)
	}
	if n := e.count("audit_logs", "shop_id = ? AND detail LIKE ? AND detail LIKE ?", s.shop.ID, "%zendesk-agent-42%", "%7001%"); n != 4 {
		t.Errorf("%d audit rows with the agent and ticket, want 4", n)
	}
}
