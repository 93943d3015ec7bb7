// Package helpdesktest holds httptest fakes of the Gorgias, Zendesk and
// Freshdesk REST APIs (the calls Doorstep makes: tickets, and for Gorgias
// HTTP integrations and widgets) and Conformance, the test every
// helpdesk.Desk passes.
//
// The fakes check Basic auth the way each desk expects it (401 otherwise),
// store the tickets they create so dedup can be counted, record every call,
// throttle at a configurable rate (429 + Retry-After), fail on request, and
// sign ticket webhooks as the desk would.
package helpdesktest

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/helpdesk"
)

// GorgiasRateLimit is Gorgias's documented REST limit, requests per second.
const GorgiasRateLimit = 2

// Call is one request a fake received (before auth was checked).
type Call struct {
	Method string
	Path   string
	Query  url.Values
	Body   []byte
	Status int       // what the fake answered
	At     time.Time // when it arrived (the fake's clock)
}

// StoredTicket is a ticket held by a fake, in the desk's own terms.
type StoredTicket struct {
	ID         int64
	Email      string
	Name       string
	Subject    string
	Body       string
	Status     string // the desk's native status ("open", "new", "2")
	ExternalID string // Gorgias, Zendesk
	Tags       []string
	UpdatedAt  time.Time
}

type failure struct {
	status       int
	retryAfter   string
	method, path string // empty: any request
}

// Fake is an httptest server standing in for one helpdesk account. Safe
// for concurrent use; closed when the test ends.
type Fake struct {
	kind   helpdesk.Kind
	srv    *httptest.Server
	secret string // what webhooks are signed / authenticated with

	mu          sync.Mutex
	user, pass  string
	limit       int
	windowStart time.Time
	windowCount int
	fails       []failure
	calls       []Call
	tickets     []StoredTicket
	nextID      int64
	resources   map[string]map[int64]json.RawMessage // Gorgias: "integrations", "widgets"
	now         func() time.Time
}

func start(t testing.TB, kind helpdesk.Kind, user, pass, secret string, routes func(*Fake, *http.ServeMux)) *Fake {
	t.Helper()
	f := &Fake{
		kind: kind, user: user, pass: pass, secret: secret,
		nextID:    1000,
		resources: map[string]map[int64]json.RawMessage{},
		now:       time.Now,
	}
	mux := http.NewServeMux()
	routes(f, mux)
	f.srv = httptest.NewServer(f.middleware(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// Kind is the helpdesk this fake imitates.
func (f *Fake) Kind() helpdesk.Kind { return f.kind }

// URL is the base URL to use as the connection's domain.
func (f *Fake) URL() string { return f.srv.URL }

// Client is an *http.Client for the fake.
func (f *Fake) Client() *http.Client { return f.srv.Client() }

// Secret is what the fake signs (Zendesk) or authenticates (Gorgias,
// Freshdesk) its webhooks with.
func (f *Fake) Secret() string { return f.secret }

// Timestamped reports whether this desk's webhooks carry a signed
// timestamp (so stale deliveries can be refused).
func (f *Fake) Timestamped() bool { return f.kind == helpdesk.Zendesk }

// SetRateLimit makes the fake answer 429 with Retry-After once more than
// perSecond requests arrive within one second; 0 turns the limit off (the
// default, so tests that are not about throttling stay deterministic).
func (f *Fake) SetRateLimit(perSecond int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit, f.windowCount = perSecond, 0
}

// FailNext makes the next authenticated request answer status, with
// Retry-After: retryAfter when it is not empty.
func (f *Fake) FailNext(status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, failure{status: status, retryAfter: retryAfter})
}

// FailOn makes the next authenticated request for method and path (e.g.
// "POST", "/api/widgets") answer status; other requests pass.
func (f *Fake) FailOn(method, path string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, failure{status: status, method: method, path: path})
}

// RevokeKey makes the fake refuse the credentials it was started with, as
// when a merchant regenerates their API key; restore undoes it.
func (f *Fake) RevokeKey() (restore func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Freshdesk's key is the Basic user (the password is always "X").
	p := &f.pass
	if f.kind == helpdesk.Freshdesk {
		p = &f.user
	}
	old := *p
	*p = old + "-revoked"
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		*p = old
	}
}

// Calls returns a copy of every request received, oldest first.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Tickets returns a copy of the stored tickets, oldest first.
func (f *Fake) Tickets() []StoredTicket {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]StoredTicket, len(f.tickets))
	for i, t := range f.tickets {
		t.Tags = slices.Clone(t.Tags)
		out[i] = t
	}
	return out
}

