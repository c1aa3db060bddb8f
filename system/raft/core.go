package raft

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// None is the absent node id: no leader, no vote.
const None uint64 = 0

// Role is a node's part in the protocol.
type Role uint8

const (
	Follower Role = iota
	PreCandidate
	Candidate
	Leader
)

func (r Role) String() string {
	return [...]string{"follower", "pre-candidate", "candidate", "leader"}[r]
}

// ReadOnlyOption chooses how the leader confirms it may serve a read.
type ReadOnlyOption uint8

const (
	// ReadOnlySafe confirms leadership with a round of heartbeats to a
	// quorum for every ReadIndex batch (Raft thesis 6.4). Linearizable
	// whatever the clocks do.
	ReadOnlySafe ReadOnlyOption = iota
	// ReadOnlyLeaseBased serves reads at the commit index without a round
	// trip while the leader holds a lease: a quorum acknowledged a heartbeat
	// sent less than an election timeout ago (measured in ticks), during
	// which no follower grants another vote. UNSAFE under clock faults: if
	// the leader's ticks run slow (or a follower's fast), a new leader may
	// commit writes the old one's reads miss.
	ReadOnlyLeaseBased
)

// Errors returned by Step.
var (
	// ErrProposalDropped: the node cannot take the proposal or read now (not
	// the leader, a transfer in progress, no known leader). It certainly had
	// no effect.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrStepPeerNotFound: a message named a sender outside the cluster.
	ErrStepPeerNotFound = errors.New("raft: message from unknown peer")
)

// campaignTransfer marks the votes of an election forced by a leadership
// transfer, which followers grant even while they still hear a leader.
var campaignTransfer = []byte("transfer")

// Config configures a Core.
type Config struct {
	// ID of this node; nonzero and one of the cluster's peers.
	ID uint64
	// Storage holds the persisted log, hard state and the cluster's peers.
	Storage Storage
	// Applied is the index the state machine already holds (its snapshot's).
	Applied uint64
	// ElectionTick is the number of ticks a follower waits without hearing
	// from a leader before it campaigns; the actual timeout is randomized
	// in [ElectionTick, 2*ElectionTick). Default 10.
	ElectionTick int
	// HeartbeatTick is the number of ticks between leader heartbeats.
	// Default 1; must be less than ElectionTick.
	HeartbeatTick int
	// MaxSizePerMsg bounds the entry bytes in one MsgApp. Default 1 MiB.
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds the MsgApps in flight to one follower. Default 256.
	MaxInflightMsgs int
	// MaxApplyBytes bounds the committed entries in one Ready. Default 64 MiB.
	MaxApplyBytes uint64
	// DisablePreVote turns off the pre-election round (Raft thesis 9.6)
	// that stops a partitioned node from inflating terms and deposing a
	// healthy leader when it rejoins. Tests use it to show why it exists.
	DisablePreVote bool
	// DisableCheckQuorum turns off the leader's step-down when it has not
	// heard from a quorum for an election timeout, and the followers'
	// refusal to vote while they hear from a leader.
	DisableCheckQuorum bool
	// ReadOnly chooses how ReadIndex requests are confirmed. Lease-based
	// reads require CheckQuorum.
	ReadOnly ReadOnlyOption
	// Rand randomizes election timeouts. Deterministic tests pass a seeded
	// source; nil uses a random one.
	Rand *rand.Rand
}

