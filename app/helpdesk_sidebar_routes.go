package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/models"
)

// sidebarRoutes: the helpdesk sidebars.
//
//	GET  /helpdesk/gorgias/customer?email=&phone=      JSON for the Gorgias widget (X-Doorstep-Key)
//	POST /helpdesk/gorgias/actions/:action             an agent's action (X-Doorstep-Key, JSON body)
//	GET  /helpdesk/freshdesk/customer?email=&phone=    the same JSON for the FDK app (X-Doorstep-Key)
//	POST /helpdesk/freshdesk/actions/:action           the same actions
//	POST /helpdesk/zendesk/sidebar?c=<connection id>   ZAF signed first load (form field token: RS256 JWT)
//	GET  /helpdesk/zendesk/sidebar?session=&email=     the page again, within the session
//	POST /helpdesk/zendesk/actions/:action             an action from the page (form, with the session)
//
// Actions: resend (the tracking notice), goodwill (points), pause and
// resume (review requests). Each is audited with the desk, the agent and
// the ticket.
func (a *App) sidebarRoutes(r *gin.Engine) {
	g := r.Group("/helpdesk", sidebarNoStore())
	for _, kind := range []helpdesk.Kind{helpdesk.Gorgias, helpdesk.Freshdesk} {
		auth := a.sidebarSecretAuth(kind)
		g.GET("/"+string(kind)+"/customer", auth, a.handleSidebarJSON())
		g.POST("/"+string(kind)+"/actions/:action", auth, a.handleSidebarActionJSON())
	}
	g.POST("/zendesk/sidebar", a.handleZendeskFirstLoad())
	g.GET("/zendesk/sidebar", a.handleZendeskPage())
	g.POST("/zendesk/actions/:action", a.handleZendeskAction())
}

// sidebarNoStore keeps customer data out of caches and other sites' Referer
// headers (the Zendesk session travels in the URL).
func sidebarNoStore() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Robots-Tag", "noindex")
		c.Next()
	}
}

// Gin context keys of an authenticated sidebar request.
const (
	ctxSidebarConn = "doorstep.sidebar.connection"
	ctxSidebarShop = "doorstep.sidebar.shop"
)

// sidebarSecretAuth admits a Gorgias or Freshdesk call that carries its
// connection's secret in helpdesk.SecretHeader: the hash finds the
// connection, a constant-time compare with the opened secret confirms it.
// Anything else is 401 with nothing else said.
func (a *App) sidebarSecretAuth(kind helpdesk.Kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		deny := func() {
			apiError(c, http.StatusUnauthorized, "unauthorized", "missing or wrong "+helpdesk.SecretHeader)
		}
		key := strings.TrimSpace(c.GetHeader(helpdesk.SecretHeader))
		if key == "" || len(key) > 256 {
			deny()
			return
		}
		cacheKey := string(kind) + ":" + models.SecretHash(key)
		// Reads trust a recent verification of the same secret: the
		// sidebar is asked on every ticket an agent opens. Actions always
		// check the store, so a disconnect stops them at once.
		if c.Request.Method == http.MethodGet {
			if hit, ok := a.sidebarAuth.get(cacheKey, a.now()); ok {
				c.Set(ctxSidebarConn, hit.conn)
				c.Set(ctxSidebarShop, hit.shop)
				c.Next()
				return
			}
		}
		ctx := c.Request.Context()
		conn, err := a.store.HelpdeskConnectionBySecret(ctx, string(kind), key)
		if errors.Is(err, models.ErrNotFound) {
			deny()
			return
		}
		if err != nil {
			a.storeError(c, err)
			return
		}
		_, secret, err := a.store.HelpdeskCredentialsOf(conn)
		if err != nil {
			a.storeError(c, err)
			return
		}
		if !helpdesk.VerifySecret(secret, key) {
			deny()
			return
		}
		shop, err := a.store.ShopByID(ctx, conn.ShopID)
		if err != nil || !shop.Installed() {
			deny()
			return
		}
		a.sidebarAuth.put(cacheKey, sidebarAuthHit{conn: conn, shop: shop}, a.now())
		c.Set(ctxSidebarConn, conn)
		c.Set(ctxSidebarShop, shop)
		c.Next()
	}
}

