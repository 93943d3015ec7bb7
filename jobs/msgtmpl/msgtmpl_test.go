package msgtmpl_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/doorstep/doorstep/jobs/msgtmpl"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func newRenderer(t *testing.T) *msgtmpl.Renderer {
	t.Helper()
	r, err := msgtmpl.New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// goldenCase is one message the golden files pin down.
type goldenCase struct {
	name string // file name without extension
	flow string
	data msgtmpl.Data
}

// goldenCases covers every flow in every locale, and for shipping notices
// every status plus a split shipment; for delay alerts every reason; for
// review requests both steps; for reversed points every reason with and
// without a debt; for referral rewards points and a code.
func goldenCases() []goldenCase {
	var cases []goldenCase
	for _, loc := range msgtmpl.Locales() {
		add := func(flow, variant string, d msgtmpl.Data) {
			d.Locale = loc
			name := flow + "." + loc
			if variant != "" {
				name += "." + variant
			}
			cases = append(cases, goldenCase{name: name, flow: flow, data: d})
		}
		add(msgtmpl.ThankYou, "", msgtmpl.SampleData(msgtmpl.ThankYou))
		for _, status := range msgtmpl.Statuses() {
			d := msgtmpl.SampleData(msgtmpl.ShippingNotice)
			d.Shipment.Status = status
			add(msgtmpl.ShippingNotice, status, d)
		}
		split := msgtmpl.SampleData(msgtmpl.ShippingNotice)
		split.Shipment.Index, split.Shipment.Count = 2, 3
		split.Shipment.Items = split.Order.Items[1:2]
		add(msgtmpl.ShippingNotice, "split", split)
		for _, reason := range msgtmpl.DelayReasons() {
			d := msgtmpl.SampleData(msgtmpl.DelayAlert)
			d.Delay.Reason = reason
			add(msgtmpl.DelayAlert, reason, d)
		}
		add(msgtmpl.MerchantDelay, "", msgtmpl.SampleData(msgtmpl.MerchantDelay))
		for _, step := range []string{msgtmpl.StepAsk, msgtmpl.StepReminder} {
			d := msgtmpl.SampleData(msgtmpl.ReviewRequest)
			d.Step = step
			add(msgtmpl.ReviewRequest, step, d)
		}
		add(msgtmpl.NPSRequest, "", msgtmpl.SampleData(msgtmpl.NPSRequest))
		for _, v := range loyaltyReversedVariants() {
			add(msgtmpl.LoyaltyReversed, v.name, v.data)
		}
		add(msgtmpl.LoyaltyTierUp, "", msgtmpl.SampleData(msgtmpl.LoyaltyTierUp))
		add(msgtmpl.LoyaltyExpiring, "", msgtmpl.SampleData(msgtmpl.LoyaltyExpiring))
		add(msgtmpl.ReferralReward, "points", msgtmpl.SampleData(msgtmpl.ReferralReward))
		code := msgtmpl.SampleData(msgtmpl.ReferralReward)
		code.Loyalty.Points, code.Loyalty.Code, code.Loyalty.CodeValue = 0, "FRIEND-5K2Q", "€5.00"
		add(msgtmpl.ReferralReward, "code", code)
	}
	return cases
}

// loyaltyReversedVariant is one shape of a points reversal.
type loyaltyReversedVariant struct {
	name string
	data msgtmpl.Data
}

// loyaltyReversedVariants is every reason, each without and with a debt.
// The debts differ: part of the points already spent (and points still
// pending), or all of them with no order name to point at.
func loyaltyReversedVariants() []loyaltyReversedVariant {
	var out []loyaltyReversedVariant
	for _, reason := range msgtmpl.LoyaltyReasons() {
		d := msgtmpl.SampleData(msgtmpl.LoyaltyReversed)
		d.Loyalty.Reason = reason
		if reason == msgtmpl.LoyaltyReasonPartialRefund {
			d.Loyalty.Points, d.Loyalty.Balance = 290, 950
		}
		out = append(out, loyaltyReversedVariant{reason, d})

		debt := msgtmpl.SampleData(msgtmpl.LoyaltyReversed)
		l := *d.Loyalty
		debt.Loyalty = &l
		l.Balance = 0
		switch reason {
		case msgtmpl.LoyaltyReasonRefund:
			l.Debt = 310
		case msgtmpl.LoyaltyReasonPartialRefund:
			l.Debt, l.Pending = 120, 150
		case msgtmpl.LoyaltyReasonCancellation:
			l.Debt, l.OrderName = l.Points, ""
		}
		out = append(out, loyaltyReversedVariant{reason + "_debt", debt})
	}
	return out
}

