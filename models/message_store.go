package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AddressHash is how suppressions and review asks name an address without
// storing it: lower-cased, trimmed, SHA-256.
func AddressHash(address string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(address))))
	return hex.EncodeToString(sum[:])
}

// ---- writing messages ----

// QueueMessage writes a message unless one with the same unique key exists,
// and reports whether it was new. The decision is traced.
func (tx *Tx) QueueMessage(m *Message) (bool, error) {
	m.ID = 0
	if m.Status == "" {
		m.Status = MessageQueued
	}
	if m.DueAt.IsZero() {
		m.DueAt = tx.now
	}
	if m.FirstDueAt.IsZero() {
		m.FirstDueAt = m.DueAt
	}
	res := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(m)
	if res.Error != nil {
		return false, fmt.Errorf("queue %s message: %w", m.Flow, res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	due := m.DueAt
	return true, tx.TraceMessage(*m, m.Status, m.Reason, &due)
}

// QueueMessage is Tx.QueueMessage in its own transaction.
func (s *Store) QueueMessage(ctx context.Context, m *Message) (bool, error) {
	var created bool
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		created, err = tx.QueueMessage(m)
		return err
	})
	return created, err
}

// TraceMessage records one decision about a message for the timeline.
func (tx *Tx) TraceMessage(m Message, status, reason string, until *time.Time) error {
	ev := MessageEvent{ShopID: m.ShopID, OrderPlatformID: m.OrderPlatformID, MessageID: m.ID, Status: status,
		Reason: truncate(reason, 1024), Until: until, At: tx.now}
	if err := tx.db.Create(&ev).Error; err != nil {
		return fmt.Errorf("trace message %d: %w", m.ID, err)
	}
	return nil
}

// LockMessage reads a message locked for update.
func (tx *Tx) LockMessage(id uint64) (Message, error) {
	var m Message
	if err := forUpdate(tx.db, tx.pg).Take(&m, id).Error; err != nil {
		return Message{}, fmt.Errorf("message %d: %w", id, notFound(err))
	}
	return m, nil
}

// SetMessage moves a message to a new state with the reason and traces it.
// For MessageDeferred and MessageQueued, due is the new due time. Between
// BeginMessageBatch and FlushMessageBatch the writes are buffered and done
// set-based at the flush.
func (tx *Tx) SetMessage(m *Message, status, reason string, due time.Time) error {
	until := applyMessageState(m, status, reason, due, tx.now)
	ev := MessageEvent{ShopID: m.ShopID, OrderPlatformID: m.OrderPlatformID, MessageID: m.ID, Status: status,
		Reason: m.Reason, Until: until, At: tx.now}
	if tx.msgBatch != nil {
		tx.msgBatch.rows = append(tx.msgBatch.rows, *m)
		tx.msgBatch.events = append(tx.msgBatch.events, ev)
		return nil
	}
	if err := tx.db.Model(&Message{}).Where("id = ?", m.ID).Updates(messageStateColumns(*m, tx.now)).Error; err != nil {
		return fmt.Errorf("message %d to %s: %w", m.ID, status, err)
	}
	if err := tx.db.Create(&ev).Error; err != nil {
		return fmt.Errorf("trace message %d: %w", m.ID, err)
	}
	return nil
}

// applyMessageState changes m in memory as moving to status does, and
// returns the "until" of the decision (deferrals and retries).
func applyMessageState(m *Message, status, reason string, due, now time.Time) *time.Time {
	var until *time.Time
	switch status {
	case MessageDeferred, MessageQueued:
		m.DueAt, m.DispatchedAt = due, nil
		until = &due
	case MessageSending:
		m.SendingAt = &now
		m.Attempts++
	case MessageSent:
		m.SentAt = &now
	}
	held := status == MessageDeferred && strings.HasPrefix(reason, "held")
	switch {
	case held && m.HeldSince == nil:
		m.HeldSince = &now
	case !held:
		m.HeldSince = nil
	}
	m.Status, m.Reason = status, truncate(reason, 1024)
	return until
}

// messageStateColumns are the columns a state change writes.
func messageStateColumns(m Message, now time.Time) map[string]any {
	return map[string]any{"status": m.Status, "reason": m.Reason, "due_at": m.DueAt, "dispatched_at": m.DispatchedAt,
		"held_since": m.HeldSince, "sending_at": m.SendingAt, "attempts": m.Attempts, "sent_at": m.SentAt,
		"provider_id": m.ProviderID, "updated_at": now}
}

// messageBatch buffers state changes for FlushMessageBatch.
type messageBatch struct {
	rows   []Message
	events []MessageEvent
	// suppressions prefetched per (channel, address hash): their reasons.
	suppressions map[string][]string
}

