package app

import "github.com/gin-gonic/gin"

// deliveriesAPI: GET /api/admin/deliveries, POST /api/admin/deliveries/:id/replay.
func (a *App) deliveriesAPI(api *gin.RouterGroup) {}
