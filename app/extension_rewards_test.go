package app

// Tests for the theme app extension in extensions/rewards (the storefront
// rewards block). The extension is static files deployed to Shopify, so these
// tests live here: the Liquid block is rendered with Shopify's filters stubbed
// the way Shopify behaves, and the rendered page runs in headless Chromium
// against a fake of the app proxy routes (/apps/doorstep/...).

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/osteele/liquid"
	"github.com/osteele/liquid/render"
	xhtml "golang.org/x/net/html"
)

const (
	rewardsExtDir    = "../extensions/rewards"
	rewardsTestdata  = "testdata/rewards_block"
	rewardsAssetPath = "/ext/assets/" // what the stub asset_url puts before a file name
)

func readRewardsFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readRewardsJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(readRewardsFile(t, path), &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// rewardsEngine is a Liquid engine with the Shopify-only filters and tags the
// block uses. t looks keys up in locales/en.default.json, fails on a missing
// key (Shopify would print "translation missing") and HTML-escapes the result
// unless the key ends in _html, as Shopify does.
func rewardsEngine(t *testing.T) *liquid.Engine {
	t.Helper()
	strs := readRewardsJSON(t, filepath.Join(rewardsExtDir, "locales", "en.default.json"))
	e := liquid.NewEngine()
	e.RegisterFilter("asset_url", func(name string) string { return rewardsAssetPath + name })
	e.RegisterFilter("script_tag", func(url string) string {
		return `<script src="` + html.EscapeString(url) + `" type="text/javascript"></script>`
	})
	e.RegisterFilter("stylesheet_tag", func(url string) string {
		return `<link href="` + html.EscapeString(url) + `" rel="stylesheet" type="text/css" media="all" />`
	})
	e.RegisterFilter("t", func(key string) (string, error) {
		s, ok := rewardsLocaleLookup(strs, key)
		if !ok {
			return "", fmt.Errorf("translation missing: en.%s", key)
		}
		if strings.HasSuffix(key, "_html") {
			return s, nil
		}
		return html.EscapeString(s), nil
	})
	e.RegisterFilter("color_contrast", rewardsContrast)
	e.RegisterBlock("schema", func(render.Context) (string, error) { return "", nil })
	return e
}

// rewardsContrast is Shopify's color_contrast filter: the WCAG contrast ratio
// of two hex colours, to one decimal.
func rewardsContrast(a, b string) (float64, error) {
	lum := func(hex string) (float64, error) {
		var r, g, bl uint8
		if _, err := fmt.Sscanf(strings.TrimPrefix(hex, "#"), "%02x%02x%02x", &r, &g, &bl); err != nil {
			return 0, fmt.Errorf("color_contrast: %q: %w", hex, err)
		}
		l := 0.0
		for i, c := range []uint8{r, g, bl} {
			v := float64(c) / 255
			if v <= 0.03928 {
				v /= 12.92
			} else {
				v = math.Pow((v+0.055)/1.055, 2.4)
			}
			l += []float64{0.2126, 0.7152, 0.0722}[i] * v
		}
		return l, nil
	}
	la, err := lum(a)
	if err != nil {
		return 0, err
	}
	lb, err := lum(b)
	if err != nil {
		return 0, err
	}
	return math.Round((max(la, lb)+0.05)/(min(la, lb)+0.05)*10) / 10, nil
}

func rewardsLocaleLookup(strs map[string]any, key string) (string, bool) {
	var cur any = strs
	for part := range strings.SplitSeq(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		cur = m[part]
	}
	s, ok := cur.(string)
	return s, ok
}

// renderRewardsBlock renders blocks/rewards.liquid with a fixture from
// testdata/rewards_block, after edit (if any) changes the bindings.
func renderRewardsBlock(t *testing.T, fixture string, edit func(map[string]any)) string {
	t.Helper()
	bindings := readRewardsJSON(t, filepath.Join(rewardsTestdata, fixture))
	if edit != nil {
		edit(bindings)
	}
	src := readRewardsFile(t, filepath.Join(rewardsExtDir, "blocks", "rewards.liquid"))
	out, err := rewardsEngine(t).ParseAndRender(src, bindings)
	if err != nil {
		t.Fatalf("render %s: %v", fixture, err)
	}
	return string(out)
}

func rewardsSettings(b map[string]any) map[string]any {
	return b["block"].(map[string]any)["settings"].(map[string]any)
}

// rewardsFind parses a rendered fragment and returns the first element that
// match accepts, or nil.
func rewardsFind(t *testing.T, doc string, match func(*xhtml.Node) bool) *xhtml.Node {
	t.Helper()
	root, err := xhtml.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	for n := range root.Descendants() {
		if n.Type == xhtml.ElementNode && match(n) {
			return n
		}
	}
	return nil
}

func rewardsAttr(n *xhtml.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func rewardsHasAttr(name string) func(*xhtml.Node) bool {
	return func(n *xhtml.Node) bool { _, ok := rewardsAttr(n, name); return ok }
}

func rewardsText(n *xhtml.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == xhtml.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.TrimSpace(b.String())
}

func TestRewardsBlock_LoggedOut_LinksToLoginWithoutScript(t *testing.T) {
	t.Parallel()
	out := renderRewardsBlock(t, "logged_out.json", nil)

	link := rewardsFind(t, out, func(n *xhtml.Node) bool { return n.Data == "a" })
	if link == nil {
		t.Fatalf("no link in:\n%s", out)
	}
	if href, _ := rewardsAttr(link, "href"); href != "/account/login" {
		t.Errorf("login link href = %q, want /account/login", href)
	}
	if got := rewardsText(link); got != "Log in to see your points" {
		t.Errorf("login link text = %q", got)
	}
	for _, absent := range []string{"data-doorstep-rewards", "data-endpoint", "/apps/doorstep", "rewards.js", "<script"} {
		if strings.Contains(out, absent) {
			t.Errorf("logged-out block contains %q; it must not load the script or name a fetch target:\n%s", absent, out)
		}
	}
	// An empty heading setting falls back to the translated default.
	if h := rewardsFind(t, out, func(n *xhtml.Node) bool { return n.Data == "h2" }); h == nil || rewardsText(h) != "Your rewards" {
		t.Errorf("heading missing or wrong:\n%s", out)
	}
	if !strings.Contains(out, `href="/ext/assets/rewards.css"`) {
		t.Errorf("stylesheet not linked:\n%s", out)
	}

	t.Run("no routes object", func(t *testing.T) {
		out := renderRewardsBlock(t, "logged_out.json", func(b map[string]any) { delete(b, "routes") })
		if !strings.Contains(out, `href="/account/login"`) {
			t.Errorf("without routes the link should still go to /account/login:\n%s", out)
		}
	})
	t.Run("theme editor", func(t *testing.T) {
		out := renderRewardsBlock(t, "logged_out.json", func(b map[string]any) {
			b["request"].(map[string]any)["design_mode"] = true
		})
		if !strings.Contains(out, "Logged-in shoppers see") {
			t.Errorf("the theme editor should explain what shoppers see:\n%s", out)
		}
	})
}

func TestRewardsBlock_LoggedIn_MountCarriesWhatTheScriptNeeds(t *testing.T) {
	t.Parallel()
	out := renderRewardsBlock(t, "logged_in.json", nil)

	mount := rewardsFind(t, out, rewardsHasAttr("data-doorstep-rewards"))
	if mount == nil {
		t.Fatalf("no [data-doorstep-rewards] mount element in:\n%s", out)
	}
	for name, want := range map[string]string{
		"data-endpoint":      "/apps/doorstep",
		"data-locale":        "en",
		"data-show-referral": "true",
	} {
		if got, _ := rewardsAttr(mount, name); got != want {
			t.Errorf("mount %s = %q, want %q", name, got, want)
		}
	}

	// The script's strings: every locale key quoted in rewards.js is on the
	// mount as data-t-<key>, and every data-t-* is used by the script.
	js := string(readRewardsFile(t, filepath.Join(rewardsExtDir, "assets", "rewards.js")))
	keys := readRewardsJSON(t, filepath.Join(rewardsExtDir, "locales", "en.default.json"))["rewards"].(map[string]any)
	liquidSrc := string(readRewardsFile(t, filepath.Join(rewardsExtDir, "blocks", "rewards.liquid")))
	byLiquid := map[string]bool{} // shown by the block itself, like 'loading'
	for _, m := range regexp.MustCompile(`'rewards\.([a-z_]+)' \| t`).FindAllStringSubmatch(liquidSrc, -1) {
		byLiquid[m[1]] = true
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`'([a-z_]+)'`).FindAllStringSubmatch(js, -1) {
		if _, ok := keys[m[1]]; ok && !byLiquid[m[1]] {
			used[m[1]] = true
		}
	}
	if len(used) < 20 {
		t.Fatalf("found only %d string keys quoted in rewards.js", len(used))
	}
	for k := range used {
		if v, ok := rewardsAttr(mount, "data-t-"+k); !ok || v == "" {
			t.Errorf("rewards.js uses string %q but the mount has no data-t-%s", k, k)
		}
	}
	for _, a := range mount.Attr {
		if k, ok := strings.CutPrefix(a.Key, "data-t-"); ok && !used[k] {
			t.Errorf("the mount carries data-t-%s but rewards.js never uses it", k)
		}
	}
	// Escaped by t, unescaped by the HTML parser: the script reads plain text.
	if v, _ := rewardsAttr(mount, "data-t-load_error"); v != "We couldn't load your rewards. Please try again later." {
		t.Errorf("data-t-load_error = %q", v)
	}

	script := rewardsFind(t, out, func(n *xhtml.Node) bool { return n.Data == "script" })
	if script == nil {
		t.Fatalf("no script tag in:\n%s", out)
	}
	if src, _ := rewardsAttr(script, "src"); src != rewardsAssetPath+"rewards.js" {
		t.Errorf("script src = %q", src)
	}
	if _, ok := rewardsAttr(script, "defer"); !ok {
		t.Error("the script must be deferred (theme-check ParserBlockingScript)")
	}
	live := rewardsFind(t, out, func(n *xhtml.Node) bool { v, _ := rewardsAttr(n, "aria-live"); return v == "polite" })
	if live == nil {
		t.Error(`no aria-live="polite" region`)
	}

	section := rewardsFind(t, out, func(n *xhtml.Node) bool { return n.Data == "section" })
	if v, _ := rewardsAttr(section, "data-shopify-editor-block"); !strings.Contains(v, "AbC123") {
		t.Errorf("block.shopify_attributes not on the block's root element:\n%s", out)
	}
	if v, _ := rewardsAttr(section, "style"); v != "--ds-accent: #1f5c4c; --ds-on-accent: #fff;" {
		t.Errorf("accent style = %q", v)
	}
	if !strings.Contains(out, "Anna&#39;s &lt;rewards&gt;") {
		t.Errorf("merchant heading not escaped:\n%s", out)
	}
	// The proxy identifies the shopper; the page must not.
	for _, leak := range []string{"7001234567", "anna@example.com", "Anna Example"} {
		if strings.Contains(out, leak) {
			t.Errorf("rendered block contains customer data %q", leak)
		}
	}

	t.Run("light accent gets dark button text", func(t *testing.T) {
		out := renderRewardsBlock(t, "logged_in.json", func(b map[string]any) { rewardsSettings(b)["accent_color"] = "#ffd84d" })
		section := rewardsFind(t, out, func(n *xhtml.Node) bool { return n.Data == "section" })
		if v, _ := rewardsAttr(section, "style"); v != "--ds-accent: #ffd84d; --ds-on-accent: #000;" {
			t.Errorf("accent style = %q", v)
		}
	})
	t.Run("referral off", func(t *testing.T) {
		out := renderRewardsBlock(t, "logged_in.json", func(b map[string]any) { rewardsSettings(b)["show_referral"] = false })
		mount := rewardsFind(t, out, rewardsHasAttr("data-doorstep-rewards"))
		if v, _ := rewardsAttr(mount, "data-show-referral"); v != "false" {
			t.Errorf("data-show-referral = %q, want false", v)
		}
	})
	t.Run("settings missing", func(t *testing.T) {
		out := renderRewardsBlock(t, "logged_in.json", func(b map[string]any) {
			b["block"].(map[string]any)["settings"] = map[string]any{}
			delete(b, "request")
		})
		section := rewardsFind(t, out, func(n *xhtml.Node) bool { return n.Data == "section" })
		if v, _ := rewardsAttr(section, "style"); v != "--ds-accent: #1f5c4c; --ds-on-accent: #fff;" {
			t.Errorf("default accent style = %q", v)
		}
		mount := rewardsFind(t, out, rewardsHasAttr("data-doorstep-rewards"))
		if v, _ := rewardsAttr(mount, "data-locale"); v != "en" {
			t.Errorf("default data-locale = %q", v)
		}
		if h := rewardsFind(t, out, func(n *xhtml.Node) bool { return n.Data == "h2" }); rewardsText(h) != "Your rewards" {
			t.Errorf("default heading = %q", rewardsText(h))
		}
	})
}

type rewardsSchema struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Settings []struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		Label       string `json:"label"`
		Default     any    `json:"default"`
		Info        string `json:"info"`
		Placeholder string `json:"placeholder"`
	} `json:"settings"`
}

