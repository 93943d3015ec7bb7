package msgtmpl

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

// loadCatalog reads defaults/<locale>/phrases.json: the words the shared
// partials and the label functions need. Flow copy lives in the flow
// templates themselves so merchants can edit it.
func loadCatalog(locale string) (map[string]string, error) {
	name := "defaults/" + locale + "/phrases.json"
	b, err := fs.ReadFile(defaultsFS, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var cat map[string]string
	if err := json.Unmarshal(b, &cat); err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	return cat, nil
}

// funcs returns the template functions bound to locale. Binding at parse
// time keeps templates free of a locale argument: a set is always parsed for
// the one locale it is rendered in.
func (r *Renderer) funcs(locale string) texttemplate.FuncMap {
	builtin := r.builtinLocale(locale)
	cat := r.catalogs[builtin]
	phrase := func(key string) (string, error) {
		s, ok := cat[key]
		if !ok {
			return "", fmt.Errorf("unknown phrase %q", key)
		}
		return s, nil
	}
	return texttemplate.FuncMap{
		"t":    phrase,
		"lang": func() string { return builtin },
		"statusLabel": func(status string) string {
			if s, ok := cat["status."+status]; ok {
				return s
			}
			// Shopify adds statuses now and then; a readable label
			// beats failing the send.
			return humanize(status)
		},
		"reasonLabel": func(reason string) string {
			if s, ok := cat["reason."+reason]; ok {
				return s
			}
			return humanize(reason)
		},
		"date": func(t time.Time) string { return formatDate(cat, "fmt.date", t) },
		"day":  func(t time.Time) string { return formatDate(cat, "fmt.day", t) },
		"plural": func(n any, one, other string) (string, error) {
			v, err := integer(n)
			if err != nil {
				return "", fmt.Errorf("plural: %w", err)
			}
			// French counts 0 as singular ("0 point"); the others only 1.
			if v == 1 || v == 0 && builtin == "fr" {
				return one, nil
			}
			return other, nil
		},
		"points": func(n any) (string, error) {
			v, err := integer(n)
			if err != nil {
				return "", fmt.Errorf("points: %w", err)
			}
			return groupThousands(v, cat["fmt.thousands"]), nil
		},
		"decimal": func(s string) string { return localDecimal(s, cat["fmt.decimal"]) },
		"button": func(url, label, color string) Button {
			color = brandColor(color)
			return Button{URL: url, Label: label, Color: color, TextColor: textOn(color)}
		},
	}
}

// Button is what the "button" partial renders; build it with the button
// function so the text colour always contrasts with the brand colour.
type Button struct {
	URL, Label, Color, TextColor string
}

// formatDate fills the catalog's date pattern, whose arguments are
// weekday, day, month name and year; an empty string for the zero time
// lets templates skip the line with {{with}}.
func formatDate(cat map[string]string, key string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	weekday := cat["weekday."+strconv.Itoa(int(t.Weekday()))]
	month := cat["month."+strconv.Itoa(int(t.Month()))]
	return fmt.Sprintf(cat[key], weekday, t.Day(), month, t.Year())
}

// integer accepts any Go integer, so templates can pass an int literal, an
// int field or an int64 point amount alike.
func integer(n any) (int64, error) {
	v := reflect.ValueOf(n)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u > math.MaxInt64 {
			return 0, fmt.Errorf("%d is too large", u)
		}
		return int64(u), nil
	}
	return 0, fmt.Errorf("want a whole number, got %T", n)
}

// groupThousands writes n with sep between groups of three digits:
// 1234567 → "1,234,567" for sep ",".
func groupThousands(n int64, sep string) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	if len(digits) <= 3 || sep == "" {
		return sign + digits
	}
	var b strings.Builder
	b.WriteString(sign)
	head := len(digits) % 3
	if head == 0 {
		head = 3
	}
	b.WriteString(digits[:head])
	for i := head; i < len(digits); i += 3 {
		b.WriteString(sep)
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

var plainDecimal = regexp.MustCompile(`^-?[0-9]+\.[0-9]+$`)

// localDecimal swaps the dot of a plain decimal such as "1.5" for the
// locale's separator; anything else (already localized, "2", "x1.5") is
// returned unchanged.
func localDecimal(s, sep string) string {
	if sep == "" || !plainDecimal.MatchString(s) {
		return s
	}
	return strings.Replace(s, ".", sep, 1)
}

func humanize(s string) string {
	s = strings.ReplaceAll(s, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// textOn picks white or near-black text for a background, by the YIQ
// brightness formula: it keeps white on mid blues that the WCAG
// luminance crossover would give black text.
func textOn(hex string) string {
	hex = strings.TrimPrefix(hex, "#")
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || len(hex) != 6 {
		return "#ffffff"
	}
	red, green, blue := (v>>16)&0xff, (v>>8)&0xff, v&0xff
	if (red*299+green*587+blue*114)/1000 >= 150 {
		return "#1f2328"
	}
	return "#ffffff"
}

// phraseCall is a plain {{t "key"}}: no trim markers, no pipeline.
var phraseCall = regexp.MustCompile(`\{\{t "([A-Za-z0-9_.]+)"\}\}`)

// plainPhrase: text that html/template's escapers leave as it is in an
// HTML text node (no markup characters, quotes or ampersands).
var plainPhrase = regexp.MustCompile(`^[^<>&'"+\x00{}]*$`)

// rawTextTag opens an element whose content html/template escapes in its
// own way (script, style, title, textarea).
var rawTextTag = regexp.MustCompile(`(?i)^<(script|style|title|textarea)\b`)

// inlinePhrases replaces each plain {{t "key"}} with the phrase itself at
// parse time. A phrase is a constant of the locale the template is parsed
// for, and every call costs a reflective function call (two in HTML, with
// the escaper) on every render: a fifth of a three-item thank-you's calls.
// In HTML only phrases in a text node, outside script, style, title and
// textarea, and only ones the escaper would leave unchanged, are inlined, so
// the output is byte for byte the same; the rest stay calls.
func inlinePhrases(src string, cat map[string]string, html bool) string {
	var b strings.Builder
	last := 0
	for _, m := range phraseCall.FindAllStringSubmatchIndex(src, -1) {
		phrase, ok := cat[src[m[2]:m[3]]]
		// A phrase with edge spaces could lose them to a neighbour's trim
		// marker, and one with a line break would move error positions.
		if !ok || strings.TrimSpace(phrase) != phrase || strings.ContainsAny(phrase, "\n{}") ||
			html && !(plainPhrase.MatchString(phrase) && inTextNode(src[:m[0]])) {
			continue
		}
		b.WriteString(src[last:m[0]])
		b.WriteString(phrase)
		last = m[1]
	}
	if last == 0 {
		return src
	}
	b.WriteString(src[last:])
	return b.String()
}

// inTextNode reports whether HTML source that ends with before is in a text
// node: past the end of a tag (not inside one, nor inside a comment or
// another action), and not in a raw-text element.
func inTextNode(before string) bool {
	lt, gt := strings.LastIndexByte(before, '<'), strings.LastIndexByte(before, '>')
	if gt < lt || gt < 0 || strings.LastIndex(before, "{{") > strings.LastIndex(before, "}}") {
		return false
	}
	if lt >= 0 && rawTextTag.MatchString(before[lt:]) {
		return false
	}
	return strings.LastIndex(before, "<!--") <= strings.LastIndex(before, "-->") // not in a comment
}
