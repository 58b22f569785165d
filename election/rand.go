package election

import "math/rand"

// NewRand returns node id's random source under seed: each node of an
// ensemble gets its own sequence (identical ones would pick the same
// randomized timeout and split every vote), and the same seed gives every
// node the same sequence again, so a replayed run draws the same timeouts.
func NewRand(seed int64, id string) *rand.Rand {
	h := int64(1469598103934665603)
	for _, c := range []byte(id) {
		h = (h ^ int64(c)) * 1099511628211
	}
	return rand.New(rand.NewSource(seed ^ h))
}