func formatRendered(out msgtmpl.Rendered) string {
	return fmt.Sprintf("== subject ==\n%s\n\n== sms (%d chars) ==\n%s\n\n== text ==\n%s\n== html ==\n%s\n",
		out.Subject, utf8.RuneCountInString(out.SMS), out.SMS, out.Text, out.HTML)
}

func TestRender_Golden(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := r.Render(tc.flow, nil, "", tc.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			got := formatRendered(out)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from golden; run go test ./jobs/msgtmpl -update and review the diff\n--- got ---\n%s", path, got)
			}
		})
	}
}

func TestRender_DefaultSMSAtMost320Chars(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, tc := range goldenCases() {
		for _, marketing := range []bool{false, true} {
			tc.data.Marketing = marketing
			out, err := r.Render(tc.flow, nil, "", tc.data)
			if err != nil {
				t.Fatalf("%s: Render: %v", tc.name, err)
			}
			if n := utf8.RuneCountInString(out.SMS); n > 320 {
				t.Errorf("%s marketing=%t: SMS is %d chars, want ≤ 320: %q", tc.name, marketing, n, out.SMS)
			}
		}
	}
}

func TestRender_MarketingShowsUnsubscribeAndStop(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, tc := range goldenCases() {
		tc.data.Marketing = true
		out, err := r.Render(tc.flow, nil, "", tc.data)
		if err != nil {
			t.Fatalf("%s: Render: %v", tc.name, err)
		}
		u := tc.data.Links.Unsubscribe
		if !strings.Contains(out.HTML, `href="`+u+`"`) || !strings.Contains(out.Text, u) || !strings.Contains(out.SMS, "STOP") {
			t.Errorf("%s: marketing message lacks its opt-outs", tc.name)
		}

		tc.data.Marketing = false
		out, err = r.Render(tc.flow, nil, "", tc.data)
		if err != nil {
			t.Fatalf("%s: Render: %v", tc.name, err)
		}
		if strings.Contains(out.HTML, u) || strings.Contains(out.Text, u) || strings.Contains(out.SMS, "STOP") {
			t.Errorf("%s: transactional message shows marketing opt-outs", tc.name)
		}
		if !strings.Contains(out.HTML, tc.data.Links.Preferences) {
			t.Errorf("%s: transactional message lacks the preferences link", tc.name)
		}
	}
}

func TestRender_MarketingWithoutUnsubscribeLinkFails(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	d := msgtmpl.SampleData(msgtmpl.ReviewRequest)
	d.Links.Unsubscribe = ""
	_, err := r.Render(msgtmpl.ReviewRequest, nil, "", d)
	if !errors.Is(err, msgtmpl.ErrMissingUnsubscribe) {
		t.Fatalf("err = %v, want ErrMissingUnsubscribe", err)
	}
}

