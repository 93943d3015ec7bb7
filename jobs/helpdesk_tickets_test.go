package jobs

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/doorstep/doorstep/integrations/helpdesk/helpdesktest"
	"github.com/doorstep/doorstep/jobs/links"
	"github.com/doorstep/doorstep/models"
)

// taskQueue stands in for asynq where a test runs the tasks itself: a
// task id is taken while its task is queued, as in Redis.
type taskQueue struct {
	mu    sync.Mutex
	ids   []string
	tasks map[string]*asynq.Task
}

func taskIDOf(opts []asynq.Option) string {
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			return o.Value().(string)
		}
	}
	return ""
}

func (q *taskQueue) EnqueueContext(_ context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := taskIDOf(opts)
	if _, taken := q.tasks[id]; taken {
		return nil, asynq.ErrTaskIDConflict
	}
	if q.tasks == nil {
		q.tasks = map[string]*asynq.Task{}
	}
	q.tasks[id] = t
	q.ids = append(q.ids, id)
	return &asynq.TaskInfo{ID: id}, nil
}

// drain takes every queued task, oldest first (as if Redis handed them
// out, or lost them).
func (q *taskQueue) drain() []*asynq.Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*asynq.Task
	for _, id := range q.ids {
		out = append(out, q.tasks[id])
	}
	q.ids, q.tasks = nil, nil
	return out
}

// ticketEnv is the flows' harness with a fake Gorgias connected and the
// ticket opener over a throwaway Redis.
type ticketEnv struct {
	*flowEnv
	desk   *helpdesktest.Fake
	conn   models.HelpdeskConnection
	q      *taskQueue
	lim    *Limiter
	opener *TicketOpener
}

func newTicketEnv(t *testing.T, reasons string) *ticketEnv {
	t.Helper()
	e := &ticketEnv{flowEnv: newFlowEnv(t, nil), q: &taskQueue{}}
	e.desk = helpdesktest.StartGorgias(t, "agent@acme.test", "api-key", "hook-secret")
	e.conn = models.HelpdeskConnection{ShopID: e.shop.ID, Kind: "gorgias", BaseURL: e.desk.URL(), Email: "agent@acme.test", TicketReasons: reasons}
	if err := e.store.CreateHelpdeskConnection(e.ctx, &e.conn, models.HelpdeskCredentials{APIKey: "api-key"}, "secret-"+t.Name()); err != nil {
		t.Fatal(err)
	}
	e.lim = testLimiter(t)
	signer, err := links.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	e.opener = NewTicketOpener(e.store, e.q, e.lim, TicketConfig{HTTPClient: e.desk.Client(), Signer: signer, AppURL: "https://doorstep.test"}, quiet)
	return e
}

// testLimiter is a limiter on the package's Redis with keys of its own
// (every test database numbers its connections from 1).
func testLimiter(t *testing.T) *Limiter {
	rc := redis.NewClient(&redis.Options{Addr: rdb.Addr})
	t.Cleanup(func() { rc.Close() })
	lim := NewLimiter(rc)
	lim.prefix = "test:" + t.Name() + ":"
	return lim
}

// shipOrder stores a paid order with one Colissimo package and a carrier
// event of status.
func (e *ticketEnv) shipOrder(id int64, status string) {
	e.t.Helper()
	e.deliver("orders/paid", testOrder{id: id, email: "ana@example.com", consent: true, financial: "paid", updated: e.clock()}.json())
	e.deliver("fulfillments/create", fulfillmentJSON(id*10, id, "6A"+strconv.FormatInt(id, 10), []int64{id*10 + 1}, e.clock()))
	if status != "" {
		e.deliver("fulfillment_events/create", eventJSON(id*10+5, id*10, id, status, e.clock()))
	}
}

