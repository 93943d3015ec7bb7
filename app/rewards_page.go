package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// The rewards page at https://{shop}/apps/doorstep/: what the theme block
// shows (balance, pending points, debt, tier, history, redeem options,
// codes, birthday, referral link), as a server-rendered page that works
// without JavaScript. Its forms POST back to the same address; Shopify's
// proxy signs the POST's query string like the GET's, so the rules of the
// JSON endpoints hold: the signature is the only credential and the
// customer is logged_in_customer_id and nothing else (see storefront.go).
//
// The answer is text/html, a standalone page. Shopify only renders an app
// proxy answer inside the shop's theme when its Content-Type is
// application/liquid; this page carries its own branded header instead,
// so it looks the same whatever the theme does with Liquid.

const (
	// rewardsPageHistory is how many ledger entries the page lists.
	rewardsPageHistory = 10
	// defaultProxyPrefix is where Shopify mounts the app proxy
	// (shopify.app.toml [app_proxy]) when the query does not say.
	defaultProxyPrefix = "/apps/doorstep"
)

// rewardsPageRoutes mounts the page, with and without the trailing slash
// (Shopify forwards /apps/doorstep as the proxy URL itself).
func (a *App) rewardsPageRoutes(r *gin.Engine) {
	h := a.handleRewardsPage()
	for _, p := range []string{defaultProxyPrefix, defaultProxyPrefix + "/"} {
		r.GET(p, shopperHeaders(), h)
		r.POST(p, shopperHeaders(), h)
	}
}

type rewardsPage struct {
	pageMeta
	// Problem, when set, is all the page shows (Heading and Message).
	Problem  bool
	Heading  string
	Message  string
	LoggedIn bool
	LoginURL string
	Action   string // the forms' target, on the shop's domain
	// FormKey is fresh per page view: a redeem form sent twice (a reload)
	// makes one code, not two.
	FormKey string
	Flash   *rewardsFlash

	Balance, Pending, Debt int64
	Worth                  string // "100 points are worth 1.00 EUR."
	Tier                   string
	NextTier               string
	SpendNeeded            string
	Progress               int // percent of the way from Tier to NextTier
	Options                []redeemOptionView
	Codes                  []codeView
	History                []historyView
	Birthday               string // formatted, or "" when not set
	Months                 []monthOption
	Days                   []int
	Referral               *referralView
}

type rewardsFlash struct {
	OK   bool // a notice; else an alert
	Text string
	Code string // a new discount code
	Hint string
	// needed: the points an option needed that the balance did not cover
	// (the message is written once the balance is read).
	needed int64
}

type redeemOptionView struct {
	Points  int64
	Label   string
	Covered bool
}

type codeView struct {
	Code, Worth string
	Creating    bool
}

type historyView struct {
	When, Text, Points string
	Pending            bool
}

type monthOption struct {
	Value int
	Name  string
}

type referralView struct {
	Link, Text            string
	Email, WhatsApp, XURL string
}

// rewardsMeta is the page's look and language: the shop's brand and its
// locale, else the proxy's locale parameter, else the browser's languages
// (Shopify does not tell the app the customer's own locale).
func (a *App) rewardsMeta(c *gin.Context, shop models.Shop) pageMeta {
	s, err := jobs.LoadSettings(c.Request.Context(), a.store, shop.ID)
	if err != nil {
		a.log.Warn("rewards page settings", "shop", shop.ID, "err", err)
	}
	loc := time.UTC
	for _, tz := range []string{s.Timezone, shop.Timezone} {
		if l, err := time.LoadLocation(tz); tz != "" && err == nil {
			loc = l
			break
		}
	}
	langs := append([]string{s.Locale, c.Query("locale")}, acceptLanguage(c.GetHeader("Accept-Language"))...)
	m := pageMeta{Shop: shopName(shop), L: langOf(shopperLanguage(langs...)), Brand: brandOf(s), loc: loc}
	m.Title = m.L.t("rw.title")
	c.Set(shopperMetaKey, m)
	return m
}

