package worker

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "seamcards_worker_messages_seconds",
			Help:    "Messages handled by the worker, by consumer and outcome (ack, busy, later, retry, dropped), with handling time.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"consumer", "outcome"}),
	}
	reg.MustRegister(m.messages)
	return m
}

func (m *metrics) handled(consumer, outcome string, d time.Duration) {
	m.messages.WithLabelValues(consumer, outcome).Observe(d.Seconds())
}

// SeamObserver returns a seam client observer that counts Seam calls by
// endpoint and outcome (the HTTP status, or network_error) and times them.
func SeamObserver(reg prometheus.Registerer) func(endpoint string, status int, err error, d time.Duration) {
	calls := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "seamcards_seam_calls_seconds",
		Help:    "Seam API calls (each HTTP attempt) by endpoint and outcome, with their duration.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
	}, []string{"endpoint", "outcome"})
	reg.MustRegister(calls)
	return func(endpoint string, status int, err error, d time.Duration) {
		outcome := strconv.Itoa(status)
		if status == 0 {
			outcome = "network_error"
		}
		calls.WithLabelValues(endpoint, outcome).Observe(d.Seconds())
	}
}
