package suite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/harness"
	"github.com/squall-chaos/squall/results"
)

// Options say how a suite runs.
type Options struct {
	// Store is the directory runs and suites are written under.
	Store string
	// Parallel is how many tests run at once; 0: DefaultParallel.
	Parallel int
	// Out gets one line per finished test, and every ProgressEvery a
	// line naming the tests running.
	Out           io.Writer
	ProgressEvery time.Duration
	Logger        *slog.Logger
}

// DefaultParallel is one test per four cores: a test is five nodes and a
// controller, which keep about two cores busy, and a starved test times
// out operations it would have completed.
func DefaultParallel() int { return max(1, runtime.NumCPU()/4) }

// Run runs entries, Parallel at a time, each as `squall test` would, and
// writes the suite's summary, JUnit XML and page under
// store/suites/<name>/. A test the harness fails is an error for that
// test, and the suite goes on. Cancelling ctx (Ctrl-C) stops every
// running test, each removing its cluster, and starts no more; the
// summary then says which tests never ran.
func Run(ctx context.Context, name string, entries []Entry, opts Options) (results.Suite, string, error) {
	started := time.Now()
	dir, err := results.NewSuiteDir(opts.Store, name, started)
	if err != nil {
		return results.Suite{}, "", err
	}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel()
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fmt.Fprintf(out, "squall: suite %s: %d tests, %d at a time; summary in %s\n", name, len(entries), parallel, dir)

	tests := make([]results.SuiteTest, len(entries))
	for i, e := range entries {
		tests[i] = results.SuiteTest{Name: e.Spec.Name, Spec: e.Spec, Bug: e.Bug}
	}
	var (
		mu      sync.Mutex
		running = map[int]time.Time{}
		done    int
		wg      sync.WaitGroup
	)
	stopProgress := progress(out, opts.ProgressEvery, func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(running) == 0 {
			return "" // between tests
		}
		var names []string
		for _, i := range slices.Sorted(maps.Keys(running)) {
			names = append(names, fmt.Sprintf("%s (%s)", entries[i].Spec.Name, time.Since(running[i]).Round(time.Second)))
		}
		return fmt.Sprintf("squall: %d/%d done; running %s", done, len(entries), strings.Join(names, ", "))
	})
	slots := make(chan struct{}, parallel)
	for i, e := range entries {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		running[i] = time.Now()
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t := runOne(ctx, e, logger)
			mu.Lock()
			defer mu.Unlock()
			delete(running, i)
			tests[i] = t
			done++
			fmt.Fprintf(out, "squall: [%d/%d] %s\n", done, len(entries), finishedLine(t))
		}()
	}
	wg.Wait()
	stopProgress()

	suite := results.Suite{Name: name, Started: started, Duration: time.Since(started), Tests: tests, Interrupted: ctx.Err() != nil}
	suite.Verdict = results.SuiteVerdict(tests)
	suite.Detection = detection(entries, tests)
	if err := results.WriteSuite(dir, suite); err != nil {
		return suite, dir, err
	}
	if suite.Interrupted {
		return suite, dir, harness.ErrInterrupted
	}
	return suite, dir, nil
}

// progress prints line() every interval until stopped, unless it is
// empty; never if interval is zero.
func progress(out io.Writer, every time.Duration, line func() string) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				if l := line(); l != "" {
					fmt.Fprintln(out, l)
				}
			case <-done:
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// runOne runs one test and sums up how it ended.
func runOne(ctx context.Context, e Entry, logger *slog.Logger) results.SuiteTest {
	start := time.Now()
	outcome, err := harness.Run(ctx, e.Spec, io.Discard, logger.With("test", e.Spec.Name))
	took := time.Since(start)
	if err != nil {
		t := results.ErroredTest(e.Spec.Name, e.Spec, outcome.Dir, took, err)
		t.Bug = e.Bug
		return t
	}
	t := results.SuiteTest{Name: e.Spec.Name, Spec: e.Spec, Verdict: string(outcome.Verdict), Dir: outcome.Dir, Duration: took, Bug: e.Bug}
	var summaries []string
	for _, r := range outcome.Results {
		if r.Verdict == checker.Valid {
			continue
		}
		summaries = append(summaries, r.Checker+": "+r.Summary)
		for _, a := range r.Anomalies {
			if t.Anomalies == nil {
				t.Anomalies = map[string]int{}
			}
			t.Anomalies[a.Kind]++
		}
	}
	t.Summary = strings.Join(summaries, "\n")
	if outcome.Verdict == checker.Invalid {
		t.FirstAnomaly = firstAnomaly(outcome)
	}
	return t
}

// firstAnomaly is when the earliest operation in any anomaly happened,
// from the run's start; zero if the history cannot be read.
func firstAnomaly(o harness.Outcome) time.Duration {
	stored, err := results.LoadRun(o.Dir)
	if err != nil {
		return 0
	}
	first := int64(-1)
	for _, r := range o.Results {
		for _, a := range r.Anomalies {
			for _, i := range a.Ops {
				if i < 0 || i >= int64(len(stored.History)) {
					continue
				}
				if t := stored.History[i].Time; first < 0 || t < first {
					first = t
				}
			}
		}
	}
	return time.Duration(max(first, 0))
}

func finishedLine(t results.SuiteTest) string {
	line := fmt.Sprintf("%-7s %s (%s)", strings.ToUpper(t.Verdict), t.Name, t.Duration.Round(time.Second))
	if len(t.Anomalies) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(t.Anomalies)) {
			parts = append(parts, fmt.Sprintf("%d %s", t.Anomalies[k], k))
		}
		line += ": " + strings.Join(parts, ", ")
	}
	if t.Error != "" {
		line += ": " + firstLine(t.Error)
	}
	if t.Dir != "" {
		line += " — " + t.Dir
	}
	return line
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
