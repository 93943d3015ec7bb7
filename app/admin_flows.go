package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/email"
	"github.com/doorstep/doorstep/integrations/notify/outbox"
	"github.com/doorstep/doorstep/integrations/notify/sms"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// The Flows page: every flow's switch and timing, quiet hours, the
// frequency cap, and the template editor with its live preview and test
// send. Each card is a form the admin's script sends to the admin API; the
// page itself only reads.

// ---- page ----

// flowLabels name the flows for the merchant, in msgtmpl.Flows order.
var flowLabels = map[string]string{
	msgtmpl.ThankYou:        "Thank-you",
	msgtmpl.ShippingNotice:  "Shipping notice",
	msgtmpl.DelayAlert:      "Delay alert (to the shopper)",
	msgtmpl.MerchantDelay:   "Delay alert (to you)",
	msgtmpl.ReviewRequest:   "Review request",
	msgtmpl.NPSRequest:      "Satisfaction survey (NPS)",
	msgtmpl.LoyaltyReversed: "Loyalty: points reversed",
	msgtmpl.LoyaltyTierUp:   "Loyalty: new tier",
	msgtmpl.LoyaltyExpiring: "Loyalty: points expiring",
	msgtmpl.ReferralReward:  "Referral reward",
}

// statusLabels name the shipment statuses a notice can go out for.
var statusLabels = map[string]string{
	msgtmpl.StatusConfirmed:         "Shipped",
	msgtmpl.StatusInTransit:         "In transit",
	msgtmpl.StatusOutForDelivery:    "Out for delivery",
	msgtmpl.StatusAttemptedDelivery: "Delivery attempted",
	msgtmpl.StatusDelivered:         "Delivered",
	msgtmpl.StatusFailure:           "Delivery failed",
	msgtmpl.StatusReadyForPickup:    "Ready for pickup",
}

type formOption struct {
	Value, Label string
	Selected     bool
}

type flowsPage struct {
	S        jobs.Settings
	Statuses []formOption // Selected: a notice goes out for it
	// Dur holds the duration fields by their settings path.
	Dur     map[string]durField
	Loyalty jobs.LoyaltyProgram
	Editor  templateEditor
}

// templateEditor is the editor's starting state: one flow in one locale.
type templateEditor struct {
	Flows, Locales []formOption
	Flow, Locale   string
	FlowLabel      string
	// Set is what the fields start with: the saved set, its empty fields
	// filled with Default (an empty saved field means "the default").
	Set, Default msgtmpl.Set
	Custom       bool
	// OrderID is the order the preview renders (0: none yet).
	OrderID       int64
	NeedsShipment bool
	Marketing     bool
	Recipient     string // where "send a test to me" goes by default
	// Hidden carries shop/host/embedded through the flow picker's GET.
	Hidden []formOption
}

func (a *App) handleFlowsPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		v := a.adminView(c, "flows", "Flows")
		ctx := c.Request.Context()
		set, err := jobs.LoadSettings(ctx, a.store, v.Shop.ID)
		if err != nil {
			a.adminFailure(c, "settings", err)
			return
		}
		prog, err := jobs.LoadLoyaltyProgram(ctx, a.store, v.Shop.ID)
		if err != nil {
			a.adminFailure(c, "loyalty program", err)
			return
		}
		p := flowsPage{S: set, Loyalty: prog, Dur: durFields(map[string]jobs.Duration{
			"thank_you.delay": set.ThankYou.Delay, "shipping.collapse": set.Shipping.Collapse,
			"delay.stalled_after": set.Delay.StalledAfter, "review.after": set.Review.After,
			"review.reminder_after": set.Review.ReminderAfter, "review.hold_expiry": set.Review.HoldExpiry,
			"review.product_window": set.Review.ProductWindow, "nps.after": set.NPS.After,
			"frequency_cap.window": set.Cap.Window, "frequency_cap.max_delay": set.Cap.MaxDelay,
		})}
		for _, st := range msgtmpl.Statuses() {
			p.Statuses = append(p.Statuses, formOption{Value: st, Label: statusLabels[st], Selected: slices.Contains(set.Shipping.Statuses, st)})
		}
		if p.Editor, err = a.loadTemplateEditor(c, v, set); err != nil {
			a.adminFailure(c, "templates", err)
			return
		}
		v.Data = p
		a.renderAdmin(c, "flows", v)
	}
}

