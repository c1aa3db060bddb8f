package nemesis

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

func names(n int) []string {
	var s []string
	for i := 1; i <= n; i++ {
		s = append(s, fmt.Sprintf("n%d", i))
	}
	return s
}

// cuts reports whether a and b cannot talk: either drops the other.
func (g Grudge) cuts(a, b string) bool {
	return slices.Contains(g[a], b) || slices.Contains(g[b], a)
}

// sees is the set of nodes node can talk to, itself included.
func (g Grudge) sees(nodes []string, node string) []string {
	var s []string
	for _, n := range nodes {
		if n == node || !g.cuts(node, n) {
			s = append(s, n)
		}
	}
	return s
}

// checkWellFormed asserts what every grudge must be: symmetric, over the
// given nodes, with no node holding a grudge against itself.
func checkWellFormed(t *testing.T, g Grudge, nodes []string) {
	t.Helper()
	for node, peers := range g {
		if !slices.Contains(nodes, node) {
			t.Errorf("grudge %v: unknown node %s", g, node)
		}
		for _, p := range peers {
			if p == node {
				t.Errorf("grudge %v: %s drops itself", g, node)
			}
			if !slices.Contains(g[p], node) {
				t.Errorf("grudge %v: %s drops %s but not the other way", g, node, p)
			}
		}
	}
}

func seeds() []*rand.Rand {
	var rs []*rand.Rand
	for seed := range uint64(20) {
		rs = append(rs, rand.New(rand.NewPCG(seed, 1)))
	}
	return rs
}

func TestHalves(t *testing.T) {
	for n := 2; n <= 7; n++ {
		nodes := names(n)
		for _, rng := range seeds() {
			g := Halves(nodes, rng)
			checkWellFormed(t, g, nodes)
			var sizes []int
			for _, node := range nodes {
				seen := g.sees(nodes, node)
				sizes = append(sizes, len(seen))
				// Each side talks within itself.
				for _, a := range seen {
					if !slices.Equal(g.sees(nodes, a), seen) {
						t.Errorf("n=%d grudge %v: %s sees %v but %s sees %v", n, g, node, seen, a, g.sees(nodes, a))
					}
				}
			}
			slices.Sort(sizes)
			minority, majority := n/2, n-n/2
			for i, s := range sizes {
				want := majority
				if i < minority {
					want = minority
				}
				if s != want {
					t.Fatalf("n=%d grudge %v: side sizes %v, want %d nodes seeing %d and %d seeing %d", n, g, sizes, minority, minority, majority, majority)
				}
			}
		}
	}
}

func TestHalvesDeterministic(t *testing.T) {
	a := Halves([]string{"n1", "n2", "n3", "n4", "n5"}, rand.New(rand.NewPCG(7, 7)))
	b := Halves([]string{"n5", "n3", "n1", "n4", "n2"}, rand.New(rand.NewPCG(7, 7)))
	if !maps.EqualFunc(a, b, slices.Equal) {
		t.Errorf("same seed, same nodes in another order: %v and %v", a, b)
	}
}

func TestIsolate(t *testing.T) {
	nodes := names(5)
	g := Isolate(nodes, "n3")
	checkWellFormed(t, g, nodes)
	if got, want := g["n3"], []string{"n1", "n2", "n4", "n5"}; !slices.Equal(got, want) {
		t.Errorf("n3 drops %v, want %v", got, want)
	}
	for _, n := range []string{"n1", "n2", "n4", "n5"} {
		if got := g[n]; !slices.Equal(got, []string{"n3"}) {
			t.Errorf("%s drops %v, want [n3]", n, got)
		}
	}
}

func TestIsolateOne(t *testing.T) {
	nodes := names(5)
	isolated := make(map[string]bool)
	for _, rng := range seeds() {
		g := IsolateOne(nodes, rng)
		checkWellFormed(t, g, nodes)
		var alone []string
		for _, n := range nodes {
			switch len(g.sees(nodes, n)) {
			case 1:
				alone = append(alone, n)
			case 4:
			default:
				t.Fatalf("grudge %v: %s sees %v, want itself alone or the other four", g, n, g.sees(nodes, n))
			}
		}
		if len(alone) != 1 {
			t.Fatalf("grudge %v isolates %v, want one node", g, alone)
		}
		isolated[alone[0]] = true
	}
	if len(isolated) < 2 {
		t.Errorf("20 seeds isolated only %v", isolated)
	}
}

func TestMajoritiesRing(t *testing.T) {
	for _, n := range []int{3, 4, 5, 6, 7, 9} {
		nodes := names(n)
		for _, rng := range seeds() {
			g := MajoritiesRing(nodes, rng)
			checkWellFormed(t, g, nodes)
			seen := make(map[string]string)
			for _, node := range nodes {
				view := g.sees(nodes, node)
				if len(view) <= n/2 {
					t.Errorf("n=%d grudge %v: %s sees %v, not a majority", n, g, node, view)
				}
				if len(view) == n && n > 3 { // with 3, the line's middle sees both ends
					t.Errorf("n=%d grudge %v: %s sees everyone", n, g, node)
				}
				key := fmt.Sprint(view)
				if other, ok := seen[key]; ok {
					t.Errorf("n=%d grudge %v: %s and %s both see %v", n, g, node, other, view)
				}
				seen[key] = node
			}
		}
	}
}

func TestBridge(t *testing.T) {
	for _, n := range []int{3, 5, 7} {
		nodes := names(n)
		for _, rng := range seeds() {
			g := Bridge(nodes, rng)
			checkWellFormed(t, g, nodes)
			var bridges []string
			for _, node := range nodes {
				if len(g[node]) == 0 {
					bridges = append(bridges, node)
					continue
				}
				// Each half with the bridge is a majority.
				if got := len(g.sees(nodes, node)); got != n/2+1 {
					t.Errorf("n=%d grudge %v: %s sees %d nodes, want %d", n, g, node, got, n/2+1)
				}
			}
			if len(bridges) != 1 {
				t.Errorf("n=%d grudge %v: bridges %v, want one", n, g, bridges)
			}
		}
	}
}

func TestParseGrudge(t *testing.T) {
	nodes := names(5)
	g, err := ParseGrudge("n1, n2|n3,n4", nodes)
	if err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, g, nodes)
	want := Grudge{"n1": {"n3", "n4"}, "n2": {"n3", "n4"}, "n3": {"n1", "n2"}, "n4": {"n1", "n2"}}
	if !maps.EqualFunc(g, want, slices.Equal) {
		t.Errorf("got %v, want %v (n5 in no component talks to all)", g, want)
	}
	for _, bad := range []string{"n1,n2", "n1|n9", "n1|n1", "n1||n2", ""} {
		if g, err := ParseGrudge(bad, nodes); err == nil {
			t.Errorf("ParseGrudge(%q) = %v, want an error", bad, g)
		}
	}
}
