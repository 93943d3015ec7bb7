package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/integrations/notify"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
	"github.com/doorstep/doorstep/jobs/policy"
	"github.com/doorstep/doorstep/models"
)

// TypeMessageSend sends one message row.
const TypeMessageSend = "message:send"

// MessagePayload names the message to send, or a batch of them (ids only:
// no personal data in Redis).
type MessagePayload struct {
	MessageID  uint64   `json:"message_id,omitempty"`
	MessageIDs []uint64 `json:"message_ids,omitempty"`
}

// NewMessageTask builds the task for a message due at due. The id names
// the due time too: a message deferred to later gets a new task, while
// dispatching the same due message twice enqueues it once.
func NewMessageTask(id uint64, due time.Time) (*asynq.Task, []asynq.Option) {
	b := fmt.Appendf(nil, `{"message_id":%d}`, id)
	opts := []asynq.Option{asynq.TaskID("message:" + strconv.FormatUint(id, 10) + ":" + strconv.FormatInt(due.Unix(), 10)),
		asynq.Queue(QueueFlows), asynq.MaxRetry(10), asynq.Timeout(sendTimeout + 5*time.Second)}
	if time.Until(due) > time.Second {
		opts = append(opts, asynq.ProcessAt(due))
	}
	return asynq.NewTask(TypeMessageSend, b), opts
}

// NewMessageBatchTask builds one task for several due messages (the
// dispatcher batches a queue of them). Its id names the messages and their
// due times, so the same batch dispatched twice is enqueued once.
//
// A message handed over before (DispatchedAt set) and still waiting gets a
// new id: its earlier task may be "active" in Redis under a worker that
// died before claiming it, and asynq would refuse the old id until it
// recovers that task minutes later.
func NewMessageBatchTask(ms []models.Message) (*asynq.Task, []asynq.Option) {
	if len(ms) == 1 && ms[0].DispatchedAt == nil {
		return NewMessageTask(ms[0].ID, ms[0].DueAt)
	}
	ids := make([]uint64, len(ms))
	h := fnv.New64a()
	for i, m := range ms {
		ids[i] = m.ID
		fmt.Fprintf(h, "%d:%d:%d/", m.ID, m.DueAt.Unix(), m.Attempts)
		if m.DispatchedAt != nil {
			fmt.Fprintf(h, "r%d/", m.DispatchedAt.UnixNano())
		}
	}
	b, _ := json.Marshal(MessagePayload{MessageIDs: ids})
	id := fmt.Sprintf("messages:%d-%d:%x", ids[0], ids[len(ids)-1], h.Sum64())
	return asynq.NewTask(TypeMessageSend, b), []asynq.Option{asynq.TaskID(id), asynq.Queue(QueueFlows), asynq.MaxRetry(10),
		asynq.Timeout(sendTimeout + 5*time.Second)}
}

// Sender is what a channel does for the messenger (notify.Channel fits).
type Sender interface {
	Send(ctx context.Context, m notify.Message) (notify.Receipt, error)
}

// ShopChannels finds a shop's own sender for a channel (its SMTP relay,
// its Twilio account). found is false when the shop uses the deployment's.
// The messenger calls it outside its transactions.
type ShopChannels interface {
	Channel(ctx context.Context, shopID uint64, channel string) (s Sender, found bool, err error)
}

// TicketChecker tells whether an order has an open support ticket (the
// helpdesk integration implements it; nil means never).
type TicketChecker interface {
	// tx is the messenger's transaction: on SQLite's one connection a
	// query outside it would wait for it forever.
	OpenTicket(ctx context.Context, tx *models.Tx, shopID uint64, orderPlatformID int64) (bool, error)
}

const (
	// sendTimeout bounds one send, well below asynq's 30 s lease: a task
	// re-run because its lease expired (asynq issue #1030) finds the
	// message still "sending" and leaves it alone.
	sendTimeout = 20 * time.Second
	// DefaultStaleSending is how long a claim lives: a message still
	// "sending" this long after its claim belongs to a worker that died
	// mid-send, and is sent again (the one duplicate window, see
	// docs/MESSAGES.md). It must stay well above sendTimeout, which bounds
	// a whole batch (its claims are all taken at its start).
	DefaultStaleSending = 2 * time.Minute
	// maxTransientAttempts ends retries of a provider that keeps failing.
	maxTransientAttempts = 8
	// holdRecheck is how often a held message looks at its holds again
	// (clearing a manual hold resumes it at once).
	holdRecheck = time.Hour
)

