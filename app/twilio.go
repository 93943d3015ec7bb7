package app

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/sms"
	"github.com/doorstep/doorstep/models"
)

// maxTwilioForm bounds an inbound SMS webhook: a few dozen short fields.
const maxTwilioForm = 64 << 10

// emptyTwiML tells Twilio to send no reply of ours: it answers STOP, START
// and HELP itself, and a second answer would cost the shopper a message.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// handleTwilioInbound takes inbound SMS from Twilio and keeps our
// suppressions in step with Twilio's own opt-out list: STOP (and its
// synonyms) suppresses every SMS to the sender, START lifts it. The sending
// number is the operator's, shared by every shop, so the suppression is for
// shop 0 (all shops), as Twilio's block is. Anything else changes nothing.
func (a *App) handleTwilioInbound() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.cfg.TwilioAuthToken == "" {
			// Without the token nothing can be verified, so nothing is
			// believed.
			apiError(c, http.StatusForbidden, "forbidden", "twilio is not configured")
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxTwilioForm)
		if err := c.Request.ParseForm(); err != nil {
			apiError(c, http.StatusBadRequest, "bad_request", "unreadable form")
			return
		}
		form := c.Request.PostForm
		// Twilio signs the URL it was configured with, which is our public
		// one, not what a proxy in front of us rewrote it to.
		full := strings.TrimRight(a.cfg.AppURL, "/") + "/webhooks/twilio"
		if q := c.Request.URL.RawQuery; q != "" {
			full += "?" + q
		}
		if !sms.VerifySignature(a.cfg.TwilioAuthToken, full, form, c.GetHeader("X-Twilio-Signature")) {
			apiError(c, http.StatusForbidden, "forbidden", "bad signature")
			return
		}

		from := strings.TrimSpace(form.Get("From"))
		kw := sms.ParseKeyword(form.Get("Body"))
		ctx := c.Request.Context()
		var err error
		switch {
		case from == "":
		case kw == sms.KeywordStop:
			// The detail names the keyword and Twilio's message id, never
			// the number: suppressions keep no personal data.
			err = a.store.Suppress(ctx, 0, notify.SMSChannel, from, models.SuppressSMSStop,
				"replied "+strings.ToUpper(strings.TrimSpace(form.Get("Body")))+" ("+form.Get("MessageSid")+")")
		case kw == sms.KeywordStart:
			err = a.store.Unsuppress(ctx, 0, notify.SMSChannel, from, models.SuppressSMSStop)
		}
		if err != nil {
			// 5xx makes Twilio retry the webhook, which is what we want.
			a.log.Error("twilio inbound", "keyword", kw.String(), "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		if kw != sms.KeywordNone {
			a.log.Info("twilio inbound keyword", "keyword", kw.String())
		}
		c.Data(http.StatusOK, "text/xml", []byte(emptyTwiML))
	}
}
