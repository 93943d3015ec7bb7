package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/shopspring/decimal"

	"github.com/doorstep/doorstep/jobs/jobstest"
	"github.com/doorstep/doorstep/models"
	"github.com/doorstep/doorstep/models/modelstest"
)

func statsTask(t *testing.T, shopID uint64) *asynq.Task {
	t.Helper()
	b, err := json.Marshal(statsRollupPayload{ShopID: shopID})
	if err != nil {
		t.Fatal(err)
	}
	return asynq.NewTask(TypeStatsRollup, b)
}

func addOrder(t *testing.T, s *models.Store, shopID uint64, id int64, at time.Time) {
	t.Helper()
	if err := s.DB().Create(&models.Order{ShopID: shopID, PlatformID: id, PlatformCreatedAt: at, PlatformUpdatedAt: at}).Error; err != nil {
		t.Fatal(err)
	}
}

// The first rollup of a shop fills 90 days; later ones rewrite only the
// last two, so an order that appears in an older day waits (it is history
// a backfill brought in; the total counts it at once).
func TestStatsRollup_FirstRun90Days_Then2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "stats.myshopify.com")
	now := time.Date(2027, 1, 20, 15, 0, 0, 0, time.UTC)
	addOrder(t, s, shop.ID, 1, now.AddDate(0, 0, -80))
	addOrder(t, s, shop.ID, 2, now.Add(-time.Hour))
	r := NewStatsRoller(s, func() time.Time { return now }, quiet)

	if err := r.ProcessTask(ctx, statsTask(t, shop.ID)); err != nil {
		t.Fatal(err)
	}
	d, err := s.Dashboard(ctx, shop.ID, 90, now)
	if err != nil {
		t.Fatal(err)
	}
	if d.Orders.InWindow != 2 || d.Orders.Total != 2 || d.RolledUpAt.IsZero() {
		t.Fatalf("after the first rollup: %d in window, %d total, rolled up %s; want 2, 2, set", d.Orders.InWindow, d.Orders.Total, d.RolledUpAt)
	}

	addOrder(t, s, shop.ID, 3, now.AddDate(0, 0, -50))
	addOrder(t, s, shop.ID, 4, now.AddDate(0, 0, -1))
	addOrder(t, s, shop.ID, 5, now.Add(-time.Minute))
	days, err := r.Rollup(ctx, shop.ID)
	if err != nil || days != StatsPeriodicDays {
		t.Fatalf("second rollup: %d days, %v; want %d", days, err, StatsPeriodicDays)
	}
	d, err = s.Dashboard(ctx, shop.ID, 90, now)
	if err != nil {
		t.Fatal(err)
	}
	if d.Orders.InWindow != 4 || d.Orders.Total != 5 {
		t.Fatalf("after the second rollup: %d in window, %d total; want 4 (the order 50 days back waits) and 5", d.Orders.InWindow, d.Orders.Total)
	}
}

func TestStatsRollup_UnknownShop_NotRetried(t *testing.T) {
	t.Parallel()
	s := modelstest.Store(t)
	err := NewStatsRoller(s, nil, quiet).ProcessTask(context.Background(), statsTask(t, 12345))
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("err = %v; want not found and SkipRetry", err)
	}
	if err := NewStatsRoller(s, nil, quiet).ProcessTask(context.Background(), asynq.NewTask(TypeStatsRollup, []byte("{"))); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("bad payload: err = %v; want SkipRetry", err)
	}
}

func TestDashboards_LiabilityValuedByTheProgram(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.Store(t)
	shop := installShop(t, s, "liability.myshopify.com")
	for i, a := range []models.LoyaltyAccount{{Available: 300, Pending: 50}, {Debt: 100}} {
		a.ShopID, a.CustomerPlatformID, a.MaturedThrough = shop.ID, int64(i+1), time.Now()
		if err := s.DB().Create(&a).Error; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewStatsRoller(s, nil, quiet).Rollup(ctx, shop.ID); err != nil {
		t.Fatal(err)
	}
	d, err := NewDashboards(s).Dashboard(ctx, shop.ID, 30, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The default program: 100 points are worth 1.00.
	if d.Loyalty.OutstandingPoints != 250 || !d.Loyalty.Liability.Equal(decimal.RequireFromString("2.50")) {
		t.Fatalf("outstanding %d points worth %s; want 250 worth 2.50", d.Loyalty.OutstandingPoints, d.Loyalty.Liability)
	}
}

// Three schedulers ticking enqueue one rollup per shop per window, and the
// registered handler runs it.
func TestScheduler_StatsRollup_OncePerShopPerWindow(t *testing.T) {
	t.Parallel()
	redis, err := jobstest.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close()
	s := modelstest.Store(t)
	a := installShop(t, s, "stats-a.myshopify.com")
	installShop(t, s, "stats-b.myshopify.com")
	opt := asynq.RedisClientOpt{Addr: redis.Addr}
	c := asynq.NewClient(opt)
	defer c.Close()
	b := NewBackfiller(s, newFakeSource(0, time.Now()), staticTokens("tok"), c, BackfillConfig{}, quiet)
	for range 3 {
		sc := NewScheduler(s, c, b, SchedulerConfig{DisableReconcile: true, DisableSubscription: true, DisableDelayScan: true,
			DisableLoyaltyScan: true}, quiet)
		if err := sc.TickOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(QueueSync, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	var rollups []*asynq.TaskInfo
	for _, tk := range tasks {
		if tk.Type == TypeStatsRollup {
			rollups = append(rollups, tk)
		}
	}
	if len(rollups) != 2 {
		t.Fatalf("%d stats rollups pending; want 2 (one per shop)", len(rollups))
	}

	mux := asynq.NewServeMux()
	RegisterSync(mux, b, nil, nil)
	for _, tk := range rollups {
		if err := mux.ProcessTask(context.Background(), asynq.NewTask(tk.Type, tk.Payload)); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.StatState(context.Background(), a.ID); err != nil || st.RolledUpAt.IsZero() {
		t.Fatalf("shop a after its rollup: %+v, %v", st, err)
	}
}