func (c *Config) validate() error {
	if c.ID == None {
		return errors.New("raft: config: ID must be nonzero")
	}
	if c.Storage == nil {
		return errors.New("raft: config: Storage is required")
	}
	if c.ElectionTick == 0 {
		c.ElectionTick = 10
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = 1
	}
	if c.HeartbeatTick >= c.ElectionTick {
		return fmt.Errorf("raft: config: HeartbeatTick %d must be less than ElectionTick %d", c.HeartbeatTick, c.ElectionTick)
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs <= 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxApplyBytes == 0 {
		c.MaxApplyBytes = 64 << 20
	}
	if c.ReadOnly == ReadOnlyLeaseBased && c.DisableCheckQuorum {
		return errors.New("raft: config: lease-based reads need CheckQuorum")
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return nil
}

// ReadState answers a ReadIndex request: once the state machine has
// applied Index, a read issued with RequestCtx is linearizable.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// SoftState is volatile state worth reporting; it need not be persisted.
type SoftState struct {
	Lead uint64
	Role Role
}

// Status is a snapshot of a node's protocol state, for humans and tests.
type Status struct {
	ID      uint64
	Role    Role
	Term    uint64
	Vote    uint64
	Lead    uint64
	Commit  uint64
	Applied uint64
	// LastIndex is the index of the last entry in the log (persisted or not).
	LastIndex uint64
}

// Core is the Raft protocol as a deterministic state machine: it changes
// only in Step and Tick, and reports what it needs done through Ready. It
// does no I/O and starts no goroutines; see doc.go.
type Core struct {
	id    uint64
	peers []uint64

	term uint64
	vote uint64
	lead uint64
	role Role
	log  *raftLog

	prs   map[uint64]*progress
	votes map[uint64]bool
	msgs  []Message

	// Elapsed ticks since the last election timeout reset (followers and
	// candidates) or CheckQuorum round (leaders).
	electionElapsed  int
	heartbeatElapsed int
	// ticks counts every Tick ever, the time base of leader leases.
	ticks uint64

	electionTimeout           int
	heartbeatTimeout          int
	randomizedElectionTimeout int
	preVote, checkQuorum      bool
	readOnlyOption            ReadOnlyOption
	maxMsgSize                uint64
	maxInflight               int
	rand                      *rand.Rand

	// leadTransferee is the node leadership is being handed to, if any.
	leadTransferee uint64
	readOnly       readOnly
	// pendingReads wait for the first commit of this leader's term.
	pendingReads []Message
	readStates   []ReadState

	prevSoft SoftState
	prevHard HardState

	step stepFunc
	tick func()
}

type stepFunc func(c *Core, m Message) error

// NewCore builds a core from its persisted state in cfg.Storage.
func NewCore(cfg Config) (*Core, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hs, peers, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: read initial state: %w", err)
	}
	if len(peers) == 0 {
		return nil, errors.New("raft: storage names no peers")
	}
	if !slices.Contains(peers, cfg.ID) {
		return nil, fmt.Errorf("raft: node %d is not one of the peers %v", cfg.ID, peers)
	}
	log, err := newLog(cfg.Storage, cfg.MaxApplyBytes)
	if err != nil {
		return nil, err
	}
	c := &Core{
		id:               cfg.ID,
		peers:            slices.Sorted(slices.Values(peers)),
		log:              log,
		electionTimeout:  cfg.ElectionTick,
		heartbeatTimeout: cfg.HeartbeatTick,
		preVote:          !cfg.DisablePreVote,
		checkQuorum:      !cfg.DisableCheckQuorum,
		readOnlyOption:   cfg.ReadOnly,
		maxMsgSize:       cfg.MaxSizePerMsg,
		maxInflight:      cfg.MaxInflightMsgs,
		rand:             cfg.Rand,
		readOnly:         newReadOnly(),
	}
	if hs.Commit > log.lastIndex() {
		return nil, fmt.Errorf("raft: persisted commit %d beyond the last index %d", hs.Commit, log.lastIndex())
	}
	if cfg.Applied > log.lastIndex() {
		return nil, fmt.Errorf("raft: applied index %d beyond the last index %d", cfg.Applied, log.lastIndex())
	}
	c.term, c.vote = hs.Term, hs.Vote
	// The persisted commit index may lag: drivers need not sync it (it is
	// relearned from the leader). What the state machine applied, and the
	// compacted prefix, are committed whatever it says.
	log.committed = max(log.committed, hs.Commit, cfg.Applied)
	log.appliedTo(cfg.Applied)
	c.becomeFollower(c.term, None)
	c.prevSoft = c.softState()
	c.prevHard = c.hardState()
	return c, nil
}

func (c *Core) softState() SoftState { return SoftState{Lead: c.lead, Role: c.role} }
func (c *Core) hardState() HardState {
	return HardState{Term: c.term, Vote: c.vote, Commit: c.log.committed}
}

// Status reports the core's current state.
func (c *Core) Status() Status {
	return Status{ID: c.id, Role: c.role, Term: c.term, Vote: c.vote, Lead: c.lead,
		Commit: c.log.committed, Applied: c.log.applied, LastIndex: c.log.lastIndex()}
}

// Peers returns the cluster's members.
func (c *Core) Peers() []uint64 { return slices.Clone(c.peers) }

// Tick advances the core's logical clock by one tick.
func (c *Core) Tick() {
	c.ticks++
	c.tick()
}

// Propose asks the leader to append entries holding data. It fails with
// ErrProposalDropped on any other node.
func (c *Core) Propose(data ...[]byte) error {
	ents := make([]Entry, len(data))
	for i, d := range data {
		ents[i].Data = d
	}
	return c.Step(Message{Type: MsgProp, From: c.id, Entries: ents})
}

// ReadIndex asks for a read index identified by ctx; the answer comes as a
// ReadState in a later Ready.
func (c *Core) ReadIndex(ctx []byte) error {
	return c.Step(Message{Type: MsgReadIndex, From: c.id, Context: ctx})
}

// TransferLeadership asks the leader to hand leadership to transferee.
func (c *Core) TransferLeadership(transferee uint64) {
	_ = c.Step(Message{Type: MsgTransferLeader, From: transferee, To: c.lead})
}

func (c *Core) send(m Message) {
	if m.From == None {
		m.From = c.id
	}
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		// Set by the caller: pre-votes carry the term to be, and a vote
		// response carries the term of the request it answers.
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: %s without a term", m.Type))
		}
	default:
		m.Term = c.term
	}
	c.msgs = append(c.msgs, m)
}

