package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/shopify"
)

const simTestSecret = "sim-test-secret"

// simRecorder plays the intake: it verifies each request like the real
// one and parses it with the real parser.
type simRecorder struct {
	t      *testing.T
	client *shopify.Client
	status int // what to answer; 0 → 200

	mu   sync.Mutex
	reqs []simSeen
}

func (rec *simRecorder) seen() []simSeen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]simSeen(nil), rec.reqs...)
}

type simSeen struct {
	topic, event, hook string
	body               []byte
	events             []commerce.Event
}

func newSimRecorder(t *testing.T) *simRecorder {
	return &simRecorder{t: t, client: shopify.New(shopify.Config{APISecret: simTestSecret})}
}

func (rec *simRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rec.t.Errorf("read body: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/webhooks/shopify" {
		rec.t.Errorf("request %s %s, want POST /webhooks/shopify", r.Method, r.URL.Path)
	}
	meta, err := rec.client.VerifyWebhook(r.Header, body)
	if err != nil {
		rec.t.Errorf("VerifyWebhook(%s): %v", r.Header.Get("X-Shopify-Topic"), err)
		http.Error(w, "unverified", http.StatusUnauthorized)
		return
	}
	if meta.ShopDomain != "sim-test.myshopify.com" {
		rec.t.Errorf("shop domain %q", meta.ShopDomain)
	}
	for _, h := range []string{"X-Shopify-Webhook-Id", "X-Shopify-API-Version", "X-Shopify-Triggered-At"} {
		if r.Header.Get(h) == "" {
			rec.t.Errorf("%s %s: header %s missing", meta.Topic, meta.EventID, h)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Header.Get("X-Shopify-Triggered-At")); err != nil {
		rec.t.Errorf("X-Shopify-Triggered-At: %v", err)
	}
	evs, err := rec.client.ParseWebhook(meta.Topic, body)
	if err != nil {
		rec.t.Errorf("ParseWebhook(%s): %v\n%s", meta.Topic, err, body)
		http.Error(w, "unparsable", http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, simSeen{topic: meta.Topic, event: meta.EventID, hook: meta.WebhookID, body: body, events: evs})
	rec.mu.Unlock()
	if rec.status != 0 {
		w.WriteHeader(rec.status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func runSim(t *testing.T, rec *simRecorder, orders int, seed int64) (*Simulator, string) {
	t.Helper()
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	var out lockedBuf
	s := NewSimulator(SimulatorConfig{URL: srv.URL + "/webhooks/shopify", Shop: "sim-test.myshopify.com",
		Secret: simTestSecret, Orders: orders, Step: time.Millisecond, Out: &out, Seed: seed, HTTPClient: srv.Client()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return s, out.String()
}

func TestSimulatorSendsVerifiableParsableScripts(t *testing.T) {
	rec := newSimRecorder(t)
	const orders = 27 // three blocks: every kind at least three times
	s, out := runSim(t, rec, orders, 42)

	kinds := map[string]int{}
	for _, o := range s.orders {
		kinds[o.kind]++
	}
	for _, k := range simKindOrder {
		if kinds[k] == 0 {
			t.Errorf("no %s order among %d: %v", k, orders, kinds)
		}
	}
	if kinds[simHappy] <= orders/2 {
		t.Errorf("happy orders %d of %d: want a majority", kinds[simHappy], orders)
	}
	if s.orders[0].kind != simHappy {
		t.Errorf("first order is %s, want happy", s.orders[0].kind)
	}

	// Event ids: unique, except deliberate re-sends, which repeat a request exactly.
	wantDups := s.countSteps(func(st *simStep) bool { return st.dupOf != nil })
	if wantDups == 0 {
		t.Fatal("the plan re-sends nothing: dedup is not shown")
	}
	reqs := rec.seen()
	byEvent := map[string]simSeen{}
	dups := 0
	for _, r := range reqs {
		if first, ok := byEvent[r.event]; ok {
			dups++
			if first.topic != r.topic || first.hook != r.hook || !bytes.Equal(first.body, r.body) {
				t.Errorf("event id %s reused for a different delivery (%s vs %s)", r.event, first.topic, r.topic)
			}
			continue
		}
		byEvent[r.event] = r
	}
	if dups != wantDups {
		t.Errorf("%d repeated event ids, want the %d planned re-sends", dups, wantDups)
	}
	if want := s.countSteps(func(*simStep) bool { return true }); len(reqs) != want {
		t.Errorf("%d requests, want %d (one per step)", len(reqs), want)
	}

	// Replay what the intake would keep: newest order by updated_at, last
	// carrier status per fulfillment, refunds.
	type state struct {
		name        string
		updated     time.Time
		financial   string
		fulfillment string
		cancelled   bool
		created     map[int64]bool   // fulfillments/create seen
		scans       map[int64]string // fulfillment → last scan status
		refunds     map[int64]bool
	}
	states := map[int64]*state{}
	get := func(id int64) *state {
		if states[id] == nil {
			states[id] = &state{created: map[int64]bool{}, scans: map[int64]string{}, refunds: map[int64]bool{}}
		}
		return states[id]
	}
	fulfillmentOrder := map[int64]int64{}
	stale := 0
	applied := map[string]bool{}
	for _, r := range reqs {
		if applied[r.event] {
			continue // a re-send: the intake dedups it
		}
		applied[r.event] = true
		if len(r.events) != 1 {
			t.Fatalf("%s parsed into %d events", r.topic, len(r.events))
		}
		ev := r.events[0]
		switch ev.Kind {
		case commerce.EventOrder:
			o := ev.Order
			if o.PlatformID <= 1<<53 {
				t.Errorf("order id %d does not exercise int64", o.PlatformID)
			}
			st := get(o.PlatformID)
			if !o.PlatformUpdatedAt.After(st.updated) {
				stale++ // the intake would drop it (newer-wins)
				continue
			}
			st.name, st.updated, st.financial, st.fulfillment, st.cancelled = o.Name, o.PlatformUpdatedAt, o.FinancialStatus, o.FulfillmentStatus, o.Cancelled()
			if len(o.LineItems) == 0 || o.Total.IsZero() && len(o.Refunds) == 0 || o.Currency != "USD" || o.Email == "" || o.Customer == nil {
				t.Errorf("%s %s: thin order payload: %+v", r.topic, o.Name, o)
			}
			for _, f := range o.Fulfillments {
				if f.OrderPlatformID != o.PlatformID {
					t.Errorf("nested fulfillment %d has order %d", f.PlatformID, f.OrderPlatformID)
				}
			}
			for _, rf := range o.Refunds {
				st.refunds[rf.PlatformID] = true
			}
		case commerce.EventFulfillment:
			f := ev.Fulfillment
			fulfillmentOrder[f.PlatformID] = f.OrderPlatformID
			get(f.OrderPlatformID).created[f.PlatformID] = true
			if f.TrackingCompany == "" || f.TrackingNumber == "" || f.TrackingURL == "" || f.ShipmentStatus != "confirmed" || len(f.LineItems) == 0 {
				t.Errorf("fulfillments/create %d: %+v", f.PlatformID, f)
			}
		case commerce.EventFulfillmentEvent:
			fe := ev.FulfillmentEvent
			oid, ok := fulfillmentOrder[fe.FulfillmentPlatformID]
			if !ok {
				t.Errorf("carrier event %d before its fulfillment %d", fe.PlatformID, fe.FulfillmentPlatformID)
				continue
			}
			if fe.OrderPlatformID != oid || fe.City == "" || fe.HappenedAt.IsZero() {
				t.Errorf("carrier event %+v", fe)
			}
			if fe.Status == "in_transit" && fe.EstimatedDeliveryAt == nil {
				t.Errorf("in_transit event %d without estimated_delivery_at", fe.PlatformID)
			}
			get(oid).scans[fe.FulfillmentPlatformID] = fe.Status
		case commerce.EventRefund:
			rf := ev.Refund
			if !rf.Amount.IsPositive() || len(rf.Lines) == 0 || rf.Currency != "USD" {
				t.Errorf("refund %+v", rf)
			}
			get(rf.OrderPlatformID).refunds[rf.PlatformID] = true
		default:
			t.Errorf("unexpected event kind %s from %s", ev.Kind, r.topic)
		}
	}
	if stale != 1 {
		t.Errorf("%d stale order updates, want exactly 1", stale)
	}

	for i, o := range s.orders {
		st := states[o.id]
		if st == nil {
			t.Errorf("%s: nothing received", o.name)
			continue
		}
		if want := "#" + strconv.Itoa(1001+i); o.name != want || st.name != want {
			t.Errorf("order %d named %q / %q, want %s", i, o.name, st.name, want)
		}
		if st.financial != o.wantFinancial || st.cancelled != o.wantCancelled {
			t.Errorf("%s (%s): ends %s cancelled=%v, want %s cancelled=%v", o.name, o.kind, st.financial, st.cancelled,
				o.wantFinancial, o.wantCancelled)
		}
		if len(st.created) != len(o.wantShipments) {
			t.Errorf("%s (%s): %d fulfillments created, want %d", o.name, o.kind, len(st.created), len(o.wantShipments))
		}
		var got []string
		for _, s := range st.scans {
			got = append(got, s)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(o.wantShipments, ",") {
			t.Errorf("%s (%s): shipments end %v, want %v", o.name, o.kind, got, o.wantShipments)
		}
		if len(o.wantShipments) > 0 && st.fulfillment != "fulfilled" {
			t.Errorf("%s (%s): fulfillment_status %q, want fulfilled", o.name, o.kind, st.fulfillment)
		}
		if len(st.refunds) != o.wantRefunds {
			t.Errorf("%s (%s): %d refunds, want %d", o.name, o.kind, len(st.refunds), o.wantRefunds)
		}
	}

	for _, want := range []string{"#1001  created · pending", "orders/paid", "→ 200", "Simulation finished", "re-sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestSimulatorSplitOrdersShipTwice(t *testing.T) {
	rec := newSimRecorder(t)
	s, _ := runSim(t, rec, 18, 7)
	splits := map[int64]bool{}
	for _, o := range s.orders {
		if o.kind == simSplit {
			splits[o.id] = true
		}
	}
	if len(splits) == 0 {
		t.Fatal("no split order planned")
	}
	lines := map[int64]map[int64]bool{} // order → line ids shipped
	creates := map[int64]map[int64]bool{}
	partial := map[int64]bool{}
	applied := map[string]bool{}
	for _, r := range rec.seen() {
		if applied[r.event] {
			continue // a re-send
		}
		applied[r.event] = true
		ev := r.events[0]
		switch {
		case r.topic == "fulfillments/create":
			f := ev.Fulfillment
			if creates[f.OrderPlatformID] == nil {
				creates[f.OrderPlatformID], lines[f.OrderPlatformID] = map[int64]bool{}, map[int64]bool{}
			}
			creates[f.OrderPlatformID][f.PlatformID] = true
			for _, l := range f.LineItems {
				if lines[f.OrderPlatformID][l.LineItemID] {
					t.Errorf("line %d shipped twice", l.LineItemID)
				}
				lines[f.OrderPlatformID][l.LineItemID] = true
			}
		case r.topic == "orders/partially_fulfilled":
			if ev.Order.FulfillmentStatus != "partial" {
				t.Errorf("orders/partially_fulfilled with fulfillment_status %q", ev.Order.FulfillmentStatus)
			}
			partial[ev.Order.PlatformID] = true
		}
	}
	for id := range splits {
		if len(creates[id]) != 2 {
			t.Errorf("split order %d: %d fulfillments, want 2", id, len(creates[id]))
		}
		if !partial[id] {
			t.Errorf("split order %d: no orders/partially_fulfilled", id)
		}
	}
	for id, c := range creates {
		if !splits[id] && len(c) != 1 {
			t.Errorf("order %d: %d fulfillments, want 1", id, len(c))
		}
	}
}

func TestSimulatorIsDeterministic(t *testing.T) {
	plan := func(seed int64) string {
		s := NewSimulator(SimulatorConfig{Orders: 15, Seed: seed, Step: time.Second})
		var b strings.Builder
		for _, o := range s.orders {
			b.WriteString(o.name + " " + o.kind + " " + o.start.String())
			for _, st := range o.steps {
				b.WriteString(" " + st.topic + "/" + st.event + "/" + st.delay.String())
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	if a, b := plan(1), plan(1); a != b {
		t.Errorf("same seed, different plans:\n%s\n%s", a, b)
	}
	if plan(1) == plan(2) {
		t.Error("different seeds, same plan")
	}
}

func TestSimulatorCountsFailuresAndGoesOn(t *testing.T) {
	rec := newSimRecorder(t)
	rec.status = http.StatusServiceUnavailable
	s, out := runSim(t, rec, 3, 3)
	steps := s.countSteps(func(*simStep) bool { return true })
	if s.stats.failed != steps || s.stats.ok != 0 {
		t.Errorf("stats %+v, want %d failed", s.stats, steps)
	}
	if !strings.Contains(out, "→ 503 Service Unavailable") || !strings.Contains(out, "did not") {
		t.Errorf("output:\n%s", out)
	}
}

func TestSimulatorStopsWithContext(t *testing.T) {
	rec := newSimRecorder(t)
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s := NewSimulator(SimulatorConfig{URL: srv.URL + "/webhooks/shopify", Shop: "sim-test.myshopify.com",
		Secret: simTestSecret, Orders: 5, Step: time.Hour, Seed: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Run(ctx); err == nil {
		t.Fatal("Run returned nil after the context ended")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Run took %s to stop", time.Since(start))
	}
	if reqs := rec.seen(); len(reqs) != 1 || reqs[0].topic != "orders/create" {
		t.Errorf("sent %d requests before the context ended, want the first orders/create", len(reqs))
	}
}
