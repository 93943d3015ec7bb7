package app

import (
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/notify/email"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// The Settings page: what the deployment sends with, the shop's channels,
// brand and sender, the review and loyalty programs, and its customers'
// data. Like every admin page it only reads; its forms go to the admin API.

// channelInfo says how one channel of this deployment sends.
type channelInfo struct {
	Outbox bool   // not configured: messages are stored, not sent
	Via    string // "smtp.example.com:587", "Twilio"
	From   string
}

type settingsPage struct {
	S            jobs.Settings
	Email, SMS   channelInfo
	Channels     map[string]channelView // by channel: the shop's own or the deployment's
	Dur          map[string]durField
	Loyalty      jobs.LoyaltyProgram
	RedeemList   string // "500, 1000, 2000"
	Locales      []formOption
	DefaultColor string // what the colour input shows while none is saved
	Exports      []exportItem
	Privacy      []privacyRow
}

// privacyRow is one audit row about customer data.
type privacyRow struct {
	Action, Subject string
	Rows            int64
	At              time.Time
}

// privacyActions are the audit rows the Data card lists: the ones about
// customers' personal data.
var privacyActions = map[string]string{
	models.AuditDataRequest:    "Data request",
	models.AuditCustomerRedact: "Customer erased",
	models.AuditShopRedact:     "Shop data erased",
	models.AuditUninstalled:    "App uninstalled",
	models.AuditRetention:      "Old data removed",
}

// settingsListLimit bounds the exports and data events the page lists.
const settingsListLimit = 20

func (a *App) handleSettingsPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		v := a.adminView(c, "settings", "Settings")
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
		p := settingsPage{S: set, Loyalty: prog, DefaultColor: msgtmpl.DefaultBrandColor, Email: a.emailInfo(), SMS: a.smsInfo(),
			Dur: durFields(map[string]jobs.Duration{"review.product_window": set.Review.ProductWindow, "return_window": prog.ReturnWindow})}
		if set.Brand.Color != "" {
			p.DefaultColor = set.Brand.Color
		}
		if p.Channels, err = a.channelViews(ctx, v.Shop.ID); err != nil {
			a.adminFailure(c, "channels", err)
			return
		}
		opts := make([]string, len(prog.RedeemOptions))
		for i, o := range prog.RedeemOptions {
			opts[i] = strconv.FormatInt(o, 10)
		}
		p.RedeemList = strings.Join(opts, ", ")
		seen := map[string]bool{}
		for _, loc := range append(msgtmpl.Locales(), set.Locale) {
			if !seen[loc] {
				seen[loc] = true
				p.Locales = append(p.Locales, formOption{Value: loc, Label: loc, Selected: loc == set.Locale})
			}
		}

		exports, err := a.store.ListDataExports(ctx, v.Shop.ID, 0, settingsListLimit)
		if err != nil {
			a.adminFailure(c, "data exports", err)
			return
		}
		for _, r := range exports {
			id := strconv.FormatUint(r.ID, 10)
			p.Exports = append(p.Exports, exportItem{ID: id, RequestID: r.RequestKey, CustomerID: platformID(r.CustomerPlatformID),
				Status: r.Status, CreatedAt: r.CreatedAt.UTC(), CompletedAt: r.CompletedAt, DownloadURL: exportURL(id)})
		}
		// The audit log holds admin changes too; the card shows the rows
		// about customer data among the latest ones.
		audit, err := a.store.ListAudit(ctx, v.Shop.ID, 0, 5*settingsListLimit)
		if err != nil {
			a.adminFailure(c, "audit log", err)
			return
		}
		for _, r := range audit {
			if label, ok := privacyActions[r.Action]; ok && len(p.Privacy) < settingsListLimit {
				p.Privacy = append(p.Privacy, privacyRow{Action: label, Subject: r.Subject, Rows: r.Rows, At: r.CreatedAt.UTC()})
			}
		}
		v.Data = p
		a.renderAdmin(c, "settings", v)
	}
}

// emailInfo describes the email channel without its credentials.
func (a *App) emailInfo() channelInfo {
	if a.cfg.SMTPURL == "" {
		return channelInfo{Outbox: true}
	}
	info := channelInfo{Via: "SMTP", From: a.cfg.SMTPFrom}
	if st, err := email.ParseURL(a.cfg.SMTPURL); err == nil {
		info.Via = "SMTP, " + st.Host + ":" + strconv.Itoa(st.Port)
	}
	return info
}

// smsInfo describes the SMS channel without its credentials.
func (a *App) smsInfo() channelInfo {
	if a.cfg.TwilioAccountSID == "" {
		return channelInfo{Outbox: true}
	}
	return channelInfo{Via: "Twilio", From: a.cfg.TwilioFrom}
}
