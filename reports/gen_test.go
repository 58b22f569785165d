package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

// genConfig shapes a generated run directory.
type genConfig struct {
	Ops     int // client operations (each an invocation and an outcome)
	Nodes   int
	Clients int
	Keys    int
	Seed    uint64
	// Bug makes one partition elect a second leader in the same term, the
	// split brain the suite exists to find.
	Bug bool
	// Evil puts HTML and script into everything a node or a history can
	// carry: a log line, a key, an error, the command line.
	Evil bool
	// Duration is how long the run lasts (default 40s); clients space
	// their operations to fill it.
	Duration time.Duration
	// Bare leaves out run.json, results.json and the logs, as in a
	// directory assembled by hand.
	Bare bool
}

// evilKey and friends are what the escaping tests look for.
const (
	evilKey    = `k]]><img src=x onerror="window.__pwned=2">` // ]]> would end a CDATA section
	evilError  = `<script>window.__pwned=3</script> connection reset`
	evilLog    = `<script>window.__pwned=1</script> & <b>not bold</b>`
	evilMarker = "__pwned"
)

// genRun writes a realistic run directory: a register workload over
// cfg.Clients clients, a nemesis that cycles through partitions, kills,
// pauses and clock bumps aimed at the leader, the role changes a Raft
// cluster would report around them, results.json as the checkers would
// write it, a Porcupine page for the failing key, and node logs.
func genRun(tb testing.TB, dir string, cfg genConfig) {
	tb.Helper()
	if err := generate(dir, cfg); err != nil {
		tb.Fatal(err)
	}
}

type genEntry struct {
	op  history.Op
	ord int
}