// loadTemplateEditor reads ?flow= and ?locale= (the picker's GET) and
// loads that template.
func (a *App) loadTemplateEditor(c *gin.Context, v adminView, set jobs.Settings) (templateEditor, error) {
	ed := templateEditor{Flow: msgtmpl.ThankYou, Locale: set.Locale}
	if f := c.Query("flow"); flowLabels[f] != "" {
		ed.Flow = f
	}
	if l := c.Query("locale"); localeKey.MatchString(l) {
		ed.Locale = l
	}
	ed.FlowLabel = flowLabels[ed.Flow]
	ed.Marketing = ed.Flow == msgtmpl.ReviewRequest || ed.Flow == msgtmpl.NPSRequest
	ed.NeedsShipment = ed.Flow == msgtmpl.ShippingNotice || ed.Flow == msgtmpl.DelayAlert || ed.Flow == msgtmpl.MerchantDelay
	ed.Recipient = cmp.Or(set.Delay.MerchantEmail, v.Shop.Email)
	for _, f := range msgtmpl.Flows() {
		ed.Flows = append(ed.Flows, formOption{Value: f, Label: flowLabels[f], Selected: f == ed.Flow})
	}
	saved, err := a.templatesOf(c, v.Shop.ID, ed.Flow)
	if err != nil {
		return ed, err
	}
	// The built-in locales, the shop's own, any it saved, and the one asked for.
	locales := append(msgtmpl.Locales(), set.Locale, ed.Locale)
	for loc := range saved.Locales {
		locales = append(locales, loc)
	}
	seen := map[string]bool{}
	for _, loc := range locales {
		if !seen[loc] {
			seen[loc] = true
			ed.Locales = append(ed.Locales, formOption{Value: loc, Label: loc, Selected: loc == ed.Locale})
		}
	}
	ed.Default, _ = a.composer.Renderer().Defaults(ed.Flow, ed.Locale)
	ed.Set = ed.Default
	if l, ok := saved.Locales[ed.Locale]; ok && l.Custom != nil {
		ed.Custom = true
		ed.Set = msgtmpl.Set{Subject: cmp.Or(l.Custom.Subject, ed.Default.Subject), HTML: cmp.Or(l.Custom.HTML, ed.Default.HTML),
			Text: cmp.Or(l.Custom.Text, ed.Default.Text), SMS: cmp.Or(l.Custom.SMS, ed.Default.SMS)}
	}
	latest, shipped, err := a.store.LatestOrderIDs(c.Request.Context(), v.Shop.ID)
	if err != nil {
		return ed, err
	}
	ed.OrderID = latest
	if ed.NeedsShipment {
		ed.OrderID = shipped
	}
	for _, k := range []string{"shop", "host", "embedded"} {
		if val := v.query.Get(k); val != "" {
			ed.Hidden = append(ed.Hidden, formOption{Value: val, Label: k})
		}
	}
	return ed, nil
}

// durField is a duration as the page edits it: an amount in a unit the
// merchant reads easily, and the Go duration the API takes (the page's
// script keeps Value in step with Amount and Unit).
type durField struct {
	Name, Value, Amount string
	Units               []formOption
}

// durUnits are the units a duration field offers, largest first.
var durUnits = []struct {
	suffix, label string
	d             time.Duration
}{{"d", "days", 24 * time.Hour}, {"h", "hours", time.Hour}, {"m", "minutes", time.Minute}, {"s", "seconds", time.Second}}

// durFieldOf shows d in the largest unit that divides it ("168h" is 7
// days, "90m" is 90 minutes, "30s" 30 seconds).
func durFieldOf(name string, d jobs.Duration) durField {
	f := durField{Name: name, Value: shortDuration(d.D())}
	unit := 2 // minutes: "0 minutes" reads better than "0 days"
	if d != 0 {
		unit = len(durUnits) - 1
		for i, u := range durUnits {
			if d.D()%u.d == 0 {
				unit = i
				break
			}
		}
	}
	f.Amount = strconv.FormatFloat(float64(d.D())/float64(durUnits[unit].d), 'f', -1, 64)
	for i, u := range durUnits {
		f.Units = append(f.Units, formOption{Value: u.suffix, Label: u.label, Selected: i == unit})
	}
	return f
}

func durFields(ds map[string]jobs.Duration) map[string]durField {
	out := make(map[string]durField, len(ds))
	for name, d := range ds {
		out[name] = durFieldOf(name, d)
	}
	return out
}

// shortDuration writes 168h rather than 168h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ---- "send a test to me" ----

// Test sends: a few an hour per shop, so the button cannot be used to mail
// strangers in bulk through the shop's sender.
const (
	templateTestsPerHour = 10
	auditTemplateTest    = "template_test"
	templateTestTimeout  = 20 * time.Second
)

// testMessageIDBase starts the ids of test messages. The outbox keys rows
// by "msg-<n>" and the demo shows them at /demo/outbox/<n>; real messages
// take n from a sequence that never gets near 2^62, so a test's id (the
// base plus its audit row's id) never takes a real message's outbox slot.
const testMessageIDBase = uint64(1) << 62

