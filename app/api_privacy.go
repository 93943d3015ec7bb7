package app

import "github.com/gin-gonic/gin"

// privacyAPI: GET /api/admin/privacy and the data export download.
func (a *App) privacyAPI(api *gin.RouterGroup) {}
