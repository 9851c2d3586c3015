package seamcards_test

// The compose stack (docker-compose.yml, Dockerfile) checked against the
// programs it runs.
//
// TestComposeFile needs no Docker: it builds the real receiver, worker and
// seamsim, reads the settings each one declares from its -h output, and
// checks that the compose file sets only those, sets every required one with
// values the program accepts, wires the services to each other consistently,
// gives every service a health check, and builds every Go service from a
// Dockerfile whose final stage runs as non-root.
//
// TestComposeUp runs the stack for real when a Docker engine answers:
// docker compose up --build --wait, one StartIssuance, followed to issued.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"
)

const (
	composePath    = "docker-compose.yml"
	dockerfilePath = "Dockerfile"
	// binDir is where the Dockerfile puts the binaries; a Go service's
	// command is binDir/<program>.
	binDir = "/usr/local/bin"
	// healthcheckBin is the shell-free health probe (cmd/healthcheck).
	healthcheckBin = binDir + "/healthcheck"
	// natsClientPort is the port nats-server listens on for clients.
	natsClientPort = "4222"
)

// The Go programs the stack runs.
var goPrograms = []string{"receiver", "worker", "seamsim"}

// --- docker-compose.yml ------------------------------------------------------

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     commandList       `yaml:"command"`
	Environment envMap            `yaml:"environment"`
	Ports       []composePort     `yaml:"ports"`
	DependsOn   dependsOn         `yaml:"depends_on"`
	Healthcheck *healthcheck      `yaml:"healthcheck"`
	Volumes     []string          `yaml:"volumes"`
	User        string            `yaml:"user"`
	env         map[string]string // Environment without null values
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
	Target     string `yaml:"target"`
}

// UnmarshalYAML accepts `build: .` and the mapping form.
func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain composeBuild
	return n.Decode((*plain)(b))
}

// commandList is a command in exec (list) form; the string form would need
// compose's shell-like splitting and, in a shell-less image, is a trap.
type commandList []string

func (c *commandList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: command must be a list (exec form)", n.Line)
	}
	return n.Decode((*[]string)(c))
}

// envMap is `environment:` in either form; a nil value is a variable passed
// through from the host, which this stack must not depend on.
type envMap map[string]*string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]*string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			(*e)[k] = v
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				(*e)[k] = nil
				continue
			}
			(*e)[k] = &v
		}
	default:
		return fmt.Errorf("line %d: environment must be a mapping or a list", n.Line)
	}
	return nil
}

// composePort is a published port, from the short ("127.0.0.1:8080:8080")
// or the long syntax.
type composePort struct {
	HostIP    string
	Published string
	Target    string
}

