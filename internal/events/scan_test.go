package events

import (
	"strings"
	"testing"
)

// FuzzScanEnvelope holds the fast path to encoding/json's answers: whenever
// scanEnvelope answers, ReadEnvelope must return exactly what the
// encoding/json path returns for the same body. Seeds are in
// testdata/fuzz/FuzzScanEnvelope.
func FuzzScanEnvelope(f *testing.F) {
	f.Add([]byte(`{"event_id":"e","event_type":"acs_credential.issued","workspace_id":"w"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := scanEnvelope(body)
		if !ok {
			return
		}
		ferr := checkEnvelope(&fast)
		ref, rerr := readEnvelopeJSON(body)
		if fast != ref || errString(ferr) != errString(rerr) {
			t.Fatalf("fast path %+v, %v; encoding/json %+v, %v", fast, ferr, ref, rerr)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestScanEnvelopeTakesTheFastPathForPlainEvents(t *testing.T) {
	for _, body := range []string{
		`{"event_id":"e","event_type":"acs_credential.issued","workspace_id":"w"}`,
		` {"Event_ID":"e", "x":[1,-2.5e+3,true,false,null,{"a":"\u00e9\n"}], "event_type":"t"} `,
		`{}`,
		`{"nested":` + strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100) + `,"event_id":"e","event_type":"t"}`,
	} {
		if _, ok := scanEnvelope([]byte(body)); !ok {
			t.Errorf("slow path for %s", body)
		}
	}
	for _, body := range []string{
		``, `[]`, `{"event_id":null}`, `{"event_id":"\u0065"}`, `{"\u0065vent_id":"e"}`, `{"event_id":"é"}`,
		`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":tru}`, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`, `{"a":1,}`, `{,}`,
		`{"a":1}}`, `{"a" 1}`, `{"a":[1,]}`, `{"a":` + strings.Repeat(`[`, 600) + strings.Repeat(`]`, 600) + `}`,
	} {
		if _, ok := scanEnvelope([]byte(body)); ok {
			t.Errorf("fast path for %q", body)
		}
	}
}
