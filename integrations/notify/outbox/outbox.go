// Package outbox is the development channel: instead of reaching a shopper,
// a rendered message is handed to a save function (the app stores it in the
// database, where the demo admin shows it). It lets every flow run end to
// end without an SMTP relay or a Twilio account.
package outbox

import (
	"context"
	"fmt"

	"github.com/doorstep/doorstep/integrations/notify"
)

// SaveFunc stores m and returns its id. Returning a *notify.Error lets the
// store classify its own failures; any other error is treated as transient.
type SaveFunc func(ctx context.Context, m notify.Message) (string, error)

// Channel is the outbox notify.Channel.
type Channel struct {
	save SaveFunc
}

var _ notify.Channel = (*Channel)(nil)

// New returns a Channel that stores messages through save.
func New(save func(ctx context.Context, m notify.Message) (string, error)) *Channel {
	return &Channel{save: save}
}

// Name returns "outbox".
func (c *Channel) Name() string { return "outbox" }

// Send stores m; the Receipt's ProviderID is the id save returned.
func (c *Channel) Send(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return notify.Receipt{}, &notify.Error{Reason: "not saved", Err: err}
	}
	id, err := c.save(ctx, m)
	if err != nil {
		return notify.Receipt{}, fmt.Errorf("outbox: save message %s: %w", m.ID, err)
	}
	return notify.Receipt{ProviderID: id}, nil
}
