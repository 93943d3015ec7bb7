package app

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
	"github.com/doorstep/doorstep/integrations/helpdesk/helpdesktest"
	"github.com/doorstep/doorstep/models"
)

// hdConnection is a connection as the admin API answers it.
type hdConnection struct {
	ID               string            `json:"id"`
	Kind             string            `json:"kind"`
	Domain           string            `json:"domain"`
	Email            string            `json:"email"`
	TicketReasons    []string          `json:"ticket_reasons"`
	WebhookURL       string            `json:"webhook_url"`
	PublicKeyURL     string            `json:"public_key_url"`
	Resources        map[string]string `json:"resources"`
	Settings         map[string]string `json:"settings"`
	WebhookSecretSet *bool             `json:"webhook_secret_set"`
	CreatedAt        time.Time         `json:"created_at"`
	LastCallAt       *time.Time        `json:"last_call_at"`
	LastError        string            `json:"last_error"`
	LastErrorAt      *time.Time        `json:"last_error_at"`
}

type hdConnected struct {
	Connection hdConnection `json:"connection"`
	Install    struct {
		Package  string            `json:"package"`
		Settings map[string]string `json:"settings"`
		Created  map[string]string `json:"created"`
		Steps    []string          `json:"steps"`
	} `json:"install"`
}

