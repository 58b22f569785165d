package simnet_test

import (
	"fmt"
	"time"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/simnet"
)

// echo is a one-line protocol for the example: it answers every request
// with the number of records it had on disk when it started.
type echo struct {
	restored int
	rd       election.Ready
}

func (e *echo) Step(string, []byte) error { return nil }
func (e *echo) Tick(time.Time)            {}
func (e *echo) Propose(r election.Request) {
	e.rd.Records = append(e.rd.Records, []byte("seen"))
	e.rd.Results = append(e.rd.Results, election.Result{ID: r.ID, Value: int64(e.restored)})
}
func (e *echo) Ready() election.Ready   { r := e.rd; e.rd = election.Ready{}; return r }
func (e *echo) Status() election.Status { return election.Status{} }

// A typical test: build the net, run it, inject faults, ask for results.
func Example() {
	net := simnet.New(simnet.Options{
		IDs:  []string{"a", "b", "c"},
		Seed: 1,
		New: func(id string, records [][]byte, now time.Time) election.Protocol {
			return &echo{restored: len(records)}
		},
	})
	net.Run(100 * time.Millisecond)
	net.Do("a", election.Request{Op: election.OpRead}, time.Second)
	net.Kill("a") // memory lost, disk kept
	net.Restart("a")
	res, ok := net.Do("a", election.Request{Op: election.OpRead}, time.Second)
	fmt.Println(res.Value, ok, net.Now().Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	// Output: 1 true 100ms
}
