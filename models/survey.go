package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// SurveyAnswer is a shopper's answer to a post-purchase question asked on
// the thank-you page ("How did you hear about us?"). An order answers each
// question once: (shop, order, question) is unique, and the first answer
// stays (a reloaded page or a second click changes nothing).
type SurveyAnswer struct {
	ID              uint64 `gorm:"primaryKey"`
	ShopID          uint64 `gorm:"not null;uniqueIndex:ux_survey_answers_order,priority:1;index:ix_survey_answers_shop_at,priority:1"`
	OrderPlatformID int64  `gorm:"not null;uniqueIndex:ux_survey_answers_order,priority:2"`
	Question        string `gorm:"size:32;not null;uniqueIndex:ux_survey_answers_order,priority:3"`
	// CustomerPlatformID is the logged-in customer who answered; 0 for a
	// guest checkout.
	CustomerPlatformID int64 `gorm:"not null;default:0"`
	// Answer is one of the question's fixed choices.
	Answer string `gorm:"size:32;not null"`
	// Other is the shopper's own words when Answer is "other" (personal
	// data: erased with the customer).
	Other      string    `gorm:"size:512;not null;default:''"`
	AnsweredAt time.Time `gorm:"not null;index:ix_survey_answers_shop_at,priority:2"`
	CreatedAt  time.Time
}

// SaveSurveyAnswer stores an order's answer to a question unless it already
// has one. It returns the stored answer — the one given, or the earlier one
// — and whether this call stored it.
func (s *Store) SaveSurveyAnswer(ctx context.Context, a SurveyAnswer) (SurveyAnswer, bool, error) {
	a.ID, a.AnsweredAt, a.CreatedAt = 0, a.AnsweredAt.UTC(), time.Now().UTC()
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&a)
	if res.Error != nil {
		return SurveyAnswer{}, false, fmt.Errorf("save survey answer of order %d: %w", a.OrderPlatformID, res.Error)
	}
	if res.RowsAffected == 1 {
		return a, true, nil
	}
	stored, err := s.SurveyAnswerOf(ctx, a.ShopID, a.OrderPlatformID, a.Question)
	return stored, false, err
}

// SurveyAnswerOf reads an order's answer to a question; ErrNotFound when it
// has none.
func (s *Store) SurveyAnswerOf(ctx context.Context, shopID uint64, orderPlatformID int64, question string) (SurveyAnswer, error) {
	var a SurveyAnswer
	err := s.db.WithContext(ctx).Where("shop_id = ? AND order_platform_id = ? AND question = ?", shopID, orderPlatformID, question).
		Take(&a).Error
	if err != nil {
		return SurveyAnswer{}, fmt.Errorf("survey answer of order %d: %w", orderPlatformID, notFound(err))
	}
	return a, nil
}

// SurveyTally counts a question's answers given since a time, by answer.
func (s *Store) SurveyTally(ctx context.Context, shopID uint64, question string, since time.Time) (map[string]int64, error) {
	var rows []struct {
		Answer string
		N      int64
	}
	err := s.db.WithContext(ctx).Model(&SurveyAnswer{}).Select("answer, count(*) AS n").
		Where("shop_id = ? AND question = ? AND answered_at >= ?", shopID, question, since.UTC()).
		Group("answer").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("survey tally %s: %w", question, err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Answer] = r.N
	}
	return out, nil
}

// DeleteSurveyAnswers erases the answers given by a customer or about the
// given orders (a customers/redact request), returning how many went.
// Neither given: nothing.
func (tx *Tx) DeleteSurveyAnswers(shopID uint64, customerPlatformID int64, orderPlatformIDs []int64) (int64, error) {
	q := tx.db.Where("shop_id = ?", shopID)
	switch {
	case customerPlatformID != 0 && len(orderPlatformIDs) > 0:
		q = q.Where("(customer_platform_id = ? OR order_platform_id IN ?)", customerPlatformID, orderPlatformIDs)
	case customerPlatformID != 0:
		q = q.Where("customer_platform_id = ?", customerPlatformID)
	case len(orderPlatformIDs) > 0:
		q = q.Where("order_platform_id IN ?", orderPlatformIDs)
	default:
		return 0, nil
	}
	res := q.Delete(&SurveyAnswer{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete survey answers: %w", res.Error)
	}
	return res.RowsAffected, nil
}