// MessengerConfig wires the messenger.
type MessengerConfig struct {
	Channels map[string]Sender // by notify channel name: "email", "sms"
	Tickets  TicketChecker
	Now      func() time.Time // a fake clock in tests
	// StaleSending overrides DefaultStaleSending (tests that kill workers
	// shorten it; it must exceed the longest send).
	StaleSending time.Duration
	// Metrics, if set, counts decisions and times sends.
	Metrics *Metrics

	// ShopChannels, if set, is asked before Channels: a shop's own
	// channel wins over the deployment's.
	ShopChannels ShopChannels
}

// settingsTTL bounds how stale a cached shop and its settings can be: a
// setting saved in the admin applies to messages sent seconds later.
const settingsTTL = 5 * time.Second

type cachedSettings struct {
	shop models.Shop
	set  Settings
	at   time.Time
}

// shopAndSettings reads a shop and its settings, cached for a few seconds
// (every message needs them; they change rarely).
func (s *Messenger) shopAndSettings(ctx context.Context, shopID uint64) (models.Shop, Settings, error) {
	s.mu.Lock()
	c, ok := s.settings[shopID]
	s.mu.Unlock()
	if ok && time.Since(c.at) < settingsTTL {
		return c.shop, c.set, nil
	}
	shop, err := s.store.ShopByID(ctx, shopID)
	if err != nil {
		return shop, Settings{}, err
	}
	set, err := LoadSettings(ctx, s.store, shop.ID)
	if err != nil {
		return shop, set, err
	}
	s.mu.Lock()
	s.settings[shopID] = cachedSettings{shop: shop, set: set, at: time.Now()}
	s.mu.Unlock()
	return shop, set, nil
}

// Messenger handles message:send: it claims a due message, applies the
// message policy (order state, superseded statuses, consent, holds,
// frequency cap, quiet hours), renders it and hands it to its channel,
// recording every decision on the message.
type Messenger struct {
	store    *models.Store
	composer *Composer
	q        Enqueuer
	cfg      MessengerConfig
	zones    *policy.Zones
	log      *slog.Logger
	sent     *sentRecorder

	mu       sync.Mutex
	settings map[uint64]cachedSettings
}

// NewMessenger builds the message sender.
func NewMessenger(store *models.Store, composer *Composer, q Enqueuer, cfg MessengerConfig, log *slog.Logger) *Messenger {
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.StaleSending <= 0 {
		cfg.StaleSending = DefaultStaleSending
	}
	return &Messenger{store: store, composer: composer, q: q, cfg: cfg, zones: policy.NewZones(), log: log,
		sent: newSentRecorder(store, cfg.Now), settings: map[uint64]cachedSettings{}}
}

// ProcessTask implements asynq.Handler.
func (s *Messenger) ProcessTask(ctx context.Context, t *asynq.Task) error {
	pl, err := decode[MessagePayload](t)
	if err != nil {
		return err
	}
	if len(pl.MessageIDs) > 0 {
		return s.SendBatch(ctx, pl.MessageIDs)
	}
	return s.Send(ctx, pl.MessageID)
}

