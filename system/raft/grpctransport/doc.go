// Package grpctransport carries Raft messages between nodes over gRPC. One
// Transport serves every Raft group of a process (a KV node has one group,
// a Percolator node one per shard), multiplexing them by group id over a
// single connection per peer.
//
// # Use
//
// A node creates one Transport, registers its service on the gRPC server
// it already runs for its other APIs, and adds a group per Raft instance:
//
//	t, err := grpctransport.New(grpctransport.Config{Self: 1, Peers: addrs})
//	srv := grpc.NewServer(grpctransport.ServerOptions()...)
//	t.Register(srv)
//	send := t.AddGroup(shard, func(m raft.Message) { driver.Enqueue(m) })
//	// the group's driver calls send.Send(rd.Messages) after each Ready
//
// The handler receives the group's inbound messages and two kinds of local
// report, both addressed From the peer To this node:
//
//   - MsgUnreachable when a message to the peer was dropped, because its
//     queue was full or a call failed; once per group per failure episode
//     (an episode ends with the next successful call), so a partition does
//     not flood the driver.
//   - MsgSnapStatus for every MsgSnap sent: Reject false once the peer's
//     handler received it, true if it was dropped or its call failed.
//
// The handler runs on the transport's goroutines and must only hand the
// message on (a driver enqueues it, dropping it if its inbox is full).
//
// # Sending
//
// Send never blocks on the network. Each peer has a bounded queue
// (Config.QueueSize) and a sender goroutine. The sender takes everything
// queued since its last call and sends it as one Envelope holding a Batch
// per group, in one unary call; while that call is in flight new messages
// accumulate for the next one, so batches grow with load and a busy
// connection spends few round trips per message. With one call in flight
// per peer, messages to a peer arrive in the order they were sent. What
// does not fit in the queue is dropped and reported: Raft retransmits, and
// a Send that blocked would stall the driver and every group behind it.
//
// A call that fails drops its messages rather than retrying them; by the
// time the peer is back, newer messages say the same thing better.
//
// # Failures
//
// The faults this transport must survive are the ones squall injects:
// partitions, dropped packets, killed and paused processes.
//
//   - Every call has a deadline (Config.SendTimeout, or the longer
//     Config.SnapshotSendTimeout for a call carrying a snapshot), so a peer
//     that stops answering (SIGSTOP, packets silently dropped) costs its own
//     queue one timeout per call and never blocks other peers. A unary call
//     per batch gets this from gRPC directly, and its reply is proof of
//     delivery, which a MsgSnapStatus needs; a long-lived stream would need a
//     watchdog for the one and per-message acknowledgements for the other.
//   - Keepalive makes a dead connection fail fast instead of hanging. Its
//     timeout (2s) doubles as the socket's TCP_USER_TIMEOUT, so with
//     heartbeats always in flight a partitioned connection is torn down
//     within seconds and redialled, rather than left to TCP's retransmission
//     backoff after the partition heals; its pings (every 10s, gRPC's floor)
//     catch a peer that vanished while idle. ServerOptions lets the server
//     accept those pings.
//   - Reconnection backs off from 100ms to at most Config.MaxReconnectDelay
//     (1s) instead of gRPC's default two minutes, and a connection attempt
//     gives up after Config.DialTimeout, so a healed partition or a restarted
//     peer is reached again within about a second or two.
//
// Timeouts here are about the network and use the real clock that gRPC
// uses, not the node's injectable clock: a skewed node clock should change
// what Raft believes about time, not whether its packets are delivered.
package grpctransport