// rewardsProblem renders the page with only a heading and a message.
func (a *App) rewardsProblem(c *gin.Context, status int, name string) {
	m := metaOf(c)
	m.Title = m.L.t("rw.problem." + name + ".heading")
	a.renderShopper(c, status, "rewards.html", rewardsPage{pageMeta: m, Problem: true,
		Heading: m.Title, Message: m.L.t("rw.problem." + name + ".message")})
}

// proxyPrefix is where the shop mounts the proxy, from the signed query.
func proxyPrefix(q url.Values) string {
	p := strings.TrimRight(q.Get("path_prefix"), "/")
	if !strings.HasPrefix(p, "/apps/") && !strings.HasPrefix(p, "/a/") && !strings.HasPrefix(p, "/community/") &&
		!strings.HasPrefix(p, "/tools/") {
		return defaultProxyPrefix
	}
	return p
}

func (a *App) handleRewardsPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		q := c.Request.URL.Query()
		pr, err := a.shopify.VerifyProxy(q, a.now())
		if err != nil {
			a.rewardsProblem(c, http.StatusUnauthorized, "signature")
			return
		}
		ctx := c.Request.Context()
		shop, err := a.store.ShopByDomain(ctx, models.PlatformShopify, pr.Shop)
		if errors.Is(err, models.ErrNotFound) || (err == nil && !shop.Installed()) {
			a.rewardsProblem(c, http.StatusNotFound, "off")
			return
		}
		if err != nil {
			a.log.Error("rewards page: load shop", "shop", pr.Shop, "err", err)
			a.rewardsProblem(c, http.StatusInternalServerError, "internal")
			return
		}
		m := a.rewardsMeta(c, shop)
		prog, err := jobs.LoadLoyaltyProgram(ctx, a.store, shop.ID)
		if err != nil {
			a.rewardsInternal(c, shop, "load program", err)
			return
		}
		if !prog.Enabled {
			a.rewardsProblem(c, http.StatusNotFound, "off")
			return
		}
		prefix := proxyPrefix(q)
		if pr.CustomerID <= 0 {
			a.renderShopper(c, http.StatusOK, "rewards.html", rewardsPage{pageMeta: m,
				LoginURL: "/account/login?return_url=" + url.QueryEscape(prefix+"/")})
			return
		}
		var flash *rewardsFlash
		if c.Request.Method == http.MethodPost {
			if flash = a.rewardsAction(c, shop, pr.CustomerID, m.L); flash == nil {
				return // answered
			}
		}
		p, err := a.rewardsPageData(c, shop, pr.CustomerID, m)
		if err != nil {
			a.rewardsInternal(c, shop, "rewards", err)
			return
		}
		p.Action, p.Flash, p.FormKey = prefix+"/", flash, randomFormKey()
		if flash != nil && flash.Text == "" { // insufficient points: say what they have now
			flash.Text = m.L.t("rw.err.insufficient", max(p.Balance, 0), flash.needed)
		}
		// A refused form answers 200 too: the page is the answer, with the
		// message at its top.
		a.renderShopper(c, http.StatusOK, "rewards.html", p)
	}
}

func (a *App) rewardsInternal(c *gin.Context, shop models.Shop, what string, err error) {
	a.log.Error("rewards page", "what", what, "shop", shop.Domain, "err", err)
	a.rewardsProblem(c, http.StatusInternalServerError, "internal")
}