func (p *composePort) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			HostIP    string `yaml:"host_ip"`
			Published string `yaml:"published"`
			Target    string `yaml:"target"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		*p = composePort{long.HostIP, long.Published, long.Target}
		return nil
	}
	s := strings.TrimSuffix(n.Value, "/tcp")
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		*p = composePort{Target: parts[0]} // random host port
	case 2:
		*p = composePort{Published: parts[0], Target: parts[1]}
	case 3:
		*p = composePort{HostIP: parts[0], Published: parts[1], Target: parts[2]}
	default:
		return fmt.Errorf("line %d: port %q: want [ip:]host:container", n.Line, n.Value)
	}
	return nil
}

// dependsOn maps a dependency to its condition; the list form has none.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	if n.Kind == yaml.SequenceNode {
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			(*d)[s] = "service_started"
		}
		return nil
	}
	var m map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		c := v.Condition
		if c == "" {
			c = "service_started"
		}
		(*d)[k] = c
	}
	return nil
}

type healthcheck struct {
	Test    commandOrShell `yaml:"test"`
	Disable bool           `yaml:"disable"`
}

// commandOrShell is a healthcheck test: a list, or a string (CMD-SHELL).
type commandOrShell []string

func (c *commandOrShell) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*c = commandOrShell{"CMD-SHELL", n.Value}
		return nil
	}
	return n.Decode((*[]string)(c))
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	if len(cf.Services) == 0 {
		t.Fatalf("%s: no services", composePath)
	}
	for name, svc := range cf.Services {
		svc.env = map[string]string{}
		for k, v := range svc.Environment {
			if v != nil {
				svc.env[k] = *v
			}
		}
		cf.Services[name] = svc
	}
	return cf
}

// program is the Go program a service runs: the base name of its command
// when that is binDir/<program>, else "".
func (s composeService) program() string {
	if len(s.Command) == 0 || filepath.Dir(s.Command[0]) != binDir {
		return ""
	}
	if p := filepath.Base(s.Command[0]); slices.Contains(goPrograms, p) {
		return p
	}
	return ""
}

// --- the programs' settings, read from the real binaries -------------------

type setting struct {
	def string // default as -h prints it; "" when none
}

type programInfo struct {
	bin      string
	settings map[string]setting // by environment variable
}

// envLine matches the end of a flag's usage line as internal/config writes
// it: "… (env NATS_URL) (default nats://127.0.0.1:4222)".
var envLine = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)\)(?: \(default (.*)\))?\s*$`)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// programs builds the real binaries (once per test process) and reads each
// one's settings from its -h output.
func programs(t *testing.T) map[string]programInfo {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "seamcards-compose-bin-*")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", buildDir + string(filepath.Separator)}
		for _, p := range goPrograms {
			args = append(args, "./cmd/"+p)
		}
		buildOut, buildErr = exec.Command("go", args...).CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	out := map[string]programInfo{}
	for _, p := range goPrograms {
		bin := filepath.Join(buildDir, p)
		cmd := exec.Command(bin, "-h")
		cmd.Env = []string{}
		usage, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s -h: %v", p, err)
		}
		info := programInfo{bin: bin, settings: map[string]setting{}}
		for _, line := range strings.Split(string(usage), "\n") {
			if m := envLine.FindStringSubmatch(line); m != nil {
				info.settings[m[1]] = setting{def: m[2]}
			}
		}
		if len(info.settings) < 3 {
			t.Fatalf("%s -h lists %d settings; has the usage format changed?\n%s", p, len(info.settings), usage)
		}
		out[p] = info
	}
	return out
}

// exitOf runs cmd and returns its exit status and combined output.
func exitOf(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, buf.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), buf.String()
	default:
		t.Fatalf("run %s: %v", cmd.Path, err)
		return -1, ""
	}
}

var requiredRE = regexp.MustCompile(`configuration: ([A-Z][A-Z0-9_]*): required but not set`)

// startupRun runs a program with env and stops it right after configuration:
// its listen address is taken (so it exits 1 with "cannot listen") and its
// NATS URL points at a closed loopback port (so it contacts nothing). Both
// are flags, which win over env; the test checks those two values itself.
func startupRun(t *testing.T, info programInfo, busyAddr string, env map[string]string) (int, string) {
	t.Helper()
	args := []string{"-http-addr", busyAddr}
	if _, ok := info.settings["NATS_URL"]; ok {
		args = append(args, "-nats-url", "nats://127.0.0.1:1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, info.bin, args...)
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	code, out := exitOf(t, cmd)
	if ctx.Err() != nil {
		t.Fatalf("%s did not stop after failing to listen on a taken address:\n%s", filepath.Base(info.bin), out)
	}
	return code, out
}

// requiredSettings finds the settings a program refuses to start without:
// starting from an empty environment, it adds each setting the program names
// as missing, with the compose file's value, until it stops complaining.
// Settings the compose file lacks are returned in missing.
func requiredSettings(t *testing.T, info programInfo, busyAddr string, composeEnv map[string]string) (required, missing []string) {
	t.Helper()
	env := map[string]string{}
	for range len(info.settings) + 1 {
		code, out := startupRun(t, info, busyAddr, env)
		m := requiredRE.FindStringSubmatch(out)
		if code != 2 || m == nil {
			return required, missing
		}
		name := m[1]
		if slices.Contains(required, name) {
			t.Fatalf("%s still says %s is missing after it was set:\n%s", filepath.Base(info.bin), name, out)
		}
		required = append(required, name)
		v, ok := composeEnv[name]
		if !ok {
			return required, append(missing, name)
		}
		env[name] = v
	}
	t.Fatalf("%s: too many rounds of required settings", filepath.Base(info.bin))
	return nil, nil
}

// effective is the value a service's program uses for a setting: the
// compose value, else the program's default.
func effective(svc composeService, info programInfo, env string) string {
	if v, ok := svc.env[env]; ok {
		return v
	}
	return info.settings[env].def
}

func portOf(t *testing.T, what, hostport string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%s: %q: %v", what, hostport, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		t.Fatalf("%s: %q: port %q is not a number", what, hostport, port)
	}
	return port
}

// --- Dockerfile --------------------------------------------------------------

type instruction struct {
	cmd  string // upper case: FROM, RUN, …
	args string
	line int
}

type stage struct {
	name, image string
	ins         []instruction
}

// parseDockerfile splits a Dockerfile into global ARGs and stages; it joins
// continuation lines and drops comments, which is all these checks need.
func parseDockerfile(text string) (globalArgs map[string]string, stages []stage) {
	globalArgs = map[string]string{}
	var cur strings.Builder
	start := 0
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{ins: []instruction{in}}
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					st.name = f[i+1]
					i++
				case st.image == "":
					st.image = f[i]
				}
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				for _, a := range strings.Fields(in.args) {
					k, v, _ := strings.Cut(a, "=")
					globalArgs[k] = v
				}
			}
			return
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return globalArgs, stages
}

