package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/checker/elle"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/results"
	"github.com/squall-chaos/squall/workloads"
)

// AnalyzeOptions say how to check a history.
type AnalyzeOptions struct {
	// Workload names the checkers; "" means the run's (from its spec),
	// or, for a bare history file, the workload its operations are.
	Workload     string
	CheckTimeout time.Duration
	// Consistency overrides the model transactional checkers use.
	Consistency string
	// Store is where the results of a bare history file are written.
	Store string
}

// fits checks, for each workload analyze knows, that a history's client
// operations are that workload's, naming the first that is not (a
// *history.EventError). kv is porcupine's key-value model: analyze
// checks histories of it from elsewhere, though squall has no client or
// generator for it.
var fits = map[string]func(history.History) error{
	"register": func(h history.History) error { _, err := checker.RegisterModel.Operations(h); return err },
	"kv":       func(h history.History) error { _, err := checker.KVModel.Operations(h); return err },
	"append":   elle.Fits,
	"bank":     checker.BankFits,
}

// AnalyzeWorkloadNames lists the workloads analyze can check.
func AnalyzeWorkloadNames() []string { return slices.Sorted(maps.Keys(fits)) }

// defaultCheckTimeout is the checkers' time budget when neither the flag
// nor the run's spec gives one.
const defaultCheckTimeout = time.Minute

// Analyze re-runs the checkers on a stored run (a run directory, whose
// results.json and report.html are rewritten) or on a bare history file,
// squall's JSON lines or Jepsen's history.edn (whose results go to a new
// run directory in the store). Every input is checked before anything is
// written: the options, the spec, the whole history, and that its
// operations fit the workload.
func Analyze(ctx context.Context, path string, opts AnalyzeOptions, out io.Writer) (Outcome, error) {
	if err := opts.validate(); err != nil {
		return Outcome{}, err
	}
	src, err := openSource(path)
	if err != nil {
		return Outcome{}, err
	}
	spec := Spec{Name: "analyze", CheckTimeout: defaultCheckTimeout}
	if src.spec != nil {
		if err := json.Unmarshal(src.spec, &spec); err != nil {
			return Outcome{}, fmt.Errorf("%s: %v", filepath.Join(src.dir, results.SpecFile), err)
		}
		if _, ok := fits[spec.Workload]; !ok {
			return Outcome{}, fmt.Errorf("%s: workload %q is not one analyze knows (want %s)", filepath.Join(src.dir, results.SpecFile), spec.Workload, strings.Join(AnalyzeWorkloadNames(), ", "))
		}
		if opts.Workload != "" && opts.Workload != spec.Workload {
			return Outcome{}, fmt.Errorf("--workload: %s, but the run in %s ran %s", opts.Workload, src.dir, spec.Workload)
		}
	}
	if opts.CheckTimeout > 0 {
		spec.CheckTimeout = opts.CheckTimeout
	}
	if spec.CheckTimeout <= 0 {
		spec.CheckTimeout = defaultCheckTimeout
	}
	if opts.Consistency != "" {
		spec.Consistency = opts.Consistency
	}
	if _, err := elle.ParseModel(spec.Consistency); spec.Consistency != "" && err != nil {
		return Outcome{}, fmt.Errorf("%s: %w", filepath.Join(src.dir, results.SpecFile), err)
	}

	file, err := history.ReadFile(src.history)
	if err != nil {
		return Outcome{}, err
	}
	h := file.History
	if file.Torn > 0 {
		fmt.Fprintf(out, "squall: warning: %s: line %d is cut short (its writer stopped in the middle of it); it is left out, and the %d events before it are checked\n", src.history, file.Torn, len(h))
	}
	if len(h) == 0 {
		return Outcome{}, fmt.Errorf("%s: %w", src.history, history.ErrNoHistory)
	}
	switch {
	case src.spec != nil:
	case opts.Workload != "":
		spec.Workload = opts.Workload
	default:
		if spec.Workload, err = inferWorkload(h); err != nil {
			return Outcome{}, fmt.Errorf("%s: %w", src.history, err)
		}
		fmt.Fprintf(out, "squall: %s holds %s workload operations (--workload chooses)\n", src.history, spec.Workload)
	}
	if err := fits[spec.Workload](h); err != nil {
		var ev *history.EventError
		if errors.As(err, &ev) {
			return Outcome{}, fmt.Errorf("%s: line %d: %v: not an operation of the %s workload", src.history, file.Line(ev.Event), err, spec.Workload)
		}
		return Outcome{}, fmt.Errorf("%s: %v: not a history of the %s workload", src.history, err, spec.Workload)
	}

	run := &results.Run{Dir: src.dir, TestName: spec.Name}
	if src.spec == nil {
		if run, err = newAnalyzeRun(opts.Store, src.history, file.Format, h, spec); err != nil {
			return Outcome{}, err
		}
	}
	checkOpts := workloads.CheckOptions{Dir: run.Dir, Timeout: spec.CheckTimeout, Consistency: spec.Consistency}
	fmt.Fprintf(out, "squall: checking %d events of %s\n", len(h), src.history)
	return check(ctx, run, spec, analyzeCheckers(spec.Workload, file.Format, h, checkOpts, out), h, out, runTiming{})
}

