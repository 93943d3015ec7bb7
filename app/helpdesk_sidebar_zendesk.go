package app

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/zendesk"
	"github.com/doorstep/doorstep/models"
)

// The Zendesk sidebar is a page in the ZAF app's iframe. The app's
// location URL is "<APP_URL>/helpdesk/zendesk/sidebar" with signedUrls on,
// so the first load is a POST whose token field is an RS256 JWT from
// Zendesk: it is verified with the connection's public key, audience
// "<APP_URL>/helpdesk/zendesk/sidebar", expiry, and an issuer that is the
// connection's Zendesk host. Which connection: "?c=<connection id>" on the
// URL when present (needed only when one Zendesk account is connected to
// several shops), else the one connection to the token's issuer. Either
// only picks which key to verify with; it grants nothing.
//
// The page then carries a short signed session (sidebarSession) in its
// links and forms. It needs no script and no third-party asset: the ticket
// requester's email arrives as the email parameter when the app passes it
// (?email= on the location, or the ZAF client navigating to it), and the
// agent can also look a customer up with the page's own form.

//go:embed templates/helpdesk/*.html
var helpdeskFS embed.FS

var helpdeskPages = template.Must(template.New("").Funcs(template.FuncMap{
	"date": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2 Jan 2006")
		case *time.Time:
			if v != nil {
				return v.UTC().Format("2 Jan 2006")
			}
		}
		return ""
	},
	"human":    func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"shipment": shipmentLabel,
}).ParseFS(helpdeskFS, "templates/helpdesk/*.html"))

// zendeskSidebarPath is the page's path, and with APP_URL the JWT audience.
const zendeskSidebarPath = "/helpdesk/zendesk/sidebar"

// zendeskPage is the template's data.
type zendeskPage struct {
	View    *sidebarView
	Session string
	Email   string
	Phone   string
	Ticket  string
	Agent   string
	Notice  string
	// NoticeCode names the notice (zendeskNotices' key) for scripts and tests.
	NoticeCode string
	// Error says why an action was refused (over a cap, not found).
	Error string
	// Key is this render's idempotency key: every form on the page carries
	// it, so a double click acts once, and the next render gets a new one.
	Key string
	// Problem is set on the 401 page.
	Problem string
	Caps    struct{ PerGrant, PerDay int }
}

// zendeskNotices are the outcomes an action redirects with (a code, so no
// free text travels in the URL).
var zendeskNotices = map[string]string{
	"resent":         "The tracking notice is on its way again.",
	"resent_before":  "That tracking notice was already resent.",
	"granted":        "Points granted.",
	"granted_before": "Those points were already granted.",
	"paused":         "Review requests are paused for this customer.",
	"resumed":        "Review requests are back on for this customer.",
	"unchanged":      "Nothing to change.",
}

// zendeskIssuerMatches reports whether a sidebar token's iss names the
// connection's Zendesk: its host ("acme.zendesk.com", what Zendesk is
// understood to send; unverified) or its base URL.
func zendeskIssuerMatches(iss, baseURL string) bool {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || iss == "" {
		return false
	}
	iss = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(iss)), "/")
	return iss == strings.ToLower(u.Host) || iss == strings.ToLower(u.Scheme+"://"+u.Host)
}

// zendeskHeaders let only the connection's Zendesk frame the page; forms
// post back here only.
func zendeskHeaders(c *gin.Context, frameAncestor string) {
	// The base URL was normalized when connecting; a value that could end
	// the directive is not trusted into the header all the same.
	if frameAncestor == "" || strings.ContainsAny(frameAncestor, " ;,'\"\r\n") {
		frameAncestor = "https://*.zendesk.com"
	}
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors "+frameAncestor)
}

func (a *App) zendeskDenied(c *gin.Context, problem string) {
	zendeskHeaders(c, "")
	a.renderZendesk(c, http.StatusUnauthorized, zendeskPage{Problem: problem})
}

func (a *App) renderZendesk(c *gin.Context, status int, p zendeskPage) {
	p.Caps.PerGrant, p.Caps.PerDay = goodwillMaxPerGrant, goodwillMaxPerDay
	if p.Key == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		p.Key = hex.EncodeToString(b[:])
	}
	c.Status(status)
	c.Header("Content-Type", "text/html; charset=utf-8")
	if err := helpdeskPages.ExecuteTemplate(c.Writer, "zendesk.html", p); err != nil {
		a.log.Error("render zendesk sidebar", "err", err)
	}
}

