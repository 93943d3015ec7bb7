package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/models"
)

// The shopper pages in a real browser, at a phone's size: what a shopper
// sees and can do without JavaScript (the pages have none).

const (
	shopperWidth  = 390
	shopperHeight = 844
)

// shopperPageState is what the tests read off a rendered page.
type shopperPageState struct {
	Lang        string   `json:"lang"`
	Text        string   `json:"text"`
	ScrollWidth int      `json:"scrollWidth"`
	Packages    int      `json:"packages"`
	Current     []string `json:"current"`
	Delay       bool     `json:"delay"`
	Alert       bool     `json:"alert"`
	SmallTarget []string `json:"smallTargets"`
}

const shopperPageJS = `(() => {
  const small = [...document.querySelectorAll('button, .stars label, textarea')]
    .filter((e) => e.getBoundingClientRect().height < 44)
    .map((e) => e.outerHTML.slice(0, 80));
  return {
    lang: document.documentElement.lang,
    text: document.body.innerText,
    scrollWidth: document.documentElement.scrollWidth,
    packages: document.querySelectorAll('section.package').length,
    current: [...document.querySelectorAll('[aria-current=step]')].map((e) => e.textContent),
    delay: document.querySelector('.delay') !== null,
    alert: document.querySelector('[role=alert]') !== null,
    smallTargets: small,
  };
})()`

