package raft

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// network is a deterministic in-memory network of cores for tests, in the
// style of etcd-io/raft's: no goroutines, no clocks. Messages wait in a
// queue; deliver() hands them over in order (or, with reordering, in a
// seeded random order), dropping, duplicating or holding them back as the
// fault settings say. A node can crash (losing everything not persisted)
// and restart from its MemoryStorage.
//
// State machine: a node "applies" an entry by recording it; the network
// checks on every apply that no two nodes apply different entries at one
// index (state machine safety).
type network struct {
	t    testing.TB
	rand *rand.Rand
	ids  []uint64
	cfg  func(*Config)

	nodes map[uint64]*testNode
	queue []Message

	cut      map[[2]uint64]bool // directed: cut[{from,to}]
	loss     float64            // probability a message is dropped
	dup      float64            // probability a message is delivered twice
	reorder  bool               // deliver in random order instead of FIFO
	delay    float64            // probability a message is held back for a later round
	ignore   map[MessageType]bool
	sent     map[MessageType]int // messages handed to the network, by type
	applied  map[uint64]Entry    // every applied entry, by index, across all nodes
	leaders  map[uint64]uint64   // term -> the node that led it
	checkAll bool                // check invariants after every delivery
	// reportSnap makes the network report every MsgSnap's fate to its
	// sender as MsgSnapStatus, as a driver's transport does: without it a
	// lost snapshot (or its lost answer) leaves the leader waiting forever.
	reportSnap bool
	snapStatus []Message // reports not yet stepped into their leaders
}

type testNode struct {
	core    *Core
	storage *MemoryStorage
	down    bool
	// appliedData is this node's state machine: the data of every applied
	// entry, in order, since its last restore.
	appliedIndex uint64
	appliedData  [][]byte
	readStates   []ReadState
}

func newNetwork(t testing.TB, seed uint64, n int, cfg func(*Config)) *network {
	nw := &network{
		t:       t,
		rand:    rand.New(rand.NewPCG(seed, seed^0x5eed)),
		nodes:   make(map[uint64]*testNode),
		cut:     make(map[[2]uint64]bool),
		ignore:  make(map[MessageType]bool),
		sent:    make(map[MessageType]int),
		applied: make(map[uint64]Entry),
		leaders: make(map[uint64]uint64),
		cfg:     cfg,
	}
	for i := 1; i <= n; i++ {
		nw.ids = append(nw.ids, uint64(i))
	}
	for _, id := range nw.ids {
		nw.nodes[id] = &testNode{storage: NewMemoryStorage(nw.ids)}
		nw.start(id)
	}
	return nw
}

// start builds a node's core from its storage, as after a crash.
func (nw *network) start(id uint64) {
	n := nw.nodes[id]
	snap, _ := n.storage.Snapshot()
	cfg := Config{ID: id, Storage: n.storage, ElectionTick: 10, HeartbeatTick: 1,
		Applied: snap.Meta.Index, Rand: rand.New(rand.NewPCG(nw.rand.Uint64(), uint64(id)))}
	if nw.cfg != nil {
		nw.cfg(&cfg)
	}
	core, err := NewCore(cfg)
	if err != nil {
		nw.t.Fatalf("start node %d: %v", id, err)
	}
	n.core, n.down = core, false
	n.appliedIndex, n.appliedData = snap.Meta.Index, decodeState(snap.Data)
	n.readStates = nil
}

// crash stops a node: whatever it had not persisted is lost, and so are
// messages in flight to it.
func (nw *network) crash(id uint64) {
	nw.nodes[id].down = true
	nw.nodes[id].core = nil
}

func (nw *network) restart(id uint64) {
	nw.start(id)
	nw.process(id)
}

func (nw *network) node(id uint64) *Core { return nw.nodes[id].core }

