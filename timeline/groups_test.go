package timeline

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSlots(t *testing.T) {
	for _, tt := range []struct {
		group string
		want  []SlotRange
		ok    bool
	}{
		{"0-5460", []SlotRange{{0, 5460}}, true},
		{"0-10,12", []SlotRange{{0, 10}, {12, 12}}, true},
		{"", nil, false},
		{"shard-a", nil, false},
		{"10-5", nil, false},
		{"-1", nil, false},
		{"01-3", nil, false},
		{"1,,2", nil, false},
	} {
		got, ok := Slots(tt.group)
		assert.Equal(t, tt.ok, ok, tt.group)
		assert.Equal(t, tt.want, got, tt.group)
	}
}

func TestOverlap(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"0-5460", "0-5460", true},
		{"0-5460", "5461-10922", false},
		{"0-5460", "5000-5461", true},
		{"0-10,20-30", "11-19,31", false},
		{"0-10,20-30", "25", true},
		{"", "0-5460", false},
		{"x", "y", false},
	} {
		assert.Equal(t, tt.want, Overlap(tt.a, tt.b), "%q %q", tt.a, tt.b)
		assert.Equal(t, tt.want, Overlap(tt.b, tt.a), "%q %q", tt.b, tt.a)
	}
	assert.True(t, HasSlot("0-10,12", 12))
	assert.False(t, HasSlot("0-10,12", 11))
	assert.False(t, HasSlot("", 0))
}

func FuzzSlots(f *testing.F) {
	for _, s := range []string{"0-5460", "0-10,12", "", "a", "9999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, ok := Slots(s)
		if !ok {
			return
		}
		for _, r := range rs {
			if r.Lo < 0 || r.Hi < r.Lo {
				t.Fatalf("%q: bad range %+v", s, r)
			}
		}
		if !Overlap(s, s) {
			t.Fatalf("%q does not overlap itself", s)
		}
	})
}
