package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Store is the data layer: every read and write Doorstep makes, scoped by
// shop, with the transactions that keep data correct.
type Store struct {
	db     *gorm.DB
	cipher *Cipher
	pg     bool

	// refreshMu stands in for the row lock on SQLite, which has no
	// SELECT … FOR UPDATE; SQLite installs are single-process.
	refreshMu sync.Mutex
}

// NewStore wraps an open, migrated database.
func NewStore(db *gorm.DB, cipher *Cipher) *Store {
	return &Store{db: db, cipher: cipher, pg: IsPostgres(db)}
}

// DB exposes the pool for health checks and tests.
func (s *Store) DB() *gorm.DB { return s.db }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Tx is a write transaction for applying one delivery's events.
type Tx struct {
	db  *gorm.DB
	pg  bool
	now time.Time
	// batch is set between BeginBatch and FlushBatch.
	batch *batchState
	// msgBatch is set between BeginMessageBatch and FlushMessageBatch.
	msgBatch *messageBatch
}

// InTx runs fn in one transaction; an error from fn rolls everything back.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
		return fn(&Tx{db: gtx, pg: s.pg, now: time.Now().UTC()})
	})
}

// InTxAt is InTx with the transaction's clock set to now: the timestamps
// it writes (a message's sending and sent times, its decisions) follow a
// caller's clock, which tests fake to run a week-long flow in seconds.
func (s *Store) InTxAt(ctx context.Context, now time.Time, fn func(tx *Tx) error) error {
	return s.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
		return fn(&Tx{db: gtx, pg: s.pg, now: now.UTC()})
	})
}

// forUpdate locks the selected row on PostgreSQL; SQLite transactions are
// already exclusive (we open them IMMEDIATE).
func forUpdate(db *gorm.DB, pg bool) *gorm.DB {
	if pg {
		return db.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return db
}

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}

// ---- shops ----

func tokenAAD(s Shop, which string) []byte {
	return []byte(s.Platform + ":" + s.Domain + ":" + which)
}

// ShopByDomain returns the shop, or ErrNotFound.
func (s *Store) ShopByDomain(ctx context.Context, platform, domain string) (Shop, error) {
	var shop Shop
	err := s.db.WithContext(ctx).Where("platform = ? AND domain = ?", platform, domain).Take(&shop).Error
	if err != nil {
		return Shop{}, fmt.Errorf("shop %s: %w", domain, notFound(err))
	}
	return shop, nil
}

// ShopByID returns the shop, or ErrNotFound.
func (s *Store) ShopByID(ctx context.Context, id uint64) (Shop, error) {
	var shop Shop
	if err := s.db.WithContext(ctx).Take(&shop, id).Error; err != nil {
		return Shop{}, fmt.Errorf("shop %d: %w", id, notFound(err))
	}
	return shop, nil
}

// SaveInstall records a (re)install: the shop's details and its new tokens.
// A previously uninstalled shop becomes installed again with the same id,
// so its history stays attached.
func (s *Store) SaveInstall(ctx context.Context, info Shop, tok Token) (Shop, error) {
	var out Shop
	err := s.InTx(ctx, func(tx *Tx) error {
		var shop Shop
		err := forUpdate(tx.db, tx.pg).Where("platform = ? AND domain = ?", info.Platform, info.Domain).Take(&shop).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			shop = Shop{Platform: info.Platform, Domain: info.Domain}
		case err != nil:
			return fmt.Errorf("load shop: %w", err)
		}
		if info.Name != "" {
			shop.Name = info.Name
		}
		if info.Email != "" {
			shop.Email = info.Email
		}
		if info.Timezone != "" {
			shop.Timezone = info.Timezone
		}
		if info.Currency != "" {
			shop.Currency = info.Currency
		}
		if err := s.sealToken(&shop, tok); err != nil {
			return err
		}
		now := tx.now
		shop.InstalledAt = &now
		shop.UninstalledAt = nil
		shop.NeedsReauth = false
		if err := tx.db.Save(&shop).Error; err != nil {
			return fmt.Errorf("save shop: %w", err)
		}
		out = shop
		return nil
	})
	return out, err
}

// UpdateShopInfo stores what the platform says about the shop (name,
// timezone, currency) without touching tokens.
func (s *Store) UpdateShopInfo(ctx context.Context, shopID uint64, info Shop) error {
	err := s.db.WithContext(ctx).Model(&Shop{}).Where("id = ?", shopID).Updates(map[string]any{
		"name": info.Name, "email": info.Email, "timezone": info.Timezone, "currency": info.Currency,
	}).Error
	if err != nil {
		return fmt.Errorf("update shop %d: %w", shopID, err)
	}
	return nil
}

func (s *Store) sealToken(shop *Shop, tok Token) error {
	var err error
	if shop.AccessTokenEnc, err = s.cipher.Seal(tok.AccessToken, tokenAAD(*shop, "access")); err != nil {
		return fmt.Errorf("seal access token: %w", err)
	}
	if shop.RefreshTokenEnc, err = s.cipher.Seal(tok.RefreshToken, tokenAAD(*shop, "refresh")); err != nil {
		return fmt.Errorf("seal refresh token: %w", err)
	}
	shop.AccessTokenExpiresAt = timePtr(tok.AccessTokenExpiresAt)
	shop.RefreshTokenExpiresAt = timePtr(tok.RefreshTokenExpiresAt)
	if tok.Scopes != "" {
		shop.Scopes = tok.Scopes
	}
	return nil
}

