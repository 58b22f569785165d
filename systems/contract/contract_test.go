package contract

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/systems"
)

func TestSystem(t *testing.T) {
	s, err := System("./bin/mynode", "--id {id} --listen {listen} --peers {peers} --data {data}", 0)
	require.NoError(t, err)
	assert.Equal(t, systems.Binary{Dest: "/mynode", File: "./bin/mynode"}, s.Binaries[0])
	assert.Equal(t, DefaultPort, s.ClientPort)
	assert.Equal(t, systems.ClockContract, s.Clock)
	peers := []systems.Peer{{ID: "n1", Index: 1, IP: "10.0.0.11"}, {ID: "n2", Index: 2, IP: "10.0.0.12"}}
	want := []string{"/mynode", "--id", "n1", "--listen", "0.0.0.0:7101", "--peers", "n1=10.0.0.11:7101,n2=10.0.0.12:7101", "--data", "/data/n1"}
	assert.Equal(t, want, s.Argv(peers[0], peers))

	_, err = System("", "", 0)
	assert.Error(t, err, "no binary")
}
