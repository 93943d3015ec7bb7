package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/models"
)

// Tickets Doorstep opens.
//
// A delay (predicted or carrier-reported), a failed delivery, a delivery
// rating of 1–2 with a comment and a "report a problem" from the tracking
// page each raise an Alert. Every connection of the shop that opens
// tickets for the alert's reason (a setting) gets one ticket per order and
// reason: the dedup key "doorstep:<order>:<reason>".
//
// The database holds the work. A sweep (Run, every few seconds, and at
// once on Wake) finds alerts without a TicketRequest on a connection,
// writes the request as pending, and enqueues helpdesk:ticket with a task
// id per (connection, dedup key), so two copies of one ticket's task are
// never queued at once. The sweep also re-enqueues requests whose task
// Redis lost. The task claims its request (a lease in the row, so even two
// copies run by accident never call the desk together: the desks'
// lookup-then-create is not atomic), calls CreateTicket (which returns the
// ticket already opened for the dedup key, so a retry never opens a
// second), and stores the request as created together with the ticket
// row, which holds the order's review and NPS asks while it is open.
//
// Rate limits: every call to a desk takes a slot of its connection's
// limiter in Redis (helpdesk_limiter.go). A call that would wait long is
// not made and the task comes back when the slot is due; a 429 from the
// desk brings it back after the desk's Retry-After. Both return a
// *RetryAfterError, which RetryDelay honours and IsFailure does not count.

// TypeHelpdeskTicket opens one ticket in a helpdesk.
const TypeHelpdeskTicket = "helpdesk:ticket"

type ticketPayload struct {
	RequestID uint64 `json:"request_id"`
}

// ticketMaxRetry bounds asynq's retries of transient failures; the
// request's own Attempts bound calls to the desk (TicketConfig.MaxAttempts).
const ticketMaxRetry = 25

// NewHelpdeskTicketTask builds the task for a ticket request. Its id is
// the connection and the dedup key: the same ticket is never queued twice.
func NewHelpdeskTicketTask(r models.TicketRequest) (*asynq.Task, []asynq.Option) {
	b, _ := json.Marshal(ticketPayload{RequestID: r.ID})
	id := "helpdesk:ticket:" + strconv.FormatUint(r.ConnectionID, 10) + ":" + r.DedupKey
	return asynq.NewTask(TypeHelpdeskTicket, b),
		[]asynq.Option{asynq.TaskID(id), asynq.Queue(QueueFlows), asynq.MaxRetry(ticketMaxRetry)}
}

// Alert kinds raised elsewhere (jobs/flow_delay.go, the tracking page).
const (
	alertKindDelay  = "delay"
	alertKindReport = "shopper_report"
)

// ticketCause says which alerts open which ticket.
type ticketCause struct {
	alertKind    string
	alertReasons []string // nil: any
	reason       string   // models.TicketReason*
	subject      string   // after "Order #1042: "
}

// ticketCauses: a carrier's failure is a failed delivery; an attempted
// delivery is the carrier reporting a delay; late and stalled shipments
// are predicted delays.
var ticketCauses = []ticketCause{
	{alertKindDelay, []string{msgtmpl.ReasonCarrierFailure}, models.TicketReasonFailed, "delivery failed"},
	{alertKindDelay, []string{msgtmpl.ReasonAttempted, msgtmpl.ReasonLate, msgtmpl.ReasonStalled}, models.TicketReasonDelay, "delivery delayed"},
	{models.AlertLowDSAT, nil, models.TicketReasonLowDSAT, "low delivery rating"},
	{alertKindReport, nil, models.TicketReasonReport, "problem reported by the customer"},
}

func causeOfAlert(a models.Alert) (ticketCause, bool) {
	for _, c := range ticketCauses {
		if c.alertKind == a.Kind && (c.alertReasons == nil || slices.Contains(c.alertReasons, a.Reason)) {
			return c, true
		}
	}
	return ticketCause{}, false
}

