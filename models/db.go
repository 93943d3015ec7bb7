package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/doorstep/doorstep/config"
)

// Store errors that callers map to statuses.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Open connects to PostgreSQL when cfg.DatabaseURL is set, else to the SQLite
// file cfg.SQLitePath (WAL and a busy timeout, so the web and worker halves
// of one process don't trip over each other's writes).
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*gorm.DB, error) {
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		SkipDefaultTransaction: true,
	}
	var (
		db  *gorm.DB
		err error
	)
	if cfg.DatabaseURL != "" {
		db, err = gorm.Open(postgres.Open(cfg.DatabaseURL), gcfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB.SetMaxOpenConns(25)
		// As many idle as open: closing and reopening connections under load
		// costs a new PostgreSQL backend each time (seen in the ingest bench).
		sqlDB.SetMaxIdleConns(25)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	} else {
		dsn := cfg.SQLitePath + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err = gorm.Open(sqlite.Open(dsn), gcfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", cfg.SQLitePath, err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// One writer at a time is what SQLite does anyway; a single
		// connection turns lock contention into queueing instead of
		// SQLITE_BUSY errors.
		sqlDB.SetMaxOpenConns(1)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sqlDB, _ := db.DB()
	if err := sqlDB.PingContext(pctx); err != nil {
		return nil, fmt.Errorf("ping database: %w", err)
	}
	if log != nil {
		log.Debug("database open", "dialect", db.Dialector.Name())
	}
	return db, nil
}

// IsPostgres reports whether db talks to PostgreSQL (row locks, SKIP LOCKED).
func IsPostgres(db *gorm.DB) bool { return db.Dialector.Name() == "postgres" }

// Close closes the pool behind db.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 23505") || strings.Contains(s, "UNIQUE constraint failed")
}
