package app

import "github.com/gin-gonic/gin"

// opsRoutes: operator endpoints beyond /healthz and /readyz (metrics).
func (a *App) opsRoutes(r *gin.Engine) {}
