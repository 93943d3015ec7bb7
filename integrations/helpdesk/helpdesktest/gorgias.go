package helpdesktest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

// StartGorgias starts a fake Gorgias REST API for one account: Basic auth
// email:apiKey; GET/POST /api/tickets (filter ?external_id=), GET
// /api/tickets/{id}; POST /api/integrations and /api/widgets, DELETE
// /api/integrations/{id} and /api/widgets/{id}. Its ticket webhooks carry
// secret in helpdesk.SecretHeader, as the HTTP integration Doorstep
// creates would send it.
func StartGorgias(t testing.TB, email, apiKey, secret string) *Fake {
	t.Helper()
	return start(t, helpdesk.Gorgias, email, apiKey, secret, func(f *Fake, mux *http.ServeMux) {
		mux.HandleFunc("GET /api/tickets", f.gorgiasList)
		mux.HandleFunc("POST /api/tickets", f.gorgiasCreate)
		mux.HandleFunc("GET /api/tickets/{id}", f.gorgiasGet)
		mux.HandleFunc("POST /api/integrations", f.gorgiasCreateResource("integrations"))
		mux.HandleFunc("POST /api/widgets", f.gorgiasCreateResource("widgets"))
		mux.HandleFunc("DELETE /api/integrations/{id}", f.gorgiasDeleteResource("integrations"))
		mux.HandleFunc("DELETE /api/widgets/{id}", f.gorgiasDeleteResource("widgets"))
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, f.errorBody("Not found"))
		})
	})
}

func gorgiasTicket(t StoredTicket) map[string]any {
	tags := []map[string]any{}
	for _, tag := range t.Tags {
		tags = append(tags, map[string]any{"name": tag})
	}
	ts := t.UpdatedAt.Format("2006-01-02T15:04:05.000000-07:00")
	return map[string]any{
		"id": t.ID, "uri": "/api/tickets/" + strconv.FormatInt(t.ID, 10) + "/",
		"external_id": nullable(t.ExternalID), "status": t.Status, "subject": t.Subject,
		"channel": "api", "via": "api", "created_datetime": ts, "updated_datetime": ts,
		"customer": map[string]any{"email": t.Email, "name": nullable(t.Name)},
		"tags":     tags,
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (f *Fake) gorgiasList(w http.ResponseWriter, r *http.Request) {
	ext := r.URL.Query().Get("external_id")
	found := f.findTickets(func(t StoredTicket) bool { return ext == "" || t.ExternalID == ext })
	data := []any{}
	for _, t := range found {
		data = append(data, gorgiasTicket(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "meta": map[string]any{"next_cursor": nil, "prev_cursor": nil}})
}

func (f *Fake) gorgiasGet(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	found := f.findTickets(func(t StoredTicket) bool { return t.ID == id })
	if len(found) == 0 {
		writeJSON(w, http.StatusNotFound, f.errorBody("Not found"))
		return
	}
	writeJSON(w, http.StatusOK, gorgiasTicket(found[0]))
}

func (f *Fake) gorgiasCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Customer struct {
			Email string `json:"email"`
			Name  string `json:"name"`
		} `json:"customer"`
		Subject    string `json:"subject"`
		ExternalID string `json:"external_id"`
		Status     string `json:"status"`
		Tags       []struct {
			Name string `json:"name"`
		} `json:"tags"`
		Messages []struct {
			Channel  string `json:"channel"`
			Via      string `json:"via"`
			BodyText string `json:"body_text"`
			Sender   struct {
				Email string `json:"email"`
			} `json:"sender"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, f.errorBody("invalid JSON: "+err.Error()))
		return
	}
	if len(in.Messages) == 0 || in.Messages[0].Channel == "" || in.Messages[0].Via == "" {
		writeJSON(w, http.StatusBadRequest, f.errorBody("messages: a first message with channel and via is required"))
		return
	}
	email := in.Customer.Email
	if email == "" {
		email = in.Messages[0].Sender.Email
	}
	if email == "" {
		writeJSON(w, http.StatusBadRequest, f.errorBody("customer: email is required"))
		return
	}
	st := StoredTicket{Email: email, Name: in.Customer.Name, Subject: in.Subject, Body: in.Messages[0].BodyText,
		Status: "open", ExternalID: in.ExternalID}
	if in.Status != "" {
		st.Status = in.Status
	}
	for _, t := range in.Tags {
		st.Tags = append(st.Tags, t.Name)
	}
	writeJSON(w, http.StatusCreated, gorgiasTicket(f.store(st)))
}

func (f *Fake) gorgiasCreateResource(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, f.errorBody("invalid JSON"))
			return
		}
		switch kind {
		case "integrations":
			h, _ := in["http"].(map[string]any)
			if in["type"] != "http" || in["name"] == nil || h == nil || h["url"] == nil {
				writeJSON(w, http.StatusBadRequest, f.errorBody("an http integration needs name, type and http.url"))
				return
			}
		case "widgets":
			iid, _ := in["integration_id"].(float64)
			if in["context"] == nil || in["template"] == nil || !f.hasResource("integrations", int64(iid)) {
				writeJSON(w, http.StatusBadRequest, f.errorBody("a widget needs context, template and an existing integration_id"))
				return
			}
		}
		_, v := f.addResource(kind, func(id int64) any {
			in["id"] = id
			in["created_datetime"] = time.Now().UTC().Format(time.RFC3339)
			return in
		})
		writeJSON(w, http.StatusCreated, v)
	}
}

func (f *Fake) gorgiasDeleteResource(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if !f.deleteResource(kind, id) {
			writeJSON(w, http.StatusNotFound, f.errorBody("Not found"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *Fake) hasResource(kind string, id int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.resources[kind][id]
	return ok
}

func gorgiasWebhook(_ *Fake, t StoredTicket, secret string) (http.Header, []byte) {
	body, _ := json.Marshal(gorgiasTicket(t))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(helpdesk.SecretHeader, secret)
	return h, body
}
