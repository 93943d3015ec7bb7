package app

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
)

// Keys under which handlers leave what the request log line should carry.
const (
	logRequestID = "log.request_id"
	logShop      = "log.shop"
	logDelivery  = "log.delivery"
)

// requestLog gives every request an id (a well-formed X-Request-Id from a
// proxy in front is kept, else a new one), echoes it in X-Request-Id, and
// logs one line when the request ends: debug, or warn for a 5xx. It runs
// outside gin.Recovery so a panic's 500 is logged too.
func (a *App) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Set(logRequestID, id)
		c.Header("X-Request-Id", id)
		c.Next()
		status := c.Writer.Status()
		lvl := slog.LevelDebug
		if status >= 500 {
			lvl = slog.LevelWarn
		}
		if !a.log.Enabled(c.Request.Context(), lvl) {
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", id), slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path), slog.Int("status", status),
			slog.Int64("ms", time.Since(start).Milliseconds()),
		}
		if shop := c.GetString(logShop); shop != "" {
			attrs = append(attrs, slog.String("shop", shop))
		}
		if d, ok := c.Get(logDelivery); ok {
			attrs = append(attrs, slog.Any("delivery", d))
		}
		a.log.LogAttrs(c.Request.Context(), lvl, "http", attrs...)
	}
}

// reqLog is the app logger with the request's id.
func (a *App) reqLog(c *gin.Context) *slog.Logger {
	return a.log.With("request_id", c.GetString(logRequestID))
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts ids a proxy might set (UUIDs, hex, base64url),
// and nothing that could forge log structure.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_', ch == '.', ch == ':':
		default:
			return false
		}
	}
	return true
}

// asynqLogger sends asynq's own logs to slog.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Fatal(args ...any) {
	l.log.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
