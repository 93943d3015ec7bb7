package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/freshdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/zendesk"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
)

// Connecting helpdesks: the admin API stores a connection (credentials and
// secret sealed), asks the desk's client to install what the desk needs
// (Gorgias: created through its REST API; Zendesk and Freshdesk: the
// values for the sidebar app in extensions/), and lists connections with
// their health. Credentials and the connection secret never leave the
// server, except the secret once, in the connect answer, for the merchant
// to paste into the sidebar app.

const (
	auditHelpdeskConnect    = "helpdesk_connect"
	auditHelpdeskDisconnect = "helpdesk_disconnect"
	auditHelpdeskUpdate     = "helpdesk_update"
)

// Fetching a Zendesk public key from a URL the merchant gave: a PEM is a
// few KiB (a certificate chain a little more), and connecting must not
// hang on a slow host.
const (
	publicKeyTimeout  = 5 * time.Second
	maxPublicKeyBytes = 64 << 10
)

// maxCredential bounds each credential field: real keys are far shorter,
// and the sealed values live in the database.
const maxCredential = 512

// The settings key whose value is the connection secret (Freshdesk's
// Install puts it there); it is answered once and never stored in clear.
const settingDoorstepKey = freshdesk.SettingDoorstepKey

// zendeskTriggerBody is the JSON body of the Zendesk trigger webhook
// merchants add so ticket events name the requester's email (an event
// subscription names the requester by id only, and such a ticket can hold
// nobody's asks). The placeholders are Zendesk's; unverified against a
// live account, see docs/HELPDESKS.md.
const zendeskTriggerBody = `{"ticket":{"id":"{{ticket.id}}","status":"{{ticket.status}}",` +
	`"subject":"{{ticket.title}}","requester_email":"{{ticket.requester.email}}"}}`

func (a *App) helpdeskAPI(api *gin.RouterGroup) {
	api.POST("/helpdesks", a.handleConnectHelpdesk())
	api.GET("/helpdesks", a.handleListHelpdesks())
	api.PATCH("/helpdesks/:id", a.handleUpdateHelpdesk())
	api.DELETE("/helpdesks/:id", a.handleDisconnectHelpdesk())
}

// connectHelpdeskRequest is POST /api/admin/helpdesks. Which fields are
// required depends on Kind (see validate).
type connectHelpdeskRequest struct {
	Kind          string `json:"kind"`
	Domain        string `json:"domain"`
	Email         string `json:"email"`
	APIKey        string `json:"api_key"`
	APIToken      string `json:"api_token"`
	PublicKeyPEM  string `json:"public_key_pem"`
	PublicKeyURL  string `json:"public_key_url"`
	WebhookSecret string `json:"webhook_secret"`
}

// validate trims the fields, normalizes the domain and checks what the
// kind requires; the error names the field.
func (r *connectHelpdeskRequest) validate() error {
	for _, f := range []*string{&r.Kind, &r.Domain, &r.Email, &r.APIKey, &r.APIToken, &r.PublicKeyURL, &r.WebhookSecret} {
		*f = strings.TrimSpace(*f)
	}
	for name, v := range map[string]string{"email": r.Email, "api_key": r.APIKey, "api_token": r.APIToken, "webhook_secret": r.WebhookSecret} {
		if len(v) > maxCredential {
			return fmt.Errorf("%s: at most %d characters", name, maxCredential)
		}
	}
	required := func(name, v string) error {
		if v == "" {
			return fmt.Errorf("%s: required for %s", name, r.Kind)
		}
		return nil
	}
	switch helpdesk.Kind(r.Kind) {
	case helpdesk.Gorgias:
		if err := errors.Join(required("email", r.Email), required("api_key", r.APIKey)); err != nil {
			return err
		}
	case helpdesk.Zendesk:
		if err := errors.Join(required("email", r.Email), required("api_token", r.APIToken)); err != nil {
			return err
		}
		switch {
		case r.PublicKeyPEM == "" && r.PublicKeyURL == "":
			return errors.New("public_key_pem or public_key_url: one is required for zendesk (the sidebar's signed first load is verified with it)")
		case r.PublicKeyPEM != "" && r.PublicKeyURL != "":
			return errors.New("public_key_pem, public_key_url: give one, not both")
		case r.PublicKeyPEM != "":
			if len(r.PublicKeyPEM) > maxPublicKeyBytes {
				return fmt.Errorf("public_key_pem: at most %d bytes", maxPublicKeyBytes)
			}
			if _, err := zendesk.ParsePublicKeyPEM([]byte(r.PublicKeyPEM)); err != nil {
				return errors.New("public_key_pem: not an RSA public key in PEM")
			}
		default:
			u, err := url.Parse(r.PublicKeyURL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
				return errors.New("public_key_url: must be an http(s) URL")
			}
		}
	case helpdesk.Freshdesk:
		if err := required("api_key", r.APIKey); err != nil {
			return err
		}
	default:
		return errors.New("kind: one of gorgias, zendesk, freshdesk")
	}
	if r.Email != "" && !strings.Contains(r.Email, "@") {
		return errors.New("email: not an email address")
	}
	base, err := helpdesk.NormalizeBaseURL(r.Domain)
	if err != nil {
		return fmt.Errorf("domain: the helpdesk's host (acme.%s.com) or base URL: %w", r.Kind, err)
	}
	r.Domain = base
	return nil
}