func (c *Core) reset(term uint64) {
	if c.term != term {
		c.term = term
		c.vote = None
	}
	c.lead = None
	c.electionElapsed = 0
	c.heartbeatElapsed = 0
	c.randomizedElectionTimeout = c.electionTimeout + c.rand.IntN(c.electionTimeout)
	c.leadTransferee = None
	c.votes = make(map[uint64]bool)
	c.prs = make(map[uint64]*progress, len(c.peers))
	for _, id := range c.peers {
		pr := &progress{next: c.log.lastIndex() + 1, inflights: newInflights(c.maxInflight)}
		if id == c.id {
			pr.match = c.log.lastIndex()
		}
		c.prs[id] = pr
	}
	c.readOnly = newReadOnly()
	c.pendingReads = nil
}

func (c *Core) becomeFollower(term, lead uint64) {
	c.step = stepFollower
	c.tick = c.tickElection
	c.reset(term)
	c.lead = lead
	c.role = Follower
}

func (c *Core) becomePreCandidate() {
	// Neither term nor vote changes: a pre-election must leave no trace if
	// it fails (that is its point).
	c.step = stepCandidate
	c.tick = c.tickElection
	c.votes = make(map[uint64]bool)
	c.lead = None
	c.role = PreCandidate
}

func (c *Core) becomeCandidate() {
	c.step = stepCandidate
	c.tick = c.tickElection
	c.reset(c.term + 1)
	c.vote = c.id
	c.role = Candidate
}

func (c *Core) becomeLeader() {
	c.step = stepLeader
	c.tick = c.tickHeartbeat
	c.reset(c.term)
	c.lead = c.id
	c.role = Leader
	// An empty entry of the new term lets the leader commit (and learn the
	// commit point of) everything before it (Raft paper 5.4.2, 8).
	c.appendEntries([]Entry{{}})
}

func (c *Core) tickElection() {
	c.electionElapsed++
	if c.electionElapsed >= c.randomizedElectionTimeout {
		c.electionElapsed = 0
		_ = c.Step(Message{Type: MsgHup, From: c.id})
	}
}

func (c *Core) tickHeartbeat() {
	c.heartbeatElapsed++
	c.electionElapsed++
	if c.electionElapsed >= c.electionTimeout {
		c.electionElapsed = 0
		if c.checkQuorum && !c.quorumActive() {
			c.becomeFollower(c.term, None)
			return
		}
		// A transfer that has not finished in an election timeout failed.
		c.leadTransferee = None
	}
	if c.heartbeatElapsed >= c.heartbeatTimeout {
		c.heartbeatElapsed = 0
		c.broadcastHeartbeat(nil)
	}
}

// quorumActive reports whether a quorum was heard from since the last call,
// and starts a new round.
func (c *Core) quorumActive() bool {
	active := 0
	for id, pr := range c.prs {
		if id == c.id || pr.recentActive {
			active++
		}
		pr.recentActive = false
	}
	return active >= quorum(len(c.peers))
}

