package percolator

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

// tso takes one timestamp from the oracle's leader.
func (c *testCluster) tso(ctx context.Context) uint64 {
	c.t.Helper()
	resp, err := c.dial(c.leader(OracleGroup)).Tso(ctx, &pb.TsoRequest{Count: 1})
	if err != nil {
		c.t.Fatalf("tso: %v", err)
	}
	return resp.First
}

// writeTxn commits the puts in one transaction through the shards'
// leaders, the first key as the primary, and returns the commit ts.
func (c *testCluster) writeTxn(ctx context.Context, puts map[string]string) uint64 {
	c.t.Helper()
	shards := c.shards()
	var primary []byte
	byShard := map[uint32][]*pb.Mutation{}
	for k, v := range puts {
		if primary == nil {
			primary = []byte(k)
		}
		s := ShardOf([]byte(k), shards)
		byShard[s] = append(byShard[s], &pb.Mutation{Op: pb.Mutation_PUT, Key: []byte(k), Value: []byte(v)})
	}
	start := c.tso(ctx)
	for s, muts := range byShard {
		resp, err := c.dial(c.leader(s)).Prewrite(ctx, &pb.PrewriteRequest{Shard: s, Mutations: muts, Primary: primary, StartTs: start, LockTtlMs: 3000})
		if err != nil || len(resp.Errors) > 0 {
			c.t.Fatalf("prewrite on shard %d: %v %v", s, err, resp.GetErrors())
		}
	}
	commit := c.tso(ctx)
	primaryShard := ShardOf(primary, shards)
	order := []uint32{primaryShard} // the primary's shard first: the commit point
	for s := range byShard {
		if s != primaryShard {
			order = append(order, s)
		}
	}
	for _, s := range order {
		var ks [][]byte
		for _, m := range byShard[s] {
			ks = append(ks, m.Key)
		}
		resp, err := c.dial(c.leader(s)).Commit(ctx, &pb.CommitRequest{Shard: s, Keys: ks, StartTs: start, CommitTs: commit})
		if err != nil || resp.Error != nil {
			c.t.Fatalf("commit on shard %d: %v %v", s, err, resp.GetError())
		}
	}
	return commit
}

// read gets key at a fresh timestamp through its shard's leader.
func (c *testCluster) read(ctx context.Context, key []byte) *pb.GetResponse {
	c.t.Helper()
	s := ShardOf(key, c.shards())
	at := c.tso(ctx)
	resp, err := c.dial(c.leader(s)).Get(ctx, &pb.GetRequest{Shard: s, Key: key, Version: at})
	if err != nil {
		c.t.Fatalf("get %q: %v", key, err)
	}
	return resp
}

// TestBatchGetAnswersEachKey: one BatchGet answers every key as Get
// would, in the order asked: values, an absent key, and a lock.
func TestBatchGetAnswersEachKey(t *testing.T) {
	ctx := testContext(t)
	c := startCluster(t, 1, nil)
	a, b := keyOnShard(t, "bg-a", 1), keyOnShard(t, "bg-b", 1)
	absent, locked := keyOnShard(t, "bg-absent", 1), keyOnShard(t, "bg-locked", 1)
	c.writeTxn(ctx, map[string]string{string(a): "1"})
	c.writeTxn(ctx, map[string]string{string(b): "2"})
	lockTS := c.tso(ctx)
	resp, err := c.dial(0).Prewrite(ctx, &pb.PrewriteRequest{Shard: 1, StartTs: lockTS, Primary: locked, LockTtlMs: 60_000,
		Mutations: []*pb.Mutation{{Op: pb.Mutation_PUT, Key: locked, Value: []byte("3")}}})
	if err != nil || len(resp.Errors) > 0 {
		t.Fatalf("prewrite %q: %v %v", locked, err, resp.GetErrors())
	}

	got, err := c.dial(0).BatchGet(ctx, &pb.BatchGetRequest{Shard: 1, Keys: [][]byte{b, absent, locked, a}, Version: c.tso(ctx)})
	if err != nil {
		t.Fatalf("batch get: %v", err)
	}
	r := got.Results
	if len(r) != 4 {
		t.Fatalf("batch get of 4 keys answered %d: %v", len(r), r)
	}
	if !r[0].Found || string(r[0].Value) != "2" || r[0].Error != nil {
		t.Errorf("%q: got %v, want 2", b, r[0])
	}
	if r[1].Found || r[1].Error != nil {
		t.Errorf("%q: got %v, want absent", absent, r[1])
	}
	if l := r[2].GetError().GetLocked(); l == nil || l.StartTs != lockTS || !bytes.Equal(l.Key, locked) {
		t.Errorf("%q: got %v, want its lock at %d", locked, r[2], lockTS)
	}
	if !r[3].Found || string(r[3].Value) != "1" || r[3].Error != nil {
		t.Errorf("%q: got %v, want 1", a, r[3])
	}
}