// BeginMessageBatch buffers SetMessage until FlushMessageBatch, and reads
// the suppressions of every recipient in ms in one query (shop and
// operator-wide rows), for Suppressions to answer from.
func (tx *Tx) BeginMessageBatch(shopIDs []uint64, ms []Message) error {
	b := &messageBatch{suppressions: map[string][]string{}}
	hashes := make([]string, 0, len(ms))
	for _, m := range ms {
		hashes = append(hashes, AddressHash(m.Recipient))
	}
	if len(hashes) > 0 {
		var rows []Suppression
		if err := tx.db.Where(anyOf(tx.pg, "shop_id", append([]uint64{0}, shopIDs...))).Where(anyText(tx.pg, "address_hash", hashes)).
			Find(&rows).Error; err != nil {
			return fmt.Errorf("suppressions: %w", err)
		}
		for _, r := range rows {
			k := suppressionKey(r.ShopID, r.Channel, r.AddressHash)
			b.suppressions[k] = append(b.suppressions[k], r.Reason)
		}
	}
	tx.msgBatch = b
	return nil
}

func suppressionKey(shopID uint64, channel, hash string) string {
	return fmt.Sprintf("%d/%s/%s", shopID, channel, hash)
}

// FlushMessageBatch writes the buffered state changes: one UPDATE and one
// INSERT of the decisions (on PostgreSQL each takes its rows as arrays).
func (tx *Tx) FlushMessageBatch() error {
	b := tx.msgBatch
	tx.msgBatch = nil
	if b == nil || len(b.rows) == 0 {
		return nil
	}
	if err := tx.updateMessages(b.rows); err != nil {
		return err
	}
	if err := tx.insertMessageEvents(b.events); err != nil {
		return fmt.Errorf("trace %d messages: %w", len(b.events), err)
	}
	return nil
}

// insertMessageEvents writes decisions. On PostgreSQL it is one statement
// whatever their number: gorm's multi-row INSERT is a new statement, parsed
// and planned anew, for every batch size.
func (tx *Tx) insertMessageEvents(evs []MessageEvent) error {
	if !tx.pg {
		return tx.db.Create(&evs).Error
	}
	n := len(evs)
	shops, orders, msgs := make(int64Array, n), make(int64Array, n), make(int64Array, n)
	statuses, reasons := make(textArray, n), make(textArray, n)
	until, at := make(timeArray, n), make(timeArray, n)
	for i, e := range evs {
		shops[i], orders[i], msgs[i] = int64(e.ShopID), e.OrderPlatformID, int64(e.MessageID)
		statuses[i], reasons[i] = e.Status, e.Reason
		until[i], at[i] = utcPtr(e.Until), utcPtr(&e.At)
	}
	return tx.db.Exec(`INSERT INTO message_events (shop_id, order_platform_id, message_id, status, reason, until, at)
SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[])`,
		shops, orders, msgs, statuses, reasons, until, at).Error
}

// updateMessagesQuery is updateMessages' PostgreSQL statement: the new
// states as one array parameter per column, so every batch size is the
// same statement and plan. "t.id = ANY(ids)" beside the join keeps the
// planner on the primary key: joined to a list alone, it hashed the list
// and read the whole messages table while the table was small (1.5 ms a
// batch at 6,000 messages), and a table only grows past that point.
func updateMessagesQuery(now time.Time, rows []Message) (string, []any) {
	n := len(rows)
	ids, attempts := make(int64Array, n), make(int64Array, n)
	statuses, reasons, providerIDs := make(textArray, n), make(textArray, n), make(textArray, n)
	due, dispatched, held, sending, sent := make(timeArray, n), make(timeArray, n), make(timeArray, n), make(timeArray, n), make(timeArray, n)
	for i, m := range rows {
		ids[i], attempts[i] = int64(m.ID), int64(m.Attempts)
		statuses[i], reasons[i], providerIDs[i] = m.Status, m.Reason, m.ProviderID
		due[i], dispatched[i], held[i], sending[i], sent[i] = utcPtr(&m.DueAt), utcPtr(m.DispatchedAt), utcPtr(m.HeldSince), utcPtr(m.SendingAt), utcPtr(m.SentAt)
	}
	const q = `UPDATE messages AS t SET status = v.status, reason = v.reason, due_at = v.due_at, dispatched_at = v.dispatched_at,
  held_since = v.held_since, sending_at = v.sending_at, attempts = v.attempts, sent_at = v.sent_at, provider_id = v.provider_id,
  updated_at = ?
FROM unnest(?::bigint[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::timestamptz[], ?::timestamptz[], ?::bigint[], ?::timestamptz[], ?::text[])
  AS v(id, status, reason, due_at, dispatched_at, held_since, sending_at, attempts, sent_at, provider_id)
WHERE t.id = v.id AND t.id = ANY(?::bigint[])`
	return q, []any{now.UTC(), ids, statuses, reasons, due, dispatched, held, sending, attempts, sent, providerIDs, ids}
}

