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
	bad := []string{
		``, `{`, `null`, `[]`, `{"y":0}`, `{"y":99}`, `{"y":1,"s":9}`,
		`{"y":5,"p":5,"x":[{"z":3,"o":"write","k":"a"}]}`,               // not after Prev
		`{"y":5,"x":[{"z":2,"o":"write","k":"a"},{"z":1,"o":"write"}]}`, // out of order
		`{"y":5,"x":[{"z":1,"o":"read","k":"a"}]}`,                      // reads are never logged
		`{"y":5,"x":[{"z":0,"o":"write","k":"a"}]}`,
		`{"y":1,"r":-1}`,
	}
	for _, b := range bad {
		_, err := decode([]byte(b))
		assert.Error(t, err, b)
	}
	_, err := decode([]byte(`{"y":5,"x":[{"z":1,"o":"write","k":"` + strings.Repeat("k", MaxKeyLen+1) + `"}]}`))
	assert.Error(t, err, "oversized key")
	_, err = decode(make([]byte, MaxMessageBytes+1))
	assert.Error(t, err, "oversized message")

	n, err := New(election.Config{ID: "n1", Peers: []string{"n1", "n2", "n3"}, Now: time.Unix(0, 0)})
	require.NoError(t, err)
	assert.Error(t, n.Step("n9", encode(&message{Type: mPing})), "unknown peer")
	assert.Error(t, n.Step("n1", encode(&message{Type: mPing})), "myself")
	assert.Error(t, n.Step("n2", []byte("garbage")))
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
	f.Add(uint8(1), []byte(`{"y":5,"e":1,"x":[{"z":1,"o":"cas","k":"a","f":1,"t":2}]}`))
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
