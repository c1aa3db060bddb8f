package raft

import "errors"

// Entry is one record of the replicated log. An entry with nil Data is the
// empty entry a new leader appends to commit entries of earlier terms.
type Entry struct {
	Term  uint64
	Index uint64
	Data  []byte
}

// HardState is what a node must persist before it sends any message that
// depends on it: the current term, the vote cast in it, and the commit index.
type HardState struct {
	Term   uint64
	Vote   uint64
	Commit uint64
}

// IsEmpty reports whether hs is the zero hard state.
func (hs HardState) IsEmpty() bool { return hs == HardState{} }

// SnapshotMeta describes the log prefix a snapshot replaces.
type SnapshotMeta struct {
	Index uint64   // last index the snapshot covers
	Term  uint64   // term of the entry at Index
	Peers []uint64 // the cluster's members at Index
}

// Snapshot is a state machine image that replaces the log up to Meta.Index.
type Snapshot struct {
	Meta SnapshotMeta
	Data []byte
}

// IsEmpty reports whether s holds no snapshot.
func (s *Snapshot) IsEmpty() bool { return s == nil || s.Meta.Index == 0 }

// MessageType says what a Message is for.
type MessageType uint8

const (
	// Local messages: never sent over the wire.
	MsgHup  MessageType = iota // start an election (or pre-election)
	MsgBeat                    // leader: send heartbeats now

	MsgProp           // propose entries; local only (the driver redirects clients to the leader)
	MsgApp            // leader -> follower: append Entries after (Index, LogTerm)
	MsgAppResp        // follower -> leader: Index is the follower's match or rejection point
	MsgVote           // candidate -> all: vote for me in Term
	MsgVoteResp       //
	MsgPreVote        // would you vote for me in Term (not yet entered)?
	MsgPreVoteResp    //
	MsgHeartbeat      // leader -> follower: I am alive; Commit is min(match, commit)
	MsgHeartbeatResp  //
	MsgSnap           // leader -> follower: install Snapshot
	MsgReadIndex      // ask the leader for a read index (local or follower -> leader)
	MsgReadIndexResp  // leader -> follower: Index is the read index for Context
	MsgTransferLeader // ask the leader to hand leadership to From (local, or forwarded by a follower)
	MsgTimeoutNow     // leader -> transferee: start an election now, skipping PreVote
	MsgSnapStatus     // local: the driver reports a snapshot send failed (Reject) or finished
	MsgUnreachable    // local: the driver reports that From could not be reached
)

var messageTypeNames = [...]string{
	"MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp",
	"MsgPreVote", "MsgPreVoteResp", "MsgHeartbeat", "MsgHeartbeatResp", "MsgSnap",
	"MsgReadIndex", "MsgReadIndexResp", "MsgTransferLeader", "MsgTimeoutNow",
	"MsgSnapStatus", "MsgUnreachable",
}

func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return "MsgUnknown"
}

// IsLocal reports whether messages of type t are only ever stepped by the
// driver of the node they concern and never cross a network.
func (t MessageType) IsLocal() bool {
	switch t {
	case MsgHup, MsgBeat, MsgProp, MsgSnapStatus, MsgUnreachable:
		return true
	}
	return false
}

// Message is the unit of communication between Raft peers, and of input to
// the core from its driver.
type Message struct {
	Type    MessageType
	From    uint64
	To      uint64
	Term    uint64
	LogTerm uint64 // MsgApp: term of the entry at Index; votes: candidate's last log term; rejections: term at RejectHint
	Index   uint64 // MsgApp: index preceding Entries; votes: candidate's last index; responses: see type
	Entries []Entry
	Commit  uint64
	// Snapshot is set on MsgSnap only.
	Snapshot *Snapshot
	Reject   bool
	// RejectHint is, on a rejected MsgAppResp, the follower's guess of the
	// highest index at which the leader's log may match its own.
	RejectHint uint64
	// Context carries a ReadIndex request's identity, echoed through the
	// heartbeats that confirm it.
	Context []byte
}

// Errors returned by Storage implementations.
var (
	// ErrCompacted: the requested index precedes the storage's first index.
	ErrCompacted = errors.New("raft: requested index is compacted")
	// ErrUnavailable: the requested index is beyond the storage's last index.
	ErrUnavailable = errors.New("raft: requested entry is unavailable")
	// ErrSnapOutOfDate: a snapshot older than the one held was offered.
	ErrSnapOutOfDate = errors.New("raft: snapshot is older than the one held")
)

// Storage is the core's read-only view of the persisted log. The core never
// writes it: the driver persists what Ready asks for, then Advance()s.
// Implementations must be safe for the driver and the core to use from the
// one goroutine that runs them; MemoryStorage and wal.Storage are.
type Storage interface {
	// InitialState returns the persisted hard state and the cluster's members.
	InitialState() (HardState, []uint64, error)
	// Entries returns entries [lo, hi), stopping early once their data
	// exceeds maxBytes (but always returning at least one if any exist).
	Entries(lo, hi, maxBytes uint64) ([]Entry, error)
	// Term returns the term of entry i, which must be in
	// [FirstIndex()-1, LastIndex()]; the term of FirstIndex()-1 is the
	// snapshot's term.
	Term(i uint64) (uint64, error)
	// FirstIndex is the index of the first entry still held (snapshot index + 1).
	FirstIndex() (uint64, error)
	// LastIndex is the index of the last entry held.
	LastIndex() (uint64, error)
	// Snapshot returns the most recent snapshot.
	Snapshot() (Snapshot, error)
}

// DurableStorage is Storage plus the writes a driver performs. Save must
// not return until what it was given survives a crash (fsync).
type DurableStorage interface {
	Storage
	// Save durably installs snap (if non-empty), then appends ents
	// (discarding any held entries at or after ents[0].Index), then records
	// hs (if non-empty).
	Save(hs HardState, ents []Entry, snap *Snapshot) error
	// CreateSnapshot durably records data as the state machine image at
	// index (which must be committed and applied) and compacts the log up to
	// it, keeping the last `retain` entries for slow followers.
	CreateSnapshot(index uint64, peers []uint64, data []byte, retain uint64) error
	// Close releases files; the storage must not be used afterwards.
	Close() error
}

// SnapshotWriter is a DurableStorage that can make a snapshot's image
// durable away from the node's goroutine. A Node whose state machine is a
// SnapshotCapturer calls WriteSnapshot on the goroutine that encoded the
// image, and then, on its own goroutine, CreateSnapshot for the same
// index with nil data: that call only compacts the log. Writing and
// syncing a large image thus never holds up the group. WriteSnapshot
// returns ErrSnapOutOfDate if a newer snapshot was installed meanwhile.
type SnapshotWriter interface {
	WriteSnapshot(index uint64, peers []uint64, data []byte, retain uint64) error
}

// Transport carries messages between the peers of one Raft group.
type Transport interface {
	// Send queues msgs for delivery. It must not block on the network: a
	// transport may drop messages (Raft retransmits) but must not reorder
	// messages to one peer beyond what a real network would.
	Send(msgs []Message)
}