// e164 is a phone number as Twilio takes it.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// templatesTestAPI: POST /api/admin/templates/:flow/test.
func (a *App) templatesTestAPI(api *gin.RouterGroup) {
	api.POST("/templates/:flow/test", a.handleTestTemplate())
}

type templateTestRequest struct {
	Locale   string       `json:"locale"`
	Channel  string       `json:"channel"`  // "email" (default) or "sms"
	Template *msgtmpl.Set `json:"template"` // unsaved; nil: the saved one
	To       string       `json:"to"`       // default: the merchant's email; required for SMS
}

type templateTestReply struct {
	Channel    string `json:"channel"`
	To         string `json:"to"`
	Subject    string `json:"subject,omitempty"`
	ProviderID string `json:"provider_id"`
	// ViewURL shows the message in the demo, whose channels are the outbox.
	ViewURL string `json:"view_url,omitempty"`
}

// handleTestTemplate renders a flow's template (the unsaved one when
// given) and sends it to the merchant through the deployment's channels.
// It is not a shopper message: no policy (quiet hours, consent, caps), no
// message row. It renders the sample order with the shop's branding, not a
// real order: a real order's links are signed for its customer, and a
// merchant clicking "unsubscribe" in a test must not unsubscribe them.
func (a *App) handleTestTemplate() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		flow, ok := flowParam(c)
		if !ok {
			return
		}
		var in templateTestRequest
		if !bindBody(c, &in) {
			return
		}
		switch in.Channel {
		case "":
			in.Channel = notify.EmailChannel
		case notify.EmailChannel, notify.SMSChannel:
		default:
			apiError(c, http.StatusUnprocessableEntity, "invalid_channel", `channel: must be "email" or "sms"`)
			return
		}
		if in.Locale != "" && !localeKey.MatchString(in.Locale) {
			apiError(c, http.StatusUnprocessableEntity, "invalid_locale", "locale: a locale looks like en or fr-CA")
			return
		}
		if in.Template != nil {
			if msg, bad := a.templateProblem(flow, *in.Template); bad {
				apiError(c, http.StatusUnprocessableEntity, "invalid_template", msg)
				return
			}
		}
		set, err := jobs.LoadSettings(ctx, a.store, shop.ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		to, problem := testRecipient(in, set, shop)
		if problem != "" {
			apiError(c, http.StatusUnprocessableEntity, "invalid_recipient", problem)
			return
		}
		locale := cmp.Or(in.Locale, set.Locale)
		r, err := a.renderTest(ctx, shop, set, flow, locale, in.Template)
		if err != nil {
			a.storeError(c, err)
			return
		}
		msg := notify.Message{ShopID: int64(shop.ID), Channel: in.Channel, To: to}
		if in.Channel == notify.SMSChannel {
			if strings.TrimSpace(r.SMS) == "" {
				apiError(c, http.StatusUnprocessableEntity, "invalid_template", "sms: this template has no SMS text")
				return
			}
			msg.Text = "[Test] " + r.SMS
		} else {
			// The sender identity a real message of the shop would carry.
			msg.Subject, msg.HTML, msg.Text = "[Test] "+r.Subject, r.HTML, r.Text
			msg.From, msg.ReplyTo = set.Sender.FromEmail, cmp.Or(set.Sender.ReplyTo, shop.Email)
			msg.FromName = cmp.Or(set.Sender.FromName, shop.Name, shop.Domain)
		}

		// The audit row is the budget: it is written (or refused) before
		// anything goes out, so a failed send counts too.
		detail, _ := json.Marshal(map[string]any{"flow": flow, "locale": locale, "channel": in.Channel, "user": sessionUser(c)})
		id, err := a.store.WriteAuditWithin(ctx, models.AuditLog{ShopID: shop.ID, Action: auditTemplateTest, Subject: "template:" + flow,
			Rows: 1, Detail: string(detail), CreatedAt: a.now().UTC()}, a.now().Add(-time.Hour).UTC(), templateTestsPerHour)
		if errors.Is(err, models.ErrRateLimited) {
			apiError(c, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("at most %d test messages an hour: try again later", templateTestsPerHour))
			return
		}
		if err != nil {
			a.storeError(c, err)
			return
		}
		n := testMessageIDBase + id
		msg.ID = "msg-" + strconv.FormatUint(n, 10)

		ch, done, err := a.testSender(ctx, shop.ID, in.Channel)
		if err != nil {
			a.storeError(c, err)
			return
		}
		defer done()
		sctx, cancel := context.WithTimeout(ctx, templateTestTimeout)
		defer cancel()
		receipt, err := ch.Send(sctx, msg)
		if err != nil {
			a.log.Warn("test message not sent", "shop", shop.Domain, "flow", flow, "channel", in.Channel, "err", err)
			why := "the " + in.Channel + " provider did not take the message"
			var ne *notify.Error
			if errors.As(err, &ne) && ne.Reason != "" {
				why += ": " + ne.Reason
			}
			apiError(c, http.StatusBadGateway, "send_failed", why)
			return
		}
		out := templateTestReply{Channel: in.Channel, To: to, Subject: msg.Subject, ProviderID: receipt.ProviderID}
		if a.opts.Demo && strings.HasPrefix(receipt.ProviderID, "outbox-") {
			out.ViewURL = "/demo/outbox/" + strconv.FormatUint(n, 10)
		}
		c.JSON(http.StatusOK, out)
	}
}

