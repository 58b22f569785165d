package contract

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/splitbrain/splitbrain/systems"
)

func TestSystem(t *testing.T) {
	s, err := System("./bin/mynode", "--id {id} --listen {listen} --peers {peers} --data {data}", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Binaries[0] != (systems.Binary{Dest: "/mynode", File: "./bin/mynode"}) || s.ClientPort != DefaultPort || s.Clock != systems.ClockContract {
		t.Errorf("%+v", s)
	}
	peers := []systems.Peer{{ID: "n1", Index: 1, IP: "10.0.0.11"}, {ID: "n2", Index: 2, IP: "10.0.0.12"}}
	want := []string{"/mynode", "--id", "n1", "--listen", "0.0.0.0:7101", "--peers", "n1=10.0.0.11:7101,n2=10.0.0.12:7101", "--data", "/data/n1"}
	if got := s.Argv(peers[0], peers); !reflect.DeepEqual(got, want) {
		t.Errorf("argv %q", got)
	}
	if _, err := System("", "", 0); err == nil {
		t.Error("no binary accepted")
	}
}

func TestStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":"n1","role":"leader","term":5,"leader":"n1","commit":42,"clock_offset_ms":-3,"clock_rate":1}`))
	}))
	defer srv.Close()
	s, err := (&Client{Base: srv.URL}).Status(context.Background())
	if err != nil || s != (Status{ID: "n1", Role: "leader", Term: 5, Leader: "n1", Commit: 42, ClockOffsetMS: -3}) {
		t.Errorf("%+v %v", s, err)
	}
}
