package app

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// routes lists the whole HTTP surface.
func (a *App) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(a.requestLog(), gin.Recovery())
	a.opsRoutes(r)

	r.GET("/auth/shopify", a.handleInstall())
	r.GET("/auth/shopify/callback", a.handleCallback())
	r.POST("/webhooks/shopify", a.handleShopifyWebhook())
	a.helpdeskWebhookRoutes(r)
	r.POST("/webhooks/twilio", a.handleTwilioInbound())
	a.shopperRoutes(r)
	a.storefrontRoutes(r)
	a.referralRoutes(r)
	a.sidebarRoutes(r)
	a.extensionRoutes(r)

	a.apiRoutes(r)
	a.loyaltyAPI(r.Group("/api/admin", a.extensionCORS(), a.sessionAuth()))

	a.adminRoutes(r)
	if a.opts.Demo {
		r.GET("/demo/login", a.handleDemoLogin())
		r.GET("/demo/session-token", a.handleDemoSessionToken())
		r.GET("/demo/outbox/:id", a.handleDemoOutbox())
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

// apiError answers with the one error shape.
func apiError(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": code, "message": msg}})
}
