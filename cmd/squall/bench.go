package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/bench"
	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/sut/etcd"
)

func benchCommand() *cli.Command {
	d := bench.DefaultConfig
	return &cli.Command{
		Name:  "bench",
		Usage: "measure squall's KV beside etcd under the same put and linearizable-get load",
		Description: "Starts a cluster of squall's KV (squall node --system kv) and one of etcd, each as\n" +
			"local processes with every write fsynced at their default settings, and loads each in\n" +
			"turn: every key put once, then linearizable gets of random keys, then each member's\n" +
			"resident set. Runs alternate between the systems and which goes first, each on a\n" +
			"fresh cluster; the table gives each figure's median over the runs and kv/etcd.\n" +
			"The machine should be otherwise idle: the figures are the machine's as much as squall's.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: d.Nodes, Usage: "members of each cluster"},
			&cli.IntFlag{Name: "keys", Value: d.Keys, Usage: "keys put, each once"},
			&cli.IntFlag{Name: "value-size", Value: d.ValueSize, Usage: "bytes of each value"},
			&cli.IntFlag{Name: "gets", Value: d.Gets, Usage: "linearizable gets after the puts (0 for none)"},
			&cli.IntFlag{Name: "clients", Value: d.Clients, Usage: "concurrent clients, each one operation at a time"},
			&cli.IntFlag{Name: "runs", Value: d.Runs, Usage: "runs of each system"},
			&cli.StringFlag{Name: "dir", Usage: "where the clusters keep their data and logs (default: the system's temporary directory); a failed run's stay there"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("bench: unexpected argument %q", c.Args().First())
			}
			cfg := bench.Config{Nodes: c.Int("nodes"), Keys: c.Int("keys"), ValueSize: c.Int("value-size"),
				Gets: c.Int("gets"), Clients: c.Int("clients"), Runs: c.Int("runs")}
			if err := cfg.Validate(); err != nil {
				return err
			}
			parent := c.String("dir")
			if parent == "" {
				parent = os.TempDir()
			} else if st, err := os.Stat(parent); err != nil {
				return fmt.Errorf("--dir: %w (want an existing directory to hold the runs' data)", err)
			} else if !st.IsDir() {
				return fmt.Errorf("--dir: %s is not a directory", parent)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			squall, err := runtime.SquallBinary(ctx)
			if err != nil {
				return err
			}
			etcdServer, err := etcd.Binary(ctx)
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp(parent, "squall-bench-")
			if err != nil {
				return fmt.Errorf("--dir: %w", err)
			}
			out := c.App.Writer
			fmt.Fprintf(out, "squall bench: kv and etcd, %d nodes each, %d keys of %d bytes, then %d linearizable gets, %d clients; runs of each: %d, alternating\n",
				cfg.Nodes, cfg.Keys, cfg.ValueSize, cfg.Gets, cfg.Clients, cfg.Runs)
			all, err := bench.Run(ctx, cfg, dir, []bench.System{bench.KV(squall), bench.Etcd(etcdServer)},
				func(f bench.Figures) { fmt.Fprintln(out, bench.Line(f)) })
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted; every cluster was stopped, and its data and logs are in %s", dir)
				}
				return fmt.Errorf("%w\n(the failed run's data and logs are in %s)", err, dir)
			}
			fmt.Fprintln(out)
			if err := bench.WriteTable(out, []bench.Figures{bench.Median(all, "kv"), bench.Median(all, "etcd")}); err != nil {
				return err
			}
			return os.RemoveAll(dir)
		},
	}
}