func causeOfReason(reason string) (ticketCause, bool) {
	for _, c := range ticketCauses {
		if c.reason == reason {
			return c, true
		}
	}
	return ticketCause{}, false
}

// TicketConfig tunes the ticket opener; zero values take the defaults.
type TicketConfig struct {
	SweepEvery time.Duration // how often to look for alerts (default 10 s)
	// LookBack: alerts and requests older than this are left alone
	// (default 3 days), so an outage's backlog is caught up but turning a
	// reason on does not open tickets for last month.
	LookBack        time.Duration
	RedispatchAfter time.Duration // re-enqueue a pending request untouched this long (default 5 min)
	// Lease is how long a run holds a request while it calls the desk
	// (default 3 min); the call itself is cut at half of it.
	Lease time.Duration
	// MaxWait is the longest a call waits in the task for its limiter
	// slot (default 2 s); a later slot sends the task back to the queue.
	MaxWait     time.Duration
	MaxAttempts int // calls to the desk before a request fails (default 20)
	Batch       int // rows per sweep step (default 200)
	// HTTPClient is the base client for the desks (nil: 30 s timeout).
	HTTPClient *http.Client
	// Signer and AppURL, when set, put the shopper's tracking page link
	// in the ticket.
	Signer *links.Signer
	AppURL string
	Now    func() time.Time
}

// defaultDeskRetryAfter is the wait after a 429 without Retry-After.
const defaultDeskRetryAfter = 30 * time.Second

// TicketOpener sweeps alerts into ticket requests and handles
// helpdesk:ticket.
type TicketOpener struct {
	store *models.Store
	q     Enqueuer
	lim   *Limiter
	cfg   TicketConfig
	log   *slog.Logger
	wake  chan struct{}
}

// NewTicketOpener builds the opener.
func NewTicketOpener(store *models.Store, q Enqueuer, lim *Limiter, cfg TicketConfig, log *slog.Logger) *TicketOpener {
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 10 * time.Second
	}
	if cfg.LookBack <= 0 {
		cfg.LookBack = 3 * 24 * time.Hour
	}
	if cfg.RedispatchAfter <= 0 {
		cfg.RedispatchAfter = 5 * time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 3 * time.Minute
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 20
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &TicketOpener{store: store, q: q, lim: lim, cfg: cfg, log: log, wake: make(chan struct{}, 1)}
}

func (o *TicketOpener) now() time.Time { return o.cfg.Now().UTC() }

