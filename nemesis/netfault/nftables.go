package netfault

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TablePrefix begins the name of every nftables table squall makes.
const TablePrefix = "squall-"

// table is family's nftables table. An inet table sees IPv4 and IPv6.
func table(family string) *nftables.Table {
	return &nftables.Table{Name: TablePrefix + family, Family: nftables.TableFamilyINet}
}

// Where in an IPv4 and IPv6 header the source and destination addresses are.
var (
	ipv4Addr = addrLayout{family: unix.NFPROTO_IPV4, src: 12, dst: 16, len: 4}
	ipv6Addr = addrLayout{family: unix.NFPROTO_IPV6, src: 8, dst: 24, len: 16}
)

type addrLayout struct {
	family        byte
	src, dst, len uint32
}

func layoutOf(addr netip.Addr) addrLayout {
	if addr.Is4() {
		return ipv4Addr
	}
	return ipv6Addr
}

// replaceTable makes c.Family's table hold exactly c's drop and loss rules,
// in one nftables transaction: the namespace goes from the old rules to
// the new ones with nothing in between. With no rules it removes the table.
func replaceTable(c Change) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table(c.Family)
	// Adding the table before deleting it makes the delete succeed
	// whether or not the table exists: re-applying is idempotent.
	conn.AddTable(t)
	conn.DelTable(t)
	if len(c.Drop)+len(c.Loss) > 0 {
		conn.AddTable(t)
		input := conn.AddChain(baseChain(t, "input", nftables.ChainHookInput))
		output := conn.AddChain(baseChain(t, "output", nftables.ChainHookOutput))
		for _, addr := range c.Drop {
			conn.AddRule(&nftables.Rule{Table: t, Chain: input, Exprs: dropAddr(addr.Unmap(), true, 0)})
			conn.AddRule(&nftables.Rule{Table: t, Chain: output, Exprs: dropAddr(addr.Unmap(), false, 0)})
		}
		for _, l := range c.Loss {
			conn.AddRule(&nftables.Rule{Table: t, Chain: input, Exprs: dropAddr(l.Addr.Unmap(), true, l.Percent)})
			conn.AddRule(&nftables.Rule{Table: t, Chain: output, Exprs: dropAddr(l.Addr.Unmap(), false, l.Percent)})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", t.Name, err)
	}
	return nil
}

func baseChain(t *nftables.Table, name string, hook *nftables.ChainHook) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     name,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  hook,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	}
}

// dropAddr is the rule "ip saddr ADDR drop" (or daddr when source is
// false), for IPv4 or IPv6 as ADDR is; with percent above 0, "ip saddr
// ADDR numgen random mod 100 < PERCENT drop", which drops that share of
// the packets at random. An inet table sees both families, so the rule
// first matches the family, which says where the address is.
func dropAddr(addr netip.Addr, source bool, percent int) []expr.Any {
	layout := layoutOf(addr)
	offset := layout.dst
	if source {
		offset = layout.src
	}
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{layout.family}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: layout.len},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()},
	}
	if percent > 0 && percent < 100 {
		// numgen leaves a number in host order; nft converts it to
		// network order before an ordered comparison, and so must we.
		exprs = append(exprs,
			&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: []byte{0, 0, 0, byte(percent)}},
		)
	}
	return append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
}
