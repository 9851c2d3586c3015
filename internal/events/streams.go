package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SeamEventsConfig is the definition of SEAM_EVENTS. The receiver owns it.
func SeamEventsConfig(replicas int, dedup time.Duration) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamSeamEvents,
		Description: "Seam webhook events, verified and stored by the receiver",
		Subjects:    []string{SeamEventsAll, SeamQuarantine},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      SeamEventsMaxAge,
		Duplicates:  dedup,
		Discard:     jetstream.DiscardOld,
	}
}

// IssuanceCommandsConfig is the definition of ISSUANCE_COMMANDS: a work queue,
// each command consumed once.
func IssuanceCommandsConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamIssuanceCommands,
		Description: "commands from backends: start, retry, cancel an issuance",
		Subjects:    []string{CommandsAll},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  CommandsDedupWindow,
	}
}

// IssuanceEventsConfig is the definition of ISSUANCE_EVENTS.
func IssuanceEventsConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamIssuanceEvents,
		Description: "every state an issuance enters, for backends to follow",
		Subjects:    []string{IssuanceEventsAll},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      IssuanceEventsMaxAge,
		Duplicates:  IssuanceEventsDedup,
		// Workers read an issuance's last state back after a crash; backends
		// may too. Direct gets are answered by any replica.
		AllowDirect: true,
	}
}

// EnsureStream creates or updates a stream to cfg. Its owner calls it at start.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// EnsureStreamExists creates a stream with cfg only when it is absent, and
// leaves an existing one as its owner configured it. Programs that use a
// stream another program owns call it, so that whichever starts first works.
func EnsureStreamExists(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("look up stream %s: %w", cfg.Name, err)
	}
	s, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// Another program created it between our look-up and create.
		s, err = js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return s, nil
}
