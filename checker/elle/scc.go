package elle

// components finds the strongly connected components of g with more than
// one txn (Tarjan's algorithm, with an explicit stack so that long chains
// of dependencies cannot overflow the goroutine's). Only those can hold a
// cycle: the graph has no self-loops.
func components(g *graph) [][]int32 {
	n := len(g.start) - 1
	index := make([]int32, n) // 0: not visited yet; else visit order + 1
	low := make([]int32, n)
	onStack := make([]bool, n)
	var stack []int32
	type frame struct{ t, next int32 }
	var calls []frame
	var comps [][]int32
	visited := int32(0)

	visit := func(t int32) {
		visited++
		index[t], low[t] = visited, visited
		stack = append(stack, t)
		onStack[t] = true
		calls = append(calls, frame{t, g.start[t]})
	}
	for root := range int32(n) {
		if index[root] != 0 {
			continue
		}
		visit(root)
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			t := f.t
			if f.next < g.start[t+1] {
				u := g.to[f.next]
				f.next++
				if index[u] == 0 {
					visit(u)
				} else if onStack[u] {
					low[t] = min(low[t], index[u])
				}
				continue
			}
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				parent := calls[len(calls)-1].t
				low[parent] = min(low[parent], low[t])
			}
			if low[t] != index[t] {
				continue
			}
			i := len(stack) - 1
			for stack[i] != t {
				i--
			}
			for _, u := range stack[i:] {
				onStack[u] = false
			}
			if len(stack)-i > 1 {
				comps = append(comps, append([]int32(nil), stack[i:]...))
			}
			stack = stack[:i]
		}
	}
	return comps
}
