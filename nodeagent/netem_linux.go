package nodeagent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

// Constants from linux/pkt_sched.h that x/sys/unix lacks.
const (
	tcHRoot           = 0xFFFFFFFF
	tcaNetemLatency64 = 10
	tcaNetemJitter64  = 11
)

// ApplyNetem puts a netem qdisc with n's delay, jitter and loss at the root
// of the container's network interface, or removes it when n is zero. When
// the kernel has no sch_netem the error matches errors.ErrUnsupported.
func ApplyNetem(n agentapi.Netem) error {
	return applyNetem(n, n == (agentapi.Netem{}))
}

// ProbeNetem checks whether the kernel has netem by putting a netem qdisc
// without delay or loss on the interface and removing it again. The error
// matches errors.ErrUnsupported, with the reason, when it hasn't.
func ProbeNetem() error {
	if err := applyNetem(agentapi.Netem{}, false); err != nil {
		return err
	}
	return applyNetem(agentapi.Netem{}, true)
}

func applyNetem(n agentapi.Netem, remove bool) error {
	ifi, err := mainInterface()
	if err != nil {
		return err
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return fmt.Errorf("netem: %w", err)
	}
	defer c.Close()
	tcm := make([]byte, 20) // struct tcmsg
	binary.NativeEndian.PutUint32(tcm[4:], uint32(ifi.Index))
	binary.NativeEndian.PutUint32(tcm[12:], tcHRoot)
	if remove {
		_, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_DELQDISC, Flags: netlink.Request | netlink.Acknowledge},
			Data:   tcm,
		})
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("netem: remove from %s: %w", ifi.Name, err)
		}
		return nil
	}
	// struct tc_netem_qopt {latency, limit, loss, gap, duplicate, jitter}
	// followed by attributes; the 64-bit latency/jitter attributes (ns)
	// override the tick-based fields.
	q := make([]byte, 24)
	binary.NativeEndian.PutUint32(q[4:], 1000)
	binary.NativeEndian.PutUint32(q[8:], uint32(math.Round(n.Loss*math.MaxUint32)))
	ae := netlink.NewAttributeEncoder()
	ae.Int64(tcaNetemLatency64, n.DelayMS*1e6)
	ae.Int64(tcaNetemJitter64, n.JitterMS*1e6)
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("netem: %w", err)
	}
	top := netlink.NewAttributeEncoder()
	top.String(unix.TCA_KIND, "netem")
	top.Bytes(unix.TCA_OPTIONS, append(q, attrs...))
	b, err := top.Encode()
	if err != nil {
		return fmt.Errorf("netem: %w", err)
	}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_NEWQDISC,
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Replace},
		Data: append(tcm, b...),
	})
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netem on %s: the kernel has no sch_netem (qdisc kind unknown): %w", ifi.Name, errors.ErrUnsupported)
	}
	if err != nil {
		return fmt.Errorf("netem on %s: %w", ifi.Name, err)
	}
	return nil
}

// mainInterface is the container's network interface: the first one that
// is up and not loopback.
func mainInterface() (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("interfaces: %w", err)
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback == 0 && ifs[i].Flags&net.FlagUp != 0 {
			return &ifs[i], nil
		}
	}
	return nil, errors.New("no network interface besides loopback")
}
