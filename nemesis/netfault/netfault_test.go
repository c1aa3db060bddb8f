package netfault

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// These tests do what the sidecar does, in network namespaces of their
// own: they need root (as CI runs), and skip without it.

// newNamespace starts a process in a new network namespace with its
// loopback up, after running setup (shell commands) in it, and returns
// its PID; the process is killed when the test ends, and the namespace
// goes with it.
func newNamespace(t *testing.T, setup string) int {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("network namespaces need %s: %v", tool, err)
		}
	}
	script := "ip link set lo up && "
	if setup != "" {
		script += setup + " && "
	}
	cmd := exec.Command("unshare", "--net", "sh", "-c", script+"echo ready && exec sleep 3600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("start a process in a new network namespace: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("new network namespace not ready (%q, %v)", line, err)
	}
	return cmd.Process.Pid
}

// inNamespace runs fn on an OS thread that has entered pid's network
// namespace, as the whole agent process is in the sidecar; sockets fn
// creates live there.
func inNamespace(t *testing.T, pid int, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter network namespace of %d: %v", pid, err)
	}
	defer func() {
		// A thread that cannot go back must not run other goroutines:
		// staying locked makes the runtime end it.
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("leave network namespace of %d: %v", pid, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

func apply(t *testing.T, pid int, c Change) {
	t.Helper()
	var err error
	inNamespace(t, pid, func() { err = Apply(c) })
	if err != nil {
		t.Fatalf("apply %+v: %v", c, err)
	}
}

// rule is a rule of a family's table, read back.
type rule struct {
	chain   string
	addr    netip.Addr
	percent int // 0 for a drop of every packet
}

// installed reads family's table back; ok is false if there is none. It
// fails the test on any rule that is not one of ours.
func installed(t *testing.T, pid int, family string) (rules []rule, ok bool) {
	t.Helper()
	inNamespace(t, pid, func() {
		c, err := nftables.New()
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := c.ListTableOfFamily(TablePrefix+family, nftables.TableFamilyINet)
		if errors.Is(err, unix.ENOENT) {
			return
		}
		if err != nil {
			t.Fatalf("list table of %s: %v", family, err)
		}
		ok = true
		for _, name := range []string{"input", "output"} {
			chain, err := c.ListChain(tbl, name)
			if err != nil {
				t.Fatalf("list chain %s: %v", name, err)
			}
			if chain.Policy == nil || *chain.Policy != nftables.ChainPolicyAccept || chain.Type != nftables.ChainTypeFilter {
				t.Errorf("chain %s: policy %v type %s, want a filter chain that accepts by default", name, chain.Policy, chain.Type)
			}
			rs, err := c.GetRules(tbl, chain)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				rules = append(rules, decodeRule(t, name, r.Exprs))
			}
		}
	})
	return rules, ok
}

// decodeRule reads a rule built by dropAddr back.
func decodeRule(t *testing.T, chain string, exprs []expr.Any) rule {
	t.Helper()
	// The kernel keeps the byteorder conversion of a share, but the
	// nftables library does not decode it: 7 expressions read back.
	if len(exprs) != 5 && len(exprs) != 7 {
		t.Fatalf("chain %s: rule of %d expressions: %#v", chain, len(exprs), exprs)
	}
	payload, ok1 := exprs[2].(*expr.Payload)
	addr, ok2 := exprs[3].(*expr.Cmp)
	verdict, ok3 := exprs[len(exprs)-1].(*expr.Verdict)
	if !ok1 || !ok2 || !ok3 || verdict.Kind != expr.VerdictDrop {
		t.Fatalf("chain %s: rule %#v is not a drop", chain, exprs)
	}
	a, _ := netip.AddrFromSlice(addr.Data)
	layout := layoutOf(a)
	if want := map[string]uint32{"input": layout.src, "output": layout.dst}[chain]; payload.Offset != want {
		t.Fatalf("chain %s: matches the address at offset %d, want %d", chain, payload.Offset, want)
	}
	r := rule{chain: chain, addr: a}
	if len(exprs) == 7 {
		ng, ok := exprs[4].(*expr.Numgen)
		lt, ok2 := exprs[5].(*expr.Cmp)
		if !ok || !ok2 || ng.Modulus != 100 || lt.Op != expr.CmpOpLt {
			t.Fatalf("chain %s: rule %#v is not a random share", chain, exprs)
		}
		r.percent = int(lt.Data[3])
	}
	return r
}

func TestApplyReplacesAndRemoves(t *testing.T) {
	pid := newNamespace(t, "")
	a, b := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("fd00::3")
	apply(t, pid, Change{Family: "partition", Drop: []netip.Addr{a, b}})
	rules, ok := installed(t, pid, "partition")
	want := []rule{{"input", a, 0}, {"input", b, 0}, {"output", a, 0}, {"output", b, 0}}
	if !ok || !slices.Equal(rules, want) {
		t.Fatalf("table present %v, rules %v, want %v", ok, rules, want)
	}
	// Re-applying replaces the rules rather than adding to them.
	apply(t, pid, Change{Family: "partition", Loss: []Loss{{Addr: b, Percent: 30}}})
	if rules, _ := installed(t, pid, "partition"); !slices.Equal(rules, []rule{{"input", b, 30}, {"output", b, 30}}) {
		t.Fatalf("after re-applying: %v, want a 30%% share of %v both ways", rules, b)
	}
	for range 2 { // healing is idempotent
		apply(t, pid, Change{Family: "partition"})
		if _, ok := installed(t, pid, "partition"); ok {
			t.Fatal("table still present after healing")
		}
	}
}

// TestFamiliesKeepTheirOwnTables: a partition and a loss in force at
// once; healing one leaves the other.
func TestFamiliesKeepTheirOwnTables(t *testing.T) {
	pid := newNamespace(t, "")
	a := netip.MustParseAddr("10.99.0.2")
	apply(t, pid, Change{Family: "partition", Drop: []netip.Addr{a}})
	apply(t, pid, Change{Family: "loss", Loss: []Loss{{Addr: a, Percent: 20}}})
	apply(t, pid, Change{Family: "loss"})
	if rules, ok := installed(t, pid, "partition"); !ok || len(rules) != 2 {
		t.Fatalf("healing loss left the partition with %v (table %v)", rules, ok)
	}
	apply(t, pid, Change{Family: "loss", Loss: []Loss{{Addr: a, Percent: 20}}})
	apply(t, pid, Change{Family: "partition"})
	if rules, ok := installed(t, pid, "loss"); !ok || len(rules) != 2 {
		t.Fatalf("healing the partition left loss with %v (table %v)", rules, ok)
	}
}

// serve accepts and closes connections on a listener in pid's namespace.
func serve(t *testing.T, pid int) net.Listener {
	t.Helper()
	var ln net.Listener
	inNamespace(t, pid, func() {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// TestDropCutsTraffic checks the rules do what they say, over loopback
// addresses: a node at 127.0.0.1 that drops 127.0.0.2 accepts no
// connection from it, and still accepts one from 127.0.0.3.
func TestDropCutsTraffic(t *testing.T) {
	pid := newNamespace(t, "")
	ln := serve(t, pid)
	dial := func(source string, timeout time.Duration) (err error) {
		inNamespace(t, pid, func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: timeout}
			var c net.Conn
			if c, err = d.Dial("tcp", ln.Addr().String()); err == nil {
				c.Close()
			}
		})
		return err
	}
	const generous = time.Minute // a hang guard: a connection that works is immediate

	apply(t, pid, Change{Family: "partition", Drop: []netip.Addr{netip.MustParseAddr("127.0.0.2")}})
	if err := dial("127.0.0.2", 300*time.Millisecond); err == nil {
		t.Error("127.0.0.2 connected through the partition")
	}
	if err := dial("127.0.0.3", generous); err != nil {
		t.Errorf("127.0.0.3, not cut off, cannot connect: %v", err)
	}
	apply(t, pid, Change{Family: "partition"})
	if err := dial("127.0.0.2", generous); err != nil {
		t.Errorf("127.0.0.2 cannot connect after the heal: %v", err)
	}
}

// TestLossDropsAShare sends datagrams from 127.0.0.2 to 127.0.0.1 with a
// 50% loss rule on 127.0.0.2: about half arrive. (With 2,000 datagrams,
// fewer than 35% or more than 65% arriving has a chance under 1e-40.)
func TestLossDropsAShare(t *testing.T) {
	pid := newNamespace(t, "")
	apply(t, pid, Change{Family: "loss", Loss: []Loss{{Addr: netip.MustParseAddr("127.0.0.2"), Percent: 50}}})
	const sent = 2000
	received := 0
	inNamespace(t, pid, func() {
		rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		rx.SetReadBuffer(4 << 20)
		tx, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}, rx.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Close()
		for range sent {
			if _, err := tx.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 16)
		for {
			rx.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := rx.Read(buf); err != nil {
				break
			}
			received++
		}
	})
	if received < sent*35/100 || received > sent*65/100 {
		t.Errorf("%d of %d datagrams arrived through a 50%% loss rule", received, sent)
	}
}

// rootQdisc is the root queue of link name in pid's namespace.
func rootQdisc(t *testing.T, pid int, name string) (q netlink.Qdisc) {
	t.Helper()
	inNamespace(t, pid, func() {
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		qs, err := netlink.QdiscList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range qs {
			if x.Attrs().Parent == netlink.HANDLE_ROOT {
				q = x
			}
		}
	})
	return q
}

// TestShapeSetsAndRemovesTheRootQueue limits a veth's rate with tbf, then
// heals it; a delay needs netem, which this kernel may lack: then Apply
// says the fault is unsupported.
func TestShapeSetsAndRemovesTheRootQueue(t *testing.T) {
	pid := newNamespace(t, "ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up")
	apply(t, pid, Change{Family: "loss", Rate: 64 << 10})
	q := rootQdisc(t, pid, "v0")
	tbf, ok := q.(*netlink.Tbf)
	if !ok || tbf.Attrs().Handle != rootHandle || tbf.Rate != 64<<10 {
		t.Fatalf("root queue of v0 is %v, want squall's tbf at 64 KiB/s", q)
	}
	if q := rootQdisc(t, pid, "lo"); q != nil && q.Attrs().Handle == rootHandle {
		t.Errorf("loopback was shaped too: %v", q)
	}
	apply(t, pid, Change{Family: "loss"})
	if q := rootQdisc(t, pid, "v0"); q != nil && q.Attrs().Handle == rootHandle {
		t.Fatalf("root queue %v still squall's after healing", q)
	}

	var err error
	inNamespace(t, pid, func() { err = Apply(Change{Family: "loss", Delay: 50 * time.Millisecond}) })
	switch {
	case errors.Is(err, ErrUnsupported):
		if !strings.Contains(err.Error(), "netem") {
			t.Errorf("unsupported delay: %v, want the error to name netem", err)
		}
	case err != nil:
		t.Fatal(err)
	default:
		if _, ok := rootQdisc(t, pid, "v0").(*netlink.Netem); !ok {
			t.Errorf("root queue after a delay is %v, want netem", rootQdisc(t, pid, "v0"))
		}
	}
}

func TestProbe(t *testing.T) {
	pid := newNamespace(t, "")
	var got map[string]error
	inNamespace(t, pid, func() { got = Probe() })
	if got[FeatureNftables] != nil || got[FeatureTbf] != nil {
		t.Errorf("probe: %v; want nftables and tbf to work on this kernel", got)
	}
	if err := got[FeatureNetem]; err != nil && !errors.Is(err, ErrUnsupported) {
		t.Errorf("probe of netem: %v, want nil or unsupported", err)
	}
	if _, ok := installed(t, pid, "probe"); ok {
		t.Error("the probe left its table behind")
	}
}

func TestValidate(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	for _, tc := range []struct {
		c    Change
		want string
	}{
		{Change{Family: "Partition"}, "family"},
		{Change{Family: "partition", Drop: []netip.Addr{{}}}, "empty"},
		{Change{Family: "loss", Loss: []Loss{{Addr: a, Percent: 0}}}, "0%"},
		{Change{Family: "loss", Loss: []Loss{{Addr: a, Percent: 101}}}, "101%"},
		{Change{Family: "partition", Rate: 1 << 20}, "only loss"},
		{Change{Family: "loss", Rate: 1 << 20, Delay: time.Millisecond}, "one at a time"},
		{Change{Family: "loss", Delay: time.Millisecond, Jitter: time.Second}, "jitter"},
		{Change{Family: "loss", Rate: 10}, "at least"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error saying %q", tc.c, err, tc.want)
		}
	}
	if err := (Change{Family: "loss", Loss: []Loss{{Addr: a, Percent: 100}}, Rate: 0}).Validate(); err != nil {
		t.Error(err)
	}
}
