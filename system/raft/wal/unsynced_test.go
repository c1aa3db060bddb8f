package wal

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/raft"
)

// hangGuard bounds waits for the background flush; it only turns a hang
// into a failure.
const hangGuard = time.Minute

// crashingFailpoints returns a registry whose crash action only counts, so
// that a test can arm the WAL's points with crash and then abandon the
// storage itself, as the process's death would.
func crashingFailpoints() (*fault.Failpoints, *atomic.Int32) {
	fps := fault.NewFailpoints(fault.SystemClock(), nil)
	var crashes atomic.Int32
	fps.SetCrash(func() { crashes.Add(1) })
	return fps, &crashes
}

// abandonAndReopen simulates a crash of the process holding s and opens
// the directory again as the restarted process would.
func abandonAndReopen(t *testing.T, s *Storage, opts Options) *Storage {
	t.Helper()
	s.Abandon()
	return openTest(t, s.dir, opts)
}

// A crash between a Save's write and its fsync loses that Save's records
// in the power-loss mode, and only those: what earlier Saves synced
// survives. Without the mode, the same crash of the process leaves them in
// the page cache, and they survive too.
func TestCrashBeforeSyncLosesUnsyncedWritesOnlyInLoseUnsyncedMode(t *testing.T) {
	for _, lose := range []bool{true, false} {
		t.Run(map[bool]string{true: "lose-unsynced", false: "normal"}[lose], func(t *testing.T) {
			fps, crashes := crashingFailpoints()
			opts := Options{LoseUnsynced: lose, Failpoints: fps}
			s := openTest(t, t.TempDir(), opts)
			model := raft.NewMemoryStorage(testPeers)
			save(t, s, model, raft.HardState{Term: 1, Commit: 2}, entries(1, 3, 1), nil)
			synced := fileSize(t, lastSegment(t, s.dir))

			if err := fps.Arm(FailBeforeSync, "crash"); err != nil {
				t.Fatal(err)
			}
			err := s.Save(raft.HardState{Term: 1, Commit: 3}, entries(4, 6, 1), nil)
			if !errors.Is(err, fault.ErrInjected) || crashes.Load() != 1 {
				t.Fatalf("save at a wal/before-sync armed with crash = %v after %d crashes, want an injected failure after one", err, crashes.Load())
			}
			onDisk := fileSize(t, lastSegment(t, s.dir))
			if lose && onDisk != synced {
				t.Errorf("in lose-unsynced mode the segment grew from %d to %d bytes before any sync", synced, onDisk)
			}
			if !lose && onDisk == synced {
				t.Errorf("in normal mode the written records did not reach the operating system before the sync")
			}
			fps.Disarm(FailBeforeSync)

			s = abandonAndReopen(t, s, opts)
			if lose {
				checkSame(t, s, model) // exactly what the first Save synced
				return
			}
			last, _ := s.LastIndex()
			if last != 6 {
				t.Errorf("in normal mode the entries a killed process wrote, unsynced, were lost: last index %d, want 6", last)
			}
		})
	}
}

// The planted bug skip-fsync acknowledges Saves before their records are
// durable, and a background flush makes them durable every 30 s
// of the storage's clock. A process kill loses nothing (the page cache
// holds the records); a power cut (lose-unsynced mode) loses what Saves
// acknowledged since the last flush. Without the bug, a power cut loses
// nothing acknowledged.
func TestSkipFsyncLosesAcknowledgedEntriesOnlyToAPowerCut(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lose, skip    bool
		wantLastIndex uint64
		wantCommitted uint64
	}{
		{name: "skip-fsync and lose-unsynced", lose: true, skip: true, wantLastIndex: 3, wantCommitted: 3},
		{name: "skip-fsync alone", skip: true, wantLastIndex: 6, wantCommitted: 6},
		{name: "lose-unsynced alone", lose: true, wantLastIndex: 6, wantCommitted: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := fault.NewManualClock(time.Unix(0, 0))
			opts := Options{LoseUnsynced: tc.lose, SkipFsync: tc.skip, Clock: clock}
			s := openTest(t, t.TempDir(), opts)
			empty := fileSize(t, lastSegment(t, s.dir))
			if err := s.Save(raft.HardState{Term: 1, Commit: 3}, entries(1, 3, 1), nil); err != nil {
				t.Fatal(err)
			}
			if tc.skip {
				// A second of the storage's clock: the background flush
				// syncs what the first Save left unsynced.
				clock.Advance(skipFsyncFlushInterval)
				deadline := time.Now().Add(hangGuard)
				for fileSize(t, lastSegment(t, s.dir)) == empty {
					if time.Now().After(deadline) {
						t.Fatal("the background flush did not write the first Save's records out")
					}
					time.Sleep(time.Millisecond)
				}
			}
			if err := s.Save(raft.HardState{Term: 1, Commit: 6}, entries(4, 6, 1), nil); err != nil {
				t.Fatal(err)
			}

			s = abandonAndReopen(t, s, opts)
			last, _ := s.LastIndex()
			if commit := s.HardState().Commit; last != tc.wantLastIndex || commit != tc.wantCommitted {
				t.Errorf("after a crash the log ends at %d with commit %d, want %d and %d (every Save returned)",
					last, commit, tc.wantLastIndex, tc.wantCommitted)
			}
		})
	}
}

