package app

import (
	"net/http"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/doorstep/doorstep/jobs"
)

// Webhook outcomes, the outcome label of doorstep_webhook_deliveries_total.
const (
	outcomeAccepted     = "accepted"      // stored, 200
	outcomeDuplicate    = "duplicate"     // already stored, 200
	outcomeBadSignature = "bad_signature" // 401, nothing stored
	outcomeTooLarge     = "too_large"     // 413, nothing stored
	outcomeBadRequest   = "bad_request"   // 400: unreadable body, missing headers
	outcomeUnavailable  = "unavailable"   // 503: the database did not answer in time
	outcomeError        = "error"         // 500: the database refused the row
)

// metrics are every Prometheus series Doorstep exports, on a registry of
// its own (no global default registry, nothing registered at init). The
// background side's series are defined in jobs.Metrics and registered here.
type metrics struct {
	reg *prometheus.Registry
	// deliveries counts webhook deliveries by topic and outcome. The topic
	// of a delivery that failed verification is untrusted, so it is kept
	// only if it is one Doorstep handles (else "unknown"): an attacker must
	// not be able to mint label values.
	deliveries *prometheus.CounterVec
	// ack is the webhook answer latency, by status code.
	ack *prometheus.HistogramVec
	// ledgerMismatches counts loyalty accounts whose cached balance
	// disagreed with their ledger at the hourly self-check (should stay 0).
	ledgerMismatches prometheus.Counter
	jobs             *jobs.Metrics
}

// newMetrics builds the registry: Doorstep's series, the Go runtime and
// process collectors, and asynq's queue collector reading through insp.
func newMetrics(insp *asynq.Inspector) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "doorstep", Name: "webhook_deliveries_total",
			Help: "Webhook deliveries by topic and outcome (accepted, duplicate, bad_signature, too_large, bad_request, unavailable, error).",
		}, []string{"topic", "outcome"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "doorstep", Name: "webhook_ack_seconds",
			Help:    "Time to answer a webhook, by HTTP status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
		}, []string{"code"}),
		ledgerMismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "doorstep", Name: "loyalty_ledger_mismatches_total",
			Help: "Loyalty accounts whose cached balance disagreed with their ledger at the hourly self-check.",
		}),
	}
	reg.MustRegister(m.deliveries, m.ack, m.ledgerMismatches,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		asynqmetrics.NewQueueMetricsCollector(insp))
	m.jobs = jobs.NewMetrics(reg)
	return m
}

// handler serves the registry. A collector that fails (Redis down for the
// queue collector) leaves its series out instead of failing the scrape.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// webhookTopic is the topic label: verified topics as they are, unverified
// ones only if Doorstep knows them.
func webhookTopic(topic string, verified bool) string {
	if topic == "" {
		return "none"
	}
	if verified || handledTopic(topic) {
		return topic
	}
	return "unknown"
}
