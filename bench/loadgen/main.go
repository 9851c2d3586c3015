// Command loadgen measures the receiver: it sends pre-signed, distinct Seam
// webhooks over real HTTP with N concurrent connections and reports
// throughput and latency, then sends the same load to a no-op HTTP server
// (the ceiling this machine's HTTP stack and load tool allow) so the two can
// be compared within one run.
//
//	loadgen -serve-noop 127.0.0.1:9999            # the ceiling, in its own process
//	loadgen -target http://127.0.0.1:8080/webhooks/seam -ceiling http://127.0.0.1:9999/ \
//	        -secret whsec_… -n 100000 -c 64
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

func main() {
	var (
		serveNoop = flag.String("serve-noop", "", "serve a no-op handler on this address and do nothing else")
		target    = flag.String("target", "", "webhook URL of the receiver")
		ceiling   = flag.String("ceiling", "", "URL of a no-op server to run the same load against")
		secret    = flag.String("secret", os.Getenv("SEAM_WEBHOOK_SECRET"), "Svix secret to sign with")
		n         = flag.Int("n", 100000, "measured requests per target")
		warmup    = flag.Int("warmup", 5000, "unmeasured requests first, per target")
		conc      = flag.Int("c", 64, "concurrent connections")
		size      = flag.Int("size", 600, "approximate body size in bytes")
		jsonOut   = flag.Bool("json", false, "print results as JSON lines")
	)
	flag.Parse()
	if *serveNoop != "" {
		if err := runNoop(*serveNoop); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	if *target == "" || *secret == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -target and -secret (or SEAM_WEBHOOK_SECRET) are required")
		os.Exit(2)
	}
	reqs, err := presign(*secret, *warmup+*n, *size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	targets := []struct{ name, url string }{{"receiver", *target}}
	if *ceiling != "" {
		targets = append(targets, struct{ name, url string }{"noop", *ceiling})
	}
	var results []result
	for _, tg := range targets {
		run(tg.url, reqs[:*warmup], *conc)
		r := run(tg.url, reqs[*warmup:], *conc)
		r.Target, r.Connections = tg.name, *conc
		results = append(results, r)
		report(r, *jsonOut)
	}
	if len(results) == 2 && results[1].PerSecond > 0 {
		ratio := results[0].StoredPerSecond / results[1].PerSecond
		if *jsonOut {
			_ = json.NewEncoder(os.Stdout).Encode(map[string]float64{"ratio": ratio})
		} else {
			fmt.Printf("stored/s relative to no-op ceiling: %.2f\n", ratio)
		}
	}
	for _, r := range results {
		if r.Failed > 0 {
			os.Exit(1)
		}
	}
}

// webhook is one pre-signed delivery.
type webhook struct {
	body              []byte
	id, ts, signature string
}

// presign builds count distinct deliveries, signed now; a run must finish
// within Svix's 5-minute tolerance.
func presign(secret string, count, size int) ([]webhook, error) {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	nonce := make([]byte, 6)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	run := hex.EncodeToString(nonce)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	out := make([]webhook, count)
	for i := range out {
		body := fmt.Appendf(nil, `{"event_id":"%s-%012d","event_type":"acs_credential.issued",`+
			`"workspace_id":"55555555-5555-4555-8555-555555555555","created_at":"2025-03-01T19:46:06.113Z",`+
			`"occurred_at":"2025-03-01T19:46:05.902Z","acs_system_id":"11111111-1111-1111-1111-111111111111",`+
			`"acs_credential_id":"66666666-6666-4666-8666-%012d","connected_account_id":"77777777-7777-4777-8777-777777777777"`,
			run, i, i)
		if pad := size - len(body) - 12; pad > 0 {
			body = append(body, `,"pad":"`...)
			body = append(body, bytes.Repeat([]byte("x"), pad)...)
			body = append(body, '"')
		}
		body = append(body, '}')
		id := fmt.Sprintf("msg_%s_%d", run, i)
		sig, err := wh.Sign(id, now, body)
		if err != nil {
			return nil, err
		}
		out[i] = webhook{body: body, id: id, ts: ts, signature: sig}
	}
	return out, nil
}

type result struct {
	Target          string  `json:"target"`
	Connections     int     `json:"connections"`
	Requests        int     `json:"requests"`
	Stored          int     `json:"stored"`
	Failed          int     `json:"failed"`
	Seconds         float64 `json:"seconds"`
	PerSecond       float64 `json:"per_second"`
	StoredPerSecond float64 `json:"stored_per_second"`
	P50ms           float64 `json:"p50_ms"`
	P99ms           float64 `json:"p99_ms"`
	Maxms           float64 `json:"max_ms"`
	// ClientCPUus is this load tool's own CPU time per request: on a machine
	// it shares with the target, what the target cannot have.
	ClientCPUus float64 `json:"client_cpu_us"`
	FirstError  string  `json:"first_error,omitempty"`
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run sends every webhook once over conc connections.
func run(url string, reqs []webhook, conc int) result {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		next     atomic.Int64
		stored   atomic.Int64
		failed   atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	lat := make([][]time.Duration, conc)
	cpu0, start := cpuTime(), time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			mine := make([]time.Duration, 0, len(reqs)/conc+1)
			buf := make([]byte, 512)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					break
				}
				r := &reqs[i]
				t0 := time.Now()
				ok, isStored, err := send(client, url, r, buf)
				mine = append(mine, time.Since(t0))
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case !ok:
					failed.Add(1)
				case isStored:
					stored.Add(1)
				}
			}
			lat[w] = mine
		}(w)
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(float64(len(all)-1)*p)]) / 1e6
	}
	res := result{
		Requests: len(reqs), Stored: int(stored.Load()), Failed: int(failed.Load()),
		Seconds:   elapsed.Seconds(),
		PerSecond: float64(len(reqs)) / elapsed.Seconds(), StoredPerSecond: float64(stored.Load()) / elapsed.Seconds(),
		P50ms: pct(0.50), P99ms: pct(0.99), Maxms: pct(1),
		ClientCPUus: float64(cpu.Microseconds()) / float64(len(reqs)),
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	return res
}

var storedAnswer = []byte(`"outcome":"stored"`)

func send(client *http.Client, url string, r *webhook, buf []byte) (ok, stored bool, err error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(r.body))
	if err != nil {
		return false, false, err
	}
	req.Header = http.Header{
		"Content-Type":   {"application/json"},
		"Svix-Id":        {r.id},
		"Svix-Timestamp": {r.ts},
		"Svix-Signature": {r.signature},
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, false, err
	}
	n, _ := io.ReadFull(resp.Body, buf)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return false, false, fmt.Errorf("status %d: %s", resp.StatusCode, buf[:n])
	}
	return true, bytes.Contains(buf[:n], storedAnswer) || resp.StatusCode == http.StatusNoContent, nil
}

func report(r result, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("%-8s c=%d  %d requests in %.2fs  %.0f req/s  %.0f stored/s  p50 %.2f ms  p99 %.2f ms  max %.1f ms  failed %d  load tool %.1f µs CPU/req\n",
		r.Target, r.Connections, r.Requests, r.Seconds, r.PerSecond, r.StoredPerSecond, r.P50ms, r.P99ms, r.Maxms, r.Failed, r.ClientCPUus)
	if r.FirstError != "" {
		fmt.Printf("         first error: %s\n", r.FirstError)
	}
}

// runNoop serves 204 for every request after reading its body: the same
// HTTP work the receiver does, without verifying or storing anything.
func runNoop(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Fprintf(os.Stderr, "noop listening on %s\n", l.Addr())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