type campaignType uint8

const (
	campaignPreElection campaignType = iota
	campaignElection
	campaignTransfer_
)

func (c *Core) hup(t campaignType) {
	if c.role == Leader {
		return
	}
	if t == campaignPreElection && !c.preVote {
		t = campaignElection
	}
	c.campaign(t)
}

func (c *Core) campaign(t campaignType) {
	var term uint64
	var voteType MessageType
	if t == campaignPreElection {
		c.becomePreCandidate()
		voteType, term = MsgPreVote, c.term+1
	} else {
		c.becomeCandidate()
		voteType, term = MsgVote, c.term
	}
	if c.poll(c.id, true) == electionWon {
		if t == campaignPreElection {
			c.campaign(campaignElection)
		} else {
			c.becomeLeader()
		}
		return
	}
	var ctx []byte
	if t == campaignTransfer_ {
		ctx = campaignTransfer
	}
	lastIndex, lastTerm := c.log.lastIndex(), c.log.lastTerm()
	for _, id := range c.peers {
		if id == c.id {
			continue
		}
		c.send(Message{Type: voteType, To: id, Term: term, Index: lastIndex, LogTerm: lastTerm, Context: ctx})
	}
}

type electionResult uint8

const (
	electionPending electionResult = iota
	electionWon
	electionLost
)

func (c *Core) poll(id uint64, granted bool) electionResult {
	if _, ok := c.votes[id]; !ok {
		c.votes[id] = granted
	}
	yes, no := 0, 0
	for _, v := range c.votes {
		if v {
			yes++
		} else {
			no++
		}
	}
	q := quorum(len(c.peers))
	switch {
	case yes >= q:
		return electionWon
	case no > len(c.peers)-q:
		return electionLost
	}
	return electionPending
}

// Step advances the core with one message, from a peer or from the driver.
func (c *Core) Step(m Message) error {
	if !m.Type.IsLocal() && !slices.Contains(c.peers, m.From) {
		return fmt.Errorf("%w: %d (%s)", ErrStepPeerNotFound, m.From, m.Type)
	}
	switch {
	case m.Term == 0:
		// Local message.
	case m.Term > c.term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			forced := bytes.Equal(m.Context, campaignTransfer)
			inLease := c.checkQuorum && c.lead != None && c.electionElapsed < c.electionTimeout
			if !forced && inLease {
				// We heard from a leader less than an election timeout ago:
				// the candidate is disruptive (Raft thesis 4.2.3). Ignore it.
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote does not move our term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// The term we asked about; we enter it when the pre-vote wins.
		default:
			if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
				c.becomeFollower(m.Term, m.From)
			} else {
				c.becomeFollower(m.Term, None)
			}
		}
	case m.Term < c.term:
		if (c.checkQuorum || c.preVote) && (m.Type == MsgHeartbeat || m.Type == MsgApp) {
			// A leader of an old term, perhaps cut off for a while. With
			// CheckQuorum or PreVote our term did not move because of
			// its followers' elections, so tell it our term: it steps down.
			c.send(Message{Type: MsgAppResp, To: m.From})
		} else if m.Type == MsgPreVote {
			c.send(Message{Type: MsgPreVoteResp, To: m.From, Term: c.term, Reject: true})
		}
		return nil
	}

	switch m.Type {
	case MsgHup:
		c.hup(campaignPreElection)
	case MsgVote, MsgPreVote:
		canVote := c.vote == m.From ||
			(c.vote == None && c.lead == None) ||
			(m.Type == MsgPreVote && m.Term > c.term)
		respType := MsgVoteResp
		if m.Type == MsgPreVote {
			respType = MsgPreVoteResp
		}
		if canVote && c.log.isUpToDate(m.Index, m.LogTerm) {
			c.send(Message{Type: respType, To: m.From, Term: m.Term})
			if m.Type == MsgVote {
				c.electionElapsed = 0
				c.vote = m.From
			}
		} else {
			c.send(Message{Type: respType, To: m.From, Term: c.term, Reject: true})
		}
	default:
		return c.step(c, m)
	}
	return nil
}