// Send sends one message if it is due and the policy allows it. Running it
// again, or concurrently, sends nothing twice: the claim (queued →
// sending) happens in a transaction before the provider is called.
func (s *Messenger) Send(ctx context.Context, id uint64) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	m, err := s.store.Message(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("message %d: %w: %w", id, err, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	if !m.Waiting() && m.Status != models.MessageSending {
		return nil
	}
	shop, set, err := s.shopAndSettings(ctx, m.ShopID)
	if err != nil {
		return err
	}
	order, err := s.store.Order(ctx, shop.ID, m.OrderPlatformID)
	if err != nil {
		return err
	}
	log := s.log.With("shop", shop.Domain, "message", m.ID, "flow", m.Flow, "step", m.Step, "channel", m.Channel)

	var (
		claimed    bool
		deferUntil time.Time
	)
	now := s.cfg.Now()
	err = s.store.InTxAt(ctx, now, func(tx *models.Tx) error {
		// Losing the claim in a database crash is harmless (the message is
		// queued again and nothing was sent yet, or the send's own commit,
		// which is durable, would have flushed it): no WAL flush to wait for.
		if err := tx.AsyncCommit(); err != nil {
			return err
		}
		cur, err := tx.LockMessage(id)
		if err != nil {
			return err
		}
		switch {
		case cur.Waiting() && !cur.DueAt.After(now.Add(time.Second)):
		case cur.Status == models.MessageSending && cur.SendingAt != nil && cur.SendingAt.Before(now.Add(-s.cfg.StaleSending)):
			log.Warn("message left sending by a worker that died; sending again")
		default:
			return nil // not due yet, already sent or decided, or another worker is sending it
		}
		m = cur
		d, err := s.decide(ctx, tx, shop, set, &order, &m, now)
		if err != nil {
			return err
		}
		switch d.status {
		case models.MessageSuppressed:
			return tx.SetMessage(&m, models.MessageSuppressed, d.reason, time.Time{})
		case models.MessageDeferred:
			deferUntil = d.until
			return tx.SetMessage(&m, models.MessageDeferred, d.reason, d.until)
		}
		claimed = true
		return tx.SetMessage(&m, models.MessageSending, "", time.Time{})
	})
	if err != nil {
		return fmt.Errorf("claim message %d: %w", id, err)
	}
	if !claimed && (m.Status == models.MessageSuppressed || m.Status == models.MessageDeferred) && m.ID == id {
		s.cfg.Metrics.observeMessage(m.Flow, m.Channel, m.Status)
	}
	if !deferUntil.IsZero() {
		s.enqueueAt(ctx, m.ID, deferUntil)
		log.Info("message deferred", "until", deferUntil, "reason", m.Reason)
	}
	if !claimed {
		return nil
	}
	return s.deliver(ctx, log, shop, set, &order, m)
}

// deliver renders and sends a claimed message and records the outcome.
func (s *Messenger) deliver(ctx context.Context, log *slog.Logger, shop models.Shop, set Settings, o *models.Order, m models.Message) error {
	accepted, err := s.attempt(ctx, log, shop, set, o, &m)
	if err != nil || !accepted {
		return err
	}
	if m.Flow != FlowReviewRequest {
		// Recorded at once, grouped with the sends finishing alongside:
		// the duplicate window is about one round trip.
		_, err := s.sent.record(m)
		return err
	}
	// A review ask records which products it asked about with its outcome.
	return s.finish(ctx, &m, models.MessageSent, "", time.Time{}, func(tx *models.Tx) error {
		return tx.RecordReviewAsks(shop.ID, m.Recipient, m.ID, productIDs(deliveredLines(o)))
	})
}

// finish records a claimed message's outcome. It must be recorded even if
// the send used up the context: a fresh one, bounded.
func (s *Messenger) finish(ctx context.Context, m *models.Message, status, reason string, due time.Time, fn func(tx *models.Tx) error) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.store.FinishSend(fctx, s.cfg.Now(), m, status, reason, due, fn)
}