func TestRewardsBlock_Schema_MatchesLiquid(t *testing.T) {
	t.Parallel()
	src := string(readRewardsFile(t, filepath.Join(rewardsExtDir, "blocks", "rewards.liquid")))
	m := regexp.MustCompile(`(?s){%-?\s*schema\s*-?%}(.*?){%-?\s*endschema\s*-?%}`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal("no {% schema %} in rewards.liquid")
	}
	var s rewardsSchema
	dec := json.NewDecoder(strings.NewReader(m[1]))
	dec.DisallowUnknownFields() // catches typos in the keys this test knows
	if err := dec.Decode(&struct {
		*rewardsSchema
		Stylesheet string `json:"stylesheet"`
		Javascript string `json:"javascript"`
	}{rewardsSchema: &s}); err != nil {
		t.Fatalf("schema JSON: %v", err)
	}
	if s.Name == "" || len(s.Name) > 25 {
		t.Errorf("schema name %q: Shopify wants 1-25 characters", s.Name)
	}
	if s.Target != "section" {
		t.Errorf("target = %q, want section (an app block)", s.Target)
	}

	wantTypes := map[string]string{"heading": "text", "accent_color": "color", "show_referral": "checkbox"}
	var declared []string
	for _, st := range s.Settings {
		declared = append(declared, st.ID)
		if st.Label == "" {
			t.Errorf("setting %q has no label", st.ID)
		}
		if want, ok := wantTypes[st.ID]; ok && st.Type != want {
			t.Errorf("setting %q has type %q, want %q", st.ID, st.Type, want)
		}
	}
	var usedIDs []string
	for _, u := range regexp.MustCompile(`block\.settings\.([a-z_]+)`).FindAllStringSubmatch(src, -1) {
		if !slices.Contains(usedIDs, u[1]) {
			usedIDs = append(usedIDs, u[1])
		}
	}
	sort.Strings(declared)
	sort.Strings(usedIDs)
	if !slices.Equal(declared, usedIDs) {
		t.Errorf("schema declares settings %v but the Liquid uses %v", declared, usedIDs)
	}
	for id := range wantTypes {
		if !slices.Contains(declared, id) {
			t.Errorf("schema lacks setting %q", id)
		}
	}
}

