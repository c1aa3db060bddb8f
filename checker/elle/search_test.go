package elle

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSearchAgreesWithBruteForce holds the cycle searches to every
// simple cycle of small random dependency graphs: every kind the
// searches report is a cycle of the graph, and every model forbids some
// kind they report exactly when it forbids some cycle of the graph.
func TestSearchAgreesWithBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2026))
	for iter := range 4000 {
		n := 3 + rng.IntN(4)
		var edges []edge
		for a := range int32(n) {
			for b := range int32(n) {
				if a != b && rng.IntN(3) == 0 {
					edges = append(edges, edge{a, b, edgeKind(1) << rng.IntN(3)})
					if rng.IntN(8) == 0 {
						edges = append(edges, edge{a, b, edgeKind(1) << rng.IntN(3)})
					}
				}
			}
		}
		g := buildGraph(n, edges)
		searched := make(map[string]bool)
		f := newCycleFinder(context.Background(), g, int32(n))
		for _, members := range components(g) {
			err := f.component(members, dependencySearches, 0, func(walk cycle) {
				for _, cy := range simpleCycles(walk) {
					searched[g.classify(&cy)] = true
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		all := make(map[string]bool)
		for _, cy := range allSimpleCycles(g, n) {
			all[g.classify(&cy)] = true
		}
		for k := range searched {
			if !all[k] {
				t.Fatalf("graph %d %v: the search reports %s, which no cycle is", iter, edges, k)
			}
		}
		for _, m := range []Model{ReadCommitted, RepeatableRead, SnapshotIsolation, Serializable} {
			if forbidsAny(m, all) != forbidsAny(m, searched) {
				t.Fatalf("graph %d %v: cycles %v, searches found %v: %s judges them differently", iter, edges, slices.Sorted(maps.Keys(all)), slices.Sorted(maps.Keys(searched)), m)
			}
		}
	}
}

func forbidsAny(m Model, kinds map[string]bool) bool {
	for k := range kinds {
		if m.Forbids(k) {
			return true
		}
	}
	return false
}

// allSimpleCycles lists every simple cycle of g once, from its smallest
// node.
func allSimpleCycles(g *graph, n int) []cycle {
	var cycles []cycle
	var path []int32
	onPath := make([]bool, n)
	var walk func(start, t int32)
	walk = func(start, t int32) {
		to, _ := g.out(t)
		for _, u := range to {
			switch {
			case u == start:
				cycles = append(cycles, cycle{txns: slices.Clone(path), kinds: make([]edgeKind, len(path))})
			case u > start && !onPath[u]:
				onPath[u] = true
				path = append(path, u)
				walk(start, u)
				path = path[:len(path)-1]
				onPath[u] = false
			}
		}
	}
	for s := range int32(n) {
		path = append(path[:0], s)
		onPath[s] = true
		walk(s, s)
		onPath[s] = false
	}
	return cycles
}
