package models

import (
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"
)

// redactMessages erases a customer from the message tables: messages to
// their addresses or about their orders keep their flow, status and times
// (the trace) but lose the address (waiting ones are suppressed); the
// rendered copies in the outbox are deleted; feedback comments are
// emptied (ratings stay, they are anonymous counts); review asks (hashed
// addresses) are deleted. Suppressions stay: they hold only a hash and
// must keep honouring the customer's opt-out.
func (tx *Tx) redactMessages(shopID uint64, n needles, orderPlatformIDs []int64, counts map[string]int64) error {
	addrs := make([]string, 0, len(n))
	hashes := make([]string, 0, len(n))
	for v := range n {
		addrs = append(addrs, strings.ToLower(v))
		hashes = append(hashes, AddressHash(v))
	}
	sort.Strings(addrs)
	var conds []string
	var args []any
	if len(addrs) > 0 {
		conds = append(conds, "lower(recipient) IN ?")
		args = append(args, addrs)
	}
	if len(orderPlatformIDs) > 0 {
		conds = append(conds, "(order_platform_id IN ? AND to_merchant = ?)")
		args = append(args, orderPlatformIDs, false)
	}
	if len(conds) == 0 {
		return nil
	}
	where := "(" + strings.Join(conds, " OR ") + ")"
	var ids []uint64
	if err := tx.db.Model(&Message{}).Where("shop_id = ?", shopID).Where(where, args...).
		Where("recipient NOT LIKE 'redacted:%'").Pluck("id", &ids).Error; err != nil {
		return fmt.Errorf("find messages to redact: %w", err)
	}
	if len(ids) > 0 {
		res := tx.db.Model(&Message{}).Where("id IN ? AND status IN ?", ids, []string{MessageQueued, MessageDeferred}).
			Updates(map[string]any{"status": MessageSuppressed, "reason": "customer data redacted", "updated_at": tx.now})
		if res.Error != nil {
			return fmt.Errorf("suppress redacted messages: %w", res.Error)
		}
		// The provider's reasons can quote the address ("+33… is not a
		// valid number"): they go too; the status stays.
		if err := tx.db.Model(&Message{}).Where("id IN ?", ids).
			Updates(map[string]any{"recipient": gormConcat(tx.pg, "'redacted:'", "id"), "reason": "customer data redacted",
				"provider_id": "", "updated_at": tx.now}).Error; err != nil {
			return fmt.Errorf("redact messages: %w", err)
		}
		if err := tx.db.Model(&MessageEvent{}).Where("message_id IN ? AND reason <> ''", ids).Update("reason", "").Error; err != nil {
			return fmt.Errorf("redact message events: %w", err)
		}
		counts["messages"] = int64(len(ids))
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = fmt.Sprintf("msg-%d", id)
		}
		res = tx.db.Where("shop_id = ? AND (message_id IN ? OR lower(\"to\") IN ?)", shopID, keys, append(addrs, "")).Delete(&OutboxMessage{})
		if res.Error != nil {
			return fmt.Errorf("delete outbox copies: %w", res.Error)
		}
		counts["outbox_messages"] = res.RowsAffected
	}
	if len(orderPlatformIDs) > 0 {
		res := tx.db.Model(&Feedback{}).Where("shop_id = ? AND order_platform_id IN ? AND comment <> ''", shopID, orderPlatformIDs).
			Update("comment", "")
		if res.Error != nil {
			return fmt.Errorf("redact feedback: %w", res.Error)
		}
		counts["feedback"] = res.RowsAffected
	}
	if len(hashes) > 0 {
		res := tx.db.Where("shop_id = ? AND recipient IN ?", shopID, hashes).Delete(&ReviewAsk{})
		if res.Error != nil {
			return fmt.Errorf("delete review asks: %w", res.Error)
		}
		counts["review_asks"] = res.RowsAffected
	}
	return nil
}

// gormConcat is a SQL string concatenation of a literal and an integer
// column, written for each dialect.
func gormConcat(pg bool, lit, col string) any {
	if pg {
		return exprf(lit + " || " + col + "::text")
	}
	return exprf(lit + " || CAST(" + col + " AS TEXT)")
}

func exprf(sql string) any { return gorm.Expr(sql) }
