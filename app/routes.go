package app

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// routes lists the whole HTTP surface.
func (a *App) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), a.requestLog())

	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/readyz", a.handleReady())

	r.GET("/auth/shopify", a.handleInstall())
	r.GET("/auth/shopify/callback", a.handleCallback())
	r.POST("/webhooks/shopify", a.handleShopifyWebhook())

	a.apiRoutes(r)
	a.opsRoutes(r)

	r.GET("/admin", a.handleAdmin())
	r.GET("/admin/session-token-bounce", a.handleBounce())
	if a.opts.Demo {
		r.GET("/demo/login", a.handleDemoLogin())
	}
	r.GET("/", func(c *gin.Context) {
		if a.opts.Demo {
			c.Redirect(http.StatusFound, "/demo/login")
			return
		}
		c.String(http.StatusOK, "Doorstep: install it from the Shopify App Store or open it from your Shopify admin.\n")
	})
	return r
}

func (a *App) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		lvl := a.log.Debug
		if c.Writer.Status() >= 500 {
			lvl = a.log.Warn
		}
		lvl("http", "method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(),
			"ms", time.Since(start).Milliseconds())
	}
}

// handleReady answers 200 when the database and Redis both answer within 1 s.
func (a *App) handleReady() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
		defer cancel()
		if err := a.store.Ping(ctx); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"database": err.Error()})
			return
		}
		if err := a.queue.Ping(); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"redis": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"database": "ok", "redis": "ok"})
	}
}

// apiError answers with the one error shape.
func apiError(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": code, "message": msg}})
}
