package receiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/cardissuer/seamcards/internal/events"
)

// fuzzSecret signs the fuzzer's "signed" inputs; it is a test value only.
const fuzzSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// FuzzRequest drives the handler's parsing of headers and bodies: the same
// functions, in the same order, that ServeHTTP calls between reading the
// request and publishing. When sign is set the body is signed with the
// svix library so the fuzzer reaches envelope reading and routing; the seed
// corpus is in testdata/fuzz/FuzzRequest.
func FuzzRequest(f *testing.F) {
	whs, err := newVerifiers([]string{fuzzSecret})
	if err != nil {
		f.Fatal(err)
	}
	signer, err := svix.NewWebhook(fuzzSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"event_id":"e","event_type":"acs_credential.issued","workspace_id":"w"}`), "msg_1", "0", "", false, true)
	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig string, twins, sign bool) {
		now := time.Now()
		if sign {
			ts = strconv.FormatInt(now.Unix(), 10)
			if sig, err = signer.Sign(id, now, body); err != nil {
				t.Fatal(err)
			}
		}
		prefix := "Svix-"
		if twins {
			prefix = "Webhook-"
		}
		h := http.Header{}
		for k, v := range map[string]string{"Id": id, "Timestamp": ts, "Signature": sig} {
			if v != "" {
				h.Set(prefix+k, v)
			}
		}

		sh, o := readSignedHeaders(h, now)
		if o != "" {
			if o.status() != http.StatusBadRequest {
				t.Fatalf("header rejection %s answers %d", o, o.status())
			}
			if o == outMissingHeader && id != "" && ts != "" && sig != "" {
				t.Fatalf("all headers present but %s", o)
			}
			return
		}
		if sh.id != id {
			t.Fatalf("verified id %q, sent %q", sh.id, id)
		}
		if !events.HeaderSafe(sh.id) {
			t.Fatalf("accepted unsafe id %q", sh.id)
		}
		if !verify(whs, sh, body) {
			if sign {
				t.Fatalf("own signature rejected for id %q", id)
			}
			return
		}

		msg, quarantine := storedMsg(sh, body)
		if !bytes.Equal(msg.Data, body) || (len(body) > 0 && &msg.Data[0] != &body[0]) {
			t.Fatal("stored data is not the body itself")
		}
		if got := msg.Header.Get(events.HeaderMsgID); got != id {
			t.Fatalf("Nats-Msg-Id %q, svix-id %q", got, id)
		}
		for k, vs := range msg.Header {
			for _, v := range vs {
				if v == "" || strings.ContainsAny(v, "\r\n") {
					t.Fatalf("header %s has unusable value %q", k, v)
				}
			}
		}
		if quarantine != nil {
			if msg.Subject != events.SeamQuarantine {
				t.Fatalf("quarantined on %q", msg.Subject)
			}
			return
		}
		// Routed: the body is a JSON object whose event_type, as a
		// consumer decodes it, forms the subject.
		var env struct {
			EventID   string `json:"event_id"`
			EventType string `json:"event_type"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("routed a body encoding/json rejects: %v", err)
		}
		if msg.Subject != events.SeamEventsPrefix+env.EventType || !events.ValidEventType(env.EventType) {
			t.Fatalf("subject %q for event_type %q", msg.Subject, env.EventType)
		}
		if strings.ContainsAny(msg.Subject, " \t*>") || strings.Contains(msg.Subject, "..") {
			t.Fatalf("invalid subject %q", msg.Subject)
		}
		if msg.Header.Get(events.HeaderSeamEventID) != env.EventID {
			t.Fatalf("Seam-Event-Id %q, event_id %q", msg.Header.Get(events.HeaderSeamEventID), env.EventID)
		}
	})
}
