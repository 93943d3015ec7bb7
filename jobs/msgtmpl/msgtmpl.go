// Package msgtmpl renders the post-purchase messages Doorstep sends: a
// subject, an HTML part, a plain-text part and an SMS body per flow.
//
// Built-in copy ships for every flow in English, French, Spanish and
// German (embedded under defaults/). A merchant can save their own Set per
// flow and locale; Validate checks it at save time against sample data so
// a broken template is refused in the admin rather than failing at send
// time. docs/TEMPLATES.md lists every variable and function.
package msgtmpl

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"regexp"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
)

// Flows: the template keys, also the :flow of the admin API.
const (
	ThankYou       = "thank_you"
	ShippingNotice = "shipping_notice"      // one template for every shipment status; uses .Shipment.Status
	DelayAlert     = "delay_alert"          // apology to the shopper
	MerchantDelay  = "merchant_delay_alert" // internal alert to the merchant
	ReviewRequest  = "review_request"       // .Step is "ask" or "reminder"
	NPSRequest     = "nps_request"

	// Loyalty flows: all are account notices (transactional) and read .Loyalty.
	LoyaltyReversed = "loyalty_reversed" // points taken back after a refund or cancellation; uses .Loyalty.Reason
	LoyaltyTierUp   = "loyalty_tier_up"  // the shopper reached a new tier
	LoyaltyExpiring = "loyalty_expiring" // reminder that points expire on .Loyalty.ExpiresAt
	ReferralReward  = "referral_reward"  // a referred friend's first order earned points or a code
)

// Flows lists every flow in a stable order.
func Flows() []string {
	return []string{ThankYou, ShippingNotice, DelayAlert, MerchantDelay, ReviewRequest, NPSRequest,
		LoyaltyReversed, LoyaltyTierUp, LoyaltyExpiring, ReferralReward}
}

// Locales lists the locales with built-in copy. Any other locale renders
// with the English defaults unless the shop saved a custom set for it.
func Locales() []string {
	return []string{"en", "fr", "es", "de"}
}

// fallbackLocale is the last stop of locale resolution and the locale
// every built-in catalog is checked against.
const fallbackLocale = "en"

// DefaultBrandColor is used when Shop.BrandColor is empty or not a hex colour.
const DefaultBrandColor = "#1a73e8"

// ErrUnknownFlow is returned by Render and Validate for a flow not in Flows.
var ErrUnknownFlow = errors.New("unknown message flow")

// ErrMissingUnsubscribe is returned (wrapped) when a marketing message
// renders without its unsubscribe link or SMS opt-out, so a non-compliant
// message is never sent.
var ErrMissingUnsubscribe = errors.New("marketing message has no unsubscribe link")

// Set is one editable template: what a merchant saves per shop, per flow,
// per locale. An empty field means "use the default".
type Set struct {
	Subject string `json:"subject"` // text/template
	HTML    string `json:"html"`    // html/template (escaped)
	Text    string `json:"text"`    // text/template: plain-text email part
	SMS     string `json:"sms"`     // text/template: SMS body
}

// Rendered is a message ready to send. Subject and SMS are single lines.
type Rendered struct {
	Subject, HTML, Text, SMS string
}

// Data is everything a template can read. Money is pre-formatted by the
// caller because currency formatting belongs to the shop, not the template.
type Data struct {
	Locale    string
	Shop      Shop
	Customer  Customer
	Order     Order
	Shipment  *Shipment // nil unless the message is about a fulfillment
	Delay     *Delay    // set for delay_alert and merchant_delay_alert
	Loyalty   *Loyalty  // set for the loyalty flows and referral_reward; nil otherwise
	Step      string    // "ask" or "reminder" for review requests
	Links     Links
	Marketing bool // non-transactional: the unsubscribe link is then required
}

// Shop is the merchant's branding.
type Shop struct {
	Name       string
	Email      string
	LogoURL    string
	BrandColor string // hex like #1a73e8; DefaultBrandColor when empty or invalid
	Domain     string
	Address    string // postal address, shown in the footer when set (anti-spam laws want it on marketing mail)
}

// Customer is the shopper.
type Customer struct {
	FirstName string
	Name      string
}

// Order is the order the message is about. Money fields are formatted
// ("€12.50"); empty ones are left out of the totals.
type Order struct {
	Name                                      string // "#1001"
	CreatedAt                                 time.Time
	Items                                     []Item
	Subtotal, Shipping, Tax, Discounts, Total string
	Currency                                  string
}

