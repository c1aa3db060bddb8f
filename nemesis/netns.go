package nemesis

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Partition rules live in an nftables table of their own inside each
// node's network namespace, so healing is deleting that one table and
// nothing else in the namespace (Docker's own rules, say) is touched. The
// controller installs them through a netlink socket opened in the
// namespace of the node's process; no process runs inside the container,
// and the container needs no nft binary.
const tableName = "squall"

var squallTable = &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}

// Where in an IPv4 and IPv6 header the source and destination addresses are.
var (
	ipv4Addr = addrLayout{family: unix.NFPROTO_IPV4, src: 12, dst: 16, len: 4}
	ipv6Addr = addrLayout{family: unix.NFPROTO_IPV6, src: 8, dst: 24, len: 16}
)

type addrLayout struct {
	family        byte
	src, dst, len uint32
}

// installDrops makes the network namespace of process pid drop every
// packet from or to the given addresses, replacing whatever drops it had
// before. The change is one nftables transaction: the namespace goes from
// the old rules to the new ones with nothing in between. With no addresses
// it removes the table.
func installDrops(pid int, drops []netip.Addr) error {
	return inNetNS(pid, func(c *nftables.Conn) {
		// Adding the table before deleting it makes the delete succeed
		// whether or not the table exists: re-applying is idempotent.
		c.AddTable(squallTable)
		c.DelTable(squallTable)
		if len(drops) == 0 {
			return
		}
		c.AddTable(squallTable)
		input := c.AddChain(baseChain("input", nftables.ChainHookInput))
		output := c.AddChain(baseChain("output", nftables.ChainHookOutput))
		for _, addr := range drops {
			c.AddRule(&nftables.Rule{Table: squallTable, Chain: input, Exprs: dropAddr(addr, true)})
			c.AddRule(&nftables.Rule{Table: squallTable, Chain: output, Exprs: dropAddr(addr, false)})
		}
	})
}

// inNetNS queues the changes build makes on a connection to the network
// namespace of process pid, and sends them as one batch.
func inNetNS(pid int, build func(*nftables.Conn)) error {
	path := fmt.Sprintf("/proc/%d/ns/net", pid)
	ns, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", path, err)
	}
	build(c)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables in %s: %w", path, err)
	}
	return nil
}

func baseChain(name string, hook *nftables.ChainHook) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     name,
		Table:    squallTable,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  hook,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	}
}

// dropAddr is the rule "ip saddr ADDR drop" (or daddr when source is
// false), for IPv4 or IPv6 as ADDR is. An inet table sees both families,
// so the rule first matches the family, which says where the address is.
func dropAddr(addr netip.Addr, source bool) []expr.Any {
	addr = addr.Unmap()
	layout := ipv4Addr
	if !addr.Is4() {
		layout = ipv6Addr
	}
	offset := layout.dst
	if source {
		offset = layout.src
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{layout.family}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: layout.len},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}
