package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/squall-chaos/squall/checker/elle"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/results"
)

// AnalyzeOptions say how to check a history that came without a spec.
type AnalyzeOptions struct {
	// Workload names the checkers for a bare history file (a run
	// directory's spec names its own).
	Workload     string
	CheckTimeout time.Duration
	// Consistency overrides the model transactional checkers use.
	Consistency string
	// Store is where the results of a bare history file are written.
	Store string
}

// Analyze re-runs the checkers on a stored run (a run directory, whose
// results.json and report.html are rewritten) or on a bare history file
// (whose results go to a new run directory in the store).
func Analyze(ctx context.Context, path string, opts AnalyzeOptions, out io.Writer) (Outcome, error) {
	stored, err := results.LoadRun(path)
	if err != nil {
		return Outcome{}, err
	}
	if len(stored.History) == 0 {
		return Outcome{}, fmt.Errorf("%s: %w", stored.HistoryPath, history.ErrNoHistory)
	}
	spec := Spec{Workload: opts.Workload, CheckTimeout: opts.CheckTimeout, Consistency: opts.Consistency}
	var run *results.Run
	if stored.Spec != nil {
		if err := json.Unmarshal(stored.Spec, &spec); err != nil {
			return Outcome{}, fmt.Errorf("%s: %v", filepath.Join(stored.Dir, results.SpecFile), err)
		}
		if opts.CheckTimeout > 0 {
			spec.CheckTimeout = opts.CheckTimeout
		}
		if opts.Consistency != "" {
			spec.Consistency = opts.Consistency
		}
		run = &results.Run{Dir: stored.Dir, TestName: spec.Name}
	} else {
		spec.Name = "analyze"
		if run, err = results.NewRun(opts.Store, spec.Name, time.Now()); err != nil {
			return Outcome{}, err
		}
		if err := copyFile(stored.HistoryPath, run.Path(results.HistoryFile)); err != nil {
			return Outcome{}, err
		}
		if err := run.WriteSpec(spec); err != nil {
			return Outcome{}, err
		}
	}
	factory, ok := workloadFactories[spec.Workload]
	if !ok {
		return Outcome{}, fmt.Errorf("workload %q is not known (want one of %v)", spec.Workload, WorkloadNames())
	}
	if spec.CheckTimeout <= 0 {
		spec.CheckTimeout = time.Minute
	}
	if spec.Consistency != "" {
		if _, err := elle.ParseModel(spec.Consistency); err != nil {
			return Outcome{}, fmt.Errorf("--consistency: %w", err)
		}
	}
	fmt.Fprintf(out, "squall: checking %d events of %s\n", len(stored.History), stored.HistoryPath)
	return check(ctx, run, spec, factory(), stored.History, out, runTiming{})
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}
