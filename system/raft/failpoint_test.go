package raft_test

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/raft"
)

// raft/before-apply armed with an error or a crash stops a follower
// before it applies an entry the others commit; restarted from its
// storage, it applies it.
func TestBeforeApplyFailpointStopsTheNodeUnapplied(t *testing.T) {
	for _, spec := range []string{"error(apply failed)", "crash"} {
		t.Run(spec, func(t *testing.T) {
			fps := map[uint64]*fault.Failpoints{}
			var crashes atomic.Int32
			c := newCluster(t, 3, func(cfg *raft.NodeConfig) {
				if fps[cfg.ID] == nil {
					fps[cfg.ID] = fault.NewFailpoints(fault.SystemClock(), nil)
					// The node's own goroutine calls it: it must not wait
					// for the node. Eval then fails the apply.
					fps[cfg.ID].SetCrash(func() { crashes.Add(1) })
				}
				cfg.Failpoints = fps[cfg.ID]
			})
			c.propose("a")
			c.waitApplied([]string{"a"})

			f := c.ids[0]
			if c.leader() == f {
				f = c.ids[1]
			}
			if err := fps[f].Arm(raft.FailBeforeApply, spec); err != nil {
				t.Fatal(err)
			}
			c.propose("b") // the leader and the other follower commit it
			select {
			case <-c.nodes[f].Done():
			case <-time.After(30 * time.Second):
				t.Fatalf("node %d with %s armed %s did not stop", f, raft.FailBeforeApply, spec)
			}
			if err := c.nodes[f].Err(); !errors.Is(err, fault.ErrInjected) {
				t.Errorf("node %d stopped with %v, want the injected failure", f, err)
			}
			if got := c.sms[f].snapshot(); !slices.Equal(got, []string{"a"}) {
				t.Errorf("node %d applied %v before the failpoint stopped it, want [a]", f, got)
			}
			if want := int32(map[bool]int{true: 1}[spec == "crash"]); crashes.Load() != want {
				t.Errorf("%d crashes, want %d", crashes.Load(), want)
			}

			fps[f].Disarm(raft.FailBeforeApply)
			c.crash(f)
			c.start(f)
			c.waitApplied([]string{"a", "b"})
		})
	}
}

// Sleeping at raft/before-apply holds the entries committed but not
// applied: the proposal waits for the sleep.
func TestBeforeApplyFailpointSleepDelaysTheApply(t *testing.T) {
	fps := fault.NewFailpoints(fault.SystemClock(), nil)
	c := newCluster(t, 1, func(cfg *raft.NodeConfig) { cfg.Failpoints = fps })
	c.propose("a")
	if err := fps.Arm(raft.FailBeforeApply, "1*sleep(200ms)"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.propose("b")
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("a proposal returned %v after it was made, while the apply slept 200ms", took)
	}
	c.waitApplied([]string{"a", "b"})
	if st := fps.List(); len(st) != 1 || st[0].Name != raft.FailBeforeApply || st[0].Description == "" || st[0].Fired != 1 {
		t.Errorf("registry lists %+v, want %s, described, fired once", st, raft.FailBeforeApply)
	}
}
