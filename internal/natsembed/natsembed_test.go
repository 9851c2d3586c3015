package natsembed_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/natsembed"
)

func TestRestartKeepsStoredMessages(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "t.a", []byte("kept"))
	require.NoError(t, err)

	url, dir := srv.URL(), srv.StoreDir()
	require.NoError(t, srv.Restart())
	require.Equal(t, url, srv.URL())
	require.Equal(t, dir, srv.StoreDir())

	require.Eventually(t, nc.IsConnected, 10*time.Second, 20*time.Millisecond)
	s, err := js.Stream(ctx, "T")
	require.NoError(t, err)
	m, err := s.GetLastMsgForSubject(ctx, "t.a")
	require.NoError(t, err)
	require.Equal(t, "kept", string(m.Data))
}
