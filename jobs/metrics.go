package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorstep/doorstep/models"
)

// Task results, the result label of doorstep_task_results_total.
const (
	ResultOK      = "ok"
	ResultError   = "error"   // failed; asynq retries it
	ResultSkipped = "skipped" // failed for good (asynq.SkipRetry): no retry
)

// Metrics are the background side's Prometheus series. Build them once
// with NewMetrics on the app's registry and pass them by constructor
// (DispatcherConfig.Metrics, TaskMiddleware); a nil *Metrics records
// nothing.
type Metrics struct {
	// DispatchLag: how long work waited in the database before its first
	// hand-over to asynq (work = delivery | trigger; a trigger counts from
	// when it became due).
	DispatchLag *prometheus.HistogramVec
	// TaskResults counts finished task runs by type and result.
	TaskResults *prometheus.CounterVec
	// TaskDuration: how long one run of a task took, by type.
	TaskDuration *prometheus.HistogramVec
	// SubscriptionsRecreated counts webhook subscriptions found missing
	// (Shopify deletes them after failed deliveries) and created again.
	SubscriptionsRecreated *prometheus.CounterVec
	// ReconcileRepaired counts orders reconcile found newer at the platform
	// than in the database: changes whose webhook never came.
	ReconcileRepaired prometheus.Counter
	// MessageDecisions counts messages reaching a state (sent, failed,
	// suppressed, deferred, retried) by flow and channel.
	MessageDecisions *prometheus.CounterVec
	// MessageSendSeconds: how long the provider took to accept a message.
	MessageSendSeconds *prometheus.HistogramVec
}

// NewMetrics creates the series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		DispatchLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "doorstep", Name: "dispatch_lag_seconds",
			Help:    "Time from a delivery's receipt (or a trigger's due time) to its first hand-over to the queue.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"work"}),
		TaskResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "doorstep", Name: "task_results_total",
			Help: "Task runs by type and result (ok, error: will retry, skipped: failed for good).",
		}, []string{"type", "result"}),
		TaskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "doorstep", Name: "task_duration_seconds",
			Help:    "Duration of one task run, by type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"type"}),
	}
	m.SubscriptionsRecreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "doorstep", Name: "webhook_subscriptions_recreated_total",
		Help: "Webhook subscriptions found missing at the platform and created again, by topic.",
	}, []string{"topic"})
	m.ReconcileRepaired = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "doorstep", Name: "reconcile_orders_repaired_total",
		Help: "Orders reconcile found newer at the platform than stored (a webhook was missed).",
	})
	m.MessageDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "doorstep", Name: "messages_total",
		Help: "Messages reaching a state, by flow, channel and state (sent, failed, suppressed, deferred, retry).",
	}, []string{"flow", "channel", "state"})
	m.MessageSendSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "doorstep", Name: "message_send_seconds",
		Help:    "Time the provider took to accept a message, by channel.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
	}, []string{"channel"})
	reg.MustRegister(m.DispatchLag, m.TaskResults, m.TaskDuration, m.SubscriptionsRecreated, m.ReconcileRepaired,
		m.MessageDecisions, m.MessageSendSeconds)
	return m
}

func (m *Metrics) observeMessage(flow, channel, state string) {
	if m == nil {
		return
	}
	m.MessageDecisions.WithLabelValues(flow, channel, state).Inc()
}

func (m *Metrics) observeSend(channel string, took time.Duration) {
	if m == nil {
		return
	}
	m.MessageSendSeconds.WithLabelValues(channel).Observe(took.Seconds())
}

// TaskMiddleware logs and measures every task run (mux.Use): one log line
// per failure (warn) or success (debug) with task_type and task_id, the
// result counter and the duration histogram. m may be nil.
func TaskMiddleware(log *slog.Logger, m *Metrics) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
			start := time.Now()
			id, _ := asynq.GetTaskID(ctx)
			defer func() {
				if p := recover(); p != nil {
					// asynq turns the panic into a retried error; count it so.
					err = fmt.Errorf("panic: %v", p)
					m.observeTask(t.Type(), ResultError, time.Since(start))
					log.Error("task panicked", "task_type", t.Type(), "task_id", id, "err", err)
					panic(p)
				}
			}()
			err = next.ProcessTask(ctx, t)
			took := time.Since(start)
			switch {
			case err == nil:
				m.observeTask(t.Type(), ResultOK, took)
				log.Debug("task done", "task_type", t.Type(), "task_id", id, "ms", took.Milliseconds())
			case errors.Is(err, asynq.SkipRetry):
				m.observeTask(t.Type(), ResultSkipped, took)
				log.Warn("task failed for good", "task_type", t.Type(), "task_id", id, "ms", took.Milliseconds(), "err", err)
			default:
				m.observeTask(t.Type(), ResultError, took)
				retried, _ := asynq.GetRetryCount(ctx)
				maxRetry, _ := asynq.GetMaxRetry(ctx)
				log.Warn("task failed", "task_type", t.Type(), "task_id", id, "retried", retried, "max_retry", maxRetry,
					"ms", took.Milliseconds(), "err", err)
			}
			return err
		})
	}
}

func (m *Metrics) observeTask(typ, result string, took time.Duration) {
	if m == nil {
		return
	}
	m.TaskResults.WithLabelValues(typ, result).Inc()
	m.TaskDuration.WithLabelValues(typ).Observe(took.Seconds())
}

// observeDeliveryLag records the dispatch lag of deliveries dispatched for
// the first time (a re-dispatch is not a new lag).
func (m *Metrics) observeDeliveryLag(ds []models.PendingDelivery, now time.Time) {
	if m == nil {
		return
	}
	h := m.DispatchLag.WithLabelValues("delivery")
	for _, d := range ds {
		if d.DispatchedAt == nil {
			h.Observe(nonNegative(now.Sub(d.ReceivedAt)).Seconds())
		}
	}
}

// observeTriggerLag records the lag of triggers dispatched for the first
// time, counted from when they became due (or were written, if later).
func (m *Metrics) observeTriggerLag(ts []models.Trigger, n int, now time.Time) {
	if m == nil {
		return
	}
	h := m.DispatchLag.WithLabelValues("trigger")
	for _, t := range ts[:n] {
		if t.DispatchedAt != nil {
			continue
		}
		from := t.DueAt
		if t.CreatedAt.After(from) {
			from = t.CreatedAt
		}
		h.Observe(nonNegative(now.Sub(from)).Seconds())
	}
}

func nonNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
