package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/raft"
)

// Options tunes Open. The zero value is the default.
type Options struct {
	// Logger receives a warning for every repair recovery makes: a torn
	// tail truncated, a leftover temporary file or an unfinished installed
	// snapshot removed. nil discards them.
	Logger *slog.Logger
	// SegmentSize is the size past which the WAL starts a new segment
	// file; 0 means 64 MiB.
	SegmentSize int64
	// LoseUnsynced is the power-loss storage mode: what is written to a
	// segment or snapshot file and not yet synced is kept in this
	// process's memory and handed to the operating system only when it is
	// synced, so that killing the process loses exactly the writes a
	// power cut would (see the package documentation). Off, the default,
	// what is written is in the operating system's page cache at once and
	// survives the process.
	LoseUnsynced bool
	// SkipFsync plants a bug: Save returns without fsyncing the records it
	// wrote, and a background flush syncs them every 30 s (on
	// Clock), so that they do reach the disk, late. Invisible to a process
	// kill; a power cut (LoseUnsynced, then a kill) loses acknowledged
	// records. Installing or taking a snapshot still syncs, so the snapshot
	// files never run ahead of the log.
	SkipFsync bool
	// Clock times SkipFsync's background flush. Default: the system clock.
	Clock fault.Clock
	// Failpoints, if not nil, is the node's registry: Open registers
	// FailBeforeSync and FailAfterSync in it, and every Save evaluates
	// them around its fsync.
	Failpoints *fault.Failpoints
}

// Failpoints of the WAL (see Options.Failpoints). Armed with an error,
// either fails the Save as a failed fsync would: the storage refuses every
// later write, and the node stops. Armed with crash, the process dies
// before (with LoseUnsynced: losing the Save's records) or after the Save's
// records are durable, and before the Save returns.
const (
	FailBeforeSync = "wal/before-sync"
	FailAfterSync  = "wal/after-sync"
)

// skipFsyncFlushInterval is how often the background flush of the
// SkipFsync bug syncs what Saves left unsynced: as long as a dirty page
// may wait for a kernel's writeback (Linux's dirty_expire_centisecs, 30 s
// by default), so that a power cut of a cluster loses seconds of
// acknowledged writes, as it would. (At 5 s, the replicas' unaligned
// flushes left the next leader all but the last second or so: a busy
// cluster had acknowledged too few writes in it for a cut to lose any.)
const skipFsyncFlushInterval = 30 * time.Second

// Open opens the storage in dir for a cluster of peers, creating it if dir
// is missing or holds no WAL yet, and recovering it otherwise.
func Open(dir string, peers []uint64) (*Storage, error) {
	return OpenWithOptions(dir, peers, Options{})
}

