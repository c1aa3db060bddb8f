package percolator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/internal/rpcerr"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

// dialBatch returns a batchClient of node i, closed when the test ends.
func (c *testCluster) dialBatch(i int) *batchClient {
	c.t.Helper()
	conn, err := grpc.NewClient(c.peers[i].Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.t.Fatal(err)
	}
	b := newBatchClient(conn, fault.SystemClock())
	c.t.Cleanup(func() {
		b.close()
		conn.Close()
	})
	return b
}

// TestBatchAnswersEachCaller sends many callers' requests at once over one
// stream, of several kinds, and checks each caller gets its own answer.
func TestBatchAnswersEachCaller(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oracle := c.dialBatch(c.leader(OracleGroup))
	shard := c.dialBatch(c.leader(1))
	key := keyOnShard(t, "batched", 1)
	commitTS := c.writeTxn(ctx, map[string]string{string(key): "v"})

	const callers = 200
	var wg sync.WaitGroup
	stamps := make([]uint64, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			if i%2 == 0 {
				resp, err := oracle.Tso(ctx, &pb.TsoRequest{Count: 1})
				if err == nil {
					stamps[i] = resp.First
				}
				errs[i] = err
				return
			}
			// Each reader asks for the key and a key of its own, absent.
			absent := []byte(fmt.Sprintf("%s-absent-%d", key, i))
			if ShardOf(absent, c.shards()) != 1 {
				absent = key
			}
			resp, err := shard.BatchGet(ctx, &pb.BatchGetRequest{Shard: 1, Keys: [][]byte{key, absent}, Version: commitTS})
			switch {
			case err != nil:
				errs[i] = err
			case len(resp.Results) != 2 || string(resp.Results[0].Value) != "v":
				errs[i] = fmt.Errorf("answer %v, want v first", resp.Results)
			case !bytes.Equal(absent, key) && resp.Results[1].Found:
				errs[i] = fmt.Errorf("absent key %q found: %v", absent, resp.Results[1])
			}
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if i%2 == 0 {
			if stamps[i] == 0 || seen[stamps[i]] {
				t.Fatalf("caller %d got timestamp %d, zero or another caller's", i, stamps[i])
			}
			seen[stamps[i]] = true
		}
	}
}

// TestBatchFailsAsUnaryWould checks that a refused request fails with the
// status its unary RPC gives, details included: a follower's NotLeader
// names the leader, and a malformed request is InvalidArgument.
func TestBatchFailsAsUnaryWould(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leader := c.leader(1)
	follower := (leader + 1) % 3
	req := &pb.PrewriteRequest{Shard: 1, Primary: []byte("k"), StartTs: 1,
		Mutations: []*pb.Mutation{{Key: keyOnShard(t, "k", 1), Value: []byte("v")}}}
	_, unaryErr := c.dial(follower).Prewrite(ctx, req)
	_, batchErr := c.dialBatch(follower).Prewrite(ctx, req)
	if status.Code(batchErr) != status.Code(unaryErr) || status.Code(batchErr) == codes.OK {
		t.Fatalf("batched prewrite at a follower: %v; unary: %v", batchErr, unaryErr)
	}
	hint, notLeader := rpcerr.LeaderHint(batchErr)
	if !notLeader || hint != c.peers[leader].Name {
		t.Fatalf("batched NotLeader hint = %q, %v; want %q (error %v)", hint, notLeader, c.peers[leader].Name, batchErr)
	}
	_, err := c.dialBatch(c.leader(OracleGroup)).Tso(ctx, &pb.TsoRequest{Count: 0})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("batched tso of 0 timestamps: %v, want InvalidArgument", err)
	}
}

