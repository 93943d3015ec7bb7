package models

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// anyOf returns a condition matching col against ids and its argument: on
// PostgreSQL "col = ANY(?)" with all ids as one bigint[] parameter, elsewhere
// "col IN ?". gorm spells "col IN ?" with one placeholder per id, so a batch
// of 50 and a batch of 37 are different statements, each prepared and
// planned anew (planning was a fifth of PostgreSQL's time on the send path);
// one array parameter keeps the statement's text, and its cached generic
// plan, the same for every batch.
func anyOf[T ~int64 | ~uint64](pg bool, col string, ids []T) (string, any) {
	if !pg {
		return col + " IN ?", ids
	}
	a := make(int64Array, len(ids))
	for i, id := range ids {
		a[i] = int64(id)
	}
	return col + " = ANY(?)", a
}

// anyText is anyOf for text columns.
func anyText(pg bool, col string, vals []string) (string, any) {
	if !pg {
		return col + " IN ?", vals
	}
	return col + " = ANY(?)", textArray(vals)
}

// int64Array is a bigint[] parameter. Implementing driver.Valuer keeps gorm
// from spelling it out as a list; pgx encodes the []int64 it returns as an
// array.
type int64Array []int64

func (a int64Array) Value() (driver.Value, error) { return []int64(a), nil }

// String is for logs and errors.
func (a int64Array) String() string { return fmt.Sprint([]int64(a)) }

// textArray is a text[] parameter, as int64Array is a bigint[] one.
type textArray []string

func (a textArray) Value() (driver.Value, error) { return []string(a), nil }

// String is for logs and errors.
func (a textArray) String() string { return fmt.Sprint([]string(a)) }

// timeArray is a timestamptz[] parameter; a nil element is NULL.
type timeArray []*time.Time

func (a timeArray) Value() (driver.Value, error) { return []*time.Time(a), nil }

// String is for logs and errors.
func (a timeArray) String() string { return fmt.Sprint([]*time.Time(a)) }

// utcPtr is t in UTC, or nil: timestamptz arrays are written in UTC, as
// gorm writes single values.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
