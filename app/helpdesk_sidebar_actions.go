package app

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// The agent's actions from a sidebar. Each is idempotent on the request's
// key (a double click, or a desk retrying, acts once) and audited with the
// desk, the agent and the ticket.
const (
	actionResend   = "resend"   // re-queue the order's tracking notice
	actionGoodwill = "goodwill" // grant loyalty points
	actionPause    = "pause"    // hold the customer's review and NPS asks
	actionResume   = "resume"   // release them
)

// Goodwill caps, per shop and the same for every shop for now: an agent
// can make amends, not hand out a store's margin. A grant above
// goodwillMaxPerGrant, or one that would take a customer past
// goodwillMaxPerDay in the last 24 hours (through any helpdesk), is
// refused with 422 goodwill_cap. The merchant's own adjustments in the
// admin are not capped and do not count.
const (
	goodwillMaxPerGrant = 500
	goodwillMaxPerDay   = 1000
)

// Audit actions of the sidebar.
const (
	auditSidebarResend   = "helpdesk_resend_tracking"
	auditSidebarGoodwill = "helpdesk_goodwill"
	auditSidebarPause    = "helpdesk_pause_reviews"
	auditSidebarResume   = "helpdesk_resume_reviews"
)

const (
	maxSidebarKey    = 64
	maxSidebarAgent  = 128
	maxSidebarTicket = 64
	maxSidebarReason = 500
	// sidebarHoldOrders bounds how many of a customer's orders a pause
	// holds: their most recent ones, where asks are still to come.
	sidebarHoldOrders = 50
)

// sidebarActionRequest is an action as any desk asks for it.
type sidebarActionRequest struct {
	Action       string
	Desk         string
	ConnectionID uint64
	Agent        string
	Ticket       string
	Email, Phone string
	OrderID      string
	Points       int64
	Reason       string
	Key          string
}

// sidebarActionResult says what the action did.
type sidebarActionResult struct {
	Action string `json:"action"`
	// Done is false when the key was used before: the first request's
	// effect stands and nothing new happened.
	Done    bool   `json:"done"`
	Message string `json:"message"`
	// Points is the customer's available balance after a goodwill grant.
	Points *int64 `json:"points,omitempty"`
	Orders int64  `json:"orders,omitempty"` // orders a pause or resume touched
}

// sidebarInputError is a request the action refuses (422).
type sidebarInputError struct{ Code, Message string }

func (e *sidebarInputError) Error() string { return e.Code + ": " + e.Message }

