package elle

// edgeKind is a bitmask of the reasons one txn precedes another.
type edgeKind uint8

const (
	ww edgeKind = 1 << iota // T2 appended the element right after T1's
	wr                      // T2 read a list that ends with T1's append
	rw                      // T1 read a list that T2's append came right after
	rt                      // T1 completed before T2 was invoked
)

// edge is a dependency while the graph is being built.
type edge struct {
	from, to int32
	kind     edgeKind
}

func (c *checkState) addEdge(from, to int32, kind edgeKind) {
	if from != to {
		c.edges = append(c.edges, edge{from, to, kind})
	}
}

// addDependencyEdges adds the ww edges of each key's version order and the
// wr and rw edges of each committed read, by the part of it that other
// txns committed (a read of one's own appends depends on no one). Failed
// txns are left out: their appends being read is G1a, reported on its own.
func (c *checkState) addDependencyEdges() {
	writer := func(id int32) int32 {
		a := &c.appends[id]
		if a.txn < 0 || c.txns[a.txn].status == aborted {
			return -1
		}
		return a.txn
	}
	for k := range c.keys {
		version := c.keys[k].version
		for p := 1; p < len(version); p++ {
			if a, b := writer(version[p-1]), writer(version[p]); a >= 0 && b >= 0 {
				c.addEdge(a, b, ww)
			}
		}
	}
	for t := range c.txns {
		tx := &c.txns[t]
		if tx.status != committed {
			continue
		}
		for j := tx.first; j < tx.end; j++ {
			m := &c.mops[j]
			if m.kind != readMop || m.n < 0 || m.repeat {
				continue
			}
			version := c.keys[m.key].version
			base := m.committedLen()
			if base > 0 {
				if w := writer(version[base-1]); w >= 0 {
					c.addEdge(w, int32(t), wr)
				}
			}
			if int(base) < len(version) {
				if w := writer(version[base]); w >= 0 {
					c.addEdge(int32(t), w, rw)
				}
			}
		}
	}
}

// graph is the dependency graph in compressed sparse rows: the edges out
// of txn t are to[start[t]:start[t+1]], each with the kinds in kinds.
// Parallel edges are merged into one with the union of their kinds.
type graph struct {
	start []int32
	to    []int32
	kinds []edgeKind
}

func (g *graph) out(t int32) (to []int32, kinds []edgeKind) {
	s, e := g.start[t], g.start[t+1]
	return g.to[s:e], g.kinds[s:e]
}

// buildGraph turns edges into a graph of n txns.
func buildGraph(n int, edges []edge) *graph {
	g := &graph{start: make([]int32, n+1)}
	for _, e := range edges {
		g.start[e.from+1]++
	}
	for t := 1; t <= n; t++ {
		g.start[t] += g.start[t-1]
	}
	to := make([]int32, len(edges))
	kinds := make([]edgeKind, len(edges))
	next := make([]int32, n)
	copy(next, g.start[:n])
	for _, e := range edges {
		to[next[e.from]], kinds[next[e.from]] = e.to, e.kind
		next[e.from]++
	}
	// Merge parallel edges, compacting in place; next now remembers where
	// each target last appeared.
	for t := range next {
		next[t] = -1
	}
	w := int32(0)
	for t := 0; t < n; t++ {
		s, e := g.start[t], g.start[t+1]
		g.start[t] = w
		for i := s; i < e; i++ {
			if at := next[to[i]]; at >= g.start[t] {
				kinds[at] |= kinds[i]
				continue
			}
			next[to[i]] = w
			to[w], kinds[w] = to[i], kinds[i]
			w++
		}
	}
	g.start[n] = w
	g.to, g.kinds = to[:w:w], kinds[:w:w]
	return g
}
