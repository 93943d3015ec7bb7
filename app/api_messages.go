package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/jobs/msgtmpl"
)

// maxMessagesBody bounds admin request bodies here: the largest is a flow's
// templates in a few locales.
const maxMessagesBody = 1 << 20

// holdManual is the reason of a hold the merchant set by hand (others, such
// as an open support ticket, come and go by themselves).
const holdManual = "manual"

// maxHoldNote is what the hold's note column keeps.
const maxHoldNote = 1024

// localeKey is how a saved template's locale must look: "en", "fr-CA".
var localeKey = regexp.MustCompile(`^[a-z]{2,3}(-[A-Z]{2})?$`)

// messagesAPI: settings, templates (with preview) and order holds.
func (a *App) messagesAPI(api *gin.RouterGroup) {
	api.GET("/settings", a.handleGetSettings())
	api.PUT("/settings", a.handlePutSettings())
	api.GET("/templates/:flow", a.handleGetTemplates())
	api.PUT("/templates/:flow", a.handlePutTemplates())
	api.POST("/templates/:flow/preview", a.handlePreviewTemplate())
	api.POST("/orders/:id/hold", a.handleSetHold())
	api.DELETE("/orders/:id/hold", a.handleClearHold())
}

// readBody reads a capped request body; on failure it has answered.
func readBody(c *gin.Context) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxMessagesBody))
	if err != nil {
		apiError(c, http.StatusRequestEntityTooLarge, "too_large", "request body is too large")
		return nil, false
	}
	return b, true
}

// bindBody decodes a capped JSON body into v; on failure it has answered.
func bindBody(c *gin.Context, v any) bool {
	b, ok := readBody(c)
	if !ok {
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		apiError(c, http.StatusBadRequest, "bad_request", "body is not the JSON this endpoint takes: "+err.Error())
		return false
	}
	return true
}

// ---- settings ----

func (a *App) handleGetSettings() gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := jobs.LoadSettings(c.Request.Context(), a.store, shopOf(c).ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, s)
	}
}

// handlePutSettings overlays the body on the current settings, so the
// admin can send one section; fields left out keep their values.
func (a *App) handlePutSettings() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		body, ok := readBody(c)
		if !ok {
			return
		}
		cur, err := jobs.LoadSettings(ctx, a.store, shop.ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		next, err := jobs.ParseSettings(cur, body)
		if err != nil {
			apiError(c, http.StatusUnprocessableEntity, "invalid_settings", settingsProblem(body, err))
			return
		}
		if err := jobs.SaveSettings(ctx, a.store, shop.ID, next); err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, next)
	}
}

// settingsProblem says "<field>: <reason>" for a rejected settings body.
// Validate names the field itself; a JSON error (a duration that does not
// parse, a string for a bool, an unknown field) often does not, so the
// field is found by decoding the body one field at a time.
func settingsProblem(body []byte, err error) string {
	var se *jobs.SettingsError
	if errors.As(err, &se) {
		return se.Field + ": " + se.Reason
	}
	var raw json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return "body: not valid JSON"
	}
	if field, reason := jsonFieldError(raw, reflect.TypeFor[jobs.Settings](), ""); field != "" {
		return field + ": " + reason
	}
	msg := strings.TrimPrefix(err.Error(), jobs.ErrBadSettings.Error()+": ")
	return "body: " + strings.TrimPrefix(msg, "json: ")
}

// jsonFieldError walks a JSON object alongside the struct type t (by json
// tags, case-insensitively as encoding/json matches them) and returns the
// dotted path of the first field that does not decode, and why.
func jsonFieldError(raw json.RawMessage, t reflect.Type, prefix string) (string, string) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return strings.TrimSuffix(prefix, "."), "must be an object"
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := jsonField(t, k)
		if !ok {
			return prefix + k, "unknown field"
		}
		path := prefix + jsonName(f)
		_, custom := reflect.New(f.Type).Interface().(json.Unmarshaler)
		if f.Type.Kind() == reflect.Struct && !custom {
			if field, reason := jsonFieldError(obj[k], f.Type, path+"."); field != "" {
				return field, reason
			}
			continue
		}
		if err := json.Unmarshal(obj[k], reflect.New(f.Type).Interface()); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return path, "must be a JSON " + jsonKind(f.Type) + ", not " + te.Value
			}
			return path, err.Error()
		}
	}
	return "", ""
}

