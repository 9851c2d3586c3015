package config_test

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/config"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestDefaultsEnvAndFlags(t *testing.T) {
	s := config.New("prog", env(map[string]string{"HTTP_ADDR": ":9000", "ENCODING_TIMEOUT": "30s"}))
	addr := s.String("HTTP_ADDR", ":8080", "listen address")
	timeout := s.Duration("ENCODING_TIMEOUT", 2*time.Minute, "deadline")
	conc := s.Int("WORKER_CONCURRENCY", 64, 1, 10000, "sagas at once")
	level := s.OneOf("LOG_LEVEL", "info", []string{"debug", "info"}, "level")
	require.NoError(t, s.Parse([]string{"-encoding-timeout", "45s"}))
	assert.Equal(t, ":9000", *addr, "env wins over the default")
	assert.Equal(t, 45*time.Second, *timeout, "flag wins over env")
	assert.Equal(t, 64, *conc)
	assert.Equal(t, "info", *level)
}

func TestErrorsNameTheSetting(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"missing required", nil, nil, "SEAM_WEBHOOK_SECRET: required but not set"},
		{"bad duration", map[string]string{"SEAM_WEBHOOK_SECRET": "x", "DEDUP_WINDOW": "soon"}, nil, "DEDUP_WINDOW"},
		{"negative duration", map[string]string{"SEAM_WEBHOOK_SECRET": "x"}, []string{"-dedup-window=-1s"}, "DEDUP_WINDOW"},
		{"int out of range", map[string]string{"SEAM_WEBHOOK_SECRET": "x", "MAX_BODY_BYTES": "0"}, nil, "MAX_BODY_BYTES"},
		{"int garbage", map[string]string{"SEAM_WEBHOOK_SECRET": "x", "MAX_BODY_BYTES": "1k"}, nil, "MAX_BODY_BYTES"},
		{"not allowed", map[string]string{"SEAM_WEBHOOK_SECRET": "x", "LOG_FORMAT": "xml"}, nil, "LOG_FORMAT"},
		{"unknown flag", map[string]string{"SEAM_WEBHOOK_SECRET": "x"}, []string{"-nope"}, "flags"},
		{"stray argument", map[string]string{"SEAM_WEBHOOK_SECRET": "x"}, []string{"extra"}, "flags"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := config.New("receiver", env(tc.env))
			s.Secret("SEAM_WEBHOOK_SECRET", "secret")
			s.Required()
			s.Duration("DEDUP_WINDOW", time.Hour, "window")
			s.Int("MAX_BODY_BYTES", 1024, 1, 1<<20, "limit")
			s.OneOf("LOG_FORMAT", "json", []string{"json", "console"}, "format")
			err := s.Parse(tc.args)
			var ce *config.Error
			require.True(t, errors.As(err, &ce), "got %v", err)
			assert.Contains(t, err.Error(), tc.want)
			var out bytes.Buffer
			assert.Equal(t, 2, config.Fail(&out, "receiver", err))
			assert.Equal(t, 1, strings.Count(out.String(), "\n"), "one line")
		})
	}
}

func TestSecretNeverInErrorsOrUsage(t *testing.T) {
	s := config.New("receiver", env(map[string]string{"SEAM_WEBHOOK_SECRET": "whsec_TOPSECRET"}))
	s.Secret("SEAM_WEBHOOK_SECRET", "secret")
	s.Check("SEAM_WEBHOOK_SECRET", func() error { return errors.New("not a whsec_ secret") })
	err := s.Parse(nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "TOPSECRET")
	var usage bytes.Buffer
	s.Usage(&usage)
	assert.NotContains(t, usage.String(), "TOPSECRET")
	assert.Contains(t, usage.String(), "-seam-webhook-secret")
}

func TestHelp(t *testing.T) {
	s := config.New("prog", env(nil))
	s.String("HTTP_ADDR", ":1", "addr")
	assert.ErrorIs(t, s.Parse([]string{"-h"}), flag.ErrHelp)
}

func TestParseMain(t *testing.T) {
	newSet := func(kv map[string]string) *config.Set {
		s := config.New("prog", env(kv))
		s.Int("WORKER_CONCURRENCY", 64, 1, 10000, "sagas at once")
		return s
	}
	var out, errOut bytes.Buffer
	code, ok := newSet(nil).ParseMain(nil, &out, &errOut)
	assert.True(t, ok)
	assert.Zero(t, code)

	code, ok = newSet(nil).ParseMain([]string{"-h"}, &out, &errOut)
	assert.False(t, ok, "-h ends the program")
	assert.Zero(t, code, "after -h the program exits 0")
	assert.Contains(t, out.String(), "WORKER_CONCURRENCY")

	out.Reset()
	code, ok = newSet(map[string]string{"WORKER_CONCURRENCY": "0"}).ParseMain(nil, &out, &errOut)
	assert.False(t, ok)
	assert.Equal(t, config.ExitCode, code)
	assert.Empty(t, out.String())
	assert.Equal(t, 1, strings.Count(errOut.String(), "\n"), "one line")
	assert.True(t, strings.HasPrefix(errOut.String(), "prog: configuration: WORKER_CONCURRENCY"), errOut.String())
}