// Item is one line of an order or shipment.
type Item struct {
	Title, Variant, ImageURL, Price string
	Quantity                        int
}

// Shipment statuses, as Shopify names them.
const (
	StatusConfirmed         = "confirmed"
	StatusInTransit         = "in_transit"
	StatusOutForDelivery    = "out_for_delivery"
	StatusAttemptedDelivery = "attempted_delivery"
	StatusDelivered         = "delivered"
	StatusFailure           = "failure"
	StatusReadyForPickup    = "ready_for_pickup"
)

// Statuses lists the shipment statuses the default copy has words for.
func Statuses() []string {
	return []string{StatusConfirmed, StatusInTransit, StatusOutForDelivery, StatusAttemptedDelivery,
		StatusDelivered, StatusFailure, StatusReadyForPickup}
}

// Shipment is one fulfillment. Index and Count number the packages of a
// split order; Count <= 1 means a single package.
type Shipment struct {
	Status            string
	Carrier           string
	TrackingNumber    string
	TrackingURL       string
	Index, Count      int
	Items             []Item
	EstimatedDelivery *time.Time
}

// Delay reasons.
const (
	ReasonCarrierFailure = "carrier_failure"
	ReasonAttempted      = "attempted"
	ReasonLate           = "late"
	ReasonStalled        = "stalled"
)

// DelayReasons lists the delay reasons the default copy has words for.
func DelayReasons() []string {
	return []string{ReasonCarrierFailure, ReasonAttempted, ReasonLate, ReasonStalled}
}

// Delay says why an order is late.
type Delay struct {
	Reason   string
	DaysLate int
}

// Reasons points are reversed (loyalty_reversed). They are a separate set
// from the delay reasons, though reasonLabel names both.
const (
	LoyaltyReasonRefund        = "refund"
	LoyaltyReasonPartialRefund = "partial_refund"
	LoyaltyReasonCancellation  = "cancellation"
)

// LoyaltyReasons lists the reversal reasons the default copy has words for.
func LoyaltyReasons() []string {
	return []string{LoyaltyReasonRefund, LoyaltyReasonPartialRefund, LoyaltyReasonCancellation}
}

// Loyalty is the shopper's points account as a loyalty message needs it.
// Point amounts are whole points; templates print them with the points
// function so they get the locale's thousands separator.
type Loyalty struct {
	Points  int64 // the points the message is about: reversed, expiring or earned
	Balance int64 // spendable points after the event
	Pending int64 // earned but not spendable yet
	// Debt is what the shopper owes after the event: reversed points they
	// had already spent, which could not come off the balance, so future
	// earnings pay it off first. It is the account's whole debt, so it may
	// exceed Points when an earlier reversal left one too.
	Debt       int64
	Reason     string    // loyalty_reversed: one of LoyaltyReasons (others are humanized)
	Tier       string    // loyalty_tier_up: the tier reached, e.g. "Gold"
	Multiplier string    // loyalty_tier_up: points multiplier with a dot, e.g. "1.5"; may be empty
	ExpiresAt  time.Time // loyalty_expiring: when Points expire, in the shop's time zone
	Code       string    // referral_reward: the discount code when the reward is a code, else empty
	CodeValue  string    // formatted money the code is worth, e.g. "$5.00"; may be empty
	OrderName  string    // the order the event is about, e.g. "#1001"; may be empty
}

// Review request steps.
const (
	StepAsk      = "ask"
	StepReminder = "reminder"
)

// Links are URLs Doorstep built for this message (https, so html/template
// lets them into href and src attributes).
type Links struct {
	Tracking, Feedback, Preferences, Unsubscribe, Review string
	Rating                                               [5]string  // one-click delivery rating, 1..5
	NPS                                                  [11]string // one-click NPS score, 0..10
	Rewards                                              string     // the shopper's rewards (points) page; loyalty flows
	Referral                                             string     // the shopper's own link to share with friends; may be empty
}

// parts are the four Set fields, in the order Validate reports them.
const (
	partSubject = "subject"
	partHTML    = "html"
	partText    = "text"
	partSMS     = "sms"
)

//go:embed defaults
var defaultsFS embed.FS

// compiled is a Set parsed for one locale.
type compiled struct {
	subject, text, sms *texttemplate.Template
	html               *htmltemplate.Template
}