func TestRewardsBlock_Locales_SameKeysAndPlaceholders(t *testing.T) {
	t.Parallel()
	flatten := func(path string) map[string]string {
		out := map[string]string{}
		var walk func(prefix string, v any)
		walk = func(prefix string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, c := range v {
					walk(strings.TrimPrefix(prefix+"."+k, "."), c)
				}
			case string:
				out[prefix] = v
			default:
				t.Errorf("%s: %s is %T, want a string or an object", path, prefix, v)
			}
		}
		walk("", readRewardsJSON(t, path))
		return out
	}
	placeholders := func(s string) []string {
		ps := regexp.MustCompile(`\[[a-z_]+\]`).FindAllString(s, -1)
		sort.Strings(ps)
		return ps
	}
	en := flatten(filepath.Join(rewardsExtDir, "locales", "en.default.json"))
	for _, name := range []string{"fr.json", "es.json", "de.json"} {
		other := flatten(filepath.Join(rewardsExtDir, "locales", name))
		for k, v := range en {
			o, ok := other[k]
			switch {
			case !ok:
				t.Errorf("%s lacks %s", name, k)
			case !slices.Equal(placeholders(v), placeholders(o)):
				t.Errorf("%s %s has placeholders %v, en has %v", name, k, placeholders(o), placeholders(v))
			}
		}
		for k := range other {
			if _, ok := en[k]; !ok {
				t.Errorf("%s has %s, which en.default.json lacks", name, k)
			}
		}
	}

	// A theme app extension is type "theme" in the CLI layout, and the script
	// stays small (the budget is 250 lines).
	toml := string(readRewardsFile(t, filepath.Join(rewardsExtDir, "shopify.extension.toml")))
	if !regexp.MustCompile(`(?m)^type = "theme"$`).MatchString(toml) || !regexp.MustCompile(`(?m)^name = "\S+"$`).MatchString(toml) {
		t.Errorf("shopify.extension.toml needs name and type = \"theme\":\n%s", toml)
	}
	if js := readRewardsFile(t, filepath.Join(rewardsExtDir, "assets", "rewards.js")); strings.Count(string(js), "\n") > 250 {
		t.Errorf("rewards.js has %d lines; keep it under 250", strings.Count(string(js), "\n"))
	}
}

