package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// CollectLogs writes each node's output, stdout and stderr interleaved as
// the engine recorded them and across all the container's starts, to
// Config.LogDir/NAME.log.
func (c *Cluster) CollectLogs(ctx context.Context) error {
	if c.cfg.LogDir == "" {
		return errors.New("collect node logs: no log directory configured")
	}
	if err := os.MkdirAll(c.cfg.LogDir, 0o755); err != nil {
		return fmt.Errorf("collect node logs: %w", err)
	}
	c.mu.Lock()
	names := make([]string, 0, len(c.containers))
	for name := range c.containers {
		names = append(names, name)
	}
	c.mu.Unlock()

	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = c.collectLog(ctx, name) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) collectLog(ctx context.Context, name string) error {
	path := filepath.Join(c.cfg.LogDir, name+".log")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("collect log of node %s: %w", name, err)
	}
	err = c.writeLogs(ctx, name, "all", f)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("collect log of node %s into %s: %w", name, path, err)
	}
	return nil
}

// writeLogs copies the last tail lines ("all" for every line) of the
// node's output to w.
func (c *Cluster) writeLogs(ctx context.Context, name, tail string, w io.Writer) error {
	id, err := c.containerID(name)
	if err != nil {
		return err
	}
	logs, err := c.docker.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail})
	if err != nil {
		return err
	}
	defer logs.Close()
	// Without a TTY the engine multiplexes both streams into one.
	_, err = stdcopy.StdCopy(w, w, logs)
	return err
}