// Renderer holds the parsed default templates. It is safe for concurrent use.
type Renderer struct {
	sources      map[string]Set      // flow+"/"+locale → default source
	defaults     map[string]compiled // flow+"/"+locale → parsed default
	catalogs     map[string]map[string]string
	htmlPartials string
	textPartials string

	// bufs keeps render buffers at the size of the last message: a worker
	// renders many messages a second, and growing a fresh buffer to ~10 KB
	// for each part was most of what rendering allocated.
	bufs sync.Pool

	// custom holds merchants' sets as parsed, keyed by locale and content,
	// so a shop's edited template is parsed once, not for every message.
	customMu sync.Mutex
	custom   map[string]compiled
}

// maxCustom bounds the parsed merchants' sets kept; past it the cache
// starts over (a set is re-parsed the next time it is used).
const maxCustom = 512

// compileCustom is compile for a merchant's set, through the cache. The key
// is the set's content, so an edited set is a new entry and the old one
// ages out; sets that fail to parse are not kept.
func (r *Renderer) compileCustom(set Set, locale string) (compiled, string, error) {
	key := strings.Join([]string{locale, set.Subject, set.HTML, set.Text, set.SMS}, "\x00")
	r.customMu.Lock()
	c, ok := r.custom[key]
	r.customMu.Unlock()
	if ok {
		return c, "", nil
	}
	c, field, err := r.compile(set, locale, false)
	if err != nil {
		return compiled{}, field, err
	}
	r.customMu.Lock()
	if len(r.custom) >= maxCustom {
		clear(r.custom)
	}
	r.custom[key] = c
	r.customMu.Unlock()
	return c, "", nil
}

// New parses the embedded defaults. It fails if a default does not parse or
// a locale's phrase catalog lacks a key the English one has.
func New() (*Renderer, error) {
	r := &Renderer{
		sources:  make(map[string]Set),
		defaults: make(map[string]compiled),
		catalogs: make(map[string]map[string]string),
		custom:   make(map[string]compiled),
	}
	b, err := fs.ReadFile(defaultsFS, "defaults/partials.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("read html partials: %w", err)
	}
	r.htmlPartials = string(b)
	b, err = fs.ReadFile(defaultsFS, "defaults/partials.text.tmpl")
	if err != nil {
		return nil, fmt.Errorf("read text partials: %w", err)
	}
	r.textPartials = string(b)

	for _, loc := range Locales() {
		cat, err := loadCatalog(loc)
		if err != nil {
			return nil, err
		}
		r.catalogs[loc] = cat
	}
	for _, loc := range Locales() {
		for key := range r.catalogs[fallbackLocale] {
			if _, ok := r.catalogs[loc][key]; !ok {
				return nil, fmt.Errorf("phrases %s: missing key %q", loc, key)
			}
		}
	}

	for _, loc := range Locales() {
		for _, flow := range Flows() {
			set, err := readDefault(flow, loc)
			if err != nil {
				return nil, err
			}
			c, field, err := r.compile(set, loc, true)
			if err != nil {
				return nil, fmt.Errorf("default %s/%s %s: %w", loc, flow, field, err)
			}
			r.sources[flow+"/"+loc] = set
			r.defaults[flow+"/"+loc] = c
		}
	}
	return r, nil
}

func readDefault(flow, locale string) (Set, error) {
	read := func(part string) (string, error) {
		name := fmt.Sprintf("defaults/%s/%s.%s.tmpl", locale, flow, part)
		b, err := fs.ReadFile(defaultsFS, name)
		if err != nil {
			return "", fmt.Errorf("read default %s: %w", name, err)
		}
		// Files end in a newline; the merchant editing the set should not
		// see it as part of the template.
		return strings.TrimRight(string(b), "\n"), nil
	}
	var set Set
	var err error
	if set.Subject, err = read(partSubject); err != nil {
		return Set{}, err
	}
	if set.HTML, err = read(partHTML); err != nil {
		return Set{}, err
	}
	if set.Text, err = read(partText); err != nil {
		return Set{}, err
	}
	if set.SMS, err = read(partSMS); err != nil {
		return Set{}, err
	}
	return set, nil
}

