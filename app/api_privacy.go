package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/models"
)

// privacyAPI: GET /api/admin/privacy and the data export download.
//
//	GET /api/admin/privacy                 the shop's audit log, newest first: data requests,
//	                                       redactions, uninstalls, retention runs
//	GET /api/admin/privacy/exports         the shop's customer data exports (without content)
//	GET /api/admin/privacy/exports/:id     one export as a JSON download
func (a *App) privacyAPI(api *gin.RouterGroup) {
	api.GET("/privacy", a.listPrivacy())
	api.GET("/privacy/exports", a.listExports())
	api.GET("/privacy/exports/:id", a.downloadExport())
}

// privacyItem is one audit row as the admin sees it. Ids are strings:
// JavaScript numbers lose precision above 2^53.
type privacyItem struct {
	ID          string          `json:"id"`
	Action      string          `json:"action"`
	Subject     string          `json:"subject"`
	Rows        int64           `json:"rows"`
	Detail      json.RawMessage `json:"detail"`
	CreatedAt   time.Time       `json:"created_at"`
	ExportID    string          `json:"export_id,omitempty"`
	DownloadURL string          `json:"download_url,omitempty"`
}

func exportURL(id string) string { return "/api/admin/privacy/exports/" + id }

func (a *App) listPrivacy() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := readPage(c)
		if !ok {
			return
		}
		shop := shopOf(c)
		rows, err := a.store.ListAudit(c.Request.Context(), shop.ID, p.After, p.Limit)
		if err != nil {
			a.storeError(c, err)
			return
		}
		items := make([]privacyItem, 0, len(rows))
		var last uint64
		for _, r := range rows {
			it := privacyItem{ID: strconv.FormatUint(r.ID, 10), Action: r.Action, Subject: r.Subject, Rows: r.Rows,
				Detail: json.RawMessage("{}"), CreatedAt: r.CreatedAt.UTC()}
			var detail map[string]any
			if r.Detail != "" && json.Unmarshal([]byte(r.Detail), &detail) == nil {
				it.Detail = json.RawMessage(r.Detail)
				if id, ok := detail["export_id"].(string); ok && r.Action == models.AuditDataRequest {
					it.ExportID, it.DownloadURL = id, exportURL(id)
				}
			}
			items = append(items, it)
			last = r.ID
		}
		list(c, items, nextCursor(len(rows), p.Limit, last))
	}
}

// exportItem describes one stored export.
type exportItem struct {
	ID          string     `json:"id"`
	RequestID   string     `json:"request_id"`
	CustomerID  string     `json:"customer_id"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at"`
	DownloadURL string     `json:"download_url"`
}

func (a *App) listExports() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := readPage(c)
		if !ok {
			return
		}
		shop := shopOf(c)
		rows, err := a.store.ListDataExports(c.Request.Context(), shop.ID, p.After, p.Limit)
		if err != nil {
			a.storeError(c, err)
			return
		}
		items := make([]exportItem, 0, len(rows))
		var last uint64
		for _, r := range rows {
			id := strconv.FormatUint(r.ID, 10)
			items = append(items, exportItem{ID: id, RequestID: r.RequestKey,
				CustomerID: strconv.FormatInt(r.CustomerPlatformID, 10), Status: r.Status, CreatedAt: r.CreatedAt.UTC(),
				CompletedAt: r.CompletedAt, DownloadURL: exportURL(id)})
			last = r.ID
		}
		list(c, items, nextCursor(len(rows), p.Limit, last))
	}
}

// downloadExport serves one export of the authenticated shop as an
// attachment; another shop's export, or an id that isn't one, is 404.
func (a *App) downloadExport() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := strconv.ParseUint(c.Param("id"), 10, 64)
		if err != nil || id == 0 {
			apiError(c, http.StatusNotFound, "not_found", "not found")
			return
		}
		shop := shopOf(c)
		exp, err := a.store.DataExport(c.Request.Context(), shop.ID, id)
		if err != nil {
			a.storeError(c, err)
			return
		}
		if exp.Status != models.ExportReady {
			apiError(c, http.StatusConflict, "not_ready", "the export is not ready yet")
			return
		}
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="customer-%d-data-export-%d.json"`, exp.CustomerPlatformID, exp.ID))
		// Personal data: no caches on the way.
		c.Header("Cache-Control", "no-store")
		c.Data(http.StatusOK, "application/json; charset=utf-8", exp.Export)
	}
}