func stepLeader(c *Core, m Message) error {
	switch m.Type {
	case MsgBeat:
		c.broadcastHeartbeat(nil)
		return nil
	case MsgProp:
		if len(m.Entries) == 0 {
			return errors.New("raft: empty proposal")
		}
		if c.leadTransferee != None {
			return ErrProposalDropped
		}
		c.appendEntries(m.Entries)
		c.broadcastAppend()
		return nil
	case MsgReadIndex:
		c.handleReadIndex(m)
		return nil
	case MsgTransferLeader:
		c.handleTransferLeader(m)
		return nil
	}

	pr := c.prs[m.From]
	if pr == nil || m.From == c.id {
		return nil
	}
	switch m.Type {
	case MsgAppResp:
		pr.recentActive = true
		c.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		pr.recentActive = true
		pr.probeSent = false
		pr.ackedTick = max(pr.ackedTick, m.Index)
		if pr.state == stateReplicate && pr.inflights.full() {
			// The window filled with appends the follower never answered
			// (it was down, or they were lost). It answers now: free a
			// slot so the next append finds out where it really is.
			pr.inflights.freeFirstOne()
		}
		if pr.match < c.log.lastIndex() {
			c.sendAppend(m.From)
		}
		if len(m.Context) > 0 {
			c.handleReadAck(m)
		}
	case MsgSnapStatus:
		if pr.state != stateSnapshot {
			return nil
		}
		if m.Reject {
			pr.pendingSnapshot = 0
		}
		// Either way wait for the follower's append response (or the next
		// heartbeat) before sending more.
		pr.becomeProbe()
		pr.probeSent = true
	case MsgUnreachable:
		if pr.state == stateReplicate {
			pr.becomeProbe()
		}
	}
	return nil
}

func (c *Core) handleAppendResponse(m Message, pr *progress) {
	if m.Reject {
		next := m.RejectHint
		if m.LogTerm > 0 {
			// Skip every entry of ours whose term is above the follower's
			// term at its hint: they cannot match.
			next, _ = c.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, next) {
			if pr.state == stateReplicate {
				pr.becomeProbe()
			}
			c.sendAppend(m.From)
		}
		return
	}
	wasPaused := pr.isPaused()
	if pr.maybeUpdate(m.Index) {
		switch {
		case pr.state == stateProbe:
			pr.becomeReplicate()
		case pr.state == stateSnapshot && pr.match+1 >= c.log.firstIndex():
			pr.becomeReplicate()
		case pr.state == stateReplicate:
			pr.inflights.freeLE(m.Index)
		}
		if c.maybeCommit() {
			c.broadcastAppend()
		} else if wasPaused {
			c.sendAppend(m.From)
		}
		for c.maybeSendAppend(m.From, false) {
		}
		if m.From == c.leadTransferee && pr.match == c.log.lastIndex() {
			c.send(Message{Type: MsgTimeoutNow, To: m.From})
		}
	}
}

func (c *Core) handleTransferLeader(m Message) {
	transferee := m.From
	if transferee == c.id || c.prs[transferee] == nil || c.leadTransferee == transferee {
		return
	}
	c.leadTransferee = transferee
	// The transfer must finish within an election timeout, or it is
	// abandoned (tickHeartbeat) and proposals flow again.
	c.electionElapsed = 0
	if c.prs[transferee].match == c.log.lastIndex() {
		c.send(Message{Type: MsgTimeoutNow, To: transferee})
	} else {
		c.sendAppend(transferee)
	}
}

func stepCandidate(c *Core, m Message) error {
	voteResp := MsgVoteResp
	if c.role == PreCandidate {
		voteResp = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp, MsgReadIndex:
		return ErrProposalDropped
	case MsgApp:
		c.becomeFollower(m.Term, m.From)
		c.handleAppend(m)
	case MsgHeartbeat:
		c.becomeFollower(m.Term, m.From)
		c.handleHeartbeat(m)
	case MsgSnap:
		c.becomeFollower(m.Term, m.From)
		c.handleSnapshot(m)
	case voteResp:
		switch c.poll(m.From, !m.Reject) {
		case electionWon:
			if c.role == PreCandidate {
				c.campaign(campaignElection)
			} else {
				c.becomeLeader()
				c.broadcastAppend()
			}
		case electionLost:
			c.becomeFollower(c.term, None)
		}
	}
	return nil
}