// TestBatchRefusesRequestWithoutCommand writes the stream by hand: a
// request naming no command is answered InvalidArgument, and the stream
// goes on serving.
func TestBatchRefusesRequestWithoutCommand(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := c.dial(c.leader(OracleGroup)).Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.BatchRequest{Requests: []*pb.BatchRequest_Request{
		{Id: 7},
		{Id: 8, Cmd: &pb.BatchRequest_Request_Tso{Tso: &pb.TsoRequest{Count: 1}}},
	}}); err != nil {
		t.Fatal(err)
	}
	answers := map[uint64]*pb.BatchResponse_Response{}
	for len(answers) < 2 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("receive after %d answers: %v", len(answers), err)
		}
		for _, r := range resp.Responses {
			answers[r.Id] = r
		}
	}
	if err := decodeStatus(answers[7].Status); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "no command") {
		t.Fatalf("request without a command: %v, want InvalidArgument naming it", err)
	}
	if answers[8].Status != nil || answers[8].GetTso().GetFirst() == 0 {
		t.Fatalf("tso beside it: %v", answers[8])
	}
}

// TestBatchRequestKeepsItsDeadline checks the server gives up on a
// request when its caller's deadline passes, as on a unary RPC: a commit
// held by a 30s failpoint sleep is answered DeadlineExceeded long before.
func TestBatchRequestKeepsItsDeadline(t *testing.T) {
	c, fps := startClusterWithFailpoints(t)
	armAll(t, fps, FailBeforeCommit, "sleep(30s)")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := c.dial(c.leader(1)).Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &pb.BatchRequest_Request{Id: 1, TimeoutUs: uint64((200 * time.Millisecond).Microseconds()),
		Cmd: &pb.BatchRequest_Request_Commit{Commit: &pb.CommitRequest{Shard: 1, Keys: [][]byte{keyOnShard(t, "k", 1)}, StartTs: 1, CommitTs: 2}}}
	sent := time.Now()
	if err := stream.Send(&pb.BatchRequest{Requests: []*pb.BatchRequest_Request{req}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(sent); waited >= 30*time.Second {
		t.Fatalf("answered after %v: the failpoint's sleep ran out, the deadline was ignored", waited)
	}
	if err := decodeStatus(resp.Responses[0].Status); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("held commit: %v, want the failpoint's sleep cut short by the deadline", err)
	}
}

// TestBatchStreamBreakIsIndeterminate stops a node while a commit is out
// on its stream: the caller hears that the request may have been
// delivered (not "connection error", which means it was never sent), and
// once the node is back the next call opens a new stream.
func TestBatchStreamBreakIsIndeterminate(t *testing.T) {
	c, fps := startClusterWithFailpoints(t)
	leader := c.leader(1)
	if err := fps[leader].Arm(FailBeforeCommit, "sleep(30s)"); err != nil {
		t.Fatal(err)
	}
	b := c.dialBatch(leader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.Commit(ctx, &pb.CommitRequest{Shard: 1, Keys: [][]byte{keyOnShard(t, "k", 1)}, StartTs: 1, CommitTs: 2})
		done <- err
	}()
	// Wait until the commit is held at the node, then stop it.
	for fired(fps[leader], FailBeforeCommit) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	c.stop(leader)
	err := <-done
	if status.Code(err) != codes.Unavailable || !maySent(err) {
		t.Fatalf("commit out when its node stopped: %v, want Unavailable that may have been delivered", err)
	}
	c.restart(leader)
	// The node answers once it is up: a timestamp if it leads the
	// oracle, else a refusal naming the leader.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := b.Tso(ctx, &pb.TsoRequest{Count: 1})
		if _, notLeader := rpcerr.LeaderHint(err); err == nil || notLeader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted node did not answer on a new stream within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fired is how many times the failpoint name has acted.
func fired(fps *fault.Failpoints, name string) uint64 {
	for _, s := range fps.List() {
		if s.Name == name {
			return s.Fired
		}
	}
	return 0
}

// TestBatchCarriesLargeValues commits and reads back values whose
// requests and answers exceed one batch message's bound and gRPC's
// default 4 MiB receive limit: each goes in a message of its own.
func TestBatchCarriesLargeValues(t *testing.T) {
	// Elections at a node's own timing (2 s), not the tests' 300 ms: a
	// 5 MiB envelope holds the heartbeats queued behind it, and under two
	// suites at once the followers of a 300 ms cluster elected anew while
	// one travelled, so the prewrite never committed in a minute.
	c := startCluster(t, 3, func(cfg *Config) { cfg.ElectionTick = 200 })
	client := newTestClient(t, c.peers, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var keys [][]byte
	value := bytes.Repeat([]byte("v"), 1<<20)
	tx, err := client.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		k := keyOnShard(t, fmt.Sprintf("large-%d", i), 1)
		keys = append(keys, k)
		tx.Set(k, value)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit 5 MiB: %v", err)
	}
	tx, err = client.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	values, found, err := tx.BatchGet(ctx, keys)
	if err != nil {
		t.Fatalf("read 5 MiB back: %v", err)
	}
	for i := range keys {
		if !found[i] || !bytes.Equal(values[i], value) {
			t.Fatalf("key %q: found %v, %d bytes; want the 1 MiB value", keys[i], found[i], len(values[i]))
		}
	}
}

// fakeBatchStream stands in for the gRPC stream under a batchStream, so
// that a test can hold a message in Send and end the stream at will.
type fakeBatchStream struct {
	grpc.ClientStream                       // nil: batchStream uses only Send and Recv
	sent              chan *pb.BatchRequest // each message handed to Send
	release           chan error            // what the held Send returns
	recvErr           chan error            // ends Recv with this error
}

func newFakeBatchStream() *fakeBatchStream {
	return &fakeBatchStream{sent: make(chan *pb.BatchRequest), release: make(chan error), recvErr: make(chan error)}
}

func (f *fakeBatchStream) Send(m *pb.BatchRequest) error {
	f.sent <- m
	return <-f.release
}

func (f *fakeBatchStream) Recv() (*pb.BatchResponse, error) { return nil, <-f.recvErr }

// fakeBatchClient returns a batchClient whose stream is f.
func fakeBatchClient(f *fakeBatchStream) (*batchClient, *batchStream) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &batchStream{stream: f, cancel: cancel, kick: make(chan struct{}, 1), waiting: make(map[uint64]chan *pb.BatchResponse_Response)}
	go s.sendLoop(ctx)
	go s.receiveLoop()
	return &batchClient{clock: fault.SystemClock(), lock: make(chan struct{}, 1), current: s}, s
}

// hangGuard bounds the waits of the stand-in stream tests, so that a
// regression fails them instead of hanging them; it is no time limit on
// the code, which answers within microseconds.
const hangGuard = 30 * time.Second

// queued waits until n requests wait in s's queue.
func queued(t *testing.T, s *batchStream, n int) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		s.mu.Lock()
		l := len(s.queue)
		s.mu.Unlock()
		if l == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", l, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// receive returns the next value from ch, failing the test if none comes.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// send hands v to ch, failing the test if nobody takes it.
func send[T any](t *testing.T, ch chan<- T, v T, what string) {
	t.Helper()
	select {
	case ch <- v:
	case <-time.After(hangGuard):
		t.Fatalf("nobody took %s", what)
	}
}

// tsoCall starts a Tso call through b under ctx; its error comes on the
// channel returned.
func tsoCall(ctx context.Context, b *batchClient) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := b.Tso(ctx, &pb.TsoRequest{Count: 1})
		done <- err
	}()
	return done
}