// testRecipient is where the test goes, or why the request cannot say.
func testRecipient(in templateTestRequest, set jobs.Settings, shop models.Shop) (string, string) {
	to := strings.TrimSpace(in.To)
	if in.Channel == notify.SMSChannel {
		if !e164.MatchString(to) {
			return "", "to: an SMS test needs a phone number such as +14155550123"
		}
		return to, ""
	}
	if to == "" {
		to = cmp.Or(set.Delay.MerchantEmail, shop.Email)
		if to == "" {
			return "", "to: there is no merchant email to send to: set one under delay alerts, or give an address"
		}
	}
	if addr, err := mail.ParseAddress(to); err != nil || addr.Address != to {
		return "", "to: must be a plain email address"
	}
	return to, ""
}

// renderTest renders flow on the sample order, branded as the shop, with
// the shop's saved templates and override (unsaved) for locale.
func (a *App) renderTest(ctx context.Context, shop models.Shop, set jobs.Settings, flow, locale string, override *msgtmpl.Set) (msgtmpl.Rendered, error) {
	saved, err := a.store.Templates(ctx, shop.ID, flow)
	if err != nil {
		return msgtmpl.Rendered{}, err
	}
	custom := make(map[string]msgtmpl.Set, len(saved)+1)
	for loc, js := range saved {
		var s msgtmpl.Set
		if err := json.Unmarshal([]byte(js), &s); err != nil {
			return msgtmpl.Rendered{}, fmt.Errorf("saved %s template for %s: %w", flow, loc, err)
		}
		custom[loc] = s
	}
	if override != nil {
		custom[locale] = *override
	}
	data := msgtmpl.SampleData(flow)
	data.Locale = locale
	data.Shop = msgtmpl.Shop{Name: cmp.Or(shop.Name, shop.Domain), Email: shop.Email, LogoURL: set.Brand.LogoURL,
		BrandColor: set.Brand.Color, Domain: shop.Domain, Address: set.Brand.Address}
	r, err := a.composer.Renderer().Render(flow, custom, set.Locale, data)
	if err != nil {
		return msgtmpl.Rendered{}, fmt.Errorf("render test %s %s: %w", flow, locale, err)
	}
	return r, nil
}

// testSender is the channel a real message of the shop would go through:
// its own (see shopChannels), else the deployment's. The messenger keeps
// the channels it was built with to itself, so a test builds its own from
// the same configuration (one SMTP connection, closed after the send:
// tests are rare). Channels given in Options (tests) are used as they are.
func (a *App) testSender(ctx context.Context, shopID uint64, channel string) (jobs.Sender, func(), error) {
	if ch, done, found, err := a.shopTestSender(ctx, shopID, channel); err != nil || found {
		return ch, done, err
	}
	nothing := func() {}
	if a.opts.Channels != nil {
		ch, ok := a.opts.Channels[channel]
		if !ok {
			return nil, nil, fmt.Errorf("no %s channel configured", channel)
		}
		return ch, nothing, nil
	}
	switch {
	case channel == notify.EmailChannel && a.cfg.SMTPURL != "":
		st, err := email.ParseURL(a.cfg.SMTPURL)
		if err != nil {
			return nil, nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		ch, err := email.New(st, a.cfg.SMTPFrom, email.WithLogger(a.log), email.WithPoolSize(1))
		if err != nil {
			return nil, nil, fmt.Errorf("email channel: %w", err)
		}
		return ch, func() { _ = ch.Close() }, nil
	case channel == notify.SMSChannel && a.cfg.TwilioAccountSID != "":
		return sms.New(sms.Settings{AccountSID: a.cfg.TwilioAccountSID, AuthToken: a.cfg.TwilioAuthToken,
			From: a.cfg.TwilioFrom, BaseURL: a.cfg.TwilioAPIBaseURL}, nil), nothing, nil
	}
	return outbox.New(a.saveOutbox), nothing, nil
}
