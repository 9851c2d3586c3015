package saga

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/natsembed"
)

func startNATS(t *testing.T) (*natsembed.Server, jetstream.JetStream) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return srv, js
}

// TestDeadlineSurvivesRestartAndRearmReplaces arms a deadline, re-arms it
// (the first must not fire), stops the server while it is pending and checks
// that it still fires, once, after the restart.
func TestDeadlineSurvivesRestartAndRearmReplaces(t *testing.T) {
	srv, js := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := js.CreateOrUpdateStream(ctx, TimersConfig(1))
	require.NoError(t, err)
	timers := NewTimers(js)

	require.NoError(t, timers.Arm(ctx, "bk-1", Timer{At: time.Now().Add(time.Hour), Deadline: Deadline{Attempt: 1}}))
	require.NoError(t, timers.Arm(ctx, "bk-1", Timer{At: time.Now().Add(2 * time.Second), Deadline: Deadline{Attempt: 1, Reads: 1}}))
	require.NoError(t, timers.Arm(ctx, "bk-2", Timer{At: time.Now().Add(-time.Minute), Deadline: Deadline{Attempt: 3}}))

	require.NoError(t, srv.Restart())

	cons, err := js.CreateOrUpdateConsumer(ctx, StreamTimers, jetstream.ConsumerConfig{
		Durable: "t", FilterSubject: DeadlinesAll, AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	got := map[string][]Deadline{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (len(got["bk-1"]) == 0 || len(got["bk-2"]) == 0) {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			d, err := ParseDeadline(m.Data())
			require.NoError(t, err)
			require.Equal(t, DeadlinesPrefix+d.IssuanceID, m.Subject())
			got[d.IssuanceID] = append(got[d.IssuanceID], d.Deadline)
			require.NoError(t, m.Ack())
		}
	}
	require.Equal(t, []Deadline{{Attempt: 1, Reads: 1}}, got["bk-1"], "re-arming replaced the first schedule")
	require.Equal(t, []Deadline{{Attempt: 3}}, got["bk-2"], "a past deadline fires at once")

	// Nothing else fires later.
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(1500*time.Millisecond))
	require.NoError(t, err)
	n := 0
	for range batch.Messages() {
		n++
	}
	require.Zero(t, n)
}

func TestParseDeadline(t *testing.T) {
	_, err := ParseDeadline([]byte(`{"issuance_id":"bad id","attempt":1}`))
	require.Error(t, err)
	_, err = ParseDeadline([]byte(`nope`))
	require.Error(t, err)
	m, err := ParseDeadline([]byte(`{"v":1,"issuance_id":"bk-1","attempt":2,"reads":1}`))
	require.NoError(t, err)
	require.Equal(t, Deadline{Attempt: 2, Reads: 1}, m.Deadline)
}
