package nemesis

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
	"golang.org/x/sys/unix"
)

// newNamespace starts a process in a new network namespace with its
// loopback up and returns its PID; the process is killed when the test
// ends, and the namespace goes with it. It skips the test where network
// namespaces cannot be made (not root, no unshare or ip).
func newNamespace(t *testing.T) int {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("network namespaces need %s: %v", tool, err)
		}
	}
	cmd := exec.Command("unshare", "--net", "sh", "-c", "ip link set lo up && echo ready && exec sleep 3600")
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
		t.Skipf("new network namespace not ready (%q, %v)", line, err)
	}
	return cmd.Process.Pid
}

// removeDrops deletes the partition table from the network namespace of
// process pid, if it is there.
func removeDrops(pid int) error {
	return installDrops(pid, nil)
}

// inNamespace runs fn on an OS thread that has entered pid's network
// namespace; sockets fn creates live there.
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

// installedDrops reads the partition table of pid's namespace back: the
// addresses its input chain drops packets from and its output chain drops
// packets to. ok is false if there is no table. It fails the test on any
// rule that is not one of ours.
func installedDrops(t *testing.T, pid int) (from, to []netip.Addr, ok bool) {
	t.Helper()
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	table, err := c.ListTableOfFamily(tableName, nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil, false
	}
	if err != nil {
		t.Fatalf("list table %s in namespace of %d: %v", tableName, pid, err)
	}
	chains := map[string]struct {
		hook    *nftables.ChainHook
		payload func(addrLayout) uint32
		addrs   *[]netip.Addr
	}{
		"input":  {nftables.ChainHookInput, func(l addrLayout) uint32 { return l.src }, &from},
		"output": {nftables.ChainHookOutput, func(l addrLayout) uint32 { return l.dst }, &to},
	}
	for name, want := range chains {
		chain, err := c.ListChain(table, name)
		if err != nil {
			t.Fatalf("list chain %s: %v", name, err)
		}
		if *chain.Hooknum != *want.hook || *chain.Priority != *nftables.ChainPriorityFilter ||
			chain.Policy == nil || *chain.Policy != nftables.ChainPolicyAccept || chain.Type != nftables.ChainTypeFilter {
			t.Errorf("chain %s: hook %d priority %d policy %v type %s, want a filter chain at hook %d, priority filter, policy accept",
				name, *chain.Hooknum, *chain.Priority, chain.Policy, chain.Type, *want.hook)
		}
		rules, err := c.GetRules(table, chain)
		if err != nil {
			t.Fatalf("list rules of chain %s: %v", name, err)
		}
		for _, r := range rules {
			*want.addrs = append(*want.addrs, decodeDrop(t, name, r.Exprs, want.payload))
		}
	}
	return from, to, true
}

// decodeDrop reads the address out of a rule built by dropAddr, failing
// on anything else.
func decodeDrop(t *testing.T, chain string, exprs []expr.Any, offset func(addrLayout) uint32) netip.Addr {
	t.Helper()
	if len(exprs) != 5 {
		t.Fatalf("chain %s: rule of %d expressions, want 5: %#v", chain, len(exprs), exprs)
	}
	family, ok1 := exprs[1].(*expr.Cmp)
	payload, ok2 := exprs[2].(*expr.Payload)
	addr, ok3 := exprs[3].(*expr.Cmp)
	verdict, ok4 := exprs[4].(*expr.Verdict)
	if !ok1 || !ok2 || !ok3 || !ok4 || verdict.Kind != expr.VerdictDrop || len(family.Data) != 1 {
		t.Fatalf("chain %s: rule %#v is not a drop of one address", chain, exprs)
	}
	layout := ipv4Addr
	if family.Data[0] == unix.NFPROTO_IPV6 {
		layout = ipv6Addr
	}
	if payload.Base != expr.PayloadBaseNetworkHeader || payload.Offset != offset(layout) || payload.Len != layout.len {
		t.Fatalf("chain %s: rule matches payload %+v, want the address at offset %d", chain, payload, offset(layout))
	}
	a, ok := netip.AddrFromSlice(addr.Data)
	if !ok {
		t.Fatalf("chain %s: rule compares with %x, not an address", chain, addr.Data)
	}
	return a
}

func TestInstallDropsReplacesAndRemoves(t *testing.T) {
	pid := newNamespace(t)
	a, b := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("fd00::3")
	if err := installDrops(pid, []netip.Addr{a, b}); err != nil {
		t.Fatal(err)
	}
	from, to, ok := installedDrops(t, pid)
	if want := []netip.Addr{a, b}; !ok || !slices.Equal(from, want) || !slices.Equal(to, want) {
		t.Fatalf("table present %v, drops from %v to %v, want from and to %v", ok, from, to, want)
	}
	// Re-applying replaces the rules rather than adding to them.
	if err := installDrops(pid, []netip.Addr{b}); err != nil {
		t.Fatal(err)
	}
	if from, to, _ := installedDrops(t, pid); !slices.Equal(from, []netip.Addr{b}) || !slices.Equal(to, []netip.Addr{b}) {
		t.Fatalf("after re-applying: drops from %v to %v, want from and to [%v]", from, to, b)
	}
	for range 2 { // removing is idempotent
		if err := removeDrops(pid); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := installedDrops(t, pid); ok {
			t.Fatal("table still present after removeDrops")
		}
	}
}

// TestInstallDropsCutsTraffic checks the rules do what they say, over
// loopback addresses inside a namespace of the test's own: a node at
// 127.0.0.1 that holds a grudge against 127.0.0.2 accepts no connection
// from it, and still accepts one from 127.0.0.3.
func TestInstallDropsCutsTraffic(t *testing.T) {
	pid := newNamespace(t)
	var ln net.Listener
	inNamespace(t, pid, func() {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// dial connects to the listener from the source address, giving up
	// after timeout.
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

	if err := installDrops(pid, []netip.Addr{netip.MustParseAddr("127.0.0.2")}); err != nil {
		t.Fatal(err)
	}
	if err := dial("127.0.0.2", 300*time.Millisecond); err == nil {
		t.Error("127.0.0.2 connected through the grudge")
	}
	if err := dial("127.0.0.3", generous); err != nil {
		t.Errorf("127.0.0.3, not grudged, cannot connect: %v", err)
	}
	if err := removeDrops(pid); err != nil {
		t.Fatal(err)
	}
	if err := dial("127.0.0.2", generous); err != nil {
		t.Errorf("127.0.0.2 cannot connect after the heal: %v", err)
	}
}

func TestInstallDropsNodeGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	err := installDrops(cmd.Process.Pid, []netip.Addr{netip.MustParseAddr("10.99.0.2")})
	if err == nil {
		t.Fatal("installDrops into an exited process succeeded")
	}
	if want := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}