// SetTicketStatus changes a stored ticket's native status, as an agent would.
func (f *Fake) SetTicketStatus(id int64, status string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.tickets {
		if f.tickets[i].ID == id {
			f.tickets[i].Status = status
			f.tickets[i].UpdatedAt = f.now().UTC()
			return true
		}
	}
	return false
}

// CloseTicket marks a stored ticket closed in the desk's own terms
// (Gorgias "closed", Zendesk "solved", Freshdesk 4 Resolved).
func (f *Fake) CloseTicket(id int64) bool {
	closed := map[helpdesk.Kind]string{helpdesk.Gorgias: "closed", helpdesk.Zendesk: "solved", helpdesk.Freshdesk: "4"}
	return f.SetTicketStatus(id, closed[f.kind])
}

// Resources returns the ids of objects of a kind ("integrations",
// "widgets") currently stored.
func (f *Fake) Resources(kind string) []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int64
	for id := range f.resources[kind] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Webhook returns the headers and body the desk would send for ticket id
// at the given time, authenticated with secret (pass Secret() for a genuine
// delivery, anything else for a forged one).
func (f *Fake) Webhook(id int64, secret string, at time.Time) (http.Header, []byte) {
	f.mu.Lock()
	var tk StoredTicket
	for _, t := range f.tickets {
		if t.ID == id {
			tk = t
		}
	}
	f.mu.Unlock()
	switch f.kind {
	case helpdesk.Gorgias:
		return gorgiasWebhook(f, tk, secret)
	case helpdesk.Zendesk:
		return zendeskWebhook(f, tk, secret, at)
	default:
		return freshdeskWebhook(f, tk, secret)
	}
}

func (f *Fake) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		f.mu.Lock()
		at := f.now()
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.calls = append(f.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, Status: rec.status, At: at})
			f.mu.Unlock()
		}()

		f.mu.Lock()
		// Throttling comes first, as at the desks' edges: a flood of bad
		// credentials is limited too.
		now := f.now()
		if f.limit > 0 {
			if now.Sub(f.windowStart) >= time.Second {
				f.windowStart, f.windowCount = now, 0
			}
			f.windowCount++
			if f.windowCount > f.limit {
				wait := time.Second - now.Sub(f.windowStart)
				f.mu.Unlock()
				rec.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				writeJSON(rec, http.StatusTooManyRequests, f.errorBody("Too Many Requests"))
				return
			}
		}
		user, pass, ok := r.BasicAuth()
		if !ok || user != f.user || pass != f.pass {
			f.mu.Unlock()
			writeJSON(rec, http.StatusUnauthorized, f.errorBody("Couldn't authenticate you"))
			return
		}
		var fail *failure
		for i, fl := range f.fails {
			if fl.method == "" || (fl.method == r.Method && fl.path == r.URL.Path) {
				fail = &fl
				f.fails = slices.Delete(f.fails, i, i+1)
				break
			}
		}
		f.mu.Unlock()
		if fail != nil {
			if fail.retryAfter != "" {
				rec.Header().Set("Retry-After", fail.retryAfter)
			}
			writeJSON(rec, fail.status, f.errorBody(http.StatusText(fail.status)))
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// errorBody is the desk's error JSON, near enough: the clients only read
// the status code.
func (f *Fake) errorBody(msg string) any {
	switch f.kind {
	case helpdesk.Zendesk:
		return map[string]any{"error": msg}
	case helpdesk.Freshdesk:
		return map[string]any{"code": "error", "message": msg}
	default:
		return map[string]any{"error": map[string]any{"msg": msg}}
	}
}

func (f *Fake) store(t StoredTicket) StoredTicket {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	t.ID = f.nextID
	t.UpdatedAt = f.now().UTC()
	f.tickets = append(f.tickets, t)
	return t
}

func (f *Fake) findTickets(match func(StoredTicket) bool) []StoredTicket {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []StoredTicket
	for _, t := range f.tickets {
		if match(t) {
			out = append(out, t)
		}
	}
	return out
}

func (f *Fake) addResource(kind string, build func(id int64) any) (int64, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := f.nextID
	v := build(id)
	raw, _ := json.Marshal(v)
	if f.resources[kind] == nil {
		f.resources[kind] = map[int64]json.RawMessage{}
	}
	f.resources[kind][id] = raw
	return id, v
}

func (f *Fake) deleteResource(kind string, id int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.resources[kind][id]; !ok {
		return false
	}
	delete(f.resources[kind], id)
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}
