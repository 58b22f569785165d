package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

// shardedRun writes a Redis Cluster run of two shards into dir: n3 takes
// n1's shard (0-8191, where k3 lives) over without the vote at 5 s while
// n1 is cut off; n1 keeps taking writes, one of them after n3's first, and
// loses it; the cut heals at 8 s. It is checked as splitbrain run does.
func shardedRun(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	const ms = int64(1e6)
	const a, b = "0-8191", "8192-16383"
	var ops []history.Op
	add := func(op history.Op) { op.Index = int64(len(ops)); ops = append(ops, op) }
	client := func(p int, node, f, k string, v, at, took int64) {
		in := history.Op{Time: at * ms, Process: history.Process(p), Type: history.Invoke, F: f, Key: k, Node: node}
		out := in
		out.Time, out.Type = (at+took)*ms, history.OK
		if f == history.FWrite {
			in.Value, out.Value = history.IntValue(v), history.IntValue(v)
		} else {
			out.Value = history.IntValue(v)
		}
		add(in)
		add(out)
	}
	nem := func(at int64, f rundir.Fault) {
		add(history.Op{Time: at * ms, Process: history.Nemesis, Type: history.Info, F: string(f), Node: "n1",
			Value: history.RawValue(map[string]any{"nodes": []string{"n1"}, "replica": "n3", "groups": [][]string{{"n1"}, {"n2", "n3", "n4"}}})})
	}
	client(0, "n1", history.FWrite, "k3", 10, 1000, 10)
	client(3, "n2", history.FWrite, "k0", 30, 1000, 5)
	nem(5000, rundir.StartTakeover)
	client(0, "n1", history.FWrite, "k3", 11, 5200, 10)
	client(2, "n3", history.FWrite, "k3", 21, 5290, 10)
	client(0, "n1", history.FWrite, "k3", 12, 5500, 10)
	client(2, "n3", history.FRead, "k3", 21, 5800, 10)
	nem(8000, rundir.StopTakeover)
	client(3, "n2", history.FRead, "k0", 30, 9000, 5)
	client(4, "n4", history.FRead, "k3", 21, 19000, 1)
	role := func(at int64, node string, r rundir.Role, term int64, g string) history.Event {
		return history.Event{Time: at * ms, Node: node, Event: rundir.EventRole, Role: r, Term: term, Group: g, Source: rundir.SourceObserver}
	}
	const m = "0-8191=n3 8192-16383=n2"
	events := []history.Event{
		role(100, "n1", rundir.RoleLeader, 1, a), role(100, "n3", rundir.RoleFollower, 1, a),
		role(100, "n2", rundir.RoleLeader, 2, b), role(100, "n4", rundir.RoleFollower, 2, b),
		role(5100, "n3", rundir.RoleLeader, 3, a), role(8100, "n1", rundir.RoleFollower, 3, a),
	}
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		events = append(events, history.Event{Time: 9000 * ms, Node: n, Event: rundir.EventCluster, State: rundir.ClusterOK, SlotMap: m, Source: rundir.SourceObserver})
	}
	write := func(name string, vs any) {
		var buf []byte
		switch vs := vs.(type) {
		case []history.Op:
			for _, v := range vs {
				line, err := json.Marshal(v)
				require.NoError(t, err)
				buf = append(append(buf, line...), '\n')
			}
		case []history.Event:
			for _, v := range vs {
				line, err := json.Marshal(v)
				require.NoError(t, err)
				buf = append(append(buf, line...), '\n')
			}
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), buf, 0o644))
	}
	write(rundir.HistoryFile, ops)
	write(rundir.EventsFile, events)
	require.NoError(t, rundir.WriteSettings(dir, rundir.Settings{Name: filepath.Base(dir), Config: rundir.Config{System: rundir.SystemRedis, Nodes: 4,
		Nemesis: []string{rundir.KindTakeover}}}))
	rep, err := checker.CheckDir(t.Context(), dir, checker.Options{VisualizeDir: dir})
	require.NoError(t, err)
	require.NoError(t, checker.WriteReport(dir, rep))
}

func TestReportOfShards(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "redis-1")
	shardedRun(t, dir)
	require.NoError(t, Write(dir))
	page := readFile(t, filepath.Join(dir, rundir.ReportFile))
	for _, want := range []string{
		`id="verdict">valid<`, // what Redis Cluster promises held
		`<a href="#shards">Shards</a>`,
		`id="shards"`,
		"Acknowledged writes lost: <b>1</b> on k3, in 1 failover",
		"failover n1 (epoch 1) -&gt; n3 (epoch 3) at 5.100s",
		"Windows with two masters taking writes for one shard: <b>1</b>, longest <b>210ms</b>",
		"n1 (epoch 1) and n3 (epoch 3)",
		"Shards with two masters claiming them: 1",
		"shard 1 (0-8191)",
		`<text class="lane-name" x="8"`, ">shard 2<title>slots 8192-16383</title></text>",
		`class="writers"`, `class="lost"`,
		`class="badge info"`, ".badge.info{",
		"takeover n1 | n2 n3 n4", // the fault, in the table
		">masters</text>",        // the summary row
	} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "<script")
	// The checkers' table does not flag information as a failure.
	for _, row := range strings.Split(page, "<tr") {
		if strings.Contains(row, "<td>lost-writes</td>") || strings.Contains(row, "<td>linearizable</td>") {
			assert.NotContains(t, row, `class="bad"`, row)
		}
	}
	junit := readFile(t, filepath.Join(dir, rundir.JUnitFile))
	assert.Contains(t, junit, "info: 1 acknowledged write(s) lost")
	assert.Contains(t, junit, `failures="0"`)
}
