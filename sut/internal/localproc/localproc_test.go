package localproc

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExitedNamesTheMemberAndItsLog: a member that dies is reported with
// its exit status and what it wrote; one that runs is not.
func TestExitedNamesTheMemberAndItsLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	g, err := Start("/bin/sh", dir, []Member{
		{Name: "m1", Args: []string{"-c", "exec sleep 60"}},
		{Name: "m2", Args: []string{"-c", "echo no quorum for you >&2; exit 3"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	if pids := g.PIDs(); len(pids) != 2 || pids[0] == pids[1] {
		t.Errorf("PIDs = %v, want two processes", pids)
	}
	var exited error
	for deadline := time.Now().Add(time.Minute); exited == nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		exited = g.Exited()
	}
	if exited == nil {
		t.Fatal("a member that exited at once is not reported")
	}
	msg := exited.Error()
	for _, want := range []string{"member m2 exited", "exit status 3", "no quorum for you"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Exited() = %q, want it to say %q", msg, want)
		}
	}
	if strings.Contains(msg, "m1") {
		t.Errorf("Exited() = %q names m1, which still runs", msg)
	}
}

func TestStartFailsWholeOnAMissingBinary(t *testing.T) {
	_, err := Start(filepath.Join(t.TempDir(), "no-such-server"), t.TempDir(), []Member{{Name: "m1"}})
	if err == nil || !strings.Contains(err.Error(), "start member m1") {
		t.Errorf("Start of a missing binary: %v, want an error naming the member", err)
	}
}
