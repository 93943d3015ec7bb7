// Package modelstest gives each test its own PostgreSQL database, cloned
// from a template migrated once per test binary (CREATE DATABASE …
// TEMPLATE is far faster than migrating per test). Storage is never mocked.
//
// A package that uses it calls Main from TestMain, so the template and any
// leftovers are dropped when the package's tests end.
package modelstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/models"
)

// DefaultURL is the machine's local PostgreSQL (trust auth), used when
// DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// env is the per-binary state: the template's name and a lock that keeps
// clones from the template one at a time (PostgreSQL refuses to copy a
// database another CREATE is reading).
type env struct {
	base     string // admin connection URL
	template string
	mu       sync.Mutex
	adminDB  *gorm.DB
	created  []string
}

var (
	envOnce sync.Once
	theEnv  *env
	envErr  error
	inMain  bool
)

// Main runs the package's tests and drops the template afterwards.
func Main(m *testing.M) int {
	inMain = true
	code := m.Run()
	if theEnv != nil {
		theEnv.close()
	}
	return code
}

// BaseURL is the PostgreSQL URL tests connect through.
func BaseURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

func withDB(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + name
	return u.String()
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func open(dsn string) (*gorm.DB, error) {
	return models.Open(context.Background(), config.Config{DatabaseURL: dsn}, nil)
}

func setup() (*env, error) {
	e := &env{base: BaseURL(), template: randName(fmt.Sprintf("doorstep_tmpl_%d_", os.Getpid()))}
	admin, err := open(e.base)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s (run scripts/test.sh, which starts one): %w", e.base, err)
	}
	e.adminDB = admin
	if err := admin.Exec("CREATE DATABASE " + e.template).Error; err != nil {
		return nil, fmt.Errorf("create template: %w", err)
	}
	tdb, err := open(withDB(e.base, e.template))
	if err != nil {
		return nil, err
	}
	if err := models.Migrate(context.Background(), tdb); err != nil {
		_ = models.Close(tdb)
		return nil, fmt.Errorf("migrate template: %w", err)
	}
	if err := models.Close(tdb); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, name := range append(e.created, e.template) {
		if err := e.adminDB.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error; err != nil {
			log.Printf("modelstest: drop %s: %v", name, err)
		}
	}
	_ = models.Close(e.adminDB)
}

// URL creates a fresh migrated database for the test and returns its URL;
// it is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	if !inMain {
		t.Fatal("modelstest: call modelstest.Main(m) from TestMain so test databases are cleaned up")
	}
	envOnce.Do(func() { theEnv, envErr = setup() })
	if envErr != nil {
		t.Fatalf("modelstest: %v", envErr)
	}
	e := theEnv
	name := randName("doorstep_test_")
	e.mu.Lock()
	err := e.adminDB.Exec("CREATE DATABASE " + name + " TEMPLATE " + e.template).Error
	if err == nil {
		e.created = append(e.created, name)
	}
	e.mu.Unlock()
	if err != nil {
		t.Fatalf("modelstest: create database: %v", err)
	}
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if err := e.adminDB.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error; err != nil {
			t.Logf("modelstest: drop %s: %v", name, err)
			return
		}
		for i, n := range e.created {
			if n == name {
				e.created = append(e.created[:i], e.created[i+1:]...)
				break
			}
		}
	})
	return withDB(e.base, name)
}

// DB opens a fresh migrated database for the test.
func DB(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := open(URL(t))
	if err != nil {
		t.Fatalf("modelstest: open: %v", err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	return db
}

// Key is a fixed 32-byte test encryption key.
var Key = []byte(strings.Repeat("k", 32))

// Store returns a Store on a fresh database.
func Store(t testing.TB) *models.Store {
	t.Helper()
	c, err := models.NewCipher(Key)
	if err != nil {
		t.Fatal(err)
	}
	return models.NewStore(DB(t), c)
}

// ClaimedMessages queues n email messages of flow for shopID, one per order
// from firstOrder on, and claims them (queued → sending) as a send task does
// before it calls the provider.
func ClaimedMessages(t testing.TB, st *models.Store, shopID uint64, flow string, firstOrder int64, n int, now time.Time) []models.Message {
	t.Helper()
	ms := make([]models.Message, n)
	err := st.InTxAt(context.Background(), now, func(tx *models.Tx) error {
		for i := range ms {
			ms[i] = models.Message{ShopID: shopID, OrderPlatformID: firstOrder + int64(i), Flow: flow, Channel: "email",
				Recipient: "shopper@example.com", DueAt: now}
			if _, err := tx.QueueMessage(&ms[i]); err != nil {
				return err
			}
			if err := tx.SetMessage(&ms[i], models.MessageSending, "", time.Time{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}