func badAction(code, format string, args ...any) error {
	return &sidebarInputError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// runSidebarAction checks the request and runs it.
func (a *App) runSidebarAction(c *gin.Context, shop models.Shop, r sidebarActionRequest) (sidebarActionResult, error) {
	r.Agent, r.Ticket = strings.TrimSpace(r.Agent), strings.TrimSpace(r.Ticket)
	r.Key, r.Email, r.Phone = strings.TrimSpace(r.Key), strings.TrimSpace(r.Email), strings.TrimSpace(r.Phone)
	switch {
	case r.Agent == "" || utf8.RuneCountInString(r.Agent) > maxSidebarAgent:
		return sidebarActionResult{}, badAction("invalid_action", "agent: required, at most %d characters", maxSidebarAgent)
	case len(r.Ticket) > maxSidebarTicket:
		return sidebarActionResult{}, badAction("invalid_action", "ticket: at most %d characters", maxSidebarTicket)
	case r.Key == "" || len(r.Key) > maxSidebarKey:
		return sidebarActionResult{}, badAction("invalid_action", "idempotency_key: required, at most %d characters", maxSidebarKey)
	}
	switch r.Action {
	case actionResend:
		return a.sidebarResend(c, shop, r)
	case actionGoodwill:
		return a.sidebarGoodwill(c, shop, r)
	case actionPause, actionResume:
		return a.sidebarPause(c, shop, r, r.Action == actionPause)
	}
	return sidebarActionResult{}, fmt.Errorf("sidebar action %q: %w", r.Action, models.ErrNotFound)
}

// auditSidebar writes the action's audit row: ids only (the agent is the
// desk's agent id or login, the ticket the desk's ticket id).
func (a *App) auditSidebar(c *gin.Context, shop models.Shop, r sidebarActionRequest, action, subject string, detail map[string]any) {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["desk"], detail["connection"], detail["agent"], detail["ticket"] = r.Desk, r.ConnectionID, r.Agent, r.Ticket
	a.audit(c, shop, action, subject, detail)
}

// sidebarKeyHash names a request key in a row's unique key: short, and the
// same for the same connection and key only.
func sidebarKeyHash(connection uint64, key string) string {
	sum := sha256.Sum256([]byte(strconv.FormatUint(connection, 10) + ":" + key))
	return hex.EncodeToString(sum[:6])
}

// ---- resend ----

// sidebarResend queues the order's tracking notice again, about its latest
// package and as the package stands now. The message's unique key carries
// the request key ("fulfillment:<id>:resend:<hash>"), so a repeated request
// queues nothing and a new one queues one more; the message then goes
// through the message policy like any notice (consent, quiet hours).
func (a *App) sidebarResend(c *gin.Context, shop models.Shop, r sidebarActionRequest) (sidebarActionResult, error) {
	ctx := c.Request.Context()
	id, err := strconv.ParseInt(strings.TrimSpace(r.OrderID), 10, 64)
	if err != nil || id <= 0 {
		return sidebarActionResult{}, badAction("invalid_action", "order_id: the platform's order id")
	}
	o, err := a.store.Order(ctx, shop.ID, id)
	if err != nil {
		return sidebarActionResult{}, err
	}
	var ful *models.Fulfillment
	for i := range o.Fulfillments {
		f := &o.Fulfillments[i]
		if f.Status != "cancelled" && f.Status != "error" && f.Status != "failure" && (f.TrackingNumber != "" || f.TrackingURL != "") {
			ful = f
		}
	}
	if ful == nil {
		return sidebarActionResult{}, badAction("no_tracking", "order %s has no package with tracking to send", o.Name)
	}
	set, err := jobs.LoadSettings(ctx, a.store, shop.ID)
	if err != nil {
		return sidebarActionResult{}, err
	}
	channel, to := resendRecipient(set, &o)
	if to == "" {
		return sidebarActionResult{}, badAction("no_recipient", "order %s has no address the shop sends notices to", o.Name)
	}
	locale := o.Locale
	if o.Customer != nil && o.Customer.Locale != "" {
		locale = o.Customer.Locale
	}
	now := a.now().UTC()
	m := models.Message{ShopID: shop.ID, OrderPlatformID: o.PlatformID, Flow: jobs.FlowShipping,
		Step:    firstNonEmpty(ful.ShipmentStatus, models.ShipmentConfirmed),
		Subject: "fulfillment:" + strconv.FormatInt(ful.PlatformID, 10) + ":resend:" + sidebarKeyHash(r.ConnectionID, r.Key),
		Channel: channel, Recipient: to, CustomerPlatformID: o.CustomerPlatformID, Locale: locale, DueAt: now}
	created, err := a.store.QueueMessage(ctx, &m)
	if err != nil {
		return sidebarActionResult{}, err
	}
	res := sidebarActionResult{Action: actionResend, Done: created,
		Message: "The tracking notice for " + o.Name + " is on its way again."}
	if !created {
		res.Message = "The tracking notice for " + o.Name + " was already resent for this request."
		return res, nil
	}
	a.disp.Wake()
	a.auditSidebar(c, shop, r, auditSidebarResend, "order:"+platformID(o.PlatformID), map[string]any{
		"message_id": m.ID, "fulfillment_id": ful.PlatformID})
	return res, nil
}

// resendRecipient is where the notice goes again: the order's email when
// the shop sends email, else its phone when the shop sends SMS (numbers in
// E.164 only, as the flows do).
func resendRecipient(set jobs.Settings, o *models.Order) (channel, to string) {
	if set.Channels.Email {
		email := o.Email
		if email == "" && o.Customer != nil {
			email = o.Customer.Email
		}
		if email = strings.TrimSpace(email); email != "" {
			return notify.EmailChannel, email
		}
	}
	if set.Channels.SMS {
		phone := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "").Replace(firstNonEmpty(o.Phone, o.ShippingAddress.Phone))
		if len(phone) >= 8 && len(phone) <= 16 && phone[0] == '+' && strings.Trim(phone[1:], "0123456789") == "" {
			return notify.SMSChannel, phone
		}
	}
	return "", ""
}

// ---- goodwill ----

