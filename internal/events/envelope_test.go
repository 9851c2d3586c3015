package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/events"
)

func TestReadEnvelope(t *testing.T) {
	env, err := events.ReadEnvelope([]byte(` {"occurred_at":"x","event_id":"e1","nested":{"event_type":"no"},"event_type":"acs_credential.issued","workspace_id":"w1"}`))
	require.NoError(t, err)
	assert.Equal(t, events.Envelope{EventID: "e1", EventType: "acs_credential.issued", WorkspaceID: "w1"}, env)

	// Escapes are decoded as a JSON consumer decodes them.
	env, err = events.ReadEnvelope([]byte(`{"event_id":"e\u0032","event_type":"acs_credential\u002eissued"}`))
	require.NoError(t, err)
	assert.Equal(t, "e2", env.EventID)
	assert.Equal(t, "acs_credential.issued", env.EventType)

	// Keys match and repeat as encoding/json reads them, so the subject
	// agrees with what the worker decodes.
	env, err = events.ReadEnvelope([]byte(`{"event_id":"e","event_type":"a.first","EVENT_TYPE":"a.last"}`))
	require.NoError(t, err)
	assert.Equal(t, "a.last", env.EventType)

	// A workspace_id that cannot be a header is dropped, not fatal.
	for _, w := range []string{`"w s"`, `7`, `null`, `"` + strings.Repeat("w", 256) + `"`} {
		env, err = events.ReadEnvelope([]byte(`{"event_id":"e","event_type":"t","workspace_id":` + w + `}`))
		if w == `7` {
			require.Error(t, err, "a non-string workspace_id is still a malformed event")
			continue
		}
		require.NoError(t, err, w)
		assert.Empty(t, env.WorkspaceID, w)
	}
}

func TestReadEnvelopeRejects(t *testing.T) {
	for _, body := range []string{
		``, `   `, `null`, `true`, `"s"`, `12`, `[]`, `{`, `{"event_id":"e","event_type":"t"}{}`,
		`{"event_id":"e"}`, `{"event_type":"t"}`, `{"event_id":"","event_type":"t"}`,
		`{"event_id":"e","event_type":""}`, `{"event_id":1,"event_type":"t"}`, `{"event_id":"e","event_type":["t"]}`,
		`{"event_id":"e","event_type":"a.*"}`, `{"event_id":"e","event_type":"a b"}`, `{"event_id":"e e","event_type":"t"}`,
		`{"event_id":"e\r\nX: y","event_type":"t"}`,
	} {
		_, err := events.ReadEnvelope([]byte(body))
		require.Error(t, err, body)
		assert.True(t, errors.Is(err, events.ErrUnusableEnvelope), body)
	}
}

func TestHeaderSafe(t *testing.T) {
	assert.True(t, events.HeaderSafe("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"))
	assert.True(t, events.HeaderSafe(strings.Repeat("a", events.MaxHeaderValueLen)))
	for _, s := range []string{"", " a", "a b", "a\tb", "a\r\nb", "é", "a\x7f", strings.Repeat("a", events.MaxHeaderValueLen+1)} {
		assert.False(t, events.HeaderSafe(s), "%q", s)
	}
}
