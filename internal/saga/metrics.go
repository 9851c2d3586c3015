package saga

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the executor.
type Metrics struct {
	states *prometheus.CounterVec
	steps  *prometheus.HistogramVec
	reads  *prometheus.CounterVec
}

// NewMetrics registers the executor's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		states: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seamcards_issuance_states_total",
			Help: "Issuance states entered (and published), by state.",
		}, []string{"state"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "seamcards_worker_step_seconds",
			Help:    "Duration of saga steps (one Seam call with its retries), by step and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		}, []string{"step", "outcome"}),
	}
	m.reads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seamcards_worker_reconcile_reads_total",
		Help: "Reads made instead of an event: action attempt reads (deadline, or an event without its error type) and looks after a crash.",
	}, []string{"reason"})
	for _, s := range AllStates {
		m.states.WithLabelValues(string(s))
	}
	reg.MustRegister(m.states, m.steps, m.reads)
	return m
}

func (m *Metrics) entered(s State) {
	if m != nil {
		m.states.WithLabelValues(string(s)).Inc()
	}
}

func (m *Metrics) step(name string, d time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "retry_later"
	}
	m.steps.WithLabelValues(name, outcome).Observe(d.Seconds())
}

// reconcile counts a call that reads state instead of waiting for an event.
func (m *Metrics) reconcile(c Call, pending *Step) {
	if m == nil {
		return
	}
	switch c.(type) {
	case ReadAttempt:
		m.reads.WithLabelValues("action_attempt").Inc()
	case FindUser, FindCredential:
		m.reads.WithLabelValues("crash_recovery").Inc()
	case ReadCredential:
		if pending != nil && pending.Kind == StepEncode {
			m.reads.WithLabelValues("crash_recovery").Inc()
		}
	}
}
