package node

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFramesRoundTrip(t *testing.T) {
	msgs := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{9}, 1000)}
	var body []byte
	for _, m := range msgs {
		body = appendFrame(body, m)
	}
	got, err := splitFrames(body)
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i := range msgs {
		assert.Equal(t, len(msgs[i]), len(got[i]))
	}
	_, err = splitFrames(body[:len(body)-1])
	assert.ErrorIs(t, err, errBadFrame)
}

// FuzzSplitFrames: a peer body is untrusted input; parsing must never
// panic, and what parses must re-encode to the same bytes.
func FuzzSplitFrames(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendFrame(appendFrame(nil, []byte("x")), nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		frames, err := splitFrames(body)
		if err != nil {
			return
		}
		var re []byte
		for _, fr := range frames {
			re = appendFrame(re, fr)
		}
		if !bytes.Equal(re, body) {
			t.Fatal("frames do not re-encode to the body")
		}
	})
}
