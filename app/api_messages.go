package app

import "github.com/gin-gonic/gin"

// messagesAPI: settings, templates (with preview) and order holds.
func (a *App) messagesAPI(api *gin.RouterGroup) {
	_ = api
}