// Armed with an error, either WAL failpoint fails the Save as a failed
// fsync would: the storage refuses every later write, and a reopen
// recovers. What the Save wrote is durable only past wal/after-sync.
func TestWALFailpointErrorsFailTheStorage(t *testing.T) {
	for _, tc := range []struct {
		point   string
		durable bool
	}{
		{FailBeforeSync, false},
		{FailAfterSync, true},
	} {
		t.Run(tc.point, func(t *testing.T) {
			fps, _ := crashingFailpoints()
			opts := Options{LoseUnsynced: true, Failpoints: fps}
			s := openTest(t, t.TempDir(), opts)
			if err := s.Save(raft.HardState{Term: 1}, entries(1, 2, 1), nil); err != nil {
				t.Fatal(err)
			}
			if err := fps.Arm(tc.point, "error(disk on fire)"); err != nil {
				t.Fatal(err)
			}
			err := s.Save(raft.HardState{Term: 1}, entries(3, 4, 1), nil)
			if !errors.Is(err, fault.ErrInjected) || !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("save at %s armed with an error = %v, want the injected failure", tc.point, err)
			}
			fps.Disarm(tc.point)
			if err := s.Save(raft.HardState{Term: 1}, entries(3, 4, 1), nil); err == nil {
				t.Fatal("the storage accepted a Save after a failed one")
			}
			if err := s.CreateSnapshot(1, testPeers, nil, 0); err == nil {
				t.Fatal("the storage took a snapshot after a failed Save")
			}

			s = abandonAndReopen(t, s, opts)
			last, _ := s.LastIndex()
			if want := map[bool]uint64{true: 4, false: 2}[tc.durable]; last != want {
				t.Errorf("after the failure and a crash the log ends at %d, want %d", last, want)
			}
			if err := s.Save(raft.HardState{Term: 2}, entries(last+1, last+1, 2), nil); err != nil {
				t.Errorf("save after reopening: %v", err)
			}
		})
	}
}

// Open registers the WAL's failpoints, with descriptions, in the registry
// it is given; several storages may share one registry.
func TestWALRegistersItsFailpoints(t *testing.T) {
	fps := fault.NewFailpoints(fault.SystemClock(), nil)
	openTest(t, t.TempDir(), Options{Failpoints: fps})
	openTest(t, t.TempDir(), Options{Failpoints: fps})
	var names []string
	for _, fp := range fps.List() {
		names = append(names, fp.Name)
		if fp.Description == "" {
			t.Errorf("failpoint %s has no description", fp.Name)
		}
	}
	if got, want := strings.Join(names, " "), FailAfterSync+" "+FailBeforeSync; got != want {
		t.Errorf("registered %q, want %q", got, want)
	}
}

// A snapshot taken under skip-fsync syncs the log first, so a power cut
// never leaves a snapshot file whose entries the log lost.
func TestSkipFsyncSyncsBeforeASnapshot(t *testing.T) {
	clock := fault.NewManualClock(time.Unix(0, 0))
	opts := Options{LoseUnsynced: true, SkipFsync: true, Clock: clock}
	s := openTest(t, t.TempDir(), opts)
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 5}, entries(1, 5, 1), nil)
	createSnapshot(t, s, model, 4, "state at 4", 1)
	s = abandonAndReopen(t, s, opts)
	checkSame(t, s, model)
}