// process carries out a node's Ready until it has none: persist, queue
// messages, apply, as a driver would.
func (nw *network) process(id uint64) {
	n := nw.nodes[id]
	if n.down {
		return
	}
	for n.core.HasReady() {
		rd := n.core.Ready()
		if err := n.storage.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
			nw.t.Fatalf("node %d: save: %v", id, err)
		}
		for _, m := range rd.Messages {
			nw.sent[m.Type]++
			nw.enqueue(m)
		}
		if s := rd.Snapshot; s != nil {
			nw.checkSnapshot(id, *s)
			n.appliedIndex, n.appliedData = s.Meta.Index, decodeState(s.Data)
		}
		for _, e := range rd.CommittedEntries {
			nw.apply(id, e)
		}
		n.readStates = append(n.readStates, rd.ReadStates...)
		n.core.Advance(rd)
	}
	if st := n.core.Status(); st.Role == Leader {
		if other, ok := nw.leaders[st.Term]; ok && other != id {
			nw.t.Fatalf("election safety: nodes %d and %d both led term %d", other, id, st.Term)
		}
		nw.leaders[st.Term] = id
	}
}

func (nw *network) apply(id uint64, e Entry) {
	n := nw.nodes[id]
	if e.Index != n.appliedIndex+1 {
		nw.t.Fatalf("node %d applied index %d after %d", id, e.Index, n.appliedIndex)
	}
	if prev, ok := nw.applied[e.Index]; ok && (prev.Term != e.Term || string(prev.Data) != string(e.Data)) {
		nw.t.Fatalf("state machine safety: node %d applied %v at %d, another applied %v", id, e, e.Index, prev)
	}
	nw.applied[e.Index] = e
	n.appliedIndex = e.Index
	if e.Data != nil {
		n.appliedData = append(n.appliedData, e.Data)
	}
}

func (nw *network) checkSnapshot(id uint64, s Snapshot) {
	e, ok := nw.applied[s.Meta.Index]
	if !ok || e.Term != s.Meta.Term {
		nw.t.Fatalf("node %d got snapshot at %d/%d of entries nobody applied", id, s.Meta.Index, s.Meta.Term)
	}
}

// compact snapshots node id's state machine at its applied index, keeping
// retain entries.
func (nw *network) compact(id uint64, retain uint64) {
	n := nw.nodes[id]
	err := n.storage.CreateSnapshot(n.appliedIndex, nw.ids, encodeState(n.appliedData), retain)
	if err != nil && err != ErrSnapOutOfDate {
		nw.t.Fatalf("node %d: snapshot at %d: %v", id, n.appliedIndex, err)
	}
}

func (nw *network) enqueue(m Message) {
	if nw.cut[[2]uint64{m.From, m.To}] || nw.ignore[m.Type] {
		nw.noteSnap(m, false)
		return
	}
	if nw.loss > 0 && nw.rand.Float64() < nw.loss {
		nw.noteSnap(m, false)
		return
	}
	nw.queue = append(nw.queue, m)
	if nw.dup > 0 && nw.rand.Float64() < nw.dup {
		nw.queue = append(nw.queue, m)
	}
}

// deliverOne hands over one queued message (the first, or with reorder a
// random one) and reports whether there was one.
func (nw *network) deliverOne() bool {
	if nw.stepSnapStatus() {
		return true
	}
	if len(nw.queue) == 0 {
		return false
	}
	i := 0
	if nw.reorder {
		i = nw.rand.IntN(len(nw.queue))
	}
	m := nw.queue[i]
	nw.queue = slices.Delete(nw.queue, i, i+1)
	if nw.delay > 0 && nw.rand.Float64() < nw.delay {
		nw.queue = append(nw.queue, m) // held back behind everything else
		return true
	}
	n := nw.nodes[m.To]
	if n == nil || n.down || nw.cut[[2]uint64{m.From, m.To}] {
		nw.noteSnap(m, false)
		return true
	}
	_ = n.core.Step(m)
	nw.process(m.To)
	nw.noteSnap(m, true)
	if nw.checkAll {
		nw.checkInvariants()
	}
	return true
}

// noteSnap records, with reportSnap on, whether a MsgSnap reached its
// recipient. The report waits for the next delivery: the sender may be in
// the middle of carrying out a Ready, when it must not be stepped.
func (nw *network) noteSnap(m Message, delivered bool) {
	if nw.reportSnap && m.Type == MsgSnap {
		nw.snapStatus = append(nw.snapStatus,
			Message{Type: MsgSnapStatus, From: m.To, To: m.From, Reject: !delivered})
	}
}