type hdList struct {
	Items      []hdConnection `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

func (e *testEnv) hdList(tok string) []hdConnection {
	e.t.Helper()
	var l hdList
	e.callAdmin("GET", "/api/admin/helpdesks", tok).ok(e.t, "list helpdesks", &l)
	if l.NextCursor == nil || *l.NextCursor != "" {
		e.t.Fatalf("next_cursor = %v, want \"\"", l.NextCursor)
	}
	return l.Items
}

// gorgiasSecret is the connection secret Doorstep wrote into the Gorgias
// integrations, as the fake recorded it (Gorgias answers never carry it).
func gorgiasSecret(t *testing.T, fake *helpdesktest.Fake) string {
	t.Helper()
	for _, c := range fake.Calls() {
		if c.Method != "POST" || c.Path != "/api/integrations" {
			continue
		}
		var in struct {
			HTTP struct {
				Headers map[string]string `json:"headers"`
			} `json:"http"`
		}
		if err := json.Unmarshal(c.Body, &in); err != nil {
			t.Fatal(err)
		}
		if s := in.HTTP.Headers[helpdesk.SecretHeader]; s != "" {
			return s
		}
	}
	t.Fatal("no integration carried the connection secret")
	return ""
}

// assertNowhereInClear fails if a value appears in plain text in any
// column of the tables that could hold it.
func (e *testEnv) assertNowhereInClear(values ...string) {
	e.t.Helper()
	for _, table := range []string{"helpdesk_connections", "audit_logs", "deliveries"} {
		var rows []map[string]any
		if err := e.app.db.Table(table).Find(&rows).Error; err != nil {
			e.t.Fatal(err)
		}
		if table == "helpdesk_connections" && len(rows) == 0 {
			e.t.Fatal("no connection rows to look into")
		}
		for _, row := range rows {
			for col, v := range row {
				s := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					s = string(b)
				}
				for _, secret := range values {
					if secret != "" && strings.Contains(s, secret) {
						e.t.Fatalf("%s.%s holds %q in clear", table, col, secret)
					}
				}
			}
		}
	}
}

func rsaPublicPEM(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Connecting Gorgias creates the sidebar integration, the ticket-sync
// integration and the widget through its API, with the connection secret
// in their headers; the list shows health and never a credential;
// disconnecting removes all three.
func TestHelpdeskAPI_Gorgias_ConnectCreatesIntegrationAndWidget_DeleteRemovesThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom, other = "desk-shop.myshopify.com", "other-desk-shop.myshopify.com"
	shop := e.installShop(dom)
	e.installShop(other)
	tok, otherTok := e.fake.SessionToken(dom, time.Minute), e.fake.SessionToken(other, time.Minute)
	fake := helpdesktest.StartGorgias(t, "agent@acme.test", "gorgias-api-key-123", "unused")

	var got hdConnected
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{
		"kind": "gorgias", "domain": fake.URL() + "/", "email": "agent@acme.test", "api_key": "gorgias-api-key-123",
	}).ok(t, "connect gorgias", &got)
	c := got.Connection
	if c.Kind != "gorgias" || c.Domain != fake.URL() || c.ID == "" || c.CreatedAt.IsZero() ||
		!slices.Equal(c.TicketReasons, models.AllTicketReasons) || c.WebhookURL != "https://doorstep.test/webhooks/gorgias/"+c.ID {
		t.Fatalf("connection = %+v", c)
	}
	if got.Install.Created["integration_id"] == "" || got.Install.Created["sync_integration_id"] == "" || got.Install.Created["widget_id"] == "" ||
		got.Install.Settings != nil || got.Install.Package != "" {
		t.Fatalf("install = %+v", got.Install)
	}
	if n, w := len(fake.Resources("integrations")), len(fake.Resources("widgets")); n != 2 || w != 1 {
		t.Fatalf("gorgias holds %d integrations, %d widgets; want 2 and 1", n, w)
	}
	secret := gorgiasSecret(t, fake)
	if len(secret) != 43 {
		t.Fatalf("secret %q is not 32 random bytes in base64url", secret)
	}
	// What Gorgias calls: the sidebar route (another helper's) and the
	// ticket webhook, both with the secret.
	var urls []string
	for _, call := range fake.Calls() {
		if call.Method == "POST" && call.Path == "/api/integrations" {
			var in struct {
				HTTP struct {
					URL     string            `json:"url"`
					Method  string            `json:"method"`
					Headers map[string]string `json:"headers"`
				} `json:"http"`
			}
			_ = json.Unmarshal(call.Body, &in)
			if in.HTTP.Headers[helpdesk.SecretHeader] != secret {
				t.Errorf("integration %s sends %v", in.HTTP.URL, in.HTTP.Headers)
			}
			urls = append(urls, in.HTTP.Method+" "+in.HTTP.URL)
		}
	}
	want := []string{"GET https://doorstep.test/helpdesk/gorgias/customer?email={{ticket.customer.email}}",
		"POST https://doorstep.test/webhooks/gorgias/" + c.ID}
	if !slices.Equal(urls, want) {
		t.Fatalf("integrations call %q, want %q", urls, want)
	}

	items := e.hdList(tok)
	if len(items) != 1 || items[0].ID != c.ID || items[0].LastCallAt == nil || items[0].LastError != "" ||
		items[0].Resources["widget_id"] != got.Install.Created["widget_id"] {
		t.Fatalf("list = %+v", items)
	}
	if len(e.hdList(otherTok)) != 0 {
		t.Fatal("another shop lists this shop's helpdesk")
	}
	raw := e.callAdmin("GET", "/api/admin/helpdesks", tok)
	for _, s := range []string{secret, "gorgias-api-key-123"} {
		if strings.Contains(string(raw.body), s) {
			t.Fatalf("a credential or the secret is in the list: %s", raw.body)
		}
	}
	e.assertNowhereInClear(secret, "gorgias-api-key-123")

	// One active connection per kind.
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{
		"kind": "gorgias", "domain": fake.URL(), "email": "agent@acme.test", "api_key": "gorgias-api-key-123",
	}).isError(t, "second gorgias", http.StatusConflict, "helpdesk_connected")

	// Another shop's token cannot see, change or remove it.
	e.callAdminJSON("DELETE", "/api/admin/helpdesks/"+c.ID, otherTok, nil).isError(t, "delete with B's token", http.StatusNotFound, "not_found")
	e.callAdminJSON("PATCH", "/api/admin/helpdesks/"+c.ID, otherTok, map[string]any{"ticket_reasons": []string{}}).
		isError(t, "patch with B's token", http.StatusNotFound, "not_found")
	if n := len(fake.Resources("integrations")); n != 2 {
		t.Fatalf("B's delete removed integrations: %d left", n)
	}

	var del struct {
		ID             string `json:"id"`
		UninstallError string `json:"uninstall_error"`
	}
	e.callAdminJSON("DELETE", "/api/admin/helpdesks/"+c.ID, tok, nil).ok(t, "disconnect", &del)
	if del.ID != c.ID || del.UninstallError != "" {
		t.Fatalf("disconnect = %+v", del)
	}
	if n, w := len(fake.Resources("integrations")), len(fake.Resources("widgets")); n != 0 || w != 0 {
		t.Fatalf("after disconnect gorgias holds %d integrations, %d widgets", n, w)
	}
	if len(e.hdList(tok)) != 0 {
		t.Fatal("a disconnected helpdesk is listed")
	}
	e.callAdminJSON("DELETE", "/api/admin/helpdesks/"+c.ID, tok, nil).isError(t, "disconnect twice", http.StatusNotFound, "not_found")
	if a, d := e.audits(shop, auditHelpdeskConnect), e.audits(shop, auditHelpdeskDisconnect); len(a) != 1 || len(d) != 1 {
		t.Fatalf("audits: %d connect, %d disconnect", len(a), len(d))
	}
	// Connecting again after a disconnect is a new connection.
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{
		"kind": "gorgias", "domain": fake.URL(), "email": "agent@acme.test", "api_key": "gorgias-api-key-123",
	}).ok(t, "reconnect", &got)
	if got.Connection.ID == c.ID {
		t.Fatal("reconnecting reused the old connection")
	}
}

// A desk that refuses the installation leaves nothing connected: 502 with
// its error, what was created removed, nothing listed.
func TestHelpdeskAPI_Gorgias_InstallFails_502NothingHalfConnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "desk-fail.myshopify.com"
	e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)
	fake := helpdesktest.StartGorgias(t, "agent@acme.test", "key", "unused")
	fake.FailOn("POST", "/api/widgets", http.StatusInternalServerError)

	r := e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{
		"kind": "gorgias", "domain": fake.URL(), "email": "agent@acme.test", "api_key": "key"})
	r.isError(t, "install fails", http.StatusBadGateway, "helpdesk_error")
	if !strings.Contains(string(r.body), "500") {
		t.Errorf("the answer does not carry the desk's error: %s", r.body)
	}
	if n, w := len(fake.Resources("integrations")), len(fake.Resources("widgets")); n != 0 || w != 0 {
		t.Fatalf("gorgias keeps %d integrations, %d widgets", n, w)
	}
	if len(e.hdList(tok)) != 0 || e.count("helpdesk_connections", "disconnected_at IS NULL") != 0 {
		t.Fatal("a failed install left an active connection")
	}
	// Wrong credentials: refused the same way.
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{
		"kind": "gorgias", "domain": fake.URL(), "email": "agent@acme.test", "api_key": "wrong"}).
		isError(t, "wrong key", http.StatusBadGateway, "helpdesk_error")
	if e.count("helpdesk_connections", "disconnected_at IS NULL") != 0 {
		t.Fatal("wrong credentials left an active connection")
	}
}

// Zendesk and Freshdesk: nothing is created in the desk; the answer gives
// the sidebar package and its settings, the secret included, once.
func TestHelpdeskAPI_ZendeskFreshdesk_SettingsAndSecretOnlyInConnectAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "desk-settings.myshopify.com"
	e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)
	pemKey := rsaPublicPEM(t)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, pemKey) }))
	t.Cleanup(keys.Close)

	var zd hdConnected
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{
		"kind": "zendesk", "domain": "ACME.zendesk.com", "email": "agent@acme.test", "api_token": "zd-token-456",
		"public_key_url": keys.URL + "/key.pem",
	}).ok(t, "connect zendesk", &zd)
	zs := zd.Install.Settings
	if zd.Connection.Domain != "https://acme.zendesk.com" || zd.Install.Package != "extensions/zendesk" ||
		zs["doorstep_key"] == "" || zs["connection_id"] != zd.Connection.ID ||
		zs["webhook_url"] != "https://doorstep.test/webhooks/zendesk/"+zd.Connection.ID ||
		zs["sidebar_url"] != "https://doorstep.test/helpdesk/zendesk/sidebar" || !strings.Contains(zs["webhook_body"], "requester_email") {
		t.Fatalf("zendesk connect = %+v", zd)
	}
	if zd.Connection.WebhookSecretSet == nil || *zd.Connection.WebhookSecretSet {
		t.Fatalf("webhook_secret_set = %v, want false", zd.Connection.WebhookSecretSet)
	}
	var stored models.HelpdeskConnection
	if err := e.app.db.Take(&stored, "id = ?", zd.Connection.ID).Error; err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(stored.PublicKeyPEM) != strings.TrimSpace(pemKey) || stored.PublicKeyURL != keys.URL+"/key.pem" {
		t.Fatalf("stored key %q from %q", stored.PublicKeyPEM, stored.PublicKeyURL)
	}

	var fd hdConnected
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, map[string]string{
		"kind": "freshdesk", "domain": "acme.freshdesk.com", "api_key": "fd-key-789",
	}).ok(t, "connect freshdesk", &fd)
	fs := fd.Install.Settings
	if fd.Install.Package != "extensions/freshdesk" || fs["doorstep_key"] == "" || fs["doorstep_url"] != "https://doorstep.test" || fs["doorstep_host"] != "doorstep.test" ||
		fs["webhook_url"] != "https://doorstep.test/webhooks/freshdesk/"+fd.Connection.ID || fs["webhook_header"] != helpdesk.SecretHeader {
		t.Fatalf("freshdesk connect = %+v", fd)
	}
	if fs["doorstep_key"] == zs["doorstep_key"] {
		t.Fatal("two connections share a secret")
	}

	items := e.hdList(tok)
	raw := string(e.callAdmin("GET", "/api/admin/helpdesks", tok).body)
	if len(items) != 2 || strings.Contains(raw, zs["doorstep_key"]) || strings.Contains(raw, fs["doorstep_key"]) ||
		strings.Contains(raw, "zd-token-456") || strings.Contains(raw, "fd-key-789") {
		t.Fatalf("list shows a secret or a credential: %s", raw)
	}
	if items[1].Settings["webhook_url"] == "" || items[1].Settings["doorstep_key"] != "" {
		t.Fatalf("listed settings = %v", items[1].Settings)
	}
	e.assertNowhereInClear(zs["doorstep_key"], fs["doorstep_key"], "zd-token-456", "fd-key-789")

	// The Zendesk signing secret comes after connecting; reasons are chosen.
	var up hdConnection
	e.callAdminJSON("PATCH", "/api/admin/helpdesks/"+zd.Connection.ID, tok, map[string]any{
		"webhook_secret": "zd-signing-secret", "ticket_reasons": []string{"delay", "failed", "delay"},
	}).ok(t, "patch zendesk", &up)
	if up.WebhookSecretSet == nil || !*up.WebhookSecretSet || !slices.Equal(up.TicketReasons, []string{"delay", "failed"}) {
		t.Fatalf("patched = %+v", up)
	}
	e.assertNowhereInClear("zd-signing-secret")
	e.callAdminJSON("PATCH", "/api/admin/helpdesks/"+zd.Connection.ID, tok, map[string]any{"ticket_reasons": []string{}}).ok(t, "no reasons", &up)
	if len(up.TicketReasons) != 0 {
		t.Fatalf("reasons = %v, want none", up.TicketReasons)
	}
	e.callAdminJSON("PATCH", "/api/admin/helpdesks/"+zd.Connection.ID, tok, map[string]any{"ticket_reasons": []string{"weather"}}).
		isError(t, "unknown reason", http.StatusUnprocessableEntity, "invalid_helpdesk")
	e.callAdminJSON("PATCH", "/api/admin/helpdesks/"+fd.Connection.ID, tok, map[string]any{"webhook_secret": "x"}).
		isError(t, "webhook secret on freshdesk", http.StatusUnprocessableEntity, "invalid_helpdesk")
	e.callAdminJSON("PATCH", "/api/admin/helpdesks/nope", tok, map[string]any{}).isError(t, "bad id", http.StatusNotFound, "not_found")
}

// Each kind's required fields are checked before anything is stored.
func TestHelpdeskAPI_BadInput_422AndNoRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const dom = "desk-invalid.myshopify.com"
	e.installShop(dom)
	tok := e.fake.SessionToken(dom, time.Minute)
	pemKey := rsaPublicPEM(t)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/garbage":
			fmt.Fprint(w, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
		case "/huge":
			fmt.Fprint(w, strings.Repeat("A", 70<<10))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(keys.Close)
	zd := func(extra map[string]string) map[string]string {
		m := map[string]string{"kind": "zendesk", "domain": "acme.zendesk.com", "email": "a@acme.test", "api_token": "t"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		body map[string]string
		want string // in the message
	}{
		{"unknown kind", map[string]string{"kind": "kayako", "domain": "acme.kayako.com", "api_key": "k"}, "kind"},
		{"no kind", map[string]string{"domain": "acme.gorgias.com"}, "kind"},
		{"gorgias without key", map[string]string{"kind": "gorgias", "domain": "acme.gorgias.com", "email": "a@acme.test"}, "api_key"},
		{"gorgias without email", map[string]string{"kind": "gorgias", "domain": "acme.gorgias.com", "api_key": "k"}, "email"},
		{"gorgias bad email", map[string]string{"kind": "gorgias", "domain": "acme.gorgias.com", "email": "agent", "api_key": "k"}, "email"},
		{"domain with a path", map[string]string{"kind": "freshdesk", "domain": "https://acme.freshdesk.com/api", "api_key": "k"}, "domain"},
		{"domain empty", map[string]string{"kind": "freshdesk", "api_key": "k"}, "domain"},
		{"domain ftp", map[string]string{"kind": "freshdesk", "domain": "ftp://acme.test", "api_key": "k"}, "domain"},
		{"freshdesk without key", map[string]string{"kind": "freshdesk", "domain": "acme.freshdesk.com"}, "api_key"},
		{"zendesk without token", map[string]string{"kind": "zendesk", "domain": "acme.zendesk.com", "email": "a@acme.test", "public_key_pem": pemKey}, "api_token"},
		{"zendesk without key", zd(nil), "public_key"},
		{"zendesk both keys", zd(map[string]string{"public_key_pem": pemKey, "public_key_url": keys.URL + "/k"}), "not both"},
		{"zendesk bad pem", zd(map[string]string{"public_key_pem": "not a key"}), "public_key_pem"},
		{"zendesk key url 404", zd(map[string]string{"public_key_url": keys.URL + "/missing"}), "404"},
		{"zendesk key url garbage", zd(map[string]string{"public_key_url": keys.URL + "/garbage"}), "RSA"},
		{"zendesk key url too large", zd(map[string]string{"public_key_url": keys.URL + "/huge"}), "larger"},
		{"zendesk key url not http", zd(map[string]string{"public_key_url": "file:///etc/passwd"}), "public_key_url"},
		{"credential too long", map[string]string{"kind": "freshdesk", "domain": "acme.freshdesk.com", "api_key": strings.Repeat("k", 600)}, "api_key"},
	}
	for _, tt := range tests {
		r := e.callAdminJSON("POST", "/api/admin/helpdesks", tok, tt.body)
		r.isError(t, tt.name, http.StatusUnprocessableEntity, "invalid_helpdesk")
		if !strings.Contains(string(r.body), tt.want) {
			t.Errorf("%s: message %s does not name %q", tt.name, r.body, tt.want)
		}
	}
	e.callAdminJSON("POST", "/api/admin/helpdesks", tok, "{not json").isError(t, "bad json", http.StatusBadRequest, "bad_request")
	e.callAdminJSON("POST", "/api/admin/helpdesks", "", map[string]string{"kind": "freshdesk"}).isError(t, "no token", http.StatusUnauthorized, "unauthorized")
	if n := e.count("helpdesk_connections", ""); n != 0 {
		t.Fatalf("%d connection rows after bad input", n)
	}
}