// TestBatchWithdrawsQueuedRequest: a caller that gives up while its
// request still waits in the queue hears that it was never sent (a
// definite failure), and the request is not sent afterwards.
func TestBatchWithdrawsQueuedRequest(t *testing.T) {
	f := newFakeBatchStream()
	b, s := fakeBatchClient(f)
	a := tsoCall(context.Background(), b)
	if m := receive(t, f.sent, "first message"); len(m.Requests) != 1 {
		t.Fatalf("first message holds %d requests, want 1", len(m.Requests))
	}
	// The sender is held in Send: the next request waits in the queue.
	bctx, cancelB := context.WithCancel(context.Background())
	bDone := tsoCall(bctx, b)
	queued(t, s, 1)
	cancelB()
	if err := receive(t, bDone, "answer to the withdrawn request"); status.Code(err) != codes.Unavailable || maySent(err) {
		t.Fatalf("request withdrawn from the queue: %v, want Unavailable, not sent", err)
	}
	c := tsoCall(context.Background(), b)
	queued(t, s, 1)
	send(t, f.release, nil, "the first Send's result")
	m := receive(t, f.sent, "second message")
	if len(m.Requests) != 1 || m.Requests[0].Id != 3 {
		t.Fatalf("second message holds %v, want only the third request (id 3)", m.Requests)
	}
	send(t, f.recvErr, errors.New("test over"), "the end of the stream")
	send(t, f.release, nil, "the second Send's result")
	for _, done := range []<-chan error{a, c} {
		if err := receive(t, done, "answer to a sent request"); status.Code(err) != codes.Unavailable || !maySent(err) {
			t.Fatalf("sent request when the stream ended: %v, want Unavailable, may have been delivered", err)
		}
	}
}

