package nodeagent

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Netfilter applies packet drops in the agent's network namespace.
type Netfilter interface {
	// SetDrops replaces the drop rules: packets from in are dropped on
	// input, packets to out on output. Empty lists remove every rule.
	SetDrops(in, out []netip.Addr) error
	// SetLoss drops the fraction p (0..1) of the packets leaving through
	// any interface but loopback, at random; 0 stops it. It is the
	// fallback for netem's loss on kernels without sch_netem.
	SetLoss(p float64) error
	// Probe applies the rules in place again: an error says why rules
	// can't be had (no CAP_NET_ADMIN, no nf_tables).
	Probe() error
}

// TableName is the nftables table (family ip) the agent owns. Nothing else
// in the namespace is touched (Docker's DNS rules stay).
const TableName = "splitbrain"

// NFTables is the Netfilter of the agent's namespace, through nftables.
// Rules sit in base chains at the raw priority (-300), before conntrack, so
// established connections are cut as well.
type NFTables struct {
	// ExemptPort is a TCP port whose outgoing packets (the agent's control
	// API answers) random loss never drops; 0 exempts nothing.
	ExemptPort uint16

	mu      sync.Mutex
	in, out []netip.Addr
	loss    float64
}

// SetDrops implements Netfilter.
func (n *NFTables) SetDrops(in, out []netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.apply(in, out, n.loss); err != nil {
		return err
	}
	n.in, n.out = in, out
	return nil
}

// SetLoss implements Netfilter.
func (n *NFTables) SetLoss(p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("loss %v not in [0,1]", p)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.apply(n.in, n.out, p); err != nil {
		return err
	}
	n.loss = p
	return nil
}

// Probe implements Netfilter.
func (n *NFTables) Probe() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.apply(n.in, n.out, n.loss)
}

// apply replaces the table's rules in one netlink batch, so the change is
// atomic.
func (n *NFTables) apply(in, out []netip.Addr, loss float64) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName})
	chIn := c.AddChain(&nftables.Chain{Name: "in", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRaw})
	chOut := c.AddChain(&nftables.Chain{Name: "out", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRaw})
	c.FlushTable(t)
	for _, ip := range in {
		c.AddRule(dropRule(t, chIn, 12, ip)) // ip saddr
	}
	for _, ip := range out {
		c.AddRule(dropRule(t, chOut, 16, ip)) // ip daddr
	}
	if loss > 0 {
		if n.ExemptPort != 0 {
			c.AddRule(exemptRule(t, chOut, n.ExemptPort))
		}
		c.AddRule(lossRule(t, chOut, loss))
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: apply %d in, %d out drops, loss %v: %w", len(in), len(out), loss, err)
	}
	return nil
}

// dropRule is "ip saddr|daddr == addr drop" (offset 12: source, 16: destination).
func dropRule(t *nftables.Table, ch *nftables.Chain, offset uint32, addr netip.Addr) *nftables.Rule {
	a := addr.As4()
	return &nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}}
}

// lossMod is the resolution of the loss rule.
const lossMod = 1_000_000

// lossRule is "meta oif != lo numgen random mod 1000000 < p*1000000 drop"
// (lo is interface 1 in every namespace).
func lossRule(t *nftables.Table, ch *nftables.Chain, p float64) *nftables.Rule {
	lo := make([]byte, 4)
	binary.NativeEndian.PutUint32(lo, 1)
	th := make([]byte, 4)
	binary.BigEndian.PutUint32(th, uint32(math.Round(p*lossMod)))
	return &nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIF, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: lo},
		&expr.Numgen{Register: 1, Modulus: lossMod, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: th},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}}
}

// exemptRule is "tcp sport port accept": it ends the chain before the loss
// rule, so the harness keeps control of the agent.
func exemptRule(t *nftables.Table, ch *nftables.Chain, port uint16) *nftables.Rule {
	p := make([]byte, 2)
	binary.BigEndian.PutUint16(p, port)
	return &nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}}
}
