package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is the release name, set at build time with
// -ldflags "-X main.version=v1.2.3"; builds without it say "dev".
var version = "dev"

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print squall's version, source revision and Go version",
		Action: func(c *cli.Context) error {
			return writeVersion(c.App.Writer)
		},
	}
}

// writeVersion prints the release name and what the Go toolchain recorded
// about the build: the module version, the source revision (when built
// from a checkout with VCS stamping on) and the Go version.
func writeVersion(w io.Writer) error {
	module, revision, goVersion := "unknown", "unknown", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if info.Main.Version != "" {
			module = info.Main.Path + " " + info.Main.Version
		}
		settings := make(map[string]string)
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			revision = rev
			if settings["vcs.modified"] == "true" {
				revision += " (modified)"
			}
		}
	}
	_, err := fmt.Fprintf(w, "squall %s\nmodule:   %s\nrevision: %s\ngo:       %s\n",
		version, module, revision, goVersion)
	return err
}
