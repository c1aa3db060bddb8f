package history

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Recorder appends events to a history file as they happen, each with one
// write to the operating system, so a crash of the controller loses
// nothing already recorded (the page cache survives a process crash). It
// also keeps the history in memory for the checkers.
type Recorder struct {
	mu    sync.Mutex
	file  *os.File
	start time.Time
	buf   []byte
	ops   History
	err   error
}

// NewRecorder creates path (which must not exist) and starts the run's
// clock: event times are measured from now.
func NewRecorder(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	return &Recorder{file: f, start: time.Now()}, nil
}

// Record stamps op with its index (and time, if zero), writes it, and
// returns it as recorded.
func (r *Recorder) Record(op Op) Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = int64(len(r.ops))
	if op.Time == 0 {
		op.Time = int64(time.Since(r.start))
	}
	r.ops = append(r.ops, op)
	if r.err != nil {
		return op
	}
	var err error
	if r.buf, err = AppendJSON(r.buf[:0], op); err == nil {
		_, err = r.file.Write(r.buf)
	}
	if err != nil {
		r.err = fmt.Errorf("record event %d: %w", op.Index, err)
	}
	return op
}

// History returns a copy of everything recorded so far.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(History(nil), r.ops...)
}

// Close syncs and closes the file, and reports the first write error.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return r.err
	}
	if err := r.file.Sync(); err != nil && r.err == nil {
		r.err = fmt.Errorf("sync history: %w", err)
	}
	if err := r.file.Close(); err != nil && r.err == nil {
		r.err = fmt.Errorf("close history: %w", err)
	}
	r.file = nil
	return r.err
}
