package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/harness"
)

func analyzeCommand() *cli.Command {
	return &cli.Command{
		Name:      "analyze",
		Usage:     "re-run the checkers on a run directory or a history file",
		ArgsUsage: "RUN_DIR | HISTORY.jsonl",
		Description: "For a run directory, rewrites its results.json and report.html.\n" +
			"For a bare history file (JSON lines, see README), writes a new run directory in --store.\n" +
			"Exit code: 0 valid, 1 invalid, 2 unknown, 3 error.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "workload", Value: "register", Usage: "workload whose checkers judge a bare history: " + strings.Join(harness.WorkloadNames(), ", ")},
			&cli.DurationFlag{Name: "check-timeout", Usage: "time budget of each expensive checker, linearizability or elle (default: the run's, or 1m)"},
			&cli.StringFlag{Name: "store", Value: "store", Usage: "where results of a bare history go"},
			&cli.StringFlag{Name: "consistency", Usage: "model for transactional checkers (default: the run's, or the checker's: strict-serializable)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("analyze: want one RUN_DIR or HISTORY.jsonl, got %d arguments", c.NArg())
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			outcome, err := harness.Analyze(ctx, c.Args().First(), harness.AnalyzeOptions{
				Workload: c.String("workload"), CheckTimeout: c.Duration("check-timeout"), Store: c.String("store"),
				Consistency: c.String("consistency"),
			}, c.App.Writer)
			if err != nil {
				return err
			}
			return verdictExit(outcome.Verdict)
		},
	}
}
