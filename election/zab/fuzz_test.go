package zab

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
)

func TestDecodeRejects(t *testing.T) {
	good := encode(&message{Type: mPropose, Epoch: 1, Txns: txnsAt(1, 2)})
	_, err := decode(good)
	require.NoError(t, err)
	bad := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{9}, good[1:]...),
		"type 0":        encode(&message{}),
		"type too big":  encode(&message{Type: mTypeEnd}),
		"state":         encode(&message{Type: mNotification, State: 0}),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte(nil), good...), 0),
		"not after p":   encode(&message{Type: mPropose, Prev: 5, Txns: txnsAt(3)}),
		"out of order":  encode(&message{Type: mPropose, Txns: txnsAt(2, 1)}),
		"zero zxid":     encode(&message{Type: mPropose, Txns: txnsAt(0)}),
		"too many":      encode(&message{Type: mPropose, Txns: txnsAt(seq(MaxBatch + 1)...)}),
		"huge":          make([]byte, MaxMessageBytes+1),
		"oversized key": encode(&message{Type: mPropose, Txns: []txn{{Zxid: 1, Op: election.OpWrite, Key: strings.Repeat("k", MaxKeyLen+1)}}}),
	}
	readOp := encode(&message{Type: mPropose, Txns: []txn{{Zxid: 1, Op: election.OpWrite}}})
	readOp[len(readOp)-5] = 3 // op byte: then key length 0 and three one-byte varints
	bad["op"] = readOp
	flags := append([]byte(nil), good...)
	flags[2+12] = 0x80
	bad["flags"] = flags
	for name, b := range bad {
		_, err := decode(b)
		assert.Error(t, err, name)
	}

	n, err := New(election.Config{ID: "n1", Peers: []string{"n1", "n2", "n3"}, Now: time.Unix(0, 0)})
	require.NoError(t, err)
	assert.Error(t, n.Step("n9", encode(&message{Type: mPing})), "unknown peer")
	assert.Error(t, n.Step("n1", encode(&message{Type: mPing})), "myself")
	assert.Error(t, n.Step("n2", []byte("garbage")))

	_, err = New(election.Config{ID: "n1", Peers: []string{"n1"}, Records: [][]byte{{1, 'q'}}})
	assert.Error(t, err, "unknown record kind")
	_, err = New(election.Config{ID: "n1", Peers: []string{"n1"}, Records: [][]byte{encodeRecord(&record{Kind: 'x', Txns: txnsAt(2, 1)})}})
	assert.Error(t, err, "out-of-order log")
}

func seq(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

func TestBatchesStayBounded(t *testing.T) {
	big := make([]txn, MaxBatch)
	for i := range big {
		big[i] = txn{Zxid: uint64(i + 1), Op: election.OpCAS, Key: strings.Repeat("k", MaxKeyLen), From: -1 << 63, To: -1 << 63}
	}
	b := encode(&message{Type: mPropose, Epoch: 1<<32 - 1, Txns: big, Commit: 1<<64 - 1})
	assert.Less(t, len(b), MaxMessageBytes)
	_, err := decode(b)
	assert.NoError(t, err)
}

// FuzzStep feeds arbitrary payloads to servers in every state; Step must
// never panic, and a rejected payload must change nothing visible.
func FuzzStep(f *testing.F) {
	seeds := []*message{
		{Type: mNotification, Leader: 3, Zxid: 1 << 32, PeerEpoch: 1, Round: 2, State: stateLooking},
		{Type: mNotification, Leader: 2, PeerEpoch: 1, Round: 1, State: stateLeading},
		{Type: mFollowerInfo, AcceptedEpoch: 4, Session: 9},
		{Type: mLeaderInfo, Epoch: 1},
		{Type: mAckEpoch, Epoch: 1, Ok: true, CurrentEpoch: 0, Zxid: 5},
		{Type: mPropose, Epoch: 1, Prev: 0, Trunc: true, Txns: []txn{{Zxid: 1<<32 | 1, Op: election.OpWrite, Key: "a", Value: 1}}, Commit: 1<<32 | 1},
		{Type: mAck, Epoch: 1, Zxid: 1<<32 | 1},
		{Type: mAck, Epoch: 1, Nack: true, Trunc: true},
		{Type: mNewLeader, Epoch: 1, Zxid: 0},
		{Type: mAckNewLeader, Epoch: 1},
		{Type: mPing, Epoch: 1, Commit: 7, Seq: 3},
		{Type: mPingAck, Epoch: 1, Seq: 3, Zxid: 1 << 40},
	}
	for _, m := range seeds {
		for st := uint8(0); st < 3; st++ {
			f.Add(st, encode(m))
		}
	}
	f.Add(uint8(1), encode(&message{Type: mPropose, Epoch: 1, Trunc: true, Txns: []txn{{Zxid: 1, Op: election.OpCAS, Key: "a", From: 1, To: 2}}}))
	f.Fuzz(func(t *testing.T, st uint8, payload []byte) {
		now := time.Unix(1000, 0)
		n, err := New(election.Config{ID: "n1", Peers: []string{"n1", "n2", "n3"}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		switch st % 3 {
		case 1:
			n.decide(vote{Leader: 2})
			n.Step("n2", encode(&message{Type: mLeaderInfo, Epoch: 1}))
		case 2:
			n.decide(vote{Leader: 1})
			n.Step("n2", encode(&message{Type: mFollowerInfo, Session: 1}))
			n.Step("n2", encode(&message{Type: mAckEpoch, Epoch: 1, Ok: true}))
			n.Step("n2", encode(&message{Type: mAck, Epoch: 1}))
			n.Step("n2", encode(&message{Type: mAckNewLeader, Epoch: 1}))
			n.Propose(election.Request{ID: 1, Op: election.OpWrite, Key: "k", Value: 1})
		}
		n.Ready()
		before := n.Status()
		if err := n.Step("n2", payload); err != nil {
			if rd := n.Ready(); !rd.IsEmpty() || n.Status() != before {
				t.Fatalf("rejected payload changed state: %+v", rd)
			}
		}
		n.Tick(now.Add(time.Second))
		n.Propose(election.Request{ID: 2, Op: election.OpRead, Key: "k"})
		n.Ready()
	})
}
