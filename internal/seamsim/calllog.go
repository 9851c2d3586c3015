package seamsim

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Kinds of call log entries.
const (
	KindAPI     = "api"     // a request to the Seam API
	KindWebhook = "webhook" // a webhook delivery attempt (or a decision not to deliver)
)

// Call is an entry of the call log: an API request seamsim answered, or a
// webhook delivery attempt it made. Seq orders all entries, so a test can
// see whether a call came before or after a delivery.
type Call struct {
	Seq      int64         `json:"seq"`
	Time     time.Time     `json:"time"`
	Kind     string        `json:"kind"`
	Method   string        `json:"method,omitempty"`
	Path     string        `json:"path,omitempty"`
	Status   int           `json:"status"` // HTTP status; 0 when there was none (network error, dropped); 499 when the client left
	Duration time.Duration `json:"duration_ns"`
	// API calls:
	RequestID string `json:"request_id,omitempty"`
	// Webhook deliveries:
	EventType string `json:"event_type,omitempty"`
	EventID   string `json:"event_id,omitempty"`
	SvixID    string `json:"svix_id,omitempty"`
	Attempt   int    `json:"attempt,omitempty"` // 1 for the first try of a message
	Outcome   string `json:"outcome,omitempty"` // delivered, failed, gave_up, dropped, no_url
	Error     string `json:"error,omitempty"`
}

// Outcomes of a webhook entry.
const (
	OutcomeSending   = "sending" // the attempt is under way
	OutcomeDelivered = "delivered"
	OutcomeFailed    = "failed"  // this attempt failed; another follows
	OutcomeGaveUp    = "gave_up" // this attempt failed and was the last
	OutcomeDropped   = "dropped" // a knob said not to deliver
	OutcomeNoURL     = "no_url"  // no webhook URL set
)

type callLog struct {
	mu      sync.Mutex
	limit   int
	seq     int64
	entries []Call
}

// add appends an entry and returns its Seq.
func (l *callLog) add(c Call) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	c.Seq = l.seq
	if len(l.entries) >= l.limit {
		// Drop the oldest tenth at once, so that appends stay cheap.
		n := copy(l.entries, l.entries[l.limit/10+1:])
		l.entries = l.entries[:n]
	}
	l.entries = append(l.entries, c)
	return c.Seq
}

// update replaces the entry seq (if still kept) by c, keeping its Seq. A
// delivery is logged when it goes out and completed when it is answered, so
// that what the receiver causes meanwhile comes after it in the log.
func (l *callLog) update(seq int64, c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := slices.BinarySearchFunc(l.entries, seq, func(e Call, s int64) int { return cmp.Compare(e.Seq, s) })
	if ok {
		c.Seq = seq
		l.entries[i] = c
	}
}

func (l *callLog) snapshot() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.entries...)
}

func (l *callLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}

// Calls returns the call log, oldest first.
func (s *Sim) Calls() []Call { return s.calls.snapshot() }

// CallCount counts the API calls made to path (whatever their answer).
func (s *Sim) CallCount(path string) int {
	n := 0
	for _, c := range s.calls.snapshot() {
		if c.Kind == KindAPI && c.Path == path {
			n++
		}
	}
	return n
}

// ResetCalls empties the call log.
func (s *Sim) ResetCalls() { s.calls.reset() }