// updateMessages writes the state columns of many messages.
func (tx *Tx) updateMessages(rows []Message) error {
	if !tx.pg {
		for _, m := range rows {
			if err := tx.db.Model(&Message{}).Where("id = ?", m.ID).Updates(messageStateColumns(m, tx.now)).Error; err != nil {
				return fmt.Errorf("message %d to %s: %w", m.ID, m.Status, err)
			}
		}
		return nil
	}
	q, args := updateMessagesQuery(tx.now, rows)
	if err := tx.db.Exec(q, args...).Error; err != nil {
		return fmt.Errorf("update %d messages: %w", len(rows), err)
	}
	return nil
}

// LockMessages reads messages locked for update, in id order. On
// PostgreSQL rows another worker holds are skipped (it is handling them).
func (tx *Tx) LockMessages(ids []uint64) ([]Message, error) {
	q := tx.db
	if tx.pg {
		q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
	}
	var ms []Message
	if err := q.Where(anyOf(tx.pg, "id", ids)).Order("id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("lock %d messages: %w", len(ids), err)
	}
	return ms, nil
}

// Messages reads messages by id.
func (s *Store) Messages(ctx context.Context, ids []uint64) ([]Message, error) {
	var ms []Message
	if err := s.db.WithContext(ctx).Where(anyOf(s.pg, "id", ids)).Order("id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("read %d messages: %w", len(ids), err)
	}
	return ms, nil
}

