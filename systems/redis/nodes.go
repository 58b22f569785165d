package redis

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// What the nodes say about the cluster, parsed: CLUSTER NODES (one line
// per node the answering node knows), CLUSTER INFO and INFO (key:value
// lines), and slot ranges. Every parser rejects what it does not
// understand with an error naming the line: a node's garbage is an
// unanswered poll, never a guess.

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// Limits on what is parsed: nine nodes give nine lines of a few hundred
// bytes; anything far beyond is not a node's answer.
const (
	maxNodesText = 1 << 20
	maxNodeLines = 1000
	maxInfoText  = 1 << 20
)

// Range is the slots Lo to Hi, both included.
type Range struct{ Lo, Hi int }

// Ranges is a set of slots as sorted, disjoint, non-adjacent ranges (see
// Canonical).
type Ranges []Range

// Canonical sorts rs and merges overlapping and adjacent ranges, so that
// one set of slots has one spelling.
func (rs Ranges) Canonical() Ranges {
	if len(rs) == 0 {
		return nil
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Range) int { return a.Lo - b.Lo })
	out := Ranges{s[0]}
	for _, r := range s[1:] {
		last := &out[len(out)-1]
		if r.Lo <= last.Hi+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Count is the number of slots in rs (canonical or not: overlaps count
// once).
func (rs Ranges) Count() int {
	n := 0
	for _, r := range rs.Canonical() {
		n += r.Hi - r.Lo + 1
	}
	return n
}

// String is the canonical spelling, Redis's own: ranges "lo-hi" and
// single slots "n", joined by ","; "" for no slots. It is the group (shard)
// identity a node's Status reports: "0-5460", "5461-10922".
func (rs Ranges) String() string {
	var b strings.Builder
	for i, r := range rs.Canonical() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.Lo))
		if r.Hi != r.Lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.Hi))
		}
	}
	return b.String()
}

// ParseRanges reads ranges as String writes them (and as CLUSTER NODES
// lists them, with "," or spaces between): "0-5460", "5461", "0-10,12".
// Slots outside 0..16383, a range whose end is before its start, and
// overlaps are errors; the result is canonical.
func ParseRanges(s string) (Ranges, error) {
	var rs Ranges
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		r, err := parseRange(f)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	c := rs.Canonical()
	if countAll(rs) != c.Count() {
		return nil, fmt.Errorf("slot ranges %.80q overlap", s)
	}
	return c, nil
}

// parseRange reads "lo-hi" or "n".
func parseRange(f string) (Range, error) {
	lo, hi, isRange := strings.Cut(f, "-")
	a, err := parseSlot(lo)
	if err != nil {
		return Range{}, fmt.Errorf("slot range %.40q: %w", f, err)
	}
	b := a
	if isRange {
		if b, err = parseSlot(hi); err != nil {
			return Range{}, fmt.Errorf("slot range %.40q: %w", f, err)
		}
	}
	if b < a {
		return Range{}, fmt.Errorf("slot range %.40q ends before it starts", f)
	}
	return Range{a, b}, nil
}

// parseSlot reads one slot number: plain decimal digits, 0..16383.
func parseSlot(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("slot %.10q is not a number 0..%d", s, Slots-1)
	}
	n, _ := strconv.Atoi(s)
	if n >= Slots {
		return 0, fmt.Errorf("slot %d is not in 0..%d", n, Slots-1)
	}
	return n, nil
}

// ClusterNode is one line of CLUSTER NODES:
//
//	<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> ...
type ClusterNode struct {
	// ID is the node's Redis id: 40 hex digits, made at its first start
	// and kept in its cluster-config-file.
	ID string
	// IP is the address the node announces ("" for a node without one
	// yet, flagged noaddr); Port its client port, BusPort its cluster
	// bus port.
	IP            string
	Port, BusPort int
	// Flags as listed: myself, master, slave, fail?, fail, handshake,
	// noaddr, nofailover, noflags.
	Flags []string
	// MasterID is the id of the master a replica replicates; "" for a
	// master ("-").
	MasterID string
	// ConfigEpoch is the node's configuration epoch (a replica shows its
	// master's, as far as it knows it).
	ConfigEpoch uint64
	// Connected is the link state of the cluster bus to the node.
	Connected bool
	// Slots are the slots the node serves (masters only), canonical.
	Slots Ranges
	// Migrating and Importing are the slots the answering node (the
	// myself line only) is moving out of or into itself.
	Migrating, Importing []int
}