// sidebarAuthTTL bounds how long a disconnected helpdesk's sidebar can
// still be read (actions are never cached).
const sidebarAuthTTL = 5 * time.Second

// sidebarAuthMax bounds the cache; past it, it starts again empty.
const sidebarAuthMax = 4096

type sidebarAuthHit struct {
	conn models.HelpdeskConnection
	shop models.Shop
	at   time.Time
}

// sidebarAuthCache remembers verified sidebar secrets, by kind and hash,
// for sidebarAuthTTL.
type sidebarAuthCache struct {
	mu   sync.Mutex
	hits map[string]sidebarAuthHit
}

func (c *sidebarAuthCache) get(key string, now time.Time) (sidebarAuthHit, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hits[key]
	if !ok || now.Sub(h.at) > sidebarAuthTTL || now.Before(h.at) {
		return sidebarAuthHit{}, false
	}
	return h, true
}

func (c *sidebarAuthCache) put(key string, h sidebarAuthHit, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hits == nil || len(c.hits) >= sidebarAuthMax {
		c.hits = map[string]sidebarAuthHit{}
	}
	h.at = now
	c.hits[key] = h
}

func sidebarAuthOf(c *gin.Context) (models.HelpdeskConnection, models.Shop) {
	return c.MustGet(ctxSidebarConn).(models.HelpdeskConnection), c.MustGet(ctxSidebarShop).(models.Shop)
}

// handleSidebarJSON answers the customer's view; an unknown customer is a
// 200 with "found": false and a friendly notice.
func (a *App) handleSidebarJSON() gin.HandlerFunc {
	return func(c *gin.Context) {
		conn, shop := sidebarAuthOf(c)
		v, err := a.sidebarFor(c.Request.Context(), shop, c.Query("email"), c.Query("phone"))
		if err != nil {
			a.storeError(c, err)
			return
		}
		if v.Found {
			v.Actions = a.sidebarActionRefs(conn.Kind)
		}
		c.JSON(http.StatusOK, v)
	}
}

// sidebarActionRefs tells the desk's app where the actions are and what
// they take.
func (a *App) sidebarActionRefs(kind string) []sidebarActionRef {
	base := a.cfg.AppURL + "/helpdesk/" + kind + "/actions/"
	common := []string{"email", "agent", "ticket", "idempotency_key"}
	return []sidebarActionRef{
		{Name: actionResend, Method: http.MethodPost, URL: base + actionResend, Fields: append([]string{"order_id"}, common...)},
		{Name: actionGoodwill, Method: http.MethodPost, URL: base + actionGoodwill, Fields: append([]string{"points", "reason"}, common...)},
		{Name: actionPause, Method: http.MethodPost, URL: base + actionPause, Fields: common},
		{Name: actionResume, Method: http.MethodPost, URL: base + actionResume, Fields: common},
	}
}

// sidebarActionBody is what Gorgias and Freshdesk post to an action.
type sidebarActionBody struct {
	Email          string `json:"email"`
	Phone          string `json:"phone"`
	OrderID        string `json:"order_id"`
	Points         int64  `json:"points"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotency_key"`
	Agent          string `json:"agent"`
	Ticket         string `json:"ticket"`
}

// handleSidebarActionJSON runs an action for Gorgias or Freshdesk: 200
// with what happened (a replayed key says so), 422 for a bad request or a
// cap, 404 for an order or customer the shop does not have.
func (a *App) handleSidebarActionJSON() gin.HandlerFunc {
	return func(c *gin.Context) {
		conn, shop := sidebarAuthOf(c)
		var in sidebarActionBody
		if !bindBody(c, &in) {
			return
		}
		req := sidebarActionRequest{Action: c.Param("action"), Desk: conn.Kind, ConnectionID: conn.ID,
			Agent: in.Agent, Ticket: in.Ticket, Email: in.Email, Phone: in.Phone, OrderID: in.OrderID,
			Points: in.Points, Reason: in.Reason, Key: in.IdempotencyKey}
		res, err := a.runSidebarAction(c, shop, req)
		if err != nil {
			a.sidebarActionError(c, err)
			return
		}
		c.JSON(http.StatusOK, res)
	}
}