// OpenWithOptions is Open with tuning.
func OpenWithOptions(dir string, peers []uint64, opts Options) (*Storage, error) {
	s := &Storage{
		dir:         dir,
		walDir:      filepath.Join(dir, "wal"),
		snapDir:     filepath.Join(dir, "snap"),
		peers:       slices.Clone(peers),
		segmentSize: opts.SegmentSize,
		logger:      opts.Logger,
		lazy:        opts.LoseUnsynced,
		skipFsync:   opts.SkipFsync,
		fps:         opts.Failpoints,
	}
	if s.segmentSize <= 0 {
		s.segmentSize = defaultSegmentSize
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.fps != nil {
		s.fps.Register(FailBeforeSync, "in a raft group's WAL, after a Save wrote its records and before it fsyncs them (error: the fsync fails and the node stops)")
		s.fps.Register(FailAfterSync, "in a raft group's WAL, after a Save fsynced its records and before it returns (error: reported as a failed fsync; the node stops)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	opened := false
	defer func() {
		if !opened {
			lock.Close()
		}
	}()
	if _, err := os.Stat(s.walDir); errors.Is(err, fs.ErrNotExist) {
		if err := s.create(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", s.walDir, err)
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	opened = true
	if s.skipFsync {
		clock := opts.Clock
		if clock == nil {
			clock = fault.SystemClock()
		}
		s.stopFlush, s.flushDone = make(chan struct{}), make(chan struct{})
		go s.flushLoop(clock.NewTicker(skipFsyncFlushInterval))
	}
	return s, nil
}

// create initialises an empty storage. The WAL directory is built under a
// temporary name and renamed into place last, so a crash leaves either no
// WAL (and the next Open starts again) or a complete storage.
func (s *Storage) create() error {
	// Snapshots without a WAL mean the log was lost; starting empty would
	// forget acknowledged entries.
	if indexes, _, err := listSnapFiles(s.snapDir); err == nil && len(indexes) > 0 {
		return fmt.Errorf("wal: %s holds snapshots but no wal directory", s.dir)
	}
	if err := os.MkdirAll(s.snapDir, 0o755); err != nil {
		return fmt.Errorf("wal: create %s: %w", s.snapDir, err)
	}
	tmp := s.walDir + tmpSuffix
	if _, err := os.Stat(tmp); err == nil {
		s.logger.Warn("wal: removing an unfinished creation", "path", tmp)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("wal: remove leftover %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	f, _, err := createSegment(tmp, 1, s.peers, raft.HardState{}, s.lazy)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: create first segment in %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, s.walDir); err != nil {
		return fmt.Errorf("wal: create %s: %w", s.walDir, err)
	}
	return syncDir(s.dir)
}

// recover rebuilds the storage from its files. It first reads and checks
// everything, and only then repairs what a crash can leave behind, so a
// refusal to start leaves the files as they were.
func (s *Storage) recover() error {
	snapIndexes, snapTmps, err := listSnapFiles(s.snapDir)
	if err != nil {
		return err
	}
	seqs, walTmps, err := listSegments(s.walDir)
	if err != nil {
		return err
	}

	// Replay against the newest snapshot. An installed snapshot whose Save
	// never reached the WAL was not acknowledged: drop it and replay
	// against the one before.
	var (
		sf      *snapFile
		r       *replayed
		orphans []string
	)
	for i := len(snapIndexes) - 1; ; i-- {
		sf = nil
		if i >= 0 {
			if sf, err = readSnapFile(filepath.Join(s.snapDir, snapName(snapIndexes[i]))); err != nil {
				return err
			}
		}
		if r, err = replaySegments(s.walDir, seqs, sf); err != nil {
			return err
		}
		if sf == nil || !sf.installed || r.confirmed {
			break
		}
		orphans = append(orphans, filepath.Join(s.snapDir, snapName(snapIndexes[i])))
	}
	if !samePeers(r.peers, s.peers) {
		return fmt.Errorf("wal: %s was created for peers %v, not %v", s.dir, r.peers, s.peers)
	}
	mem, err := r.memoryStorage(s.peers, sf)
	if err != nil {
		return fmt.Errorf("wal: %s: rebuild log from replayed records: %w", s.dir, err)
	}

	if err := s.removeLeftovers(s.walDir, walTmps, "leftover temporary file"); err != nil {
		return err
	}
	if err := s.removeLeftovers(s.snapDir, snapTmps, "leftover temporary file"); err != nil {
		return err
	}
	if err := s.removeLeftovers(s.snapDir, orphans, "snapshot whose installation never completed"); err != nil {
		return err
	}
	if err := purgeSnapFiles(s.snapDir); err != nil {
		return err
	}
	if err := s.openTail(r); err != nil {
		return err
	}
	s.mem = mem
	s.segments = r.segments
	return nil
}

func (s *Storage) removeLeftovers(dir string, paths []string, what string) error {
	if len(paths) == 0 {
		return nil
	}
	for _, path := range paths {
		s.logger.Warn("wal: removing "+what, "path", path)
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("wal: remove %s %s: %w", what, path, err)
		}
	}
	return syncDir(dir)
}

// openTail opens the last segment for appending after truncating any torn
// tail, which holds only records no Save acknowledged.
func (s *Storage) openTail(r *replayed) error {
	path := filepath.Join(s.walDir, segmentName(r.segments[len(r.segments)-1].seq))
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: open last segment: %w", err)
	}
	if r.torn != nil {
		s.logger.Warn("wal: truncating torn tail", "path", path, "offset", r.lastSize, "reason", r.torn.reason)
		err = f.Truncate(r.lastSize)
		if err == nil {
			err = f.Sync()
		}
	}
	if err == nil {
		_, err = f.Seek(r.lastSize, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("wal: open %s for appending at offset %d: %w", path, r.lastSize, err)
	}
	s.file, s.size = &file{f: f, lazy: s.lazy}, r.lastSize
	return nil
}

// samePeers reports whether a and b name the same peers, in any order.
func samePeers(a, b []uint64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
