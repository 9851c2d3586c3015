// Package natsconn connects programs to NATS with the shared settings
// (NATS_URL, NATS_CREDS, NATS_REPLICAS) and the reconnect behaviour every
// program needs: keep trying forever, and say so in the logs.
package natsconn

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/config"
)

// Settings are the NATS settings shared by the receiver and the worker.
type Settings struct {
	URL      *string
	Creds    *string
	Replicas *int
}

// Register adds NATS_URL, NATS_CREDS and NATS_REPLICAS to a config set.
func Register(s *config.Set) Settings {
	st := Settings{
		URL:      s.String("NATS_URL", nats.DefaultURL, "NATS server(s), comma-separated"),
		Creds:    s.String("NATS_CREDS", "", "path of a NATS .creds file"),
		Replicas: s.Int("NATS_REPLICAS", 1, 1, 5, "replicas for the streams and buckets this program creates"),
	}
	s.Check("NATS_URL", func() error { return ValidateURLs(*st.URL) })
	s.Check("NATS_CREDS", func() error {
		if *st.Creds == "" {
			return nil
		}
		if _, err := os.Stat(*st.Creds); err != nil {
			return fmt.Errorf("cannot read creds file: %w", errors.Unwrap(err))
		}
		return nil
	})
	return st
}

// ValidateURLs checks a comma-separated list of NATS server URLs.
func ValidateURLs(list string) error {
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a NATS URL (example: nats://127.0.0.1:4222)", raw)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q: scheme must be nats, tls, ws or wss", raw)
		}
	}
	return nil
}

// Connect opens a connection that retries the first connect and reconnects
// forever, so a program started before NATS, or across a NATS restart,
// recovers by itself. It returns at once; use nc.IsConnected for readiness.
func Connect(name string, s Settings, log *zap.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(-1), // never buffer publishes while down: callers must see the failure
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			f := []zap.Field{zap.Error(err)}
			if sub != nil {
				f = append(f, zap.String("subject", sub.Subject))
			}
			log.Warn("nats async error", f...)
		}),
	}
	if *s.Creds != "" {
		opts = append(opts, nats.UserCredentials(*s.Creds))
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(*s.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", *s.URL, err)
	}
	return nc, nil
}