// compile parses every non-empty field of set with the phrases of locale.
// On error it names the field that failed. builtin inlines the set's plain
// phrase calls (see inlinePhrases) as the partials' always are; a merchant's
// set is parsed as written, so its errors point at its own lines and columns.
func (r *Renderer) compile(set Set, locale string, builtin bool) (compiled, string, error) {
	var c compiled
	var err error
	if set.Subject != "" {
		if c.subject, err = r.parseText(partSubject, set.Subject, locale, builtin); err != nil {
			return compiled{}, partSubject, err
		}
	}
	if set.HTML != "" {
		if c.html, err = r.parseHTML(set.HTML, locale, builtin); err != nil {
			return compiled{}, partHTML, err
		}
	}
	if set.Text != "" {
		if c.text, err = r.parseText(partText, set.Text, locale, builtin); err != nil {
			return compiled{}, partText, err
		}
	}
	if set.SMS != "" {
		if c.sms, err = r.parseText(partSMS, set.SMS, locale, builtin); err != nil {
			return compiled{}, partSMS, err
		}
	}
	return c, "", nil
}

// parseText parses src as the template named name, next to the text
// partials. Each parse gets its own copy of the partials so a custom set
// may redefine one without touching anybody else's.
func (r *Renderer) parseText(name, src, locale string, builtin bool) (*texttemplate.Template, error) {
	cat := r.catalogs[r.builtinLocale(locale)]
	if builtin {
		src = inlinePhrases(src, cat, false)
	}
	base, err := texttemplate.New("partials").Option("missingkey=error").Funcs(r.funcs(locale)).Parse(inlinePhrases(r.textPartials, cat, false))
	if err != nil {
		return nil, fmt.Errorf("parse text partials: %w", err)
	}
	t, err := base.New(name).Parse(src)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (r *Renderer) parseHTML(src, locale string, builtin bool) (*htmltemplate.Template, error) {
	cat := r.catalogs[r.builtinLocale(locale)]
	if builtin {
		src = inlinePhrases(src, cat, true)
	}
	base, err := htmltemplate.New("partials").Option("missingkey=error").Funcs(r.funcs(locale)).Parse(inlinePhrases(r.htmlPartials, cat, true))
	if err != nil {
		return nil, fmt.Errorf("parse html partials: %w", err)
	}
	t, err := base.New(partHTML).Parse(src)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// orDefault fills the fields a custom set left empty from def.
func (c compiled) orDefault(def compiled) compiled {
	if c.subject == nil {
		c.subject = def.subject
	}
	if c.html == nil {
		c.html = def.html
	}
	if c.text == nil {
		c.text = def.text
	}
	if c.sms == nil {
		c.sms = def.sms
	}
	return c
}

func knownFlow(flow string) bool {
	for _, f := range Flows() {
		if f == flow {
			return true
		}
	}
	return false
}

// Defaults returns the built-in Set for flow in locale (falling back from
// "fr-CA" to "fr" to English), and whether flow is known.
func (r *Renderer) Defaults(flow, locale string) (Set, bool) {
	if !knownFlow(flow) {
		return Set{}, false
	}
	return r.sources[flow+"/"+r.builtinLocale(locale)], true
}

// builtinLocale maps any locale to one with built-in copy.
func (r *Renderer) builtinLocale(locale string) string {
	for _, c := range candidates(locale) {
		if _, ok := r.catalogs[c]; ok {
			return c
		}
	}
	return fallbackLocale
}

// Render renders flow for data. custom holds the shop's saved sets by
// locale (may be nil).
//
// Locale resolution: data.Locale ("fr-CA", then "fr"), then shopLocale,
// then "en". At each step a custom set wins over the default for the same
// locale; the first locale with either is used, and an empty field of a
// custom set falls back to that locale's default field.
//
// A marketing message (data.Marketing) must render with
// data.Links.Unsubscribe in its HTML and text parts and "STOP" in its SMS;
// otherwise Render returns an error wrapping ErrMissingUnsubscribe.
func (r *Renderer) Render(flow string, custom map[string]Set, shopLocale string, data Data) (Rendered, error) {
	if !knownFlow(flow) {
		return Rendered{}, fmt.Errorf("render %q: %w", flow, ErrUnknownFlow)
	}
	locale, set, ok := r.resolve(custom, data.Locale, shopLocale)
	def := r.defaults[flow+"/"+r.builtinLocale(locale)]
	c := def
	if ok {
		var field string
		var err error
		c, field, err = r.compileCustom(set, locale)
		if err != nil {
			return Rendered{}, fmt.Errorf("render %s: custom %s %s: %w", flow, locale, field, err)
		}
		c = c.orDefault(def)
	}
	buf, _ := r.bufs.Get().(*cappedBuffer)
	if buf == nil {
		buf = &cappedBuffer{max: maxPartSize}
	}
	out, field, err := executeInto(buf, c, data)
	buf.Reset()
	r.bufs.Put(buf)
	if err != nil {
		return Rendered{}, fmt.Errorf("render %s %s %s: %w", flow, locale, field, err)
	}
	return out, nil
}

// resolve walks the locale candidates and returns the locale to render in
// and the custom set for it, if the shop saved one.
func (r *Renderer) resolve(custom map[string]Set, dataLocale, shopLocale string) (string, Set, bool) {
	var order []string
	order = append(order, candidates(dataLocale)...)
	order = append(order, candidates(shopLocale)...)
	order = append(order, fallbackLocale)
	for _, loc := range order {
		if set, ok := custom[loc]; ok {
			return loc, set, true
		}
		for key, set := range custom {
			if strings.EqualFold(canonicalLocale(key), loc) {
				return loc, set, true
			}
		}
		if _, ok := r.catalogs[loc]; ok {
			return loc, Set{}, false
		}
	}
	return fallbackLocale, Set{}, false
}

// candidates returns "fr-CA" then "fr" for "fr_ca"; nothing for "".
func candidates(locale string) []string {
	locale = canonicalLocale(locale)
	if locale == "" {
		return nil
	}
	if lang, _, ok := strings.Cut(locale, "-"); ok {
		return []string{locale, lang}
	}
	return []string{locale}
}

// canonicalLocale turns "FR_ca" into "fr-CA", the form Shopify uses.
func canonicalLocale(locale string) string {
	locale = strings.ReplaceAll(strings.TrimSpace(locale), "_", "-")
	lang, region, ok := strings.Cut(locale, "-")
	if !ok {
		return strings.ToLower(lang)
	}
	return strings.ToLower(lang) + "-" + strings.ToUpper(region)
}

var hexColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// brandColor keeps a valid hex colour and replaces anything else, so a
// bad setting degrades to our blue instead of html/template's ZgotmplZ.
func brandColor(c string) string {
	c = strings.TrimSpace(c)
	if !hexColor.MatchString(c) {
		return DefaultBrandColor
	}
	return strings.ToLower(c)
}

// execute runs the four parts and checks the marketing rules. On error it
// names the part that failed.
func execute(c compiled, data Data) (Rendered, string, error) {
	return executeInto(&cappedBuffer{max: maxPartSize}, c, data)
}

// executeInto is execute with a caller's (empty) buffer.
func executeInto(buf *cappedBuffer, c compiled, data Data) (Rendered, string, error) {
	data.Shop.BrandColor = brandColor(data.Shop.BrandColor)
	var out Rendered
	if err := c.subject.Execute(buf, data); err != nil {
		return Rendered{}, partSubject, err
	}
	out.Subject = oneLine(buf.String())
	buf.Reset()
	if err := c.html.Execute(buf, data); err != nil {
		return Rendered{}, partHTML, err
	}
	out.HTML = buf.String()
	buf.Reset()
	if err := c.text.Execute(buf, data); err != nil {
		return Rendered{}, partText, err
	}
	out.Text = tidyText(buf.String())
	buf.Reset()
	if err := c.sms.Execute(buf, data); err != nil {
		return Rendered{}, partSMS, err
	}
	out.SMS = oneLine(buf.String())
	if field, err := checkMarketing(out, data); err != nil {
		return Rendered{}, field, err
	}
	return out, "", nil
}

// maxPartSize bounds one rendered part. A merchant's template can loop;
// Gmail clips mail past ~100 KB anyway, so anything near this is a mistake.
const maxPartSize = 1 << 20

// cappedBuffer fails writes past max, which stops template execution.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("rendered part is larger than %d bytes", b.max)
	}
	return b.Buffer.Write(p)
}

// oneLine collapses every run of whitespace to one space: subjects must not
// carry newlines (header injection), and templates read better when their
// conditionals can sit on separate lines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var blankRuns = regexp.MustCompile(`\n{3,}`)

// tidyText trims trailing spaces and squeezes blank-line runs that
// conditionals leave behind, so plain-text templates can be written loosely.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	s = strings.Join(lines, "\n")
	s = blankRuns.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s) + "\n"
}
