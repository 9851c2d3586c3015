package seamsim

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	svix "github.com/svix/svix-webhooks/go"
	"go.uber.org/zap"
)

// DefaultAPIKey is the key seamsim accepts when none is configured.
const DefaultAPIKey = "seam_sim_key"

// The seeded world: CONTRACT.md's Salto Space system and access groups, and
// one online encoder.
const (
	WorkspaceID        = "22222222-2222-2222-2222-222222222222"
	ConnectedAccountID = "55555555-5555-5555-5555-555555555555"
	SystemID           = "11111111-1111-1111-1111-111111111111"
	AccessGroupStaff   = "44444444-4444-4444-4444-333333333333"
	AccessGroupGuests  = "44444444-4444-4444-4444-444444444444"
	EncoderID          = "77777777-7777-7777-7777-777777777777"
)

// SvixRetrySchedule is the wait Svix leaves before each retry of a failed
// delivery (after the first, immediate attempt), about 28 hours in all.
var SvixRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// ScaledSchedule divides every wait of a schedule by factor.
func ScaledSchedule(schedule []time.Duration, factor int) []time.Duration {
	out := make([]time.Duration, len(schedule))
	for i, d := range schedule {
		out[i] = d / time.Duration(max(factor, 1))
	}
	return out
}

// Config sets up a Sim. The zero value works: it is filled with defaults.
type Config struct {
	// APIKey is the only Bearer token accepted; default DefaultAPIKey.
	APIKey string
	// WebhookSecrets are Svix secrets (whsec_…); the first signs deliveries.
	// Empty: a random secret is made (WebhookSecret tells it).
	WebhookSecrets []string
	// WebhookURL receives the signed events; empty sends none (SetWebhookURL
	// can set it later).
	WebhookURL string
	// EncodeDelay is how long an encoding takes once it starts (a card laid
	// on the encoder); when EncodeDelayMax is larger, each encoding takes a
	// random time between the two. Zero finishes encodings at once
	// (cmd/seamsim defaults to 500ms).
	EncodeDelay    time.Duration
	EncodeDelayMax time.Duration
	// EncoderSlots is how many encodings one encoder runs at once; the rest
	// wait their turn in order. Default 1: a desk encoder writes one card at
	// a time. Benchmarks raise it.
	EncoderSlots int
	// APILatency is added to every API call (benchmarks), outside any lock.
	APILatency time.Duration
	// WebhookRetrySchedule is the wait before each retry of a failed
	// delivery. Default: SvixRetrySchedule scaled down 60 times (about 28
	// minutes in all).
	WebhookRetrySchedule []time.Duration
	// WebhookTimeout bounds one delivery attempt; default 15s, as Svix.
	WebhookTimeout time.Duration
	// WebhookConcurrency bounds deliveries in flight; default 64.
	WebhookConcurrency int
	// CallLogLimit bounds the call log; the oldest entries go first.
	// Default 100000.
	CallLogLimit int
	// Logger logs what seamsim does; default none.
	Logger *zap.Logger
	// HTTPClient delivers webhooks; default one sized for WebhookConcurrency.
	HTTPClient *http.Client
}

func (c Config) withDefaults() (Config, error) {
	if c.APIKey == "" {
		c.APIKey = DefaultAPIKey
	}
	if len(c.WebhookSecrets) == 0 {
		c.WebhookSecrets = []string{"whsec_" + randomBase64(24)}
	}
	for i, s := range c.WebhookSecrets {
		if err := CheckSecret(s); err != nil {
			return c, fmt.Errorf("seamsim: webhook secret %d: %w", i+1, err)
		}
	}
	if c.WebhookURL != "" {
		if err := CheckWebhookURL(c.WebhookURL); err != nil {
			return c, fmt.Errorf("seamsim: %w", err)
		}
	}
	if c.EncodeDelay < 0 || c.EncodeDelayMax < 0 {
		return c, errors.New("seamsim: encode delays must not be negative")
	}
	if c.EncodeDelayMax < c.EncodeDelay {
		c.EncodeDelayMax = c.EncodeDelay
	}
	if c.EncoderSlots <= 0 {
		c.EncoderSlots = 1
	}
	if c.APILatency < 0 {
		return c, errors.New("seamsim: API latency must not be negative")
	}
	if c.WebhookRetrySchedule == nil {
		c.WebhookRetrySchedule = ScaledSchedule(SvixRetrySchedule, 60)
	}
	for _, d := range c.WebhookRetrySchedule {
		if d < 0 {
			return c, errors.New("seamsim: webhook retry schedule has a negative wait")
		}
	}
	if c.WebhookTimeout <= 0 {
		c.WebhookTimeout = 15 * time.Second
	}
	if c.WebhookConcurrency <= 0 {
		c.WebhookConcurrency = 64
	}
	if c.CallLogLimit <= 0 {
		c.CallLogLimit = 100_000
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = c.WebhookConcurrency
		c.HTTPClient = &http.Client{Transport: t}
	}
	return c, nil
}

// CheckSecret reports whether s is a Svix secret: whsec_ and base64.
func CheckSecret(s string) error {
	if _, err := svix.NewWebhook(s); err != nil || !strings.HasPrefix(s, "whsec_") || len(s) == len("whsec_") {
		return errors.New("not a Svix secret (whsec_ followed by base64)")
	}
	return nil
}

// CheckWebhookURL reports whether s is an http(s) URL with a host.
func CheckWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook URL %q: want http(s)://host[:port]/path", s)
	}
	return nil
}
