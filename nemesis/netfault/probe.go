package netfault

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Kernel features the network faults need, as Probe names them.
const (
	FeatureNftables = "nftables" // tables, drop rules and numgen: partition, loss
	FeatureTbf      = "tbf"      // token bucket queue: bandwidth
	FeatureNetem    = "netem"    // network emulator queue: delay
)

// Features lists every feature Probe tries.
var Features = []string{FeatureNftables, FeatureTbf, FeatureNetem}

// Probe tries each feature in the current network namespace, on the
// loopback interface and in a table of its own, and undoes what it did.
// A nil error means the feature works here.
func Probe() map[string]error {
	return map[string]error{
		FeatureNftables: probeNftables(),
		FeatureTbf:      probeQdisc(&netlink.Tbf{Rate: 1 << 20, Buffer: netlink.Xmittime(1<<20, 16<<10), Limit: 64 << 10}),
		FeatureNetem:    probeQdisc(netlink.NewNetem(netlink.QdiscAttrs{}, netlink.NetemQdiscAttrs{Latency: 1000})),
	}
}

func probeNftables() error {
	c := Change{Family: "probe",
		Drop: []netip.Addr{netip.MustParseAddr("192.0.2.1")},
		Loss: []Loss{{Addr: netip.MustParseAddr("2001:db8::1"), Percent: 10}}}
	if err := replaceTable(c); err != nil {
		return err
	}
	return replaceTable(Change{Family: c.Family})
}

func probeQdisc(q netlink.Qdisc) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find loopback: %w", err)
	}
	*q.Attrs() = netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: rootHandle, Parent: netlink.HANDLE_ROOT}
	if err := netlink.QdiscReplace(q); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("%s queue: %v: %w", q.Type(), err, ErrUnsupported)
		}
		return fmt.Errorf("%s queue: %w", q.Type(), err)
	}
	if err := netlink.QdiscDel(q); err != nil {
		return fmt.Errorf("remove the %s queue it tried: %w", q.Type(), err)
	}
	return nil
}