// Has reports whether the node has flag f.
func (n ClusterNode) Has(f string) bool { return slices.Contains(n.Flags, f) }

// Myself: the line of the answering node.
func (n ClusterNode) Myself() bool { return n.Has("myself") }

// Master and Replica are the node's role as listed.
func (n ClusterNode) Master() bool  { return n.Has("master") }
func (n ClusterNode) Replica() bool { return n.Has("slave") }

// Failing: flagged fail? (this node's suspicion) or fail (agreed by a
// majority of masters).
func (n ClusterNode) Failing() bool { return n.Has("fail") || n.Has("fail?") }

// knownFlags are the flags CLUSTER NODES may list (Redis 7.0).
var knownFlags = []string{"myself", "master", "slave", "fail?", "fail", "handshake", "noaddr", "nofailover", "noflags"}

// ClusterNodes is a CLUSTER NODES answer.
type ClusterNodes []ClusterNode

// ParseClusterNodes reads a CLUSTER NODES answer. It checks each line's
// shape and that exactly one line is the answering node's (myself) and
// ids are unique; it does not check that the nodes agree with each other.
func ParseClusterNodes(text string) (ClusterNodes, error) {
	if len(text) > maxNodesText {
		return nil, fmt.Errorf("cluster nodes: answer of %d bytes, more than %d", len(text), maxNodesText)
	}
	var out ClusterNodes
	myself := 0
	ids := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(out) == maxNodeLines {
			return nil, fmt.Errorf("cluster nodes: more than %d lines", maxNodeLines)
		}
		n, err := parseNodeLine(line)
		if err != nil {
			return nil, fmt.Errorf("cluster nodes: line %d: %w", i+1, err)
		}
		if ids[n.ID] {
			return nil, fmt.Errorf("cluster nodes: line %d: node %s listed twice", i+1, n.ID)
		}
		ids[n.ID] = true
		if n.Myself() {
			myself++
		}
		out = append(out, n)
	}
	if myself != 1 {
		return nil, fmt.Errorf("cluster nodes: %d lines flagged myself, want 1", myself)
	}
	return out, nil
}

// parseNodeLine reads one line of CLUSTER NODES.
func parseNodeLine(line string) (ClusterNode, error) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return ClusterNode{}, fmt.Errorf("%d fields, want at least 8: %.120q", len(f), line)
	}
	var n ClusterNode
	var err error
	if n.ID, err = parseID(f[0]); err != nil {
		return ClusterNode{}, err
	}
	if n.IP, n.Port, n.BusPort, err = parseNodeAddr(f[1]); err != nil {
		return ClusterNode{}, err
	}
	n.Flags = strings.Split(f[2], ",")
	for _, fl := range n.Flags {
		if !slices.Contains(knownFlags, fl) {
			return ClusterNode{}, fmt.Errorf("unknown flag %.20q in %.60q", fl, f[2])
		}
	}
	// (A node in handshake has no role yet: flags "handshake" alone.)
	if n.Master() && n.Replica() {
		return ClusterNode{}, fmt.Errorf("node %s is %s: both master and replica", n.ID, f[2])
	}
	if f[3] != "-" {
		if n.MasterID, err = parseID(f[3]); err != nil {
			return ClusterNode{}, fmt.Errorf("master: %w", err)
		}
	}
	for _, p := range f[4:6] {
		if _, err := strconv.ParseUint(p, 10, 63); err != nil {
			return ClusterNode{}, fmt.Errorf("ping/pong time %.20q: not a number", p)
		}
	}
	if n.ConfigEpoch, err = strconv.ParseUint(f[6], 10, 63); err != nil {
		return ClusterNode{}, fmt.Errorf("config epoch %.20q: not a number", f[6])
	}
	switch f[7] {
	case "connected":
		n.Connected = true
	case "disconnected":
	default:
		return ClusterNode{}, fmt.Errorf("link state %.20q: want connected or disconnected", f[7])
	}
	var rs Ranges
	for _, s := range f[8:] {
		if strings.HasPrefix(s, "[") {
			slot, mig, err := parseMoving(s)
			if err != nil {
				return ClusterNode{}, err
			}
			if mig {
				n.Migrating = append(n.Migrating, slot)
			} else {
				n.Importing = append(n.Importing, slot)
			}
			continue
		}
		r, err := parseRange(s)
		if err != nil {
			return ClusterNode{}, err
		}
		rs = append(rs, r)
	}
	n.Slots = rs.Canonical()
	if n.Slots.Count() != countAll(rs) {
		return ClusterNode{}, fmt.Errorf("node %s: slot ranges overlap", n.ID)
	}
	if len(n.Slots) > 0 && !n.Master() {
		return ClusterNode{}, fmt.Errorf("node %s serves slots but is not a master", n.ID)
	}
	return n, nil
}

