package app

import "github.com/gin-gonic/gin"

// ordersAPI: GET /api/admin/orders, GET /api/admin/orders/:id.
func (a *App) ordersAPI(api *gin.RouterGroup) {}
