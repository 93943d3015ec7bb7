package models

import (
	"context"
	"strings"
	"time"
)

// ExplainMarkSentMany returns PostgreSQL's plan for the statement
// MarkSentMany would run, without running it.
func (s *Store) ExplainMarkSentMany(ctx context.Context, now time.Time, ms []Message) (string, error) {
	q, args := markSentManyQuery(now, ms)
	return s.explain(ctx, q, args)
}

// ExplainDueTriggers returns PostgreSQL's plan for DueTriggers' read.
func (s *Store) ExplainDueTriggers(ctx context.Context, kinds []string, now, redispatchBefore time.Time, limit int) (string, error) {
	q, args := dueTriggersQuery(kinds, now, redispatchBefore, limit)
	return s.explain(ctx, q, args)
}

func (s *Store) explain(ctx context.Context, q string, args []any) (string, error) {
	var lines []string
	err := s.db.WithContext(ctx).Raw("EXPLAIN "+q, args...).Scan(&lines).Error
	return strings.Join(lines, "\n"), err
}

// ExplainUpdateMessages returns PostgreSQL's plan for the statement a
// message batch's flush runs to write ms' states.
func (s *Store) ExplainUpdateMessages(ctx context.Context, now time.Time, ms []Message) (string, error) {
	q, args := updateMessagesQuery(now, ms)
	return s.explain(ctx, q, args)
}

// ExplainMarketingSendTimes returns PostgreSQL's plan for the frequency
// cap's read of a recipient's recent marketing sends.
func (s *Store) ExplainMarketingSendTimes(ctx context.Context, shopID uint64, recipient string, since time.Time) (string, error) {
	return s.explain(ctx, marketingSendTimesQuery, marketingSendTimesArgs(shopID, recipient, since, 0))
}
