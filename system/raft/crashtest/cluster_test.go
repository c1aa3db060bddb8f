package crashtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/squall-chaos/squall/internal/loopback"
)

// hangGuard bounds every wait of the controller. It is far longer than
// any wait should take on a slow machine: it only turns a hang into a
// failure.
const hangGuard = 90 * time.Second

// cluster is the controller's side: it starts, kills and stops the node
// processes and collects what they report.
type cluster struct {
	t     *testing.T
	dir   string
	ids   []uint64
	peers map[uint64]string

	// Owned by the test goroutine.
	procs  map[uint64]*process // running processes; absent while down
	starts map[uint64]int

	mu            sync.Mutex
	changed       chan struct{} // closed and replaced whenever a report arrives
	acked         map[string]uint64
	leaderTerm    map[uint64]uint64 // highest term each node reported leading in
	markerApplied map[string]map[uint64]bool
	markerFailed  map[string]string
	quiesced      map[uint64]bool
	snapshots     int
	restores      int
	installs      int
	problems      []string // unexpected exits and reports; fail the test at the next wait
}

// process is one run of a node.
type process struct {
	id    uint64
	start int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	// expectExit is set before the controller kills or stops the process.
	expectExit atomic.Bool
	exited     chan struct{} // closed once cmd.Wait returned
	waitErr    error         // cmd.Wait's result, once exited is closed
}

// newCluster reserves a loopback port per node and starts the nodes.
func newCluster(t *testing.T, size int) *cluster {
	c := &cluster{
		t:             t,
		dir:           t.TempDir(),
		peers:         map[uint64]string{},
		procs:         map[uint64]*process{},
		starts:        map[uint64]int{},
		changed:       make(chan struct{}),
		acked:         map[string]uint64{},
		leaderTerm:    map[uint64]uint64{},
		markerApplied: map[string]map[uint64]bool{},
		markerFailed:  map[string]string{},
		quiesced:      map[uint64]bool{},
	}
	for i, addr := range loopback.Addrs(t, size) {
		id := uint64(i + 1)
		c.ids = append(c.ids, id)
		c.peers[id] = addr
		if err := os.MkdirAll(c.nodeDir(id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.cleanup)
	for _, id := range c.ids {
		c.start(id)
	}
	return c
}

func (c *cluster) nodeDir(id uint64) string { return filepath.Join(c.dir, fmt.Sprintf("n%d", id)) }

// start starts node id from its directory.
func (c *cluster) start(id uint64) {
	c.t.Helper()
	c.starts[id]++
	cfg, err := json.Marshal(nodeConfig{ID: id, Dir: c.nodeDir(id), Peers: c.peers, Incarnation: c.starts[id]})
	if err != nil {
		c.t.Fatal(err)
	}
	stderrPath := filepath.Join(c.nodeDir(id), stderrFile)
	stderr, err := os.OpenFile(stderrPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer stderr.Close() // the child has its own descriptor
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), nodeEnv+"="+string(cfg))
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	p := &process{id: id, start: c.starts[id], cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	c.procs[id] = p
	c.mu.Lock()
	c.quiesced[id] = false
	c.mu.Unlock()
	go c.watch(p, stdout)
}

// watch reads p's reports until it exits, then reaps it.
func (c *cluster) watch(p *process, stdout io.Reader) {
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			// A line cut short by a kill was never fully reported.
			break
		}
		c.report(p, strings.TrimSuffix(line, "\n"))
	}
	p.waitErr = p.cmd.Wait()
	if !p.expectExit.Load() {
		c.problem("node %d (start %d) exited unexpectedly: %v; see its %s", p.id, p.start, p.waitErr, stderrFile)
	}
	close(p.exited)
}

func (c *cluster) report(p *process, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notifyLocked()
	verb, arg, _ := strings.Cut(line, " ")
	switch verb {
	case "ack":
		if by, dup := c.acked[arg]; dup {
			c.problems = append(c.problems, fmt.Sprintf("value %q acked twice, by nodes %d and %d", arg, by, p.id))
		}
		c.acked[arg] = p.id
	case "leader":
		term, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			c.problems = append(c.problems, fmt.Sprintf("node %d: bad report %q: %v", p.id, line, err))
			return
		}
		c.leaderTerm[p.id] = max(c.leaderTerm[p.id], term)
	case "applied":
		if c.markerApplied[arg] == nil {
			c.markerApplied[arg] = map[uint64]bool{}
		}
		c.markerApplied[arg][p.id] = true
	case "marker-failed":
		v, err, _ := strings.Cut(arg, " ")
		c.markerFailed[v] = err
	case "quiesced":
		c.quiesced[p.id] = true
	case "snapshot":
		c.snapshots++
	case "restored":
		c.restores++
	case "installed":
		c.installs++
	default:
		c.problems = append(c.problems, fmt.Sprintf("node %d: unknown report %q", p.id, line))
	}
}

func (c *cluster) problem(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
	c.notifyLocked()
}