// sidebarGoodwill grants points through the ledger, once per request key,
// within the goodwill caps. The entry's actor names the desk and agent,
// its reason the ticket.
func (a *App) sidebarGoodwill(c *gin.Context, shop models.Shop, r sidebarActionRequest) (sidebarActionResult, error) {
	ctx := c.Request.Context()
	r.Reason = strings.TrimSpace(r.Reason)
	switch {
	case r.Points <= 0:
		return sidebarActionResult{}, badAction("invalid_action", "points: a positive number of points")
	case r.Points > goodwillMaxPerGrant:
		return sidebarActionResult{}, badAction("goodwill_cap", "points: at most %d per grant", goodwillMaxPerGrant)
	case utf8.RuneCountInString(r.Reason) > maxSidebarReason:
		return sidebarActionResult{}, badAction("invalid_action", "reason: at most %d characters", maxSidebarReason)
	}
	customers, err := a.store.SidebarCustomers(ctx, shop.ID, r.Email, r.Phone, 1)
	if err != nil {
		return sidebarActionResult{}, err
	}
	if len(customers) == 0 {
		return sidebarActionResult{}, fmt.Errorf("goodwill: customer: %w", models.ErrNotFound)
	}
	cust := customers[0].PlatformID
	key := models.AccountKey{ShopID: shop.ID, CustomerPlatformID: cust}
	// The customer leads the source id (as in the admin's adjustments), then
	// "helpdesk:" so the daily cap finds every desk's grants and nothing else.
	prefix := platformID(cust) + ":helpdesk:"
	source := prefix + strconv.FormatUint(r.ConnectionID, 10) + ":" + r.Key

	// A replay answers as the first request did, even at the cap.
	if prev, err := a.store.EntryBySource(ctx, shop.ID, models.EntryAdjust, models.SourceManual, source); err == nil {
		if prev.Points != r.Points || prev.CustomerPlatformID != cust {
			return sidebarActionResult{}, badAction("key_reused", "idempotency_key was used for another grant")
		}
		acct, err := a.store.Account(ctx, key)
		if err != nil {
			return sidebarActionResult{}, err
		}
		return sidebarActionResult{Action: actionGoodwill, Done: false, Points: &acct.Available,
			Message: fmt.Sprintf("%d points were already granted for this request.", r.Points)}, nil
	} else if !errors.Is(err, models.ErrNotFound) {
		return sidebarActionResult{}, err
	}
	// Check, then post: two grants racing could both pass the check and
	// overshoot the daily cap by at most one grant, which the per-grant cap
	// bounds.
	given, err := a.store.ManualPointsSince(ctx, key, prefix, a.now().Add(-24*time.Hour))
	if err != nil {
		return sidebarActionResult{}, err
	}
	if given+r.Points > goodwillMaxPerDay {
		return sidebarActionResult{}, badAction("goodwill_cap", "at most %d goodwill points per customer per day: %d already given",
			goodwillMaxPerDay, given)
	}
	reason := "Goodwill from support"
	if r.Ticket != "" {
		reason += " (ticket " + r.Ticket + ")"
	}
	if r.Reason != "" {
		reason += ": " + r.Reason
	}
	actor := "helpdesk:" + r.Desk + ":" + r.Agent
	e, acct, posted, err := a.loyalty.Adjust(ctx, shop, cust, r.Points, reason, actor, source)
	if err != nil {
		return sidebarActionResult{}, err
	}
	res := sidebarActionResult{Action: actionGoodwill, Done: posted, Points: &acct.Available,
		Message: fmt.Sprintf("%d points granted.", r.Points)}
	if posted {
		a.auditSidebar(c, shop, r, auditSidebarGoodwill, "customer:"+platformID(cust), map[string]any{
			"entry_id": e.ID, "points": r.Points})
	}
	return res, nil
}

// ---- pause / resume ----

// sidebarPause holds (or releases) the review and NPS asks of the
// customer's recent orders with the hold reason holdAgentPause; the
// message policy defers held asks and drops them when the hold outlasts
// the shop's hold expiry. Resuming makes held asks due now. Orders placed
// after a pause are not held. Setting a hold that is set, or clearing one
// that is clear, changes nothing, so a repeated request is harmless.
func (a *App) sidebarPause(c *gin.Context, shop models.Shop, r sidebarActionRequest, pause bool) (sidebarActionResult, error) {
	ctx := c.Request.Context()
	customers, err := a.store.SidebarCustomers(ctx, shop.ID, r.Email, r.Phone, sidebarCustomerLimit)
	if err != nil {
		return sidebarActionResult{}, err
	}
	ids := make([]int64, 0, len(customers))
	for _, cu := range customers {
		ids = append(ids, cu.PlatformID)
	}
	email := r.Email
	if email == "" && len(customers) > 0 {
		email = customers[0].Email
	}
	orders, _, err := a.store.SidebarOrders(ctx, shop.ID, email, ids, sidebarHoldOrders)
	if err != nil {
		return sidebarActionResult{}, err
	}
	if len(orders) == 0 {
		return sidebarActionResult{}, fmt.Errorf("pause reviews: customer: %w", models.ErrNotFound)
	}
	res := sidebarActionResult{Action: r.Action}
	note := "paused from " + r.Desk + " by " + r.Agent
	if r.Ticket != "" {
		note += " (ticket " + r.Ticket + ")"
	}
	for _, id := range orders {
		if pause {
			_, created, err := a.store.SetHold(ctx, shop.ID, id, holdAgentPause, note)
			if err != nil {
				return res, err
			}
			if created {
				res.Orders++
			}
			continue
		}
		n, err := a.store.ClearHolds(ctx, shop.ID, id, holdAgentPause)
		if err != nil {
			return res, err
		}
		if n > 0 {
			res.Orders++
			if _, err := a.store.ResumeHeld(ctx, shop.ID, id); err != nil {
				return res, err
			}
		}
	}
	res.Done = res.Orders > 0
	action := auditSidebarPause
	res.Message = "Review requests are paused for this customer."
	if !pause {
		action = auditSidebarResume
		res.Message = "Review requests are back on for this customer."
		if res.Done {
			a.disp.Wake()
		}
	}
	if res.Done {
		subject := "customer:unknown" // orders placed with the email, by no stored customer
		if len(ids) > 0 {
			subject = "customer:" + platformID(ids[0])
		}
		a.auditSidebar(c, shop, r, action, subject, map[string]any{"orders": res.Orders})
	}
	return res, nil
}