func TestRender_LocaleResolution(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	custom := map[string]msgtmpl.Set{
		"it":    {Subject: "Grazie per il tuo ordine {{.Order.Name}}"},
		"es-MX": {Subject: "Gracias por tu pedido {{.Order.Name}}, mexicano"},
	}
	tests := []struct {
		name         string
		dataLocale   string
		shopLocale   string
		custom       map[string]msgtmpl.Set
		wantSubject  string
		wantHTMLLang string
	}{
		{"exact built-in", "de", "en", nil, "Vielen Dank", `lang="de"`},
		{"region falls back to language", "fr-CA", "en", nil, "Merci", `lang="fr"`},
		{"underscore and case are normalized", "FR_ca", "", nil, "Merci", `lang="fr"`},
		{"unknown locale falls back to shop locale", "xx", "es", nil, "Gracias", `lang="es"`},
		{"unknown shop locale falls back to English", "xx", "yy", nil, "Thank you", `lang="en"`},
		{"empty locales give English", "", "", nil, "Thank you", `lang="en"`},
		{"custom set in a locale without built-ins", "it", "en", custom, "Grazie per il tuo ordine #1042", `lang="en"`},
		{"custom region set wins over built-in language", "es-MX", "en", custom, "mexicano", `lang="es"`},
		{"built-in region match beats custom shop-locale set", "es-AR", "it", custom, "Gracias", `lang="es"`},
		{"custom shop-locale set when customer locale unknown", "xx", "it", custom, "Grazie", `lang="en"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := msgtmpl.SampleData(msgtmpl.ThankYou)
			d.Locale = tt.dataLocale
			out, err := r.Render(msgtmpl.ThankYou, tt.custom, tt.shopLocale, d)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if !strings.Contains(out.Subject, tt.wantSubject) {
				t.Errorf("subject = %q, want it to contain %q", out.Subject, tt.wantSubject)
			}
			if !strings.Contains(out.HTML, tt.wantHTMLLang) {
				t.Errorf("html lacks %s", tt.wantHTMLLang)
			}
		})
	}
}

func TestRender_CustomSetOverridesDefault(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	custom := map[string]msgtmpl.Set{"fr": {
		Subject: "Commande {{.Order.Name}} bien reçue",
		HTML:    `{{template "header" .}}<tr><td>Merci {{.Customer.FirstName}} !</td></tr>{{template "footer" .}}`,
		Text:    "Merci {{.Customer.FirstName}} !",
		SMS:     "{{.Shop.Name}} : merci !",
	}}
	d := msgtmpl.SampleData(msgtmpl.ThankYou)
	d.Locale = "fr-FR"
	out, err := r.Render(msgtmpl.ThankYou, custom, "en", d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	want := msgtmpl.Rendered{Subject: "Commande #1042 bien reçue", Text: "Merci Emma !\n", SMS: "Northwind Coffee Co. : merci !"}
	if out.Subject != want.Subject || out.Text != want.Text || out.SMS != want.SMS {
		t.Errorf("got subject %q text %q sms %q, want %q %q %q", out.Subject, out.Text, out.SMS, want.Subject, want.Text, want.SMS)
	}
	if !strings.Contains(out.HTML, "<td>Merci Emma !</td>") || !strings.Contains(out.HTML, "Gérer mes préférences") {
		t.Errorf("html does not use the custom body with the French partials:\n%s", out.HTML)
	}
}

func TestRender_EmptyCustomFieldFallsBackToDefault(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	custom := map[string]msgtmpl.Set{"de": {Subject: "Danke, {{.Customer.FirstName}}!"}}
	d := msgtmpl.SampleData(msgtmpl.ThankYou)
	d.Locale = "de"
	got, err := r.Render(msgtmpl.ThankYou, custom, "", d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	def, err := r.Render(msgtmpl.ThankYou, nil, "", d)
	if err != nil {
		t.Fatalf("Render default: %v", err)
	}
	if got.Subject != "Danke, Emma!" {
		t.Errorf("subject = %q, want the custom one", got.Subject)
	}
	if got.HTML != def.HTML || got.Text != def.Text || got.SMS != def.SMS {
		t.Errorf("empty custom fields did not fall back to the German defaults")
	}
}

func TestRender_EscapesHTML(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	d := msgtmpl.SampleData(msgtmpl.ThankYou)
	d.Order.Items[0].Title = "<script>alert(1)</script>"
	d.Customer.FirstName = `"><img src=x onerror=alert(2)>`
	out, err := r.Render(msgtmpl.ThankYou, nil, "", d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if strings.Contains(out.HTML, "<script>") || strings.Contains(out.HTML, "<img src=x") {
		t.Fatalf("html contains unescaped input:\n%s", out.HTML)
	}
	if !strings.Contains(out.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("html lacks the escaped title")
	}
	if !strings.Contains(out.Text, "<script>alert(1)</script>") {
		t.Errorf("text part should carry the title verbatim")
	}
}

func TestRender_BadBrandColorFallsBackToDefault(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	d := msgtmpl.SampleData(msgtmpl.ThankYou)
	d.Shop.BrandColor = "red;background:url(https://evil.example)"
	out, err := r.Render(msgtmpl.ThankYou, nil, "", d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if strings.Contains(out.HTML, "evil") || !strings.Contains(out.HTML, msgtmpl.DefaultBrandColor) {
		t.Errorf("bad brand colour was not replaced by %s", msgtmpl.DefaultBrandColor)
	}
}

func TestRender_UnknownFlow(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	if _, err := r.Render("nope", nil, "", msgtmpl.SampleData(msgtmpl.ThankYou)); !errors.Is(err, msgtmpl.ErrUnknownFlow) {
		t.Errorf("Render err = %v, want ErrUnknownFlow", err)
	}
	if err := r.Validate("nope", msgtmpl.Set{}); !errors.Is(err, msgtmpl.ErrUnknownFlow) {
		t.Errorf("Validate err = %v, want ErrUnknownFlow", err)
	}
	if _, ok := r.Defaults("nope", "en"); ok {
		t.Errorf("Defaults reported an unknown flow as known")
	}
}

func TestDefaults_EveryFlowAndLocalePassesValidate(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, flow := range msgtmpl.Flows() {
		for _, loc := range msgtmpl.Locales() {
			set, ok := r.Defaults(flow, loc)
			if !ok || set.Subject == "" || set.HTML == "" || set.Text == "" || set.SMS == "" {
				t.Fatalf("Defaults(%s, %s) = incomplete set, ok=%t", flow, loc, ok)
			}
			if err := r.Validate(flow, set); err != nil {
				t.Errorf("Validate(default %s/%s): %v", flow, loc, err)
			}
		}
	}
}

func TestDefaults_RegionFallsBackToLanguage(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	frCA, _ := r.Defaults(msgtmpl.ThankYou, "fr-CA")
	fr, _ := r.Defaults(msgtmpl.ThankYou, "fr")
	xx, _ := r.Defaults(msgtmpl.ThankYou, "xx")
	en, _ := r.Defaults(msgtmpl.ThankYou, "en")
	if frCA != fr || xx != en || fr == en {
		t.Errorf("Defaults fallback wrong: fr-CA==fr %t, xx==en %t, fr!=en %t", frCA == fr, xx == en, fr != en)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	tests := []struct {
		name      string
		flow      string
		set       msgtmpl.Set
		wantField string // "" means valid
		wantErr   error
	}{
		{"empty set uses defaults", msgtmpl.ThankYou, msgtmpl.Set{}, "", nil},
		{"good subject", msgtmpl.ThankYou, msgtmpl.Set{Subject: "Thanks {{.Customer.FirstName}}"}, "", nil},
		{"syntax error", msgtmpl.ThankYou, msgtmpl.Set{Subject: "Thanks {{.Customer.FirstName"}, "subject", nil},
		{"unclosed if", msgtmpl.ThankYou, msgtmpl.Set{Text: "{{if .Marketing}}x"}, "text", nil},
		{"unknown field", msgtmpl.ThankYou, msgtmpl.Set{Text: "Order {{.Order.Nope}}"}, "text", nil},
		{"unknown function", msgtmpl.ThankYou, msgtmpl.Set{SMS: "{{shout .Shop.Name}}"}, "sms", nil},
		{"unknown phrase", msgtmpl.ThankYou, msgtmpl.Set{SMS: `{{t "nope"}}`}, "sms", nil},
		{"unknown field only in one status branch", msgtmpl.ShippingNotice,
			msgtmpl.Set{HTML: `{{template "header" .}}{{if eq .Shipment.Status "failure"}}{{.Shipment.Nope}}{{end}}{{template "footer" .}}`}, "html", nil},
		{"nil shipment in a flow without one", msgtmpl.ReviewRequest,
			msgtmpl.Set{Subject: "Review {{.Shipment.Carrier}}"}, "subject", nil},
		{"loyalty data in a flow without it", msgtmpl.ThankYou,
			msgtmpl.Set{Subject: "{{points .Loyalty.Balance}} points"}, "subject", nil},
		{"loyalty data in a loyalty flow", msgtmpl.LoyaltyExpiring,
			msgtmpl.Set{Subject: "{{points .Loyalty.Points}} points expire {{date .Loyalty.ExpiresAt}}"}, "", nil},
		{"referral code only in the code variant", msgtmpl.ReferralReward,
			msgtmpl.Set{SMS: "{{with .Loyalty.Code}}{{.Nope}}{{end}}"}, "sms", nil},
		{"unknown loyalty field", msgtmpl.LoyaltyReversed,
			msgtmpl.Set{Text: "{{.Loyalty.Nope}}"}, "text", nil},
		{"marketing html without unsubscribe", msgtmpl.ReviewRequest,
			msgtmpl.Set{HTML: `<p>Review us: <a href="{{.Links.Review}}">here</a></p>`}, "html", msgtmpl.ErrMissingUnsubscribe},
		{"transactional flow html must still handle marketing", msgtmpl.ThankYou,
			msgtmpl.Set{HTML: `<p>Thanks {{.Customer.FirstName}}</p>`}, "html", msgtmpl.ErrMissingUnsubscribe},
		{"html with unsubscribe when marketing", msgtmpl.ReviewRequest,
			msgtmpl.Set{HTML: `<p><a href="{{.Links.Review}}">Review</a></p>{{if .Marketing}}<a href="{{.Links.Unsubscribe}}">Unsubscribe</a>{{end}}`}, "", nil},
		{"marketing text without unsubscribe", msgtmpl.NPSRequest, msgtmpl.Set{Text: "Rate us: {{.Links.Feedback}}"}, "text", msgtmpl.ErrMissingUnsubscribe},
		{"marketing sms without STOP", msgtmpl.NPSRequest, msgtmpl.Set{SMS: "Rate us: {{.Links.Feedback}}"}, "sms", msgtmpl.ErrMissingUnsubscribe},
		{"runaway output", msgtmpl.ThankYou, msgtmpl.Set{Text: "{{range 200000}}0123456789{{end}}"}, "text", nil},
		{"html that ends inside an attribute", msgtmpl.ThankYou, msgtmpl.Set{HTML: `<a href="{{.Links.Tracking}}`}, "html", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := r.Validate(tt.flow, tt.set)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			var verr *msgtmpl.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate err = %v (%T), want *ValidationError", err, err)
			}
			if verr.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (err: %v)", verr.Field, tt.wantField, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.wantErr)
			}
		})
	}
}

func TestSampleData_EveryFlowRendersInEveryLocale(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, flow := range msgtmpl.Flows() {
		for _, loc := range msgtmpl.Locales() {
			d := msgtmpl.SampleData(flow)
			d.Locale = loc
			out, err := r.Render(flow, nil, "", d)
			if err != nil {
				t.Fatalf("%s/%s: %v", flow, loc, err)
			}
			if out.Subject == "" || out.HTML == "" || out.Text == "" || out.SMS == "" {
				t.Errorf("%s/%s: empty part in %+v", flow, loc, out)
			}
			if strings.Contains(out.HTML, "ZgotmplZ") {
				t.Errorf("%s/%s: html/template rejected a value (ZgotmplZ)", flow, loc)
			}
		}
	}
}

// TestValidate_DocsExample keeps the example in docs/TEMPLATES.md honest.
func TestValidate_DocsExample(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	set := msgtmpl.Set{
		Subject: "{{.Customer.FirstName}}, votre commande {{.Order.Name}} est entre de bonnes mains",
		HTML: `{{template "header" .}}
<tr><td class="ds-pad ds-text" style="padding:16px 32px 0;font-family:Georgia,serif;font-size:16px;line-height:24px;color:#1f2328;">
<h1 style="margin:0 0 12px;font-size:24px;">Merci{{with .Customer.FirstName}} {{.}}{{end}} !</h1>
<p style="margin:0 0 16px;">Nous torréfions votre café cette semaine et l'expédions dès qu'il a refroidi.</p>
{{template "button" (button .Links.Tracking "Suivre ma commande" .Shop.BrandColor)}}
</td></tr>
<tr><td class="ds-pad" style="padding:24px 32px 0;">
{{template "items" .Order.Items}}
{{template "totals" .Order}}
</td></tr>
{{template "footer" .}}`,
	}
	if err := r.Validate(msgtmpl.ThankYou, set); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	d := msgtmpl.SampleData(msgtmpl.ThankYou)
	d.Locale = "fr"
	out, err := r.Render(msgtmpl.ThankYou, map[string]msgtmpl.Set{"fr": set}, "", d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if out.Subject != "Emma, votre commande #1042 est entre de bonnes mains" || !strings.Contains(out.HTML, "Suivre ma commande") {
		t.Errorf("custom set not used: %q", out.Subject)
	}
	if !strings.HasPrefix(out.Text, "Merci, Emma !") {
		t.Errorf("empty text did not fall back to the French default: %q", out.Text)
	}

	noFooter := set
	noFooter.HTML = strings.Replace(set.HTML, `{{template "footer" .}}`, "", 1)
	var verr *msgtmpl.ValidationError
	if err := r.Validate(msgtmpl.ThankYou, noFooter); !errors.As(err, &verr) || verr.Field != "html" {
		t.Errorf("Validate without footer = %v, want a ValidationError on html", err)
	}
}

// TestRender_LoyaltyReversedSaysWhatWhyAndBalance checks, in every locale,
// that a reversal names the points, the order, the new balance and the
// rewards link, explains a debt only when there is one, and words each
// reason differently.
func TestRender_LoyaltyReversedSaysWhatWhyAndBalance(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, loc := range msgtmpl.Locales() {
		subjects := map[string]string{}
		for _, v := range loyaltyReversedVariants() {
			d := v.data
			d.Locale = loc
			out, err := r.Render(msgtmpl.LoyaltyReversed, nil, "", d)
			if err != nil {
				t.Fatalf("%s/%s: Render: %v", loc, v.name, err)
			}
			l := d.Loyalty
			for part, body := range map[string]string{"text": out.Text, "html": out.HTML, "sms": out.SMS} {
				num := func(n int64) string { return numberIn(t, r, loc, n) }
				if part == "sms" {
					// Subject and SMS are collapsed to one line, which turns
					// a narrow no-break space into a plain one.
					num = func(n int64) string { return strings.Join(strings.Fields(numberIn(t, r, loc, n)), " ") }
				}
				for _, want := range []string{num(l.Points), num(l.Balance), d.Links.Rewards} {
					if !strings.Contains(body, want) {
						t.Errorf("%s/%s %s lacks %q:\n%s", loc, v.name, part, want, body)
					}
				}
				if l.OrderName != "" && !strings.Contains(body, l.OrderName) {
					t.Errorf("%s/%s %s lacks the order name %q", loc, v.name, part, l.OrderName)
				}
			}
			hasDebt := strings.Contains(out.HTML, `class="ds-panel"`)
			if hasDebt != (l.Debt > 0) {
				t.Errorf("%s/%s: debt explanation shown=%t, debt=%d", loc, v.name, hasDebt, l.Debt)
			}
			if l.Debt > 0 && l.Debt < l.Points && !strings.Contains(out.Text, numberIn(t, r, loc, l.Debt)) {
				t.Errorf("%s/%s: text does not say how many points were already used", loc, v.name)
			}
			if l.Debt == 0 {
				if prev, ok := subjects[out.Subject]; ok && l.OrderName != "" {
					t.Errorf("%s: reasons %s and %s share the subject %q", loc, prev, l.Reason, out.Subject)
				}
				subjects[out.Subject] = l.Reason
			}
		}
	}
}

// numberIn renders n with the points function of locale.
func numberIn(t *testing.T, r *msgtmpl.Renderer, locale string, n int64) string {
	t.Helper()
	d := msgtmpl.SampleData(msgtmpl.LoyaltyReversed)
	d.Locale = locale
	d.Loyalty.Balance = n
	out, err := r.Render(msgtmpl.LoyaltyReversed, map[string]msgtmpl.Set{locale: {Text: "{{points .Loyalty.Balance}}"}}, "", d)
	if err != nil {
		t.Fatalf("points %d in %s: %v", n, locale, err)
	}
	return strings.TrimSuffix(out.Text, "\n")
}

func TestPoints_GroupsThousandsPerLocale(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	const nnbsp = "\u202f"
	tests := []struct {
		locale string
		n      int64
		want   string
	}{
		{"en", 0, "0"},
		{"en", 999, "999"},
		{"en", 1000, "1,000"},
		{"en", 1200, "1,200"},
		{"en", 1234567, "1,234,567"},
		{"en", -1200, "-1,200"},
		{"fr", 1200, "1" + nnbsp + "200"},
		{"fr", 1234567, "1" + nnbsp + "234" + nnbsp + "567"},
		{"fr-CA", 999, "999"},
		{"es", 1200, "1.200"},
		{"es", 1234567, "1.234.567"},
		{"de", 1200, "1.200"},
		{"de", 100000, "100.000"},
		{"it", 1200, "1,200"}, // no built-in copy: English formatting
	}
	for _, tt := range tests {
		if got := numberIn(t, r, tt.locale, tt.n); got != tt.want {
			t.Errorf("points %d in %s = %q, want %q", tt.n, tt.locale, got, tt.want)
		}
	}
}

// TestFuncs_NumbersPluralAndDecimal renders the number functions through a
// custom text part: points and plural take any integer type (an int64
// point amount, an int field, a literal), plural counts 0 as singular in
// French only, and decimal localizes a plain decimal and nothing else.
func TestFuncs_NumbersPluralAndDecimal(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	tests := []struct {
		locale, text, want string
		mult               string
	}{
		{"en", `{{points 1200}} {{points .Loyalty.Balance}} {{len .Order.Items | points}}`, "1,200 0 3", ""},
		{"en", `{{plural .Loyalty.Balance "point" "points"}} {{plural 1 "point" "points"}} {{plural .Loyalty.Pending "x" "y"}}`, "points point x", ""},
		{"fr", `{{plural .Loyalty.Balance "point" "points"}} {{plural 1 "point" "points"}} {{plural 2 "point" "points"}}`, "point point points", ""},
		{"de", `{{plural .Loyalty.Balance "Punkt" "Punkte"}}`, "Punkte", ""},
		{"en", `{{decimal .Loyalty.Multiplier}}`, "1.5", "1.5"},
		{"fr", `{{decimal .Loyalty.Multiplier}}`, "1,5", "1.5"},
		{"es", `{{decimal .Loyalty.Multiplier}}`, "2,25", "2.25"},
		{"de", `{{decimal .Loyalty.Multiplier}}×`, "2×", "2"},
		{"de", `{{decimal .Loyalty.Multiplier}}`, "1,5", "1,5"},
		{"de", `{{decimal .Loyalty.Multiplier}}`, "x1.5", "x1.5"},
	}
	for _, tt := range tests {
		d := msgtmpl.SampleData(msgtmpl.LoyaltyTierUp)
		d.Locale = tt.locale
		d.Loyalty.Balance, d.Loyalty.Pending, d.Loyalty.Multiplier = 0, 1, tt.mult
		out, err := r.Render(msgtmpl.LoyaltyTierUp, map[string]msgtmpl.Set{tt.locale: {Text: tt.text}}, "", d)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.locale, tt.text, err)
		}
		if got := strings.TrimSuffix(out.Text, "\n"); got != tt.want {
			t.Errorf("%s %s = %q, want %q", tt.locale, tt.text, got, tt.want)
		}
	}
	if err := r.Validate(msgtmpl.LoyaltyTierUp, msgtmpl.Set{Text: `{{points "many"}}`}); err == nil {
		t.Errorf("points accepted a string")
	}
}

// TestRender_LoyaltySMSFitsOneSegmentInEnglish: the English loyalty SMS
// stay within one 160-character GSM-7 segment (the test samples' shop
// name and link; real links are longer).
func TestRender_LoyaltySMSFitsOneSegmentInEnglish(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	loyalty := map[string]bool{msgtmpl.LoyaltyReversed: true, msgtmpl.LoyaltyTierUp: true,
		msgtmpl.LoyaltyExpiring: true, msgtmpl.ReferralReward: true}
	for _, tc := range goldenCases() {
		if !loyalty[tc.flow] || tc.data.Locale != "en" {
			continue
		}
		out, err := r.Render(tc.flow, nil, "", tc.data)
		if err != nil {
			t.Fatalf("%s: Render: %v", tc.name, err)
		}
		n, ok := gsm7Septets(out.SMS)
		if !ok || n > 160 {
			t.Errorf("%s: SMS is %d GSM-7 septets (gsm7=%t), want one segment: %q", tc.name, n, ok, out.SMS)
		}
		if !strings.Contains(out.SMS, tc.data.Shop.Name) {
			t.Errorf("%s: SMS does not name the shop: %q", tc.name, out.SMS)
		}
	}
}

// gsm7Septets counts s in the GSM 03.38 alphabet (extension characters
// take two septets); ok is false if s needs UCS-2.
func gsm7Septets(s string) (n int, ok bool) {
	const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	const extension = "\f^{}\\[~]|€"
	for _, c := range s {
		switch {
		case strings.ContainsRune(basic, c):
			n++
		case strings.ContainsRune(extension, c):
			n += 2
		default:
			return n, false
		}
	}
	return n, true
}

func TestRender_LoyaltyFlowWithoutLoyaltyDataFails(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, flow := range []string{msgtmpl.LoyaltyReversed, msgtmpl.LoyaltyTierUp, msgtmpl.LoyaltyExpiring, msgtmpl.ReferralReward} {
		d := msgtmpl.SampleData(flow)
		d.Loyalty = nil
		if _, err := r.Render(flow, nil, "", d); err == nil {
			t.Errorf("%s rendered with nil Loyalty", flow)
		}
	}
}

// BenchmarkRender measures one thank-you (three items, every part) with the
// built-in templates: the worker renders every email it sends
// (go test -bench Render -run XXX ./jobs/msgtmpl).
func BenchmarkRender(b *testing.B) {
	r, err := msgtmpl.New()
	if err != nil {
		b.Fatal(err)
	}
	data := msgtmpl.SampleData(msgtmpl.ThankYou)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(msgtmpl.ThankYou, nil, "en", data); err != nil {
			b.Fatal(err)
		}
	}
}

