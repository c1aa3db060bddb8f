// Command squall is the squall chaos-testing harness: the CLI its users run,
// and `squall node`, the server process inside each container. Each
// subcommand lives in its own file and is listed in newApp.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

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
	return &cli.App{
		Name:    "squall",
		Usage:   "Jepsen-style chaos testing for distributed systems",
		Version: version,
		Commands: []*cli.Command{
			versionCommand(),
			nodeCommand(),
			testCommand(),
			analyzeCommand(),
			cleanCommand(),
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
	}
}
