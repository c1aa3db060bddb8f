package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/squall-chaos/squall/nemesis/netfault"
)

// Partition modes: which grudge Start computes.
const (
	PartitionHalves         = "halves"          // Halves
	PartitionOne            = "one"             // IsolateOne
	PartitionMajoritiesRing = "majorities-ring" // MajoritiesRing
	PartitionBridge         = "bridge"          // Bridge
	PartitionLeader         = "leader"          // Isolate the current leader
	// PartitionGrudgePrefix introduces an explicit grudge in ParseGrudge's
	// syntax: "grudge:n1,n2|n3,n4,n5".
	PartitionGrudgePrefix = "grudge:"
)

var partitionModes = []string{PartitionHalves, PartitionOne, PartitionMajoritiesRing, PartitionBridge, PartitionLeader}

// Partition is the network partition fault family. Start computes a grudge
// and installs it as nftables drop rules (the table squall-partition) in
// every node's network namespace; Stop deletes the rules. The rules never
// name a Protected address, so the controller keeps reaching every node.
// A node that restarts comes up in a new, empty namespace: NodeRestarted
// gives it the grudge again.
type Partition struct {
	modes []string

	mu     sync.Mutex
	mode   string
	grudge Grudge // in force; nil when healed
}

// PartitionEvent describes a partition's start or end in the history.
type PartitionEvent struct {
	Mode   string `json:"mode,omitempty"`
	Grudge Grudge `json:"grudge,omitempty"`
	// Note says what happened other than asked, such as isolating a random
	// node because no leader was known.
	Note string `json:"note,omitempty"`
	// Down lists nodes whose namespace could not be reached because they
	// were not running; a down node gets the rules when it restarts.
	Down []string `json:"down,omitempty"`
	// Healed lists the nodes whose rules Stop removed.
	Healed []string `json:"healed,omitempty"`
}

// NewPartition returns a partition fault that picks its mode at random
// among modes on each Start: the Partition* constants, or an explicit
// grudge after PartitionGrudgePrefix. No modes means every mode but the
// explicit grudge.
func NewPartition(modes ...string) (*Partition, error) {
	if len(modes) == 0 {
		modes = partitionModes
	}
	for _, m := range modes {
		if !slices.Contains(partitionModes, m) && !strings.HasPrefix(m, PartitionGrudgePrefix) {
			return nil, fmt.Errorf("partition mode %q: want one of %s, or %sSPEC", m, strings.Join(partitionModes, ", "), PartitionGrudgePrefix)
		}
	}
	return &Partition{modes: slices.Clone(modes)}, nil
}

func (p *Partition) Name() string { return "partition" }

// Start installs a grudge of a mode chosen with rng. Nodes that are down
// are skipped (and listed); if rules fail to go in on a running node, the
// rules already installed stay until Stop.
func (p *Partition) Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mode := p.modes[rng.IntN(len(p.modes))]
	ev := PartitionEvent{Mode: mode}
	nodes := nodeNames(c.Nodes())
	if len(nodes) < 2 {
		return ev, fmt.Errorf("partition %s: a cluster of %d nodes cannot be partitioned", mode, len(nodes))
	}
	var err error
	ev.Grudge, ev.Note, err = p.grudgeFor(ctx, c, mode, nodes, rng)
	if err != nil {
		return ev, err
	}
	// In force from here on, so that a node restarting while the rules go
	// in gets them too, and Stop removes a partly installed grudge.
	p.mode, p.grudge = mode, ev.Grudge
	up := make([]bool, len(nodes))
	errs := together(nodes, func(i int, node string) (err error) {
		up[i], err = p.install(ctx, c, node)
		return err
	})
	for i, node := range nodes {
		if !up[i] {
			ev.Down = append(ev.Down, node)
		}
	}
	if len(ev.Down) == len(nodes) {
		// Another family (power) has every node down: there is nothing
		// to cut, and nothing failed.
		return ev, fmt.Errorf("partition %s: no node is running: %w", mode, ErrSkipped)
	}
	return ev, errors.Join(errs...)
}

func (p *Partition) grudgeFor(ctx context.Context, c Cluster, mode string, nodes []string, rng *rand.Rand) (g Grudge, note string, err error) {
	switch mode {
	case PartitionHalves:
		return Halves(nodes, rng), "", nil
	case PartitionOne:
		return IsolateOne(nodes, rng), "", nil
	case PartitionMajoritiesRing:
		return MajoritiesRing(nodes, rng), "", nil
	case PartitionBridge:
		return Bridge(nodes, rng), "", nil
	case PartitionLeader:
		leader, why := leaderAmong(ctx, c, nodes)
		if leader == "" {
			return IsolateOne(nodes, rng), why + "; isolated a node at random", nil
		}
		return Isolate(nodes, leader), "", nil
	}
	spec, _ := strings.CutPrefix(mode, PartitionGrudgePrefix)
	g, err = ParseGrudge(spec, nodes)
	return g, "", err
}

// install gives node the rules of the grudge in force (or none), reporting
// whether the node was running.
func (p *Partition) install(ctx context.Context, c Cluster, node string) (up bool, err error) {
	err = c.Net(ctx, node, netfault.Change{Family: p.Name(), Drop: p.dropsOf(c, node)})
	if errors.Is(err, ErrNodeDown) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("partition node %s: %w", node, err)
	}
	return true, nil
}

// dropsOf is the addresses node's rules drop: its grudge's peers', less
// any address the controller needs.
func (p *Partition) dropsOf(c Cluster, node string) []netip.Addr {
	ips := make(map[string]netip.Addr)
	for _, n := range c.Nodes() {
		ips[n.Name] = n.IP
	}
	var drops []netip.Addr
	for _, peer := range p.grudge[node] {
		ip, ok := ips[peer]
		if !ok || isProtected(c, ip) {
			continue
		}
		drops = append(drops, ip)
	}
	return drops
}

func isProtected(c Cluster, ip netip.Addr) bool {
	for _, a := range c.Protected() {
		if a.Unmap() == ip.Unmap() {
			return true
		}
	}
	return false
}

// NodeRestarted installs the grudge in force, if any, in the restarted
// node's new namespace. A node another family took down again since its
// start gets the grudge at its next start.
func (p *Partition) NodeRestarted(ctx context.Context, c Cluster, node string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.grudge == nil {
		return nil
	}
	_, err := p.install(ctx, c, node)
	return err
}

// Stop removes the partition rules from every running node. It sweeps all
// nodes whatever this Partition believes is in force, so it also cleans up
// after a Start that failed halfway.
func (p *Partition) Stop(ctx context.Context, c Cluster) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := PartitionEvent{Mode: p.mode}
	p.mode, p.grudge = "", nil
	nodes := nodeNames(c.Nodes())
	up := make([]bool, len(nodes))
	errs := together(nodes, func(i int, node string) (err error) {
		up[i], err = p.install(ctx, c, node)
		return err
	})
	for i, node := range nodes {
		switch {
		case !up[i]:
			ev.Down = append(ev.Down, node)
		case errs[i] == nil:
			ev.Healed = append(ev.Healed, node)
		}
	}
	return ev, errors.Join(errs...)
}