func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && strings.EqualFold(jsonName(f), key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "array"
	}
	return "value"
}

// ---- templates ----

// templateLocale is one locale of a flow: the built-in copy, and the
// shop's own set if it saved one.
type templateLocale struct {
	Default msgtmpl.Set  `json:"default"`
	Custom  *msgtmpl.Set `json:"custom"`
}

type templatesReply struct {
	Flow    string                    `json:"flow"`
	Locales map[string]templateLocale `json:"locales"`
}

type templatesRequest struct {
	Locales map[string]msgtmpl.Set `json:"locales"`
}

type previewRequest struct {
	OrderID  string       `json:"order_id"`
	Locale   string       `json:"locale"`
	Template *msgtmpl.Set `json:"template"`
}

type previewReply struct {
	Subject string `json:"subject"`
	HTML    string `json:"html"`
	Text    string `json:"text"`
	SMS     string `json:"sms"`
}

// flowParam is the path's flow; an unknown one has answered 404.
func flowParam(c *gin.Context) (string, bool) {
	flow := c.Param("flow")
	for _, f := range msgtmpl.Flows() {
		if f == flow {
			return flow, true
		}
	}
	apiError(c, http.StatusNotFound, "not_found", fmt.Sprintf("no message flow %q", flow))
	return "", false
}

// templatesOf builds the GET shape: every built-in locale plus any the
// shop saved.
func (a *App) templatesOf(c *gin.Context, shopID uint64, flow string) (templatesReply, error) {
	saved, err := a.store.Templates(c.Request.Context(), shopID, flow)
	if err != nil {
		return templatesReply{}, err
	}
	r := a.composer.Renderer()
	out := templatesReply{Flow: flow, Locales: map[string]templateLocale{}}
	for _, loc := range msgtmpl.Locales() {
		def, _ := r.Defaults(flow, loc)
		out.Locales[loc] = templateLocale{Default: def}
	}
	for loc, js := range saved {
		var set msgtmpl.Set
		if err := json.Unmarshal([]byte(js), &set); err != nil {
			return templatesReply{}, fmt.Errorf("saved %s template for %s: %w", flow, loc, err)
		}
		def, _ := r.Defaults(flow, loc)
		out.Locales[loc] = templateLocale{Default: def, Custom: &set}
	}
	return out, nil
}

func (a *App) handleGetTemplates() gin.HandlerFunc {
	return func(c *gin.Context) {
		flow, ok := flowParam(c)
		if !ok {
			return
		}
		out, err := a.templatesOf(c, shopOf(c).ID, flow)
		if err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

// handlePutTemplates replaces the flow's saved sets with the body's: a
// locale left out goes back to the built-in copy. Every set is validated
// against sample data first, so one bad field saves nothing.
func (a *App) handlePutTemplates() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		flow, ok := flowParam(c)
		if !ok {
			return
		}
		var in templatesRequest
		if !bindBody(c, &in) {
			return
		}
		if in.Locales == nil {
			// A missing key would otherwise wipe every saved locale.
			apiError(c, http.StatusBadRequest, "bad_request", `body must have "locales" (send {} to go back to the defaults)`)
			return
		}
		locales := make([]string, 0, len(in.Locales))
		for loc := range in.Locales {
			locales = append(locales, loc)
		}
		sort.Strings(locales) // the first problem reported is always the same one
		byLocale := make(map[string]string, len(in.Locales))
		for _, loc := range locales {
			set := in.Locales[loc]
			if !localeKey.MatchString(loc) {
				apiError(c, http.StatusUnprocessableEntity, "invalid_template", fmt.Sprintf("%s: a locale looks like en or fr-CA", loc))
				return
			}
			if set == (msgtmpl.Set{}) {
				continue // nothing custom: the locale stays on the defaults
			}
			if msg, bad := a.templateProblem(flow, set); bad {
				apiError(c, http.StatusUnprocessableEntity, "invalid_template", loc+"."+msg)
				return
			}
			js, err := json.Marshal(set)
			if err != nil {
				a.storeError(c, err)
				return
			}
			byLocale[loc] = string(js)
		}
		if err := a.store.SaveTemplates(c.Request.Context(), shop.ID, flow, byLocale); err != nil {
			a.storeError(c, err)
			return
		}
		out, err := a.templatesOf(c, shop.ID, flow)
		if err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

// templateProblem validates set and says "<field>: <reason>" when it is bad.
func (a *App) templateProblem(flow string, set msgtmpl.Set) (string, bool) {
	err := a.composer.Renderer().Validate(flow, set)
	if err == nil {
		return "", false
	}
	var ve *msgtmpl.ValidationError
	if errors.As(err, &ve) {
		return ve.Field + ": " + ve.Err.Error(), true
	}
	return "template: " + err.Error(), true
}

// handlePreviewTemplate renders the flow for one of the shop's real orders,
// with the body's template (unsaved) in place of the saved one.
func (a *App) handlePreviewTemplate() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		flow, ok := flowParam(c)
		if !ok {
			return
		}
		var in previewRequest
		if !bindBody(c, &in) {
			return
		}
		id, err := strconv.ParseInt(in.OrderID, 10, 64)
		if err != nil || id <= 0 {
			apiError(c, http.StatusBadRequest, "bad_request", "order_id must be an order id such as \"450789469\"")
			return
		}
		if in.Locale != "" && !localeKey.MatchString(in.Locale) {
			apiError(c, http.StatusUnprocessableEntity, "invalid_locale", "locale: a locale looks like en or fr-CA")
			return
		}
		if in.Template != nil {
			if msg, bad := a.templateProblem(flow, *in.Template); bad {
				apiError(c, http.StatusUnprocessableEntity, "invalid_template", msg)
				return
			}
		}
		ctx := c.Request.Context()
		set, err := jobs.LoadSettings(ctx, a.store, shop.ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		r, err := a.composer.Preview(ctx, shop, set, id, flow, in.Locale, in.Template)
		if err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, previewReply{Subject: r.Subject, HTML: r.HTML, Text: r.Text, SMS: r.SMS})
	}
}

