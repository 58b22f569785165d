package checker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// Two shards: a (k3's slot 3034) and b (k0's slot 15289).
const shardA, shardB = "0-8191", "8192-16383"

func shardRole(t int64, node string, r rundir.Role, term int64, group string) history.Event {
	return history.Event{Time: t * ms, Node: node, Event: rundir.EventRole, Role: r, Term: term, Group: group, Source: rundir.SourceObserver}
}

func view(t int64, node, state, slots string) history.Event {
	return history.Event{Time: t * ms, Node: node, Event: rundir.EventCluster, State: state, SlotMap: slots, Source: rundir.SourceObserver}
}

// redisOps builds a history: each op is (process, node, f, key, value,
// outcome, call ms, return ms), recorded in order of time.
type rop struct {
	proc       int
	node, f, k string
	v          int64
	typ        history.Type
	call, ret  int64
}

func redisHistory(nem []history.Op, ops ...rop) []history.Op {
	type entry struct {
		t  int64
		op history.Op
	}
	var es []entry
	for _, o := range ops {
		in := history.Op{Process: history.Process(o.proc), Type: history.Invoke, F: o.f, Key: o.k, Node: o.node}
		out := history.Op{Process: history.Process(o.proc), Type: o.typ, F: o.f, Key: o.k, Node: o.node}
		if o.f == history.FWrite {
			in.Value, out.Value = history.IntValue(o.v), history.IntValue(o.v)
		} else if o.typ == history.OK && o.v >= 0 {
			out.Value = history.IntValue(o.v)
		}
		in.Time, out.Time = o.call*ms, o.ret*ms
		es = append(es, entry{in.Time, in}, entry{out.Time, out})
	}
	for _, n := range nem {
		es = append(es, entry{n.Time, n})
	}
	for i := 1; i < len(es); i++ { // insertion sort: stable by time
		for j := i; j > 0 && es[j].t < es[j-1].t; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
	out := make([]history.Op, len(es))
	for i, e := range es {
		out[i] = e.op
		out[i].Index = int64(i)
	}
	return out
}

func takeoverEntry(t int64, f rundir.Fault) history.Op {
	return history.Op{Time: t * ms, Process: history.Nemesis, Type: history.Info, F: string(f), Node: "n1",
		Value: history.RawValue(map[string]any{"nodes": []string{"n1"}, "replica": "n3"})}
}

// takeoverRun is a run of two shards in which n3 takes n1's shard over
// without the vote at 5 s while n1 is cut off, and n1 keeps taking writes
// until 5.5 s; the cut heals at 8 s.
func takeoverRun() ([]history.Op, []history.Event) {
	w, rd := history.FWrite, history.FRead
	ok := history.OK
	ops := redisHistory([]history.Op{takeoverEntry(5000, rundir.StartTakeover), takeoverEntry(8000, rundir.StopTakeover)},
		rop{0, "n1", w, "k3", 10, ok, 1000, 1010},
		rop{1, "n3", rd, "k3", 10, ok, 2000, 2010}, // redirected to n1: says nothing of who served it
		rop{0, "n1", w, "k3", 11, ok, 5200, 5210},  // n1, cut off, still takes writes
		rop{2, "n3", w, "k3", 21, ok, 5290, 5300},  // n3 now master too
		rop{0, "n1", w, "k3", 12, ok, 5500, 5510},  // after 21: lost
		rop{0, "n1", rd, "k3", 12, ok, 5600, 5610}, // n1 is stale: proves nothing
		rop{2, "n3", rd, "k3", 21, ok, 5800, 5810}, // the shard's master: 12 is gone
		rop{3, "n2", w, "k0", 30, ok, 1000, 1005},
		rop{3, "n2", rd, "k0", 30, ok, 9000, 9005},
		rop{4, "n4", rd, "k3", 21, ok, 19000, 19001}, // the run's end
	)
	events := []history.Event{
		shardRole(100, "n1", rundir.RoleLeader, 1, shardA), shardRole(100, "n3", rundir.RoleFollower, 1, shardA),
		shardRole(100, "n2", rundir.RoleLeader, 2, shardB), shardRole(100, "n4", rundir.RoleFollower, 2, shardB),
		shardRole(5100, "n3", rundir.RoleLeader, 3, shardA),
		shardRole(8100, "n1", rundir.RoleFollower, 3, shardA),
		view(8500, "n1", rundir.ClusterFail, "0-8191=n3 8192-16383=n2"),
		view(8500, "n2", rundir.ClusterOK, "0-8191=n3 8192-16383=n2"),
		view(8500, "n3", rundir.ClusterOK, "0-8191=n3 8192-16383=n2"),
		view(8500, "n4", rundir.ClusterOK, "0-8191=n1 8192-16383=n2"),
		view(9000, "n1", rundir.ClusterOK, "0-8191=n3 8192-16383=n2"),
		view(9000, "n4", rundir.ClusterOK, "0-8191=n3 8192-16383=n2"),
	}
	return ops, events
}

func TestLostWrites(t *testing.T) {
	ops, events := takeoverRun()
	tl := timeline.New(ops, events)
	r := LostWrites(ops, tl, Options{})
	assert.Equal(t, Info, r.Verdict, "a measure, never a verdict")
	d := r.Details.(LostWritesDetails)
	require.Len(t, d.Lost, 1, "%+v", d.Lost)
	l := d.Lost[0]
	assert.Equal(t, "k3", l.Key)
	assert.Equal(t, int64(12), l.Value)
	assert.Equal(t, "n1", l.Node, "its client was connected to the master that served it")
	assert.Equal(t, shardA, l.Group)
	assert.Equal(t, "n3", l.Read.Node)
	assert.Equal(t, int64(21), *l.Read.Value)
	assert.Equal(t, &Failover{From: "n1", FromTerm: 1, To: "n3", ToTerm: 3, At: 5100 * ms}, l.Failover,
		"the takeover before the acknowledgement: n1 took it as a master already replaced")
	assert.Equal(t, "failover n1 (epoch 1) -> n3 (epoch 3) at 5.100s", l.Cause)
	assert.Equal(t, []string{"k3"}, d.Keys)
	assert.Equal(t, 1, d.Failovers)
	assert.Equal(t, 5, d.Acked)
	assert.Contains(t, r.Summary, "1 acknowledged write(s) lost on k3")

	// Without the read at the shard's master, nothing is proved: the
	// stale read at n1 and the redirected ones say nothing.
	var fewer []history.Op
	for _, op := range ops {
		if !(op.Process == 2 && op.F == history.FRead) {
			fewer = append(fewer, op)
		}
	}
	for i := range fewer {
		fewer[i].Index = int64(i)
	}
	r = LostWrites(fewer, timeline.New(fewer, events), Options{})
	assert.Empty(t, r.Details.(LostWritesDetails).Lost, r.Summary)
	assert.Contains(t, r.Summary, "no acknowledged write seen lost")
}

func TestLostWritesToARestart(t *testing.T) {
	w, rd, ok := history.FWrite, history.FRead, history.OK
	kill := history.Op{Time: 3000 * ms, Process: history.Nemesis, Type: history.Info, F: string(rundir.Kill), Node: "n1"}
	start := history.Op{Time: 3500 * ms, Process: history.Nemesis, Type: history.Info, F: string(rundir.Start), Node: "n1"}
	ops := redisHistory([]history.Op{kill, start},
		rop{0, "n1", w, "k3", 1, ok, 1000, 1010},
		rop{0, "n1", w, "k3", 2, ok, 2000, 2010},
		rop{1, "n1", rd, "k3", 1, ok, 4000, 4010}, // back from the restart without 2
		rop{1, "n1", rd, "k3", 1, ok, 9000, 9010},
	)
	events := []history.Event{
		shardRole(100, "n1", rundir.RoleLeader, 1, shardA), shardRole(100, "n2", rundir.RoleLeader, 2, shardB),
		shardRole(3600, "n1", rundir.RoleLeader, 1, shardA),
	}
	r := LostWrites(ops, timeline.New(ops, events), Options{})
	d := r.Details.(LostWritesDetails)
	require.Len(t, d.Lost, 1)
	assert.Nil(t, d.Lost[0].Failover)
	assert.Equal(t, "restart of n1 (killed at 3.000s)", d.Lost[0].Cause)
	assert.Equal(t, 0, d.Failovers)
}

func TestTwoWriters(t *testing.T) {
	ops, events := takeoverRun()
	r := TwoWriters(ops, timeline.New(ops, events), Options{})
	assert.Equal(t, Info, r.Verdict)
	d := r.Details.(TwoWritersDetails)
	require.Len(t, d.Windows, 1, "%+v", d.Windows)
	w := d.Windows[0]
	assert.Equal(t, shardA, w.Group)
	assert.Equal(t, int64(5300*ms), w.From, "n3's first acknowledged write")
	assert.Equal(t, int64(5510*ms), w.To, "n1's last")
	assert.Equal(t, int64(210*ms), w.Duration)
	assert.Equal(t, []Writer{
		{Node: "n1", Term: 1, Group: shardA, First: 1010 * ms, Last: 5510 * ms, Acks: 1},
		{Node: "n3", Term: 3, Group: shardA, First: 5300 * ms, Last: 5300 * ms, Acks: 1},
	}, w.Writers)
	assert.Equal(t, 5, d.Acked)
	assert.Equal(t, 5, d.Attributed)
	assert.Contains(t, r.Summary, "longest 0.210s: n1 (epoch 1) and n3 (epoch 3) in 0-8191")

	// A master's writes right before the observer saw it demoted may have
	// been redirected: within RoleLag of its reign's end, none counts.
	r = TwoWriters(ops, timeline.New(ops, events), Options{RoleLag: 2600 * 1e6})
	assert.Empty(t, r.Details.(TwoWritersDetails).Windows, r.Summary)
}

func TestConvergence(t *testing.T) {
	ops, events := takeoverRun()
	tl := timeline.New(ops, events)
	r := Convergence(tl, events, 10e9)
	require.Equal(t, Valid, r.Verdict, r.Summary)
	d := r.Details.(ConvergenceDetails)
	assert.Equal(t, int64(8100*ms), d.AgreedAt, "when n1 followed n3")
	assert.Equal(t, []Shard{{Group: shardA, Leader: "n3", Term: 3, Followers: []string{"n1"}}, {Group: shardB, Leader: "n2", Term: 2, Followers: []string{"n4"}}}, d.Shards)
	assert.Equal(t, int64(9000*ms), d.OKAt, "n1 said fail and n4 saw another map at 8.5 s")
	assert.Equal(t, "0-8191=n3 8192-16383=n2", d.SlotMap)

	// No view recorded: the state is not known.
	var roles []history.Event
	for _, ev := range events {
		if ev.Event == rundir.EventRole {
			roles = append(roles, ev)
		}
	}
	r = Convergence(tl, roles, 10e9)
	assert.Equal(t, Unknown, r.Verdict, r.Summary)

	// Views that never agree, in a run that went on past the bound.
	bad := append(roles, view(8500, "n1", rundir.ClusterOK, "x"), view(8500, "n2", rundir.ClusterOK, "y"),
		view(8500, "n3", rundir.ClusterOK, "y"), view(8500, "n4", rundir.ClusterOK, "y"))
	r = Convergence(timeline.New(ops, bad), bad, 10e9)
	assert.Equal(t, Invalid, r.Verdict, r.Summary)
	assert.Contains(t, r.Summary, "different slot maps")

	// n1 never hears of the new epoch: two masters of the shard, no agreement.
	stuck := append([]history.Event(nil), events[:5]...)
	r = Convergence(timeline.New(ops, stuck), stuck, 10e9)
	assert.Equal(t, Invalid, r.Verdict, r.Summary)
	assert.Contains(t, r.Summary, "n1 and n3 both lead 0-8191")
	r = Convergence(timeline.New(ops, stuck), stuck, 60e9)
	assert.Equal(t, Unknown, r.Verdict, "the run ended before the bound: %s", r.Summary)
}

func TestElectionSafetyPerGroup(t *testing.T) {
	ops, events := takeoverRun()
	r := ElectionSafety(timeline.New(ops, events))
	assert.Equal(t, Valid, r.Verdict, r.Summary)
	assert.Contains(t, r.Summary, "in each group")

	// Another group's master in the same epoch is no conflict...
	same := append(append([]history.Event(nil), events...), shardRole(9500, "n2", rundir.RoleLeader, 3, shardB))
	r = ElectionSafety(timeline.New(ops, same))
	assert.Equal(t, Valid, r.Verdict, r.Summary)
	// ...but a master of slots of n3's shard in n3's epoch is, however it
	// spells its slots.
	clash := append(append([]history.Event(nil), events...), shardRole(9500, "n4", rundir.RoleLeader, 3, "8000-8191"))
	r = ElectionSafety(timeline.New(ops, clash))
	require.Equal(t, Invalid, r.Verdict, r.Summary)
	v := r.Details.(ElectionDetails).Violations
	require.Len(t, v, 1)
	assert.Equal(t, int64(3), v[0].Term)
	assert.Equal(t, []string{shardA, "8000-8191"}, v[0].Groups)
	assert.Contains(t, r.Summary, "term 3 led by n3 (0-8191) and n4 (8000-8191)")
}

func TestTermMonotonicPerGroup(t *testing.T) {
	events := []history.Event{
		shardRole(100, "n1", rundir.RoleLeader, 5, shardA),
		shardRole(200, "n1", rundir.RoleFollower, 2, shardB), // moved to another shard: its epoch
		shardRole(300, "n1", rundir.RoleFollower, 4, shardA), // back, lower: a regression
	}
	r := TermMonotonic(timeline.New(nil, events))
	require.Equal(t, Invalid, r.Verdict, r.Summary)
	g := r.Details.(TermDetails).Regressions
	require.Len(t, g, 1)
	assert.Equal(t, TermRegression{Node: "n1", Source: rundir.SourceObserver, Group: shardA, From: 5, To: 4, Time: 300 * ms}, g[0])
}

func TestLivenessPerGroup(t *testing.T) {
	ops, events := takeoverRun()
	r := Liveness(timeline.New(ops, events), 10e9)
	require.Equal(t, Valid, r.Verdict, r.Summary)
	d := r.Details.(LivenessDetails)
	require.Len(t, d.Groups, 2)
	assert.Contains(t, r.Summary, "every one of 2 groups")
	// n2 killed after the heal, and restarted saying nothing: its shard
	// has no leader.
	dead := append(append([]history.Op(nil), ops...), history.Op{Index: int64(len(ops)), Time: 8500 * ms, Process: history.Nemesis,
		Type: history.Info, F: string(rundir.Kill), Node: "n2"}, history.Op{Index: int64(len(ops)) + 1, Time: 8600 * ms, Process: history.Nemesis,
		Type: history.Info, F: string(rundir.Start), Node: "n2"})
	r = Liveness(timeline.New(dead, events), 10e9)
	assert.Equal(t, Invalid, r.Verdict, r.Summary)
	assert.Contains(t, r.Summary, "in 8192-16383")
}

func TestCheckRedis(t *testing.T) {
	ops, events := takeoverRun()
	rep := Check(t.Context(), ops, events, Options{System: rundir.SystemRedis})
	assert.Equal(t, map[string]Verdict{
		NameLinearizable: Info, NameElectionSafety: Valid, NameLeaseSafety: Skipped, NameTermMonotonic: Valid,
		NameLiveness: Valid, NameConvergence: Valid, NameLostWrites: Info, NameTwoWriters: Info,
	}, verdicts(rep))
	assert.Equal(t, Valid, rep.Verdict, "what Redis Cluster promises held; the rest is measured")
	assert.Contains(t, rep.Checker(NameLinearizable).Summary, "invalid (information: Redis Cluster does not promise linearizability")

	rep = Check(t.Context(), ops, events, Options{System: rundir.SystemRedis, Expect: rundir.ExpectLinearizable})
	assert.Equal(t, Invalid, rep.Checker(NameLinearizable).Verdict, "asked for, it is a verdict")
	assert.Equal(t, Invalid, rep.Verdict)

	// Another system's run lists none of Redis's checkers, unless named.
	rep = Check(t.Context(), ops, events, Options{})
	assert.Nil(t, rep.Checker(NameLostWrites))
	rep = Check(t.Context(), ops, events, Options{Checkers: []string{NameLostWrites}})
	assert.Equal(t, Skipped, rep.Checker(NameLostWrites).Verdict)

	// The details come back from results.json as written.
	rep = Check(t.Context(), ops, events, Options{System: rundir.SystemRedis})
	dir := t.TempDir()
	require.NoError(t, WriteReport(dir, rep))
	back, err := ReadReport(dir)
	require.NoError(t, err)
	for _, name := range RedisNames {
		want, _ := json.Marshal(rep.Checker(name).Details)
		got, _ := json.Marshal(back.Checker(name).Details)
		assert.JSONEq(t, string(want), string(got), name)
		assert.IsType(t, rep.Checker(name).Details, back.Checker(name).Details, name)
	}
}

// CheckDir reads from run.json what system ran and what it was expected
// to be.
func TestCheckDirReadsTheSystem(t *testing.T) {
	ops, events := takeoverRun()
	dir := t.TempDir()
	var hist []byte
	for _, op := range ops {
		b, err := json.Marshal(op)
		require.NoError(t, err)
		hist = append(append(hist, b...), '\n')
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.HistoryFile), hist, 0o644))
	ew, err := history.CreateEvents(filepath.Join(dir, rundir.EventsFile))
	require.NoError(t, err)
	for _, ev := range events {
		require.NoError(t, ew.Append(ev))
	}
	require.NoError(t, ew.Close())

	rep, err := CheckDir(t.Context(), dir, Options{})
	require.NoError(t, err)
	assert.Nil(t, rep.Checker(NameConvergence), "no run.json: a run of one leader")
	require.NoError(t, rundir.WriteSettings(dir, rundir.Settings{Config: rundir.Config{System: rundir.SystemRedis}}))
	rep, err = CheckDir(t.Context(), dir, Options{})
	require.NoError(t, err)
	assert.Equal(t, Valid, rep.Checker(NameConvergence).Verdict)
	assert.Equal(t, Info, rep.Checker(NameLinearizable).Verdict)
	require.NoError(t, rundir.WriteSettings(dir, rundir.Settings{Config: rundir.Config{System: rundir.SystemRedis, Expect: rundir.ExpectLinearizable}}))
	rep, err = CheckDir(t.Context(), dir, Options{})
	require.NoError(t, err)
	assert.Equal(t, Invalid, rep.Checker(NameLinearizable).Verdict)
}