// helpdeskItem is a connection as the admin sees it: never a credential or
// the secret.
type helpdeskItem struct {
	ID            string            `json:"id"`
	Kind          string            `json:"kind"`
	Domain        string            `json:"domain"`
	Email         string            `json:"email,omitempty"`
	TicketReasons []string          `json:"ticket_reasons"`
	WebhookURL    string            `json:"webhook_url"`
	PublicKeyURL  string            `json:"public_key_url,omitempty"`
	Resources     map[string]string `json:"resources"`
	Settings      map[string]string `json:"settings"`
	// WebhookSecretSet says whether Zendesk webhooks can verify yet (the
	// secret is entered after connecting); nil for the other desks.
	WebhookSecretSet *bool      `json:"webhook_secret_set,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	LastCallAt       *time.Time `json:"last_call_at"`
	LastError        string     `json:"last_error"`
	LastErrorAt      *time.Time `json:"last_error_at"`
}

func (a *App) helpdeskItemOf(c models.HelpdeskConnection) helpdeskItem {
	it := helpdeskItem{
		ID: strconv.FormatUint(c.ID, 10), Kind: c.Kind, Domain: c.BaseURL, Email: c.Email,
		TicketReasons: splitReasons(c.TicketReasons), PublicKeyURL: c.PublicKeyURL,
		WebhookURL: a.cfg.AppURL + "/webhooks/" + c.Kind + "/" + strconv.FormatUint(c.ID, 10),
		Resources:  jsonStrings(c.Resources), Settings: jsonStrings(c.Settings),
		CreatedAt: c.CreatedAt.UTC(), LastCallAt: utcOrNil(c.LastCallAt), LastError: c.LastError, LastErrorAt: utcOrNil(c.LastErrorAt),
	}
	delete(it.Settings, settingDoorstepKey)
	if c.Kind == string(helpdesk.Zendesk) {
		set := false
		if creds, _, err := a.store.HelpdeskCredentialsOf(c); err == nil {
			set = creds.WebhookSecret != ""
		}
		it.WebhookSecretSet = &set
	}
	return it
}

// helpdeskInstall is what the merchant installs, in the connect answer.
type helpdeskInstall struct {
	// Package is the sidebar app's folder in the repository (Zendesk,
	// Freshdesk): the merchant uploads it as a private app.
	Package string `json:"package,omitempty"`
	// Settings are the values for the app's settings and the ticket
	// webhook, the connection secret included: this is the only answer
	// that carries it.
	Settings map[string]string `json:"settings,omitempty"`
	// Created are the objects Doorstep created in the helpdesk (Gorgias),
	// removed again on disconnect.
	Created map[string]string `json:"created,omitempty"`
	Steps   []string          `json:"steps"`
}

func (a *App) handleConnectHelpdesk() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		var req connectHelpdeskRequest
		if !bindBody(c, &req) {
			return
		}
		if err := req.validate(); err != nil {
			apiError(c, http.StatusUnprocessableEntity, "invalid_helpdesk", err.Error())
			return
		}
		pem, keyURL := strings.TrimSpace(req.PublicKeyPEM), ""
		if req.Kind == string(helpdesk.Zendesk) && req.PublicKeyURL != "" {
			fetched, err := fetchPublicKey(ctx, req.PublicKeyURL)
			if err != nil {
				apiError(c, http.StatusUnprocessableEntity, "invalid_helpdesk", "public_key_url: "+err.Error())
				return
			}
			pem, keyURL = fetched, req.PublicKeyURL
		}
		secret, err := newConnectionSecret()
		if err != nil {
			a.storeError(c, err)
			return
		}
		creds := models.HelpdeskCredentials{APIKey: req.APIKey, APIToken: req.APIToken}
		if req.Kind == string(helpdesk.Zendesk) {
			creds.WebhookSecret = req.WebhookSecret
		}
		conn := models.HelpdeskConnection{ShopID: shop.ID, Kind: req.Kind, BaseURL: req.Domain, Email: req.Email,
			PublicKeyPEM: pem, PublicKeyURL: keyURL, TicketReasons: strings.Join(models.AllTicketReasons, ",")}
		// Built before anything is stored, so a connection the client
		// would refuse is never saved.
		desk, err := jobs.NewDesk(conn, creds, secret, nil)
		if err != nil {
			apiError(c, http.StatusUnprocessableEntity, "invalid_helpdesk", err.Error())
			return
		}
		if err := a.store.CreateHelpdeskConnection(ctx, &conn, creds, secret); err != nil {
			if errors.Is(err, models.ErrConnectionExists) {
				apiError(c, http.StatusConflict, "helpdesk_connected", fmt.Sprintf("the shop is already connected to %s: disconnect it first", req.Kind))
				return
			}
			a.storeError(c, err)
			return
		}
		inst, err := desk.Install(ctx, helpdesk.InstallRequest{CallbackBaseURL: a.cfg.AppURL, ConnectionID: strconv.FormatUint(conn.ID, 10)})
		now := a.now().UTC()
		if req.Kind == string(helpdesk.Gorgias) || err != nil {
			// Gorgias's Install calls its API: that is the connection's
			// first call, and its health starts from it.
			_ = a.store.RecordHelpdeskCall(context.WithoutCancel(ctx), conn.ID, now, err)
		}
		if err != nil {
			// The client removed what it had created; the row goes too, so
			// nothing half-connected stays (the merchant can connect again).
			if derr := a.store.DisconnectHelpdesk(context.WithoutCancel(ctx), shop.ID, conn.ID, now); derr != nil {
				a.log.Error("disconnect failed helpdesk", "shop", shop.Domain, "connection", conn.ID, "err", derr)
			}
			a.reqLog(c).Warn("helpdesk install failed", "kind", req.Kind, "connection", conn.ID, "err", err)
			apiError(c, http.StatusBadGateway, "helpdesk_error", fmt.Sprintf("%s refused the installation: %v", req.Kind, err))
			return
		}
		stored := make(map[string]string, len(inst.Settings))
		for k, v := range inst.Settings {
			if k != settingDoorstepKey {
				stored[k] = v
			}
		}
		if err := a.store.SaveHelpdeskInstallation(ctx, conn.ID, inst.Resources, stored); err != nil {
			a.storeError(c, err)
			return
		}
		if conn, err = a.store.HelpdeskConnection(ctx, shop.ID, conn.ID); err != nil {
			a.storeError(c, err)
			return
		}
		a.audit(c, shop, auditHelpdeskConnect, "helpdesk:"+strconv.FormatUint(conn.ID, 10), map[string]any{
			"kind": conn.Kind, "domain": conn.BaseURL, "user": sessionUser(c), "created": inst.Resources,
		})
		c.JSON(http.StatusCreated, gin.H{"connection": a.helpdeskItemOf(conn), "install": a.installFor(conn, inst, secret)})
	}
}

// installFor describes what the merchant does next for each desk.
func (a *App) installFor(c models.HelpdeskConnection, inst helpdesk.Installation, secret string) helpdeskInstall {
	webhook := a.cfg.AppURL + "/webhooks/" + c.Kind + "/" + strconv.FormatUint(c.ID, 10)
	settings := map[string]string{}
	for k, v := range inst.Settings {
		settings[k] = v
	}
	switch helpdesk.Kind(c.Kind) {
	case helpdesk.Gorgias:
		return helpdeskInstall{Created: inst.Resources, Steps: []string{
			"Doorstep created the Doorstep HTTP integration, its ticket-sync integration and the sidebar widget in Gorgias: open a ticket to see the sidebar.",
		}}
	case helpdesk.Zendesk:
		settings[settingDoorstepKey] = secret
		settings["webhook_body"] = zendeskTriggerBody
		return helpdeskInstall{Package: "extensions/zendesk", Settings: settings, Steps: []string{
			"Upload extensions/zendesk as a private app (zcli apps:create) and enter connection_id and doorstep_key in its settings.",
			"Add a webhook to " + webhook + " (POST, JSON) and a trigger on ticket created or updated that notifies it with webhook_body.",
			"Copy the webhook's signing secret into Doorstep (PATCH this connection with webhook_secret); until then ticket events are refused.",
		}}
	default: // Freshdesk
		settings[settingDoorstepKey] = secret
		// FDK request templates take a bare host, not a URL.
		if u, err := url.Parse(a.cfg.AppURL); err == nil {
			settings["doorstep_host"] = u.Host
		}
		return helpdeskInstall{Package: "extensions/freshdesk", Settings: settings, Steps: []string{
			"Upload extensions/freshdesk as a custom app (fdk pack) and enter doorstep_host and doorstep_key when installing it.",
			"Add an automation rule on ticket created and updated with the action Trigger webhook: POST " + webhook +
				", header " + helpdesk.SecretHeader + ": doorstep_key, JSON body webhook_body.",
		}}
	}
}

func (a *App) handleListHelpdesks() gin.HandlerFunc {
	return func(c *gin.Context) {
		conns, err := a.store.HelpdeskConnections(c.Request.Context(), shopOf(c).ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		items := make([]helpdeskItem, 0, len(conns))
		for _, conn := range conns {
			items = append(items, a.helpdeskItemOf(conn))
		}
		list(c, items, "")
	}
}

// activeHelpdesk loads the shop's active connection named in the path; on
// failure it has answered (404 for another shop's id).
func (a *App) activeHelpdesk(c *gin.Context) (models.HelpdeskConnection, bool) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		apiError(c, http.StatusNotFound, "not_found", "not found")
		return models.HelpdeskConnection{}, false
	}
	conn, err := a.store.HelpdeskConnection(c.Request.Context(), shopOf(c).ID, id)
	if err == nil && !conn.Active() {
		err = models.ErrNotFound
	}
	if err != nil {
		a.storeError(c, err)
		return models.HelpdeskConnection{}, false
	}
	return conn, true
}

// handleDisconnectHelpdesk removes what Doorstep created in the desk, then
// disconnects. The removal is best effort: a desk that refuses (a revoked
// key) must not keep the merchant from disconnecting, so its error is
// recorded on the connection and returned for the admin to show.
func (a *App) handleDisconnectHelpdesk() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		conn, ok := a.activeHelpdesk(c)
		if !ok {
			return
		}
		var uninstallErr error
		inst := helpdesk.Installation{Resources: jsonStrings(conn.Resources), Settings: jsonStrings(conn.Settings)}
		desk, err := jobs.OpenDesk(a.store, conn, nil)
		if err == nil {
			uninstallErr = desk.Uninstall(ctx, inst)
		} else {
			uninstallErr = err
		}
		now := a.now().UTC()
		if len(inst.Resources) > 0 || uninstallErr != nil {
			_ = a.store.RecordHelpdeskCall(ctx, conn.ID, now, uninstallErr)
		}
		if err := a.store.DisconnectHelpdesk(ctx, shop.ID, conn.ID, now); err != nil {
			a.storeError(c, err)
			return
		}
		reply := gin.H{"id": strconv.FormatUint(conn.ID, 10), "disconnected_at": now, "uninstall_error": ""}
		detail := map[string]any{"kind": conn.Kind, "domain": conn.BaseURL, "user": sessionUser(c), "removed": inst.Resources}
		if uninstallErr != nil {
			a.reqLog(c).Warn("helpdesk uninstall failed", "kind", conn.Kind, "connection", conn.ID, "err", uninstallErr)
			reply["uninstall_error"] = uninstallErr.Error()
			detail["uninstall_error"] = uninstallErr.Error()
		}
		a.audit(c, shop, auditHelpdeskDisconnect, "helpdesk:"+strconv.FormatUint(conn.ID, 10), detail)
		c.JSON(http.StatusOK, reply)
	}
}

// updateHelpdeskRequest is PATCH /api/admin/helpdesks/:id; absent fields
// stay as they are.
type updateHelpdeskRequest struct {
	TicketReasons *[]string `json:"ticket_reasons"`
	WebhookSecret *string   `json:"webhook_secret"`
}

func (a *App) handleUpdateHelpdesk() gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := shopOf(c)
		ctx := c.Request.Context()
		conn, ok := a.activeHelpdesk(c)
		if !ok {
			return
		}
		var req updateHelpdeskRequest
		if !bindBody(c, &req) {
			return
		}
		var reasons []string
		if req.TicketReasons != nil {
			for _, r := range *req.TicketReasons {
				r = strings.TrimSpace(r)
				if !slices.Contains(models.AllTicketReasons, r) {
					apiError(c, http.StatusUnprocessableEntity, "invalid_helpdesk",
						fmt.Sprintf("ticket_reasons: %q is not one of %s", r, strings.Join(models.AllTicketReasons, ", ")))
					return
				}
				if !slices.Contains(reasons, r) {
					reasons = append(reasons, r)
				}
			}
		}
		var secret string
		if req.WebhookSecret != nil {
			secret = strings.TrimSpace(*req.WebhookSecret)
			switch {
			case conn.Kind != string(helpdesk.Zendesk):
				apiError(c, http.StatusUnprocessableEntity, "invalid_helpdesk", "webhook_secret: only Zendesk signs its webhooks with a secret of its own")
				return
			case secret == "" || len(secret) > maxCredential:
				apiError(c, http.StatusUnprocessableEntity, "invalid_helpdesk", fmt.Sprintf("webhook_secret: 1 to %d characters", maxCredential))
				return
			}
		}
		if req.TicketReasons != nil {
			if err := a.store.SetHelpdeskTicketReasons(ctx, shop.ID, conn.ID, reasons); err != nil {
				a.storeError(c, err)
				return
			}
		}
		if req.WebhookSecret != nil {
			creds, _, err := a.store.HelpdeskCredentialsOf(conn)
			if err != nil {
				a.storeError(c, err)
				return
			}
			creds.WebhookSecret = secret
			if err := a.store.UpdateHelpdeskCredentials(ctx, conn, creds); err != nil {
				a.storeError(c, err)
				return
			}
		}
		conn, err := a.store.HelpdeskConnection(ctx, shop.ID, conn.ID)
		if err != nil {
			a.storeError(c, err)
			return
		}
		detail := map[string]any{"user": sessionUser(c), "webhook_secret_changed": req.WebhookSecret != nil}
		if req.TicketReasons != nil {
			detail["ticket_reasons"] = reasons
		}
		a.audit(c, shop, auditHelpdeskUpdate, "helpdesk:"+strconv.FormatUint(conn.ID, 10), detail)
		c.JSON(http.StatusOK, a.helpdeskItemOf(conn))
	}
}

// fetchPublicKey downloads a Zendesk public key: 200, at most
// maxPublicKeyBytes, and an RSA public key in PEM. The error never
// repeats what the URL answered.
func fetchPublicKey(ctx context.Context, rawURL string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, publicKeyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", fmt.Errorf("bad URL: %w", err)
	}
	client := &http.Client{Timeout: publicKeyTimeout}
	resp, err := client.Do(req)
	if err != nil {
		return "", errors.New("could not be fetched")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPublicKeyBytes+1))
	if err != nil {
		return "", errors.New("could not be read")
	}
	if len(b) > maxPublicKeyBytes {
		return "", fmt.Errorf("larger than %d bytes", maxPublicKeyBytes)
	}
	if _, err := zendesk.ParsePublicKeyPEM(b); err != nil {
		return "", errors.New("is not an RSA public key in PEM")
	}
	return strings.TrimSpace(string(b)), nil
}

// newConnectionSecret is 32 random bytes, base64url: what Gorgias and
// Freshdesk send back in helpdesk.SecretHeader.
func newConnectionSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("connection secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func splitReasons(s string) []string {
	out := []string{}
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// jsonStrings reads a stored JSON object of strings; anything else is
// empty (the columns default to "{}").
func jsonStrings(s string) map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal([]byte(s), &m)
	if m == nil {
		m = map[string]string{}
	}
	return m
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
