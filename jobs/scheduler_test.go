package jobs

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/doorstep/doorstep/jobs/jobstest"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func TestWindow_AlignedAndStable(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 10, 17, 42, 0, time.UTC)
	if got := Window(at, 10*time.Minute); !got.Equal(time.Date(2026, 11, 22, 10, 10, 0, 0, time.UTC)) {
		t.Fatalf("window = %v", got)
	}
	if got := Window(at.Add(2*time.Minute), 10*time.Minute); !got.Equal(Window(at, 10*time.Minute)) {
		t.Fatalf("two times in one window differ: %v", got)
	}
	if got := Window(at, time.Hour); !got.Equal(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("hour window = %v", got)
	}
}

// Several schedulers (one per worker) ticking many times enqueue each
// shop's reconcile and subscription check once per window, and start one
// backfill for a shop that has none.
func TestScheduler_SeveralSchedulers_OneTaskPerShopPerWindow(t *testing.T) {
	t.Parallel()
	redis, err := jobstest.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close()
	s := modelstest.Store(t)
	a := installShop(t, s, "a.myshopify.com")
	installShop(t, s, "b.myshopify.com")
	opt := asynq.RedisClientOpt{Addr: redis.Addr}
	var schedulers []*Scheduler
	for range 3 {
		c := asynq.NewClient(opt)
		defer c.Close()
		b := NewBackfiller(s, newFakeSource(0, time.Now()), staticTokens("tok"), c, BackfillConfig{}, quiet)
		schedulers = append(schedulers, NewScheduler(s, c, b, SchedulerConfig{}, quiet))
	}
	var wg sync.WaitGroup
	for _, sc := range schedulers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := sc.TickOnce(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(QueueSync, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]int{}
	for _, tk := range tasks {
		byType[tk.Type]++
	}
	if byType[TypeReconcile] != 2 || byType[TypeSubscriptionsCheck] != 2 || byType[TypeBackfill] != 2 {
		t.Fatalf("pending tasks by type = %v; want 2 of each (one per shop)", byType)
	}
	st, err := s.SyncState(context.Background(), a.ID)
	if err != nil || st.State != models.SyncRunning || st.Run != 1 {
		t.Fatalf("backfill of a shop with none = %+v, %v; want run 1 running", st, err)
	}
	for _, tk := range tasks {
		if tk.Type == TypeReconcile && !strings.HasPrefix(tk.ID, "reconcile:") {
			t.Fatalf("reconcile task id %q", tk.ID)
		}
	}
}

type fakeWebhooks struct {
	mu      sync.Mutex
	subs    []WebhookSubscription
	created []string
}

func (f *fakeWebhooks) WebhookSubscriptions(context.Context, string, string) ([]WebhookSubscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]WebhookSubscription(nil), f.subs...), nil
}

func (f *fakeWebhooks) RegisterWebhooks(_ context.Context, _, _, url string, topics []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range topics {
		f.subs = append(f.subs, WebhookSubscription{Topic: t, URI: url})
		f.created = append(f.created, t)
	}
	return nil
}

func TestSubscriptions_MissingTopicRecreatedAndCounted(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	shop := installShop(t, s, "subs.myshopify.com")
	const url = "https://doorstep.test/webhooks/shopify"
	api := &fakeWebhooks{subs: []WebhookSubscription{
		{Topic: "ORDERS_CREATE", URI: url},
		{Topic: "ORDERS_UPDATED", URI: "https://someone-else.test/hook"}, // another app's URL does not count
	}}
	m := NewMetrics(prometheus.NewRegistry())
	c := NewSubscriptionChecker(s, api, staticTokens("tok"), url, []string{"orders/create", "orders/updated", "app/uninstalled"}, m, quiet)
	got, err := c.Check(context.Background(), shop)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "orders/updated,app/uninstalled" || strings.Join(api.created, ",") != "orders/updated,app/uninstalled" {
		t.Fatalf("recreated %v (created %v)", got, api.created)
	}
	var pm dto.Metric
	if err := m.SubscriptionsRecreated.WithLabelValues("orders/updated").Write(&pm); err != nil {
		t.Fatal(err)
	}
	if v := pm.GetCounter().GetValue(); v != 1 {
		t.Fatalf("counter = %v, want 1", v)
	}
	// Healthy now: a second check creates nothing.
	if got, err := c.Check(context.Background(), shop); err != nil || len(got) != 0 {
		t.Fatalf("second check = %v, %v", got, err)
	}
}