func (c *cluster) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitFor waits until cond, called with c.mu held, holds. It fails the
// test if a problem was reported meanwhile.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	guard := time.NewTimer(hangGuard)
	defer guard.Stop()
	for {
		c.mu.Lock()
		ok, problems, changed := cond(), slices.Clone(c.problems), c.changed
		c.mu.Unlock()
		if len(problems) > 0 {
			c.t.Fatalf("waiting for %s: %s", what, strings.Join(problems, "; "))
		}
		if ok {
			return
		}
		select {
		case <-changed:
		case <-guard.C:
			c.t.Fatalf("no %s within %v", what, hangGuard)
		}
	}
}

func (c *cluster) ackCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked)
}

// waitAcks waits for n acks more than there are now.
func (c *cluster) waitAcks(n int) {
	c.t.Helper()
	want := c.ackCount() + n
	c.waitFor(fmt.Sprintf("%d acks", want), func() bool { return len(c.acked) >= want })
}

// leader returns the running node that reported leadership of the highest
// term, or 0 if that node is down.
func (c *cluster) leader() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lead, term uint64
	for id, t := range c.leaderTerm {
		if t > term {
			lead, term = id, t
		}
	}
	if c.procs[lead] == nil {
		return 0
	}
	return lead
}

// kill SIGKILLs node id and reaps it.
func (c *cluster) kill(id uint64) {
	c.t.Helper()
	p := c.procs[id]
	p.expectExit.Store(true)
	if err := p.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("kill node %d: %v", id, err)
	}
	c.waitExit(p)
	delete(c.procs, id)
}

// stop SIGTERMs node id, waits for it to exit cleanly and returns the
// values it applied.
func (c *cluster) stop(id uint64) []string {
	c.t.Helper()
	p := c.procs[id]
	p.expectExit.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("stop node %d: %v", id, err)
	}
	c.waitExit(p)
	delete(c.procs, id)
	if p.waitErr != nil {
		c.t.Fatalf("node %d did not stop cleanly: %v", id, p.waitErr)
	}
	path := filepath.Join(c.nodeDir(id), appliedFile)
	b, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatalf("node %d's applied values: %v", id, err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func (c *cluster) waitExit(p *process) {
	c.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(hangGuard):
		c.t.Fatalf("node %d did not exit within %v", p.id, hangGuard)
	}
}

// command sends cmd to node id's stdin.
func (c *cluster) command(id uint64, cmd string) {
	c.t.Helper()
	if _, err := fmt.Fprintln(c.procs[id].stdin, cmd); err != nil {
		c.t.Fatalf("send %q to node %d: %v", cmd, id, err)
	}
}

// quiesce stops every node's proposers and waits until none has a
// proposal in flight. Afterwards only markers are proposed.
func (c *cluster) quiesce() {
	c.t.Helper()
	for id := range c.procs {
		c.command(id, "quiesce")
	}
	c.waitFor("every node quiesced", func() bool {
		for id := range c.procs {
			if !c.quiesced[id] {
				return false
			}
		}
		return true
	})
}

// commitMarker commits a marker value through the leader, trying again
// with a new value until one is acked, and returns it. With the cluster
// quiesced, nothing can commit after it: an earlier marker with an
// unknown outcome is either in the log before it or never commits.
func (c *cluster) commitMarker() string {
	c.t.Helper()
	for attempt := 1; ; attempt++ {
		v := fmt.Sprintf("%s%d", markerPrefix, attempt)
		id := c.leader()
		if id == 0 {
			id = c.ids[attempt%len(c.ids)]
		}
		c.command(id, "marker "+v)
		var acked, failed bool
		var failure string
		c.waitFor("outcome of "+v, func() bool {
			_, acked = c.acked[v]
			failure, failed = c.markerFailed[v]
			return acked || failed
		})
		if acked {
			return v
		}
		if attempt == 100 {
			c.t.Fatalf("no marker committed in %d attempts; last: %s at node %d: %s", attempt, v, id, failure)
		}
		time.Sleep(5 * tickInterval)
	}
}

// waitApplied waits until every node has applied marker v.
func (c *cluster) waitApplied(v string) {
	c.t.Helper()
	c.waitFor("every node to apply "+v, func() bool { return len(c.markerApplied[v]) == len(c.ids) })
}

// cleanup kills what is still running and, if the test failed, shows the
// nodes' logs.
func (c *cluster) cleanup() {
	for _, p := range c.procs {
		p.expectExit.Store(true)
		p.cmd.Process.Kill()
	}
	for _, p := range c.procs {
		select {
		case <-p.exited:
		case <-time.After(hangGuard):
			c.t.Errorf("node %d did not exit after SIGKILL", p.id)
		}
	}
	if c.t.Failed() {
		for _, id := range c.ids {
			c.t.Logf("node %d stderr (tail):\n%s", id, c.stderrTail(id, 16<<10))
		}
	}
}

func (c *cluster) stderrTail(id uint64, n int) string {
	b, err := os.ReadFile(filepath.Join(c.nodeDir(id), stderrFile))
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-n):])
}
