package wal

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/raft"
)

var (
	randomSeed  = flag.Uint64("wal.seed", 0, "run TestRandomAgainstMemoryStorage with this seed only")
	randomRuns  = flag.Int("wal.runs", 20, "seeds TestRandomAgainstMemoryStorage tries")
	randomSteps = flag.Int("wal.steps", 300, "steps of each TestRandomAgainstMemoryStorage run")
)

// TestRandomAgainstMemoryStorage drives the storage and a raft.MemoryStorage
// through the same random Saves, snapshots and reopens, and checks after
// every step that the storage reads exactly like the model.
func TestRandomAgainstMemoryStorage(t *testing.T) {
	for _, seed := range randomSeeds() {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			opts := Options{SegmentSize: 1 << 9} // rotate and remove segments often
			if err := randomRun(t, seed, *randomSteps, opts); err != nil {
				t.Fatalf("seed %d (rerun with -wal.seed=%d): %v", seed, seed, err)
			}
		})
	}
}

// TestRandomPowerCutsAgainstMemoryStorage is TestRandomAgainstMemoryStorage
// in the power-loss mode (LoseUnsynced), where some reopens follow a
// simulated crash instead of a Close, some of them a crash in the fsync of
// a Save: whatever was written and not synced is lost, and the storage
// must still recover exactly what every Save that returned was given.
func TestRandomPowerCutsAgainstMemoryStorage(t *testing.T) {
	for _, seed := range randomSeeds() {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			opts := Options{SegmentSize: 1 << 9, LoseUnsynced: true, Failpoints: fault.NewFailpoints(fault.SystemClock(), nil)}
			opts.Failpoints.SetCrash(func() {}) // the step abandons the storage itself
			if err := randomRun(t, seed, *randomSteps, opts); err != nil {
				t.Fatalf("seed %d (rerun with -run PowerCuts -wal.seed=%d): %v", seed, seed, err)
			}
		})
	}
}

// randomSeeds are the seeds the random tests run: -wal.seed alone, or
// 1..-wal.runs.
func randomSeeds() []uint64 {
	if *randomSeed != 0 {
		return []uint64{*randomSeed}
	}
	var seeds []uint64
	for i := range *randomRuns {
		seeds = append(seeds, uint64(i+1))
	}
	return seeds
}

