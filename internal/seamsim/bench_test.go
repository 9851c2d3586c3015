package seamsim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seamsim"
)

// BenchmarkIssuances runs 1,000 issuances at once against one seamsim with
// 50ms per API call and encodings of 100–500ms, as the saga benchmark will:
// create the user with groups, create the card credential, encode it, wait
// for the signed acs_credential.issued webhook. Each encoding gets its own
// encoder slot, so the figure is seamsim's own cost, not a queue at one
// encoder. Reports wall time per batch and the largest heap seen.
func BenchmarkIssuances(b *testing.B) {
	const n = 1000
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	waiting := map[string]chan struct{}{}
	var bad atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if wh.Verify(body, r.Header) != nil {
			bad.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ev, err := seam.ParseEvent(body)
		if err == nil && ev.EventType == seam.EventCredentialIssued {
			mu.Lock()
			if ch := waiting[ev.AcsCredentialID]; ch != nil {
				close(ch)
				delete(waiting, ev.AcsCredentialID)
			}
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	sim, err := seamsim.New(seamsim.Config{
		WebhookSecrets: []string{secret}, WebhookURL: hook.URL,
		APILatency: 50 * time.Millisecond, EncodeDelay: 100 * time.Millisecond, EncodeDelayMax: 500 * time.Millisecond,
		EncoderSlots: n,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = n
	client, err := seam.New(srv.URL, sim.APIKey(), seam.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		b.Fatal(err)
	}

	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	defer close(stop)

	issue := func(ctx context.Context, i int) error {
		u, err := client.CreateUser(ctx, seam.CreateUserRequest{AcsSystemID: seamsim.SystemID, FullName: fmt.Sprintf("Bench %d", i),
			AcsAccessGroupIDs: []string{seamsim.AccessGroupStaff, seamsim.AccessGroupGuests}})
		if err != nil {
			return err
		}
		c, err := client.CreateCredential(ctx, seam.CreateCredentialRequest{AcsUserID: u.AcsUserID, AccessMethod: seam.AccessMethodCard})
		if err != nil {
			return err
		}
		done := make(chan struct{})
		mu.Lock()
		waiting[c.AcsCredentialID] = done
		mu.Unlock()
		if _, err := client.EncodeCredential(ctx, c.AcsCredentialID, seamsim.EncoderID); err != nil {
			return err
		}
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				if err := issue(ctx, i); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if bad.Load() > 0 {
		b.Fatalf("%d deliveries failed verification", bad.Load())
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "MiB-heap-peak")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "issuances/s")
}

// BenchmarkAPICall is seamsim's cost per call without added latency:
// routing, authentication, validation against the document, the handler.
func BenchmarkAPICall(b *testing.B) {
	sim, err := seamsim.New(seamsim.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	client, err := seam.New(srv.URL, sim.APIKey())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := client.GetEncoder(ctx, seamsim.EncoderID); err != nil {
			b.Fatal(err)
		}
	}
}