// handleZendeskFirstLoad verifies Zendesk's JWT and opens a session.
func (a *App) handleZendeskFirstLoad() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
		const expired = "This sidebar could not be verified. Reload the ticket to open it again."
		token := c.PostForm("token")
		var (
			conn models.HelpdeskConnection
			shop models.Shop
			err  error
		)
		if id := parseSidebarID(c.Query("c")); id != 0 {
			conn, shop, err = a.zendeskConnection(c, id)
		} else {
			conn, shop, err = a.zendeskConnectionOfIssuer(c, token)
		}
		if err != nil {
			if !errors.Is(err, models.ErrNotFound) {
				a.log.Error("zendesk sidebar: connection", "err", err)
			}
			a.zendeskDenied(c, expired)
			return
		}
		pub, err := zendesk.ParsePublicKeyPEM([]byte(conn.PublicKeyPEM))
		if err != nil {
			a.log.Warn("zendesk sidebar: no usable public key", "connection", conn.ID, "err", err)
			a.zendeskDenied(c, expired)
			return
		}
		claims, err := zendesk.VerifySidebarJWT(token, pub, a.cfg.AppURL+zendeskSidebarPath, a.now())
		if err != nil {
			a.zendeskDenied(c, expired)
			return
		}
		// The audience is our URL, the same for every Zendesk account that
		// installs the app, and the key may be the app's rather than the
		// account's: the issuer must be this connection's Zendesk, or
		// another account's token would open this shop's sidebar.
		if !zendeskIssuerMatches(claims.Issuer, conn.BaseURL) {
			a.log.Warn("zendesk sidebar: token from another Zendesk", "connection", conn.ID, "iss", claims.Issuer)
			a.zendeskDenied(c, expired)
			return
		}
		agent := firstNonEmpty(claims.Subject, "zendesk agent")
		if len(agent) > maxSidebarAgent {
			agent = agent[:maxSidebarAgent]
		}
		ticket := firstNonEmpty(c.PostForm("ticket"), c.Query("ticket"))
		if len(ticket) > maxSidebarTicket {
			ticket = ""
		}
		s := sidebarSession{Connection: conn.ID, Shop: shop.ID, Agent: agent, Ticket: ticket,
			Expires: a.now().Add(sidebarSessionTTL).Unix()}
		a.serveZendesk(c, conn, shop, s, a.signSidebarSession(s),
			firstNonEmpty(c.PostForm("email"), c.Query("email")), firstNonEmpty(c.PostForm("phone"), c.Query("phone")), "")
	}
}

// zendeskConnectionOfIssuer finds the connection a first load without
// ?c= is for by the token's (not yet verified) issuer, the Zendesk
// account's host; the caller then verifies the token with that
// connection's key and checks the issuer again. A Zendesk account
// connected to two shops is ambiguous: its app URL must carry ?c=.
func (a *App) zendeskConnectionOfIssuer(c *gin.Context, token string) (models.HelpdeskConnection, models.Shop, error) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.Issuer == "" {
		return models.HelpdeskConnection{}, models.Shop{}, models.ErrNotFound
	}
	base := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(claims.Issuer)), "/")
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	conns, err := a.store.ActiveHelpdeskConnectionsAt(c.Request.Context(), string(helpdesk.Zendesk), base, 2)
	if err != nil {
		return models.HelpdeskConnection{}, models.Shop{}, err
	}
	if len(conns) != 1 {
		if len(conns) > 1 {
			a.log.Warn("zendesk sidebar: one Zendesk connected to several shops; the app URL needs ?c=<connection id>", "zendesk", base)
		}
		return models.HelpdeskConnection{}, models.Shop{}, models.ErrNotFound
	}
	return a.zendeskConnection(c, conns[0].ID)
}

// zendeskSession checks the session a later request carries and that its
// connection is still connected; on failure it has answered.
func (a *App) zendeskSession(c *gin.Context, token string) (sidebarSession, models.HelpdeskConnection, models.Shop, bool) {
	s, err := a.verifySidebarSession(token, a.now())
	if err != nil {
		a.zendeskDenied(c, "This sidebar session has expired. Reload the ticket to open it again.")
		return s, models.HelpdeskConnection{}, models.Shop{}, false
	}
	conn, shop, err := a.zendeskConnection(c, s.Connection)
	if err != nil || shop.ID != s.Shop {
		a.zendeskDenied(c, "This helpdesk is no longer connected to the shop.")
		return s, conn, shop, false
	}
	return s, conn, shop, true
}

