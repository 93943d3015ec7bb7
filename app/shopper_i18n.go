package app

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep/doorstep/jobs"
)

// The shopper pages speak the shopper's language, resolved like the
// messages': the order's (or message's) locale, then the shop's default,
// then English. The words live in templates/shopper/i18n/<lang>.json; a
// test keeps every catalog complete and every key the pages use present.

//go:embed templates/shopper/i18n/*.json
var shopperI18nFS embed.FS

// shopperLocales are the languages with a catalog; English is the fallback
// and the reference the others are checked against.
var shopperLocales = []string{"en", "fr", "es", "de"}

var shopperCatalogs = mustShopperCatalogs()

func mustShopperCatalogs() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, loc := range shopperLocales {
		b, err := shopperI18nFS.ReadFile("templates/shopper/i18n/" + loc + ".json")
		if err != nil {
			panic(err)
		}
		var cat map[string]string
		if err := json.Unmarshal(b, &cat); err != nil {
			panic(fmt.Sprintf("shopper catalog %s: %v", loc, err))
		}
		out[loc] = cat
	}
	return out
}

// shopperLanguage picks the first of the locales ("fr-CA" counts as "fr")
// that has a catalog, else English.
func shopperLanguage(locales ...string) string {
	for _, l := range locales {
		l = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(l, "_", "-")))
		lang, _, _ := strings.Cut(l, "-")
		if _, ok := shopperCatalogs[lang]; ok {
			return lang
		}
	}
	return "en"
}

// acceptLanguage reads the browser's preferred languages, for pages that
// know no order (a broken link): "fr-CH, fr;q=0.9, en;q=0.8" → fr-CH, fr, en.
// The q values are taken in the order given, as browsers send them.
func acceptLanguage(h string) []string {
	var out []string
	for _, part := range strings.Split(h, ",") {
		tag, _, _ := strings.Cut(part, ";")
		if tag = strings.TrimSpace(tag); tag != "" && tag != "*" {
			out = append(out, tag)
		}
		if len(out) == 8 {
			break
		}
	}
	return out
}

// shopperLang is the page's language: the template calls .L.T "key".
type shopperLang struct {
	Code string
	cat  map[string]string
}

func langOf(code string) shopperLang {
	code = shopperLanguage(code)
	return shopperLang{Code: code, cat: shopperCatalogs[code]}
}

// T is the phrase for key, filled with args like fmt.Sprintf. An unknown
// key is an error, so a render fails (500, logged) rather than show a key.
func (l shopperLang) T(key string, args ...any) (string, error) {
	s, ok := l.cat[key]
	if !ok {
		return "", fmt.Errorf("unknown shopper phrase %q", key)
	}
	if len(args) == 0 {
		return s, nil
	}
	return fmt.Sprintf(s, args...), nil
}

// t is T for Go code, whose keys the catalog test checks.
func (l shopperLang) t(key string, args ...any) string {
	s, err := l.T(key, args...)
	if err != nil {
		return key
	}
	return s
}

// H is T for phrases with markup (<strong>): the catalog is ours and
// trusted, the arguments are escaped.
func (l shopperLang) H(key string, args ...any) (template.HTML, error) {
	s, ok := l.cat[key]
	if !ok {
		return "", fmt.Errorf("unknown shopper phrase %q", key)
	}
	esc := make([]any, len(args))
	for i, a := range args {
		esc[i] = template.HTMLEscapeString(fmt.Sprint(a))
	}
	return template.HTML(fmt.Sprintf(s, esc...)), nil //nolint:gosec // trusted catalog, escaped args
}

// status says a shipment status the way a shopper would.
func (l shopperLang) status(s string) string {
	if s == "" {
		s = "confirmed"
	}
	if v, ok := l.cat["status."+s]; ok {
		return v
	}
	v := strings.ReplaceAll(s, "_", " ")
	return strings.ToUpper(v[:1]) + v[1:]
}

func (l shopperLang) stars(n int) string {
	if n == 1 {
		return l.t("stars.one")
	}
	return l.t("stars.other", n)
}

// day is "Monday 2 January 2026" in the page's language and loc.
func (l shopperLang) day(loc *time.Location, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(loc)
	return fmt.Sprintf(l.cat["fmt.day"], l.cat["weekday."+strconv.Itoa(int(t.Weekday()))], t.Day(),
		l.cat["month."+strconv.Itoa(int(t.Month()))], t.Year())
}

// moment is "2 January 2026, 14:05 CET" in the page's language and loc.
func (l shopperLang) moment(loc *time.Location, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(loc)
	return fmt.Sprintf(l.cat["fmt.moment"], l.cat["weekday."+strconv.Itoa(int(t.Weekday()))], t.Day(),
		l.cat["month."+strconv.Itoa(int(t.Month()))], t.Year(), t.Format("15:04 MST"))
}

// ---- brand ----

// defaultShopperAccent is used when a shop set no brand colour.
const defaultShopperAccent = "#0b57d0"

// shopperPageBG is the page background links and buttons sit on (cards
// are white, which is lighter, so passing here passes there).
const shopperPageBG = "#f6f6f7"

// brandView is what the page's CSS and header take from the shop's brand.
type brandView struct {
	// Stripe is the brand colour as set: decoration only.
	Stripe string
	// Accent is the brand colour, darkened until white text on it and it
	// as text on the page both reach WCAG AA (4.5:1): buttons, links,
	// progress.
	Accent string
	// Logo is an https logo URL, or "".
	Logo string
}

func brandOf(s jobs.Settings) brandView {
	c := strings.ToLower(strings.TrimSpace(s.Brand.Color))
	if _, ok := parseHex(c); !ok {
		c = defaultShopperAccent
	}
	b := brandView{Stripe: c, Accent: accessibleAccent(c)}
	if u, err := url.Parse(s.Brand.LogoURL); err == nil && u.Scheme == "https" && u.Host != "" {
		b.Logo = s.Brand.LogoURL
	}
	return b
}

// accessibleAccent darkens c in small steps until white on it and it on
// the page background both have a contrast ratio of at least 4.5.
func accessibleAccent(c string) string {
	rgb, ok := parseHex(c)
	if !ok {
		return defaultShopperAccent
	}
	white, _ := parseHex("#ffffff")
	bg, _ := parseHex(shopperPageBG)
	for range 40 {
		if contrastRatio(rgb, white) >= 4.5 && contrastRatio(rgb, bg) >= 4.5 {
			break
		}
		for i := range rgb {
			rgb[i] *= 0.9
		}
	}
	return fmt.Sprintf("#%02x%02x%02x", int(math.Round(rgb[0])), int(math.Round(rgb[1])), int(math.Round(rgb[2])))
}

// parseHex reads #rrggbb (or #rgb) into 0..255 channels.
func parseHex(c string) ([3]float64, bool) {
	h, ok := strings.CutPrefix(c, "#")
	if !ok {
		return [3]float64{}, false
	}
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		return [3]float64{}, false
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return [3]float64{}, false
	}
	return [3]float64{float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)}, true
}

// luminance is WCAG 2's relative luminance.
func luminance(rgb [3]float64) float64 {
	var lin [3]float64
	for i, v := range rgb {
		v /= 255
		if v <= 0.04045 {
			lin[i] = v / 12.92
		} else {
			lin[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*lin[0] + 0.7152*lin[1] + 0.0722*lin[2]
}

// contrastRatio is WCAG 2's (L1 + 0.05) / (L2 + 0.05), from 1 to 21.
func contrastRatio(a, b [3]float64) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}
