package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/results"
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/workloads"
)

// Outcome is what a run found.
type Outcome struct {
	Verdict checker.Verdict
	Dir     string
	Results []checker.Result
}

// ErrInterrupted is returned when the run was cancelled (Ctrl-C) before it
// could reach a verdict.
var ErrInterrupted = errors.New("run interrupted")

// Run performs one test run as spec says, printing progress to out. The
// cluster is removed at the end whatever happens, unless
// spec.LeaveRunning.
func Run(ctx context.Context, spec Spec, out io.Writer, logger *slog.Logger) (Outcome, error) {
	if err := spec.Validate(); err != nil {
		return Outcome{}, err
	}
	sys, err := sut.Lookup(spec.System)
	if err != nil {
		return Outcome{}, err
	}
	workload := workloadFactories[spec.Workload]()
	rng := rand.New(rand.NewPCG(spec.Seed, 0x5c0a11))

	// Faults this machine cannot make are refused before anything of the
	// run exists.
	choices, images, err := preflight(ctx, sys, &spec, out, logger)
	if err != nil {
		return Outcome{}, err
	}
	faults, err := nemesis.Build(choices)
	if err != nil {
		return Outcome{}, err
	}

	started := time.Now()
	run, err := results.NewRun(spec.Store, spec.Name, started)
	if err != nil {
		return Outcome{}, err
	}
	outcome := Outcome{Dir: run.Dir, Verdict: checker.Unknown}
	if err := run.WriteSpec(spec); err != nil {
		return outcome, err
	}
	fmt.Fprintf(out, "squall: run %s (seed %d)\n", run.Dir, spec.Seed)

	startCluster := time.Now()
	names := make([]string, spec.Nodes)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	power := slices.ContainsFunc(choices, func(c nemesis.Choice) bool { return c.Family == "power" })
	cluster, err := runtime.Start(ctx, runtime.Config{
		RunID:        filepath.Base(run.Dir),
		Nodes:        names,
		Port:         sys.Port(),
		Image:        images.node,
		SidecarImage: images.squall,
		Ready:        sys.Ready,
		NodeArgs: func(node string, members []nemesis.Node) []string {
			return sys.NodeArgs(node, members, sut.NodeOptions{
				Cluster:  spec.Name,
				Bugs:     spec.Bugs,
				ReadMode: spec.ReadMode,
				// Power cuts must lose what was not synced.
				LoseUnsynced: power,
			})
		},
		NetFaults: needsNetwork(choices),
		Out:       out,
		LogDir:    filepath.Join(run.Dir, "nodes"),
		Logger:    logger,
	})
	if err != nil {
		return outcome, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if spec.LeaveRunning {
			fmt.Fprintf(out, "squall: left the cluster running on network %s; remove it with `squall clean`\n", cluster.Network())
			if err := cluster.Leave(closeCtx); err != nil {
				// Close would remove the cluster the user asked to keep.
				logger.Warn("keeping the cluster failed", "err", err)
				if err := cluster.CollectLogs(closeCtx); err != nil {
					logger.Warn("collecting node logs failed", "err", err)
				}
				return
			}
		}
		// A kept cluster is only disconnected from, after its logs are
		// collected.
		if err := cluster.Close(closeCtx); err != nil {
			logger.Warn("removing the cluster failed", "err", err)
		}
	}()
	fmt.Fprintf(out, "squall: %d nodes ready in %.1fs\n", spec.Nodes, time.Since(startCluster).Seconds())

	var target workloads.Target
	for _, n := range cluster.Nodes() {
		target.Nodes = append(target.Nodes, workloads.Node{Name: n.Name, Addr: cluster.Addr(n.Name)})
	}
	if err := waitServing(ctx, sys, target.Nodes, 60*time.Second); err != nil {
		return outcome, fmt.Errorf("cluster never served: %w", err)
	}

	rec, err := history.NewRecorder(filepath.Join(run.Dir, "history.jsonl"))
	if err != nil {
		return outcome, err
	}
	defer rec.Close()

	counts := &counters{}
	w := &workers{
		concurrency: spec.Concurrency, target: target, workload: workload, rec: rec,
		newClient: func(t workloads.Target) (workloads.Client, error) { return sys.NewClient(workload, t, spec.Bugs) },
		counts:    counts, opTimeout: spec.OpTimeout, logger: logger,
	}
	if spec.Rate > 0 {
		w.interval = time.Duration(float64(spec.Concurrency) / spec.Rate * float64(time.Second))
	}

	// The main phase: workers and nemesis until the time limit.
	nemCluster := &nemesisCluster{Cluster: cluster, sys: sys, nodes: target.Nodes}
	progress := newProgress(out, spec.TimeLimit, counts)
	schedule := &nemesis.Schedule{
		Faults: faults, Cluster: nemCluster, Recorder: rec, Interval: spec.NemesisInterval,
		Overlap: spec.NemesisOverlap, Seed: rng.Uint64(), Logger: logger,
		OnChange: progress.setFault,
		OnFailure: func(f string, err error) {
			progress.note("nemesis: %s failed: %v (the verdict can be no better than unknown)", f, err)
		},
	}
	mainCtx, stopMain := context.WithTimeout(ctx, spec.TimeLimit)
	defer stopMain()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if len(faults) > 0 {
			if err := schedule.Run(mainCtx); err != nil {
				logger.Error("nemesis failed", "err", err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		w.run(workload.NewGenerator(spec.Concurrency), mainCtx.Done(), rng.Uint64(), 0)
	}()
	progress.start()
	wg.Wait()
	progress.stop()
	if ctx.Err() != nil {
		return outcome, ErrInterrupted
	}

	// The final phase: heal, restart, wait for service, read.
	fmt.Fprintf(out, "squall: healing and running final reads\n")
	finalCtx, cancelFinal := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelFinal()
	// The schedule healed every fault when the main phase ended; a node a
	// failpoint crashed after that is started here.
	if err := nemCluster.startDown(finalCtx); err != nil {
		return outcome, fmt.Errorf("restart nodes for the final phase: %w", err)
	}
	if err := waitServing(finalCtx, sys, target.Nodes, time.Minute); err != nil {
		return outcome, fmt.Errorf("cluster did not recover after healing: %w", err)
	}
	w.run(workload.FinalGenerator(), finalCtx.Done(), rng.Uint64(), maxProcess(rec.History())+1)
	if err := rec.Close(); err != nil {
		return outcome, err
	}
	if ctx.Err() != nil {
		return outcome, ErrInterrupted
	}
	// Checking. (Node logs are collected when the cluster is closed.)
	h := rec.History()
	fmt.Fprintf(out, "squall: checking %d events\n", len(h))
	checkers := workload.Checkers(workloads.CheckOptions{Dir: run.Dir, Timeout: spec.CheckTimeout, Consistency: spec.Consistency})
	return check(ctx, run, spec, checkers, h, out, runTiming{started: started, ran: time.Since(started)})
}

// runTiming is when a run began and how long it ran before checking; zero
// for a history analyzed after the fact.
type runTiming struct {
	started time.Time
	ran     time.Duration
}

// check runs the checkers over h and writes the results and the report
// into run.
func check(ctx context.Context, run *results.Run, spec Spec, checkers []checker.Checker, h history.History, out io.Writer, timing runTiming) (Outcome, error) {
	started := time.Now()
	var rs []checker.Result
	if slices.ContainsFunc(h, func(op history.Op) bool { return op.Process == history.Nemesis }) {
		checkers = append(checkers, checker.Nemesis{})
	}
	for _, c := range checkers {
		rs = append(rs, c.Check(ctx, h))
	}
	verdict := checker.Compose(rs)
	summary := results.Summary{Test: spec.Name, Verdict: verdict, Results: rs, Seed: spec.Seed,
		Started: timing.started, RunDuration: timing.ran, CheckDuration: time.Since(started)}
	outcome := Outcome{Dir: run.Dir, Verdict: verdict, Results: rs}
	if err := run.WriteResults(summary); err != nil {
		return outcome, err
	}
	if err := run.WriteReport(spec, h, summary); err != nil {
		return outcome, err
	}
	for _, r := range rs {
		fmt.Fprintf(out, "  %-14s %-8s %s\n", r.Checker, r.Verdict, r.Summary)
	}
	verdictText := strings.ToUpper(string(verdict))
	if why := results.UnknownBecause(rs); verdict == checker.Unknown && why != "" {
		verdictText += " because " + why
	}
	fmt.Fprintf(out, "squall: %s — %s\n", verdictText, filepath.Join(run.Dir, "report.html"))
	return outcome, nil
}

func maxProcess(h history.History) int {
	m := -1
	for _, op := range h {
		if op.Process != history.Nemesis && int(op.Process) > m {
			m = int(op.Process)
		}
	}
	return m
}

// waitServing polls until the system serves or the timeout passes.
func waitServing(ctx context.Context, sys sut.System, nodes []workloads.Node, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	for {
		if err = sys.Serving(ctx, nodes); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// nemesisCluster gives faults the system's view of leadership and its
// nodes' admin services on top of the runtime's containers.
type nemesisCluster struct {
	*runtime.Cluster
	sys   sut.System
	nodes []workloads.Node
}

func (c *nemesisCluster) Leader(ctx context.Context) (string, error) {
	return c.sys.Leader(ctx, c.nodes)
}

// startDown starts every node that is not running.
func (c *nemesisCluster) startDown(ctx context.Context) error {
	for _, n := range c.nodes {
		st, err := c.State(ctx, n.Name)
		if err != nil {
			return err
		}
		if st == nemesis.NodeDown {
			if err := c.Start(ctx, n.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// NewNemesisCluster is the cluster faults see for a cluster of sys, for
// tools that drive faults outside a run (the nemesis benchmarks).
func NewNemesisCluster(sys sut.System, c *runtime.Cluster) (nemesis.Cluster, error) {
	nc := &nemesisCluster{Cluster: c, sys: sys}
	for _, n := range c.Nodes() {
		nc.nodes = append(nc.nodes, workloads.Node{Name: n.Name, Addr: c.Addr(n.Name)})
	}
	return nc, nil
}
