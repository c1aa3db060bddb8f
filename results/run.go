// Package results keeps what a test run leaves behind, in a store on disk:
//
//	store/
//	  latest -> register-kv/20261127T025000.000Z
//	  register-kv/
//	    latest -> 20261127T025000.000Z
//	    20261127T025000.000Z/
//	      spec.json         what was run
//	      history.jsonl     every operation, written as it happened
//	      results.json      the checkers' verdicts and evidence
//	      report.html       one self-contained page for people
//	      linearizable-*.html  porcupine's view of each bad key
//	      nodes/            the nodes' logs
//	  suites/<suite-name>/<timestamp>/   a suite's summary (see suite.go)
//
// NewRun makes a run's directory; the harness records into it and then
// writes the spec, results and report. LoadRun reads a run (or a bare
// history file) back, for `squall analyze`.
package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/squall-chaos/squall/checker"
)

// File names inside a run directory.
const (
	SpecFile    = "spec.json"
	HistoryFile = "history.jsonl"
	ResultsFile = "results.json"
	ReportFile  = "report.html"
	NodesDir    = "nodes"
	latestLink  = "latest"
)

// timestampLayout names run directories: UTC to the millisecond, sorting
// in time order.
const timestampLayout = "20060102T150405.000Z"

// Run is one run's directory in the store.
type Run struct {
	// Dir is store/<test-name>/<timestamp>.
	Dir       string
	TestName  string
	Timestamp string
}

// NewRun creates the directory of a run of testName starting now, with
// its nodes/ subdirectory, and points store/latest and
// store/<test-name>/latest at it. If a run of the same test already has
// now's timestamp, the new one takes the next free millisecond.
func NewRun(storeDir, testName string, now time.Time) (*Run, error) {
	if err := checkTestName(testName); err != nil {
		return nil, err
	}
	testDir := filepath.Join(storeDir, testName)
	dir, stamp, err := newTimestampDir(testDir, now)
	if err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	run := &Run{Dir: dir, TestName: testName, Timestamp: stamp}
	if err := os.Mkdir(run.Path(NodesDir), 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	if err := pointLatest(filepath.Join(storeDir, latestLink), filepath.Join(testName, run.Timestamp)); err != nil {
		return nil, err
	}
	if err := pointLatest(filepath.Join(testDir, latestLink), run.Timestamp); err != nil {
		return nil, err
	}
	return run, nil
}

// newTimestampDir creates a directory under parent (and parent, if need
// be) named for now to the millisecond, or for the next free millisecond:
// runs and suites started at once each get their own.
func newTimestampDir(parent string, now time.Time) (dir, stamp string, err error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", "", err
	}
	for t := now.UTC().Truncate(time.Millisecond); ; t = t.Add(time.Millisecond) {
		stamp = t.Format(timestampLayout)
		dir = filepath.Join(parent, stamp)
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		return dir, stamp, nil
	}
}

// checkTestName rejects names that would escape the store or collide
// with its latest link or its suites.
func checkTestName(name string) error {
	if name == "" || name == "." || name == ".." || name == latestLink || name == SuitesDir ||
		strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("test name %q: want a non-empty name without path separators, not starting with '.', other than %q and %q", name, latestLink, SuitesDir)
	}
	return nil
}

var linkSeq atomic.Uint64

// pointLatest makes link a symlink to target, replacing whatever link was
// in one rename, so a reader always finds a complete link.
func pointLatest(link, target string) error {
	// Runs of one process (a suite's) may point the same link at once.
	tmp := fmt.Sprintf("%s.%d-%d.tmp", link, os.Getpid(), linkSeq.Add(1))
	_ = os.Remove(tmp) // a leftover of a crashed run with our pid
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}

// Path is the path of a file in the run's directory.
func (r *Run) Path(name string) string { return filepath.Join(r.Dir, name) }

// WriteSpec writes what was run as spec.json.
func (r *Run) WriteSpec(spec any) error {
	return writeJSON(r.Path(SpecFile), spec)
}

// Summary is results.json: the run's verdict and each checker's result,
// with its evidence.
type Summary struct {
	Test string `json:"test,omitempty"`
	// Verdict is the composed verdict (checker.Compose of Results).
	Verdict checker.Verdict  `json:"verdict"`
	Results []checker.Result `json:"results"`
	Seed    uint64           `json:"seed"`
	Started time.Time        `json:"started,omitzero"`
	// RunDuration is how long the run took until checking began;
	// CheckDuration how long the checkers took.
	RunDuration   time.Duration `json:"run_duration_ns,omitempty"`
	CheckDuration time.Duration `json:"check_duration_ns"`
}

// WriteResults writes s as results.json.
func (r *Run) WriteResults(s Summary) error {
	return writeJSON(r.Path(ResultsFile), s)
}

// ReadResults reads a results.json.
func ReadResults(path string) (Summary, error) { return readJSON[Summary](path, "results") }

// readJSON reads the JSON file at path, what it holds named by what.
func readJSON[T any](path, what string) (T, error) {
	var v T
	b, err := os.ReadFile(path)
	if err != nil {
		return v, fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("read %s %s: %w", what, path, err)
	}
	return v, nil
}

// writeJSON writes v, indented, to path through a temporary file, so
// path is never half-written.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return writeFile(path, append(b, '\n'))
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