func generate(dir string, cfg genConfig) error {
	if cfg.Nodes == 0 {
		cfg.Nodes = 5
	}
	if cfg.Clients == 0 {
		cfg.Clients = 10
	}
	if cfg.Keys == 0 {
		cfg.Keys = 5
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 42))
	if err := os.MkdirAll(filepath.Join(dir, rundir.LogsDir), 0o755); err != nil {
		return err
	}
	nodes := make([]string, cfg.Nodes)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("n%d", i+1)
	}
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i+1)
	}
	if cfg.Evil {
		keys[len(keys)-1] = evilKey
	}

	if cfg.Duration == 0 {
		cfg.Duration = 40 * time.Second
	}
	dur := int64(cfg.Duration)
	ms := int64(time.Millisecond)
	// Each client spends gap per operation, latency included.
	gap := dur * int64(cfg.Clients) / int64(max(cfg.Ops, 1))

	var entries []genEntry
	ord := 0
	push := func(op history.Op) {
		entries = append(entries, genEntry{op, ord})
		ord++
	}
	var events []history.Event
	role := func(t int64, node string, r rundir.Role, term int64) {
		events = append(events, history.Event{Time: t, Node: node, Event: rundir.EventRole, Role: r, Term: term, Source: rundir.SourceNode})
	}
	nemesis := func(t int64, f rundir.Fault, node string, v any) {
		op := history.Op{Time: t, Process: history.Nemesis, Type: history.Info, F: string(f), Node: node}
		if v != nil {
			op.Value = history.RawValue(v)
		}
		push(op)
	}
	type outage struct{ from, to int64 } // clients cannot get an answer
	var outages []outage

	// The cluster: n1 wins the first election.
	term := int64(1)
	leader := nodes[0]
	for _, n := range nodes {
		role(0, n, rundir.RoleFollower, 0)
	}
	role(150*ms, leader, rundir.RoleCandidate, 1)
	role(200*ms, leader, rundir.RoleLeader, 1)
	for _, n := range nodes[1:] {
		role(205*ms, n, rundir.RoleFollower, 1)
	}
	outages = append(outages, outage{0, 200 * ms})
	other := func(not string) string {
		for {
			n := nodes[rng.IntN(len(nodes))]
			if n != not {
				return n
			}
		}
	}
	lease := func(t int64, node string, term int64) {
		events = append(events, history.Event{Time: t, Node: node, Event: rundir.EventLease, Term: term, From: t, Until: t + 1500*ms, Source: rundir.SourceNode})
	}
	lease(200*ms, leader, 1)
	elect := func(t int64, winner string, newTerm int64, except string) {
		role(t, winner, rundir.RoleCandidate, newTerm)
		role(t+50*ms, winner, rundir.RoleLeader, newTerm)
		lease(t+50*ms, winner, newTerm)
		for _, n := range nodes {
			if n != winner && n != except {
				role(t+55*ms, n, rundir.RoleFollower, newTerm)
			}
		}
	}
	partitions := 0
	for t, i := 2*int64(time.Second), 0; t+3*int64(time.Second) < dur; t, i = t+5*int64(time.Second), i+1 {
		switch i % 4 {
		case 0: // isolate the leader; the majority elects another
			partitions++
			d := int64(2500+rng.IntN(1000)) * ms
			var rest []string
			for _, n := range nodes {
				if n != leader {
					rest = append(rest, n)
				}
			}
			nemesis(t, rundir.StartPartition, "", map[string]any{"groups": [][]string{{leader}, rest}})
			winner := rest[rng.IntN(len(rest))]
			newTerm := term + 1
			if cfg.Bug && partitions == 2 {
				newTerm = term // the bug: a second leader in the same term
			}
			elect(t+300*ms, winner, newTerm, leader)
			outages = append(outages, outage{t, t + 350*ms})
			nemesis(t+d, rundir.StopPartition, "", nil)
			role(t+d+20*ms, leader, rundir.RoleFollower, max(newTerm, term+1))
			leader, term = winner, max(newTerm, term+1)
		case 1: // kill the leader, restart it later
			victim := leader
			nemesis(t, rundir.Kill, victim, map[string]any{"node": victim})
			winner := other(victim)
			elect(t+400*ms, winner, term+1, victim)
			outages = append(outages, outage{t, t + 450*ms})
			d := int64(1500+rng.IntN(1000)) * ms
			nemesis(t+d, rundir.Start, victim, map[string]any{"node": victim})
			role(t+d+300*ms, victim, rundir.RoleFollower, term+1)
			leader, term = winner, term+1
		case 2: // pause the leader past its election timeout
			victim := leader
			nemesis(t, rundir.Pause, victim, map[string]any{"node": victim})
			winner := other(victim)
			elect(t+400*ms, winner, term+1, victim)
			outages = append(outages, outage{t, t + 450*ms})
			d := int64(1200+rng.IntN(600)) * ms
			nemesis(t+d, rundir.Resume, victim, map[string]any{"node": victim})
			role(t+d+30*ms, victim, rundir.RoleFollower, term+1)
			leader, term = winner, term+1
		case 3: // bump a follower's clock
			n := other(leader)
			nemesis(t, rundir.ClockBump, n, map[string]any{"node": n, "delta_ms": 900})
			nemesis(t+2*int64(time.Second), rundir.ClockReset, n, map[string]any{"node": n})
		}
	}

	// Clients.
	inOutage := func(t int64) bool {
		for _, o := range outages {
			if t >= o.from && t < o.to {
				return true
			}
		}
		return false
	}
	values := map[string]int64{}
	nextProc := cfg.Clients
	perClient := cfg.Ops / cfg.Clients
	for c := 0; c < cfg.Clients; c++ {
		proc := history.Process(c)
		t := int64(rng.IntN(3)) * ms
		for n := 0; n < perClient || (c < cfg.Ops%cfg.Clients && n == perClient); n++ {
			key := keys[rng.IntN(len(keys))]
			node := nodes[rng.IntN(len(nodes))]
			inv := history.Op{Time: t, Process: proc, Type: history.Invoke, Key: key, Node: node}
			switch x := rng.IntN(10); {
			case x < 5:
				inv.F, inv.Value = history.FRead, history.Value{}
			case x < 8:
				inv.F, inv.Value = history.FWrite, history.IntValue(rng.Int64N(100))
			default:
				// Mostly the value the client last saw, as a real
				// read-modify-write would; sometimes a stale one.
				from := values[key]
				if rng.IntN(4) == 0 {
					from = rng.Int64N(100)
				}
				inv.F, inv.Value = history.FCAS, history.PairValue(from, rng.Int64N(100))
			}
			lat := int64(math.Exp(rng.NormFloat64()*0.5+math.Log(1.8e6))) + 200_000
			done := inv
			done.Type = history.OK
			if inOutage(t) {
				if rng.IntN(2) == 0 {
					done.Type, done.Error, lat = history.Fail, "not leader", lat/3+100_000
				} else {
					done.Type, done.Error, lat = history.Info, "timeout after 500ms", 500*ms+int64(rng.IntN(5))*ms
					if cfg.Evil {
						done.Error = evilError
					}
				}
			}
			done.Time = t + lat
			switch {
			case done.Type == history.OK && inv.F == history.FRead:
				if v, ok := values[key]; ok {
					done.Value = history.IntValue(v)
				}
			case done.Type == history.OK && inv.F == history.FWrite:
				values[key] = inv.Value.Int
			case done.Type == history.OK && inv.F == history.FCAS:
				if values[key] != inv.Value.From {
					done.Type, done.Error = history.Fail, "cas mismatch"
				} else {
					values[key] = inv.Value.To
				}
			}
			push(inv)
			push(done)
			t = max(done.Time+1, t+gap+int64(rng.IntN(1000))*1000)
			if done.Type == history.Info { // the client goes on as a new process
				proc = history.Process(nextProc)
				nextProc++
			}
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].op.Time != entries[j].op.Time {
			return entries[i].op.Time < entries[j].op.Time
		}
		return entries[i].ord < entries[j].ord
	})
	var hb strings.Builder
	for i := range entries {
		entries[i].op.Index = int64(i)
		b, err := json.Marshal(entries[i].op)
		if err != nil {
			return err
		}
		hb.Write(b)
		hb.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, rundir.HistoryFile), []byte(hb.String()), 0o644); err != nil {
		return err
	}

	sort.SliceStable(events, func(i, j int) bool { return events[i].Time < events[j].Time })
	var eb strings.Builder
	logs := map[string]*strings.Builder{}
	start := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	for _, n := range nodes {
		logs[n] = &strings.Builder{}
		fmt.Fprintf(logs[n], "%s INFO electd starting node=%s peers=%s\n", start.Format(time.RFC3339Nano), n, strings.Join(nodes, ","))
	}
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		eb.Write(b)
		eb.WriteByte('\n')
		if ev.Event == rundir.EventRole {
			fmt.Fprintf(logs[ev.Node], "%s INFO raft: became %s term=%d\n", start.Add(time.Duration(ev.Time)).Format(time.RFC3339Nano), ev.Role, ev.Term)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, rundir.EventsFile), []byte(eb.String()), 0o644); err != nil {
		return err
	}
	if cfg.Bare {
		return nil
	}
	if cfg.Evil {
		fmt.Fprintf(logs[nodes[0]], "%s WARN client sent %s\n", start.Format(time.RFC3339Nano), evilLog)
	}
	for n, b := range logs {
		if err := os.WriteFile(filepath.Join(dir, rundir.LogsDir, n+".log"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}

	bug := ""
	if cfg.Bug {
		bug = "same-term-leaders"
	}
	command := fmt.Sprintf("splitbrain run --system electd --algo raft --nodes %d --nemesis partition,kill,pause,clock --seed %d", cfg.Nodes, cfg.Seed)
	if cfg.Evil {
		command += ` --note '<script>window.__pwned=4</script>'`
	}
	settings := rundir.Settings{
		Name: filepath.Base(dir), Started: start.Format(time.RFC3339), Command: command, Replay: command + " --replay",
		Config: rundir.Config{System: "electd", Algo: "raft", Bug: bug, Nodes: len(nodes),
			Nemesis: []string{rundir.KindPartition, rundir.KindKill, rundir.KindPause, rundir.KindClock},
			Seed:    int64(cfg.Seed), TimeLimit: rundir.Duration(time.Duration(dur).Round(time.Second)), Concurrency: cfg.Clients,
			Keys: cfg.Keys},
	}
	if err := rundir.WriteSettings(dir, settings); err != nil {
		return err
	}

	// results.json is what the checkers make of the run: the report reads
	// their output, never a hand-written imitation of it.
	rep, err := checker.CheckDir(context.Background(), dir, checker.Options{VisualizeDir: dir, LinearizableTimeout: 20 * time.Second})
	if err != nil {
		return err
	}
	return checker.WriteReport(dir, rep)
}