func stepFollower(c *Core, m Message) error {
	switch m.Type {
	case MsgProp:
		// Clients talk to the leader; the driver tells them who it is.
		return ErrProposalDropped
	case MsgApp:
		c.electionElapsed = 0
		c.lead = m.From
		c.handleAppend(m)
	case MsgHeartbeat:
		c.electionElapsed = 0
		c.lead = m.From
		c.handleHeartbeat(m)
	case MsgSnap:
		c.electionElapsed = 0
		c.lead = m.From
		c.handleSnapshot(m)
	case MsgTransferLeader:
		if c.lead == None {
			return ErrProposalDropped
		}
		// Forwarded in our term: a leader that has moved to a later term
		// since ignores it rather than hand over on a stale request.
		m.To = c.lead
		c.send(m)
	case MsgTimeoutNow:
		// The leader hands over: campaign at once, skipping the pre-vote,
		// and ask voters to ignore the leader they still hear.
		c.hup(campaignTransfer_)
	case MsgReadIndex:
		if c.lead == None {
			return ErrProposalDropped
		}
		m.To = c.lead
		c.send(m)
	case MsgReadIndexResp:
		c.readStates = append(c.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	}
	return nil
}

func (c *Core) handleAppend(m Message) {
	if m.Index < c.log.committed {
		c.send(Message{Type: MsgAppResp, To: m.From, Index: c.log.committed})
		return
	}
	if last, ok := c.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		c.send(Message{Type: MsgAppResp, To: m.From, Index: last})
		return
	}
	// Fast backtracking: point the leader at the last index that may match,
	// skipping our entries of terms above the leader's term at m.Index.
	hint, hintTerm := c.log.findConflictByTerm(min(m.Index, c.log.lastIndex()), m.LogTerm)
	c.send(Message{Type: MsgAppResp, To: m.From, Index: m.Index, Reject: true,
		RejectHint: hint, LogTerm: hintTerm})
}

func (c *Core) handleHeartbeat(m Message) {
	c.log.commitTo(min(m.Commit, c.log.lastIndex()))
	c.send(Message{Type: MsgHeartbeatResp, To: m.From, Index: m.Index, Context: m.Context})
}

func (c *Core) handleSnapshot(m Message) {
	s := m.Snapshot
	if s.IsEmpty() {
		return
	}
	if c.restore(*s) {
		c.send(Message{Type: MsgAppResp, To: m.From, Index: c.log.lastIndex()})
	} else {
		c.send(Message{Type: MsgAppResp, To: m.From, Index: c.log.committed})
	}
}

// restore installs a snapshot from the leader unless the log already has
// what it covers.
func (c *Core) restore(s Snapshot) bool {
	if s.Meta.Index <= c.log.committed {
		return false
	}
	if c.log.matchTerm(s.Meta.Index, s.Meta.Term) {
		// We hold the snapshot's last entry: it is committed, and our log
		// after it may be too. Keep the log.
		c.log.commitTo(s.Meta.Index)
		return false
	}
	c.log.restore(s)
	return true
}

func (c *Core) appendEntries(ents []Entry) {
	last := c.log.lastIndex()
	// Copy: the caller's slice must not alias the log.
	ents = slices.Clone(ents)
	for i := range ents {
		ents[i].Term = c.term
		ents[i].Index = last + 1 + uint64(i)
	}
	c.log.append(ents...)
	c.prs[c.id].maybeUpdate(c.log.lastIndex())
	c.maybeCommit()
}

func (c *Core) maybeCommit() bool {
	matches := make([]uint64, 0, len(c.prs))
	for _, pr := range c.prs {
		matches = append(matches, pr.match)
	}
	committed := c.log.maybeCommit(committedIndex(matches), c.term)
	if committed && len(c.pendingReads) > 0 && c.committedInTerm() {
		reads := c.pendingReads
		c.pendingReads = nil
		for _, r := range reads {
			c.handleReadIndex(r)
		}
	}
	return committed
}

func (c *Core) broadcastAppend() {
	for _, id := range c.peers {
		if id != c.id {
			c.sendAppend(id)
		}
	}
}

func (c *Core) sendAppend(to uint64) { c.maybeSendAppend(to, true) }