func (a *App) sidebarActionError(c *gin.Context, err error) {
	var bad *sidebarInputError
	switch {
	case errors.As(err, &bad):
		apiError(c, http.StatusUnprocessableEntity, bad.Code, bad.Message)
	default:
		a.storeError(c, err)
	}
}

// ---- the Zendesk session ----

// sidebarSessionTTL is how long the Zendesk iframe's session lasts: an
// agent working one ticket longer reopens it, which posts a fresh JWT.
const sidebarSessionTTL = 15 * time.Minute

// sidebarSession is what the Zendesk page carries after its first load:
// which connection and agent, until when. It travels as a query parameter
// and a hidden form field, not a cookie: browsers drop third-party cookies
// in the helpdesk's iframe.
type sidebarSession struct {
	Connection uint64 `json:"c"`
	Shop       uint64 `json:"s"`
	Agent      string `json:"a"`
	Ticket     string `json:"t,omitempty"`
	Expires    int64  `json:"e"`
}

// sessionKey is derived from the encryption key (as the link key is), so
// one secret rotates everything and session MACs never use the data key.
func (a *App) sidebarSessionKey() []byte {
	k := sha256.Sum256(append([]byte("doorstep helpdesk sidebar session v1:"), a.cfg.EncryptionKey...))
	return k[:]
}

var sidebarSessionEncoding = base64.RawURLEncoding

func (a *App) signSidebarSession(s sidebarSession) string {
	js, _ := json.Marshal(s)
	payload := sidebarSessionEncoding.EncodeToString(js)
	m := hmac.New(sha256.New, a.sidebarSessionKey())
	m.Write([]byte(payload))
	return payload + "." + sidebarSessionEncoding.EncodeToString(m.Sum(nil))
}

// errSidebarSession is any session that does not verify or has expired.
var errSidebarSession = errors.New("sidebar session invalid or expired")

func (a *App) verifySidebarSession(token string, now time.Time) (sidebarSession, error) {
	payload, tag, ok := strings.Cut(token, ".")
	if !ok || len(token) > 2048 {
		return sidebarSession{}, errSidebarSession
	}
	got, err := sidebarSessionEncoding.DecodeString(tag)
	if err != nil {
		return sidebarSession{}, errSidebarSession
	}
	m := hmac.New(sha256.New, a.sidebarSessionKey())
	m.Write([]byte(payload))
	if !hmac.Equal(got, m.Sum(nil)) {
		return sidebarSession{}, errSidebarSession
	}
	js, err := sidebarSessionEncoding.DecodeString(payload)
	if err != nil {
		return sidebarSession{}, errSidebarSession
	}
	var s sidebarSession
	if err := json.Unmarshal(js, &s); err != nil || s.Connection == 0 || now.Unix() > s.Expires {
		return sidebarSession{}, errSidebarSession
	}
	return s, nil
}

// zendeskConnection returns the active Zendesk connection with this id and
// its installed shop; ErrNotFound for anything else.
func (a *App) zendeskConnection(c *gin.Context, id uint64) (models.HelpdeskConnection, models.Shop, error) {
	ctx := c.Request.Context()
	conn, err := a.store.HelpdeskConnectionByID(ctx, id)
	if err != nil {
		return conn, models.Shop{}, err
	}
	if conn.Kind != string(helpdesk.Zendesk) || !conn.Active() {
		return conn, models.Shop{}, models.ErrNotFound
	}
	shop, err := a.store.ShopByID(ctx, conn.ShopID)
	if err != nil {
		return conn, shop, err
	}
	if !shop.Installed() {
		return conn, shop, models.ErrNotFound
	}
	return conn, shop, nil
}

func parseSidebarID(s string) uint64 {
	id, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0
	}
	return id
}
