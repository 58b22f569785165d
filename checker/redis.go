package checker

import (
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// Redis Cluster's hash slots: a key lives in slot CRC16(key) mod 16384
// (the Redis Cluster specification, "Keys distribution model"), and a
// shard is the set of slots its master serves, the group its nodes
// report.
const redisSlots = 16384

// RedisKeyPrefix is put before a register key to make its Redis key
// (systems/redis writes "splitbrain:k3" for k3); the slot is the Redis
// key's.
const RedisKeyPrefix = "splitbrain:"

// Slot is the hash slot of a Redis key: CRC16 of the key, or of its hash
// tag (what is between the first "{" and the next "}", when that is not
// empty), mod 16384.
func Slot(key string) int {
	k := key
	for i := 0; i < len(k); i++ {
		if k[i] != '{' {
			continue
		}
		for j := i + 1; j < len(k); j++ {
			if k[j] == '}' {
				if j > i+1 {
					k = k[i+1 : j]
				}
				break
			}
		}
		break
	}
	return int(crc16(k)) % redisSlots
}

// RegisterSlot is the slot of register key k as systems/redis stores it.
func RegisterSlot(k string) int { return Slot(RedisKeyPrefix + k) }

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no
// reflection), the one Redis Cluster uses.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// served is the reign in which node itself served an operation on slot
// from from to to: a reign of node leading a group that holds the slot,
// from before from until lag after to. Redis's clients follow
// redirections, so an operation is the connected node's own only when
// that node was the slot's master then; lag leaves out the moments just
// before the observer saw its reign end (the poll that shows a master
// demoted comes up to a poll late, and meanwhile it redirects).
func served(tl *timeline.Timeline, node string, slot int, from, to, lag int64) (timeline.Reign, bool) {
	for _, r := range tl.Reigns[node] {
		if r.Role == rundir.RoleLeader && timeline.HasSlot(r.Group, slot) && r.From <= from && (r.Open || r.To >= to+lag) {
			return r, true
		}
	}
	return timeline.Reign{}, false
}

// isRedis reports whether opts judge a Redis Cluster run.
func (o Options) isRedis() bool { return o.System == rundir.SystemRedis }
