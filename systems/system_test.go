package systems

import (
	"reflect"
	"testing"
)

func TestArgv(t *testing.T) {
	s := System{Name: "x", Args: []string{"/x", "--id", "{id}", "--listen", "{listen}", "--peers", "{peers}", "--data", "{data}", "--n={index}", "--seed", "{seed}"}, ClientPort: 7101, Seed: -9}
	peers := []Peer{{"n1", 1, "10.0.0.11"}, {"n2", 2, "10.0.0.12"}}
	got := s.Argv(peers[1], peers)
	want := []string{"/x", "--id", "n2", "--listen", "0.0.0.0:7101", "--peers", "n1=10.0.0.11:7101,n2=10.0.0.12:7101", "--data", "/data/n2", "--n=2", "--seed", "-9"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	s.PeerFormat, s.PeerSep, s.PeerPort = "server.{index}={ip}:{peerport}:3888", "\n", 2888
	if got := s.Expand("{peers}", peers[0], peers); got != "server.1=10.0.0.11:2888:3888\nserver.2=10.0.0.12:2888:3888" {
		t.Fatalf("zk-style peers: %q", got)
	}
}

func TestValidate(t *testing.T) {
	if err := (System{}).Validate(); err == nil {
		t.Fatal("empty system validated")
	}
	ok := System{Name: "x", Args: []string{"/x"}, ClientPort: 1, Binaries: []Binary{{Dest: "/x", File: "./x"}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.Binaries = []Binary{{Dest: "/x", File: "./x", Package: "./cmd/x"}}
	if err := bad.Validate(); err == nil {
		t.Fatal("binary with both File and Package validated")
	}
}