// stepSnapStatus steps the pending snapshot reports into their senders and
// reports whether there were any.
func (nw *network) stepSnapStatus() bool {
	if len(nw.snapStatus) == 0 {
		return false
	}
	reports := nw.snapStatus
	nw.snapStatus = nil
	for _, r := range reports {
		if n := nw.nodes[r.To]; !n.down {
			_ = n.core.Step(r)
			nw.process(r.To)
		}
	}
	return true
}

// deliver runs the network until no message is in flight (or a bound is
// hit, since heartbeats can ping-pong forever under some faults).
func (nw *network) deliver() {
	for i := 0; i < 100000 && nw.deliverOne(); i++ {
	}
}

// send steps messages into their recipients and delivers until quiet.
func (nw *network) send(msgs ...Message) {
	nw.queue = append(nw.queue, msgs...)
	nw.deliver()
}

func (nw *network) tick(id uint64) {
	if n := nw.nodes[id]; !n.down {
		n.core.Tick()
		nw.process(id)
	}
}

// tickAll ticks every live node once, then delivers.
func (nw *network) tickAll() {
	for _, id := range nw.ids {
		nw.tick(id)
	}
	nw.deliver()
}

// elect makes id campaign and delivers until the election settles.
func (nw *network) elect(id uint64) {
	nw.send(Message{Type: MsgHup, From: id, To: id})
}

// settle ticks everyone until there is a leader that a quorum follows, or
// fails after a bound.
func (nw *network) settle() uint64 {
	for range 1000 {
		if l := nw.leader(); l != None {
			return l
		}
		nw.tickAll()
	}
	nw.t.Fatalf("no leader after 1000 ticks")
	return None
}

// leader returns the leader of the highest term among live nodes if a
// quorum of live nodes is in its term and follows it; None otherwise.
func (nw *network) leader() uint64 {
	var lead, term uint64
	for _, id := range nw.ids {
		n := nw.nodes[id]
		if n.down {
			continue
		}
		if st := n.core.Status(); st.Role == Leader && st.Term >= term {
			lead, term = id, st.Term
		}
	}
	if lead == None {
		return None
	}
	followers := 0
	for _, id := range nw.ids {
		n := nw.nodes[id]
		if !n.down && n.core.Status().Term == term && n.core.Status().Lead == lead {
			followers++
		}
	}
	if followers < quorum(len(nw.ids)) {
		return None
	}
	return lead
}

// propose proposes data at id and delivers.
func (nw *network) propose(id uint64, data string) error {
	err := nw.node(id).Propose([]byte(data))
	nw.process(id)
	nw.deliver()
	return err
}

// isolate cuts id off from everyone, both ways.
func (nw *network) isolate(id uint64) {
	for _, o := range nw.ids {
		if o != id {
			nw.cut[[2]uint64{id, o}] = true
			nw.cut[[2]uint64{o, id}] = true
		}
	}
}

// partition splits the nodes into groups that cannot talk to each other.
func (nw *network) partition(groups ...[]uint64) {
	group := make(map[uint64]int)
	for g, ids := range groups {
		for _, id := range ids {
			group[id] = g
		}
	}
	for _, a := range nw.ids {
		for _, b := range nw.ids {
			if group[a] != group[b] {
				nw.cut[[2]uint64{a, b}] = true
			}
		}
	}
}

// heal removes every cut and fault setting.
func (nw *network) heal() {
	nw.cut = make(map[[2]uint64]bool)
	nw.loss, nw.dup, nw.delay, nw.reorder = 0, 0, 0, false
	nw.ignore = make(map[MessageType]bool)
}

// committedOn returns how many live nodes have applied data.
func (nw *network) committedOn(data string) int {
	count := 0
	for _, id := range nw.ids {
		n := nw.nodes[id]
		if n.down {
			continue
		}
		if slices.ContainsFunc(n.appliedData, func(d []byte) bool { return string(d) == data }) {
			count++
		}
	}
	return count
}