// TestBatchBrokenStreamSplitsSentFromQueued breaks a stream with one
// request sent, one being sent and one queued: the first two may have
// been delivered (indeterminate), the queued one was not (definite).
func TestBatchBrokenStreamSplitsSentFromQueued(t *testing.T) {
	f := newFakeBatchStream()
	b, s := fakeBatchClient(f)
	ctx := context.Background()
	sent := tsoCall(ctx, b)
	receive(t, f.sent, "first message")
	send(t, f.release, nil, "the first Send's result")
	sending := tsoCall(ctx, b)
	receive(t, f.sent, "second message") // held in Send
	waiting := tsoCall(ctx, b)
	queued(t, s, 1)
	send(t, f.recvErr, errors.New("connection reset"), "the end of the stream")
	for name, done := range map[string]<-chan error{"sent": sent, "being sent": sending} {
		if err := receive(t, done, "answer to the request "+name); status.Code(err) != codes.Unavailable || !maySent(err) {
			t.Errorf("request %s when the stream broke: %v, want Unavailable, may have been delivered", name, err)
		}
	}
	if err := receive(t, waiting, "answer to the queued request"); status.Code(err) != codes.Unavailable || maySent(err) {
		t.Errorf("request queued when the stream broke: %v, want Unavailable, not sent", err)
	}
	send(t, f.release, errors.New("stream closed"), "the second Send's result")
}

// fixedClock reads one instant, whatever the wall clock says.
type fixedClock struct {
	fault.Clock
	now time.Time
}

func (c fixedClock) Now() time.Time                  { return c.now }
func (c fixedClock) Since(t time.Time) time.Duration { return c.now.Sub(t) }

// TestBatchRequestCarriesTimeLeftByClientClock: the time a request has
// left is read on the client's clock (so clock faults injected into the
// client reach it), and travels with the request.
func TestBatchRequestCarriesTimeLeftByClientClock(t *testing.T) {
	f := newFakeBatchStream()
	b, _ := fakeBatchClient(f)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b.clock = fixedClock{Clock: fault.SystemClock(), now: now}
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(2*time.Second))
	defer cancel()
	done := tsoCall(ctx, b)
	m := receive(t, f.sent, "message")
	if got := m.Requests[0].TimeoutUs; got != 2_000_000 {
		t.Fatalf("timeout_us = %d, want 2000000 (2 s to the deadline by the client's clock)", got)
	}
	send(t, f.recvErr, errors.New("test over"), "the end of the stream")
	send(t, f.release, nil, "the Send's result")
	receive(t, done, "answer")
}
