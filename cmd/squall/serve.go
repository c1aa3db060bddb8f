package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/results"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "browse a store: runs, suites, each test night by night, and every run's report and files",
		Description: "Serves the store read-only over HTTP, on the loopback interface unless --addr says\n" +
			"otherwise. Pages: runs (filter by verdict, system or text; sort by a column), suites,\n" +
			"and one test's verdicts night by night with the night it went red.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Value: "store", Usage: "directory runs are written under"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "address to listen on (host:port; port 0 picks a free one)"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("serve: unexpected argument %q", c.Args().First())
			}
			if st, err := os.Stat(c.String("store")); err != nil || !st.IsDir() {
				return fmt.Errorf("--store: %s is not a directory of runs (squall test writes one)", c.String("store"))
			}
			srv, err := results.NewServer(c.String("store"))
			if err != nil {
				return err
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", c.String("addr"))
			if err != nil {
				return fmt.Errorf("--addr: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "squall: serving %s at http://%s/ (Ctrl-C to stop)\n", c.String("store"), ln.Addr())
			httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				httpSrv.Shutdown(shutdown)
			}()
			if err := httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
}
