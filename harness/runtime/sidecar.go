package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/nemesis/netfault"
)

// Network faults are made inside each node's network namespace by a
// sidecar: a container of squall's own image that shares the node's
// namespace (network mode container:NODE), runs `squall netfault wait`,
// and holds no capability but NET_ADMIN. The controller changes the
// namespace by running `squall netfault apply` in the sidecar through the
// Docker API (exec). So the controller needs no root and no /proc, works
// against a remote engine (DOCKER_HOST), and the node's own container
// gains no privilege and needs no squall binary (a system squall did not
// write works alike). A node that restarts gets a new namespace, so its
// sidecar is restarted before the next change and joins the new one.

// LabelRole says what a container is for, where it is not a node:
// "netfault" for a sidecar, "probe" for a probe.
const LabelRole = "squall.role"

func sidecarName(run, node string) string { return "squall-" + run + "-" + node + "-net" }

// sidecar is a node's network sidecar.
type sidecar struct {
	id string
	// mu serialises the sidecar's restarts and the changes made through
	// it; stale is set when the node restarted since the sidecar last did
	// (guarded by mu).
	mu    sync.Mutex
	stale bool
}

// startSidecar creates and starts node's sidecar.
func (c *Cluster) startSidecar(ctx context.Context, node string) error {
	nodeID, err := c.containerID(node)
	if err != nil {
		return err
	}
	labels := nodeLabels(c.cfg.RunID, node)
	labels[LabelRole] = "netfault"
	res, err := c.docker.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   sidecarName(c.cfg.RunID, node),
		Config: &container.Config{Image: c.cfg.SidecarImage, Cmd: []string{"netfault", "wait"}, Labels: labels},
		HostConfig: &container.HostConfig{
			NetworkMode: container.NetworkMode("container:" + nodeID),
			CapDrop:     []string{"ALL"},
			CapAdd:      []string{"NET_ADMIN"},
		},
	})
	if err != nil {
		return fmt.Errorf("node %s: create its network sidecar: %w", node, err)
	}
	c.mu.Lock()
	c.sidecars[node] = &sidecar{id: res.ID}
	c.mu.Unlock()
	if _, err := c.docker.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("node %s: start its network sidecar: %w", node, err)
	}
	return nil
}

// sidecarStale notes that node restarted: its sidecar is in the old
// namespace until restarted, which the next change through it does (a
// restart costs half a second, which a restart without network faults in
// force need not pay).
func (c *Cluster) sidecarStale(node string) {
	c.mu.Lock()
	s := c.sidecars[node]
	c.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.stale = true
		s.mu.Unlock()
	}
}

// Net puts one fault family's network state in force in node's network
// namespace (see package netfault), through its sidecar.
func (c *Cluster) Net(ctx context.Context, node string, change netfault.Change) error {
	if err := change.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	s, ok := c.sidecars[node]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("node %s has no network sidecar: the cluster was started without network faults", node)
	}
	if st, err := c.State(ctx, node); err != nil {
		return err
	} else if st == nemesis.NodeDown {
		return fmt.Errorf("node %s: %w", node, nemesis.ErrNodeDown)
	}
	err := c.netThroughSidecar(ctx, s, node, change)
	if err != nil && c.WentDown(ctx, node) {
		// It died as the change was made (a failpoint stopped it): its
		// namespace is gone, and the next start gets the change again.
		return fmt.Errorf("node %s went down: %w (%v)", node, nemesis.ErrNodeDown, err)
	}
	return err
}

func (c *Cluster) netThroughSidecar(ctx context.Context, s *sidecar, node string, change netfault.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale {
		stop := 0 // `netfault wait` ends at once on SIGTERM
		if _, err := c.docker.ContainerRestart(ctx, s.id, client.ContainerRestartOptions{Timeout: &stop}); err != nil {
			return fmt.Errorf("node %s: restart its network sidecar in the node's new namespace: %w", node, err)
		}
		s.stale = false
	}
	arg, err := json.Marshal(change)
	if err != nil {
		return err
	}
	if _, err := execIn(ctx, c.docker, s.id, "/squall", "netfault", "apply", string(arg)); err != nil {
		return fmt.Errorf("node %s: %s in its namespace: %w", node, change.Family, err)
	}
	return nil
}

