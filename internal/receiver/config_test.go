package receiver_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/receiver"
)

func TestSplitSecrets(t *testing.T) {
	a, b := newSecret(t), newSecret(t)
	got, err := receiver.SplitSecrets(a)
	require.NoError(t, err)
	assert.Equal(t, []string{a}, got)

	got, err = receiver.SplitSecrets(a + ", " + b)
	require.NoError(t, err)
	assert.Equal(t, []string{a, b}, got)

	key := strings.TrimPrefix(a, "whsec_")
	for _, bad := range []string{
		"", ",", a + ",", a + ",," + b, key, "whsec_", "whsec_short", "whsec_" + key[:len(key)-1] + "!",
		"whsec_" + strings.Repeat("A", 104),
	} {
		_, err := receiver.SplitSecrets(bad)
		require.Error(t, err, "%q", bad)
		// The error names a position or a rule, never the secret.
		assert.NotContains(t, err.Error(), key)
	}
}