func (a *App) handleZendeskPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		token := c.Query("session")
		s, conn, shop, ok := a.zendeskSession(c, token)
		if !ok {
			return
		}
		a.serveZendesk(c, conn, shop, s, token, c.Query("email"), c.Query("phone"), c.Query("notice"))
	}
}

// serveZendesk renders the page for the session; notice is one of
// zendeskNotices' codes (anything else shows none).
func (a *App) serveZendesk(c *gin.Context, conn models.HelpdeskConnection, shop models.Shop, s sidebarSession, token, email, phone, notice string) {
	zendeskHeaders(c, conn.BaseURL)
	p := zendeskPage{Session: token, Email: strings.TrimSpace(email), Phone: strings.TrimSpace(phone),
		Ticket: s.Ticket, Agent: s.Agent}
	if text, ok := zendeskNotices[notice]; ok {
		p.Notice, p.NoticeCode = text, notice
	}
	if p.Email != "" || p.Phone != "" {
		v, err := a.sidebarFor(c.Request.Context(), shop, p.Email, p.Phone)
		if err != nil {
			a.log.Error("zendesk sidebar", "shop", shop.Domain, "err", err)
			c.Status(http.StatusInternalServerError)
			c.Header("Content-Type", "text/plain; charset=utf-8")
			_, _ = c.Writer.WriteString("internal error\n")
			return
		}
		p.View = &v
	}
	a.renderZendesk(c, http.StatusOK, p)
}

// handleZendeskAction runs an action posted from the page, then redirects
// back to the page (so reloading it does not post again) with a notice.
func (a *App) handleZendeskAction() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
		token := c.PostForm("session")
		s, conn, shop, ok := a.zendeskSession(c, token)
		if !ok {
			return
		}
		var points int64
		if v := strings.TrimSpace(c.PostForm("points")); v != "" {
			points, _ = strconv.ParseInt(v, 10, 64)
		}
		req := sidebarActionRequest{Action: c.Param("action"), Desk: conn.Kind, ConnectionID: conn.ID,
			Agent: s.Agent, Ticket: firstNonEmpty(s.Ticket, c.PostForm("ticket")), Email: c.PostForm("email"),
			Phone: c.PostForm("phone"), OrderID: c.PostForm("order_id"), Points: points, Reason: c.PostForm("reason"),
			Key: c.PostForm("key")}
		res, err := a.runSidebarAction(c, shop, req)
		var bad *sidebarInputError
		switch {
		case errors.As(err, &bad):
			zendeskHeaders(c, conn.BaseURL)
			p := zendeskPage{Session: token, Email: req.Email, Phone: req.Phone, Ticket: s.Ticket, Agent: s.Agent, Error: bad.Message}
			if v, err := a.sidebarFor(c.Request.Context(), shop, req.Email, req.Phone); err == nil {
				p.View = &v
			}
			a.renderZendesk(c, http.StatusUnprocessableEntity, p)
			return
		case errors.Is(err, models.ErrNotFound):
			zendeskHeaders(c, conn.BaseURL)
			a.renderZendesk(c, http.StatusNotFound, zendeskPage{Session: token, Email: req.Email, Phone: req.Phone,
				Ticket: s.Ticket, Agent: s.Agent, Error: "Not found in this shop."})
			return
		case err != nil:
			a.log.Error("zendesk sidebar action", "shop", shop.Domain, "action", req.Action, "err", err)
			c.String(http.StatusInternalServerError, "internal error\n")
			return
		}
		q := url.Values{"session": {token}, "notice": {zendeskNoticeOf(res)}}
		if req.Email != "" {
			q.Set("email", req.Email)
		}
		if req.Phone != "" {
			q.Set("phone", req.Phone)
		}
		c.Redirect(http.StatusSeeOther, zendeskSidebarPath+"?"+q.Encode())
	}
}

func zendeskNoticeOf(r sidebarActionResult) string {
	switch {
	case r.Action == actionResend && r.Done:
		return "resent"
	case r.Action == actionResend:
		return "resent_before"
	case r.Action == actionGoodwill && r.Done:
		return "granted"
	case r.Action == actionGoodwill:
		return "granted_before"
	case r.Action == actionPause && r.Done:
		return "paused"
	case r.Action == actionResume && r.Done:
		return "resumed"
	}
	return "unchanged"
}
