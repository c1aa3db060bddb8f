package etcd

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// etcdBinary is the server built from the nested module in server/, once
// per test binary; the Go build cache makes later builds quick.
var etcdBinary string

// testDir holds the binary and the shared cluster's data; TestMain removes
// it.
var testDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	testDir, err = os.MkdirTemp("", "squall-etcd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd tests:", err)
		return 1
	}
	defer os.RemoveAll(testDir)
	etcdBinary = filepath.Join(testDir, "etcd")
	// A failed build fails every test that needs a cluster: nothing here
	// is skipped because etcd could not be built.
	build := exec.Command("go", "build", "-trimpath", "-o", etcdBinary, ".")
	build.Dir = "server"
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "etcd tests: building the etcd server in sut/etcd/server: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.stop()
	}
	return code
}

// Members of test clusters elect more slowly than NodeArgs' default: the
// tests run beside others on a busy two-core machine, where a member can
// stall for longer than a second and call an election nobody needed.
var testTiming = timing{heartbeatMillis: 200, electionMillis: 2000}

// hangGuard bounds every wait in these tests. It is not a performance
// assertion: a healthy cluster needs a fraction of it.
const hangGuard = 2 * time.Minute

// shared is one cluster for the tests that do not kill members; each test
// uses keys of its own.
var shared struct {
	once    sync.Once
	cluster *testCluster
	err     error
}

func sharedCluster(t *testing.T) *testCluster {
	t.Helper()
	shared.once.Do(func() {
		shared.cluster, shared.err = startCluster(filepath.Join(testDir, "shared"), 3)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster
}

// testCluster is a static etcd cluster of local processes on 127.0.0.1,
// told apart by port.
type testCluster struct {
	dir     string
	members []member

	mu    sync.Mutex
	procs map[string]*process
}

type process struct {
	cmd    *exec.Cmd
	stderr *os.File
	exited chan struct{}
}

// newCluster starts a cluster of n members in its own temporary directory
// and stops it when the test ends.
func newCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c, err := startCluster(t.TempDir(), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

func startCluster(dir string, n int) (*testCluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &testCluster{dir: dir, procs: map[string]*process{}}
	localhost := netip.MustParseAddr("127.0.0.1")
	for i := range n {
		c.members = append(c.members, member{
			name:   fmt.Sprintf("m%d", i+1),
			client: netip.AddrPortFrom(localhost, ports[2*i]),
			peer:   netip.AddrPortFrom(localhost, ports[2*i+1]),
		})
	}
	for _, m := range c.members {
		if err := c.start(m.name); err != nil {
			c.stop()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := c.waitServing(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// freePorts asks the kernel for n distinct unused ports. They are free
// when returned; another process could take one before etcd binds it,
// which on a test machine is unlikely enough.
func freePorts(n int) ([]uint16, error) {
	var ports []uint16
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, uint16(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// start runs member name on its data directory: the first time that
// creates the member, every later time it rejoins with what it stored.
func (c *testCluster) start(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	stderr, err := os.OpenFile(filepath.Join(c.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := memberArgs(name, c.members, netip.MustParseAddr("127.0.0.1"), filepath.Join(c.dir, name+".data"), testToken, testTiming)
	cmd := exec.Command(etcdBinary, args...)
	cmd.Stderr = stderr
	// If the test binary dies without cleaning up (a panic, a timeout),
	// the kernel kills its members rather than leaving them holding
	// ports on a shared machine.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		stderr.Close()
		return fmt.Errorf("start etcd member %s: %w", name, err)
	}
	p := &process{cmd: cmd, stderr: stderr, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		stderr.Close()
		close(p.exited)
	}()
	c.procs[name] = p
	return nil
}

// kill ends member name with SIGKILL, as a crash would, and waits for it
// to be gone.
func (c *testCluster) kill(name string) {
	c.mu.Lock()
	p := c.procs[name]
	delete(c.procs, name)
	c.mu.Unlock()
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

func (c *testCluster) stop() {
	for _, m := range c.members {
		c.kill(m.name)
	}
}

// clientEndpoints are every member's client address, for Dial.
func (c *testCluster) clientEndpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.client.String())
	}
	return eps
}

// endpoints maps member names to client addresses, for Leader and Serving.
func (c *testCluster) endpoints() map[string]string {
	eps := map[string]string{}
	for _, m := range c.members {
		eps[m.name] = m.client.String()
	}
	return eps
}

func (c *testCluster) member(name string) member {
	for _, m := range c.members {
		if m.name == name {
			return m
		}
	}
	panic("no member " + name)
}

// waitServing polls Serving until it succeeds or ctx ends; the error then
// carries the last answer and the tail of every member's log.
func (c *testCluster) waitServing(ctx context.Context) error {
	var last error
	for {
		probe, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = Serving(probe, c.endpoints())
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster in %s not serving: %w\n%s", c.dir, last, c.logTails())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *testCluster) logTails() string {
	var b bytes.Buffer
	for _, m := range c.members {
		log, _ := os.ReadFile(filepath.Join(c.dir, m.name+".log"))
		if len(log) > 3000 {
			log = log[len(log)-3000:]
		}
		fmt.Fprintf(&b, "--- %s log tail ---\n%s\n", m.name, log)
	}
	return b.String()
}

// dial opens a Store on every member of c, closed when the test ends.
func dial(t *testing.T, c *testCluster, opts StoreOptions) *Store {
	t.Helper()
	s, err := Dial(c.clientEndpoints(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runs numbers test runs in this process, so that -count=N on the shared
// cluster does not find the keys an earlier run left.
var runs atomic.Int64

// namespace returns a function that puts a name under keys of the test's
// own, fresh for every run.
func namespace(t *testing.T) func(string) string {
	prefix := fmt.Sprintf("%s/%d/", t.Name(), runs.Add(1))
	return func(name string) string { return prefix + name }
}

// testContext bounds one test's calls by the hang guard.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}
