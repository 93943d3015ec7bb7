package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
)

// baselineTable is the baseline's own table in the bench database.
const baselineTable = "bench_baseline_webhooks"

// baseline is the minimal durable webhook receiver the issue compares
// Doorstep with: a gin handler that reads the body, verifies the HMAC and
// INSERTs one row (duplicates ignored by a unique key, as Doorstep's are),
// on a pgx pool as large as Doorstep's (25).
type baseline struct {
	pool *pgxpool.Pool
	srv  *http.Server
	ln   net.Listener
	URL  string
}

func startBaseline(ctx context.Context, dbURL, secret string) (*baseline, error) {
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	pcfg.MaxConns = 25
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("baseline pool: %w", err)
	}
	_, err = pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+baselineTable+` (
		id bigserial PRIMARY KEY,
		shop_domain text NOT NULL,
		topic text NOT NULL,
		event_id text NOT NULL,
		body bytea NOT NULL,
		received_at timestamptz NOT NULL,
		UNIQUE (shop_domain, topic, event_id))`)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("baseline table: %w", err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	key := []byte(secret)
	r.POST("/webhooks/shopify", func(c *gin.Context) {
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 8<<20))
		if err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		got, err := base64.StdEncoding.DecodeString(c.GetHeader("X-Shopify-Hmac-Sha256"))
		m := hmac.New(sha256.New, key)
		m.Write(body)
		if err != nil || !hmac.Equal(got, m.Sum(nil)) {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		_, err = pool.Exec(c.Request.Context(), `INSERT INTO `+baselineTable+` (shop_domain, topic, event_id, body, received_at)
			VALUES ($1, $2, $3, $4, now()) ON CONFLICT DO NOTHING`,
			c.GetHeader("X-Shopify-Shop-Domain"), c.GetHeader("X-Shopify-Topic"), c.GetHeader("X-Shopify-Event-Id"), body)
		if err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		c.Status(http.StatusOK)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("baseline listen: %w", err)
	}
	b := &baseline{pool: pool, ln: ln, URL: "http://" + ln.Addr().String() + "/webhooks/shopify",
		srv: &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the load generator sees the failures
		}
	}()
	return b, nil
}

func (b *baseline) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
	b.pool.Close()
}
