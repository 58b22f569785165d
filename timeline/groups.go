package timeline

import (
	"strconv"
	"strings"
)

// SlotRange is the integers Lo to Hi, both included: a range of hash slots
// of a group that names them ("0-5460").
type SlotRange struct{ Lo, Hi int }

// Slots reads a group as the slots it names: ranges "lo-hi" and single
// numbers "n" of non-negative integers, joined by ",", as Redis Cluster
// spells a shard's slots ("0-5460", "0-10,12"). ok is false for a group
// that is not spelled so (the group "" of a system with one leader, or an
// opaque name): such a group is compared by name only.
func Slots(group string) (rs []SlotRange, ok bool) {
	if group == "" {
		return nil, false
	}
	for _, f := range strings.Split(group, ",") {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || lo != strconv.Itoa(a) {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || hi != strconv.Itoa(b) {
				return nil, false
			}
		}
		rs = append(rs, SlotRange{a, b})
	}
	return rs, true
}

// Overlap reports whether two groups may hold the same thing, so that two
// leaders of one term in them break election safety: the same group, or
// two groups of slots (Slots) that share a slot. A shard whose slot ranges
// a node reports differently (a slot moved, a stale view) is still the
// same shard for every slot both name.
func Overlap(a, b string) bool {
	if a == b {
		return true
	}
	ra, okA := Slots(a)
	rb, okB := Slots(b)
	if !okA || !okB {
		return false
	}
	for _, x := range ra {
		for _, y := range rb {
			if x.Lo <= y.Hi && y.Lo <= x.Hi {
				return true
			}
		}
	}
	return false
}

// HasSlot reports whether group names slot (Slots).
func HasSlot(group string, slot int) bool {
	rs, _ := Slots(group)
	for _, r := range rs {
		if r.Lo <= slot && slot <= r.Hi {
			return true
		}
	}
	return false
}