// FinishSentBatch records many accepted sends in one transaction: each
// message still "sending" under the same claim (attempt) becomes sent with
// its provider id. It returns the ids it recorded (a claim taken over by
// another worker meanwhile keeps that worker's outcome).
func (s *Store) FinishSentBatch(ctx context.Context, now time.Time, ms []Message) ([]uint64, error) {
	var done []uint64
	err := s.InTxAt(ctx, now, func(tx *Tx) error {
		ids := make([]uint64, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		cur, err := tx.lockMessagesWait(ids)
		if err != nil {
			return err
		}
		byID := make(map[uint64]Message, len(cur))
		for _, c := range cur {
			byID[c.ID] = c
		}
		var rows []Message
		var events []MessageEvent
		for _, m := range ms {
			c, ok := byID[m.ID]
			if !ok || c.Status != MessageSending || c.Attempts != m.Attempts {
				continue
			}
			m.SentAt, m.Status, m.Reason = &tx.now, MessageSent, ""
			rows = append(rows, m)
			events = append(events, MessageEvent{ShopID: m.ShopID, OrderPlatformID: m.OrderPlatformID, MessageID: m.ID,
				Status: MessageSent, At: tx.now})
			done = append(done, m.ID)
		}
		if len(rows) == 0 {
			return nil
		}
		if err := tx.updateMessages(rows); err != nil {
			return err
		}
		if err := tx.db.Create(&events).Error; err != nil {
			return fmt.Errorf("trace %d messages: %w", len(events), err)
		}
		return nil
	})
	return done, err
}

func (tx *Tx) lockMessagesWait(ids []uint64) ([]Message, error) {
	var ms []Message
	if err := forUpdate(tx.db, tx.pg).Where("id IN ?", ids).Order("id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("lock %d messages: %w", len(ids), err)
	}
	return ms, nil
}

// AddCover adds a fulfillment to a not-yet-sent shipping notice (a burst of
// shipments collapses into one message). It reports false when the message
// is no longer waiting, so the caller writes a new one.
func (tx *Tx) AddCover(id uint64, subject string) (bool, error) {
	m, err := tx.LockMessage(id)
	if err != nil {
		return false, err
	}
	if m.Status != MessageQueued && m.Status != MessageDeferred {
		return false, nil
	}
	if m.Subject == subject || strings.Contains(","+m.Covers+",", ","+subject+",") {
		return true, nil
	}
	covers := subject
	if m.Covers != "" {
		covers = m.Covers + "," + subject
	}
	if err := tx.db.Model(&Message{}).Where("id = ?", id).Update("covers", covers).Error; err != nil {
		return false, fmt.Errorf("add %s to message %d: %w", subject, id, err)
	}
	return true, tx.TraceMessage(m, m.Status, "also covers "+subject, nil)
}

// WaitingMessage finds an unsent message of an order's flow step on a
// channel for a recipient (the shipping notice a new shipment can join).
func (tx *Tx) WaitingMessage(shopID uint64, orderPlatformID int64, flow, step, channel, recipient string) (Message, bool, error) {
	var ms []Message
	err := tx.db.Where("shop_id = ? AND order_platform_id = ? AND flow = ? AND step = ? AND channel = ? AND recipient = ? AND status IN ?",
		shopID, orderPlatformID, flow, step, channel, recipient, []string{MessageQueued, MessageDeferred}).
		Order("id").Limit(1).Find(&ms).Error
	if err != nil {
		return Message{}, false, fmt.Errorf("waiting %s message: %w", flow, err)
	}
	if len(ms) == 0 {
		return Message{}, false, nil
	}
	return ms[0], true, nil
}

// LockRecipient serializes, until the transaction ends, the decisions about
// one recipient's messages (the frequency cap counts what the others sent).
// SQLite transactions are exclusive already.
func (tx *Tx) LockRecipient(shopID uint64, recipient string) error {
	if !tx.pg {
		return nil
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", shopID, strings.ToLower(recipient))
	if err := tx.db.Exec("SELECT pg_advisory_xact_lock(?)", int64(h.Sum64())).Error; err != nil {
		return fmt.Errorf("lock recipient: %w", err)
	}
	return nil
}

// marketingSendTimesQuery reads a recipient's recent marketing sends from
// ix_messages_marketing (shop_id, recipient) WHERE marketing: a handful of
// rows, where any other index holds every message of the shop. "marketing"
// is written as is, not as a parameter, so that every plan (generic ones
// included) can prove the index's predicate.
const marketingSendTimesQuery = `SELECT sent_at, sending_at FROM messages
WHERE shop_id = ? AND recipient = ? AND marketing AND id <> ? AND status IN (?, ?) AND COALESCE(sent_at, sending_at) >= ?`

func marketingSendTimesArgs(shopID uint64, recipient string, since time.Time, exceptID uint64) []any {
	return []any{shopID, recipient, exceptID, MessageSent, MessageSending, since.UTC()}
}

// MarketingSendTimes lists when a recipient's non-transactional messages
// went out (or started to) since a time, for the frequency cap.
func (tx *Tx) MarketingSendTimes(shopID uint64, recipient string, since time.Time, exceptID uint64) ([]time.Time, error) {
	var ms []Message
	err := tx.db.Raw(marketingSendTimesQuery, marketingSendTimesArgs(shopID, recipient, since, exceptID)...).Scan(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("recent marketing messages: %w", err)
	}
	out := make([]time.Time, 0, len(ms))
	for _, m := range ms {
		if m.SentAt != nil {
			out = append(out, *m.SentAt)
		} else if m.SendingAt != nil {
			out = append(out, *m.SendingAt)
		}
	}
	return out, nil
}

// SentMessages lists an order's messages of a flow that went out.
func (tx *Tx) SentMessages(shopID uint64, orderPlatformID int64, flow string) ([]Message, error) {
	var ms []Message
	err := tx.db.Where("shop_id = ? AND order_platform_id = ? AND flow = ? AND status IN ?", shopID, orderPlatformID, flow,
		[]string{MessageSent, MessageSending}).Order("id").Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("sent %s messages: %w", flow, err)
	}
	return ms, nil
}

// FinishSend records what the provider said about a claimed message.
func (s *Store) FinishSend(ctx context.Context, now time.Time, m *Message, status, reason string, due time.Time, fn func(tx *Tx) error) error {
	return s.InTxAt(ctx, now, func(tx *Tx) error {
		cur, err := tx.LockMessage(m.ID)
		if err != nil {
			return err
		}
		if cur.Status != MessageSending || cur.Attempts != m.Attempts {
			return nil // a stale claim was taken over meanwhile; its outcome stands
		}
		if err := tx.SetMessage(m, status, reason, due); err != nil {
			return err
		}
		if fn != nil {
			return fn(tx)
		}
		return nil
	})
}

// ---- dispatching ----

// DueMessages lists messages to hand to the queue: waiting ones that are
// due and were not handed over recently, and ones stuck in "sending" since
// before staleBefore (their worker died mid-send).
func (s *Store) DueMessages(ctx context.Context, now, redispatchBefore, staleBefore time.Time, limit int) ([]Message, error) {
	var ms []Message
	// Four reads of ix_messages_dispatch (status, dispatched_at, due_at, id),
	// each stopping at limit: queued and deferred messages never handed
	// over, in due order (status and dispatched_at are fixed, so the index
	// is already in due_at, id order); waiting ones handed over too long
	// ago (empty unless Redis lost tasks); and stuck sends (a handful at
	// most). One OR'ed read of (status, due_at) had to visit every message
	// already handed over and still waiting for its task, on every round:
	// 8 ms a round with 5,000 in the queue, and it grows with the backlog.
	const cols = "id, shop_id, status, due_at, attempts, dispatched_at"
	err := s.db.WithContext(ctx).Raw(`SELECT `+cols+` FROM (
  SELECT * FROM (SELECT `+cols+` FROM messages
    WHERE status = ? AND dispatched_at IS NULL AND due_at <= ? ORDER BY due_at, id LIMIT ?) AS queued
  UNION ALL
  SELECT * FROM (SELECT `+cols+` FROM messages
    WHERE status = ? AND dispatched_at IS NULL AND due_at <= ? ORDER BY due_at, id LIMIT ?) AS deferred
  UNION ALL
  SELECT * FROM (SELECT `+cols+` FROM messages
    WHERE status IN (?, ?) AND dispatched_at < ? AND due_at <= ? ORDER BY due_at, id LIMIT ?) AS lost
  UNION ALL
  SELECT * FROM (SELECT `+cols+` FROM messages
    WHERE status = ? AND sending_at < ? AND (dispatched_at IS NULL OR dispatched_at < ?) ORDER BY due_at, id LIMIT ?) AS stuck
) AS due ORDER BY due_at, id LIMIT ?`,
		MessageQueued, now.UTC(), limit,
		MessageDeferred, now.UTC(), limit,
		MessageQueued, MessageDeferred, redispatchBefore.UTC(), now.UTC(), limit,
		MessageSending, staleBefore.UTC(), redispatchBefore.UTC(), limit,
		limit).Scan(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("due messages: %w", err)
	}
	return ms, nil
}

// MarkMessagesDispatched records that the messages were enqueued.
func (s *Store) MarkMessagesDispatched(ctx context.Context, ids []uint64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.db.WithContext(ctx).Model(&Message{}).Where("id IN ?", ids).Update("dispatched_at", at).Error; err != nil {
		return fmt.Errorf("mark messages dispatched: %w", err)
	}
	return nil
}

// Message reads one message.
func (s *Store) Message(ctx context.Context, id uint64) (Message, error) {
	var m Message
	if err := s.db.WithContext(ctx).Take(&m, id).Error; err != nil {
		return Message{}, fmt.Errorf("message %d: %w", id, notFound(err))
	}
	return m, nil
}

// OrderMessages lists an order's messages and their decisions, oldest first.
func (s *Store) OrderMessages(ctx context.Context, shopID uint64, orderPlatformID int64) ([]Message, []MessageEvent, error) {
	db := s.db.WithContext(ctx)
	var ms []Message
	if err := db.Where("shop_id = ? AND order_platform_id = ?", shopID, orderPlatformID).Order("id").Find(&ms).Error; err != nil {
		return nil, nil, fmt.Errorf("order messages: %w", err)
	}
	var evs []MessageEvent
	if err := db.Where("shop_id = ? AND order_platform_id = ?", shopID, orderPlatformID).Order("at, id").Find(&evs).Error; err != nil {
		return nil, nil, fmt.Errorf("order message events: %w", err)
	}
	return ms, evs, nil
}

// ResumeHeld makes an order's held messages due now (a hold was cleared).
func (s *Store) ResumeHeld(ctx context.Context, shopID uint64, orderPlatformID int64) (int64, error) {
	res := s.db.WithContext(ctx).Model(&Message{}).
		Where("shop_id = ? AND order_platform_id = ? AND status = ? AND held_since IS NOT NULL", shopID, orderPlatformID, MessageDeferred).
		Updates(map[string]any{"due_at": time.Now().UTC(), "dispatched_at": nil})
	if res.Error != nil {
		return 0, fmt.Errorf("resume held messages: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// ---- consent ----

// Suppressions lists the reasons an address is suppressed for a shop
// (including operator-wide rows, shop 0).
func (tx *Tx) Suppressions(shopID uint64, channel, address string) ([]string, error) {
	if b := tx.msgBatch; b != nil {
		h := AddressHash(address)
		return append(append([]string(nil), b.suppressions[suppressionKey(0, channel, h)]...),
			b.suppressions[suppressionKey(shopID, channel, h)]...), nil
	}
	var reasons []string
	err := tx.db.Model(&Suppression{}).Where("shop_id IN ? AND channel = ? AND address_hash = ?",
		[]uint64{0, shopID}, channel, AddressHash(address)).Pluck("reason", &reasons).Error
	if err != nil {
		return nil, fmt.Errorf("suppressions: %w", err)
	}
	return reasons, nil
}

// Suppress stops messages to an address (see Suppression); idempotent.
func (s *Store) Suppress(ctx context.Context, shopID uint64, channel, address, reason, detail string) error {
	row := Suppression{ShopID: shopID, Channel: channel, AddressHash: AddressHash(address), Reason: reason, Detail: truncate(detail, 1024)}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return fmt.Errorf("suppress: %w", err)
	}
	return nil
}

// Unsuppress lifts a suppression (START after STOP, resubscribe); idempotent.
func (s *Store) Unsuppress(ctx context.Context, shopID uint64, channel, address, reason string) error {
	err := s.db.WithContext(ctx).Where("shop_id = ? AND channel = ? AND address_hash = ? AND reason = ?",
		shopID, channel, AddressHash(address), reason).Delete(&Suppression{}).Error
	if err != nil {
		return fmt.Errorf("unsuppress: %w", err)
	}
	return nil
}

// IsSuppressed reports whether a suppression with that reason exists.
func (s *Store) IsSuppressed(ctx context.Context, shopID uint64, channel, address, reason string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Suppression{}).Where("shop_id IN ? AND channel = ? AND address_hash = ? AND reason = ?",
		[]uint64{0, shopID}, channel, AddressHash(address), reason).Count(&n).Error
	return n > 0, err
}

// ---- holds, feedback, alerts, review asks ----

// ActiveHolds lists an order's uncleared holds.
func (tx *Tx) ActiveHolds(shopID uint64, orderPlatformID int64) ([]OrderHold, error) {
	var hs []OrderHold
	err := tx.db.Where("shop_id = ? AND order_platform_id = ? AND cleared_at IS NULL", shopID, orderPlatformID).Order("id").Find(&hs).Error
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	return hs, nil
}

// SetHold puts a manual hold on an order (one active hold per reason).
func (s *Store) SetHold(ctx context.Context, shopID uint64, orderPlatformID int64, reason, note string) (OrderHold, bool, error) {
	var h OrderHold
	created := false
	err := s.InTx(ctx, func(tx *Tx) error {
		err := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND order_platform_id = ? AND reason = ? AND cleared_at IS NULL",
			shopID, orderPlatformID, reason).Take(&h).Error
		if err == nil {
			return nil
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		h = OrderHold{ShopID: shopID, OrderPlatformID: orderPlatformID, Reason: reason, Note: truncate(note, 1024)}
		created = true
		return tx.db.Create(&h).Error
	})
	if err != nil {
		return OrderHold{}, false, fmt.Errorf("set hold: %w", err)
	}
	return h, created, nil
}

// ClearHolds clears an order's active holds with a reason ("" = all) and
// returns how many it cleared.
func (s *Store) ClearHolds(ctx context.Context, shopID uint64, orderPlatformID int64, reason string) (int64, error) {
	q := s.db.WithContext(ctx).Model(&OrderHold{}).Where("shop_id = ? AND order_platform_id = ? AND cleared_at IS NULL", shopID, orderPlatformID)
	if reason != "" {
		q = q.Where("reason = ?", reason)
	}
	res := q.Update("cleared_at", time.Now().UTC())
	if res.Error != nil {
		return 0, fmt.Errorf("clear holds: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// SaveFeedback stores a shopper's answer; answering again replaces it. A
// low delivery rating with a comment (LowDSAT) also raises an AlertLowDSAT
// in the same transaction, once per order however often it is answered,
// which the helpdesk integration turns into a ticket.
func (s *Store) SaveFeedback(ctx context.Context, f *Feedback) error {
	f.ID = 0
	return s.InTx(ctx, func(tx *Tx) error {
		err := tx.db.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "shop_id"}, {Name: "order_platform_id"}, {Name: "kind"}, {Name: "product_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"rating", "comment", "updated_at"}),
		}).Create(f).Error
		if err != nil {
			return fmt.Errorf("save feedback: %w", err)
		}
		if !LowDSAT(*f) {
			return nil
		}
		_, err = tx.RaiseAlert(&Alert{ShopID: f.ShopID, OrderPlatformID: f.OrderPlatformID, Kind: AlertLowDSAT,
			Subject: strconv.FormatInt(f.OrderPlatformID, 10), Reason: FeedbackDelivery, Detail: truncateUTF8(strings.TrimSpace(f.Comment), 1024)})
		return err
	})
}

// OrderFeedback lists an order's feedback.
func (s *Store) OrderFeedback(ctx context.Context, shopID uint64, orderPlatformID int64) ([]Feedback, error) {
	return orderFeedback(s.db.WithContext(ctx), shopID, orderPlatformID)
}

// OrderFeedback is Store.OrderFeedback inside a transaction.
func (tx *Tx) OrderFeedback(shopID uint64, orderPlatformID int64) ([]Feedback, error) {
	return orderFeedback(tx.db, shopID, orderPlatformID)
}

func orderFeedback(db *gorm.DB, shopID uint64, orderPlatformID int64) ([]Feedback, error) {
	var fs []Feedback
	if err := db.Where("shop_id = ? AND order_platform_id = ?", shopID, orderPlatformID).Order("id").Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	return fs, nil
}

// RaiseAlert records an internal alert once per cause; reports whether new.
func (tx *Tx) RaiseAlert(a *Alert) (bool, error) {
	a.ID = 0
	res := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(a)
	if res.Error != nil {
		return false, fmt.Errorf("raise alert: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// AskedProducts lists which of products a recipient was asked to review
// since a time.
func (tx *Tx) AskedProducts(shopID uint64, recipient string, products []int64, since time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(products) == 0 {
		return out, nil
	}
	var ids []int64
	err := tx.db.Model(&ReviewAsk{}).Where("shop_id = ? AND recipient = ? AND product_id IN ? AND asked_at >= ?",
		shopID, AddressHash(recipient), products, since).Pluck("product_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("asked products: %w", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// AskedProductsExcept is AskedProducts leaving out one message's own asks
// (a reminder lists what its ask listed).
func (tx *Tx) AskedProductsExcept(shopID uint64, recipient string, products []int64, since time.Time, messageID uint64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(products) == 0 {
		return out, nil
	}
	var ids []int64
	err := tx.db.Model(&ReviewAsk{}).Where("shop_id = ? AND recipient = ? AND product_id IN ? AND asked_at >= ? AND message_id <> ?",
		shopID, AddressHash(recipient), products, since, messageID).Pluck("product_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("asked products: %w", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// RecordReviewAsks notes that a message asked about products.
func (tx *Tx) RecordReviewAsks(shopID uint64, recipient string, messageID uint64, products []int64) error {
	if len(products) == 0 {
		return nil
	}
	rows := make([]ReviewAsk, len(products))
	for i, p := range products {
		rows[i] = ReviewAsk{ShopID: shopID, Recipient: AddressHash(recipient), ProductID: p, MessageID: messageID, AskedAt: tx.now}
	}
	if err := tx.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
		return fmt.Errorf("record review asks: %w", err)
	}
	return nil
}

// ---- settings, templates, outbox ----

// ShopSettingsJSON returns a shop's saved settings JSON ("" when never saved).
func (s *Store) ShopSettingsJSON(ctx context.Context, shopID uint64) (string, error) {
	var rows []ShopSettings
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Limit(1).Find(&rows).Error; err != nil {
		return "", fmt.Errorf("settings: %w", err)
	}
	if len(rows) == 0 {
		return "", nil
	}
	return rows[0].Data, nil
}

// SaveShopSettingsJSON stores a shop's settings JSON.
func (s *Store) SaveShopSettingsJSON(ctx context.Context, shopID uint64, data string) error {
	row := ShopSettings{ShopID: shopID, Data: data}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "shop_id"}}, DoUpdates: clause.AssignmentColumns([]string{"data", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// Templates returns a shop's saved template sets for a flow, by locale (JSON).
func (s *Store) Templates(ctx context.Context, shopID uint64, flow string) (map[string]string, error) {
	var rows []MessageTemplate
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND flow = ?", shopID, flow).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Locale] = r.Data
	}
	return out, nil
}

// SaveTemplates replaces a shop's saved template sets for a flow (JSON by
// locale); a locale left out returns to the default.
func (s *Store) SaveTemplates(ctx context.Context, shopID uint64, flow string, byLocale map[string]string) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if err := tx.db.Where("shop_id = ? AND flow = ?", shopID, flow).Delete(&MessageTemplate{}).Error; err != nil {
			return fmt.Errorf("replace templates: %w", err)
		}
		for locale, data := range byLocale {
			if err := tx.db.Create(&MessageTemplate{ShopID: shopID, Flow: flow, Locale: locale, Data: data}).Error; err != nil {
				return fmt.Errorf("save template %s/%s: %w", flow, locale, err)
			}
		}
		return nil
	})
}

// SaveOutbox keeps a rendered message (the outbox channel); idempotent per
// message id.
func (s *Store) SaveOutbox(ctx context.Context, m *OutboxMessage) error {
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(m).Error; err != nil {
		return fmt.Errorf("save outbox message: %w", err)
	}
	return nil
}

// ListOutbox lists a shop's newest outbox messages.
func (s *Store) ListOutbox(ctx context.Context, shopID uint64, limit int) ([]OutboxMessage, error) {
	var out []OutboxMessage
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return out, nil
}

// FindMessage reads a message by its unique key.
func (tx *Tx) FindMessage(shopID uint64, orderPlatformID int64, flow, step, subject, channel, recipient string) (Message, bool, error) {
	var ms []Message
	err := tx.db.Where("shop_id = ? AND order_platform_id = ? AND flow = ? AND step = ? AND subject = ? AND channel = ? AND recipient = ?",
		shopID, orderPlatformID, flow, step, subject, channel, recipient).Limit(1).Find(&ms).Error
	if err != nil {
		return Message{}, false, fmt.Errorf("find %s message: %w", flow, err)
	}
	if len(ms) == 0 {
		return Message{}, false, nil
	}
	return ms[0], true, nil
}

// SuppressWaiting suppresses an order's waiting messages to shoppers,
// except those of the flows in except, with a reason (the order was
// cancelled) and returns how many.
func (s *Store) SuppressWaiting(ctx context.Context, shopID uint64, orderPlatformID int64, reason string, except []string) (int, error) {
	n := 0
	err := s.InTx(ctx, func(tx *Tx) error {
		var ms []Message
		q := forUpdate(tx.db, tx.pg).Where("shop_id = ? AND order_platform_id = ? AND to_merchant = ? AND status IN ?",
			shopID, orderPlatformID, false, []string{MessageQueued, MessageDeferred})
		if len(except) > 0 {
			q = q.Where("flow NOT IN ?", except)
		}
		if err := q.Order("id").Find(&ms).Error; err != nil {
			return fmt.Errorf("waiting messages: %w", err)
		}
		for i := range ms {
			if err := tx.SetMessage(&ms[i], MessageSuppressed, reason, time.Time{}); err != nil {
				return err
			}
		}
		n = len(ms)
		return nil
	})
	return n, err
}

// DelayedFulfillments lists a shop's live, undelivered shipments created
// after createdAfter that are late (estimated delivery passed) or stalled
// (no carrier event, nor creation, since stalledBefore).
func (s *Store) DelayedFulfillments(ctx context.Context, shopID uint64, now, stalledBefore, createdAfter time.Time, limit int) ([]Fulfillment, error) {
	var fs []Fulfillment
	err := s.db.WithContext(ctx).Raw(`SELECT f.* FROM fulfillments f
WHERE f.shop_id = ? AND f.order_id <> 0 AND f.shipment_status NOT IN ? AND f.status NOT IN ? AND f.platform_created_at > ?
  AND ((f.estimated_delivery_at IS NOT NULL AND f.estimated_delivery_at < ?)
    OR COALESCE((SELECT MAX(e.happened_at) FROM fulfillment_events e WHERE e.shop_id = f.shop_id AND e.fulfillment_id = f.id), f.platform_created_at) < ?)
ORDER BY f.id LIMIT ?`,
		shopID, []string{ShipmentDelivered, ShipmentReadyForPickup, ShipmentFailure}, []string{"cancelled", "error", "failure"},
		createdAfter, now, stalledBefore, limit).Scan(&fs).Error
	if err != nil {
		return nil, fmt.Errorf("delayed fulfillments: %w", err)
	}
	return fs, nil
}

// OutboxMessage reads one stored outbox copy by message key.
func (s *Store) OutboxMessage(ctx context.Context, shopID uint64, messageID string) (OutboxMessage, error) {
	var m OutboxMessage
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND message_id = ?", shopID, messageID).Take(&m).Error; err != nil {
		return m, fmt.Errorf("outbox message %s: %w", messageID, notFound(err))
	}
	return m, nil
}

// MarkSentMany records many accepted sends in one statement, each message
// still "sending" under the same claim (attempt) becoming sent with its
// provider id and a trace event; it returns the ids it recorded. It is
// how a group of sends that finished together is recorded (see the jobs
// package's sent recorder): one round trip and one commit for all of them.
func (s *Store) MarkSentMany(ctx context.Context, now time.Time, ms []Message) ([]uint64, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	if !s.pg {
		return s.FinishSentBatch(ctx, now, ms)
	}
	q, args := markSentManyQuery(now, ms)
	var done []uint64
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&done).Error; err != nil {
		return nil, fmt.Errorf("mark %d messages sent: %w", len(ms), err)
	}
	return done, nil
}

// markSentManyQuery is MarkSentMany's PostgreSQL statement and arguments.
func markSentManyQuery(now time.Time, ms []Message) (string, []any) {
	// Three array parameters instead of a VALUES list: every group size
	// is the same statement (with a list, each size was planned anew: a
	// fifth of its time).
	//
	// The expected status travels in the materialized v, not as a
	// constant on messages: given "status = 'sending'", the planner
	// trusted statistics taken when few messages were sending and walked
	// every sending message through ix_messages_dispatch for each group
	// (a thousand rows to update seven while a backlog drained). Joined
	// from v, the only way in is the primary key.
	ids, attempts, providerIDs := make(int64Array, len(ms)), make(int64Array, len(ms)), make(textArray, len(ms))
	for i, m := range ms {
		ids[i], attempts[i], providerIDs[i] = int64(m.ID), int64(m.Attempts), m.ProviderID
	}
	const q = `WITH v AS MATERIALIZED (
  SELECT id, attempts, provider_id, ?::text AS status FROM unnest(?::bigint[], ?::bigint[], ?::text[]) AS v(id, attempts, provider_id)),
u AS (
  UPDATE messages AS t SET status = ?, reason = '', sent_at = ?, provider_id = v.provider_id, updated_at = ?
  FROM v WHERE t.id = v.id AND t.status = v.status AND t.attempts = v.attempts
  RETURNING t.id, t.shop_id, t.order_platform_id)
INSERT INTO message_events (shop_id, order_platform_id, message_id, status, reason, at)
SELECT shop_id, order_platform_id, id, ?, '', ? FROM u
RETURNING message_id`
	now = now.UTC()
	return q, []any{MessageSending, ids, attempts, providerIDs, MessageSent, now, now, MessageSent, now}
}