func TestClusterCommitsAcrossShards(t *testing.T) {
	ctx := testContext(t)
	c := startCluster(t, 3, nil)
	k1, k2 := keyOnShard(t, "k", 1), keyOnShard(t, "k", 2)
	commit := c.writeTxn(ctx, map[string]string{string(k1): "v1", string(k2): "v2"})
	for k, want := range map[string]string{string(k1): "v1", string(k2): "v2"} {
		resp := c.read(ctx, []byte(k))
		if resp.Error != nil || !resp.Found || string(resp.Value) != want || resp.CommitTs != commit {
			t.Errorf("get %q = %v, want %q committed at %d", k, resp, want, commit)
		}
	}

	st, err := c.dial(0).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Id != "n1" || st.Shards != DefaultShards || len(st.Groups) != DefaultShards+1 {
		t.Fatalf("status %v, want n1 with %d shards and %d groups", st, DefaultShards, DefaultShards+1)
	}
	for g, gs := range st.Groups {
		if gs.Group != uint32(g) || gs.Leader == "" || gs.Applied == 0 {
			t.Errorf("group %d status %v, want a known leader and applied entries", g, gs)
		}
	}
}

func TestFollowersRedirectToTheGroupLeader(t *testing.T) {
	ctx := testContext(t)
	c := startCluster(t, 3, nil)
	for _, group := range []uint32{OracleGroup, 1, 2} {
		leader := c.leader(group)
		follower := (leader + 1) % 3
		var err error
		if group == OracleGroup {
			_, err = c.dial(follower).Tso(ctx, &pb.TsoRequest{Count: 1})
		} else {
			_, err = c.dial(follower).Get(ctx, &pb.GetRequest{Shard: group, Key: keyOnShard(t, "k", group), Version: 1})
		}
		st := status.Convert(err)
		if st.Code() != codes.FailedPrecondition {
			t.Fatalf("group %d at a follower: %v, want FailedPrecondition", group, err)
		}
		var detail *pb.NotLeader
		for _, d := range st.Details() {
			if nl, ok := d.(*pb.NotLeader); ok {
				detail = nl
			}
		}
		// The follower may not have heard of a leader yet; when it has, it
		// must be the one.
		if detail == nil || detail.Group != group ||
			(detail.LeaderId != "" && (detail.LeaderId != c.peers[leader].Name || detail.LeaderAddr != c.peers[leader].Addr)) {
			t.Errorf("group %d: NotLeader detail %v, want group %d and leader %s at %s", group, detail, group, c.peers[leader].Name, c.peers[leader].Addr)
		}
	}
}

