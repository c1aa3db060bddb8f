package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/nemesis/netfault"
)

// netfaultCommand is `squall netfault`: the network fault agent. The
// runtime runs it in a sidecar container that shares a node's network
// namespace and holds only NET_ADMIN; users never need to.
func netfaultCommand() *cli.Command {
	return &cli.Command{
		Name:  "netfault",
		Usage: "change the network of the namespace it runs in (the agent in each node's sidecar; run by the harness)",
		Subcommands: []*cli.Command{
			{
				Name:      "apply",
				Usage:     "put one fault family's network state in force, replacing what the family had",
				ArgsUsage: "CHANGE_JSON",
				Description: `CHANGE_JSON is {"family":"partition","drop":["10.0.0.3"]}, ` +
					`{"family":"loss","loss":[{"addr":"10.0.0.3","percent":20}]}, {"family":"loss","rate":65536}, ...; ` +
					`{"family":"NAME"} alone heals the family.`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("netfault apply: want one argument, the change as JSON; got %d", c.NArg())
					}
					var change netfault.Change
					dec := json.NewDecoder(strings.NewReader(c.Args().First()))
					dec.DisallowUnknownFields()
					if err := dec.Decode(&change); err != nil {
						return fmt.Errorf("netfault apply: change %q: %w", c.Args().First(), err)
					}
					return netfault.Apply(change)
				},
			},
			{
				Name:  "probe",
				Usage: "try each kernel feature the network faults need; print a JSON object of feature to error (\"\" if it works)",
				Action: func(c *cli.Context) error {
					report := map[string]string{}
					for feature, err := range netfault.Probe() {
						report[feature] = ""
						if err != nil {
							report[feature] = err.Error()
						}
					}
					return json.NewEncoder(c.App.Writer).Encode(report)
				},
			},
			{
				Name:  "wait",
				Usage: "wait for SIGTERM: the sidecar's main process, which keeps the namespace's sidecar alive",
				Action: func(c *cli.Context) error {
					signals := make(chan os.Signal, 1)
					signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
					<-signals
					return nil
				},
			},
		},
	}
}
