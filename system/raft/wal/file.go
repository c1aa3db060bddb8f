package wal

import (
	"errors"
	"fmt"
	"os"
)

// file is a file the WAL appends to and syncs: a segment, or a snapshot
// file being written.
//
// Normally what is written goes to the operating system at once, and a
// process killed before the sync loses none of it: the page cache holds
// it, and only a power cut would lose it. With Options.LoseUnsynced
// (lazy) what is written since the last sync stays in this process's
// memory and goes to the operating system at Sync, just before the fsync,
// so that a process killed before the sync loses exactly what a power cut
// would: the bytes written and not synced. That is Jepsen's lazyfs without
// FUSE, which a container cannot mount.
type file struct {
	f    *os.File
	lazy bool
	// pending holds, when lazy, what was written since the last sync.
	pending []byte
}

func openFile(path string, flag int, lazy bool) (*file, error) {
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	return &file{f: f, lazy: lazy}, nil
}

func (f *file) Name() string { return f.f.Name() }

// Write appends b, which the caller may reuse once Write returns.
func (f *file) Write(b []byte) error {
	if f.lazy {
		f.pending = append(f.pending, b...)
		return nil
	}
	_, err := f.f.Write(b)
	return err
}

// Sync makes everything written durable: it hands what is pending to the
// operating system, then fsyncs.
func (f *file) Sync() error {
	if err := f.handOver(); err != nil {
		return err
	}
	return f.f.Sync()
}

// handOver writes what is pending to the operating system, without
// syncing it.
func (f *file) handOver() error {
	if len(f.pending) == 0 {
		return nil
	}
	_, err := f.f.Write(f.pending)
	if cap(f.pending) > bufRetainLimit {
		f.pending = nil
	} else {
		f.pending = f.pending[:0]
	}
	return err
}

// Close hands what is pending to the operating system, unsynced, as the
// writes of a process that exits cleanly are left in the page cache, and
// closes the file.
func (f *file) Close() error {
	return errors.Join(f.handOver(), f.f.Close())
}

// abandon closes the file and drops what is pending, as a process killed
// at this moment would lose it.
func (f *file) abandon() {
	f.pending = nil
	f.f.Close() // nothing is written on the way: an error loses nothing more
}

// writeSynced creates path (truncating it if it exists), writes data and
// syncs it.
func writeSynced(path string, data []byte, lazy bool) error {
	f, err := openFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, lazy)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", path, err)
	}
	err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("wal: write %s: %w", path, err)
	}
	return nil
}
