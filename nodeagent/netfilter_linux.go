package nodeagent

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Netfilter applies packet drops in the agent's network namespace.
type Netfilter interface {
	// SetDrops replaces the drop rules: packets from in are dropped on
	// input, packets to out on output. Empty lists remove every rule.
	SetDrops(in, out []netip.Addr) error
}

// TableName is the nftables table (family ip) the agent owns. Nothing else
// in the namespace is touched (Docker's DNS rules stay).
const TableName = "splitbrain"

// NFTables is the Netfilter of the agent's namespace, through nftables.
// Rules sit in base chains at the raw priority (-300), before conntrack, so
// established connections are cut as well.
type NFTables struct {
	mu sync.Mutex
}

// SetDrops implements Netfilter. The whole replacement is one netlink batch,
// so it applies atomically.
func (n *NFTables) SetDrops(in, out []netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
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
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: apply %d in, %d out drops: %w", len(in), len(out), err)
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