func (e *ticketEnv) sweep() int {
	e.t.Helper()
	n, err := e.opener.Sweep(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// oneTask sweeps and returns the one task that must come of it.
func (e *ticketEnv) oneTask() *asynq.Task {
	e.t.Helper()
	if n := e.sweep(); n != 1 {
		e.t.Fatalf("sweep enqueued %d tasks, want 1", n)
	}
	tasks := e.q.drain()
	if len(tasks) != 1 {
		e.t.Fatalf("%d tasks queued, want 1", len(tasks))
	}
	return tasks[0]
}

func (e *ticketEnv) requests() []models.TicketRequest {
	e.t.Helper()
	rs, err := e.store.TicketRequestsOf(e.ctx, e.conn.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

func (e *ticketEnv) creates() int {
	n := 0
	for _, c := range e.desk.Calls() {
		if c.Method == http.MethodPost && c.Path == "/api/tickets" && c.Status == http.StatusCreated {
			n++
		}
	}
	return n
}

func (e *ticketEnv) raise(a models.Alert) models.Alert {
	e.t.Helper()
	err := e.store.InTx(e.ctx, func(tx *models.Tx) error {
		_, err := tx.RaiseAlert(&a)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// A delay opens exactly one ticket even when its task runs twice, at once
// or again later, and even when the run that opened it could not record
// it (the desk's dedup lookup finds it). The ticket row ties the order to
// the ticket, so it holds the order's review ask.
func TestHelpdeskTickets_DelayOpensExactlyOneTicket_EvenWhenTaskRunsTwice(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	const id = 301
	e.shipOrder(id, "attempted_delivery")
	task := e.oneTask()

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.opener.ProcessTask(e.ctx, task)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		var ra *RetryAfterError
		if err != nil && !errors.As(err, &ra) {
			t.Fatalf("concurrent run: %v", err)
		}
	}
	if err := e.opener.ProcessTask(e.ctx, task); err != nil {
		t.Fatalf("run again: %v", err)
	}

	tickets := e.desk.Tickets()
	if len(tickets) != 1 || e.creates() != 1 {
		t.Fatalf("desk has %d tickets from %d creates, want 1", len(tickets), e.creates())
	}
	tk := tickets[0]
	if tk.Subject != "Order #1301: delivery delayed" || tk.Email != "ana@example.com" || tk.ExternalID != "doorstep:301:delay" ||
		!strings.Contains(tk.Body, "the carrier attempted delivery") || !slices.Contains(tk.Tags, "doorstep-delay") {
		t.Fatalf("ticket = %+v", tk)
	}
	rs := e.requests()
	if len(rs) != 1 || rs[0].Status != models.TicketRequestCreated || rs[0].ExternalID != strconv.FormatInt(tk.ID, 10) || rs[0].Attempts != 1 {
		t.Fatalf("requests = %+v", rs)
	}
	rows := e.tickets()
	if len(rows) != 1 || rows[0].OrderPlatformID != id || rows[0].DedupKey != "doorstep:301:delay" || rows[0].Status != models.TicketOpen ||
		rows[0].CustomerEmail != "ana@example.com" {
		t.Fatalf("ticket rows = %+v", rows)
	}
	if open, err := e.store.OpenTicketForOrder(e.ctx, e.shop.ID, id); err != nil || !open {
		t.Fatalf("open ticket for the order: %v %v, want true (it holds the review ask)", open, err)
	}
	if c, _ := e.store.HelpdeskConnectionByID(e.ctx, e.conn.ID); c.LastCallAt == nil || c.LastError != "" {
		t.Fatalf("connection health: %+v", c)
	}

	// The package is now late too: the same order and reason, no new ticket.
	e.raise(models.Alert{ShopID: e.shop.ID, OrderPlatformID: id, Kind: "delay", Subject: "fulfillment:3010", Reason: "late"})
	if n := e.sweep(); n != 0 {
		t.Fatalf("a second delay alert enqueued %d tasks", n)
	}
	// The run that opened the ticket died before recording it: the next
	// one finds the ticket by its dedup key instead of opening another.
	if err := e.store.DB().Exec("UPDATE ticket_requests SET status = ?", models.TicketRequestPending).Error; err != nil {
		t.Fatal(err)
	}
	if err := e.opener.ProcessTask(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	if len(e.desk.Tickets()) != 1 || e.creates() != 1 || len(e.tickets()) != 1 {
		t.Fatalf("after a lost record: %d tickets, %d creates, %d rows", len(e.desk.Tickets()), e.creates(), len(e.tickets()))
	}
}

// Which reasons open tickets is the connection's setting.
func TestHelpdeskTickets_ReasonsSettingHonoured(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, models.TicketReasonFailed)
	e.shipOrder(311, "attempted_delivery")
	if n := e.sweep(); n != 0 || len(e.requests()) != 0 {
		t.Fatalf("a delay on a connection without \"delay\": %d tasks, %d requests", n, len(e.requests()))
	}
	e.shipOrder(312, "failure")
	if err := e.opener.ProcessTask(e.ctx, e.oneTask()); err != nil {
		t.Fatal(err)
	}
	if ts := e.desk.Tickets(); len(ts) != 1 || ts[0].Subject != "Order #1312: delivery failed" ||
		!strings.Contains(ts[0].Body, "the carrier reported a failed delivery") {
		t.Fatalf("tickets = %+v", ts)
	}
	// Turning "failed" off stops a request not yet sent.
	e.shipOrder(313, "failure")
	task := e.oneTask()
	if err := e.store.SetHelpdeskTicketReasons(e.ctx, e.shop.ID, e.conn.ID, []string{models.TicketReasonReport}); err != nil {
		t.Fatal(err)
	}
	if err := e.opener.ProcessTask(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	if rs := e.requests(); rs[1].Status != models.TicketRequestFailed || len(e.desk.Tickets()) != 1 {
		t.Fatalf("after turning the reason off: %+v", rs)
	}
}

// A 429 from the desk sends the task back after the desk's Retry-After
// (not counted as a failure); the next run opens the one ticket.
func TestHelpdeskTickets_RateLimitedRetriedAfterRetryAfter(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	e.shipOrder(321, "attempted_delivery")
	task := e.oneTask()
	e.desk.FailNext(http.StatusTooManyRequests, "7")

	err := e.opener.ProcessTask(e.ctx, task)
	var ra *RetryAfterError
	if !errors.As(err, &ra) {
		t.Fatalf("err = %v, want a *RetryAfterError", err)
	}
	// Plus the second asynq's whole-second retry times may take off.
	if d := RetryDelay(3, err, task); d != 8*time.Second {
		t.Fatalf("retry delay %s, want the desk's Retry-After 7s + 1s", d)
	}
	if IsFailure(err) {
		t.Fatal("a rate limit counted as a failure")
	}
	if d := RetryDelay(1, errors.New("http 503"), task); d == 8*time.Second || d <= 0 {
		t.Fatalf("other errors take asynq's back-off, got %s", d)
	}
	rs := e.requests()
	if len(rs) != 1 || rs[0].Status != models.TicketRequestPending || rs[0].Attempts != 1 || !strings.Contains(rs[0].LastError, "rate limited") {
		t.Fatalf("requests after the 429 = %+v", rs)
	}
	if c, _ := e.store.HelpdeskConnectionByID(e.ctx, e.conn.ID); !strings.Contains(c.LastError, "rate limited") {
		t.Fatalf("connection health: %q", c.LastError)
	}
	if err := e.opener.ProcessTask(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	if len(e.desk.Tickets()) != 1 || e.requests()[0].Status != models.TicketRequestCreated {
		t.Fatalf("after the retry: %d tickets, %+v", len(e.desk.Tickets()), e.requests())
	}
}

// The same through a real asynq server configured with RetryDelay: the
// create comes no sooner than Retry-After after the 429.
func TestHelpdeskTickets_RateLimitedThroughAsynq(t *testing.T) {
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	if err := rdb.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	redisOpt := asynq.RedisClientOpt{Addr: rdb.Addr}
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	e.opener.q = client
	e.shipOrder(331, "attempted_delivery")
	e.desk.FailNext(http.StatusTooManyRequests, "1")
	if n := e.sweep(); n != 1 {
		t.Fatalf("sweep enqueued %d", n)
	}
	srv := asynq.NewServer(redisOpt, asynq.Config{Concurrency: 2, Queues: SendQueues(), LogLevel: asynq.FatalLevel,
		RetryDelayFunc: RetryDelay, IsFailure: IsFailure, DelayedTaskCheckInterval: 100 * time.Millisecond})
	mux := asynq.NewServeMux()
	RegisterHelpdesk(mux, e.opener)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	deadline := time.Now().Add(20 * time.Second)
	for e.requests()[0].Status != models.TicketRequestCreated {
		if time.Now().After(deadline) {
			t.Fatalf("no ticket: %+v, calls %+v", e.requests(), e.desk.Calls())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var limited, created time.Time
	for _, c := range e.desk.Calls() {
		switch {
		case c.Status == http.StatusTooManyRequests:
			limited = c.At
		case c.Method == http.MethodPost && c.Status == http.StatusCreated:
			created = c.At
		}
	}
	if limited.IsZero() || created.Sub(limited) < time.Second {
		t.Fatalf("429 at %s, created at %s: not after Retry-After", limited, created)
	}
	if len(e.desk.Tickets()) != 1 {
		t.Fatalf("%d tickets", len(e.desk.Tickets()))
	}
	insp := asynq.NewInspector(redisOpt)
	defer insp.Close()
	if info, err := insp.GetQueueInfo(QueueFlows); err != nil || info.Pending+info.Retry+info.Archived+info.Active != 0 {
		t.Fatalf("queue after: %+v, %v", info, err)
	}
}

// Refused credentials fail the request for good, with the reason, and
// nothing retries it.
func TestHelpdeskTickets_AuthErrorMarksRequestFailed(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	e.shipOrder(341, "failure")
	task := e.oneTask()
	e.desk.RevokeKey()
	if err := e.opener.ProcessTask(e.ctx, task); err != nil {
		t.Fatalf("err = %v, want nil (no retry)", err)
	}
	rs := e.requests()
	if len(rs) != 1 || rs[0].Status != models.TicketRequestFailed || !strings.Contains(rs[0].LastError, "unauthorized") || rs[0].Attempts != 1 {
		t.Fatalf("requests = %+v", rs)
	}
	if c, _ := e.store.HelpdeskConnectionByID(e.ctx, e.conn.ID); !strings.Contains(c.LastError, "unauthorized") {
		t.Fatalf("connection health: %q", c.LastError)
	}
	// Long after: a failed request is not swept again.
	e.store.DB().Exec("UPDATE ticket_requests SET updated_at = ?", time.Now().Add(-time.Hour))
	if n := e.sweep(); n != 0 {
		t.Fatalf("a failed request was enqueued again (%d)", n)
	}
}

// A disconnected desk is skipped without a call.
func TestHelpdeskTickets_DisconnectedSkipped(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	e.shipOrder(351, "failure")
	task := e.oneTask()
	if err := e.store.DisconnectHelpdesk(e.ctx, e.shop.ID, e.conn.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.opener.ProcessTask(e.ctx, task); err != nil {
		t.Fatal(err)
	}
	if rs := e.requests(); rs[0].Status != models.TicketRequestFailed || rs[0].LastError != "helpdesk disconnected" || len(e.desk.Calls()) != 0 {
		t.Fatalf("requests = %+v, calls %d", rs, len(e.desk.Calls()))
	}
}

// A shopper's report opens a ticket with their words, the package's
// tracking number and the links the agent needs.
func TestHelpdeskTickets_ShopperReportCarriesTheirWords(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	const id = 361
	e.shipOrder(id, "in_transit")
	a := e.raise(models.Alert{ShopID: e.shop.ID, OrderPlatformID: id, Kind: "shopper_report", Subject: strconv.Itoa(id), Reason: "damaged",
		Detail: "The box was crushed\nand the honey jar broke."})
	// Enqueued at once, without waiting for the sweep.
	if n, err := e.opener.OpenFor(e.ctx, a); err != nil || n != 1 {
		t.Fatalf("open for the alert: %d, %v", n, err)
	}
	if n := e.sweep(); n != 0 {
		t.Fatalf("the sweep enqueued %d more", n)
	}
	tasks := e.q.drain()
	if len(tasks) != 1 {
		t.Fatalf("%d tasks", len(tasks))
	}
	if err := e.opener.ProcessTask(e.ctx, tasks[0]); err != nil {
		t.Fatal(err)
	}
	ts := e.desk.Tickets()
	if len(ts) != 1 {
		t.Fatalf("%d tickets", len(ts))
	}
	for _, want := range []string{"Order #1361", "Colissimo 6A361: in transit", "https://colissimo.example/6A361",
		"reported on the tracking page", "damaged", "> The box was crushed\n> and the honey jar broke.",
		"Tracking page: https://doorstep.test/t/", "Shopify admin: https://flows.myshopify.com/admin/orders/361"} {
		if !strings.Contains(ts[0].Body, want) {
			t.Errorf("body lacks %q:\n%s", want, ts[0].Body)
		}
	}
	if ts[0].Subject != "Order #1361: problem reported by the customer" {
		t.Errorf("subject %q", ts[0].Subject)
	}
}

// A delivery rating of 1–2 with a comment opens a ticket; without one it
// opens none.
func TestHelpdeskTickets_LowDSATWithCommentOpensOne(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	e.shipOrder(371, "delivered")
	e.shipOrder(372, "delivered")
	for _, f := range []models.Feedback{
		{ShopID: e.shop.ID, OrderPlatformID: 371, Kind: models.FeedbackDelivery, Rating: 2, Comment: "Left at the wrong door, in the rain."},
		{ShopID: e.shop.ID, OrderPlatformID: 372, Kind: models.FeedbackDelivery, Rating: 1},
	} {
		if err := e.store.SaveFeedback(e.ctx, &f); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.opener.ProcessTask(e.ctx, e.oneTask()); err != nil {
		t.Fatal(err)
	}
	ts := e.desk.Tickets()
	if len(ts) != 1 || ts[0].Subject != "Order #1371: low delivery rating" ||
		!strings.Contains(ts[0].Body, "rated the delivery 2/5 and wrote:\n> Left at the wrong door, in the rain.") {
		t.Fatalf("tickets = %+v", ts)
	}
}

// Redis lost a queued task: the sweep hands the pending request over again.
func TestHelpdeskTickets_LostTaskEnqueuedAgain(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	e.shipOrder(381, "failure")
	e.oneTask() // and lost
	if n := e.sweep(); n != 0 {
		t.Fatalf("a fresh pending request was enqueued again (%d)", n)
	}
	e.store.DB().Exec("UPDATE ticket_requests SET updated_at = ?", time.Now().Add(-10*time.Minute))
	if err := e.opener.ProcessTask(e.ctx, e.oneTask()); err != nil {
		t.Fatal(err)
	}
	if len(e.desk.Tickets()) != 1 {
		t.Fatalf("%d tickets", len(e.desk.Tickets()))
	}
}

// The limiter spaces calls one interval apart across callers; a call
// whose slot is too far off is not reserved.
func TestLimiter_SpacesCallsAndDefersTheRest(t *testing.T) {
	t.Parallel()
	lim := testLimiter(t)
	ctx := context.Background()
	const interval, maxWait = 300 * time.Millisecond, 700 * time.Millisecond
	var waits []time.Duration
	deferred := 0
	for range 6 {
		wait, ok, err := lim.Reserve(ctx, "c1", interval, maxWait)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			deferred++
			if wait <= maxWait || wait > 3*interval {
				t.Errorf("deferred with wait %s, want just over %s", wait, maxWait)
			}
			continue
		}
		waits = append(waits, wait)
	}
	if len(waits) != 3 || deferred != 3 {
		t.Fatalf("reserved %v, deferred %d; want 3 and 3", waits, deferred)
	}
	for i, w := range waits {
		want := time.Duration(i) * interval
		if w < want-50*time.Millisecond || w > want {
			t.Errorf("slot %d in %s, want about %s", i, w, want)
		}
	}
	// Another connection has its own slots.
	if wait, ok, _ := lim.Reserve(ctx, "c2", interval, maxWait); !ok || wait != 0 {
		t.Fatalf("other key: %s %v", wait, ok)
	}
}

// Calls to one desk from concurrent tasks are spaced by its interval
// (Gorgias: 2/s); tasks whose slot is too far off come back later, and in
// the end every ticket is opened once.
func TestHelpdeskTickets_LimiterSpacesDeskCalls(t *testing.T) {
	t.Parallel()
	e := newTicketEnv(t, strings.Join(models.AllTicketReasons, ","))
	for id := int64(391); id <= 394; id++ {
		e.shipOrder(id, "failure")
	}
	if n := e.sweep(); n != 4 {
		t.Fatalf("sweep enqueued %d", n)
	}
	// Wait at most 1 s for a slot: the 4 lookups at once need 1.5 s.
	e.opener.cfg.MaxWait = time.Second
	tasks := e.q.drain()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var again []*asynq.Task
	for _, task := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.opener.ProcessTask(e.ctx, task)
			var ra *RetryAfterError
			switch {
			case errors.As(err, &ra):
				mu.Lock()
				again = append(again, task)
				mu.Unlock()
			case err != nil:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(again) == 0 {
		t.Fatal("no task was deferred")
	}
	for _, task := range again {
		for try := 0; ; try++ {
			err := e.opener.ProcessTask(e.ctx, task)
			var ra *RetryAfterError
			if errors.As(err, &ra) && try < 10 {
				time.Sleep(ra.After)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	calls := e.desk.Calls()
	slices.SortFunc(calls, func(a, b helpdesktest.Call) int { return a.At.Compare(b.At) })
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].At.Sub(calls[i-1].At); gap < 450*time.Millisecond {
			t.Errorf("calls %d and %d %s apart, want ≥ 500ms", i-1, i, gap)
		}
	}
	if len(e.desk.Tickets()) != 4 || e.creates() != 4 {
		t.Fatalf("%d tickets from %d creates, want 4", len(e.desk.Tickets()), e.creates())
	}
}

// The in-process Redis (no REDIS_URL) runs the limiter's script too.
func TestLimiter_Miniredis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	// Built as app.New would, from asynq's connection options.
	lim, err := NewRedisLimiter(asynq.RedisClientOpt{Addr: mr.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	ctx := context.Background()
	if wait, ok, err := lim.Reserve(ctx, "k", time.Second, 0); err != nil || !ok || wait != 0 {
		t.Fatalf("first: %s %v %v", wait, ok, err)
	}
	if wait, ok, err := lim.Reserve(ctx, "k", time.Second, 0); err != nil || ok || wait <= 0 || wait > time.Second {
		t.Fatalf("second: %s %v %v", wait, ok, err)
	}
}
