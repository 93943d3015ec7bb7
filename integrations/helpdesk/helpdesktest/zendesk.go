package helpdesktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

// StartZendesk starts a fake Zendesk Support API for one account: Basic
// auth "email/token":apiToken; GET /api/v2/tickets.json (filter
// ?external_id=), POST /api/v2/tickets.json, GET /api/v2/tickets/{id}.json.
// Its ticket webhooks are event-subscription deliveries signed with
// signingSecret (X-Zendesk-Webhook-Signature and -Timestamp).
func StartZendesk(t testing.TB, email, apiToken, signingSecret string) *Fake {
	t.Helper()
	return start(t, helpdesk.Zendesk, email+"/token", apiToken, signingSecret, func(f *Fake, mux *http.ServeMux) {
		mux.HandleFunc("GET /api/v2/tickets.json", f.zendeskList)
		mux.HandleFunc("POST /api/v2/tickets.json", f.zendeskCreate)
		mux.HandleFunc("GET /api/v2/tickets/{file}", f.zendeskGet)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "InvalidEndpoint", "description": "Not found"})
		})
	})
}

func (f *Fake) zendeskTicket(t StoredTicket) map[string]any {
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	ts := t.UpdatedAt.Format(time.RFC3339)
	return map[string]any{
		"id": t.ID, "url": f.URL() + "/api/v2/tickets/" + strconv.FormatInt(t.ID, 10) + ".json",
		"external_id": nullable(t.ExternalID), "subject": t.Subject, "raw_subject": t.Subject,
		"description": t.Body, "status": t.Status, "requester_id": 9000 + t.ID, "tags": tags,
		"created_at": ts, "updated_at": ts,
	}
}

func (f *Fake) zendeskList(w http.ResponseWriter, r *http.Request) {
	ext := r.URL.Query().Get("external_id")
	found := f.findTickets(func(t StoredTicket) bool { return ext == "" || t.ExternalID == ext })
	out := []any{}
	for _, t := range found {
		out = append(out, f.zendeskTicket(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tickets": out, "next_page": nil, "previous_page": nil, "count": len(out)})
}

func (f *Fake) zendeskGet(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(strings.TrimSuffix(r.PathValue("file"), ".json"), 10, 64)
	found := f.findTickets(func(t StoredTicket) bool { return t.ID == id })
	if err != nil || len(found) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "RecordNotFound", "description": "Not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ticket": f.zendeskTicket(found[0])})
}

func (f *Fake) zendeskCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Ticket struct {
			Subject    string   `json:"subject"`
			ExternalID string   `json:"external_id"`
			Tags       []string `json:"tags"`
			Comment    struct {
				Body string `json:"body"`
			} `json:"comment"`
			Requester struct {
				Email string `json:"email"`
				Name  string `json:"name"`
			} `json:"requester"`
		} `json:"ticket"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Unprocessable Entity", "description": err.Error()})
		return
	}
	tk := in.Ticket
	if tk.Comment.Body == "" || tk.Requester.Email == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error": "RecordInvalid", "description": "Record validation errors",
			"details": map[string]any{"base": []any{map[string]any{"description": "comment body and requester are required"}}},
		})
		return
	}
	st := f.store(StoredTicket{Email: tk.Requester.Email, Name: tk.Requester.Name, Subject: tk.Subject,
		Body: tk.Comment.Body, Status: "new", ExternalID: tk.ExternalID, Tags: tk.Tags})
	writeJSON(w, http.StatusCreated, map[string]any{"ticket": f.zendeskTicket(st)})
}

// ZendeskSignature is base64(HMAC-SHA256(secret, timestamp + body)),
// written independently of the zendesk package so each checks the other.
func ZendeskSignature(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func zendeskWebhook(f *Fake, t StoredTicket, secret string, at time.Time) (http.Header, []byte) {
	id := strconv.FormatInt(t.ID, 10)
	body, _ := json.Marshal(map[string]any{
		"type":                  "zen:event-type:ticket.status_changed",
		"account_id":            12345,
		"id":                    "01HZZZ" + id,
		"subject":               "zen:ticket:" + id,
		"time":                  at.UTC().Format(time.RFC3339),
		"zendesk_event_version": "2022-11-06",
		"event":                 map[string]any{"current": strings.ToUpper(t.Status)},
		"detail": map[string]any{
			"id": id, "subject": t.Subject, "status": strings.ToUpper(t.Status),
			"requester_id": strconv.FormatInt(9000+t.ID, 10), "external_id": nullable(t.ExternalID),
			"tags": t.Tags, "updated_at": t.UpdatedAt.Format(time.RFC3339),
			"created_at": t.UpdatedAt.Format(time.RFC3339),
		},
	})
	ts := at.UTC().Format(time.RFC3339)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Zendesk-Webhook-Signature-Timestamp", ts)
	h.Set("X-Zendesk-Webhook-Signature", ZendeskSignature(secret, ts, body))
	h.Set("X-Zendesk-Webhook-Id", "01HWEBHOOK")
	return h, body
}