func (opts AnalyzeOptions) validate() error {
	if _, ok := fits[opts.Workload]; opts.Workload != "" && !ok {
		return fmt.Errorf("--workload: %q is not a known workload (want %s)", opts.Workload, strings.Join(AnalyzeWorkloadNames(), ", "))
	}
	if opts.CheckTimeout < 0 {
		return fmt.Errorf("--check-timeout: %v must not be negative", opts.CheckTimeout)
	}
	if opts.Consistency != "" {
		if _, err := elle.ParseModel(opts.Consistency); err != nil {
			return fmt.Errorf("--consistency: %w", err)
		}
	}
	return nil
}

// source is what analyze reads: a run directory's spec and history, or a
// bare history file.
type source struct {
	dir     string // "" for a bare history file
	history string
	spec    json.RawMessage // nil if there is none
}

func openSource(path string) (source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return source{}, fmt.Errorf("analyze: %w", err)
	}
	if !fi.IsDir() {
		return source{history: path}, nil
	}
	src := source{dir: path, history: filepath.Join(path, results.HistoryFile)}
	// A run made from a Jepsen history keeps it, and is judged by it
	// again: a Jepsen bank's accounts and money come from its history.
	if edn := filepath.Join(path, jepsenHistoryFile); fileExists(edn) {
		src.history = edn
	}
	specPath := filepath.Join(path, results.SpecFile)
	spec, err := os.ReadFile(specPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A directory of histories from elsewhere may have no spec.
		return source{history: src.history}, nil
	case err != nil:
		return source{}, fmt.Errorf("analyze: %w", err)
	case !json.Valid(spec):
		return source{}, fmt.Errorf("analyze: %s is not valid JSON", specPath)
	}
	src.spec = spec
	return src, nil
}

// jepsenHistoryFile is where a run made from a Jepsen history keeps it,
// beside squall's translation in history.jsonl.
const jepsenHistoryFile = "history.edn"

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// inferWorkload names the workload whose operations h's are, from the
// first client operation that tells: a txn (append), a transfer (bank), a
// write or cas (register), a get or put (kv), or a read that completed ok
// with balances (bank) or a [key, value] (register).
func inferWorkload(h history.History) (string, error) {
	var fs []string
	for i := range h {
		op := &h[i]
		if op.Process == history.Nemesis {
			continue
		}
		switch op.F {
		case "txn":
			return "append", nil
		case "transfer":
			return "bank", nil
		case "write", "cas":
			return "register", nil
		case "get", "put":
			return "kv", nil
		case "read":
			if op.Type == history.OK {
				if _, isMap := op.Value.(map[string]any); isMap {
					return "bank", nil
				}
				return "register", nil
			}
		}
		if !slices.Contains(fs, op.F) {
			fs = append(fs, op.F)
		}
	}
	return "", fmt.Errorf("cannot tell the workload from its operations (%s); give --workload (%s)",
		history.Abbreviate(fs), strings.Join(AnalyzeWorkloadNames(), ", "))
}

// analyzeCheckers are the checkers of a workload, for a history read
// from a file of format.
func analyzeCheckers(workload string, format history.Format, h history.History, opts workloads.CheckOptions, out io.Writer) []checker.Checker {
	switch {
	case workload == "kv":
		return []checker.Checker{checker.Stats(), checker.Linearizable(checker.LinearizableConfig{
			Model: checker.KVModel, Timeout: opts.Timeout, VisualizeDir: opts.Dir,
		})}
	case workload == "bank" && format == history.JepsenEDN:
		// Jepsen's history does not record the bank: take its accounts
		// from the operations, and the money in it from the first read.
		accounts, first, _ := checker.BankObserved(h)
		fmt.Fprintf(out, "squall: the bank of a Jepsen history is what it shows: %d accounts (%s), and the total %d its first read saw (event %d)\n",
			len(accounts), history.Abbreviate(accounts), first.Total, first.Index)
		return []checker.Checker{checker.Stats(), checker.Bank(accounts, first.Total)}
	}
	return workloadFactories[workload]().Checkers(opts)
}

// newAnalyzeRun makes the run directory of a bare history: its history
// (squall's JSON lines; a Jepsen history is translated, and kept as
// history.edn beside it, which analyze of the run reads) and its spec. If any of it cannot be written,
// the directory is removed.
func newAnalyzeRun(store, path string, format history.Format, h history.History, spec Spec) (run *results.Run, err error) {
	if run, err = results.NewRun(store, spec.Name, time.Now()); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(run.Dir)
		}
	}()
	if format == history.JepsenEDN {
		if err := copyFile(path, run.Path(jepsenHistoryFile)); err != nil {
			return nil, err
		}
		if err := history.WriteFile(run.Path(results.HistoryFile), h); err != nil {
			return nil, err
		}
	} else if err := copyFile(path, run.Path(results.HistoryFile)); err != nil {
		return nil, err
	}
	if err := run.WriteSpec(spec); err != nil {
		return nil, err
	}
	return run, nil
}

// copyFile copies a file, streaming it.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	outFile, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(outFile, in); err != nil {
		outFile.Close()
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return outFile.Close()
}