// rewardsProxyFake plays Doorstep behind Shopify's app proxy: one shopper's rewards,
// with a balance that redeeming spends.
type rewardsProxyFake struct {
	mu         sync.Mutex
	rewards    map[string]any // the GET /rewards answer, without balance
	rawRewards string         // when set, answered as is with status 500
	balance    int
	pending    bool // redeem answers 202 pending, as when the shop is slow to make the code
	// hold, when set, keeps every redeem request waiting until it is
	// closed, so a test decides what happens while one is in flight
	// instead of racing a sleep.
	hold        chan struct{}
	codes       int
	redeemCalls int
	birthdays   []string
	queries     []string // raw queries of GET /rewards: the page must send none
}

func (f *rewardsProxyFake) setBalance(b int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.balance = b
}

func (f *rewardsProxyFake) snapshot() (redeems int, birthdays, queries []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.redeemCalls, slices.Clone(f.birthdays), slices.Clone(f.queries)
}

func rewardsWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func rewardsProxyError(w http.ResponseWriter, status int, code, msg string) {
	rewardsWriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (f *rewardsProxyFake) handler(page string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Account</title></head>\n<body><main>%s</main></body></html>\n", page)
	})
	mux.Handle("GET "+rewardsAssetPath, http.StripPrefix(rewardsAssetPath, http.FileServer(http.Dir(filepath.Join(rewardsExtDir, "assets")))))
	mux.HandleFunc("GET /apps/doorstep/rewards", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		if f.rawRewards != "" {
			raw := f.rawRewards
			f.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, raw)
			return
		}
		body := map[string]any{}
		for k, v := range f.rewards {
			body[k] = v
		}
		if _, ok := body["balance"]; !ok {
			body["balance"] = f.balance
		}
		f.mu.Unlock()
		rewardsWriteJSON(w, http.StatusOK, body)
	})
	mux.HandleFunc("POST /apps/doorstep/redeem", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Points int `json:"points"`
		}
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Points <= 0 {
			rewardsProxyError(w, http.StatusBadRequest, "bad_request", "Send {\"points\": N}.")
			return
		}
		f.mu.Lock()
		f.redeemCalls++
		hold := f.hold
		f.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-time.After(10 * time.Second):
			}
		} else {
			// Slow enough that the busy state shows.
			time.Sleep(300 * time.Millisecond)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if req.Points > f.balance {
			rewardsProxyError(w, http.StatusConflict, "insufficient_points",
				fmt.Sprintf("You have %d points; this reward needs %d.", f.balance, req.Points))
			return
		}
		f.balance -= req.Points
		if f.pending {
			rewardsWriteJSON(w, http.StatusAccepted, map[string]any{
				"status": "pending", "message": "Your code is on its way.", "balance": f.balance,
			})
			return
		}
		f.codes++
		rewardsWriteJSON(w, http.StatusOK, map[string]any{
			"code":     fmt.Sprintf("DS-TEST-%04d", f.codes),
			"amount":   fmt.Sprintf("%d.%02d", req.Points/100, req.Points%100),
			"currency": "USD",
			"balance":  f.balance,
		})
	})
	mux.HandleFunc("POST /apps/doorstep/profile", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Birthday string `json:"birthday"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil || !regexp.MustCompile(`^\d\d-\d\d$`).MatchString(req.Birthday) {
			rewardsProxyError(w, http.StatusUnprocessableEntity, "invalid_birthday", "Birthday must be MM-DD.")
			return
		}
		f.mu.Lock()
		f.birthdays = append(f.birthdays, req.Birthday)
		f.mu.Unlock()
		rewardsWriteJSON(w, http.StatusOK, map[string]any{"birthday": req.Birthday})
	})
	return mux
}

// rewardsPanelState is what the shopper sees, read from the page.
type rewardsPanelState struct {
	Balance  string          `json:"balance"`
	Text     string          `json:"text"`
	Disabled map[string]bool `json:"disabled"`
	Busy     map[string]bool `json:"busy"`
	Status   []string        `json:"status"`
	Codes    []string        `json:"codes"`
	Referral string          `json:"referral"`
	Birthday bool            `json:"birthday"`
}

const rewardsPanelJS = `(() => {
  const q = (s) => document.querySelector(s);
  const buttons = [...document.querySelectorAll('button[data-points]')];
  return {
    balance: q('.doorstep-rewards__balance') ? q('.doorstep-rewards__balance').textContent : '',
    text: q('.doorstep-rewards').innerText,
    disabled: Object.fromEntries(buttons.map((b) => [b.dataset.points, b.disabled])),
    busy: Object.fromEntries(buttons.map((b) => [b.dataset.points, b.getAttribute('aria-disabled') === 'true'])),
    status: [...document.querySelectorAll('[role=status]')].map((e) => e.textContent).filter(Boolean),
    codes: [...document.querySelectorAll('.doorstep-rewards__code')].map((e) => e.textContent),
    referral: q('.doorstep-rewards__input') ? q('.doorstep-rewards__input').value : '',
    birthday: !!q('form.doorstep-rewards__birthday'),
  };
})()`

func TestRewardsBlock_Browser_RedeemReferralBirthday(t *testing.T) {
	t.Parallel()
	rewards := readRewardsJSON(t, filepath.Join(rewardsTestdata, "rewards.json"))
	delete(rewards, "balance") // the fake keeps the balance
	fake := &rewardsProxyFake{rewards: rewards, balance: 1200}
	srv := httptest.NewServer(fake.handler(renderRewardsBlock(t, "logged_in.json", nil)))
	defer srv.Close()

	var (
		jsMu     sync.Mutex
		jsErrors []string
	)
	bctx := headlessChromium(t, 20*time.Second, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			jsMu.Lock()
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			jsErrors = append(jsErrors, fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1))
			jsMu.Unlock()
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				jsMu.Lock()
				jsErrors = append(jsErrors, fmt.Sprintf("console.error %d args", len(ev.Args)))
				jsMu.Unlock()
			}
		}
	}))

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitFor := func(what, predicate string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			st := rewardsPanel(bctx, t)
			t.Fatalf("waiting for %s: %v\npage: %+v", what, err, st)
		}
	}
	statusHas := func(s string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('[role=status]')].some((e) => e.textContent.includes(%q))`, s)
	}

	// Load: the panel fills from GET /apps/doorstep/rewards.
	do("open the page", chromedp.Navigate(srv.URL+"/"))
	waitFor("the balance", `document.querySelector('.doorstep-rewards__balance') !== null`)
	st := rewardsPanel(bctx, t)
	if st.Balance != "1,200" {
		t.Errorf("balance shows %q, want 1,200", st.Balance)
	}
	for _, want := range []string{
		"Pending points", "300", "Gold", "1.5× points on every order",
		"Spend $120.00 more to reach Platinum.", "100 points = $1.00",
		"Redeem 500 points for $5.00", "Redeem 1,000 points for $10.00",
		"Order #1001", "+120 points", "pending", "Nov 20, 2026",
		"Your friend gets 10% off and you get 500 points.", "Your birthday",
	} {
		if !strings.Contains(st.Text, want) {
			t.Errorf("panel lacks %q; it shows:\n%s", want, st.Text)
		}
	}
	if strings.Contains(st.Text, "Points owed") {
		t.Error("debt 0 should not show a 'Points owed' row")
	}
	if st.Referral != "https://shop.example/r/ANNA-7K2Q" {
		t.Errorf("referral link field = %q", st.Referral)
	}
	if st.Disabled["500"] || st.Disabled["1000"] {
		t.Errorf("a balance of 1200 covers both options, yet disabled = %v", st.Disabled)
	}
	if !st.Birthday {
		t.Error("birthday is null: the birthday form should show")
	}

	// Redeem, clicking twice while the first request is in flight (the
	// fake holds it until both clicks are in): one request, the code, the
	// new balance.
	release := make(chan struct{})
	fake.mu.Lock()
	fake.hold = release
	fake.mu.Unlock()
	do("double-click redeem 500",
		chromedp.Click(chromedp.CSS(`button[data-points="500"]`)),
		chromedp.Click(chromedp.CSS(`button[data-points="500"]`)))
	fake.mu.Lock()
	fake.hold = nil
	fake.mu.Unlock()
	close(release)
	waitFor("the discount code", `document.querySelectorAll('.doorstep-rewards__code').length > 0`)
	// Give a stray second request time to arrive before counting.
	do("settle", chromedp.Sleep(400*time.Millisecond))
	st = rewardsPanel(bctx, t)
	if n, _, _ := fake.snapshot(); n != 1 {
		t.Errorf("two quick clicks sent %d redeem requests, want 1", n)
	}
	if !slices.Equal(st.Codes, []string{"DS-TEST-0001"}) {
		t.Errorf("codes shown = %v, want [DS-TEST-0001]", st.Codes)
	}
	if st.Balance != "700" {
		t.Errorf("balance after redeeming 500 shows %q, want 700", st.Balance)
	}
	if !slices.ContainsFunc(st.Status, func(s string) bool { return s == "Your discount code for $5.00 is DS-TEST-0001." }) {
		t.Errorf("status = %q, want the code announced", st.Status)
	}
	if !st.Disabled["1000"] || st.Disabled["500"] || st.Busy["500"] {
		t.Errorf("with 700 points: disabled = %v, busy = %v; want only 1000 disabled", st.Disabled, st.Busy)
	}

	// The points were spent elsewhere: the proxy answers 409, the page says why
	// and lets the shopper try again.
	fake.setBalance(100)
	do("redeem 500 with too few points", chromedp.Click(chromedp.CSS(`button[data-points="500"]`)))
	const msg = "You have 100 points; this reward needs 500."
	waitFor("the insufficient-points message", statusHas(msg))
	waitFor("the button to come back", `document.querySelector('button[data-points="500"]').getAttribute('aria-disabled') === 'false'`)
	st = rewardsPanel(bctx, t)
	if st.Disabled["500"] || st.Busy["500"] {
		t.Errorf("after an error the button should be usable again: disabled = %v, busy = %v", st.Disabled, st.Busy)
	}
	if len(st.Codes) != 1 || st.Balance != "700" {
		t.Errorf("a refused redeem changed the panel: codes %v, balance %q", st.Codes, st.Balance)
	}
	if n, _, _ := fake.snapshot(); n != 2 {
		t.Errorf("redeem requests = %d, want 2", n)
	}

	// The shop is slow to make the code: 202 pending spends the points and
	// says so, without a code.
	fake.mu.Lock()
	fake.balance, fake.pending = 1000, true
	fake.mu.Unlock()
	do("redeem while the shop is slow", chromedp.Click(chromedp.CSS(`button[data-points="500"]`)))
	waitFor("the pending message", statusHas("Your code is on its way."))
	st = rewardsPanel(bctx, t)
	if st.Balance != "500" || len(st.Codes) != 1 {
		t.Errorf("after a pending redeem: balance %q (want 500), codes %v (want the first only)", st.Balance, st.Codes)
	}

	// Birthday: a day April doesn't have is refused on the page; a real one posts MM-DD.
	do("pick 31 April",
		chromedp.SetValue(chromedp.CSS(`select[name="month"]`), "04"),
		chromedp.SetValue(chromedp.CSS(`select[name="day"]`), "31"),
		chromedp.Click(chromedp.CSS(`form.doorstep-rewards__birthday button[type="submit"]`)))
	waitFor("the invalid-date message", statusHas("Choose a month and a day that exists."))
	do("pick 12 April",
		chromedp.SetValue(chromedp.CSS(`select[name="day"]`), "12"),
		chromedp.Click(chromedp.CSS(`form.doorstep-rewards__birthday button[type="submit"]`)))
	waitFor("the thank-you", statusHas("Thank you! We'll remember your birthday."))
	st = rewardsPanel(bctx, t)
	if st.Birthday {
		t.Error("the birthday form should be gone after saving")
	}
	_, birthdays, queries := fake.snapshot()
	if !slices.Equal(birthdays, []string{"04-12"}) {
		t.Errorf("profile posts = %q, want [04-12]", birthdays)
	}

	// Missing, null and odd fields don't break the panel; a failed load says so.
	for _, tc := range []struct {
		name     string
		rewards  map[string]any
		raw      string
		balance  string
		contains []string
		absent   []string
	}{
		{
			name:     "only a balance",
			rewards:  map[string]any{"balance": 5},
			balance:  "5",
			contains: []string{"No rewards to redeem yet.", "No activity yet."},
			absent:   []string{"Tier", "Refer a friend", "Your birthday", "Pending points"},
		},
		{
			name: "nulls and junk",
			rewards: map[string]any{
				"balance": nil, "pending": "x", "debt": 40, "tier": map[string]any{"name": "Silver", "multiplier": nil},
				"next_tier": map[string]any{"name": "Gold"}, "points_value": nil,
				"redeem_options": []any{nil, "x", map[string]any{"points": -5}, map[string]any{"points": 50}},
				"history":        []any{nil, 3, map[string]any{"points": "x", "description": "Adjustment"}},
				"referral":       map[string]any{"link": nil}, "birthday": "04-12",
			},
			balance:  "–",
			contains: []string{"Points owed", "40", "Silver", "50 points", "Adjustment"},
			absent:   []string{"Refer a friend", "Your birthday", "Spend", "× points"},
		},
		{
			name:     "server error",
			raw:      "<html>Bad gateway</html>",
			contains: []string{"We couldn't load your rewards. Please try again later."},
		},
	} {
		fake.mu.Lock()
		fake.rewards, fake.rawRewards = tc.rewards, tc.raw
		fake.mu.Unlock()
		do(tc.name, chromedp.Navigate(srv.URL+"/"))
		waitFor(tc.name, `document.querySelector('[data-doorstep-rewards]').textContent.indexOf('Loading') === -1`)
		st := rewardsPanel(bctx, t)
		if st.Balance != tc.balance {
			t.Errorf("%s: balance %q, want %q", tc.name, st.Balance, tc.balance)
		}
		for _, want := range tc.contains {
			if !strings.Contains(st.Text, want) {
				t.Errorf("%s: panel lacks %q; it shows:\n%s", tc.name, want, st.Text)
			}
		}
		for _, no := range tc.absent {
			if strings.Contains(st.Text, no) {
				t.Errorf("%s: panel shows %q; it shows:\n%s", tc.name, no, st.Text)
			}
		}
		if tc.name == "nulls and junk" && (!st.Disabled["50"] || len(st.Disabled) != 1) {
			t.Errorf("%s: with no known balance the one valid option should be disabled: %v", tc.name, st.Disabled)
		}
	}

	_, _, queries = fake.snapshot()
	for _, q := range queries {
		if q != "" {
			t.Errorf("the page sent a query string to /rewards: %q (the proxy names the customer)", q)
		}
	}
	jsMu.Lock()
	defer jsMu.Unlock()
	if len(jsErrors) > 0 {
		t.Errorf("JavaScript errors: %q", jsErrors)
	}
}

func rewardsPanel(ctx context.Context, t *testing.T) rewardsPanelState {
	t.Helper()
	st, err := chromedp.Run(ctx, chromedp.Evaluate[rewardsPanelState](rewardsPanelJS))
	if err != nil {
		t.Fatalf("read the panel: %v", err)
	}
	return st
}
