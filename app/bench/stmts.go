package bench

import (
	"sync/atomic"

	"gorm.io/gorm"
)

// stmtCounter counts the SQL statements a gorm DB runs, so the drain phase
// can say how many round trips one delivery costs.
type stmtCounter struct{ n atomic.Int64 }

func countStatements(db *gorm.DB) *stmtCounter {
	c := &stmtCounter{}
	inc := func(*gorm.DB) { c.n.Add(1) }
	cb := db.Callback()
	_ = cb.Create().After("gorm:create").Register("bench:count", inc)
	_ = cb.Query().After("gorm:query").Register("bench:count", inc)
	_ = cb.Update().After("gorm:update").Register("bench:count", inc)
	_ = cb.Delete().After("gorm:delete").Register("bench:count", inc)
	_ = cb.Row().After("gorm:row").Register("bench:count", inc)
	_ = cb.Raw().After("gorm:raw").Register("bench:count", inc)
	return c
}
