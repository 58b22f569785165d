package workloads

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{"0", "-42", "9223372036854775807", "", "1e3", " 1", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeValue(b)
		if err != nil {
			return
		}
		back, err := DecodeValue(EncodeValue(v))
		require.NoError(t, err)
		assert.Equal(t, v, back)
	})
}

func TestStrictJSON(t *testing.T) {
	var v struct{ A int }
	assert.NoError(t, StrictJSON([]byte(`{"A":1}`), &v))
	assert.Equal(t, 1, v.A)
	assert.ErrorContains(t, StrictJSON([]byte(`{"A":1} {}`), &v), "trailing data")
	assert.Error(t, StrictJSON([]byte(`garbage`), &v))
}