func TestServerRefusesBadRequests(t *testing.T) {
	ctx := testContext(t)
	c := startCluster(t, 1, nil)
	cl := c.dial(0)
	k1, k2 := keyOnShard(t, "k", 1), keyOnShard(t, "k", 2)
	put := func(k []byte) *pb.Mutation { return &pb.Mutation{Op: pb.Mutation_PUT, Key: k} }
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"shard 0", func() error {
			_, err := cl.Get(ctx, &pb.GetRequest{Shard: 0, Key: k1})
			return err
		}, "shard 0 is not one of 1..2"},
		{"shard beyond the last", func() error {
			_, err := cl.Commit(ctx, &pb.CommitRequest{Shard: 3, Keys: [][]byte{k1}, StartTs: 1, CommitTs: 2})
			return err
		}, "shard 3 is not one of 1..2"},
		{"key of another shard", func() error {
			_, err := cl.Prewrite(ctx, &pb.PrewriteRequest{Shard: 1, Mutations: []*pb.Mutation{put(k1), put(k2)}, Primary: k1, StartTs: 1})
			return err
		}, fmt.Sprintf("key %q belongs to shard 2, not 1", k2)},
		{"empty key", func() error {
			_, err := cl.Rollback(ctx, &pb.RollbackRequest{Shard: 1, Keys: [][]byte{nil}, StartTs: 1})
			return err
		}, "empty key"},
		{"key twice", func() error {
			_, err := cl.Prewrite(ctx, &pb.PrewriteRequest{Shard: 1, Mutations: []*pb.Mutation{put(k1), put(k1)}, Primary: k1, StartTs: 1})
			return err
		}, "appears twice"},
		{"prewrite without a primary", func() error {
			_, err := cl.Prewrite(ctx, &pb.PrewriteRequest{Shard: 1, Mutations: []*pb.Mutation{put(k1)}, StartTs: 1})
			return err
		}, "no primary"},
		{"commit_ts not after start_ts", func() error {
			_, err := cl.Commit(ctx, &pb.CommitRequest{Shard: 1, Keys: [][]byte{k1}, StartTs: 5, CommitTs: 5})
			return err
		}, "commit_ts 5 is not after start_ts 5"},
		{"check status of a key of another shard", func() error {
			_, err := cl.CheckTxnStatus(ctx, &pb.CheckTxnStatusRequest{Shard: 1, PrimaryKey: k2, LockTs: 1})
			return err
		}, "belongs to shard 2"},
		{"batch get without keys", func() error {
			_, err := cl.BatchGet(ctx, &pb.BatchGetRequest{Shard: 1, Version: 1})
			return err
		}, "no keys"},
		{"batch get of a key of another shard", func() error {
			_, err := cl.BatchGet(ctx, &pb.BatchGetRequest{Shard: 1, Keys: [][]byte{k1, k2}, Version: 1})
			return err
		}, fmt.Sprintf("key %q belongs to shard 2, not 1", k2)},
		{"zero timestamps", func() error {
			_, err := cl.Tso(ctx, &pb.TsoRequest{})
			return err
		}, "count must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
				t.Errorf("error %v, want InvalidArgument mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCommitFailpoints(t *testing.T) {
	ctx := testContext(t)
	c := startCluster(t, 1, nil)
	c.leader(1)
	cl := c.dial(0)
	fps := c.nodes[0].cfg.Failpoints
	key := keyOnShard(t, "k", 1)
	prewriteAndCommit := func(value string) (uint64, error) {
		start := c.tso(ctx)
		resp, err := cl.Prewrite(ctx, &pb.PrewriteRequest{Shard: 1, Mutations: []*pb.Mutation{{Op: pb.Mutation_PUT, Key: key, Value: []byte(value)}}, Primary: key, StartTs: start, LockTtlMs: 3000})
		if err != nil || len(resp.Errors) > 0 {
			t.Fatalf("prewrite: %v %v", err, resp.GetErrors())
		}
		_, err = cl.Commit(ctx, &pb.CommitRequest{Shard: 1, Keys: [][]byte{key}, StartTs: start, CommitTs: c.tso(ctx)})
		return start, err
	}

	if err := fps.Arm(FailBeforeCommit, "1*error(no)"); err != nil {
		t.Fatal(err)
	}
	start, err := prewriteAndCommit("lost")
	if status.Code(err) != codes.Aborted {
		t.Fatalf("commit with %s armed: %v, want Aborted", FailBeforeCommit, err)
	}
	if resp := c.read(ctx, key); resp.GetError().GetLocked().GetStartTs() != start {
		t.Fatalf("after a refused commit: %v, want the prewrite's lock", resp)
	}
	if _, err := cl.Rollback(ctx, &pb.RollbackRequest{Shard: 1, Keys: [][]byte{key}, StartTs: start}); err != nil {
		t.Fatal(err)
	}

	if err := fps.Arm(FailAfterCommit, "1*error(no)"); err != nil {
		t.Fatal(err)
	}
	if _, err := prewriteAndCommit("kept"); status.Code(err) != codes.Unavailable {
		t.Fatalf("commit with %s armed: %v, want Unavailable", FailAfterCommit, err)
	}
	if resp := c.read(ctx, key); string(resp.Value) != "kept" {
		t.Fatalf("after a commit whose answer was lost: %v, want the value", resp)
	}
}

func TestRestartRecoversEveryGroup(t *testing.T) {
	ctx := testContext(t)
	// Snapshots every few entries, so recovery goes through them too.
	c := startCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries = 4 })
	want := map[string]string{}
	var last uint64
	for i := range 8 {
		k1, k2 := keyOnShard(t, fmt.Sprintf("a%d", i), 1), keyOnShard(t, fmt.Sprintf("b%d", i), 2)
		txn := map[string]string{string(k1): fmt.Sprint("x", i), string(k2): fmt.Sprint("y", i)}
		last = c.writeTxn(ctx, txn)
		for k, v := range txn {
			want[k] = v
		}
	}
	for i := range c.nodes {
		c.stop(i)
	}
	for i := range c.nodes {
		c.restart(i)
	}
	if ts := c.tso(ctx); ts <= last {
		t.Errorf("timestamp %d after the restart is not above %d, handed out before", ts, last)
	}
	for k, v := range want {
		if resp := c.read(ctx, []byte(k)); string(resp.Value) != v {
			t.Errorf("after restart, get %q = %v, want %q", k, resp, v)
		}
	}
}
