package workloads

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
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

func TestReadOutcome(t *testing.T) {
	tests := []struct {
		stored string
		want   Outcome
	}{
		{"42", Outcome{Type: history.OK, Value: history.IntValue(42)}},
		{"-7", Outcome{Type: history.OK, Value: history.IntValue(-7)}},
		{"4 2", Outcome{Type: history.Info, Error: `value "4 2" is not a decimal int64`}},
		{"", Outcome{Type: history.Info, Error: `value "" is not a decimal int64`}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ReadOutcome([]byte(tt.stored)), "stored %q", tt.stored)
	}
}
