// Package memnet is an in-memory network for Raft nodes running in one
// process: the transport for tests and benchmarks of raft.Node and of the
// systems built on it. It can partition nodes, lose, duplicate and delay
// messages (random delays also reorder them). Unlike the deterministic
// network of the raft package's own tests, it runs on real goroutines, so
// a run is not replayable; use it for behaviour under concurrency.
package memnet

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/raft"
)

// Network connects endpoints by id.
type Network struct {
	clock fault.Clock

	mu                 sync.Mutex
	rand               *rand.Rand
	handlers           map[uint64]func(raft.Message)
	cut                map[[2]uint64]bool
	loss, dup          float64
	minDelay, maxDelay time.Duration
}

// New returns a reliable network whose random faults derive from seed.
func New(seed uint64, clock fault.Clock) *Network {
	if clock == nil {
		clock = fault.SystemClock()
	}
	return &Network{
		clock:    clock,
		rand:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		handlers: make(map[uint64]func(raft.Message)),
		cut:      make(map[[2]uint64]bool),
	}
}

// Connect attaches id, whose inbound messages go to deliver (typically
// raft.Node.Receive, which must not block), and returns its transport.
// Connecting an id again replaces its handler, as a restarted node would.
func (nw *Network) Connect(id uint64, deliver func(raft.Message)) raft.Transport {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.handlers[id] = deliver
	return endpoint{nw: nw, id: id}
}

// Disconnect detaches id: messages to it are dropped, as to a crashed node.
func (nw *Network) Disconnect(id uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	delete(nw.handlers, id)
}

// Isolate cuts id off from every other node, both ways.
func (nw *Network) Isolate(id uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for other := range nw.handlers {
		if other != id {
			nw.cut[[2]uint64{id, other}] = true
			nw.cut[[2]uint64{other, id}] = true
		}
	}
}

// Partition splits ids into groups that cannot talk to each other. Nodes
// not named keep talking to everyone.
func (nw *Network) Partition(groups ...[]uint64) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for i, a := range groups {
		for j, b := range groups {
			if i == j {
				continue
			}
			for _, x := range a {
				for _, y := range b {
					nw.cut[[2]uint64{x, y}] = true
				}
			}
		}
	}
}

// Heal removes every cut, loss, duplication and delay.
func (nw *Network) Heal() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut = make(map[[2]uint64]bool)
	nw.loss, nw.dup, nw.minDelay, nw.maxDelay = 0, 0, 0, 0
}

// SetUnreliable makes every message subject to loss and duplication with
// the given probabilities, and to a random delay in [minDelay, maxDelay].
func (nw *Network) SetUnreliable(loss, dup float64, minDelay, maxDelay time.Duration) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.loss, nw.dup, nw.minDelay, nw.maxDelay = loss, dup, minDelay, max(minDelay, maxDelay)
}

type endpoint struct {
	nw *Network
	id uint64
}

func (e endpoint) Send(msgs []raft.Message) {
	for _, m := range msgs {
		e.nw.send(e.id, m)
	}
}

func (nw *Network) send(from uint64, m raft.Message) {
	nw.mu.Lock()
	deliver := nw.handlers[m.To]
	if deliver == nil || nw.handlers[from] == nil || nw.cut[[2]uint64{from, m.To}] ||
		(nw.loss > 0 && nw.rand.Float64() < nw.loss) {
		nw.mu.Unlock()
		if m.Type == raft.MsgSnap {
			nw.report(from, raft.Message{Type: raft.MsgSnapStatus, From: m.To, To: from, Reject: true})
		}
		return
	}
	copies := 1
	if nw.dup > 0 && nw.rand.Float64() < nw.dup {
		copies = 2
	}
	var delays [2]time.Duration // one per copy
	for i := range copies {
		delays[i] = nw.minDelay
		if span := nw.maxDelay - nw.minDelay; span > 0 {
			delays[i] += time.Duration(nw.rand.Int64N(int64(span)))
		}
	}
	nw.mu.Unlock()
	for _, d := range delays[:copies] {
		if d == 0 {
			deliver(m)
		} else {
			go func() {
				nw.clock.Sleep(d)
				deliver(m)
			}()
		}
	}
	if m.Type == raft.MsgSnap {
		nw.report(from, raft.Message{Type: raft.MsgSnapStatus, From: m.To, To: from})
	}
}

// report delivers a transport's local report (snapshot status) to from.
func (nw *Network) report(from uint64, m raft.Message) {
	nw.mu.Lock()
	deliver := nw.handlers[from]
	nw.mu.Unlock()
	if deliver != nil {
		deliver(m)
	}
}
