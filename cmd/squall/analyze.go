package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/harness"
)

// analyzeGCPercent is the Go collector's target (GOGC) while analyze
// runs, unless the environment sets GOGC. Analyze holds a whole history
// and the checkers' structures at once: about 1.2 GiB live at the peak
// for a million list-append transactions. At Go's default of 100 its peak
// resident memory reached 1.9 GiB; at 50, 1.5 GiB, for about the same CPU
// (docs/transactions.md).
const analyzeGCPercent = 50

func analyzeCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "workload", Usage: "workload whose checkers judge a bare history: " + strings.Join(harness.AnalyzeWorkloadNames(), ", "), DefaultText: "the run's, or the one the history's operations are"},
		&cli.DurationFlag{Name: "check-timeout", Usage: "time budget of each expensive checker, linearizability or elle", DefaultText: "the run's, or 1m"},
		&cli.StringFlag{Name: "store", Value: "store", Usage: "where results of a bare history go"},
		&cli.StringFlag{Name: "consistency", Usage: "model for transactional checkers: read-committed, repeatable-read, snapshot-isolation, serializable, strict-serializable", DefaultText: "the run's, or strict-serializable"},
	}
	return &cli.Command{
		Name:      "analyze",
		Usage:     "re-run the checkers on a run directory or a history file",
		ArgsUsage: "RUN_DIR | HISTORY",
		Description: "For a run directory, rewrites its results.json and report.html.\n" +
			"For a bare history file (squall's JSON lines, see README, or Jepsen's history.edn),\n" +
			"writes a new run directory in --store. Flags may come before or after the path.\n" +
			"Exit code: 0 valid, 1 invalid, 2 unknown, 3 error.",
		Flags: flags,
		Action: func(c *cli.Context) error {
			args, err := parseAnalyzeArgs(c, flags)
			if errors.Is(err, flag.ErrHelp) {
				return cli.ShowSubcommandHelp(c)
			}
			if err != nil {
				return err
			}
			if _, set := os.LookupEnv("GOGC"); !set {
				defer debug.SetGCPercent(debug.SetGCPercent(analyzeGCPercent))
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			outcome, err := harness.Analyze(ctx, args.path, args.opts, c.App.Writer)
			if err != nil {
				return err
			}
			return verdictExit(outcome.Verdict)
		},
	}
}

type analyzeArgs struct {
	path string
	opts harness.AnalyzeOptions
}

// parseAnalyzeArgs reads analyze's one path and its flags, which may
// also follow the path (`squall analyze h.jsonl --workload register`, as
// users type it): urfave/cli stops parsing flags at the first argument,
// so the rest are parsed here, with the same flags, and win over those
// before the path.
func parseAnalyzeArgs(c *cli.Context, flags []cli.Flag) (analyzeArgs, error) {
	rest := c.Args().Slice()
	if len(rest) == 0 {
		return analyzeArgs{}, fmt.Errorf("analyze: want one RUN_DIR or HISTORY file, got none")
	}
	set := flag.NewFlagSet("analyze", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range flags {
		if err := f.Apply(set); err != nil {
			return analyzeArgs{}, err
		}
	}
	var paths []string
	for len(rest) > 0 {
		if err := set.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return analyzeArgs{}, err
			}
			return analyzeArgs{}, fmt.Errorf("analyze: %v", err)
		}
		rest = set.Args()
		if len(rest) > 0 {
			paths, rest = append(paths, rest[0]), rest[1:]
		}
	}
	if len(paths) != 1 {
		return analyzeArgs{}, fmt.Errorf("analyze: want one RUN_DIR or HISTORY file, got %d: %s", len(paths), strings.Join(paths, " "))
	}
	after := make(map[string]bool)
	set.Visit(func(f *flag.Flag) { after[f.Name] = true })
	str := func(name string) string {
		if after[name] {
			return set.Lookup(name).Value.String()
		}
		return c.String(name)
	}
	timeout := c.Duration("check-timeout")
	if after["check-timeout"] {
		timeout = set.Lookup("check-timeout").Value.(flag.Getter).Get().(time.Duration)
	}
	return analyzeArgs{path: paths[0], opts: harness.AnalyzeOptions{
		Workload: str("workload"), CheckTimeout: timeout, Store: str("store"), Consistency: str("consistency"),
	}}, nil
}
