// Command sagabench measures the worker: it starts batches of issuances at
// once against seamsim (with API latency and random card placement delays)
// and a real cmd/worker process, and reports issuances per second, the time
// from the confirming webhook being stored to the issued state being
// published (both JetStream timestamps of one server), Seam calls per
// issuance, action attempt reads before confirmation, and the worker's RSS.
//
//	go run ./bench/sagabench -batches 200,1000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardissuer/seamcards/internal/events"
	"github.com/cardissuer/seamcards/internal/saga"
	"github.com/cardissuer/seamcards/internal/seamsim"
	"github.com/cardissuer/seamcards/internal/stack"
)

func main() {
	batches := flag.String("batches", "200,1000", "issuances started at once, per batch")
	latency := flag.Duration("latency", 50*time.Millisecond, "added to every Seam API call")
	placeMin := flag.Duration("place-min", 200*time.Millisecond, "shortest card placement (encode) delay")
	placeMax := flag.Duration("place-max", 2*time.Second, "longest card placement (encode) delay")
	concurrency := flag.Int("worker-concurrency", 256, "WORKER_CONCURRENCY of the worker")
	flag.Parse()
	if err := run(*batches, *latency, *placeMin, *placeMax, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "sagabench:", err)
		os.Exit(1)
	}
}

func run(batchList string, latency, placeMin, placeMax time.Duration, concurrency int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bin, cleanup, err := buildWorker()
	if err != nil {
		return err
	}
	defer cleanup()
	s, err := stack.Start(ctx, stack.Options{NoWorker: true, Sim: seamsim.Config{
		APILatency: latency, EncodeDelay: placeMin, EncodeDelayMax: placeMax,
		EncoderSlots: 100000, WebhookConcurrency: 256, CallLogLimit: 1 << 22,
	}})
	if err != nil {
		return err
	}
	defer s.Close()
	w := exec.Command(bin)
	w.Env = append(os.Environ(), "NATS_URL="+s.NATS.URL(), "SEAM_API_KEY="+s.Sim.APIKey(), "SEAM_API_URL="+s.SimURL,
		"HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "WORKER_CONCURRENCY="+strconv.Itoa(concurrency))
	w.Stderr = os.Stderr
	if err := w.Start(); err != nil {
		return err
	}
	defer func() { _ = w.Process.Signal(syscall.SIGTERM); _ = w.Wait() }()

	fmt.Printf("seam latency %s, card placement %s..%s, WORKER_CONCURRENCY %d, GOMAXPROCS of this machine\n",
		latency, placeMin, placeMax, concurrency)
	fmt.Printf("%8s %10s %12s %12s %12s %12s %10s %10s %12s\n",
		"batch", "wall", "issued/s", "p50 hook→", "p99 hook→", "max hook→", "calls/iss", "att.reads", "worker RSS")
	for i, field := range strings.Split(batchList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 {
			return fmt.Errorf("batch %q is not a positive number", field)
		}
		if err := batch(ctx, s, w.Process.Pid, fmt.Sprintf("b%d", i), n); err != nil {
			return err
		}
	}
	return nil
}

func batch(ctx context.Context, s *stack.Stack, pid int, prefix string, n int) error {
	s.Sim.ResetCalls()
	issued := make(chan struct{}, n)
	cons, err := s.JS.OrderedConsumer(ctx, events.StreamIssuanceEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.IssuanceEventsAll},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return err
	}
	published := map[string]time.Time{} // credential id → issued published
	var pubCh = make(chan [2]string, n)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var is saga.Issuance
		if json.Unmarshal(m.Data(), &is) != nil || !strings.HasPrefix(is.IssuanceID, prefix+"-") {
			return
		}
		if is.State == saga.Issued {
			md, _ := m.Metadata()
			pubCh <- [2]string{is.AcsCredentialID, md.Timestamp.Format(time.RFC3339Nano)}
			issued <- struct{}{}
		} else if is.State.Terminal() || is.State == saga.EncodingFailed {
			fmt.Fprintf(os.Stderr, "issuance %s ended %s: %+v\n", is.IssuanceID, is.State, is.Error)
		}
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	start := time.Now()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		cmd := saga.StartIssuance{IssuanceID: id, AcsSystemID: seamsim.SystemID,
			User:              &saga.User{FullName: fmt.Sprintf("Guest %s", id), PhoneNumber: "+15555550100"},
			AcsAccessGroupIDs: []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests}}
		if err := s.Start(ctx, cmd); err != nil {
			return err
		}
	}
	deadline := time.After(3 * time.Minute)
	for i := 0; i < n; i++ {
		select {
		case <-issued:
		case <-deadline:
			return fmt.Errorf("only %d of %d issued", i, n)
		}
	}
	wall := time.Since(start)
	for i := 0; i < n; i++ {
		p := <-pubCh
		t, _ := time.Parse(time.RFC3339Nano, p[1])
		published[p[0]] = t
	}
	stored, err := storedTimes(ctx, s.JS, published)
	if err != nil {
		return err
	}
	var lat []time.Duration
	for cred, pub := range published {
		if st, ok := stored[cred]; ok {
			lat = append(lat, pub.Sub(st))
		}
	}
	slices.Sort(lat)
	apiCalls, attemptReads := 0, s.Sim.CallCount("/action_attempts/get")
	for _, c := range s.Sim.Calls() {
		if c.Kind == seamsim.KindAPI {
			apiCalls++
		}
	}
	fmt.Printf("%8d %10s %12.0f %12s %12s %12s %10.2f %10d %9.1f MiB  (peak %.1f MiB; %d latencies)\n",
		n, wall.Round(time.Millisecond), float64(n)/wall.Seconds(), pct(lat, 50), pct(lat, 99), pct(lat, 100),
		float64(apiCalls)/float64(n), attemptReads, rss(pid, "VmRSS"), rss(pid, "VmHWM"), len(lat))
	return nil
}

// storedTimes reads when each confirming webhook was stored in SEAM_EVENTS.
func storedTimes(ctx context.Context, js jetstream.JetStream, want map[string]time.Time) (map[string]time.Time, error) {
	cons, err := js.OrderedConsumer(ctx, events.StreamSeamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SeamEventsPrefix + "acs_credential.issued", events.SeamEventsPrefix + "acs_credential.reissued"},
	})
	if err != nil {
		return nil, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for left := info.NumPending; left > 0; {
		b, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range b.Messages() {
			got++
			var e struct {
				Cred string `json:"acs_credential_id"`
			}
			if json.Unmarshal(m.Data(), &e) == nil {
				if _, ok := want[e.Cred]; ok {
					md, _ := m.Metadata()
					if _, seen := out[e.Cred]; !seen {
						out[e.Cred] = md.Timestamp
					}
				}
			}
		}
		if got == 0 {
			break
		}
		left -= uint64(got)
	}
	return out, nil
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	i := (len(d)*p + 99) / 100
	i = max(1, min(i, len(d)))
	return d[i-1].Round(100 * time.Microsecond).String()
}

func rss(pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func buildWorker() (string, func(), error) {
	dir, err := os.MkdirTemp("", "sagabench-*")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/worker").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build worker: %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
