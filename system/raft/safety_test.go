package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRandomizedSafety runs many short random schedules of ticks (at
// different rates per node, like drifting clocks), lossy, duplicating,
// reordering and delaying delivery, partitions, crashes, proposals,
// compactions, leadership transfers and reads, with PreVote and CheckQuorum
// on or off. The network checks election safety and state machine safety
// on every apply, and log matching and
// leader completeness after every step (every delivery would be stronger
// but, under -race, too slow for a thousand seeds); the schedule checks
// that every read is linearizable; at the end the cluster, healed, must
// converge.
//
// A failing seed replays alone:
//
//	go test -run 'TestRandomizedSafety/seed=123' ./system/raft/
func TestRandomizedSafety(t *testing.T) {
	seeds := 1000
	if testing.Short() {
		seeds = 100
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			newChaosRun(t, seed).run(400)
		})
	}
}

// chaosRun is one random schedule against one network.
type chaosRun struct {
	t    *testing.T
	nw   *network
	rand *rand.Rand
	// readBound holds, for each ReadIndex request by context, the highest
	// index applied anywhere when it was issued: a linearizable answer
	// cannot be below it.
	readBound map[string]uint64
	proposals int
}

func newChaosRun(t *testing.T, seed uint64) *chaosRun {
	r := rand.New(rand.NewPCG(seed, 0xc4a05))
	size := 3
	if r.IntN(2) == 0 {
		size = 5
	}
	// Vary the protocol options too; their decisions are made once here,
	// since the config function runs again at every restart. Lease reads
	// stay off: ticks here drift apart like skewed clocks, under which
	// leases are unsafe by design (see ReadOnlyLeaseBased).
	preVote, checkQuorum, tinyMsgs := r.IntN(4) > 0, r.IntN(4) > 0, r.IntN(4) == 0
	nw := newNetwork(t, seed, size, func(c *Config) {
		c.DisablePreVote, c.DisableCheckQuorum = !preVote, !checkQuorum
		if tinyMsgs {
			// One entry per append and a small window: catch-up takes
			// many round trips, with more to lose and reorder.
			c.MaxSizePerMsg, c.MaxInflightMsgs = 1, 4
		}
	})
	nw.reportSnap = true
	return &chaosRun{t: t, nw: nw, rand: r, readBound: make(map[string]uint64)}
}

func (c *chaosRun) run(steps int) {
	for range steps {
		c.step()
		c.nw.checkInvariants()
		c.checkReads()
	}
	c.converge()
}

func (c *chaosRun) step() {
	nw, r := c.nw, c.rand
	switch x := r.IntN(100); {
	case x < 25:
		// Each node misses some ticks: clocks run at different rates.
		for range 1 + r.IntN(3) {
			for _, id := range nw.ids {
				if r.IntN(4) > 0 {
					nw.tick(id)
				}
			}
		}
	case x < 55:
		for range 1 + r.IntN(40) {
			nw.deliverOne()
		}
	case x < 59:
		nw.loss = []float64{0, 0, 0.1, 0.3}[r.IntN(4)]
		nw.dup = []float64{0, 0, 0.1, 0.3}[r.IntN(4)]
		nw.delay = []float64{0, 0, 0.1, 0.3}[r.IntN(4)]
		nw.reorder = r.IntN(2) == 0
	case x < 64:
		switch r.IntN(4) {
		case 0:
			nw.isolate(c.anyNode())
		case 1:
			ids := append([]uint64(nil), nw.ids...)
			r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			k := 1 + r.IntN(len(ids)-1)
			nw.partition(ids[:k], ids[k:])
		default:
			nw.heal()
		}
	case x < 67:
		if id := c.liveNode(); id != None {
			nw.crash(id)
		}
	case x < 71:
		if id := c.downNode(); id != None {
			nw.restart(id)
		}
	case x < 86:
		if id := c.proposer(); id != None {
			c.proposals++
			_ = nw.node(id).Propose([]byte(fmt.Sprintf("p%d", c.proposals)))
			nw.process(id)
		}
	case x < 89:
		if id := c.liveNode(); id != None {
			nw.compact(id, uint64(r.IntN(4)))
		}
	case x < 90:
		if id := c.proposer(); id != None {
			nw.node(id).TransferLeadership(c.anyNode())
			nw.process(id)
		}
	default:
		if id := c.liveNode(); id != None {
			ctx := fmt.Sprintf("r%d", len(c.readBound))
			c.readBound[ctx] = c.maxApplied()
			_ = nw.node(id).ReadIndex([]byte(ctx))
			nw.process(id)
		}
	}
}

// checkReads checks the read states produced since the last call.
func (c *chaosRun) checkReads() {
	for _, id := range c.nw.ids {
		n := c.nw.nodes[id]
		for _, rs := range n.readStates {
			bound, ok := c.readBound[string(rs.RequestCtx)]
			if !ok {
				c.t.Fatalf("node %d: read state for unknown request %q", id, rs.RequestCtx)
			}
			if rs.Index < bound {
				c.t.Fatalf("linearizability: node %d answered read %q at index %d, but entry %d was applied before it was issued\n%v",
					id, rs.RequestCtx, rs.Index, bound, c.nw)
			}
		}
		n.readStates = nil
	}
}

// converge heals everything and checks that the cluster elects a leader,
// commits a new entry everywhere, and ends with identical state machines.
func (c *chaosRun) converge() {
	nw := c.nw
	nw.heal()
	for _, id := range nw.ids {
		if nw.nodes[id].down {
			nw.restart(id)
		}
	}
	// A leader may be busy handing over (a transfer the schedule asked
	// for), or lose its entry to a change of leader: propose again while
	// nobody has applied it.
	for tick := 0; tick < 1000 && nw.committedOn("final") < len(nw.ids); tick++ {
		if l := nw.leader(); tick%20 == 0 && l != None && nw.committedOn("final") == 0 {
			_ = nw.node(l).Propose([]byte("final"))
			nw.process(l)
		}
		nw.tickAll()
		nw.checkInvariants()
	}
	if nw.committedOn("final") < len(nw.ids) {
		c.t.Fatalf("healed cluster did not apply a final entry everywhere: on %d of %d\n%v",
			nw.committedOn("final"), len(nw.ids), nw)
	}
	// Let entries committed after "final" (a second copy of it) settle.
	for range 5 {
		nw.tickAll()
	}
	c.checkReads()
	if d := nw.stateDiff(); d != "" {
		c.t.Fatalf("healed cluster diverged: %s\n%v", d, nw)
	}
	nw.checkInvariants()
}

func (c *chaosRun) maxApplied() uint64 {
	var hi uint64
	for i := range c.nw.applied {
		hi = max(hi, i)
	}
	return hi
}

func (c *chaosRun) anyNode() uint64 { return c.nw.ids[c.rand.IntN(len(c.nw.ids))] }

// proposer returns a random live node that believes it leads (there may
// be several, of different terms), or else any live node.
func (c *chaosRun) proposer() uint64 {
	if leaders := c.nw.claimedLeaders(); len(leaders) > 0 {
		return leaders[c.rand.IntN(len(leaders))]
	}
	return c.liveNode()
}

// liveNode returns a random running node, or None if all are down.
func (c *chaosRun) liveNode() uint64 { return c.pick(false) }

// downNode returns a random crashed node, or None.
func (c *chaosRun) downNode() uint64 { return c.pick(true) }

func (c *chaosRun) pick(down bool) uint64 {
	var ids []uint64
	for _, id := range c.nw.ids {
		if c.nw.nodes[id].down == down {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return None
	}
	return ids[c.rand.IntN(len(ids))]
}
