package checker

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSlot(t *testing.T) {
	// The Redis Cluster specification's test vector of its CRC16.
	assert.Equal(t, uint16(0x31C3), crc16("123456789"))
	assert.Equal(t, 0x31C3%16384, Slot("123456789"))
	// Hash tags: only what is between the first { and the next } counts,
	// when it is not empty.
	assert.Equal(t, Slot("user1000"), Slot("{user1000}.following"))
	assert.Equal(t, Slot("user1000"), Slot("foo{user1000}{bar}"))
	assert.Equal(t, Slot("{}.following"), int(crc16("{}.following"))%16384)
	assert.Equal(t, Slot("foo{}{bar}"), int(crc16("foo{}{bar}"))%16384, "an empty tag: the whole key")
	assert.Equal(t, Slot("foo{{bar}}zap"), Slot("{bar"))
	assert.Equal(t, Slot("splitbrain:k0"), RegisterSlot("k0"))
	for _, k := range []string{"", "a", "splitbrain:k1"} {
		assert.Less(t, Slot(k), 16384)
	}
}