// A cluster the harness formed before the observer began is judged from
// its first report, not from the start of the run.
func TestShardsJudgedFromTheFirstReport(t *testing.T) {
	events := []history.Event{
		shardRole(15000, "n1", rundir.RoleLeader, 1, shardA), shardRole(15000, "n2", rundir.RoleLeader, 2, shardB),
		shardRole(15000, "n3", rundir.RoleFollower, 1, shardA), shardRole(15000, "n4", rundir.RoleFollower, 2, shardB),
	}
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		events = append(events, view(31000, n, rundir.ClusterOK, "0-8191=n1 8192-16383=n2"))
	}
	ops := redisHistory(nil, rop{0, "n1", history.FWrite, "k3", 1, history.OK, 16000, 16010}, rop{0, "n1", history.FRead, "k3", 1, history.OK, 32000, 32010})
	tl := timeline.New(ops, events)
	r := Liveness(tl, 10e9)
	assert.Equal(t, Valid, r.Verdict, r.Summary)
	assert.Equal(t, int64(16000*ms), r.Details.(LivenessDetails).HealedAt, "from the first client operation, after the first report")
	r = Convergence(tl, events, 10e9)
	assert.Equal(t, Valid, r.Verdict, r.Summary)
	assert.Equal(t, int64(16000*ms), r.Details.(ConvergenceDetails).AgreedAt)

	// Without client operations, from the first report.
	tl = timeline.New(nil, events)
	assert.Equal(t, int64(15000*ms), Liveness(tl, 10e9).Details.(LivenessDetails).HealedAt)
}

