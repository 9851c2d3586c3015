// Command seamsim serves a simulated Seam API (internal/seamsim) for local
// and compose testing: CONTRACT.md's endpoints in memory, Svix-signed
// webhooks to WEBHOOK_URL, and test knobs under /_sim/. It also serves
// /healthz, /readyz and /metrics, and stops cleanly on SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/config"
	"github.com/cardissuer/seamcards/internal/logging"
	"github.com/cardissuer/seamcards/internal/ops"
	"github.com/cardissuer/seamcards/internal/seamsim"
)

const program = "seamsim"

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	set := config.New(program, os.LookupEnv)
	logSet := logging.Register(set)
	addr := set.String("HTTP_ADDR", ":8090", "listen address")
	apiKey := set.Secret("SEAM_API_KEY", "the only API key accepted (default "+seamsim.DefaultAPIKey+")")
	secret := set.Secret("SEAM_WEBHOOK_SECRET", "Svix secret whsec_… that signs webhooks (the first of a comma-separated list); required with WEBHOOK_URL")
	webhookURL := set.String("WEBHOOK_URL", "", "where signed webhooks go; empty sends none")
	encodeDelay := durationSetting(set, "SEAMSIM_ENCODE_DELAY", 500*time.Millisecond, "how long an encoding takes")
	encodeDelayMax := durationSetting(set, "SEAMSIM_ENCODE_DELAY_MAX", 0, "when larger than SEAMSIM_ENCODE_DELAY, encodings take a random time up to this")
	latency := durationSetting(set, "SEAMSIM_API_LATENCY", 0, "added to every API call")
	slots := set.Int("SEAMSIM_ENCODER_SLOTS", 1, 1, 100_000, "encodings one encoder runs at once")
	schedule := set.String("SEAMSIM_WEBHOOK_RETRY_SCHEDULE", joinDurations(seamsim.ScaledSchedule(seamsim.SvixRetrySchedule, 60)),
		"waits before each webhook retry, comma-separated (Svix's schedule scaled down 60 times)")
	webhookTimeout := set.Duration("SEAMSIM_WEBHOOK_TIMEOUT", 15*time.Second, "time allowed for one delivery attempt")

	var cfg seamsim.Config
	set.Check("SEAMSIM_WEBHOOK_RETRY_SCHEDULE", func() (err error) {
		cfg.WebhookRetrySchedule, err = parseDurations(*schedule)
		return err
	})
	set.Check("SEAM_WEBHOOK_SECRET", func() error {
		for _, s := range strings.Split(*secret, ",") {
			if s = strings.TrimSpace(s); s != "" {
				if err := seamsim.CheckSecret(s); err != nil {
					return err
				}
				cfg.WebhookSecrets = append(cfg.WebhookSecrets, s)
			}
		}
		return nil
	})
	set.Check("WEBHOOK_URL", func() error {
		if *webhookURL == "" {
			return nil
		}
		if len(cfg.WebhookSecrets) == 0 {
			return errors.New("needs SEAM_WEBHOOK_SECRET, so that the receiver can verify the webhooks")
		}
		return seamsim.CheckWebhookURL(*webhookURL)
	})
	if code, ok := set.ParseMain(args, os.Stdout, os.Stderr); !ok {
		return code
	}
	log, err := logSet.New(os.Stderr)
	if err != nil {
		return config.Fail(os.Stderr, program, err)
	}
	defer func() { _ = log.Sync() }()

	cfg.APIKey, cfg.WebhookURL = *apiKey, *webhookURL
	cfg.EncodeDelay, cfg.EncodeDelayMax, cfg.APILatency = *encodeDelay, *encodeDelayMax, *latency
	cfg.EncoderSlots, cfg.WebhookTimeout, cfg.Logger = *slots, *webhookTimeout, log
	sim, err := seamsim.New(cfg)
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return 1
	}
	defer sim.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	l, err := ops.Listen(*addr)
	if err != nil {
		log.Error("cannot listen", zap.Error(err))
		return 1
	}
	e := ops.NewEcho(ops.NewRegistry(), func(context.Context) error { return nil })
	e.Any("/*", echo.WrapHandler(sim.Handler()))
	log.Info("seamsim ready", zap.String("webhook_url", *webhookURL), zap.Duration("encode_delay", *encodeDelay),
		zap.Duration("api_latency", *latency), zap.String("encoder_id", seamsim.EncoderID))
	if err := ops.Serve(ctx, e, l, 5*time.Second, log); err != nil {
		log.Error("http server failed", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

// durationSetting registers a duration that may be zero (config.Duration
// requires a positive one).
func durationSetting(set *config.Set, env string, def time.Duration, usage string) *time.Duration {
	raw := set.String(env, def.String(), usage)
	d := new(time.Duration)
	set.Check(env, func() error {
		v, err := time.ParseDuration(strings.TrimSpace(*raw))
		if err != nil || v < 0 {
			return fmt.Errorf("%q: not a duration of zero or more (examples: 0s, 250ms, 2s)", *raw)
		}
		*d = v
		return nil
	})
	return d
}

func parseDurations(s string) ([]time.Duration, error) {
	out := []time.Duration{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q: not a duration of zero or more", part)
		}
		out = append(out, d)
	}
	return out, nil
}

func joinDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}
