package app

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// readyTimeout bounds /readyz: a load balancer's probe must get an answer,
// and a store that takes longer than this is not ready.
const readyTimeout = time.Second

// opsRoutes: the operator endpoints. /metrics is open, as DESIGN.md
// allows: keep it off the public listener's path at the proxy, or scrape
// through the private network.
func (a *App) opsRoutes(r *gin.Engine) {
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/readyz", a.handleReady())
	metrics := a.metrics.handler()
	r.GET("/metrics", func(c *gin.Context) { metrics.ServeHTTP(c.Writer, c.Request) })
}

// opsRouter serves only the operator endpoints: what a worker-only process
// listens with, so it can be probed and scraped.
func (a *App) opsRouter() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(a.requestLog(), gin.Recovery())
	a.opsRoutes(r)
	return r
}

// handleReady answers 200 when the database and Redis both answer within
// readyTimeout (checked side by side), 503 naming what failed otherwise —
// and 503 from the moment a shutdown starts, so a load balancer stops
// sending traffic before the listener closes.
func (a *App) handleReady() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.draining.Load() {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "shutting down"})
			return
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
		defer cancel()
		dbErr := make(chan error, 1)
		redisErr := make(chan error, 1)
		go func() { dbErr <- a.store.Ping(ctx) }()
		// asynq's Ping takes no context; the short Redis timeouts bound it,
		// and the select below bounds the answer.
		go func() { redisErr <- a.queue.Ping() }()
		status, body := http.StatusOK, gin.H{}
		for _, check := range []struct {
			name string
			errc chan error
		}{{"database", dbErr}, {"redis", redisErr}} {
			var err error
			select {
			case err = <-check.errc:
			case <-ctx.Done():
				err = ctx.Err()
			}
			if err != nil {
				status, body[check.name] = http.StatusServiceUnavailable, err.Error()
			} else {
				body[check.name] = "ok"
			}
		}
		c.JSON(status, body)
	}
}