// rewardsAction does what the posted form asks and says how it went; nil
// means it has answered the request itself (an internal error).
func (a *App) rewardsAction(c *gin.Context, shop models.Shop, customer int64, l shopperLang) *rewardsFlash {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxProxyBody)
	if err := c.Request.ParseForm(); err != nil {
		return &rewardsFlash{Text: l.t("rw.err.form")}
	}
	form := c.Request.PostForm
	switch form.Get("action") {
	case "redeem":
		points, err := strconv.ParseInt(form.Get("points"), 10, 64)
		if err != nil || points <= 0 {
			return &rewardsFlash{Text: l.t("rw.err.form")}
		}
		// Once the points are taken the code must be made or the points
		// given back, whether or not the shopper is still waiting.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), redeemTimeout)
		defer cancel()
		key := form.Get("key")
		if len(key) > 64 {
			key = ""
		}
		red, _, err := a.loyalty.RedeemOnce(ctx, shop, customer, points, key)
		switch {
		case err == nil:
			return &rewardsFlash{OK: true, Text: l.t("rw.done.redeem", strings.TrimSpace(money(red.Value)+" "+red.Currency)), Code: red.Code,
				Hint: l.t("rw.done.redeem_hint")}
		case errors.Is(err, jobs.ErrLoyaltyDisabled):
			a.rewardsProblem(c, http.StatusNotFound, "off")
			return nil
		case errors.Is(err, jobs.ErrNotARedeemOption):
			return &rewardsFlash{Text: l.t("rw.err.not_option", points)}
		case errors.Is(err, models.ErrInsufficientPoints):
			return &rewardsFlash{needed: points} // filled in once the balance is read
		case errors.Is(err, jobs.ErrRedemptionPending):
			a.log.Warn("rewards page: redemption pending", "shop", shop.Domain, "redemption_id", red.ID, "err", err)
			return &rewardsFlash{OK: true, Text: l.t("rw.err.pending")}
		case errors.Is(err, jobs.ErrRedemptionFailed):
			a.log.Warn("rewards page: redemption failed", "shop", shop.Domain, "redemption_id", red.ID, "err", err)
			return &rewardsFlash{Text: l.t("rw.err.failed")}
		default:
			a.rewardsInternal(c, shop, "redeem", err)
			return nil
		}
	case "birthday":
		month, err1 := strconv.Atoi(form.Get("month"))
		day, err2 := strconv.Atoi(form.Get("day"))
		if err1 != nil || err2 != nil || month < 1 || month > 12 || day < 1 || day > 31 {
			return &rewardsFlash{Text: l.t("rw.err.birthday_invalid")}
		}
		_, err := a.loyalty.SetBirthday(c.Request.Context(), shop, customer, fmt.Sprintf("%02d-%02d", month, day))
		switch {
		case err == nil:
			return &rewardsFlash{OK: true, Text: l.t("rw.done.birthday")}
		case errors.Is(err, jobs.ErrBadBirthday):
			return &rewardsFlash{Text: l.t("rw.err.birthday_invalid")}
		case errors.Is(err, models.ErrConflict):
			return &rewardsFlash{Text: l.t("rw.err.birthday_set")}
		default:
			a.rewardsInternal(c, shop, "set birthday", err)
			return nil
		}
	}
	return &rewardsFlash{Text: l.t("rw.err.form")}
}

