package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/harness"
	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/sut"
)

// Exit codes of `squall test` and `squall analyze`: the verdict, or a
// harness error (exitHarnessError).
const (
	exitValid   = 0
	exitInvalid = 1
	exitUnknown = 2
)

func verdictExit(v checker.Verdict) error {
	switch v {
	case checker.Valid:
		return nil
	case checker.Invalid:
		return cli.Exit("", exitInvalid)
	}
	return cli.Exit("", exitUnknown)
}

func testCommand() *cli.Command {
	return &cli.Command{
		Name:  "test",
		Usage: "run a chaos test against a cluster in Docker containers",
		Description: "Starts a cluster, runs the workload with the nemesis until the time limit, heals,\n" +
			"runs final reads, checks the history and writes store/<test>/<time>/.\n" +
			"Exit code: 0 valid, 1 invalid, 2 unknown, 3 harness error.\n\n" + nemesisHelp(),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "system", Value: "kv", Usage: "system under test: " + strings.Join(sut.Names(), ", ")},
			&cli.StringFlag{Name: "workload", Value: "register", Usage: "workload: " + strings.Join(harness.WorkloadNames(), ", ")},
			&cli.StringFlag{Name: "nemesis", Value: "partition,kill", Usage: "faults, comma-separated: FAMILY or FAMILY:MODE (families and modes below), all, or none"},
			&cli.BoolFlag{Name: "nemesis-overlap", Usage: "let faults of several families be in force at once (each family keeps its own timeline)"},
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "cluster size"},
			&cli.StringFlag{Name: "concurrency", Value: "2n", Usage: "client workers: a number, or N per node like 3n"},
			&cli.DurationFlag{Name: "time-limit", Value: 60 * time.Second, Usage: "length of the main phase"},
			&cli.Float64Flag{Name: "rate", Value: 0, Usage: "target operations per second over all workers (0: as fast as they go)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed for every random choice, printed and saved in spec.json", DefaultText: "random"},
			&cli.DurationFlag{Name: "nemesis-interval", Value: 10 * time.Second, Usage: "length of each fault and of each calm between faults"},
			&cli.StringFlag{Name: "read-mode", Usage: "how nodes serve reads, for a system that has read modes (kv: readindex, log, lease)"},
			&cli.StringFlag{Name: "consistency", Usage: "model transactional checkers hold the history to: read-committed, repeatable-read, snapshot-isolation, serializable, strict-serializable (default: kv strict-serializable, percolator snapshot-isolation)"},
			&cli.StringSliceFlag{Name: "bug", Usage: "start nodes with a planted bug; " + bugList()},
			&cli.DurationFlag{Name: "op-timeout", Value: 5 * time.Second, Usage: "client timeout per operation"},
			&cli.DurationFlag{Name: "check-timeout", Value: 60 * time.Second, Usage: "time budget of each expensive checker, linearizability or elle"},
			&cli.StringFlag{Name: "store", Value: "store", Usage: "directory runs are written under"},
			&cli.StringFlag{Name: "name", Usage: "test name (default: system-workload-nemesis)"},
			&cli.BoolFlag{Name: "leave-running", Usage: "keep the containers after the run for inspection (remove with squall clean)"},
			&cli.BoolFlag{Name: "verbose", Usage: "log harness events to stderr"},
		},
		Action: runTest,
	}
}

func runTest(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("test: unexpected argument %q", c.Args().First())
	}
	spec, err := specFromFlags(c)
	if err != nil {
		return err
	}
	logger := harnessLogger(c)
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	outcome, err := harness.Run(ctx, spec, c.App.Writer, logger)
	if errors.Is(err, harness.ErrInterrupted) {
		return fmt.Errorf("interrupted; the cluster was removed and the history so far is in %s", outcome.Dir)
	}
	if err != nil {
		if outcome.Dir != "" {
			return fmt.Errorf("%w (run directory %s)", err, outcome.Dir)
		}
		return err
	}
	return verdictExit(outcome.Verdict)
}

// harnessLogger logs harness events to stderr: warnings, or everything
// with --verbose.
func harnessLogger(c *cli.Context) *slog.Logger {
	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
}

// bugList names every system's planted bugs.
func bugList() string {
	var parts []string
	for _, sys := range sut.Names() {
		parts = append(parts, sys+": "+strings.Join(sut.BugNames(sys), ", "))
	}
	return strings.Join(parts, "; ")
}

// nemesisHelp lists the fault families and their modes.
func nemesisHelp() string {
	var b strings.Builder
	b.WriteString("Fault families (--nemesis): a family alone takes all its modes; FAMILY:MODE one mode.\n")
	for _, f := range nemesis.Families() {
		fmt.Fprintf(&b, "  %-10s %s\n", f.Name, f.Usage)
	}
	b.WriteString("  all        every family, leaving out modes this machine's kernel cannot do (delay without netem)")
	return b.String()
}

func specFromFlags(c *cli.Context) (harness.Spec, error) {
	spec := harness.Spec{
		Name:            c.String("name"),
		System:          c.String("system"),
		Workload:        c.String("workload"),
		Nodes:           c.Int("nodes"),
		ConcurrencyText: c.String("concurrency"),
		TimeLimit:       c.Duration("time-limit"),
		Rate:            c.Float64("rate"),
		Seed:            c.Uint64("seed"),
		NemesisInterval: c.Duration("nemesis-interval"),
		ReadMode:        c.String("read-mode"),
		Consistency:     c.String("consistency"),
		Bugs:            c.StringSlice("bug"),
		OpTimeout:       c.Duration("op-timeout"),
		CheckTimeout:    c.Duration("check-timeout"),
		Store:           c.String("store"),
		LeaveRunning:    c.Bool("leave-running"),
	}
	if !c.IsSet("seed") {
		spec.Seed = rand.Uint64() >> 1
	}
	for _, item := range nemesis.SplitList(c.String("nemesis")) {
		if item != "none" {
			spec.Nemesis = append(spec.Nemesis, item)
		}
	}
	spec.NemesisOverlap = c.Bool("nemesis-overlap")
	var err error
	if spec.Concurrency, err = harness.ParseConcurrency(spec.ConcurrencyText, spec.Nodes); err != nil {
		return spec, err
	}
	return spec, spec.Validate()
}