// randomRun runs steps random steps on a storage opened with opts. With
// opts.LoseUnsynced (and opts.Failpoints) some reopens follow a simulated
// crash.
func randomRun(t *testing.T, seed uint64, steps int, opts Options) error {
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	s, err := OpenWithOptions(dir, testPeers, opts)
	if err != nil {
		return err
	}
	defer func() { s.Close() }()
	model := raft.NewMemoryStorage(testPeers)
	term := uint64(1)

	for step := range steps {
		var what string
		var err, modelErr error
		snap, _ := model.Snapshot()
		first, _ := model.FirstIndex()
		last, _ := model.LastIndex()
		hs := model.HardState()

		switch r := rng.IntN(100); {
		case r < 60: // append, possibly overwriting an uncommitted tail, possibly with a new hard state
			if rng.IntN(4) == 0 {
				term++
			}
			// Committed entries (those covered by a snapshot) are never overwritten.
			lo := max(snap.Meta.Index, first-1) + 1
			start := lo + rng.Uint64N(last+2-lo)
			ents := randomEntries(rng, start, rng.Uint64N(8), term)
			newHS := raft.HardState{}
			if rng.IntN(3) > 0 {
				newHS = raft.HardState{Term: term, Vote: rng.Uint64N(4), Commit: hs.Commit + rng.Uint64N(3)}
			}
			what = fmt.Sprintf("save %+v with %d entries from %d", newHS, len(ents), start)
			err, modelErr = s.Save(newHS, ents, nil), model.Save(newHS, ents, nil)
		case r < 68: // install a snapshot from a leader, maybe beyond the log
			term++
			index := snap.Meta.Index + 1 + rng.Uint64N(last-snap.Meta.Index+5)
			in := &raft.Snapshot{
				Meta: raft.SnapshotMeta{Index: index, Term: term, Peers: testPeers},
				Data: fmt.Appendf(nil, "installed %d", index),
			}
			ents := randomEntries(rng, index+1, rng.Uint64N(4), term)
			newHS := raft.HardState{Term: term, Commit: index}
			what = fmt.Sprintf("install snapshot %d/%d with %d entries", index, term, len(ents))
			err, modelErr = s.Save(newHS, ents, in), model.Save(newHS, ents, in)
		case r < 83: // snapshot the state machine
			index := snap.Meta.Index + rng.Uint64N(last-snap.Meta.Index+2) // sometimes out of date or beyond the log
			retain := rng.Uint64N(12)
			data := fmt.Appendf(nil, "created %d", index)
			what = fmt.Sprintf("create snapshot at %d retaining %d", index, retain)
			err = s.CreateSnapshot(index, testPeers, data, retain)
			modelErr = model.CreateSnapshot(index, testPeers, data, retain)
		case r < 85: // a Save with an out-of-date snapshot
			old := &raft.Snapshot{Meta: raft.SnapshotMeta{Index: snap.Meta.Index, Term: term, Peers: testPeers}}
			what = "install an out-of-date snapshot"
			err, modelErr = s.Save(raft.HardState{}, nil, old), model.Save(raft.HardState{}, nil, old)
		case !opts.LoseUnsynced || r < 90:
			what = "reopen"
			if err := s.Close(); err != nil {
				return fmt.Errorf("step %d: close: %v", step, err)
			}
			if s, err = OpenWithOptions(dir, testPeers, opts); err != nil {
				return fmt.Errorf("step %d: reopen: %v", step, err)
			}
		default:
			what = "crash and reopen"
			if r >= 95 {
				// The Save's records are written, not synced, when the
				// process dies; the Save never returns, and the model
				// never sees it.
				what = "crash in a save's fsync and reopen"
				if err := opts.Failpoints.Arm(FailBeforeSync, "1*crash"); err != nil {
					return err
				}
				ents := randomEntries(rng, last+1, 1+rng.Uint64N(8), term)
				if err := s.Save(raft.HardState{Term: term, Commit: hs.Commit}, ents, nil); !errors.Is(err, fault.ErrInjected) {
					return fmt.Errorf("step %d: save that crashed in its fsync: %v, want an injected failure", step, err)
				}
			}
			s.Abandon()
			if s, err = OpenWithOptions(dir, testPeers, opts); err != nil {
				return fmt.Errorf("step %d: reopen after a crash: %v", step, err)
			}
		}
		if testing.Verbose() && *randomSeed != 0 {
			t.Logf("step %d: %s: %v", step, what, err)
		}
		if (err == nil) != (modelErr == nil) {
			return fmt.Errorf("step %d: %s: error %v, model's %v", step, what, err, modelErr)
		}
		if err := diff(s, model); err != nil {
			return fmt.Errorf("step %d: after %s: %v", step, what, err)
		}
	}
	// Whatever the last step was, the files alone must give the same state.
	s.Close()
	if s, err = OpenWithOptions(dir, testPeers, opts); err != nil {
		return fmt.Errorf("final reopen: %v", err)
	}
	if err := diff(s, model); err != nil {
		return fmt.Errorf("after final reopen: %v", err)
	}
	return nil
}

func randomEntries(rng *rand.Rand, start, n, term uint64) []raft.Entry {
	ents := make([]raft.Entry, n)
	for i := range ents {
		ents[i] = raft.Entry{Index: start + uint64(i), Term: term}
		if rng.IntN(5) > 0 { // some empty entries, as a new leader appends
			ents[i].Data = fmt.Appendf(nil, "%x", rng.Uint64())
		}
	}
	return ents
}