// rewardsPageData reads the customer's program state into the page.
func (a *App) rewardsPageData(c *gin.Context, shop models.Shop, customer int64, m pageMeta) (rewardsPage, error) {
	ctx := c.Request.Context()
	v, err := a.loyalty.Rewards(ctx, shop, customer, rewardsPageHistory)
	if err != nil {
		return rewardsPage{}, err
	}
	l := m.L
	prog, acct := v.Program, v.Account
	cur := func(d decimal.Decimal) string { return strings.TrimSpace(money(d) + " " + shop.Currency) }
	p := rewardsPage{pageMeta: m, LoggedIn: true,
		Balance: acct.Balance(), Pending: acct.Pending, Debt: acct.Debt,
		Worth: l.t("rw.worth", prog.PointValuePoints, cur(prog.PointValueAmount)),
		Tier:  v.Tier.Name,
	}
	if v.NextTier != nil {
		need := v.SpendNeeded
		if need.IsNegative() {
			need = decimal.Zero
		}
		p.NextTier, p.SpendNeeded = v.NextTier.Name, cur(need.Round(2))
		if span := v.NextTier.MinSpend.Sub(v.Tier.MinSpend); span.IsPositive() {
			pct := acct.Spend12m.Sub(v.Tier.MinSpend).Div(span).Mul(decimal.NewFromInt(100)).IntPart()
			p.Progress = int(min(max(pct, 0), 100))
		}
	}
	for _, pts := range prog.RedeemOptions {
		o := redeemOptionView{Points: pts, Covered: pts <= p.Balance}
		if o.Covered {
			o.Label = l.t("rw.redeem.button", cur(prog.PointsValue(pts)), pts)
		} else {
			o.Label = l.t("rw.redeem.short", cur(prog.PointsValue(pts)), pts, pts-max(p.Balance, 0))
		}
		p.Options = append(p.Options, o)
	}
	for _, r := range v.Redemptions {
		if r.Status == models.RedemptionActive || r.Status == models.RedemptionCreating {
			p.Codes = append(p.Codes, codeView{Code: r.Code, Worth: l.t("rw.codes.worth", strings.TrimSpace(money(r.Value)+" "+r.Currency)),
				Creating: r.Status == models.RedemptionCreating})
		}
	}
	names, err := a.orderNames(ctx, shop, v.History)
	if err != nil {
		return rewardsPage{}, err
	}
	for _, e := range v.History {
		pts := strconv.FormatInt(e.Points, 10)
		if e.Points > 0 {
			pts = "+" + pts
		}
		p.History = append(p.History, historyView{When: l.day(m.loc, e.At), Text: entryText(l, e, names), Points: pts,
			Pending: e.Pending(acct.MaturedThrough)})
	}
	if acct.Birthday != "" {
		mm, _ := strconv.Atoi(acct.Birthday[:2])
		dd, _ := strconv.Atoi(acct.Birthday[3:])
		p.Birthday = l.t("rw.fmt.birthday", l.t("month."+strconv.Itoa(mm)), dd)
	} else {
		for i := 1; i <= 12; i++ {
			p.Months = append(p.Months, monthOption{Value: i, Name: l.t("month." + strconv.Itoa(i))})
		}
		for d := 1; d <= 31; d++ {
			p.Days = append(p.Days, d)
		}
	}
	if prog.Referral.Enabled {
		// The first time, this makes the referee's discount on Shopify:
		// let it finish even if the shopper leaves.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redeemTimeout)
		ref := a.referralFor(rctx, shop, customer, prog)
		cancel()
		if ref != nil {
			pct := prog.Referral.RefereePercent.String()
			share := l.t("rw.referral.share_text", pct, m.Shop, ref.Link)
			p.Referral = &referralView{
				Link: ref.Link,
				Text: l.t("rw.referral.text", pct, prog.Referral.RewardPoints),
				// mailto wants %20 for spaces, not +.
				Email: "mailto:?subject=" + mailtoEscape(l.t("rw.referral.subject", m.Shop)) + "&body=" + mailtoEscape(share),
				// Their public share URLs: plain links, no scripts of theirs.
				WhatsApp: "https://wa.me/?text=" + url.QueryEscape(share),
				XURL:     "https://x.com/intent/tweet?text=" + url.QueryEscape(share),
			}
		}
	}
	return p, nil
}

func mailtoEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// entryText is entryDescription in the page's language.
func entryText(l shopperLang, e models.LoyaltyEntry, orderNames map[int64]string) string {
	order := func(key, fallback string) string {
		if name := orderNames[e.OrderPlatformID]; name != "" {
			return l.t(key, name)
		}
		return l.t(fallback)
	}
	switch e.Kind {
	case models.EntryEarn:
		if e.SourceType == models.SourceBonus {
			kind, _, _ := strings.Cut(e.SourceID, ":")
			switch kind {
			case "first_order":
				return l.t("rw.entry.first_order")
			case "review":
				return l.t("rw.entry.review")
			case "birthday":
				return l.t("rw.entry.birthday")
			case "account", "account_created":
				return l.t("rw.entry.welcome")
			}
			return l.t("rw.entry.bonus")
		}
		return order("rw.entry.order", "rw.entry.order_plain")
	case models.EntryRedeem:
		return l.t("rw.entry.redeem", e.SourceID)
	case models.EntryReverse:
		switch e.SourceType {
		case models.SourceRedemption:
			return l.t("rw.entry.returned", e.SourceID)
		case models.SourceReferral:
			return l.t("rw.entry.referral_reversed")
		}
		return order("rw.entry.order_reversed", "rw.entry.reversed")
	case models.EntryExpire:
		return l.t("rw.entry.expired")
	case models.EntryAdjust:
		return l.t("rw.entry.adjusted")
	case models.EntryReferralReward:
		return l.t("rw.entry.referral")
	}
	return l.t("rw.entry.other")
}

// randomFormKey is 128 random bits, hex.
func randomFormKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