func TestShopperBrowser_TrackingFeedbackPreferences(t *testing.T) {
	t.Parallel()
	b := newBrandedShop(t, nil)
	e := b.e

	bctx := headlessChromium(t, 30*time.Second)

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	state := func(what string) shopperPageState {
		t.Helper()
		st, err := chromedp.Run(bctx, chromedp.Evaluate[shopperPageState](shopperPageJS))
		if err != nil {
			t.Fatalf("%s: read the page: %v", what, err)
		}
		if st.ScrollWidth > shopperWidth {
			t.Errorf("%s: scrolls sideways at %dpx (scrollWidth %d)", what, shopperWidth, st.ScrollWidth)
		}
		if len(st.SmallTarget) > 0 {
			t.Errorf("%s: targets under 44px: %q", what, st.SmallTarget)
		}
		return st
	}
	open := func(what, path string) shopperPageState {
		t.Helper()
		do(what, chromedp.Navigate(e.srv.URL+path))
		return state(what)
	}
	dir := t.TempDir()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		if os.Getenv("DOORSTEP_SCREENSHOTS") == "1" {
			if err := os.MkdirAll(filepath.Join("testdata", "screenshots"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", "screenshots", name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
			// The README shows these two, next to the admin's dashboard.
			if name == "tracking" || name == "feedback" {
				if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Logf("screenshot %s: %d bytes", name, len(png))
	}
	has := func(what string, st shopperPageState, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(st.Text, p) {
				t.Errorf("%s: page lacks %q; it shows:\n%s", what, p, st.Text)
			}
		}
	}
	lacks := func(what string, st shopperPageState, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if strings.Contains(st.Text, p) {
				t.Errorf("%s: page shows %q:\n%s", what, p, st.Text)
			}
		}
	}

	do("phone viewport", chromedp.EmulateViewport(shopperWidth, shopperHeight))

	// A split shipment: two package cards, each with its own progress.
	st := open("split tracking", b.link(t, links.Tracking, b.split))
	if st.Packages != 2 {
		t.Errorf("split tracking: %d package cards, want 2", st.Packages)
	}
	if strings.Join(st.Current, ",") != "Out for delivery,Shipped" {
		t.Errorf("split tracking: current steps %q, want Out for delivery then Shipped", st.Current)
	}
	if st.Lang != "en" || st.Delay {
		t.Errorf("split tracking: lang %q, delay notice %v", st.Lang, st.Delay)
	}
	has("split tracking", st, "Package 1 of 2", "Package 2 of 2", "Estimated delivery", "Updates, newest first", "Acme")
	shot("tracking")

	// An estimate passed without delivery: the delay notice.
	st = open("late tracking", b.link(t, links.Tracking, b.late))
	if !st.Delay {
		t.Errorf("late tracking: no delay notice:\n%s", st.Text)
	}
	has("late tracking", st, "Your order is running late")

	// A tampered link: the friendly problem page and nothing of the order.
	tok := b.link(t, links.Tracking, b.split)
	st = open("tampered", "/t/"+tamper(strings.TrimPrefix(tok, "/t/")))
	if !st.Alert || st.Packages != 0 {
		t.Errorf("tampered: alert %v, packages %d", st.Alert, st.Packages)
	}
	has("tampered", st, "This link doesn't work")
	lacks("tampered", st, "#2001", "Ana", "Tea", "Mug", "1ZSPLIT", "Acme")

	// Report a problem without JavaScript: open the disclosure, choose, send.
	open("report", b.link(t, links.Tracking, b.late))
	do("open the report form", chromedp.Click(chromedp.CSS(`details.report summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#report-reason`)))
	state("report form")
	shot("report")
	do("report", chromedp.SetValue(chromedp.CSS(`#report-reason`), "damaged"),
		chromedp.SendKeys(chromedp.CSS(`#report-message`), "The box was crushed"),
		chromedp.Click(chromedp.CSS(`details.report button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice[role=status]`)))
	has("reported", state("reported"), "Thank you: your report is sent")
	if n := e.count("alerts", "shop_id = ? AND kind = ? AND reason = ?", b.shop.ID, reportAlertKind, "damaged"); n != 1 {
		t.Errorf("report: %d alerts, want 1", n)
	}

	// Feedback without JavaScript: pick 4 stars, write, submit.
	st = open("feedback", b.link(t, links.Feedback, b.split))
	has("feedback", st, "How was the delivery?", "4 stars", "Review what you bought")
	do("rate and comment",
		chromedp.Click(chromedp.CSS(`input[name="rating"][value="4"]`)),
		chromedp.SendKeys(chromedp.CSS(`#comment-rating`), "Left with a neighbour"))
	shot("feedback")
	do("send", chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice[role=status]`)))
	st = state("feedback saved")
	has("feedback saved", st, "Thank you, Ana!", "You rated the delivery 4 out of 5")
	rows, err := e.app.store.OrderFeedback(context.Background(), b.shop.ID, b.split)
	if err != nil {
		t.Fatal(err)
	}
	var got []models.Feedback
	for _, f := range rows {
		if f.Kind == models.FeedbackDelivery {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Rating != 4 || got[0].Comment != "Left with a neighbour" {
		t.Errorf("delivery feedback = %+v, want rating 4 with the comment", got)
	}

	// Preferences: the form posts without JavaScript.
	st = open("preferences", b.link(t, links.Preferences, 0))
	has("preferences", st, "Your message preferences", "a***@example.com")
	shot("preferences")
	do("unsubscribe", chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice[role=status]`)))
	has("unsubscribed", state("unsubscribed"), "Done: you're unsubscribed.", "Subscribe again")
	if ok, err := e.app.store.IsSuppressed(context.Background(), b.shop.ID, "email", shopperEmail, models.SuppressUnsubscribed); err != nil || !ok {
		t.Errorf("preferences unsubscribe: suppressed %v, %v", ok, err)
	}
	// The flows engine then drops the shopper's next marketing message.
	if err := e.app.messages.Send(context.Background(), b.messageID); err != nil {
		t.Fatal(err)
	}
	var ask models.Message
	if err := e.app.db.Take(&ask, b.messageID).Error; err != nil {
		t.Fatal(err)
	}
	if ask.Status != models.MessageSuppressed || !strings.Contains(ask.Reason, "unsubscribed") {
		t.Errorf("the review ask after unsubscribing: %s (%s), want suppressed as unsubscribed", ask.Status, ask.Reason)
	}

	// A French shopper's order reads in French.
	st = open("french tracking", b.link(t, links.Tracking, b.french))
	if st.Lang != "fr" {
		t.Errorf("french tracking: lang %q", st.Lang)
	}
	has("french tracking", st, "voici où en est la commande #2003", "Votre colis", "Livraison estimée", "Articles")
	lacks("french tracking", st, "Estimated delivery", "Your package")
}