// ---- holds ----

type holdRequest struct {
	Note string `json:"note"`
}

type holdReply struct {
	ID        string    `json:"id"`
	OrderID   string    `json:"order_id"`
	Reason    string    `json:"reason"`
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
}

// holdOrder is the path's order, checked to be the shop's; on failure it
// has answered (404 for another shop's order as for a missing one).
func (a *App) holdOrder(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		apiError(c, http.StatusNotFound, "not_found", "not found")
		return 0, false
	}
	if _, err := a.store.Order(c.Request.Context(), shopOf(c).ID, id); err != nil {
		a.storeError(c, err)
		return 0, false
	}
	return id, true
}

// handleSetHold holds the order's review and satisfaction asks until the
// merchant clears it: 201 when new, 200 when it was already held.
func (a *App) handleSetHold() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		id, ok := a.holdOrder(c)
		if !ok {
			return
		}
		var in holdRequest
		body, ok := readBody(c)
		if !ok {
			return
		}
		// An empty body is a hold without a note.
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				apiError(c, http.StatusBadRequest, "bad_request", "body is not the JSON this endpoint takes: "+err.Error())
				return
			}
		}
		if utf8.RuneCountInString(in.Note) > maxHoldNote || len(in.Note) > maxHoldNote {
			apiError(c, http.StatusUnprocessableEntity, "invalid_note", fmt.Sprintf("note: at most %d characters", maxHoldNote))
			return
		}
		h, created, err := a.store.SetHold(c.Request.Context(), shop.ID, id, holdManual, strings.TrimSpace(in.Note))
		if err != nil {
			a.storeError(c, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		c.JSON(status, holdReply{ID: strconv.FormatUint(h.ID, 10), OrderID: platformID(h.OrderPlatformID),
			Reason: h.Reason, Note: h.Note, CreatedAt: h.CreatedAt.UTC()})
	}
}

// handleClearHold clears the manual hold and makes the held messages due
// now; the sender checks again, so a hold of another kind still holds them.
func (a *App) handleClearHold() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		id, ok := a.holdOrder(c)
		if !ok {
			return
		}
		ctx := c.Request.Context()
		cleared, err := a.store.ClearHolds(ctx, shop.ID, id, holdManual)
		if err != nil {
			a.storeError(c, err)
			return
		}
		resumed, err := a.store.ResumeHeld(ctx, shop.ID, id)
		if err != nil {
			a.storeError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"cleared": cleared, "resumed": resumed})
	}
}
