package models

// Frozen copies of the schema as migration 202611230012_survey created it.
// Never edit them: a later change adds a new migration with its own structs.

import "time"

type v10SurveyAnswer struct {
	ID                 uint64    `gorm:"primaryKey"`
	ShopID             uint64    `gorm:"not null;uniqueIndex:ux_survey_answers_order,priority:1;index:ix_survey_answers_shop_at,priority:1"`
	OrderPlatformID    int64     `gorm:"not null;uniqueIndex:ux_survey_answers_order,priority:2"`
	Question           string    `gorm:"size:32;not null;uniqueIndex:ux_survey_answers_order,priority:3"`
	CustomerPlatformID int64     `gorm:"not null;default:0"`
	Answer             string    `gorm:"size:32;not null"`
	Other              string    `gorm:"size:512;not null;default:''"`
	AnsweredAt         time.Time `gorm:"not null;index:ix_survey_answers_shop_at,priority:2"`
	CreatedAt          time.Time
}

func (v10SurveyAnswer) TableName() string { return "survey_answers" }
