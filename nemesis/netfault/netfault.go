// Package netfault changes the network of the namespace it runs in: the
// nftables rules and the traffic-control queue of squall's network faults.
//
// It is the part of the nemesis that runs inside a node's network
// namespace. The controller never enters a namespace itself (that needs
// root and the host's /proc): the runtime starts, beside each node, a
// sidecar container that shares the node's network namespace and holds
// only the NET_ADMIN capability, and runs `squall netfault` in it through
// the Docker API. Apply is what that command does.
//
// Each fault family owns one nftables table, squall-FAMILY, so that
// families are in force at once without one healing another, and healing
// a family deletes its table and nothing else (Docker's own rules are
// never touched). The loss family also owns the root queueing discipline
// of the node's interfaces while it limits bandwidth (tbf) or delays
// packets (netem).
package netfault

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// Change is the whole network state of one fault family in one node's
// namespace: applying it replaces whatever the family had there. The zero
// Change of a family heals it.
type Change struct {
	// Family names the fault family, and so the nftables table.
	Family string `json:"family"`
	// Drop lists addresses whose packets, to or from this node, are all
	// dropped.
	Drop []netip.Addr `json:"drop,omitempty"`
	// Loss drops a share of the packets to or from each address.
	Loss []Loss `json:"loss,omitempty"`
	// Rate limits what the node sends, in bytes per second (tbf); 0 for
	// no limit. Only the loss family shapes traffic.
	Rate uint64 `json:"rate,omitempty"`
	// Delay holds every packet the node sends this long, give or take
	// Jitter (netem, where the kernel has it). Only the loss family.
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
}

// Loss drops Percent percent of the packets to or from Addr, each packet
// drawn at random.
type Loss struct {
	Addr    netip.Addr `json:"addr"`
	Percent int        `json:"percent"`
}

// ShapingFamily is the one family that may set Rate and Delay.
const ShapingFamily = "loss"

var familyPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// Validate checks c before anything is changed.
func (c Change) Validate() error {
	if !familyPattern.MatchString(c.Family) {
		return fmt.Errorf("family %q: want lower-case letters, digits and '-'", c.Family)
	}
	for _, a := range c.Drop {
		if !a.IsValid() {
			return errors.New("drop: an address is empty")
		}
	}
	for _, l := range c.Loss {
		if !l.Addr.IsValid() {
			return errors.New("loss: an address is empty")
		}
		if l.Percent < 1 || l.Percent > 100 {
			return fmt.Errorf("loss of %s: %d%%, want 1 to 100", l.Addr, l.Percent)
		}
	}
	if (c.Rate > 0 || c.Delay != 0 || c.Jitter != 0) && c.Family != ShapingFamily {
		return fmt.Errorf("family %s: only %s limits rate or delays packets", c.Family, ShapingFamily)
	}
	if c.Rate > 0 && c.Delay > 0 {
		return errors.New("rate and delay: one at a time, they share the root queue")
	}
	if c.Delay < 0 || c.Jitter < 0 || c.Jitter > c.Delay {
		return fmt.Errorf("delay %v, jitter %v: want 0 <= jitter <= delay", c.Delay, c.Jitter)
	}
	if c.Rate > 0 && c.Rate < minRate {
		return fmt.Errorf("rate %d bytes/s: want at least %d", c.Rate, minRate)
	}
	return nil
}

// minRate is the least bandwidth a node may be limited to: below it, a
// node cannot even send its heartbeats.
const minRate = 1 << 10

// Apply puts c in force in the current network namespace.
func Apply(c Change) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := replaceTable(c); err != nil {
		return err
	}
	if c.Family == ShapingFamily {
		return shape(c.Rate, c.Delay, c.Jitter)
	}
	return nil
}