// A merchant's set is parsed once and reused, but an edit shows at once:
// the parsed sets are kept by content. Renders run side by side, as a
// worker's do.
func TestRender_CustomSetEditedShowsAtOnce(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	d := msgtmpl.SampleData(msgtmpl.ThankYou)
	set := func(word string) map[string]msgtmpl.Set {
		return map[string]msgtmpl.Set{"en": {Subject: word + " {{.Order.Name}}", Text: word + ", {{.Customer.FirstName}}!"}}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for i := range 80 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			word := []string{"Thanks", "Cheers"}[i%2]
			out, err := r.Render(msgtmpl.ThankYou, set(word), "en", d)
			if err != nil {
				errs <- err
				return
			}
			if out.Subject != word+" #1042" || out.Text != word+", Emma!\n" {
				errs <- fmt.Errorf("set %q rendered subject %q text %q", word, out.Subject, out.Text)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out, err := r.Render(msgtmpl.ThankYou, set("Merci"), "en", d)
	if err != nil || out.Subject != "Merci #1042" {
		t.Fatalf("after an edit: subject %q, %v", out.Subject, err)
	}
}

// BenchmarkRenderCustom is BenchmarkRender with a merchant's set for the
// body (go test -bench Render -run XXX ./jobs/msgtmpl).
func BenchmarkRenderCustom(b *testing.B) {
	r, err := msgtmpl.New()
	if err != nil {
		b.Fatal(err)
	}
	custom := map[string]msgtmpl.Set{"en": {
		Subject: "Order {{.Order.Name}} received",
		HTML:    `{{template "header" .}}<tr><td>Thanks {{.Customer.FirstName}}!</td></tr>{{template "items" .Order.Items}}{{template "footer" .}}`,
	}}
	data := msgtmpl.SampleData(msgtmpl.ThankYou)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(msgtmpl.ThankYou, custom, "en", data); err != nil {
			b.Fatal(err)
		}
	}
}
