package events_test

import (
	"testing"

	"github.com/cardissuer/seamcards/internal/events"
)

var benchBody = []byte(`{"event_id":"a1b2c3d4-0000-000000000001","event_type":"acs_credential.issued","workspace_id":"55555555-5555-4555-8555-555555555555","created_at":"2025-03-01T19:46:06.113Z","occurred_at":"2025-03-01T19:46:05.902Z","acs_system_id":"11111111-1111-1111-1111-111111111111","acs_credential_id":"66666666-6666-4666-8666-000000000001","connected_account_id":"77777777-7777-4777-8777-777777777777","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)

func BenchmarkReadEnvelope(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := events.ReadEnvelope(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}
