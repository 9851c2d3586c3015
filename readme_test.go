package seamcards_test

// README.md promises that none of its commands can rot: this test reads
// every command it shows (lines of ```sh blocks and inline `go run …`,
// `go test …` and `docker …` spans) and runs it, or finds where CI or the
// Docker test runs it. A command it cannot place fails the test.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeCommands returns the commands README.md shows, each once, in order.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var cmds []string
	seen := map[string]bool{}
	add := func(c string) {
		if c = strings.TrimSpace(c); c != "" && !strings.HasPrefix(c, "#") && !seen[c] {
			seen[c] = true
			cmds = append(cmds, c)
		}
	}
	inline := regexp.MustCompile("`((?:go run|go test|docker) [^`]+)`")
	inSh := false
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```"):
			inSh = !inSh && trimmed == "```sh"
		case inSh:
			add(line)
		default:
			for _, m := range inline.FindAllStringSubmatch(line, -1) {
				add(m[1])
			}
		}
	}
	require.NotEmpty(t, cmds)
	return cmds
}

// words splits a command line as sh would for the simple forms README
// uses: double quotes group, $NATS_URL expands to natsURL.
func words(line, natsURL string) []string {
	line = strings.ReplaceAll(line, "$NATS_URL", natsURL)
	var out []string
	var cur strings.Builder
	quoted, started := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, started = !quoted, true
		case r == ' ' && !quoted:
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}

func TestREADMECommandsAreRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo several times")
	}
	cmds := readmeCommands(t)
	ci, err := os.ReadFile(".ci/run")
	require.NoError(t, err)
	// What TestComposeUp runs, as it runs it.
	composeRuns := []string{composeUp, composeDown, backendExample}

	bins := buildPrograms(t, "cmd/demo", "cmd/receiver", "cmd/worker", "cmd/seamsim", "examples/backend")
	var keep, backends []string
	for _, c := range cmds {
		w := words(c, "")
		switch {
		case c == "go test -race ./...":
			assert.Contains(t, string(ci), "\n"+c+"\n", ".ci/run runs README's test command")
		case strings.HasPrefix(c, "docker "):
			assert.Contains(t, composeRuns, c, "TestComposeUp runs %q", c)
		case len(w) >= 3 && w[0] == "go" && w[1] == "run" && w[2] == "./examples/backend":
			if !strings.Contains(c, "$NATS_URL") {
				// Against the compose stack's NATS on 127.0.0.1:4222.
				assert.Contains(t, composeRuns, c, "TestComposeUp runs %q", c)
				continue
			}
			backends = append(backends, c)
		case len(w) >= 3 && w[0] == "go" && w[1] == "run" && w[2] == "./cmd/demo":
			if c == "go run ./cmd/demo" {
				assert.Contains(t, string(ci), "\n"+c+"\n", ".ci/run runs the demo")
			}
			if strings.Contains(c, "-keep") {
				keep = append(keep, c)
				continue
			}
			t.Run(c, func(t *testing.T) {
				out, err := run(t, bins["cmd/demo"], w[3:]...)
				require.NoError(t, err, "%s exits 0:\n%s", c, out)
			})
		case len(w) == 4 && w[0] == "go" && w[1] == "run" && w[3] == "-h":
			bin, ok := bins[strings.TrimPrefix(w[2], "./")]
			require.True(t, ok, "README runs %s, which this test does not build", w[2])
			t.Run(c, func(t *testing.T) {
				out, err := run(t, bin, "-h")
				require.NoError(t, err, out)
				assert.Contains(t, out, "(env LOG_LEVEL)", "-h lists the settings with their environment variables")
			})
		default:
			t.Errorf("README.md shows %q, which no test runs: run it here or in .ci/run", c)
		}
	}
	require.NotEmpty(t, keep, "README shows the demo's -keep")
	require.NotEmpty(t, backends, "README shows the backend example against the demo")
	for _, c := range keep {
		t.Run(c, func(t *testing.T) { keepAndFollow(t, bins, words(c, "")[3:], backends) })
	}
}

// keepAndFollow runs the demo with -keep, checks that the command it prints
// is README's backend command, runs each README backend command against it,
// and stops the demo with SIGTERM.
func keepAndFollow(t *testing.T, bins map[string]string, args, backends []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, bins["cmd/demo"], args...)
	stdout, err := demo.StdoutPipe()
	require.NoError(t, err)
	demo.Stderr = os.Stderr
	require.NoError(t, demo.Start())
	defer func() { _ = demo.Process.Kill() }()

	paste := regexp.MustCompile(`^\s+(go run ./examples/backend -nats-url (nats://\S+).*)$`)
	var printed, natsURL string
	sc := bufio.NewScanner(stdout)
	for printed == "" && sc.Scan() {
		if m := paste.FindStringSubmatch(sc.Text()); m != nil {
			printed, natsURL = m[1], m[2]
		}
	}
	require.NotEmpty(t, printed, "demo -keep prints a command to start another issuance")
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(&bytes.Buffer{}) }()

	for _, c := range backends {
		assert.Equal(t, words(printed, ""), words(c, natsURL), "README's backend command is the one the demo prints")
		w := words(c, natsURL)
		out, err := run(t, bins["examples/backend"], w[3:]...)
		require.NoError(t, err, "%s exits 0:\n%s", c, out)
		assert.Contains(t, out, "issued")
	}
	require.NoError(t, demo.Process.Signal(syscall.SIGTERM))
	require.NoError(t, demo.Wait(), "the kept demo exits 0 on SIGTERM")
}

func buildPrograms(t *testing.T, pkgs ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{}
	for _, p := range pkgs {
		bin := filepath.Join(dir, strings.ReplaceAll(p, "/", "-"))
		out, err := exec.Command("go", "build", "-o", bin, "./"+p).CombinedOutput()
		require.NoError(t, err, "build %s: %s", p, out)
		bins[p] = bin
	}
	return bins
}

func run(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s %v did not end in time", bin, args)
	}
	return string(out), err
}
