package main

import (
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/harness/runtime"
)

func cleanCommand() *cli.Command {
	return &cli.Command{
		Name:  "clean",
		Usage: "remove every container, network and volume squall created (by label; nothing else)",
		Action: func(c *cli.Context) error {
			logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
			summary, err := runtime.Clean(c.Context, logger)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, summary)
			return nil
		},
	}
}
