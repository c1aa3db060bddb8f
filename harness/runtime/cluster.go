package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/squall-chaos/squall/nemesis"
)

// closeTimeout bounds Close, which may run after the run's context is
// cancelled (Ctrl-C).
const closeTimeout = 30 * time.Second

// Cluster is a run's nodes, each in its own container on the run's network.
// It is the runtime half of nemesis.Cluster: everything but Leader, which
// depends on the system under test.
type Cluster struct {
	cfg      Config
	provider *testcontainers.DockerProvider
	docker   client.APIClient
	net      runNetwork
	nodes    []nemesis.Node

	mu         sync.Mutex
	containers map[string]string   // node name -> container id
	sidecars   map[string]*sidecar // node name -> its network sidecar
	kept       bool
}

// Nodes lists the nodes with their addresses.
func (c *Cluster) Nodes() []nemesis.Node { return slices.Clone(c.nodes) }

// Protected is the controller's address on the run's network (the bridge's
// gateway): a partition that cut it would cut the harness off its nodes.
func (c *Cluster) Protected() []netip.Addr { return []netip.Addr{c.net.Gateway} }

// Network is the name of the run's Docker network.
func (c *Cluster) Network() string { return c.net.Name }

func (c *Cluster) containerID(name string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.containers[name]
	if !ok {
		return "", fmt.Errorf("no node %q in run %s", name, c.cfg.RunID)
	}
	return id, nil
}

func (c *Cluster) state(ctx context.Context, name string) (*container.State, error) {
	id, err := c.containerID(name)
	if err != nil {
		return nil, err
	}
	res, err := c.docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect node %s: %w", name, err)
	}
	return res.Container.State, nil
}

// stopped reports whether the engine sees node's container not running,
// after a call that failed on it. The engine answers a conflict when it
// knew the container stopped before the call; a container that stops
// during the call (another family's kill or power cut, when families
// overlap) fails it otherwise, as runc's "container not running" in a
// server error, and only its state then says the node went down.
func (c *Cluster) stopped(ctx context.Context, node string) bool {
	st, err := c.state(ctx, node)
	return err == nil && !st.Running
}

// Kill kills the node's process with SIGKILL and returns once the engine
// sees it stopped. Its data volume stays, with whatever it had synced.
func (c *Cluster) Kill(ctx context.Context, name string) error {
	id, err := c.containerID(name)
	if err != nil {
		return err
	}
	if _, err := c.docker.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		if errdefs.IsConflict(err) || c.stopped(ctx, name) {
			return fmt.Errorf("kill node %s: %w (%v)", name, nemesis.ErrNodeDown, err)
		}
		return fmt.Errorf("kill node %s: %w", name, err)
	}
	wait := c.docker.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-wait.Result:
		return nil
	case err := <-wait.Error:
		return fmt.Errorf("kill node %s: wait for it to stop: %w", name, err)
	}
}

// Start starts a stopped node's container again, with the same address and
// data volume, and waits until it serves. Starting a running node only
// waits for it to serve; a paused one is left as it is (it runs, and
// whoever paused it thaws it).
func (c *Cluster) Start(ctx context.Context, name string) error {
	id, err := c.containerID(name)
	if err != nil {
		return err
	}
	switch st, err := c.State(ctx, name); {
	case err != nil:
		return err
	case st == nemesis.NodePaused:
		return nil
	case st == nemesis.NodeUp:
		return c.waitReady(ctx, name)
	}
	if _, err := c.docker.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start node %s: %w", name, err)
	}
	c.sidecarStale(name)
	return c.waitReady(ctx, name)
}

// tail is the end of the node's output, for error messages.
func (c *Cluster) tail(ctx context.Context, name string) string {
	var b strings.Builder
	if err := c.writeLogs(ctx, name, "20", &b); err != nil {
		return "(no output: " + err.Error() + ")"
	}
	return b.String()
}

// Leave keeps the run's containers, network and volumes when the cluster
// is closed, for inspection (--leave-running). A marker volume records the
// choice in Docker itself, so that later runs' sweeps leave the run alone;
// `squall clean` removes it with the rest.
func (c *Cluster) Leave(ctx context.Context) error {
	labels := runLabels(c.cfg.RunID)
	labels[LabelKept] = "true"
	name := "squall-" + c.cfg.RunID + "-kept"
	if _, err := c.docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels}); err != nil {
		return fmt.Errorf("mark run %s as kept: %w", c.cfg.RunID, err)
	}
	c.mu.Lock()
	c.kept = true
	c.mu.Unlock()
	c.cfg.Logger.Info("leaving the cluster running; remove it with `squall clean`",
		"run", c.cfg.RunID, "network", c.net.Name, "list", "docker ps --filter label="+LabelRun+"="+c.cfg.RunID)
	return nil
}

// Close collects the nodes' logs (if Config.LogDir is set) and removes the
// run's containers, network and volumes, unless Leave was called. It works
// when ctx is already cancelled, as after Ctrl-C: it runs on ctx's values
// with its own deadline.
func (c *Cluster) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	var errs []error
	if c.cfg.LogDir != "" {
		errs = append(errs, c.CollectLogs(ctx))
	}
	c.mu.Lock()
	kept := c.kept
	c.mu.Unlock()
	if !kept {
		_, err := removeRun(ctx, c.docker, c.cfg.RunID)
		errs = append(errs, err)
	}
	errs = append(errs, c.provider.Close())
	return errors.Join(errs...)
}
