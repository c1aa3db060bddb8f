package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// A Grudge says, for each node, the nodes whose packets it drops. It is
// what a partition is: the functions below compute one from the cluster's
// node names, and Partition installs it.
//
// The grudges built here are symmetric (if a drops b, b drops a). The rules
// drop traffic in both directions anyway, and TCP cannot work over a link
// that loses either direction, so a one-sided grudge would cut the link
// both ways while the history described it as one-sided.
type Grudge map[string][]string

// Halves splits the nodes at random into a minority of ⌊n/2⌋ and a
// majority of ⌈n/2⌉ that cannot talk to each other.
func Halves(nodes []string, rng *rand.Rand) Grudge {
	ring := shuffled(nodes, rng)
	half := len(ring) / 2
	return complete([][]string{ring[:half], ring[half:]})
}

// IsolateOne cuts a node chosen at random off from all the others.
func IsolateOne(nodes []string, rng *rand.Rand) Grudge {
	return Isolate(nodes, shuffled(nodes, rng)[0])
}

// Isolate cuts node off from all the others.
func Isolate(nodes []string, node string) Grudge {
	var rest []string
	for _, n := range nodes {
		if n != node {
			rest = append(rest, n)
		}
	}
	return complete([][]string{{node}, rest})
}

// MajoritiesRing is Jepsen's majorities ring: every node sees a majority
// (itself included) but no two nodes see the same majority, so several
// nodes may each believe they can lead. The nodes are placed on a ring in
// random order and each sees its k nearest neighbours on either side, k the
// smallest that makes 2k+1 a majority. With three nodes that would be
// everyone, so one link of the ring is cut instead, leaving a line whose
// ends each see the middle and whose middle sees both.
func MajoritiesRing(nodes []string, rng *rand.Rand) Grudge {
	ring := shuffled(nodes, rng)
	n := len(ring)
	if n < 3 {
		return Grudge{}
	}
	if n == 3 {
		return complete([][]string{{ring[0]}, {ring[2]}})
	}
	k := majority(n) / 2 // 2k+1 >= majority(n), and 2k+1 < n for n >= 4
	g := make(Grudge)
	for i, node := range ring {
		// Everyone farther than k along the ring, either way.
		for d := k + 1; d <= n-k-1; d++ {
			g[node] = append(g[node], ring[(i+d)%n])
		}
		slices.Sort(g[node])
	}
	return g
}

// Bridge splits the nodes other than one, chosen at random, into two
// halves that cannot talk; the chosen node sees both. Each half with the
// bridge is a majority when n is odd.
func Bridge(nodes []string, rng *rand.Rand) Grudge {
	ring := shuffled(nodes, rng)
	if len(ring) < 3 {
		return Grudge{}
	}
	rest := ring[1:] // ring[0] is the bridge: in neither half, it sees both
	half := len(rest) / 2
	return complete([][]string{rest[:half], rest[half:]})
}

// ParseGrudge reads an explicit partition, components separated by "|" and
// nodes within one by ",": "n1,n2|n3,n4,n5" cuts n1 and n2 off from n3, n4
// and n5. Nodes in no component keep talking to everyone. Every name must
// be one of nodes and appear once.
func ParseGrudge(spec string, nodes []string) (Grudge, error) {
	var components [][]string
	seen := make(map[string]bool)
	for _, part := range strings.Split(spec, "|") {
		var component []string
		for _, name := range strings.Split(part, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "":
				return nil, fmt.Errorf("grudge %q: empty node name", spec)
			case !slices.Contains(nodes, name):
				return nil, fmt.Errorf("grudge %q: unknown node %q (nodes are %s)", spec, name, strings.Join(nodes, ","))
			case seen[name]:
				return nil, fmt.Errorf("grudge %q: node %q appears twice", spec, name)
			}
			seen[name] = true
			component = append(component, name)
		}
		components = append(components, component)
	}
	if len(components) < 2 {
		return nil, fmt.Errorf("grudge %q: want at least two components separated by |", spec)
	}
	return complete(components), nil
}

// complete makes each component unable to talk to any other; nodes in no
// component keep talking to everyone.
func complete(components [][]string) Grudge {
	g := make(Grudge)
	for i, component := range components {
		var others []string
		for j, other := range components {
			if j != i {
				others = append(others, other...)
			}
		}
		slices.Sort(others)
		if len(others) == 0 {
			continue
		}
		for _, node := range component {
			g[node] = others
		}
	}
	return g
}

// majority is the smallest number of n nodes that is more than half.
func majority(n int) int { return n/2 + 1 }

// shuffled returns the nodes sorted and then shuffled with rng, so that the
// result depends only on the seed and the set of names, not their order.
func shuffled(nodes []string, rng *rand.Rand) []string {
	s := slices.Clone(nodes)
	slices.Sort(s)
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}