// logOf returns the entries of id's log from its first index.
func (nw *network) logOf(id uint64) []Entry {
	l := nw.nodes[id].core.log
	ents, err := l.slice(l.firstIndex(), l.lastIndex()+1, 1<<62)
	if err != nil {
		nw.t.Fatalf("node %d log: %v", id, err)
	}
	return ents
}

// checkInvariants checks log matching and leader completeness across all
// live nodes (election and state machine safety are checked as they
// happen).
func (nw *network) checkInvariants() {
	logs := make(map[uint64]*raftLog)
	for _, id := range nw.ids {
		if n := nw.nodes[id]; !n.down {
			logs[id] = n.core.log
		}
	}
	// Log matching: if two logs hold an entry with the same index and
	// term, they are identical up to it. Checked from the highest such
	// index down.
	for a, la := range logs {
		for b, lb := range logs {
			if a >= b {
				continue
			}
			hi := min(la.lastIndex(), lb.lastIndex())
			lo := max(la.firstIndex(), lb.firstIndex())
			matched := false
			for i := hi; i >= lo && i > 0; i-- {
				ta, _ := la.term(i)
				tb, _ := lb.term(i)
				if ta == tb {
					matched = true
				} else if matched {
					nw.t.Fatalf("log matching: nodes %d and %d agree at a later index but differ at %d (terms %d, %d)", a, b, i, ta, tb)
				}
			}
		}
	}
	// Leader completeness: a leader holds every applied (so committed)
	// entry of earlier terms.
	for id, l := range logs {
		st := nw.nodes[id].core.Status()
		if st.Role != Leader {
			continue
		}
		for idx, e := range nw.applied {
			if idx < l.firstIndex() || e.Term > st.Term {
				continue
			}
			if t, err := l.term(idx); err != nil || t != e.Term {
				nw.t.Fatalf("leader completeness: leader %d of term %d lacks committed entry %d/%d", id, st.Term, idx, e.Term)
			}
		}
	}
}

// encodeState and decodeState turn a test state machine into snapshot data.
func encodeState(data [][]byte) []byte {
	var b []byte
	for _, d := range data {
		b = binary.AppendUvarint(b, uint64(len(d)))
		b = append(b, d...)
	}
	return b
}

func decodeState(b []byte) [][]byte {
	var data [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		data = append(data, slices.Clone(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	return data
}

func (nw *network) String() string {
	s := ""
	for _, id := range nw.ids {
		n := nw.nodes[id]
		if n.down {
			s += fmt.Sprintf("%d: down\n", id)
			continue
		}
		s += fmt.Sprintf("%d: %+v\n", id, n.core.Status())
	}
	return s
}

// runUntil ticks every live node and delivers messages one at a time,
// checking cond after each step, until cond holds; false if it still does
// not after maxTicks rounds of ticks. It lets a test stop the world at an
// exact moment (say, right after a snapshot is installed).
func (nw *network) runUntil(maxTicks int, cond func() bool) bool {
	for range maxTicks {
		if cond() {
			return true
		}
		for nw.deliverOne() {
			if cond() {
				return true
			}
		}
		for _, id := range nw.ids {
			nw.tick(id)
		}
	}
	return cond()
}

// stateDiff describes how the live nodes' state machines differ, or
// returns "" if they all applied the same entries.
func (nw *network) stateDiff() string {
	var ref uint64
	for _, id := range nw.ids {
		n := nw.nodes[id]
		if n.down {
			continue
		}
		if ref == None {
			ref = id
			continue
		}
		r := nw.nodes[ref]
		if n.appliedIndex != r.appliedIndex {
			return fmt.Sprintf("node %d applied %d, node %d applied %d", ref, r.appliedIndex, id, n.appliedIndex)
		}
		if !slices.EqualFunc(n.appliedData, r.appliedData, slices.Equal) {
			return fmt.Sprintf("nodes %d and %d applied the same index %d but hold different state (%d vs %d entries)",
				ref, id, n.appliedIndex, len(r.appliedData), len(n.appliedData))
		}
	}
	return ""
}
