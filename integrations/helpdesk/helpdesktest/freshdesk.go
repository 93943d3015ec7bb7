package helpdesktest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

// StartFreshdesk starts a fake Freshdesk API v2 for one account: Basic auth
// apiKey:X; GET /api/v2/tickets (filter ?email=, newest first), POST
// /api/v2/tickets, GET /api/v2/tickets/{id}. Its ticket webhooks are the
// automation-rule body Doorstep's install settings describe, with secret in
// helpdesk.SecretHeader.
func StartFreshdesk(t testing.TB, apiKey, secret string) *Fake {
	t.Helper()
	return start(t, helpdesk.Freshdesk, apiKey, "X", secret, func(f *Fake, mux *http.ServeMux) {
		mux.HandleFunc("GET /api/v2/tickets", f.freshdeskList)
		mux.HandleFunc("POST /api/v2/tickets", f.freshdeskCreate)
		mux.HandleFunc("GET /api/v2/tickets/{id}", f.freshdeskGet)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, map[string]any{"code": "invalid_url", "message": "not found"})
		})
	})
}

func freshdeskTicket(t StoredTicket) map[string]any {
	status, _ := strconv.Atoi(t.Status)
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	ts := t.UpdatedAt.Format(time.RFC3339)
	return map[string]any{
		"id": t.ID, "subject": t.Subject, "description": "<div>" + t.Body + "</div>", "description_text": t.Body,
		"status": status, "priority": 1, "source": 2, "requester_id": 9000 + t.ID, "tags": tags,
		"created_at": ts, "updated_at": ts,
	}
}

func (f *Fake) freshdeskList(w http.ResponseWriter, r *http.Request) {
	email := r.URL.Query().Get("email")
	found := f.findTickets(func(t StoredTicket) bool { return email == "" || strings.EqualFold(t.Email, email) })
	out := []any{}
	for i := len(found) - 1; i >= 0; i-- { // newest first
		out = append(out, freshdeskTicket(found[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) freshdeskGet(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	found := f.findTickets(func(t StoredTicket) bool { return t.ID == id })
	if len(found) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": "not_found", "message": "not found"})
		return
	}
	writeJSON(w, http.StatusOK, freshdeskTicket(found[0]))
}

func (f *Fake) freshdeskCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email       string   `json:"email"`
		Name        string   `json:"name"`
		Subject     string   `json:"subject"`
		Description string   `json:"description"`
		Status      int      `json:"status"`
		Priority    int      `json:"priority"`
		Tags        []string `json:"tags"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": "invalid_json", "message": err.Error()})
		return
	}
	var errs []any
	for field, ok := range map[string]bool{
		"email": in.Email != "", "subject": in.Subject != "", "description": in.Description != "",
		"status": in.Status >= 2 && in.Status <= 5, "priority": in.Priority >= 1 && in.Priority <= 4,
	} {
		if !ok {
			errs = append(errs, map[string]any{"field": field, "message": "It should be present and valid", "code": "invalid_value"})
		}
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"description": "Validation failed", "errors": errs})
		return
	}
	st := f.store(StoredTicket{Email: in.Email, Name: in.Name, Subject: in.Subject, Body: in.Description,
		Status: strconv.Itoa(in.Status), Tags: in.Tags})
	writeJSON(w, http.StatusCreated, freshdeskTicket(st))
}

func freshdeskWebhook(f *Fake, t StoredTicket, secret string) (http.Header, []byte) {
	names := map[string]string{"2": "Open", "3": "Pending", "4": "Resolved", "5": "Closed"}
	body, _ := json.Marshal(map[string]any{"freshdesk_webhook": map[string]any{
		"ticket_id":            strconv.FormatInt(t.ID, 10),
		"ticket_subject":       t.Subject,
		"ticket_status":        names[t.Status],
		"ticket_contact_email": t.Email,
		"ticket_tags":          strings.Join(t.Tags, ","),
		"ticket_url":           f.URL() + "/a/tickets/" + strconv.FormatInt(t.ID, 10),
	}})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(helpdesk.SecretHeader, secret)
	return h, body
}
