package kv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/system/kv/kvpb"
)

// hangGuard bounds every wait of the process tests. It only turns a hang
// into a failure: nothing here is expected to come close to it.
const hangGuard = time.Minute

// processSnapshotEntries makes the processes snapshot often enough that
// restarts recover from snapshots, not only from the log.
const processSnapshotEntries = 100

// procCluster is a KV cluster of real `squall node` processes on loopback,
// each with its own data directory, which tests kill and restart.
type procCluster struct {
	t     testing.TB
	bin   string
	dir   string
	peers []Peer
	conns map[string]*grpc.ClientConn
	// extraArgs are appended to every node's command line (a flag given
	// twice takes its last value).
	extraArgs []string

	mu    sync.Mutex
	procs map[string]*nodeProc // the latest process of each node
}

// nodeProc is one run of a node's process.
type nodeProc struct {
	name       string
	cmd        *exec.Cmd
	ready      chan struct{} // closed at the first ready line
	exited     chan struct{} // closed once the process is reaped
	mu         sync.Mutex
	readyLines int
	otherLines []string // anything else printed on stdout
}

func (p *nodeProc) stdout() (readyLines int, other []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyLines, append([]string(nil), p.otherLines...)
}

func (p *nodeProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// startProcCluster builds squall and starts an n-node cluster.
func startProcCluster(t testing.TB, n int) *procCluster {
	if testing.Short() {
		t.Skip("starts real processes; skipped in -short mode")
	}
	c := &procCluster{t: t, bin: squallBinary(t), dir: t.TempDir(),
		conns: map[string]*grpc.ClientConn{}, procs: map[string]*nodeProc{}}
	for i, addr := range loopback.Addrs(t, n) {
		c.peers = append(c.peers, Peer{Name: fmt.Sprintf("n%d", i+1), Addr: addr})
	}
	for _, p := range c.peers {
		conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		c.conns[p.Name] = conn
	}
	t.Cleanup(c.cleanup)
	for _, p := range c.peers {
		c.start(p.Name)
	}
	return c
}

// cleanup kills what still runs and, if the test failed, shows the logs.
func (c *procCluster) cleanup() {
	c.mu.Lock()
	procs := c.procs
	c.mu.Unlock()
	for _, p := range procs {
		if p.running() {
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	for _, conn := range c.conns {
		conn.Close()
	}
	if c.t.Failed() {
		for _, p := range c.peers {
			if log, err := os.ReadFile(c.logPath(p.Name)); err == nil {
				c.t.Logf("log of %s (last 4 KiB):\n%s", p.Name, tail(log, 4096))
			}
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (c *procCluster) peersFlag() string {
	items := make([]string, len(c.peers))
	for i, p := range c.peers {
		items[i] = p.Name + "=" + p.Addr
	}
	return strings.Join(items, ",")
}

func (c *procCluster) dataDir(name string) string { return filepath.Join(c.dir, name) }
func (c *procCluster) logPath(name string) string { return filepath.Join(c.dir, name+".log") }

// start runs a node's process on its data directory and waits for its
// ready line.
func (c *procCluster) start(name string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, "node", "--id", name, "--peers", c.peersFlag(), "--data", c.dataDir(name),
		"--cluster", "process-test", "--tick", "20ms",
		"--snapshot-entries", strconv.Itoa(processSnapshotEntries), "--log-level", "debug")
	cmd.Args = append(cmd.Args, c.extraArgs...)
	logFile, err := os.OpenFile(c.logPath(name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	p := &nodeProc{name: name, cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		readyLine := regexp.MustCompile(`^squall node ` + regexp.QuoteMeta(name) + ` ready on \S+$`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			if readyLine.MatchString(sc.Text()) {
				p.readyLines++
				if p.readyLines == 1 {
					close(p.ready)
				}
			} else {
				p.otherLines = append(p.otherLines, sc.Text())
			}
			p.mu.Unlock()
		}
		cmd.Wait() // the exit status is read from cmd.ProcessState
		logFile.Close()
		close(p.exited)
	}()
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	select {
	case <-p.ready:
	case <-p.exited:
		c.t.Fatalf("node %s exited before its ready line: %v", name, cmd.ProcessState)
	case <-time.After(hangGuard):
		c.t.Fatalf("node %s printed no ready line in %v", name, hangGuard)
	}
}

func (c *procCluster) proc(name string) *nodeProc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

// kill sends SIGKILL to a node and checks that it died of it.
func (c *procCluster) kill(name string) {
	c.t.Helper()
	p := c.proc(name)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill %s: %v", name, err)
	}
	c.expectKilled(name)
}

// expectKilled waits for a node's process to end and checks that SIGKILL
// ended it and that it had printed exactly one ready line.
func (c *procCluster) expectKilled(name string) {
	c.t.Helper()
	p := c.waitExit(name)
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		c.t.Fatalf("node %s ended with %v, want killed by SIGKILL", name, p.cmd.ProcessState)
	}
}

// terminate sends SIGTERM to a node and checks that it exits 0.
func (c *procCluster) terminate(name string) {
	c.t.Helper()
	p := c.proc(name)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("signal %s: %v", name, err)
	}
	c.waitExit(name)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Fatalf("node %s exited with %v after SIGTERM, want exit status 0", name, p.cmd.ProcessState)
	}
}

func (c *procCluster) waitExit(name string) *nodeProc {
	c.t.Helper()
	p := c.proc(name)
	select {
	case <-p.exited:
	case <-time.After(hangGuard):
		c.t.Fatalf("node %s still running %v after it was told to stop", name, hangGuard)
	}
	if n, other := p.stdout(); n != 1 || len(other) > 0 {
		c.t.Errorf("node %s printed %d ready lines and other output %q on stdout, want exactly one ready line", name, n, other)
	}
	return p
}

// running returns the names of the nodes whose process runs.
func (c *procCluster) running() []string {
	var names []string
	for _, p := range c.peers {
		if proc := c.proc(p.Name); proc != nil && proc.running() {
			names = append(names, p.Name)
		}
	}
	return names
}

func (c *procCluster) status(ctx context.Context, name string) (*kvpb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return kvpb.NewKVClient(c.conns[name]).Status(ctx, &kvpb.StatusRequest{})
}

// leader waits until a majority of the cluster's nodes agree on a leader
// that says it leads, and returns it.
func (c *procCluster) leader() string {
	c.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		votes := map[string]int{}
		leading := map[string]bool{}
		for _, name := range c.running() {
			st, err := c.status(context.Background(), name)
			if err != nil {
				continue
			}
			if st.Leader != "" {
				votes[st.Leader]++
			}
			if st.Role == "leader" {
				leading[st.Id] = true
			}
		}
		for name, n := range votes {
			if leading[name] && n > len(c.peers)/2 {
				return name
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no leader agreed by a majority of %v within %v", c.running(), hangGuard)
	return ""
}

// waitConverged waits until every node has applied everything committed,
// the same on all, and returns that index.
func (c *procCluster) waitConverged() uint64 {
	c.t.Helper()
	deadline := time.Now().Add(hangGuard)
	var last []string
	for time.Now().Before(deadline) {
		last = last[:0]
		applied := map[uint64]bool{}
		answered := 0
		for _, p := range c.peers {
			st, err := c.status(context.Background(), p.Name)
			if err != nil {
				last = append(last, fmt.Sprintf("%s: %v", p.Name, err))
				continue
			}
			answered++
			last = append(last, fmt.Sprintf("%s: commit %d applied %d", p.Name, st.Commit, st.Applied))
			applied[st.Applied] = true
			applied[st.Commit] = true
		}
		if answered == len(c.peers) && len(applied) == 1 {
			for index := range applied {
				return index
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("nodes did not converge within %v: %v", hangGuard, last)
	return 0
}

// newClient returns a client of the cluster that the test closes.
func (c *procCluster) newClient() *Client {
	c.t.Helper()
	client, err := NewClient(ClientConfig{Peers: c.peers})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { client.Close() })
	return client
}

// outcome is what a writer learned of one write.
type outcome int

const (
	acked   outcome = iota // took effect
	failed                 // certainly did not take effect
	unknown                // may or may not have
)

func outcomeOf(err error) (outcome, error) {
	switch {
	case err == nil:
		return acked, nil
	case errors.Is(err, ErrDefinite):
		return failed, nil
	case errors.Is(err, ErrIndeterminate):
		return unknown, nil
	}
	return unknown, fmt.Errorf("error outside the taxonomy: %w", err)
}

// writeLog records what the writers were told about each write.
type writeLog struct {
	mu     sync.Mutex
	puts   map[string]putRecord    // by key; each key is written once
	tokens map[string]appendRecord // by token; each token is appended once
	acked  int
}

type putRecord struct {
	value   string
	outcome outcome
}

type appendRecord struct {
	key     string
	outcome outcome
}

func (l *writeLog) recordPut(key, value string, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.puts[key] = putRecord{value, o}
	if o == acked {
		l.acked++
	}
}

func (l *writeLog) recordAppend(key, token string, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens[token] = appendRecord{key, o}
	if o == acked {
		l.acked++
	}
}

func (l *writeLog) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

// tokenPattern matches the tokens writers append: <writer.op>.
var tokenPattern = regexp.MustCompile(`<\d+\.\d+>`)

const appendKeys = 3

// writeUntil writes until stop is closed: Puts of keys no other write
// touches, and Appends of unique tokens to a few shared keys, so that the
// final state shows whether each write took effect, and how often.
func writeUntil(t *testing.T, id int, client *Client, log *writeLog, stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if n%2 == 0 {
			key, value := fmt.Sprintf("put-%d-%d", id, n), fmt.Sprintf("value-%d-%d", id, n)
			_, err := client.Put(ctx, key, []byte(value))
			o, terr := outcomeOf(err)
			if terr != nil {
				t.Errorf("put %s: %v", key, terr)
			}
			log.recordPut(key, value, o)
		} else {
			key, token := fmt.Sprintf("list-%d", n/2%appendKeys), fmt.Sprintf("<%d.%d>", id, n)
			value, err := client.Append(ctx, key, []byte(token))
			o, terr := outcomeOf(err)
			if terr != nil {
				t.Errorf("append %s to %s: %v", token, key, terr)
			}
			if o == acked {
				if got := strings.Count(string(value), token); got != 1 {
					t.Errorf("append %s to %s answered value %q holding the token %d times, want once", token, key, value, got)
				}
			}
			log.recordAppend(key, token, o)
		}
		cancel()
	}
}

// waitProgress waits until the writers have had more writes acknowledged
// than after, and returns the new count: the cluster is available.
func waitProgress(t *testing.T, log *writeLog, after, more int, c *procCluster) int {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		if n := log.ackedCount(); n >= after+more {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("writers had %d writes acknowledged in %v with nodes %v running, want %d", log.ackedCount()-after, hangGuard, c.running(), more)
	return 0
}

// TestProcessCrashRestartKeepsAcknowledgedWrites runs writers against a
// cluster of real processes while it kills -9 and restarts the leader and
// then a follower, a few rounds, and checks that no acknowledged write is
// lost, no write is applied twice (the client retries a write in flight
// at a killed leader under the same session sequence number) and no write
// reported failed took effect, and that every node ends with the same data.
func TestProcessCrashRestartKeepsAcknowledgedWrites(t *testing.T) {
	c := startProcCluster(t, 3)
	c.leader()

	log := &writeLog{puts: map[string]putRecord{}, tokens: map[string]appendRecord{}}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for id := range 4 {
		client := c.newClient()
		writers.Add(1)
		go func() {
			defer writers.Done()
			writeUntil(t, id, client, log, stop)
		}()
	}
	stopWriters := sync.OnceFunc(func() {
		close(stop)
		writers.Wait()
	})
	defer stopWriters()

	progress := waitProgress(t, log, 0, 30, c)
	for round := range 3 {
		leader := c.leader()
		t.Logf("round %d: killing leader %s at %d acknowledged writes", round, leader, progress)
		c.kill(leader)
		progress = waitProgress(t, log, progress, 30, c)
		c.start(leader)
		progress = waitProgress(t, log, progress, 30, c)

		var followers []string
		leader = c.leader()
		for _, p := range c.peers {
			if p.Name != leader {
				followers = append(followers, p.Name)
			}
		}
		follower := followers[round%len(followers)]
		t.Logf("round %d: killing follower %s at %d acknowledged writes", round, follower, progress)
		c.kill(follower)
		progress = waitProgress(t, log, progress, 30, c)
		c.start(follower)
		progress = waitProgress(t, log, progress, 30, c)
	}
	stopWriters()

	client := c.newClient()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	checkWrites(t, ctx, client, log)

	c.waitConverged()
	checkNodesAgree(t, ctx, c, client, log)

	for _, p := range c.peers {
		c.terminate(p.Name)
	}
}

// checkWrites reads every written key through the client and checks it
// against what the writers were told.
func checkWrites(t *testing.T, ctx context.Context, client *Client, log *writeLog) {
	t.Helper()
	var count [3]int
	for key, rec := range log.puts {
		count[rec.outcome]++
		got, err := client.Get(ctx, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		switch {
		case rec.outcome == acked && (!got.Found || string(got.Kv.Value) != rec.value):
			t.Errorf("acknowledged put %s=%s lost: read %v", key, rec.value, got)
		case rec.outcome == failed && got.Found:
			t.Errorf("put %s=%s reported failed, but read %v", key, rec.value, got)
		case rec.outcome == unknown && got.Found && string(got.Kv.Value) != rec.value:
			t.Errorf("put %s=%s of unknown outcome, but read %v", key, rec.value, got)
		}
	}
	seen := map[string]int{}
	for i := range appendKeys {
		key := fmt.Sprintf("list-%d", i)
		got, err := client.Get(ctx, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		value := string(got.GetKv().GetValue())
		if rest := tokenPattern.ReplaceAllString(value, ""); rest != "" {
			t.Errorf("%s holds %q besides tokens", key, rest)
		}
		for _, token := range tokenPattern.FindAllString(value, -1) {
			seen[token]++
			if rec, ok := log.tokens[token]; !ok || rec.key != key {
				t.Errorf("%s holds token %s, which no writer appended to it", key, token)
			}
		}
	}
	for token, rec := range log.tokens {
		count[rec.outcome]++
		switch n := seen[token]; {
		case n > 1:
			t.Errorf("token %s appended to %s %d times, want at most once", token, rec.key, n)
		case rec.outcome == acked && n != 1:
			t.Errorf("acknowledged append of %s to %s lost", token, rec.key)
		case rec.outcome == failed && n != 0:
			t.Errorf("append of %s to %s reported failed, but it took effect", token, rec.key)
		}
	}
	t.Logf("writes: %d acknowledged, %d failed, %d of unknown outcome", count[acked], count[failed], count[unknown])
}

// checkNodesAgree reads every written key from each node (a linearizable
// read on each) and checks that all nodes serve the same value and version.
func checkNodesAgree(t *testing.T, ctx context.Context, c *procCluster, client *Client, log *writeLog) {
	t.Helper()
	keys := make([]string, 0, len(log.puts)+appendKeys)
	for key := range log.puts {
		keys = append(keys, key)
	}
	for i := range appendKeys {
		keys = append(keys, fmt.Sprintf("list-%d", i))
	}
	for _, key := range keys {
		var first *kvpb.GetResponse
		for _, p := range c.peers {
			got, err := client.GetFrom(ctx, p.Name, key)
			if err != nil {
				t.Fatalf("get %s from %s: %v", key, p.Name, err)
			}
			if first == nil {
				first = got
			} else if !proto.Equal(got, first) {
				t.Errorf("%s serves %s as %v, %s as %v", p.Name, key, got, c.peers[0].Name, first)
			}
		}
	}
}

// appendRaw sends one Append with the session the caller chose to the
// leader, retrying at whichever node leads until a node answers other than
// "not the leader" or "unavailable".
func (c *procCluster) appendRaw(ctx context.Context, req *kvpb.AppendRequest) (*kvpb.AppendResponse, error) {
	c.t.Helper()
	for {
		leader := c.leader()
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := kvpb.NewKVClient(c.conns[leader]).Append(actx, req)
		cancel()
		switch status.Code(err) {
		case codes.FailedPrecondition, codes.Unavailable, codes.DeadlineExceeded:
			if ctx.Err() != nil {
				return nil, err
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return resp, err
	}
}

// snapshotIndexes returns the indexes of the snapshot files in a node's
// data directory (named by index in hex, see system/raft/wal).
func snapshotIndexes(t *testing.T, dataDir string) []uint64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, "snap"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var indexes []uint64
	for _, e := range entries {
		hex, ok := strings.CutSuffix(e.Name(), ".snap")
		if !ok {
			continue
		}
		if index, err := strconv.ParseUint(hex, 16, 64); err == nil {
			indexes = append(indexes, index)
		}
	}
	return indexes
}

// TestProcessDedupTableSurvivesRestartAndSnapshot checks exactly-once
// across restarts: a write whose session record is only in a snapshot (the
// log entry that made it is compacted into the snapshot on every node) is
// recognised as a retry after every node restarts, and after the leader
// changes, and answered as the first time rather than applied again.
func TestProcessDedupTableSurvivesRestartAndSnapshot(t *testing.T) {
	c := startProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*hangGuard)
	defer cancel()

	// A session no real client uses, so the test controls its numbers.
	session := &kvpb.Session{ClientId: 0x5eed, Seq: 1}
	first, err := c.appendRaw(ctx, &kvpb.AppendRequest{Session: session, Key: "dedup", Value: []byte("<once>")})
	if err != nil {
		t.Fatalf("first append: %v", err)
	}
	if string(first.Value) != "<once>" {
		t.Fatalf("first append answered %q, want <once>", first.Value)
	}

	// Enough other writes that every node snapshots past the append.
	client := c.newClient()
	for i := 0; ; i++ {
		if _, err := client.Put(ctx, fmt.Sprintf("filler-%d", i), []byte("x")); err != nil {
			t.Fatalf("filler put %d: %v", i, err)
		}
		if i%10 != 0 {
			continue
		}
		snapshotted := 0
		for _, p := range c.peers {
			for _, index := range snapshotIndexes(t, c.dataDir(p.Name)) {
				if index > first.Version {
					snapshotted++
					break
				}
			}
		}
		if snapshotted == len(c.peers) {
			break
		}
		if i > 50*processSnapshotEntries {
			t.Fatalf("after %d writes, only %d of %d nodes have a snapshot past index %d", i, snapshotted, len(c.peers), first.Version)
		}
	}

	for _, p := range c.peers {
		c.terminate(p.Name)
	}
	for _, p := range c.peers {
		c.start(p.Name)
	}

	retry := func(when string) {
		t.Helper()
		again, err := c.appendRaw(ctx, &kvpb.AppendRequest{Session: session, Key: "dedup", Value: []byte("<once>")})
		if err != nil {
			t.Fatalf("retry %s: %v", when, err)
		}
		if !proto.Equal(again, first) {
			t.Fatalf("retry %s answered %v, want the first answer %v", when, again, first)
		}
		got, err := client.Get(ctx, "dedup")
		if err != nil {
			t.Fatalf("get after retry %s: %v", when, err)
		}
		if string(got.Kv.Value) != "<once>" {
			t.Fatalf("after retry %s the value is %q, want the token once", when, got.Kv.Value)
		}
	}
	retry("after every node restarted")

	// Another node's table must hold the session too.
	leader := c.leader()
	c.kill(leader)
	retry("after leader " + leader + " was killed")
	c.start(leader)

	// The session goes on: its next number applies.
	session.Seq = 2
	next, err := c.appendRaw(ctx, &kvpb.AppendRequest{Session: session, Key: "dedup", Value: []byte("<twice>")})
	if err != nil || string(next.Value) != "<once><twice>" {
		t.Fatalf("append with the next sequence number = %v, %v; want <once><twice>", next, err)
	}
}