// WentDown reports whether node, which a call to it just failed, is down:
// a node's process can exit at any moment (a failpoint's error stops it),
// it stops serving before it has exited, and Docker sees the exit a
// moment later, so it looks for up to five seconds.
func (c *Cluster) WentDown(ctx context.Context, node string) bool {
	for range 50 {
		if st, err := c.State(ctx, node); err == nil && st == nemesis.NodeDown {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

// execIn runs cmd in container id and returns its standard output; a
// non-zero exit is an error carrying its standard error.
func execIn(ctx context.Context, docker client.APIClient, id string, cmd ...string) (string, error) {
	created, err := docker.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	attached, err := docker.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return "", fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	defer attached.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, attached.Reader); err != nil {
		return "", fmt.Errorf("exec %s: read its output: %w", cmd[0], err)
	}
	res, err := docker.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(stderr.String())
		msg = strings.TrimPrefix(msg, "squall: ")
		return stdout.String(), fmt.Errorf("exit code %d: %s", res.ExitCode, msg)
	}
	return stdout.String(), nil
}

// ProbeNetFaults tries, in a throwaway container of image with the same
// capability as a sidecar and no network, each kernel feature the network
// faults need, and returns what does not work: feature -> why. It is run
// before a run creates anything, so that a fault this kernel cannot make
// is refused at once rather than failing mid-run.
func ProbeNetFaults(ctx context.Context, image string) (map[string]error, error) {
	provider, docker, err := connect(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer provider.Close()
	labels := runLabels(fmt.Sprintf("probe-%d-%d", os.Getpid(), time.Now().UnixNano()))
	labels[LabelRole] = "probe"
	res, err := docker.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Cmd: []string{"netfault", "probe"}, Labels: labels},
		HostConfig: &container.HostConfig{
			NetworkMode: "none",
			CapDrop:     []string{"ALL"},
			CapAdd:      []string{"NET_ADMIN"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("probe the kernel's network features: %w", err)
	}
	defer docker.ContainerRemove(context.WithoutCancel(ctx), res.ID, client.ContainerRemoveOptions{Force: true})
	if _, err := docker.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return nil, fmt.Errorf("probe the kernel's network features: %w", err)
	}
	wait := docker.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-wait.Result:
		if r.StatusCode != 0 {
			return nil, fmt.Errorf("probe the kernel's network features: the probe exited with code %d", r.StatusCode)
		}
	case err := <-wait.Error:
		return nil, fmt.Errorf("probe the kernel's network features: %w", err)
	}
	logs, err := docker.ContainerLogs(ctx, res.ID, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		return nil, fmt.Errorf("probe the kernel's network features: %w", err)
	}
	defer logs.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil {
		return nil, fmt.Errorf("probe the kernel's network features: %w", err)
	}
	var report map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		return nil, fmt.Errorf("probe the kernel's network features: its report %q: %w", stdout.String(), err)
	}
	missing := map[string]error{}
	for feature, why := range report {
		if why != "" {
			missing[feature] = errors.New(why)
		}
	}
	return missing, nil
}

// Pause freezes every process of node (the cgroup freezer).
func (c *Cluster) Pause(ctx context.Context, node string) error {
	id, err := c.containerID(node)
	if err != nil {
		return err
	}
	err = retryFreeze(ctx, func() error {
		_, err := c.docker.ContainerPause(ctx, id, client.ContainerPauseOptions{})
		return err
	})
	if err != nil {
		if errdefs.IsConflict(err) || c.stopped(ctx, node) {
			return fmt.Errorf("pause node %s: %w (%v)", node, nemesis.ErrNodeDown, err)
		}
		return fmt.Errorf("pause node %s: %w", node, err)
	}
	return nil
}

// freezeAttempts bounds how often retryFreeze tries.
const freezeAttempts = 5

// retryFreeze calls pause until it succeeds, fails otherwise than with the
// cgroup freezer's "unable to freeze", or has been tried freezeAttempts
// times, waiting longer after each try. The freezer cannot freeze a task
// in uninterruptible sleep (a node in the middle of an fsync on a busy
// disk); runc then gives up, thaws the container and reports "unable to
// freeze", and a moment later the freeze succeeds.
func retryFreeze(ctx context.Context, pause func() error) error {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := pause()
		if err == nil || !strings.Contains(err.Error(), "unable to freeze") || attempt == freezeAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %d tries: %v)", ctx.Err(), attempt, err)
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// Unpause thaws node.
func (c *Cluster) Unpause(ctx context.Context, node string) error {
	id, err := c.containerID(node)
	if err != nil {
		return err
	}
	if _, err := c.docker.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause node %s: %w", node, err)
	}
	return nil
}

// State reports whether node's container runs, or is paused.
func (c *Cluster) State(ctx context.Context, node string) (nemesis.NodeState, error) {
	st, err := c.state(ctx, node)
	switch {
	case err != nil:
		return "", err
	case !st.Running:
		return nemesis.NodeDown, nil
	case st.Paused:
		return nemesis.NodePaused, nil
	}
	return nemesis.NodeUp, nil
}
