package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/harness/runtime"
)

func cleanCommand() *cli.Command {
	return &cli.Command{
		Name:  "clean",
		Usage: "remove what squall runs left in Docker (by label; nothing else), leaving tests under way alone",
		Description: "Removes the containers, networks and volumes of every run whose controller is gone\n" +
			"(a crashed run, or one kept with --leave-running), and node images beyond the newest " + fmt.Sprint(runtime.ImagesKept) + "\n" +
			"built over an hour ago (a newer one may be about to start a run).\n" +
			"A run whose controller process is alive, or that belongs to another host sharing the engine,\n" +
			"is a test under way: it is left alone and listed, unless --force. Only objects labelled\n" +
			"squall=true are touched; a container started by hand from a squall-node image is not squall's.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "also remove the runs of live controllers, stopping the tests under way"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("clean: unexpected argument %q (see 'squall clean --help')", c.Args().First())
			}
			logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
			report, err := runtime.Clean(c.Context, logger, c.Bool("force"))
			printCleanReport(c.App.Writer, report)
			return err
		},
	}
}

func printCleanReport(w io.Writer, r runtime.CleanReport) {
	for _, o := range r.Stopped {
		fmt.Fprintf(w, "stopped run %s, a test under way (--force): %s\n", o.Run, o.Why)
	}
	fmt.Fprintln(w, r.Removed)
	if len(r.Removed.Containers)+len(r.Removed.Networks)+len(r.Removed.Volumes) > 0 {
		for _, kind := range []struct {
			name  string
			names []string
		}{{"containers", r.Removed.Containers}, {"networks", r.Removed.Networks}, {"volumes", r.Removed.Volumes}} {
			if len(kind.names) > 0 {
				fmt.Fprintf(w, "  %s: %s\n", kind.name, strings.Join(kind.names, " "))
			}
		}
	}
	for _, o := range r.Left {
		fmt.Fprintf(w, "left run %s alone: %s (squall clean --force removes it)\n", o.Run, o.Why)
	}
	if len(r.Images) > 0 {
		fmt.Fprintf(w, "removed %d old node image(s): %s\n", len(r.Images), strings.Join(r.Images, " "))
	}
}
