package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/integrations/commerce"
	"github.com/doorstep/doorstep/integrations/shopify"
	"github.com/doorstep/doorstep/jobs/jobstest"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

var rdb *jobstest.Redis

func TestMain(m *testing.M) {
	var err error
	rdb, err = jobstest.StartRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := modelstest.Main(m)
	rdb.Close()
	os.Exit(code)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newProcessor(t *testing.T) (*models.Store, *Processor) {
	s := modelstest.Store(t)
	p := NewProcessor(s, map[string]commerce.Webhooks{"shopify": shopify.New(shopify.Config{APISecret: "x"})}, quiet, nil)
	return s, p
}

func TestDeliveryProcess_PoisonPayloadsSkipRetry(t *testing.T) {
	t.Parallel()
	_, p := newProcessor(t)
	for name, payload := range map[string][]byte{
		"not json":         []byte("{"),
		"unknown delivery": []byte(`{"delivery_id": 999999}`),
	} {
		err := p.ProcessTask(context.Background(), asynq.NewTask(TypeDeliveryProcess, payload))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: err = %v, want SkipRetry", name, err)
		}
	}
}

func TestDeliveryProcess_UnknownShopIgnored(t *testing.T) {
	t.Parallel()
	s, p := newProcessor(t)
	d := &models.Delivery{Platform: "shopify", ShopDomain: "ghost.myshopify.com", Topic: "orders/create", EventID: "e1",
		Body: []byte(`{"id":1,"updated_at":"2026-11-01T00:00:00Z"}`)}
	if _, err := s.InsertDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	task, _ := NewDeliveryTask(d.ID, 0)
	if err := p.ProcessTask(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Delivery(context.Background(), d.ID)
	if got.Status != models.DeliveryIgnored || got.Error != "unknown shop" {
		t.Fatalf("delivery = %s %q, want ignored: unknown shop", got.Status, got.Error)
	}
}

// One end-to-end run through asynq.Client → asynq.Server → asynq.Inspector:
// a dispatched delivery is processed by a real server and leaves nothing
// behind in Redis.
func TestDispatcher_EndToEndThroughAsynq(t *testing.T) {
	s, p := newProcessor(t)
	ctx := context.Background()
	if err := rdb.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	shop, err := s.SaveInstall(ctx, models.Shop{Platform: "shopify", Domain: "e2e.myshopify.com"}, models.Token{AccessToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"id":77,"name":"#77","financial_status":"paid","currency":"EUR","total_price":"5.00","created_at":%q,"updated_at":%q,"line_items":[]}`,
		now.Format(time.RFC3339), now.Format(time.RFC3339))
	d := &models.Delivery{Platform: "shopify", ShopDomain: "e2e.myshopify.com", Topic: "orders/paid", EventID: "e2e", Body: []byte(body)}
	if _, err := s.InsertDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	redisOpt := asynq.RedisClientOpt{Addr: rdb.Addr}
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	disp := NewDispatcher(s, client, NewFlows(), DispatcherConfig{}, quiet)
	if n, err := disp.DispatchOnce(ctx); err != nil || n != 1 {
		t.Fatalf("dispatch: %d, %v", n, err)
	}
	// Dispatching again while it is queued is a no-op, not a second task.
	if err := s.DB().Exec("UPDATE deliveries SET dispatched_at = NULL").Error; err != nil {
		t.Fatal(err)
	}
	if _, err := disp.DispatchOnce(ctx); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(redisOpt)
	defer insp.Close()
	if info, err := insp.GetQueueInfo(QueueIntake); err != nil || info.Pending != 1 {
		t.Fatalf("queue before processing: %+v, %v (want 1 pending)", info, err)
	}
	srv := asynq.NewServer(redisOpt, asynq.Config{Concurrency: 2, Queues: map[string]int{QueueIntake: 6, QueueFlows: 3}, Logger: nil, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	Register(mux, p, NewTriggerRunner(s, NewFlows(), quiet), nil, nil)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := s.Delivery(ctx, d.ID)
		if got.Status == models.DeliveryProcessed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not processed: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o, err := s.Order(ctx, shop.ID, 77); err != nil || o.FinancialStatus != "paid" {
		t.Fatalf("order = %+v, %v", o, err)
	}
	info, err := insp.GetQueueInfo(QueueIntake)
	if err != nil || info.Pending+info.Retry+info.Archived+info.Active != 0 {
		t.Fatalf("queue after processing: %+v, %v", info, err)
	}
}