func countAll(rs Ranges) int {
	t := 0
	for _, r := range rs {
		t += r.Hi - r.Lo + 1
	}
	return t
}

// parseMoving reads a slot being moved: "[slot->-id]" (migrating to id)
// or "[slot-<-id]" (importing from id).
func parseMoving(s string) (slot int, migrating bool, err error) {
	in, ok := strings.CutPrefix(s, "[")
	in, ok2 := strings.CutSuffix(in, "]")
	if !ok || !ok2 {
		return 0, false, fmt.Errorf("moving slot %.60q: not in brackets", s)
	}
	var num, id string
	if a, b, found := strings.Cut(in, "->-"); found {
		num, id, migrating = a, b, true
	} else if a, b, found := strings.Cut(in, "-<-"); found {
		num, id = a, b
	} else {
		return 0, false, fmt.Errorf("moving slot %.60q: want [slot->-id] or [slot-<-id]", s)
	}
	if slot, err = parseSlot(num); err != nil {
		return 0, false, fmt.Errorf("moving slot %.60q: %w", s, err)
	}
	if _, err := parseID(id); err != nil {
		return 0, false, fmt.Errorf("moving slot %.60q: %w", s, err)
	}
	return slot, migrating, nil
}

// parseID checks a Redis node id: 40 lowercase hex digits.
func parseID(s string) (string, error) {
	if len(s) != 40 || strings.TrimLeft(s, "0123456789abcdef") != "" {
		return "", fmt.Errorf("node id %.50q: not 40 hex digits", s)
	}
	return s, nil
}

// parseNodeAddr reads "ip:port@cport[,hostname]". The ip may be empty (a
// node not yet known by address) or IPv6 (printed without brackets: the
// port follows the last colon).
func parseNodeAddr(s string) (ip string, port, bus int, err error) {
	hp, _, _ := strings.Cut(s, ",") // 7.0 adds ",hostname"
	hostport, cport, ok := strings.Cut(hp, "@")
	if !ok {
		return "", 0, 0, fmt.Errorf("address %.60q: no @busport", s)
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return "", 0, 0, fmt.Errorf("address %.60q: no :port", s)
	}
	ip = hostport[:i]
	if port, err = parsePort(hostport[i+1:]); err != nil {
		return "", 0, 0, fmt.Errorf("address %.60q: %w", s, err)
	}
	if bus, err = parsePort(cport); err != nil {
		return "", 0, 0, fmt.Errorf("address %.60q: bus %w", s, err)
	}
	if strings.ContainsAny(ip, " []@,") {
		return "", 0, 0, fmt.Errorf("address %.60q: bad ip", s)
	}
	return ip, port, bus, nil
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %.10q: not a number", s)
	}
	n, _ := strconv.Atoi(s)
	if n > 65535 {
		return 0, fmt.Errorf("port %d: out of range", n)
	}
	return n, nil
}

// Myself is the answering node's line.
func (ns ClusterNodes) Myself() ClusterNode {
	for _, n := range ns {
		if n.Myself() {
			return n
		}
	}
	return ClusterNode{}
}

// ByID is the line of node id.
func (ns ClusterNodes) ByID(id string) (ClusterNode, bool) {
	for _, n := range ns {
		if n.ID == id {
			return n, true
		}
	}
	return ClusterNode{}, false
}

// Shard is one entry of a slot map: the slots a master serves.
type Shard struct {
	Slots    string // canonical (Ranges.String)
	MasterID string
}

