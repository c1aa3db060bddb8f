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
//   - MsgUnreachable when a message to the peer was dropped or may have
//     been lost, because its queue was full, a send or call failed, or a
//     stream it went on broke; once per group per failure episode, so a
//     partition does not flood the driver. An episode ends with the next
//     successful snapshot call, or send on a stream the peer has
//     acknowledged (it acknowledges each stream's first envelope).
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
// queued since it last looked and sends it as one Envelope holding a Batch
// per group, on a long-lived gRPC stream to the peer (Raft.Stream), which it
// opens when it first needs it and again after one breaks. While a send is
// under way new messages accumulate for the next, so batches grow with
// load; a batch does not wait for the last one's reply, and costs no call
// of its own. One stream per peer keeps messages to a peer in the order
// they were sent. What does not fit in the queue is dropped and reported:
// Raft retransmits, and a Send that blocked would stall the driver and
// every group behind it.
//
// Snapshots are the exception: each goes in a unary call (Raft.Send) of its
// own, whose reply proves delivery, which a MsgSnapStatus needs. To keep
// the order, the sender first closes its side of the stream and waits
// until the peer has delivered everything on it.
//
// A send that fails drops its messages rather than retrying them; by the
// time the peer is back, newer messages say the same thing better.
//
// # Failures
//
// The faults this transport must survive are the ones squall injects:
// partitions, dropped packets, killed and paused processes.
//
//   - A stream's receiver answers once and then only by ending it, so the
//     sender watches for its end: a peer that refuses an envelope (it is not
//     the node the envelope is for) ends the stream with an error, as does a
//     broken connection, and every group that sent on it hears
//     MsgUnreachable, for what it sent may be lost.
//   - A peer that stops reading (SIGSTOP, packets silently dropped) lets the
//     stream's flow-control window fill, and gRPC's send then waits for
//     room. A watchdog cancels the stream when a send has written nothing
//     to the peer's connection for Config.SendTimeout, so a stalled peer
//     costs its own queue one timeout and never blocks other peers, while
//     a slow peer taking a large envelope is left to finish. A snapshot's call has the longer
//     deadline Config.SnapshotSendTimeout. Opening a stream waits for no
//     answer from the peer: gRPC refuses it at once while the connection is
//     down, and waits at most Config.DialTimeout while it connects.
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
// The send watchdog is the one timer of the package's own: it runs on
// Config.Clock, the node's injectable clock, as every timer of a node's
// code does (system/fault tests that none reads the host's clock). So a
// node whose clock runs slow under a clock fault also waits longer before
// it gives up on a stalled peer, as a real server whose clock ran slow
// would. The other timeouts (dial, snapshot call, keepalive, reconnection
// backoff) are gRPC's, which times them on the host's clock: a skewed node
// clock changes what Raft believes about time, not how gRPC delivers
// packets.
package grpctransport
