package netfault

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// rootHandle marks the root queueing discipline squall installs, so that
// healing removes ours and never one the container came with.
var rootHandle = netlink.MakeHandle(0x5c0a, 0)

// ErrUnsupported is wrapped by the error of a fault the kernel cannot
// apply (no netem module, say).
var ErrUnsupported = errors.New("unsupported by this kernel")

// shape sets the root queue of every interface of the namespace but
// loopback: tbf at rate bytes/s, or netem delaying by delay ± jitter, or,
// with neither, the kernel's default (our queue removed).
func shape(rate uint64, delay, jitter time.Duration) error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	var errs []error
	for _, l := range links {
		if l.Attrs().Flags&net.FlagLoopback != 0 {
			continue
		}
		errs = append(errs, shapeLink(l, rate, delay, jitter))
	}
	return errors.Join(errs...)
}

func shapeLink(l netlink.Link, rate uint64, delay, jitter time.Duration) error {
	name := l.Attrs().Name
	attrs := netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: rootHandle, Parent: netlink.HANDLE_ROOT}
	var q netlink.Qdisc
	switch {
	case rate > 0:
		// A burst of at least one full-size packet, and a queue of half
		// a second at the rate: beyond it packets are dropped, as from a
		// congested link.
		burst := uint32(max(rate/10, 16<<10))
		q = &netlink.Tbf{QdiscAttrs: attrs, Rate: rate, Buffer: netlink.Xmittime(rate, burst), Limit: uint32(max(rate/2, 64<<10))}
	case delay > 0:
		q = netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
			Latency: uint32(delay / time.Microsecond),
			Jitter:  uint32(jitter / time.Microsecond),
		})
	default:
		return removeOurs(l)
	}
	if err := netlink.QdiscReplace(q); err != nil {
		if delay > 0 && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP)) {
			return fmt.Errorf("delay on %s: the kernel has no netem queue (%v): %w", name, err, ErrUnsupported)
		}
		return fmt.Errorf("%s queue on %s: %w", q.Type(), name, err)
	}
	return nil
}

// removeOurs deletes l's root queue if squall installed it.
func removeOurs(l netlink.Link) error {
	qs, err := netlink.QdiscList(l)
	if err != nil {
		return fmt.Errorf("list queues of %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qs {
		if a := q.Attrs(); a.Parent == netlink.HANDLE_ROOT && a.Handle == rootHandle {
			if err := netlink.QdiscDel(q); err != nil {
				return fmt.Errorf("remove %s queue of %s: %w", q.Type(), l.Attrs().Name, err)
			}
		}
	}
	return nil
}
