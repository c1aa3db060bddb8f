package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/sut"
)

func bugsCommand() *cli.Command {
	return &cli.Command{
		Name:  "bugs",
		Usage: "list every planted bug of every system: what it breaks and the run that reveals it",
		Description: "Each system can be started with planted bugs (squall test --bug NAME), to show that\n" +
			"squall catches what they break. `squall suite --selfcheck` runs each one's revealing run.",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("bugs: unexpected argument %q", c.Args().First())
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "SYSTEM\tBUG\tBREAKS")
			for _, name := range sut.Names() {
				sys, err := sut.Lookup(name)
				if err != nil {
					return err
				}
				for _, b := range sys.Bugs() {
					fmt.Fprintf(w, "%s\t%s\t%s\n", name, b.Name, b.Breaks)
					fmt.Fprintf(w, "\t\trevealed by: squall test --system %s --bug %s %s\n", name, b.Name, strings.Join(b.RevealedBy.Flags(), " "))
				}
			}
			return w.Flush()
		},
	}
}
