package receiver

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/cardissuer/seamcards/internal/events"
)

// Config is what the receiver needs besides its connections.
type Config struct {
	// Secrets are the Svix signing secrets (whsec_…); a request signed with
	// any of them is accepted, so secrets can be rotated without downtime.
	Secrets []string
	// MaxBodyBytes: larger bodies get 413.
	MaxBodyBytes int64
	// DedupWindow is the duplicate window of SEAM_EVENTS.
	DedupWindow time.Duration
	// Replicas of SEAM_EVENTS.
	Replicas int
	// PublishTimeout bounds the wait for JetStream's ack; past it the
	// request gets 503 and Svix retries. Zero means DefaultPublishTimeout.
	PublishTimeout time.Duration
}

// Defaults from CONTRACT.md, and the receiver's own.
const (
	DefaultMaxBodyBytes   = 256 << 10
	DefaultPublishTimeout = 5 * time.Second
	// Tolerance is how far svix-timestamp may be from now: Svix's own.
	Tolerance = 5 * time.Minute
	// HeaderRoom is what a stored message's headers may take next to the
	// body under the server's max_payload: five headers whose values are at
	// most events.MaxHeaderValueLen bytes, with their names, fit in it.
	HeaderRoom = 4096
)

func (c *Config) withDefaults() Config {
	out := *c
	if out.MaxBodyBytes == 0 {
		out.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if out.DedupWindow == 0 {
		out.DedupWindow = events.DefaultDedupWindow
	}
	if out.Replicas == 0 {
		out.Replicas = 1
	}
	if out.PublishTimeout == 0 {
		out.PublishTimeout = DefaultPublishTimeout
	}
	return out
}

// SplitSecrets splits SEAM_WEBHOOK_SECRET's comma-separated list and checks
// each entry. Errors never quote a secret, only its position.
func SplitSecrets(list string) ([]string, error) {
	parts := strings.Split(list, ",")
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if err := checkSecret(p); err != nil {
			if len(parts) == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("secret %d of %d: %w", i+1, len(parts), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// checkSecret accepts what Svix issues: whsec_ followed by 32 to 100
// base64 characters (Svix's own pattern for endpoint secrets).
func checkSecret(s string) error {
	const prefix = "whsec_"
	if s == "" {
		return errors.New("empty")
	}
	key, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return errors.New("does not start with whsec_")
	}
	if len(key) < 32 || len(key) > 100 {
		return errors.New("key after whsec_ must be 32 to 100 base64 characters")
	}
	if _, err := base64.StdEncoding.DecodeString(key); err != nil {
		return errors.New("key after whsec_ is not valid base64")
	}
	return nil
}

func newVerifiers(secrets []string) ([]*svix.Webhook, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no webhook secret")
	}
	out := make([]*svix.Webhook, 0, len(secrets))
	for i, s := range secrets {
		if err := checkSecret(s); err != nil {
			return nil, fmt.Errorf("webhook secret %d: %w", i+1, err)
		}
		wh, err := svix.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("webhook secret %d: %w", i+1, err)
		}
		out = append(out, wh)
	}
	return out, nil
}