// goLine is the version on go.mod's go line.
func goLine(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// --- TestComposeFile ----------------------------------------------------------

func TestComposeFile(t *testing.T) {
	cf := loadCompose(t)
	progs := programs(t)

	// Which service runs what.
	goSvcs := map[string]string{} // service -> program
	byProgram := map[string][]string{}
	natsSvc := ""
	for name, svc := range cf.Services {
		if p := svc.program(); p != "" {
			goSvcs[name] = p
			byProgram[p] = append(byProgram[p], name)
			continue
		}
		if svc.Build != nil {
			t.Errorf("service %s builds from source but its command %q is not %s/<one of %v>", name, []string(svc.Command), binDir, goPrograms)
		}
		if strings.HasPrefix(svc.Image, "nats:") {
			if natsSvc != "" {
				t.Errorf("two NATS services: %s and %s", natsSvc, name)
			}
			natsSvc = name
		}
	}
	for _, p := range goPrograms {
		if len(byProgram[p]) == 0 {
			t.Errorf("no service runs %s (command [%s/%s])", p, binDir, p)
		}
	}
	if natsSvc == "" {
		t.Fatalf("no service runs the nats image")
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Run("NATS", func(t *testing.T) {
		svc := cf.Services[natsSvc]
		// The worker's durable timers use scheduled messages: 2.12+.
		m := regexp.MustCompile(`^nats:(\d+)\.(\d+)`).FindStringSubmatch(svc.Image)
		if m == nil {
			t.Fatalf("image %q: pin a version (nats:2.12-alpine or newer)", svc.Image)
		}
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if major != 2 || minor < 12 {
			t.Errorf("image %q: the worker needs nats-server 2.12 or newer 2.x", svc.Image)
		}
		cmd := []string(svc.Command)
		if !slices.Contains(cmd, "-js") && !slices.Contains(cmd, "--jetstream") {
			t.Errorf("command %q does not enable JetStream (-js)", cmd)
		}
		i := slices.IndexFunc(cmd, func(s string) bool { return s == "-sd" || s == "--store_dir" })
		if i < 0 || i+1 >= len(cmd) {
			t.Fatalf("command %q sets no store directory (-sd)", cmd)
		}
		dir := cmd[i+1]
		mounted := false
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == dir {
				if _, named := cf.Volumes[parts[0]]; named {
					mounted = true
				}
			}
		}
		if !mounted {
			t.Errorf("store directory %s is not a named volume (volumes: %q)", dir, svc.Volumes)
		}
	})

	t.Run("every variable a service sets is one its program reads", func(t *testing.T) {
		for name, p := range goSvcs {
			svc := cf.Services[name]
			for k, v := range svc.Environment {
				if _, ok := progs[p].settings[k]; !ok {
					t.Errorf("service %s sets %s, which %s does not read", name, k, p)
				}
				if v == nil {
					t.Errorf("service %s: %s has no value (it would come from the host)", name, k)
				} else if strings.Contains(*v, "$") {
					t.Errorf("service %s: %s=%q: no interpolation, please; the stack must not depend on the host's environment", name, k, *v)
				}
			}
		}
	})

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	t.Run("every required setting is set and every value is accepted", func(t *testing.T) {
		for name, p := range goSvcs {
			svc := cf.Services[name]
			required, missing := requiredSettings(t, progs[p], busy.Addr().String(), svc.env)
			t.Logf("%s (%s) requires %v", name, p, required)
			for _, m := range missing {
				t.Errorf("service %s does not set %s, which %s requires", name, m, p)
			}
			if len(missing) > 0 {
				continue
			}
			code, out := startupRun(t, progs[p], busy.Addr().String(), svc.env)
			if code != 1 || !strings.Contains(out, "cannot listen") {
				t.Errorf("service %s: %s with the compose environment should get past its configuration and fail only to listen on a taken address; it exited %d:\n%s", name, p, code, out)
			}
		}
	})

	// The HTTP port of each Go service, from HTTP_ADDR or the default.
	httpPort := map[string]string{}
	for name, p := range goSvcs {
		httpPort[name] = portOf(t, name+" HTTP_ADDR", effective(cf.Services[name], progs[p], "HTTP_ADDR"))
	}

	t.Run("wiring", func(t *testing.T) {
		// needs records which services each service talks to.
		needs := map[string][]string{}

		// NATS_URL names the NATS service, on its client port.
		for name, p := range goSvcs {
			if _, reads := progs[p].settings["NATS_URL"]; !reads {
				continue
			}
			v, ok := cf.Services[name].env["NATS_URL"]
			if !ok {
				t.Errorf("service %s does not set NATS_URL (the default, 127.0.0.1, is the container itself)", name)
				continue
			}
			for _, raw := range strings.Split(v, ",") {
				u, err := url.Parse(strings.TrimSpace(raw))
				if err != nil || u.Scheme != "nats" || u.Hostname() != natsSvc || u.Port() != natsClientPort {
					t.Errorf("service %s: NATS_URL %q: want nats://%s:%s", name, raw, natsSvc, natsClientPort)
					continue
				}
				needs[name] = append(needs[name], natsSvc)
			}
		}

		// seamsim delivers webhooks to a receiver's /webhooks/seam, signed
		// with a secret that receiver accepts.
		for _, sim := range byProgram["seamsim"] {
			env := cf.Services[sim].env
			raw, ok := env["WEBHOOK_URL"]
			if !ok {
				t.Errorf("service %s does not set WEBHOOK_URL: it would send no webhooks", sim)
				continue
			}
			u, err := url.Parse(raw)
			if err != nil || u.Scheme != "http" || goSvcs[u.Hostname()] != "receiver" {
				t.Errorf("service %s: WEBHOOK_URL %q: want http://<a receiver service: %v>:<its port>/webhooks/seam", sim, raw, byProgram["receiver"])
				continue
			}
			rcv := u.Hostname()
			if port := u.Port(); port != httpPort[rcv] {
				t.Errorf("service %s: WEBHOOK_URL %q: port %q, but %s listens on %s", sim, raw, port, rcv, httpPort[rcv])
			}
			if u.Path != "/webhooks/seam" {
				t.Errorf("service %s: WEBHOOK_URL %q: path must be /webhooks/seam", sim, raw)
			}
			needs[sim] = append(needs[sim], rcv)

			simSecrets := splitList(env["SEAM_WEBHOOK_SECRET"])
			rcvSecrets := splitList(cf.Services[rcv].env["SEAM_WEBHOOK_SECRET"])
			if len(simSecrets) == 0 {
				t.Errorf("service %s: no SEAM_WEBHOOK_SECRET", sim)
				continue
			}
			// seamsim signs with its first secret; the receiver accepts any of its own.
			if !slices.Contains(rcvSecrets, simSecrets[0]) {
				t.Errorf("service %s signs with a SEAM_WEBHOOK_SECRET that %s does not accept", sim, rcv)
			}
			for _, s := range append(simSecrets, rcvSecrets...) {
				key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
				if !strings.HasPrefix(s, "whsec_") || err != nil || len(key) < 24 {
					t.Errorf("a SEAM_WEBHOOK_SECRET is not whsec_ followed by base64 of at least 24 bytes")
				}
			}
		}

		// The worker calls seamsim, with the key seamsim accepts.
		for _, w := range byProgram["worker"] {
			env := cf.Services[w].env
			raw := env["SEAM_API_URL"]
			u, err := url.Parse(raw)
			if err != nil || u.Scheme != "http" || goSvcs[u.Hostname()] != "seamsim" {
				t.Errorf("service %s: SEAM_API_URL %q: want http://<a seamsim service: %v>:<its port>", w, raw, byProgram["seamsim"])
				continue
			}
			sim := u.Hostname()
			if port := u.Port(); port != httpPort[sim] {
				t.Errorf("service %s: SEAM_API_URL %q: port %q, but %s listens on %s", w, raw, port, sim, httpPort[sim])
			}
			if u.Path != "" && u.Path != "/" {
				t.Errorf("service %s: SEAM_API_URL %q: seamsim serves the API at the root", w, raw)
			}
			needs[w] = append(needs[w], sim)
			key, simKey := env["SEAM_API_KEY"], cf.Services[sim].env["SEAM_API_KEY"]
			if key == "" || simKey == "" || key != simKey {
				t.Errorf("SEAM_API_KEY differs between %s and %s (or is not set on both)", w, sim)
			}
		}

		// Whatever a service talks to is a dependency that must be healthy first.
		for name, deps := range needs {
			for _, dep := range deps {
				if cond := cf.Services[name].DependsOn[dep]; cond != "service_healthy" {
					t.Errorf("service %s talks to %s but does not depend on it with condition service_healthy (has %q)", name, dep, cond)
				}
			}
		}
		for name, svc := range cf.Services {
			for dep, cond := range svc.DependsOn {
				if _, ok := cf.Services[dep]; !ok {
					t.Errorf("service %s depends on unknown service %s", name, dep)
				}
				if cond != "service_healthy" {
					t.Errorf("service %s depends on %s with condition %q; want service_healthy", name, dep, cond)
				}
			}
		}
	})

	t.Run("ports are published", func(t *testing.T) {
		want := map[string]string{natsSvc: natsClientPort}
		for name := range goSvcs {
			want[name] = httpPort[name]
		}
		for name, port := range want {
			found := false
			for _, p := range cf.Services[name].Ports {
				if p.Target == port && p.Published == port {
					found = true
				}
			}
			if !found {
				t.Errorf("service %s does not publish port %s as %s on the host", name, port, port)
			}
		}
	})

	t.Run("every service has a healthcheck", func(t *testing.T) {
		for name, svc := range cf.Services {
			hc := svc.Healthcheck
			if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
				t.Errorf("service %s has no healthcheck", name)
				continue
			}
			if p, ok := goSvcs[name]; ok {
				// No shell in the image: exec form, with our probe, on the
				// service's own readiness endpoint.
				want := []string{"CMD", healthcheckBin, "http://127.0.0.1:" + httpPort[name] + "/readyz"}
				if !slices.Equal(hc.Test, want) {
					t.Errorf("service %s (%s): healthcheck test %q; want %q", name, p, []string(hc.Test), want)
				}
			}
			if name == natsSvc {
				joined := strings.Join(hc.Test, " ")
				if !strings.Contains(joined, "/healthz?js-enabled-only=true") {
					t.Errorf("service %s: healthcheck %q should ask /healthz?js-enabled-only=true", name, joined)
				}
			}
		}
	})

	t.Run("every Go service builds from the Dockerfile", func(t *testing.T) {
		raw, err := os.ReadFile(dockerfilePath)
		if err != nil {
			t.Fatal(err)
		}
		globalArgs, stages := parseDockerfile(string(raw))
		if len(stages) < 2 {
			t.Fatalf("%s: want a multi-stage build, found %d stage(s)", dockerfilePath, len(stages))
		}
		final := stages[len(stages)-1]

		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for name := range goSvcs {
			b := cf.Services[name].Build
			if b == nil {
				t.Errorf("service %s has no build section", name)
				continue
			}
			ctxDir := b.Context
			if ctxDir == "" {
				ctxDir = "."
			}
			df := b.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if abs, _ := filepath.Abs(filepath.Join(ctxDir, df)); abs != filepath.Join(wd, dockerfilePath) {
				t.Errorf("service %s builds %s in context %s; want %s in the repository root", name, df, ctxDir, dockerfilePath)
			}
			if b.Target != "" && b.Target != final.name {
				t.Errorf("service %s builds target %s, not the final stage this test checks", name, b.Target)
			}
			if svc := cf.Services[name]; svc.User != "" {
				t.Errorf("service %s overrides the image's user with %q", name, svc.User)
			}
		}

		// Every binary a service runs is built, and copied to binDir.
		var build string
		for _, st := range stages {
			for _, in := range st.ins {
				if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
					build += in.args + "\n"
				}
			}
		}
		for _, p := range append(slices.Clone(goPrograms), "healthcheck") {
			if !regexp.MustCompile(`\./cmd/` + p + `(\s|$)`).MatchString(build) {
				t.Errorf("%s: no go build of ./cmd/%s", dockerfilePath, p)
			}
		}
		for _, flag := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`} {
			if !strings.Contains(build, flag) {
				t.Errorf("%s: go build without %s", dockerfilePath, flag)
			}
		}
		copied := false
		user := ""
		for _, in := range final.ins {
			f := strings.Fields(in.args)
			if in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=") && len(f) > 0 &&
				strings.TrimSuffix(f[len(f)-1], "/") == binDir {
				copied = true
			}
			if in.cmd == "USER" {
				user = in.args
			}
		}
		if !copied {
			t.Errorf("%s: the final stage copies nothing into %s", dockerfilePath, binDir)
		}
		if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "root" || uid == "0" {
			t.Errorf("%s: the final stage (FROM %s) must run as a non-root USER; has %q", dockerfilePath, final.image, user)
		}

		// The Go toolchain image follows go.mod's go line.
		want := goLine(t)
		wantMinor := strings.Join(strings.SplitN(want, ".", 3)[:2], ".")
		found := false
		for _, st := range stages {
			img, tag, _ := strings.Cut(st.image, ":")
			if img != "golang" {
				continue
			}
			found = true
			tag = os.Expand(tag, func(k string) string { return globalArgs[k] })
			if tag != wantMinor && !strings.HasPrefix(tag, wantMinor+".") && !strings.HasPrefix(tag, wantMinor+"-") {
				t.Errorf("%s: builds with golang:%s, go.mod says go %s", dockerfilePath, tag, want)
			}
		}
		if !found {
			t.Errorf("%s: no golang build stage", dockerfilePath)
		}
	})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// --- TestComposeUp --------------------------------------------------------------

// The stack's commands exactly as README.md shows them; readme_test.go
// checks that this test runs each one. They run with COMPOSE_PROJECT_NAME
// set to composeProject, which keeps the test's stack apart from a
// developer's own (project "seamcards"): down -v removes only the test's.
const (
	composeUp      = "docker compose up -d --build --wait"
	composeDown    = "docker compose down -v"
	backendExample = "go run ./examples/backend"
	composeProject = "seamcards-composetest"
)

func TestComposeUp(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the image and runs the whole stack")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker client on PATH")
	}
	{
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
		cancel()
		if err != nil {
			t.Skipf("no Docker engine answers (docker info: %v: %s)", err, firstLine(out))
		}
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker compose is not installed (%v: %s)", err, firstLine(out))
	}

	cf := loadCompose(t)
	natsPort := ""
	for _, svc := range cf.Services {
		if strings.HasPrefix(svc.Image, "nats:") {
			for _, p := range svc.Ports {
				if p.Target == natsClientPort {
					natsPort = p.Published
				}
			}
		}
	}
	if natsPort == "" {
		t.Fatalf("%s publishes no NATS client port", composePath)
	}

	// shell runs one of the commands above (plain words, no quoting).
	shell := func(ctx context.Context, command string, extra ...string) *exec.Cmd {
		f := append(strings.Fields(command), extra...)
		cmd := exec.CommandContext(ctx, f[0], f[1:]...)
		cmd.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME="+composeProject, "COMPOSE_FILE="+composePath)
		return cmd
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if t.Failed() {
			if out, err := shell(ctx, "docker compose logs --no-color --timestamps").CombinedOutput(); err == nil {
				t.Logf("docker compose logs:\n%s", out)
			}
		}
		if out, err := shell(ctx, composeDown, "--remove-orphans").CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", composeDown, err, out)
		}
	})

	upCtx, cancelUp := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancelUp()
	if out, err := shell(upCtx, composeUp).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", composeUp, err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nc, err := nats.Connect("nats://127.0.0.1:"+natsPort, nats.Name("seamcards-compose-test"), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to the stack's NATS: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// Follow the issuance from its first state, as a backend would; the
	// worker has created ISSUANCE_EVENTS by the time it is ready.
	id := fmt.Sprintf("compose-%d", time.Now().UnixNano())
	cons, err := js.OrderedConsumer(ctx, "ISSUANCE_EVENTS", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"issuance.events." + id + ".>"},
	})
	if err != nil {
		t.Fatalf("follow issuance.events.%s.>: %v", id, err)
	}

	// The seeded seamsim workspace (docs/SEAMSIM.md).
	start, err := json.Marshal(map[string]any{
		"issuance_id":          id,
		"acs_system_id":        "11111111-1111-1111-1111-111111111111",
		"user":                 map[string]string{"full_name": "Compose Test", "email_address": "compose.test@example.com"},
		"acs_access_group_ids": []string{"44444444-4444-4444-4444-333333333333"},
		"mode":                 "new",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "issuance.commands.start", start, jetstream.WithMsgID(id)); err != nil {
		t.Fatalf("publish StartIssuance: %v", err)
	}

	type issuanceState struct {
		IssuanceID      string          `json:"issuance_id"`
		Version         int             `json:"version"`
		State           string          `json:"state"`
		ACSCredentialID string          `json:"acs_credential_id"`
		CardNumber      string          `json:"card_number"`
		IssuedAt        string          `json:"issued_at"`
		Error           json.RawMessage `json:"error"`
	}
	var states []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		wait := time.Until(deadline)
		if wait < time.Second {
			t.Fatalf("issuance %s did not reach issued; states so far: %v", id, states)
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			t.Fatalf("issuance %s: waiting for the next state: %v; states so far: %v", id, err, states)
		}
		var st issuanceState
		if err := json.Unmarshal(msg.Data(), &st); err != nil {
			t.Fatalf("%s: not an IssuanceState: %v: %s", msg.Subject(), err, msg.Data())
		}
		t.Logf("%s: version %d %s", msg.Subject(), st.Version, st.State)
		if st.IssuanceID != id || msg.Subject() != "issuance.events."+id+"."+st.State || st.Version != len(states)+1 {
			t.Errorf("%s: unexpected state %s", msg.Subject(), msg.Data())
		}
		states = append(states, st.State)
		switch st.State {
		case "issued":
			if st.CardNumber == "" || st.IssuedAt == "" || st.ACSCredentialID == "" {
				t.Errorf("issued without card_number, issued_at or acs_credential_id: %s", msg.Data())
			}
			want := []string{"accepted", "user_ready", "credential_created", "encoding", "issued"}
			if !slices.Equal(states, want) {
				t.Errorf("states %v; want %v", states, want)
			}
			// The latest state is in the ISSUANCES bucket too.
			kv, err := js.KeyValue(ctx, "ISSUANCES")
			if err != nil {
				t.Fatalf("ISSUANCES bucket: %v", err)
			}
			e, err := kv.Get(ctx, id)
			if err != nil {
				t.Fatalf("ISSUANCES %s: %v", id, err)
			}
			var latest issuanceState
			if err := json.Unmarshal(e.Value(), &latest); err != nil || latest.State != "issued" {
				t.Errorf("ISSUANCES %s: %s", id, e.Value())
			}
			runBackendExample(t, shell)
			return
		case "failed", "rejected", "cancelled", "encoding_failed":
			t.Fatalf("issuance %s ended %s: %s", id, st.State, msg.Data())
		}
	}
}

// runBackendExample runs README's backend command against the stack (its
// default NATS URL is the stack's 127.0.0.1:4222); it exits 0 once its card
// is issued.
func runBackendExample(t *testing.T, shell func(context.Context, string, ...string) *exec.Cmd) {
	t.Helper()
	if _, err := os.Stat("examples/backend"); err != nil {
		t.Logf("no examples/backend: not running %q", backendExample)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := shell(ctx, backendExample).CombinedOutput()
	if err != nil {
		t.Errorf("%s: %v\n%s", backendExample, err, out)
		return
	}
	t.Logf("%s:\n%s", backendExample, out)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