// maybeSendAppend sends to a follower the entries it lacks, or a snapshot
// if they are compacted. With sendIfEmpty false it sends only entries.
func (c *Core) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := c.prs[to]
	if pr.isPaused() {
		return false
	}
	prevIndex := pr.next - 1
	prevTerm, errTerm := c.log.term(prevIndex)
	ents, errEnts := c.log.entries(pr.next, c.maxMsgSize)
	if len(ents) == 0 && !sendIfEmpty && errTerm == nil && errEnts == nil {
		return false
	}
	if errTerm != nil || errEnts != nil {
		// What the follower needs is compacted: send the snapshot.
		if !pr.recentActive {
			return false // don't ship a snapshot to a node that may be down
		}
		snap, err := c.log.snapshot()
		if err != nil || snap.IsEmpty() {
			return false
		}
		c.send(Message{Type: MsgSnap, To: to, Snapshot: &snap})
		pr.becomeSnapshot(snap.Meta.Index)
		return true
	}
	c.send(Message{Type: MsgApp, To: to, Index: prevIndex, LogTerm: prevTerm,
		Entries: ents, Commit: c.log.committed})
	if n := len(ents); n > 0 {
		switch pr.state {
		case stateReplicate:
			last := ents[n-1].Index
			pr.next = last + 1
			pr.inflights.add(last)
		case stateProbe:
			pr.probeSent = true
		}
	}
	return true
}

// broadcastHeartbeat sends heartbeats carrying ctx (a ReadIndex request's
// identity, or nil). Each carries the tick it was sent at, which followers
// echo: the leader's lease runs from the sending, not the answer.
func (c *Core) broadcastHeartbeat(ctx []byte) {
	for _, id := range c.peers {
		if id == c.id {
			continue
		}
		pr := c.prs[id]
		c.send(Message{Type: MsgHeartbeat, To: id, Commit: min(pr.match, c.log.committed),
			Index: c.ticks, Context: ctx})
	}
}

// committedInTerm reports whether this leader has committed an entry of its
// own term, after which its commit index is at least every earlier leader's.
func (c *Core) committedInTerm() bool {
	t, err := c.log.term(c.log.committed)
	return err == nil && t == c.term
}

// leaseValid reports whether a quorum acknowledged a heartbeat sent within
// the last election timeout, less two ticks of margin for tick granularity
// on both sides.
func (c *Core) leaseValid() bool {
	acked := make([]uint64, 0, len(c.prs))
	for id, pr := range c.prs {
		if id == c.id {
			acked = append(acked, c.ticks)
		} else {
			acked = append(acked, pr.ackedTick)
		}
	}
	start := committedIndex(acked)
	return start > 0 && c.ticks+2 < start+uint64(c.electionTimeout)
}

// LeaseRead reports whether a lease-based leader may answer a read now,
// without a round trip, and at which index: the commit index, once the
// leader has committed an entry of its term and while its lease holds.
func (c *Core) LeaseRead() (index uint64, ok bool) {
	if c.role != Leader || c.readOnlyOption != ReadOnlyLeaseBased || !c.committedInTerm() {
		return 0, false
	}
	if len(c.peers) > 1 && !c.leaseValid() {
		return 0, false
	}
	return c.log.committed, true
}

func (c *Core) handleReadIndex(m Message) {
	if len(c.peers) == 1 {
		c.answerRead(m, c.log.committed)
		return
	}
	if !c.committedInTerm() {
		// Our commit index may lag the previous leader's; wait for the
		// first commit of this term.
		c.pendingReads = append(c.pendingReads, m)
		return
	}
	if index, ok := c.LeaseRead(); ok {
		c.answerRead(m, index)
		return
	}
	if c.readOnly.add(c.log.committed, m) {
		c.readOnly.ack(c.id, m.Context)
		c.broadcastHeartbeat(m.Context)
	}
}

func (c *Core) handleReadAck(m Message) {
	if c.readOnly.ack(m.From, m.Context) < quorum(len(c.peers)) {
		return
	}
	for _, rs := range c.readOnly.advance(m.Context) {
		c.answerRead(rs.req, rs.index)
	}
}

func (c *Core) answerRead(req Message, index uint64) {
	if req.From == None || req.From == c.id {
		c.readStates = append(c.readStates, ReadState{Index: index, RequestCtx: req.Context})
		return
	}
	c.send(Message{Type: MsgReadIndexResp, To: req.From, Index: index, Context: req.Context})
}