// Wake asks for a sweep now (an alert was just raised). A nil opener
// (no helpdesk wiring) ignores it.
func (o *TicketOpener) Wake() {
	if o == nil {
		return
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run sweeps until ctx ends.
func (o *TicketOpener) Run(ctx context.Context) {
	t := time.NewTicker(o.cfg.SweepEvery)
	defer t.Stop()
	for {
		if _, err := o.Sweep(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("ticket sweep failed; the next one tries again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wake:
		}
	}
}

// Sweep writes a pending request for every alert awaiting a ticket on a
// connection and enqueues it, then re-enqueues requests whose task may be
// lost. It returns how many tasks it handed over. Any number of workers
// may sweep at once: requests are unique per (connection, dedup key) and
// so are task ids.
func (o *TicketOpener) Sweep(ctx context.Context) (int, error) {
	now := o.now()
	since := now.Add(-o.cfg.LookBack)
	n := 0
	var errs []error
	for _, c := range ticketCauses {
		cands, err := o.store.AlertsAwaitingTickets(ctx, c.alertKind, c.alertReasons, c.reason, since, o.cfg.Batch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, cd := range cands {
			if err := o.request(ctx, c, cd); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	stale, err := o.store.StaleTicketRequests(ctx, now.Add(-o.cfg.RedispatchAfter), now.Add(-o.cfg.Lease), since, o.cfg.Batch)
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range stale {
		if err := o.enqueue(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// OpenFor requests and enqueues the tickets a just-raised alert opens,
// without waiting for the sweep (which would find them too). It returns
// how many it enqueued.
func (o *TicketOpener) OpenFor(ctx context.Context, a models.Alert) (int, error) {
	c, ok := causeOfAlert(a)
	if !ok || a.OrderPlatformID == 0 {
		return 0, nil
	}
	conns, err := o.store.HelpdeskConnections(ctx, a.ShopID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, conn := range conns {
		// As the sweep: only alerts raised after the connection was made.
		if !conn.OpensTicketsFor(c.reason) || (!a.CreatedAt.IsZero() && conn.CreatedAt.After(a.CreatedAt)) {
			continue
		}
		cd := models.TicketCandidate{AlertID: a.ID, ShopID: a.ShopID, OrderPlatformID: a.OrderPlatformID, ConnectionID: conn.ID}
		if err := o.request(ctx, c, cd); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (o *TicketOpener) request(ctx context.Context, c ticketCause, cd models.TicketCandidate) error {
	r := models.TicketRequest{ShopID: cd.ShopID, ConnectionID: cd.ConnectionID, DedupKey: models.TicketDedupKey(cd.OrderPlatformID, c.reason),
		OrderPlatformID: cd.OrderPlatformID, Reason: c.reason, AlertID: cd.AlertID}
	if _, err := o.store.RequestTicket(ctx, &r); err != nil {
		return err
	}
	if r.Status != models.TicketRequestPending {
		return nil
	}
	return o.enqueue(ctx, r)
}

// enqueue hands a request's task over; a task id already in Redis is the
// same work, queued or running.
func (o *TicketOpener) enqueue(ctx context.Context, r models.TicketRequest) error {
	task, opts := NewHelpdeskTicketTask(r)
	_, err := o.q.EnqueueContext(ctx, task, opts...)
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return fmt.Errorf("enqueue ticket %s on connection %d: %w", r.DedupKey, r.ConnectionID, err)
}

// RetryAfterError asks for the task to run again after After instead of
// asynq's back-off (RetryDelay reads it). It is not a failure (IsFailure):
// waiting out a rate limit, or for another run to finish, is the task
// going as planned.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryDelay is asynq.Config.RetryDelayFunc: a *RetryAfterError's delay,
// otherwise asynq's default back-off. asynq keeps retry times in whole
// seconds, truncated, so a retry may run up to a second early: one more
// second keeps it from coming before the desk's Retry-After.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		return ra.After + time.Second
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// IsFailure is asynq.Config.IsFailure: a *RetryAfterError is not a failure,
// so it neither uses up the task's retries nor counts in the failure stats.
func IsFailure(err error) bool {
	var ra *RetryAfterError
	return !errors.As(err, &ra)
}

// RegisterHelpdesk adds helpdesk:ticket to mux.
func RegisterHelpdesk(mux *asynq.ServeMux, o *TicketOpener) {
	mux.Handle(TypeHelpdeskTicket, o)
}

// errNoTicket: the ticket cannot be written (no order, no address);
// retrying will not help.
var errNoTicket = errors.New("no ticket can be opened")

// ProcessTask implements asynq.Handler.
func (o *TicketOpener) ProcessTask(ctx context.Context, task *asynq.Task) error {
	pl, err := decode[ticketPayload](task)
	if err != nil {
		return err
	}
	now := o.now()
	r, claimed, err := o.store.ClaimTicketRequest(ctx, pl.RequestID, now, o.cfg.Lease)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	if !claimed {
		if r.Status != models.TicketRequestCalling {
			return nil // created or failed: done
		}
		left := max(r.UpdatedAt.Add(o.cfg.Lease).Sub(now), time.Second)
		return &RetryAfterError{After: left, Err: fmt.Errorf("ticket %s: another run is calling the desk", r.DedupKey)}
	}
	log := o.log.With("shop", r.ShopID, "order", r.OrderPlatformID, "connection", r.ConnectionID, "dedup_key", r.DedupKey)
	return o.open(ctx, r, log)
}

// open does the claimed request's one call to the desk and records how
// it went.
func (o *TicketOpener) open(ctx context.Context, r models.TicketRequest, log *slog.Logger) error {
	fail := func(reason string, called bool) error {
		log.Warn("helpdesk ticket not opened", "reason", reason)
		return o.store.FailTicketRequest(ctx, r.ID, reason, called, o.now())
	}
	release := func(err error, called bool) {
		if rerr := o.store.ReleaseTicketRequest(ctx, r.ID, err.Error(), called, o.now()); rerr != nil {
			// The lease runs out and the next run takes over.
			log.Warn("release ticket request", "err", rerr)
		}
	}
	conn, err := o.store.HelpdeskConnectionByID(ctx, r.ConnectionID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return fail("helpdesk connection removed", false)
	case err != nil:
		release(err, false)
		return err
	case !conn.Active():
		return fail("helpdesk disconnected", false)
	case !conn.OpensTicketsFor(r.Reason):
		return fail("the connection no longer opens tickets for "+r.Reason, false)
	case r.Attempts >= o.cfg.MaxAttempts:
		return fail(fmt.Sprintf("gave up after %d attempts: %s", r.Attempts, r.LastError), false)
	}
	nt, err := o.compose(ctx, r)
	if errors.Is(err, errNoTicket) {
		return fail(err.Error(), false)
	}
	if err != nil {
		release(err, false)
		return err
	}
	desk, err := OpenDesk(o.store, conn, o.lim.limitedClient(o.cfg.HTTPClient, conn.ID, conn.Kind, o.cfg.MaxWait))
	if err != nil {
		return fail("helpdesk client: "+err.Error(), false)
	}

	callCtx, cancel := context.WithTimeout(ctx, o.cfg.Lease/2)
	tk, err := desk.CreateTicket(callCtx, nt)
	cancel()
	now := o.now()
	var throttled *Throttled
	if errors.As(err, &throttled) {
		// Our limiter held the call back: not an attempt. The jitter
		// spreads the tasks that were all told the same slot.
		release(err, false)
		return &RetryAfterError{After: throttled.RetryAfter + rand.N(time.Second), Err: err}
	}
	if rerr := o.store.RecordHelpdeskCall(ctx, conn.ID, now, err); rerr != nil {
		log.Warn("record helpdesk call", "err", rerr)
	}
	if err == nil {
		if err := o.store.CompleteTicketRequest(ctx, r.ID, ticketRow(r, conn, nt, tk), now); err != nil {
			// Not recorded: the next run finds the ticket by its dedup key.
			return fmt.Errorf("record ticket %s: %w", tk.ExternalID, err)
		}
		log.Info("helpdesk ticket opened", "ticket", tk.ExternalID, "desk", conn.Kind)
		return nil
	}
	var limited *helpdesk.RateLimited
	var apiErr *helpdesk.APIError
	switch {
	case errors.As(err, &limited):
		wait := limited.RetryAfter
		if wait <= 0 {
			wait = defaultDeskRetryAfter
		}
		release(err, true)
		log.Info("helpdesk rate limit; ticket retried later", "retry_after", wait)
		return &RetryAfterError{After: wait, Err: err}
	case errors.Is(err, helpdesk.ErrUnauthorized):
		return fail("the helpdesk refused the credentials: "+err.Error(), true)
	case errors.Is(err, helpdesk.ErrNotFound), errors.As(err, &apiErr) && !apiErr.Transient():
		return fail(err.Error(), true)
	}
	release(err, true)
	return fmt.Errorf("create ticket %s: %w", r.DedupKey, err)
}

// ticketRow is the tickets-table row of a ticket Doorstep opened: tied to
// the order, so it holds the order's review and NPS asks while open.
func ticketRow(r models.TicketRequest, conn models.HelpdeskConnection, nt helpdesk.NewTicket, tk helpdesk.Ticket) models.Ticket {
	status := string(tk.Status)
	if tk.Status == helpdesk.StatusUnknown {
		status = models.TicketOpen
	}
	row := models.Ticket{ShopID: r.ShopID, ConnectionID: conn.ID, ExternalID: tk.ExternalID,
		CustomerEmail: orDefault(tk.CustomerEmail, nt.CustomerEmail), OrderPlatformID: r.OrderPlatformID, Status: status,
		Subject: truncateRunes(orDefault(tk.Subject, nt.Subject), 512), URL: tk.URL, DedupKey: r.DedupKey}
	if !tk.UpdatedAt.IsZero() {
		at := tk.UpdatedAt.UTC()
		row.RemoteUpdatedAt = &at
	}
	return row
}

// compose writes the ticket: the order, each package's tracking, what
// happened and the customer's own words.
func (o *TicketOpener) compose(ctx context.Context, r models.TicketRequest) (helpdesk.NewTicket, error) {
	c, ok := causeOfReason(r.Reason)
	if !ok {
		return helpdesk.NewTicket{}, fmt.Errorf("%w: unknown reason %q", errNoTicket, r.Reason)
	}
	shop, err := o.store.ShopByID(ctx, r.ShopID)
	if errors.Is(err, models.ErrNotFound) {
		return helpdesk.NewTicket{}, fmt.Errorf("%w: shop %d is gone", errNoTicket, r.ShopID)
	}
	if err != nil {
		return helpdesk.NewTicket{}, err
	}
	ord, err := o.store.Order(ctx, r.ShopID, r.OrderPlatformID)
	if errors.Is(err, models.ErrNotFound) {
		return helpdesk.NewTicket{}, fmt.Errorf("%w: order %d is not stored (redacted?)", errNoTicket, r.OrderPlatformID)
	}
	if err != nil {
		return helpdesk.NewTicket{}, err
	}
	if strings.TrimSpace(ord.Email) == "" {
		return helpdesk.NewTicket{}, fmt.Errorf("%w: order %s has no email address", errNoTicket, ord.Name)
	}
	alerts, err := o.store.OrderAlerts(ctx, r.ShopID, r.OrderPlatformID, c.alertKind, c.alertReasons)
	if err != nil {
		return helpdesk.NewTicket{}, err
	}
	var rating int
	if c.reason == models.TicketReasonLowDSAT {
		fs, err := o.store.OrderFeedback(ctx, r.ShopID, r.OrderPlatformID)
		if err != nil {
			return helpdesk.NewTicket{}, err
		}
		for _, f := range fs {
			if f.Kind == models.FeedbackDelivery {
				rating = f.Rating
			}
		}
	}
	name := orDefault(ord.Name, "#"+strconv.FormatInt(ord.PlatformID, 10))
	var b strings.Builder
	fmt.Fprintf(&b, "Doorstep opened this ticket: %s.\n\n", c.subject)
	fmt.Fprintf(&b, "Order %s", name)
	if !ord.PlatformCreatedAt.IsZero() {
		fmt.Fprintf(&b, ", placed %s", ord.PlatformCreatedAt.UTC().Format("2006-01-02"))
	}
	fmt.Fprintf(&b, ", for %s\n", ord.Email)
	if shop.Platform == models.PlatformShopify && shop.Domain != "" {
		fmt.Fprintf(&b, "Shopify admin: https://%s/admin/orders/%d\n", shop.Domain, ord.PlatformID)
	}
	if link := o.trackingLink(shop, ord); link != "" {
		fmt.Fprintf(&b, "Tracking page: %s\n", link)
	}
	writePackages(&b, ord.Fulfillments)
	b.WriteString("\n")
	writeWhatHappened(&b, c, alerts, rating)
	return helpdesk.NewTicket{
		CustomerEmail: strings.TrimSpace(ord.Email), CustomerName: ord.ShippingAddress.Name,
		Subject:  fmt.Sprintf("Order %s: %s", name, c.subject),
		Body:     strings.TrimSpace(b.String()),
		DedupKey: r.DedupKey,
		Tags:     []string{"doorstep", "doorstep-" + strings.ReplaceAll(r.Reason, "_", "-")},
	}, nil
}

// trackingLink is the shopper's tracking page, when links can be signed.
func (o *TicketOpener) trackingLink(shop models.Shop, ord models.Order) string {
	if o.cfg.Signer == nil || o.cfg.AppURL == "" {
		return ""
	}
	u, err := o.cfg.Signer.URL(o.cfg.AppURL, links.Tracking, links.Claims{ShopID: int64(shop.ID), OrderID: ord.PlatformID,
		Purpose: links.Tracking, Expires: o.now().Add(trackingLinkTTL)})
	if err != nil {
		return ""
	}
	return u
}

func writePackages(b *strings.Builder, fs []models.Fulfillment) {
	if len(fs) == 0 {
		b.WriteString("\nNo package has shipped yet.\n")
		return
	}
	b.WriteString("\nPackages:\n")
	for _, f := range fs {
		b.WriteString("- ")
		b.WriteString(orDefault(strings.TrimSpace(f.TrackingCompany+" "+f.TrackingNumber), "no tracking number"))
		status := f.ShipmentStatus
		if f.Status == "cancelled" || f.Status == "error" || f.Status == "failure" {
			status = f.Status
		}
		fmt.Fprintf(b, ": %s", strings.ReplaceAll(orDefault(status, models.ShipmentConfirmed), "_", " "))
		switch {
		case f.DeliveredAt != nil:
			fmt.Fprintf(b, ", delivered %s", f.DeliveredAt.UTC().Format("2006-01-02"))
		case f.EstimatedDeliveryAt != nil:
			fmt.Fprintf(b, ", expected %s", f.EstimatedDeliveryAt.UTC().Format("2006-01-02"))
		}
		if f.TrackingURL != "" {
			fmt.Fprintf(b, " (%s)", f.TrackingURL)
		}
		b.WriteString("\n")
	}
}

// delaySentences say what each delay alert means, for the agent.
var delaySentences = map[string]string{
	msgtmpl.ReasonCarrierFailure: "the carrier reported a failed delivery",
	msgtmpl.ReasonAttempted:      "the carrier attempted delivery and could not deliver",
	msgtmpl.ReasonLate:           "the estimated delivery date passed without delivery",
	msgtmpl.ReasonStalled:        "no carrier scan for several days",
}

func writeWhatHappened(b *strings.Builder, c ticketCause, alerts []models.Alert, rating int) {
	switch c.reason {
	case models.TicketReasonDelay, models.TicketReasonFailed:
		b.WriteString("What happened:\n")
		for _, a := range alerts {
			fmt.Fprintf(b, "- %s: %s\n", a.CreatedAt.UTC().Format("2006-01-02"), orDefault(delaySentences[a.Reason], a.Reason))
		}
	case models.TicketReasonLowDSAT:
		if rating > 0 {
			fmt.Fprintf(b, "The customer rated the delivery %d/5", rating)
		} else {
			b.WriteString("The customer gave the delivery a low rating")
		}
		b.WriteString(" and wrote:\n")
		for _, a := range alerts {
			writeQuote(b, a.Detail)
		}
	case models.TicketReasonReport:
		for _, a := range alerts {
			fmt.Fprintf(b, "The customer reported on the tracking page (%s): %s\n", a.CreatedAt.UTC().Format("2006-01-02"),
				strings.ReplaceAll(a.Reason, "_", " "))
			writeQuote(b, a.Detail)
		}
	}
}

func writeQuote(b *strings.Builder, words string) {
	words = strings.TrimSpace(words)
	if words == "" {
		return
	}
	for _, line := range strings.Split(words, "\n") {
		b.WriteString("> ")
		b.WriteString(strings.TrimRight(line, "\r"))
		b.WriteString("\n")
	}
}
