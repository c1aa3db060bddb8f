package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/harness"
	"github.com/squall-chaos/squall/harness/suite"
)

func suiteCommand() *cli.Command {
	return &cli.Command{
		Name:  "suite",
		Usage: "run many tests: a matrix from flags or a file, the nightly suite, or the selfcheck",
		Description: "Runs every combination of --systems, --workloads, --nemeses, --seeds and --time-limit\n" +
			"(each --repeats times), or the tests of a suite file (--file; see examples/suite.yaml),\n" +
			"or a built-in suite: --nightly (every system and workload with --nemesis all) or\n" +
			"--selfcheck (each planted bug --runs times with the faults that reveal it, and clean\n" +
			"runs with --nemesis all: a detection table). Tests run --parallel at a time, each with\n" +
			"its own cluster and network; each run is stored as `squall test` stores it, and the\n" +
			"suite writes suite.json, junit.xml and index.html under store/suites/<name>/<time>/.\n" +
			"Exit code: the worst verdict, 1 invalid over 2 unknown (or a test the harness failed)\n" +
			"over 0 valid; 3 if the suite itself could not run.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Usage: "suite file (YAML)"},
			&cli.BoolFlag{Name: "nightly", Usage: "the built-in nightly suite"},
			&cli.BoolFlag{Name: "selfcheck", Usage: "the built-in selfcheck: how often squall catches each planted bug"},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "selfcheck: runs of each planted bug and of each clean configuration"},
			&cli.StringFlag{Name: "systems", Usage: "systems, comma-separated"},
			&cli.StringFlag{Name: "workloads", Usage: "workloads, comma-separated"},
			&cli.StringFlag{Name: "nemeses", Usage: "nemeses, separated by ';', each a --nemesis value: \"partition,kill;pause:leader;none\""},
			&cli.StringFlag{Name: "seeds", Usage: "seeds, comma-separated (default: one per test, from --seed)"},
			&cli.IntFlag{Name: "repeats", Value: 1, Usage: "runs of each combination"},
			&cli.IntFlag{Name: "parallel", Usage: "tests at once", DefaultText: "one per four cores, here " + strconv.Itoa(suite.DefaultParallel())},
			&cli.StringFlag{Name: "name", Usage: "suite name (default: the file's, nightly, selfcheck or matrix)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed the tests' seeds derive from", DefaultText: "random"},
			&cli.DurationFlag{Name: "time-limit", Value: 60 * time.Second, Usage: "length of each test's main phase"},
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "cluster size"},
			&cli.StringFlag{Name: "concurrency", Value: "2n", Usage: "client workers: a number, or N per node like 3n"},
			&cli.DurationFlag{Name: "nemesis-interval", Value: 10 * time.Second, Usage: "length of each fault and of each calm between faults"},
			&cli.DurationFlag{Name: "op-timeout", Value: 5 * time.Second, Usage: "client timeout per operation"},
			&cli.DurationFlag{Name: "check-timeout", Value: 60 * time.Second, Usage: "time budget of each expensive checker"},
			&cli.StringFlag{Name: "store", Value: "store", Usage: "directory runs and suites are written under"},
			&cli.DurationFlag{Name: "progress", Value: 30 * time.Second, Usage: "how often to print the tests running (0: never)"},
			&cli.BoolFlag{Name: "verbose", Usage: "log harness events to stderr"},
		},
		Action: runSuite,
	}
}

func runSuite(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("suite: unexpected argument %q", c.Args().First())
	}
	name, entries, err := suiteEntries(c)
	if err != nil {
		return err
	}
	if c.IsSet("parallel") && c.Int("parallel") < 1 {
		return fmt.Errorf("--parallel: %d must be 1 or more", c.Int("parallel"))
	}
	logger := harnessLogger(c)
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, dir, err := suite.Run(ctx, name, entries, suite.Options{
		Store: c.String("store"), Parallel: c.Int("parallel"), Out: c.App.Writer,
		ProgressEvery: c.Duration("progress"), Logger: logger,
	})
	if s.Detection != nil {
		fmt.Fprint(c.App.Writer, "\n"+suite.DetectionTable(s.Detection))
	}
	if errors.Is(err, harness.ErrInterrupted) {
		return fmt.Errorf("interrupted; every cluster was removed, and the tests that ran are in %s", dir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "squall: suite %s: %s — %s\n", name, strings.ToUpper(string(s.Verdict)), dir)
	return verdictExit(s.Verdict)
}

// suiteEntries builds the suite's tests from the flags, every one
// validated before anything runs.
func suiteEntries(c *cli.Context) (string, []suite.Entry, error) {
	base := harness.Spec{
		Nodes: c.Int("nodes"), ConcurrencyText: c.String("concurrency"), TimeLimit: c.Duration("time-limit"),
		NemesisInterval: c.Duration("nemesis-interval"), OpTimeout: c.Duration("op-timeout"),
		CheckTimeout: c.Duration("check-timeout"), Store: c.String("store"),
	}
	var err error
	if base.Concurrency, err = harness.ParseConcurrency(base.ConcurrencyText, base.Nodes); err != nil {
		return "", nil, err
	}
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = rand.Uint64() >> 1
	}
	matrixFlags := []string{"systems", "workloads", "nemeses", "seeds"}
	var chosen []string
	for _, f := range []string{"file", "nightly", "selfcheck"} {
		if c.IsSet(f) {
			chosen = append(chosen, "--"+f)
		}
	}
	for _, f := range matrixFlags {
		if c.IsSet(f) {
			chosen = append(chosen, "--systems/--workloads/--nemeses")
			break
		}
	}
	if len(chosen) != 1 {
		return "", nil, fmt.Errorf("suite: give one of --file, --nightly, --selfcheck, or a matrix (--systems, --workloads, --nemeses); got %d (%s)", len(chosen), strings.Join(chosen, ", "))
	}
	name := c.String("name")
	var m suite.Matrix
	switch {
	case c.Bool("selfcheck"):
		if c.Int("runs") < 1 {
			return "", nil, fmt.Errorf("--runs: %d must be 1 or more", c.Int("runs"))
		}
		entries, err := suite.Selfcheck(base, c.Int("runs"), seed)
		return cmpOr(name, "selfcheck"), entries, err
	case c.Bool("nightly"):
		m = suite.Nightly(base)
	case c.IsSet("file"):
		if m, err = suite.Load(c.String("file"), base); err != nil {
			return "", nil, err
		}
	default:
		m = suite.Matrix{Name: "matrix", Systems: splitComma(c.String("systems")), Workloads: splitComma(c.String("workloads")),
			Nemeses: splitSemicolon(c.String("nemeses")), Base: base}
		for _, s := range splitComma(c.String("seeds")) {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return "", nil, fmt.Errorf("--seeds: %q is not a seed (a number 0 or more)", s)
			}
			m.Seeds = append(m.Seeds, n)
		}
	}
	if c.IsSet("repeats") {
		if c.Int("repeats") < 1 {
			return "", nil, fmt.Errorf("--repeats: %d must be 1 or more", c.Int("repeats"))
		}
		m.Repeats = c.Int("repeats")
	}
	m.Name = cmpOr(name, m.Name)
	entries, err := m.Entries(seed)
	return m.Name, entries, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func splitComma(s string) []string { return splitOn(s, ",") }

func splitSemicolon(s string) []string { return splitOn(s, ";") }

func splitOn(s, sep string) []string {
	var out []string
	for _, item := range strings.Split(s, sep) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
