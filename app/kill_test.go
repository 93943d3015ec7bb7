package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"github.com/doorstep/doorstep/config"
	"github.com/doorstep/doorstep/integrations/notify/notifytest"
	"github.com/doorstep/doorstep/jobs"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

// The kill test runs the worker as a separate OS process —
// testdata/killworker, the real App in the worker role, built without the
// race detector — so SIGKILL really ends it wherever it is: between the
// provider's acceptance and the commit, inside a transaction, halfway
// through an SMTP DATA.
const (
	killEnvPrefix = "DOORSTEP_KILLTEST_" // the worker's configuration: DOORSTEP_KILLTEST_DATABASE_URL, …
	killReadyLine = "killtest: worker ready"
)

// buildKillWorker compiles the worker once per test run.
func buildKillWorker(t *testing.T) string {
	t.Helper()
	bin := t.TempDir() + "/killworker"
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/killworker").CombinedOutput()
	if err != nil {
		t.Fatalf("build the worker: %v\n%s", err, out)
	}
	return bin
}

// workerOutput collects a worker's stdout and stderr and tells when it is
// ready.
type workerOutput struct {
	mu    sync.Mutex
	b     bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (w *workerOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if bytes.Contains(w.b.Bytes(), []byte(killReadyLine)) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *workerOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

type killWorker struct {
	name  string
	cmd   *exec.Cmd
	out   *workerOutput
	stdin io.WriteCloser
	done  chan struct{} // closed when the process has been reaped
}

// startKillWorker starts a worker process and waits until it serves.
func startKillWorker(t *testing.T, bin, name string, env []string) *killWorker {
	t.Helper()
	w := &killWorker{name: name, out: &workerOutput{ready: make(chan struct{})}, done: make(chan struct{})}
	w.cmd = exec.Command(bin)
	w.cmd.Env = append(os.Environ(), env...)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start worker %s: %v", name, err)
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() { w.kill() })
	select {
	case <-w.out.ready:
	case <-w.done:
		t.Fatalf("worker %s exited before it was ready:\n%s", name, w.out)
	case <-time.After(30 * time.Second):
		w.kill()
		t.Fatalf("worker %s not ready after 30s:\n%s", name, w.out)
	}
	return w
}

// kill sends SIGKILL and waits for the process to be gone.
func (w *killWorker) kill() {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Kill()
	<-w.done
	_ = w.stdin.Close()
}

// killRound is what one round measured.
type killRound struct {
	killAfter   time.Duration
	sentAtKill  int64 // rows "sent" when the worker died
	claimedDead int64 // rows "sending" when the worker died: the interrupted claims
	copies      int   // emails at the sink
	duplicates  int   // copies beyond the first
	resent      int   // messages claimed twice (attempts ≥ 2)
	takeovers   int   // "left sending by a worker that died" in the second worker's log
	recovery    time.Duration
}

// The test: a worker SIGKILLed at a random point while sending
// 1,000 messages, 20 times. Every message reaches the SMTP server at least
// once; a copy beyond the first exists only for a message whose first claim
// died with its worker (attempts ≥ 2, "sending" twice on its timeline),
// i.e. a kill between the server's acceptance and the commit of "sent".
func TestMessages_WorkerKilledMidSend_AtLeastOnceWithRareDuplicates(t *testing.T) {
	// Parallel: its rounds mostly wait (worker start, claim takeover), so
	// the package's other tests run meanwhile; it has its own Redis.
	t.Parallel()
	rounds, perRound := 20, 1000
	if testing.Short() {
		rounds = 3
	}
	ctx := context.Background()
	seed := time.Now().UnixNano()
	if s := os.Getenv("DOORSTEP_KILLTEST_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	rng := mrand.New(mrand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d (DOORSTEP_KILLTEST_SEED=%d repeats the kill times)", seed, seed)

	bin := buildKillWorker(t)
	sink := notifytest.StartSMTP(t)
	redis := ownRedis(t) // workers of other tests must not take our tasks
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	dbURL := modelstest.URL(t)
	db, err := models.Open(ctx, config.Config{DatabaseURL: dbURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	cipher, err := models.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	store := models.NewStore(db, cipher)
	shop, err := store.SaveInstall(ctx, models.Shop{Platform: models.PlatformShopify, Domain: "killed.myshopify.com", Name: "Acme",
		Email: "shop@acme.test"}, models.Token{AccessToken: "shpat_killtest"})
	if err != nil {
		t.Fatal(err)
	}
	set := jobs.DefaultSettings()
	set.Quiet.EmailEnabled = false // any hour of the day
	if err := jobs.SaveSettings(ctx, store, shop.ID, set); err != nil {
		t.Fatal(err)
	}
	env := []string{
		killEnvPrefix + "DATABASE_URL=" + dbURL,
		killEnvPrefix + "REDIS_URL=" + redis.URL(),
		killEnvPrefix + "SMTP_URL=" + sink.URL(),
		killEnvPrefix + "SMTP_FROM=orders@doorstep.test",
		killEnvPrefix + "APP_URL=https://doorstep.test",
		killEnvPrefix + "DOORSTEP_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(key),
	}

	var (
		results  []killRound
		allIDs   []uint64
		seenMsgs int // sink messages counted by earlier rounds
		started  = time.Now()
	)
	for r := range rounds {
		ids := queueKillRound(t, store, shop, r, perRound)
		allIDs = append(allIDs, ids...)
		byMsgID := make(map[string]uint64, len(ids))
		for _, id := range ids {
			byMsgID["msg-"+strconv.FormatUint(id, 10)+"@doorstep"] = id
		}
		var res killRound
		res.killAfter = time.Duration(50+rng.IntN(1451)) * time.Millisecond

		// The kill lands while messages go out: counted from the first
		// one the SMTP server accepts (a fresh worker idles about a second
		// before its first task: asynq polls empty queues once a second).
		victim := startKillWorker(t, bin, fmt.Sprintf("%d-victim", r), env)
		waitFor(t, "the round's first email", 60*time.Second, func() bool { return sink.Count() > seenMsgs })
		time.Sleep(res.killAfter)
		victim.kill()
		res.sentAtKill = countIn(t, db, ids, models.MessageSent)
		res.claimedDead = countIn(t, db, ids, models.MessageSending)

		t0 := time.Now()
		finisher := startKillWorker(t, bin, fmt.Sprintf("%d-finisher", r), env)
		// A dead worker's claims are taken over after 8 s, the work it held
		// unclaimed as soon as the dispatcher re-hands it: a minute is plenty.
		deadline, diagnosed := t0.Add(time.Minute), false
		for countIn(t, db, ids, models.MessageSent) < int64(len(ids)) {
			if !diagnosed && time.Since(t0) > 15*time.Second {
				diagnosed = true // once a round: what is still waiting, and where
				logUnsent(t, db, ids, 3)
			}
			if time.Now().After(deadline) {
				dumpKillRound(t, db, ids, victim, finisher)
				t.Fatalf("round %d: not every message sent %s after the kill", r, time.Since(t0).Round(time.Millisecond))
			}
			time.Sleep(50 * time.Millisecond)
		}
		res.recovery = time.Since(t0)
		// Whatever the finisher was still doing is a no-op now (every row
		// is sent); let an SMTP DATA in flight land before counting.
		time.Sleep(200 * time.Millisecond)
		finisher.kill()
		res.takeovers = strings.Count(finisher.out.String(), "left sending by a worker that died")

		msgs := sink.Messages()[seenMsgs:]
		seenMsgs += len(msgs)
		copies := map[uint64]int{}
		for _, m := range msgs {
			id, ok := byMsgID[strings.Trim(m.MessageID, "<>")]
			if !ok {
				t.Errorf("round %d: the sink got Message-ID %q, not one of this round's", r, m.MessageID)
				continue
			}
			copies[id]++
		}
		rows, claims := killRoundRows(t, db, ids)
		for _, id := range ids {
			n, row := copies[id], rows[id]
			res.copies += n
			if row.Attempts >= 2 {
				res.resent++
			}
			switch {
			case n == 0:
				t.Errorf("round %d: message %d never reached the SMTP server (status %s, attempts %d)", r, id, row.Status, row.Attempts)
			case row.Status != models.MessageSent:
				t.Errorf("round %d: message %d is %s, want sent", r, id, row.Status)
			case n > 1 && (row.Attempts < 2 || claims[id] < 2):
				t.Errorf("round %d: message %d reached the server %d times but was claimed once (attempts %d, %d sending events): a duplicate outside the kill window",
					r, id, n, row.Attempts, claims[id])
			case n > claims[id]:
				t.Errorf("round %d: message %d reached the server %d times for %d claims", r, id, n, claims[id])
			}
			if n > 1 {
				res.duplicates += n - 1
			}
		}
		if int64(res.duplicates) > res.claimedDead {
			t.Errorf("round %d: %d duplicates but the killed worker held only %d claims", r, res.duplicates, res.claimedDead)
		}
		if t.Failed() {
			t.Logf("victim output:\n%s\nfinisher output:\n%s", tail(victim.out.String(), 8000), tail(finisher.out.String(), 8000))
			t.FailNow()
		}
		results = append(results, res)
		t.Logf("round %2d: kill after %4dms, %4d sent before, %2d claims cut, %2d re-sent, %d duplicates, %d takeovers, all sent %s after the kill",
			r+1, res.killAfter.Milliseconds(), res.sentAtKill, res.claimedDead, res.resent, res.duplicates, res.takeovers,
			res.recovery.Round(10*time.Millisecond))
	}

	var total, dups, cut, resent int
	for _, res := range results {
		total += res.copies
		dups += res.duplicates
		cut += int(res.claimedDead)
		resent += res.resent
	}
	msgs := rounds * perRound
	var lat struct{ P50, P99 float64 }
	if err := db.Raw(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - sending_at)) AS p50,
		percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - sending_at)) AS p99
		FROM messages WHERE id IN ? AND attempts = 1`, allIDs).Scan(&lat).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rounds × %d messages in %s: %d emails at the server for %d messages; %d claims cut by kills (all re-sent: %d messages claimed twice); "+
		"%d duplicates = %.2f per kill, %.3f%% of messages, %.0f%% of cut claims; claim → sent committed: p50 %.1f ms, p99 %.1f ms",
		rounds, perRound, time.Since(started).Round(time.Second), total, msgs, cut, resent,
		dups, float64(dups)/float64(rounds), 100*float64(dups)/float64(msgs), 100*float64(dups)/float64(max(cut, 1)), lat.P50*1000, lat.P99*1000)
	t.Log("| round | kill after 1st email | sent before kill | claims cut | re-sent | duplicates | takeovers logged | all sent after kill |")
	t.Log("|---|---|---|---|---|---|---|---|")
	for i, res := range results {
		t.Logf("| %d | %d ms | %d | %d | %d | %d | %d | %s |", i+1, res.killAfter.Milliseconds(), res.sentAtKill, res.claimedDead,
			res.resent, res.duplicates, res.takeovers, res.recovery.Round(100*time.Millisecond))
	}
}

// queueKillRound writes n paid orders and one thank-you each, due now, and
// returns the message ids.
func queueKillRound(t *testing.T, store *models.Store, shop models.Shop, round, n int) []uint64 {
	t.Helper()
	now := time.Now().UTC()
	ids := make([]uint64, 0, n)
	err := store.InTx(context.Background(), func(tx *models.Tx) error {
		for i := range n {
			pid := int64(8_100_000_000_000_000 + round*100_000 + i)
			num := int64(round*100_000 + i + 1)
			o := &models.Order{PlatformID: pid, Name: fmt.Sprintf("#%d", num), Number: num,
				Email: fmt.Sprintf("shopper%d.%d@example.com", round, i), Currency: "EUR", FinancialStatus: "paid",
				Subtotal: decimal.NewFromInt(40), Total: decimal.NewFromInt(45), TotalShipping: decimal.NewFromInt(5),
				PlatformCreatedAt: now.Add(-time.Hour), PlatformUpdatedAt: now.Add(-time.Hour)}
			if _, _, err := tx.UpsertOrder(shop.ID, o); err != nil {
				return err
			}
			if err := tx.UpsertLineItems(shop.ID, o.ID, []models.LineItem{{PlatformID: pid - 1_000_000_000_000_000, ProductID: 9001, Title: "Mug",
				Quantity: 1, Price: decimal.NewFromInt(40)}}); err != nil {
				return err
			}
			m := models.Message{ShopID: shop.ID, OrderPlatformID: pid, Flow: jobs.FlowThankYou, Channel: "email",
				Recipient: o.Email, DueAt: now}
			if created, err := tx.QueueMessage(&m); err != nil || !created {
				return fmt.Errorf("queue message for order %d: created %v: %w", pid, created, err)
			}
			ids = append(ids, m.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// countIn counts the messages among ids with a status.
func countIn(t *testing.T, db *gorm.DB, ids []uint64, status string) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&models.Message{}).Where("id IN ? AND status = ?", ids, status).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// killRoundRows reads the round's message rows and how often each was
// claimed ("sending" on its timeline).
func killRoundRows(t *testing.T, db *gorm.DB, ids []uint64) (map[uint64]models.Message, map[uint64]int) {
	t.Helper()
	var ms []models.Message
	if err := db.Where("id IN ?", ids).Find(&ms).Error; err != nil {
		t.Fatal(err)
	}
	rows := make(map[uint64]models.Message, len(ms))
	for _, m := range ms {
		rows[m.ID] = m
	}
	var counts []struct {
		MessageID uint64
		N         int
	}
	if err := db.Model(&models.MessageEvent{}).Select("message_id, count(*) AS n").
		Where("message_id IN ? AND status = ?", ids, models.MessageSending).Group("message_id").Scan(&counts).Error; err != nil {
		t.Fatal(err)
	}
	claims := make(map[uint64]int, len(counts))
	for _, c := range counts {
		claims[c.MessageID] = c.N
	}
	return rows, claims
}

// logUnsent logs where a round's unsent messages are.
func logUnsent(t *testing.T, db *gorm.DB, ids []uint64, limit int) {
	t.Helper()
	var stuck []models.Message
	if err := db.Where("id IN ? AND status <> ?", ids, models.MessageSent).Order("id").Find(&stuck).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages unsent, %s:", len(stuck), time.Now().UTC().Format("15:04:05.000"))
	for _, m := range stuck[:min(limit, len(stuck))] {
		t.Logf("unsent message %d: status %s reason %q attempts %d due %s dispatched %v sending %v",
			m.ID, m.Status, m.Reason, m.Attempts, m.DueAt.Format(time.RFC3339Nano), fmtTime(m.DispatchedAt), fmtTime(m.SendingAt))
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format("15:04:05.000")
}

// dumpKillRound logs where a round's unsent messages are stuck.
func dumpKillRound(t *testing.T, db *gorm.DB, ids []uint64, victim, finisher *killWorker) {
	t.Helper()
	logUnsent(t, db, ids, 20)
	t.Logf("victim output:\n%s\nfinisher output:\n%s", tail(victim.out.String(), 8000), tail(finisher.out.String(), 8000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
