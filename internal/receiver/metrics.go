package receiver

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Publish failure reasons, the "reason" label of publish failures.
const (
	failNotConnected = "not_connected"
	failTimeout      = "timeout"
	failNoStream     = "no_stream"
	failOther        = "error"
)

type metrics struct {
	requests        map[outcome]prometheus.Counter
	publishFailures map[string]prometheus.Counter
	duration        prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seam_receiver_requests_total",
		Help: "Webhook requests by outcome: stored, duplicate (a retry already stored), quarantined, or why it was refused.",
	}, []string{"outcome"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seam_receiver_publish_failures_total",
		Help: "JetStream publishes that failed, so the webhook was answered 503, by reason.",
	}, []string{"reason"})
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "seam_receiver_request_duration_seconds",
		Help:    "Time from receiving a webhook request to answering it, including the JetStream ack.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	for _, c := range []prometheus.Collector{requests, failures, duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register receiver metrics: %w", err)
		}
	}
	// Resolve every label once, so every series exists from the start and
	// the request path does no label look-ups.
	m := &metrics{
		requests:        make(map[outcome]prometheus.Counter, len(allOutcomes)),
		publishFailures: make(map[string]prometheus.Counter, 4),
		duration:        duration,
	}
	for _, o := range allOutcomes {
		m.requests[o] = requests.WithLabelValues(string(o))
	}
	for _, r := range []string{failNotConnected, failTimeout, failNoStream, failOther} {
		m.publishFailures[r] = failures.WithLabelValues(r)
	}
	return m, nil
}