// attempt renders and sends a claimed message. Accepted by the provider, it
// sets m.ProviderID and reports true, leaving the caller to record it (one
// at a time, or a batch together); any other outcome (a render error, a
// refusal, a retry) it records itself.
func (s *Messenger) attempt(ctx context.Context, log *slog.Logger, shop models.Shop, set Settings, o *models.Order, m *models.Message) (bool, error) {
	if m.Flow == FlowReviewRequest && m.Step == msgtmpl.StepAsk {
		// Ask only about products this customer was not asked about within
		// the review window (decide already dropped asks with none left).
		if err := s.dropAskedProducts(ctx, shop, set, o, *m); err != nil {
			return false, err
		}
	}
	c, err := s.composer.Compose(ctx, shop, set, *m, o)
	if err != nil {
		log.Error("message does not render", "err", err)
		return false, s.finish(ctx, m, models.MessageFailed, "render: "+err.Error(), time.Time{}, nil)
	}
	ch, ok := s.cfg.Channels[m.Channel]
	var chErr error
	if s.cfg.ShopChannels != nil {
		// A shop whose own channel fails to load waits and retries: its
		// mail must not leave through another server meanwhile.
		if own, found, err := s.cfg.ShopChannels.Channel(ctx, shop.ID, m.Channel); err != nil || found {
			ch, ok, chErr = own, true, err
		}
	}
	if !ok {
		return false, s.finish(ctx, m, models.MessageFailed, "no "+m.Channel+" channel configured", time.Time{}, nil)
	}
	msg := notify.Message{ID: "msg-" + strconv.FormatUint(m.ID, 10), ShopID: int64(shop.ID), Channel: m.Channel, To: m.Recipient,
		Subject: c.Subject, HTML: c.HTML, Text: c.Text}
	if m.Channel == notify.SMSChannel {
		msg.Text, msg.HTML, msg.Subject = c.SMS, "", ""
	} else {
		msg.From, msg.ReplyTo = set.Sender.FromEmail, orDefault(set.Sender.ReplyTo, shop.Email)
		msg.FromName = orDefault(set.Sender.FromName, orDefault(shop.Name, shop.Domain))
		if m.Marketing {
			// RFC 8058 one-click unsubscribe: mail providers show their
			// own button and POST to the link.
			msg.Headers = map[string]string{"List-Unsubscribe": "<" + c.Unsubscribe + ">", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
		}
	}
	start := time.Now()
	receipt, err := notify.Receipt{}, chErr
	if err == nil {
		receipt, err = ch.Send(ctx, msg)
	}
	s.cfg.Metrics.observeSend(m.Channel, time.Since(start))
	state := models.MessageSent
	switch {
	case err != nil && notify.IsPermanent(err), err != nil && m.Attempts >= maxTransientAttempts:
		state = models.MessageFailed
	case err != nil:
		state = "retry"
	}
	s.cfg.Metrics.observeMessage(m.Flow, m.Channel, state)
	switch {
	case err == nil:
		m.ProviderID = receipt.ProviderID
		log.Debug("message sent", "provider_id", receipt.ProviderID)
		return true, nil
	case notify.IsPermanent(err):
		log.Warn("provider refused the message", "err", err)
		if notify.IsNoSuchAddress(err) {
			if serr := s.store.Suppress(ctx, shop.ID, m.Channel, m.Recipient, models.SuppressBounced, err.Error()); serr != nil {
				log.Error("suppress bounced address", "err", serr)
			}
		}
		return false, s.finish(ctx, m, models.MessageFailed, err.Error(), time.Time{}, nil)
	case m.Attempts >= maxTransientAttempts:
		return false, s.finish(ctx, m, models.MessageFailed, fmt.Sprintf("gave up after %d attempts: %v", m.Attempts, err), time.Time{}, nil)
	default:
		wait := backoff(m.Attempts)
		if ra, ok := notify.RetryAfter(err); ok && ra > wait {
			wait = ra
		}
		due := s.cfg.Now().Add(wait)
		log.Warn("message send failed; will retry", "err", err, "retry_at", due)
		if ferr := s.finish(ctx, m, models.MessageQueued, "retry: "+err.Error(), due, nil); ferr != nil {
			return false, ferr
		}
		s.enqueueAt(ctx, m.ID, due)
		return false, nil
	}
}

// backoff is 10 s, 20 s, 40 s … capped at 30 minutes.
func backoff(attempts int) time.Duration {
	d := 10 * time.Second << min(max(attempts-1, 0), 8)
	return min(d, 30*time.Minute)
}

// enqueueAt hands a message's next attempt to asynq; if that fails the
// dispatcher finds it in the database when it is due.
func (s *Messenger) enqueueAt(ctx context.Context, id uint64, due time.Time) {
	task, opts := NewMessageTask(id, due)
	if _, err := s.q.EnqueueContext(context.WithoutCancel(ctx), task, opts...); err != nil &&
		!errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		s.log.Warn("enqueue message; the dispatcher will pick it up", "message", id, "err", err)
	}
}

// dropAskedProducts removes from the order's lines the products already
// asked about by an earlier message within the review window.
func (s *Messenger) dropAskedProducts(ctx context.Context, shop models.Shop, set Settings, o *models.Order, m models.Message) error {
	products := productIDs(o.LineItems)
	var asked map[int64]bool
	err := s.store.InTx(ctx, func(tx *models.Tx) error {
		var err error
		asked, err = tx.AskedProductsExcept(shop.ID, m.Recipient, products, s.cfg.Now().Add(-set.Review.ProductWindow.D()), m.ID)
		return err
	})
	if err != nil {
		return err
	}
	if len(asked) == 0 {
		return nil
	}
	kept := o.LineItems[:0:0]
	for _, l := range o.LineItems {
		if !asked[l.ProductID] {
			kept = append(kept, l)
		}
	}
	o.LineItems = kept
	return nil
}

func productIDs(lines []models.LineItem) []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, l := range lines {
		if l.ProductID != 0 && !seen[l.ProductID] {
			seen[l.ProductID] = true
			out = append(out, l.ProductID)
		}
	}
	return out
}
