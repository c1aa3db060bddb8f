// Package history is the record of a test run: every operation a client or
// the nemesis invoked and how it completed, in the order the controller saw
// them. It is the one format every other package shares: workloads and the
// nemesis write it, checkers and reports read it, and users can feed
// histories from elsewhere to `squall analyze`.
//
// On disk a history is JSON lines, one event per line:
//
//	{"index":0,"type":"invoke","process":3,"f":"write","value":17,"time":1200}
//	{"index":1,"type":"ok","process":3,"f":"write","value":17,"time":2400,"node":"n2"}
//
// An operation is an invoke event followed, later, by its completion from
// the same process: ok (it took effect), fail (it certainly did not), or
// info (unknown: it may have taken effect, at any time after its invoke).
// A process has at most one operation outstanding; a worker whose operation
// ends info continues under a new process, since the old one may still be
// in flight. The nemesis records its faults under the process "nemesis".
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Type is what an event says about its operation.
type Type string

const (
	Invoke Type = "invoke"
	OK     Type = "ok"
	Fail   Type = "fail"
	Info   Type = "info"
)

func (t Type) valid() bool { return t == Invoke || t == OK || t == Fail || t == Info }

// Process identifies who performed an operation: a client process number,
// or Nemesis.
type Process int64

// Nemesis is the process of fault events; it is written as "nemesis".
const Nemesis Process = -1

func (p Process) MarshalJSON() ([]byte, error) {
	if p == Nemesis {
		return []byte(`"nemesis"`), nil
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

func (p *Process) UnmarshalJSON(b []byte) error {
	if string(b) == `"nemesis"` {
		*p = Nemesis
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("process %s: want a non-negative integer or \"nemesis\"", b)
	}
	*p = Process(n)
	return nil
}

func (p Process) String() string {
	if p == Nemesis {
		return "nemesis"
	}
	return strconv.FormatInt(int64(p), 10)
}

// Op is one event of a history.
type Op struct {
	Index   int64   `json:"index"`
	Type    Type    `json:"type"`
	Process Process `json:"process"`
	F       string  `json:"f"`
	// Value is the operation's argument (on invoke) or result (on
	// completion); its shape is the workload's. Decoded numbers are
	// json.Number.
	Value any `json:"value"`
	// Time is monotonic nanoseconds since the test began.
	Time int64 `json:"time"`
	// Node is the node that served the operation, if known.
	Node  string `json:"node,omitempty"`
	Error string `json:"error,omitempty"`
	// StartTS and CommitTS are a transactional system's timestamps.
	StartTS  uint64 `json:"start_ts,omitempty"`
	CommitTS uint64 `json:"commit_ts,omitempty"`
}

// History is a sequence of events in index order.
type History []Op

// Pair is an operation: its invoke and its completion (nil while none was
// recorded, which a checker treats as info).
type Pair struct {
	Invoke     *Op
	Completion *Op
}

// Pairs matches every invoke with its process's next completion, in
// invoke order. Nemesis events are skipped.
func (h History) Pairs() []Pair {
	var pairs []Pair
	open := make(map[Process]int)
	for i := range h {
		op := &h[i]
		if op.Process == Nemesis {
			continue
		}
		if op.Type == Invoke {
			open[op.Process] = len(pairs)
			pairs = append(pairs, Pair{Invoke: op})
			continue
		}
		if j, ok := open[op.Process]; ok {
			pairs[j].Completion = op
			delete(open, op.Process)
		}
	}
	return pairs
}

// EventError is what Validate returns: what is wrong with which event.
type EventError struct {
	// Event is the position of the offending event in the history.
	Event int
	Msg   string
}

func (e *EventError) Error() string { return fmt.Sprintf("event %d: %s", e.Event, e.Msg) }

// Validate checks the history's structure: indexes in order, known types,
// and every completion following an invoke of its process with the same
// f. It names the first offending event (an *EventError).
func (h History) Validate() error {
	open := make(map[Process]*Op)
	bad := func(i int, format string, args ...any) error {
		return &EventError{Event: i, Msg: fmt.Sprintf(format, args...)}
	}
	for i := range h {
		op := &h[i]
		if op.Index != int64(i) {
			return bad(i, "index %d, want %d", op.Index, i)
		}
		if !op.Type.valid() {
			return bad(i, "type %q, want invoke, ok, fail or info", op.Type)
		}
		if op.Process == Nemesis {
			continue
		}
		inv := open[op.Process]
		switch {
		case op.Type == Invoke && inv != nil:
			return bad(i, "process %v invokes %s while its %s (event %d) is outstanding", op.Process, op.F, inv.F, inv.Index)
		case op.Type == Invoke:
			open[op.Process] = op
		case inv == nil:
			return bad(i, "%s completion of %s by process %v, which has no outstanding invoke", op.Type, op.F, op.Process)
		case inv.F != op.F:
			return bad(i, "completion f %q does not match its invoke's %q (event %d)", op.F, inv.F, inv.Index)
		default:
			delete(open, op.Process)
		}
	}
	return nil
}

// Read decodes a JSON-lines history, naming the line of the first bad
// event. Blank lines are skipped.
func Read(r io.Reader) (History, error) {
	var h History
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		op, err := Decode(b)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		h = append(h, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return h, nil
}

// Decode decodes one event.
func Decode(b []byte) (Op, error) {
	var op Op
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&op); err != nil {
		return Op{}, fmt.Errorf("bad event %.120s: %w", b, err)
	}
	if op.F == "" {
		return Op{}, fmt.Errorf("bad event %.120s: no \"f\"", b)
	}
	if !op.Type.valid() {
		return Op{}, fmt.Errorf("bad event %.120s: type %q, want invoke, ok, fail or info", b, op.Type)
	}
	return op, nil
}

// AppendJSON appends op's JSON line (with the newline) to b.
func AppendJSON(b []byte, op Op) ([]byte, error) {
	n := len(b)
	b, err := appendOp(b, op)
	if err != nil {
		return b[:n], fmt.Errorf("encode event %d: %w", op.Index, err)
	}
	return append(b, '\n'), nil
}

// Write encodes h as JSON lines.
func Write(w io.Writer, h History) error {
	var b []byte
	for _, op := range h {
		var err error
		if b, err = AppendJSON(b[:0], op); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Int reads an integer value (as decoded, or as written by Go code).
func Int(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		return int64(n), float64(int64(n)) == n
	}
	return 0, false
}

// ErrNoHistory is returned for a history file with no events.
var ErrNoHistory = errors.New("history is empty")