// A redirected write lost while a replaced master still claimed the shard
// is put down to that failover, saying the server is not known.
func TestLostWritesRedirectedToAStaleMaster(t *testing.T) {
	w, rd, ok := history.FWrite, history.FRead, history.OK
	ops := redisHistory([]history.Op{takeoverEntry(5000, rundir.StartTakeover), takeoverEntry(8000, rundir.StopTakeover)},
		rop{2, "n3", w, "k3", 21, ok, 5290, 5300},
		rop{5, "n4", w, "k3", 14, ok, 6500, 6505}, // redirected: n4 is in the other shard
		rop{2, "n3", rd, "k3", 21, ok, 7000, 7010},
		rop{4, "n4", rd, "k3", 21, ok, 19000, 19001},
	)
	_, events := takeoverRun()
	r := LostWrites(ops, timeline.New(ops, events), Options{})
	d := r.Details.(LostWritesDetails)
	require.Len(t, d.Lost, 1, r.Summary)
	l := d.Lost[0]
	assert.Empty(t, l.Node)
	assert.Equal(t, &Failover{From: "n1", FromTerm: 1, To: "n3", ToTerm: 3, At: 5100 * ms}, l.Failover)
	assert.Contains(t, l.Cause, "perhaps to the replaced master")
}

// A cas that succeeded at the shard's master read its expected value: it
// proves a loss as a read does.
func TestLostWritesProvedByACas(t *testing.T) {
	w, ok := history.FWrite, history.OK
	base := redisHistory([]history.Op{takeoverEntry(5000, rundir.StartTakeover), takeoverEntry(8000, rundir.StopTakeover)},
		rop{2, "n3", w, "k3", 21, ok, 5290, 5300},
		rop{0, "n1", w, "k3", 12, ok, 5500, 5510},
		rop{4, "n4", history.FRead, "k3", 22, ok, 19000, 19001},
	)
	// The cas 21 -> 22 on n3, after 12 was acknowledged.
	n := int64(len(base))
	cas := []history.Op{
		{Index: n, Time: 5800 * ms, Process: 2, Type: history.Invoke, F: history.FCAS, Key: "k3", Node: "n3", Value: history.PairValue(21, 22)},
		{Index: n + 1, Time: 5810 * ms, Process: 2, Type: history.OK, F: history.FCAS, Key: "k3", Node: "n3", Value: history.PairValue(21, 22)},
	}
	ops := append(append([]history.Op(nil), base[:len(base)-2]...), cas...)
	ops = append(ops, base[len(base)-2:]...)
	for i := range ops {
		ops[i].Index = int64(i)
	}
	_, events := takeoverRun()
	r := LostWrites(ops, timeline.New(ops, events), Options{})
	d := r.Details.(LostWritesDetails)
	require.Len(t, d.Lost, 1, r.Summary)
	assert.Equal(t, int64(12), d.Lost[0].Value)
	assert.Equal(t, history.FCAS, d.Lost[0].Read.F)
	assert.Equal(t, int64(21), *d.Lost[0].Read.Value)
}
