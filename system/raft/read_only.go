package raft

// readOnly tracks ReadIndex requests waiting for a quorum of heartbeat
// acknowledgements (Raft thesis 6.4). Requests are answered in the order
// they arrived: an acknowledgement of a later request's heartbeat confirms
// every earlier one too, since the heartbeats went out in order.
type readOnly struct {
	pending map[string]*readIndexStatus
	queue   []string
}

type readIndexStatus struct {
	req   Message
	index uint64
	acks  map[uint64]struct{}
}

func newReadOnly() readOnly {
	return readOnly{pending: make(map[string]*readIndexStatus)}
}

// add records a request to be answered with index; false if one with the
// same context is already waiting.
func (ro *readOnly) add(index uint64, m Message) bool {
	ctx := string(m.Context)
	if _, ok := ro.pending[ctx]; ok {
		return false
	}
	ro.pending[ctx] = &readIndexStatus{req: m, index: index, acks: make(map[uint64]struct{})}
	ro.queue = append(ro.queue, ctx)
	return true
}

// ack records that id acknowledged the heartbeat for ctx and returns how
// many have.
func (ro *readOnly) ack(id uint64, ctx []byte) int {
	rs, ok := ro.pending[string(ctx)]
	if !ok {
		return 0
	}
	rs.acks[id] = struct{}{}
	return len(rs.acks)
}

// advance removes and returns every request up to and including ctx.
func (ro *readOnly) advance(ctx []byte) []*readIndexStatus {
	key := string(ctx)
	if _, ok := ro.pending[key]; !ok {
		return nil
	}
	var done []*readIndexStatus
	for i, k := range ro.queue {
		done = append(done, ro.pending[k])
		delete(ro.pending, k)
		if k == key {
			ro.queue = ro.queue[i+1:]
			break
		}
	}
	return done
}