// SlotMap is the answering node's view of which master serves which
// slots: one Shard per master with slots, sorted by their first slot.
// Two nodes agree on the slot map when their SlotMaps are equal. A slot
// claimed by two masters (which a node's view can hold for a while after
// a failover) is an error.
func (ns ClusterNodes) SlotMap() ([]Shard, error) {
	type entry struct {
		first int
		s     Shard
	}
	var es []entry
	var all Ranges
	for _, n := range ns {
		if len(n.Slots) == 0 {
			continue
		}
		all = append(all, n.Slots...)
		es = append(es, entry{n.Slots[0].Lo, Shard{n.Slots.String(), n.ID}})
	}
	if countAll(all) != all.Count() {
		return nil, errors.New("cluster nodes: a slot is served by two masters")
	}
	slices.SortFunc(es, func(a, b entry) int { return a.first - b.first })
	out := make([]Shard, len(es))
	for i, e := range es {
		out[i] = e.s
	}
	return out, nil
}

// ParseInfo reads the key:value lines of INFO or CLUSTER INFO; "# Section"
// headers and blank lines are skipped. A line without a colon, an empty
// key or a key given twice is an error.
func ParseInfo(text string) (map[string]string, error) {
	if len(text) > maxInfoText {
		return nil, fmt.Errorf("info: answer of %d bytes, more than %d", len(text), maxInfoText)
	}
	m := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" {
			return nil, fmt.Errorf("info: line %d: %.80q is not key:value", i+1, line)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("info: line %d: %s given twice", i+1, k)
		}
		m[k] = v
	}
	return m, nil
}

// ClusterInfo is what CLUSTER INFO says that this package reads.
type ClusterInfo struct {
	// OK: cluster_state:ok (every slot served by a reachable master, as
	// this node sees it); false for cluster_state:fail.
	OK bool
	// SlotsAssigned, SlotsOK: slots served by some master, and by a
	// master not flagged fail or fail?.
	SlotsAssigned, SlotsOK int
	// KnownNodes counts the nodes it knows, itself included (handshakes
	// too); Size the masters serving at least one slot.
	KnownNodes, Size int
	// CurrentEpoch is the highest epoch it has seen; MyEpoch its own (a
	// replica: its master's) config epoch.
	CurrentEpoch, MyEpoch uint64
}

// ParseClusterInfo reads a CLUSTER INFO answer; each field above must be
// there and well formed.
func ParseClusterInfo(text string) (ClusterInfo, error) {
	m, err := ParseInfo(text)
	if err != nil {
		return ClusterInfo{}, fmt.Errorf("cluster %w", err)
	}
	var ci ClusterInfo
	switch m["cluster_state"] {
	case "ok":
		ci.OK = true
	case "fail":
	default:
		return ClusterInfo{}, fmt.Errorf("cluster info: cluster_state %.20q: want ok or fail", m["cluster_state"])
	}
	ints := []struct {
		key string
		p   *int
	}{
		{"cluster_slots_assigned", &ci.SlotsAssigned}, {"cluster_slots_ok", &ci.SlotsOK},
		{"cluster_known_nodes", &ci.KnownNodes}, {"cluster_size", &ci.Size},
	}
	for _, f := range ints {
		n, err := strconv.ParseUint(m[f.key], 10, 31)
		if err != nil {
			return ClusterInfo{}, fmt.Errorf("cluster info: %s %.20q: not a number", f.key, m[f.key])
		}
		*f.p = int(n)
	}
	for _, f := range []struct {
		key string
		p   *uint64
	}{{"cluster_current_epoch", &ci.CurrentEpoch}, {"cluster_my_epoch", &ci.MyEpoch}} {
		n, err := strconv.ParseUint(m[f.key], 10, 63)
		if err != nil {
			return ClusterInfo{}, fmt.Errorf("cluster info: %s %.20q: not a number", f.key, m[f.key])
		}
		*f.p = n
	}
	if ci.SlotsAssigned > Slots || ci.SlotsOK > ci.SlotsAssigned {
		return ClusterInfo{}, fmt.Errorf("cluster info: %d slots assigned, %d ok: out of range", ci.SlotsAssigned, ci.SlotsOK)
	}
	return ci, nil
}
