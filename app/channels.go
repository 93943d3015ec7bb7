package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/integrations/notify/email"
	"github.com/doorstep/doorstep/integrations/notify/outbox"
	"github.com/doorstep/doorstep/integrations/notify/sms"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// channels builds the message channels from the operator's configuration:
// SMTP_URL for email, TWILIO_* for SMS. A channel that is not configured
// goes to the outbox (stored, visible in the admin), and the log says so.
func (a *App) channels() (map[string]jobs.Sender, error) {
	box := outbox.New(a.saveOutbox)
	out := map[string]jobs.Sender{notify.EmailChannel: box, notify.SMSChannel: box}
	if a.cfg.SMTPURL != "" {
		st, err := email.ParseURL(a.cfg.SMTPURL)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		// As many connections as workers: a send never waits for another.
		ch, err := email.New(st, a.cfg.SMTPFrom, email.WithLogger(a.log), email.WithPoolSize(a.cfg.SendConcurrency))
		if err != nil {
			return nil, fmt.Errorf("email channel: %w", err)
		}
		a.closers = append(a.closers, ch.Close)
		out[notify.EmailChannel] = ch
	} else {
		a.log.Info("SMTP_URL is not set: email messages go to the outbox")
	}
	if a.cfg.TwilioAccountSID != "" {
		out[notify.SMSChannel] = sms.New(sms.Settings{AccountSID: a.cfg.TwilioAccountSID, AuthToken: a.cfg.TwilioAuthToken,
			From: a.cfg.TwilioFrom, BaseURL: a.cfg.TwilioAPIBaseURL}, nil)
	} else {
		a.log.Info("TWILIO_ACCOUNT_SID is not set: SMS messages go to the outbox")
	}
	return out, nil
}

// saveOutbox keeps a rendered message in the database.
func (a *App) saveOutbox(ctx context.Context, m notify.Message) (string, error) {
	headers, _ := json.Marshal(m.Headers)
	row := models.OutboxMessage{ShopID: uint64(m.ShopID), MessageID: m.ID, Channel: m.Channel, To: m.To,
		Subject: m.Subject, HTML: m.HTML, Text: m.Text, Headers: string(headers)}
	if err := a.store.SaveOutbox(ctx, &row); err != nil {
		return "", err
	}
	return "outbox-" + strings.TrimPrefix(m.ID, "msg-"), nil
}
