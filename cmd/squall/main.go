// Command squall is the squall chaos-testing harness: the CLI its users run,
// and `squall node`, the server process inside each container. Each
// subcommand lives in its own file and is listed in newApp.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// exitHarnessError is the exit code for any failure of squall itself, as
// opposed to a verdict on the system under test. DESIGN.md reserves 0-2 for
// verdicts (valid, invalid, unknown) and 3 and up for harness errors.
const exitHarnessError = 3

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process's exit code.
func run(args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).Run(args)
	if err == nil {
		return 0
	}
	// A command that has a verdict to report returns it as a cli.ExitCoder
	// (cli.Exit(message, code)); every other error is a harness error.
	var exit cli.ExitCoder
	if errors.As(err, &exit) {
		if msg := exit.Error(); msg != "" {
			fmt.Fprintf(stderr, "squall: %s\n", msg)
		}
		return exit.ExitCode()
	}
	fmt.Fprintf(stderr, "squall: %v\n", err)
	return exitHarnessError
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "squall",
		Usage:   "Jepsen-style chaos testing for distributed systems",
		Version: version,
		Commands: []*cli.Command{
			versionCommand(),
			nodeCommand(),
			testCommand(),
			suiteCommand(),
			bugsCommand(),
			serveCommand(),
			analyzeCommand(),
			cleanCommand(),
			benchCommand(),
			netfaultCommand(),
		},
		// Without arguments, print help; with an argument that names no
		// command, fail (urfave/cli would otherwise print help and succeed).
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown command %q (see 'squall --help')", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Writer:    stdout,
		ErrWriter: stderr,
		// run, not urfave/cli, decides the exit code: the default handler
		// would call os.Exit from inside Run.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
	}
	for _, c := range app.Commands {
		setUsageError(c)
	}
	return app
}

// setUsageError makes c and its subcommands report a usage error as one
// line, not the whole help text urfave/cli prints by default.
func setUsageError(c *cli.Command) {
	c.OnUsageError = usageError
	for _, sub := range c.Subcommands {
		setUsageError(sub)
	}
}

// invalidValue is the flag package's report of a value it cannot parse.
var invalidValue = regexp.MustCompile(`^invalid value "(.*)" for flag -([a-z0-9-]+): (.*)$`)

// usageError is the one line that matters of a usage error, with what a
// flag's value should look like and a pointer to the command's help.
func usageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("--%s: %q is not %s", m[2], m[1], wantedValue(c, m[2]))
	} else if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = fmt.Sprintf("unknown flag --%s", name)
	}
	return fmt.Errorf("%s (see 'squall %s--help')", msg, commandPath(c))
}

// wantedValue says what flag name takes.
func wantedValue(c *cli.Context, name string) string {
	var flags []cli.Flag
	if c.Command != nil {
		flags = c.Command.Flags
	}
	for _, f := range append(flags, c.App.Flags...) {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.DurationFlag:
			return "a duration with a unit, like 60s, 5m or 1h30m"
		case *cli.IntFlag, *cli.Int64Flag:
			return "a whole number"
		case *cli.UintFlag, *cli.Uint64Flag:
			return "a whole number, 0 or more"
		case *cli.Float64Flag:
			return "a number"
		case *cli.BoolFlag:
			return "true or false"
		}
	}
	return "a value it takes"
}

// commandPath is "test " for squall test, "" for squall itself.
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != c.App.Name {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return strings.Join(names, " ") + " "
}