func (s *Store) openToken(shop Shop) (Token, error) {
	access, err := s.cipher.Open(shop.AccessTokenEnc, tokenAAD(shop, "access"))
	if err != nil {
		return Token{}, fmt.Errorf("open access token of shop %d: %w", shop.ID, err)
	}
	refresh, err := s.cipher.Open(shop.RefreshTokenEnc, tokenAAD(shop, "refresh"))
	if err != nil {
		return Token{}, fmt.Errorf("open refresh token of shop %d: %w", shop.ID, err)
	}
	t := Token{AccessToken: access, RefreshToken: refresh, Scopes: shop.Scopes}
	if shop.AccessTokenExpiresAt != nil {
		t.AccessTokenExpiresAt = *shop.AccessTokenExpiresAt
	}
	if shop.RefreshTokenExpiresAt != nil {
		t.RefreshTokenExpiresAt = *shop.RefreshTokenExpiresAt
	}
	return t, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// ErrNoToken means the shop has no usable offline token (never installed,
// uninstalled, or needs re-authorization).
var ErrNoToken = errors.New("shop has no access token")

// RefreshFunc trades a token for a fresh one at the platform.
type RefreshFunc func(ctx context.Context, shop Shop, old Token) (Token, error)

// FreshToken returns the shop's access token, refreshing it first when it
// expires within `within`. The refresh runs under a row lock: refresh
// tokens rotate on every use, so two workers must never refresh at once;
// the second one waits and then finds the fresh token. Returns ErrNoToken
// when the shop has none.
func (s *Store) FreshToken(ctx context.Context, shopID uint64, within time.Duration, refresh RefreshFunc) (Token, error) {
	return s.refreshLocked(ctx, shopID, func(tok Token, now time.Time) bool {
		return tok.AccessTokenExpiresAt.IsZero() || tok.AccessTokenExpiresAt.After(now.Add(within))
	}, refresh)
}

// RefreshRejected handles a token the platform refused (401): under the
// same row lock as FreshToken, if the stored access token is still the
// rejected one it is refreshed now, whatever its expiry; if another worker
// already replaced it, the stored one is returned. Returns ErrNoToken when
// there is nothing to refresh with.
func (s *Store) RefreshRejected(ctx context.Context, shopID uint64, rejected string, refresh RefreshFunc) (Token, error) {
	return s.refreshLocked(ctx, shopID, func(tok Token, _ time.Time) bool {
		return tok.AccessToken != rejected
	}, refresh)
}

// refreshLocked reads the shop's token under a row lock (a process mutex
// on SQLite) and keeps it when keep says so; otherwise it refreshes it and
// stores both new values before the lock is released. Returns ErrNoToken
// when the shop has no usable token or nothing to refresh with.
func (s *Store) refreshLocked(ctx context.Context, shopID uint64, keep func(tok Token, now time.Time) bool, refresh RefreshFunc) (Token, error) {
	if !s.pg {
		s.refreshMu.Lock()
		defer s.refreshMu.Unlock()
	}
	var out Token
	err := s.InTx(ctx, func(tx *Tx) error {
		var shop Shop
		if err := forUpdate(tx.db, tx.pg).Take(&shop, shopID).Error; err != nil {
			return fmt.Errorf("lock shop %d: %w", shopID, notFound(err))
		}
		tok, err := s.openToken(shop)
		if err != nil {
			return err
		}
		if tok.AccessToken == "" || !shop.Installed() || shop.NeedsReauth {
			return ErrNoToken
		}
		if keep(tok, tx.now) {
			out = tok
			return nil
		}
		if tok.RefreshToken == "" {
			return ErrNoToken
		}
		fresh, err := refresh(ctx, shop, tok)
		if err != nil {
			return fmt.Errorf("refresh token of %s: %w", shop.Domain, err)
		}
		if err := s.sealToken(&shop, fresh); err != nil {
			return err
		}
		if err := tx.db.Select("access_token_enc", "access_token_expires_at", "refresh_token_enc",
			"refresh_token_expires_at", "scopes", "updated_at").Save(&shop).Error; err != nil {
			return fmt.Errorf("store refreshed token: %w", err)
		}
		out = fresh
		return nil
	})
	return out, err
}

// MarkNeedsReauth records that the platform refused the shop's token.
func (s *Store) MarkNeedsReauth(ctx context.Context, shopID uint64) error {
	return s.db.WithContext(ctx).Model(&Shop{}).Where("id = ?", shopID).Update("needs_reauth", true).Error
}

// MarkUninstalled marks the shop uninstalled and drops its tokens (they are
// already revoked). Returns true when this call changed the state.
func (tx *Tx) MarkUninstalled(shopID uint64) (bool, error) {
	res := tx.db.Model(&Shop{}).Where("id = ? AND uninstalled_at IS NULL", shopID).Updates(map[string]any{
		"uninstalled_at":           tx.now,
		"access_token_enc":         nil,
		"refresh_token_enc":        nil,
		"access_token_expires_at":  nil,
		"refresh_token_expires_at": nil,
	})
	if res.Error != nil {
		return false, fmt.Errorf("mark shop %d uninstalled: %w", shopID, res.Error)
	}
	return res.RowsAffected > 0, nil
}

// ListShops returns installed shops (for periodic jobs).
func (s *Store) ListShops(ctx context.Context) ([]Shop, error) {
	var shops []Shop
	err := s.db.WithContext(ctx).Where("uninstalled_at IS NULL AND installed_at IS NOT NULL").Order("id").Find(&shops).Error
	return shops, err
}
