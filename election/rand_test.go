package election

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func draws(seed int64, id string) []int64 {
	r := NewRand(seed, id)
	out := make([]int64, 8)
	for i := range out {
		out[i] = r.Int63n(300)
	}
	return out
}

func TestNewRand(t *testing.T) {
	assert.Equal(t, draws(7, "n1"), draws(7, "n1"), "the same seed and node draw the same timeouts again")
	assert.NotEqual(t, draws(7, "n1"), draws(7, "n2"), "each node of one seed its own")
	assert.NotEqual(t, draws(7, "n1"), draws(8, "n1"), "another seed, other timeouts")
}
