package app

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// shopperRoutes are the pages behind the links in messages: /t tracking,
// /f feedback, /p preferences, /u unsubscribe (GET page + one-click POST).
func (a *App) shopperRoutes(r *gin.Engine) {
	_ = r
}

// handleTwilioInbound takes inbound SMS (STOP/START) from Twilio.
func (a *App) handleTwilioInbound() gin.HandlerFunc {
	return func(c *gin.Context) { c.Status(http.StatusNotImplemented) }
}
