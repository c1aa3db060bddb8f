package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/squall-chaos/squall/nemesis"
)

// Config describes the cluster of one run.
type Config struct {
	// RunID names the run's Docker objects (squall-RUNID-n1, ...) and
	// labels them; letters, digits, '_', '.' and '-'.
	RunID string
	// Nodes are the nodes' names, e.g. n1..n5; each is also the node's
	// host name and its DNS alias on the run's network.
	Nodes []string
	// Port is the port every node serves its clients on, the address the
	// readiness probe asks. Default 7000.
	Port int
	// NodeArgs returns node name's command line after the image's
	// entrypoint, e.g. "node --system kv --id n1 --peers ... --data
	// /data" for squall's image. members are every node of the cluster
	// with its address. The node's data volume is mounted at DataDir.
	NodeArgs func(name string, members []nemesis.Node) []string
	// Image is the node image; default: EnsureImage's.
	Image string
	// SidecarImage is squall's own image, which network sidecars run
	// (`squall netfault`); default: Image if it is empty too, else
	// EnsureImage's.
	SidecarImage string
	// Ready asks the node at addr (IP:Port), once, whether it serves.
	// Default: Ready, the gRPC health check squall's nodes answer.
	Ready func(ctx context.Context, addr string) error
	// LogDir is where CollectLogs writes NAME.log for each node; if empty,
	// logs are not collected.
	LogDir string
	// NetFaults gives each node a network sidecar (see Cluster.Net), for
	// runs with network faults.
	NetFaults bool
	// Out is where the runtime tells the user what else it did: the
	// leftovers of crashed runs it removed. Nil for nowhere.
	Out io.Writer
	// ReadyTimeout bounds the wait for a starting node to serve. Default 60s.
	ReadyTimeout time.Duration
	Logger       *slog.Logger
}

// DataDir is where each node's volume is mounted inside its container.
const DataDir = "/data"

var runIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func (cfg Config) withDefaults() (Config, error) {
	if !runIDPattern.MatchString(cfg.RunID) {
		return cfg, fmt.Errorf("run id %q: want letters, digits, '_', '.' or '-'", cfg.RunID)
	}
	if len(cfg.Nodes) == 0 {
		return cfg, errors.New("no nodes")
	}
	// Nodes take the addresses .11 to .254 of the run's /24.
	if len(cfg.Nodes) > 244 {
		return cfg, fmt.Errorf("%d nodes: at most 244 fit the run's subnet", len(cfg.Nodes))
	}
	seen := map[string]bool{}
	for _, n := range cfg.Nodes {
		if !runIDPattern.MatchString(n) {
			return cfg, fmt.Errorf("node name %q: want letters, digits, '_', '.' or '-'", n)
		}
		if seen[n] {
			return cfg, fmt.Errorf("node name %q appears twice", n)
		}
		seen[n] = true
	}
	if cfg.NodeArgs == nil {
		return cfg, errors.New("no NodeArgs: the runtime does not know how to start a node")
	}
	if cfg.Port == 0 {
		cfg.Port = 7000
	}
	if cfg.Ready == nil {
		cfg.Ready = Ready
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	cfg.Logger = orDiscard(cfg.Logger)
	return cfg, nil
}

// Start brings up a run's cluster: a private network with its own subnet,
// a data volume and a container per node with a fixed address, all nodes
// started at once. It returns when every node serves. If it fails, it
// removes whatever it created.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	if cfg.Image == "" {
		if cfg.Image, err = EnsureImage(ctx, cfg.Logger); err != nil {
			return nil, err
		}
		if cfg.SidecarImage == "" {
			cfg.SidecarImage = cfg.Image
		}
	}
	if cfg.SidecarImage == "" && cfg.NetFaults {
		if cfg.SidecarImage, err = EnsureImage(ctx, cfg.Logger); err != nil {
			return nil, err
		}
	}
	provider, docker, err := connect(ctx, cfg.Logger)
	if err != nil {
		return nil, err
	}
	// testcontainers pulls an image it cannot find; squall never pulls.
	if _, err := docker.ImageInspect(ctx, cfg.Image); err != nil {
		provider.Close()
		return nil, fmt.Errorf("node image %s: %w (squall never pulls: leave Config.Image empty to build it)", cfg.Image, err)
	}
	swept, err := sweep(ctx, docker, cfg.Logger)
	if err != nil {
		cfg.Logger.Warn("could not sweep the leftovers of crashed runs", "err", err)
	}
	if len(swept.Runs) > 0 && cfg.Out != nil {
		fmt.Fprintf(cfg.Out, "squall: swept the leftovers of runs whose controller is gone: %s\n", swept)
	}
	// A failed Start removes everything labelled with the run's id, so the
	// id must not be another run's.
	if existing, err := listSquall(ctx, docker, cfg.RunID); err != nil || len(existing) > 0 {
		provider.Close()
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("run id %s is in use: Docker has its %v %s", cfg.RunID, existing[0].kind, existing[0].name)
	}
	c := &Cluster{cfg: cfg, provider: provider, docker: docker, containers: map[string]string{}, sidecars: map[string]*sidecar{}}
	ok := false
	defer func() {
		if !ok {
			c.Close(ctx) // Close ignores ctx's cancellation: it may be why Start failed
		}
	}()

	if c.net, err = createNetwork(ctx, docker, cfg.RunID); err != nil {
		return nil, err
	}
	peers := make([]string, len(cfg.Nodes))
	for i, name := range cfg.Nodes {
		c.nodes = append(c.nodes, nemesis.Node{Name: name, IP: c.net.nodeAddr(i)})
		peers[i] = name + "=" + c.Addr(name)
	}

	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() {
			errs[i] = c.startNode(ctx, n, cfg.NodeArgs(n.Name, slices.Clone(c.nodes)))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ok = true
	cfg.Logger.Info("cluster ready", "run", cfg.RunID, "network", c.net.Name, "subnet", c.net.Subnet, "nodes", strings.Join(peers, ","))
	return c, nil
}

// startNode creates node's volume and container, starts it and waits until
// it serves.
func (c *Cluster) startNode(ctx context.Context, node nemesis.Node, args []string) error {
	run := c.cfg.RunID
	volume := "squall-" + run + "-" + node.Name
	if _, err := c.docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: volume, Labels: nodeLabels(run, node.Name)}); err != nil {
		return fmt.Errorf("node %s: create volume %s: %w", node.Name, volume, err)
	}
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Name:           "squall-" + run + "-" + node.Name,
			Image:          c.cfg.Image,
			Cmd:            args,
			Labels:         nodeLabels(run, node.Name),
			Mounts:         testcontainers.ContainerMounts{testcontainers.VolumeMount(volume, DataDir)},
			Networks:       []string{c.net.Name},
			NetworkAliases: map[string][]string{c.net.Name: {node.Name}},
			ConfigModifier: func(cc *container.Config) { cc.Hostname = node.Name },
			EndpointSettingsModifier: func(endpoints map[string]*network.EndpointSettings) {
				endpoints[c.net.Name].IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: node.IP}
			},
		},
		Started: true,
		Logger:  tcLogger{c.cfg.Logger},
	})
	if ctr != nil {
		c.mu.Lock()
		c.containers[node.Name] = ctr.GetContainerID()
		c.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("node %s: start container: %w", node.Name, err)
	}
	if err := c.waitReady(ctx, node.Name); err != nil {
		return err
	}
	if c.cfg.NetFaults {
		return c.startSidecar(ctx, node.Name)
	}
	return nil
}

// waitReady probes name until it serves. It gives up early if the
// container stops, since a node that exits before serving (bad flags, a
// refused data directory) will not serve later.
func (c *Cluster) waitReady(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	addr := c.Addr(name)
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		err := c.cfg.Ready(attempt, addr)
		cancelAttempt()
		if err == nil {
			return nil
		}
		st, inspectErr := c.state(ctx, name)
		if inspectErr != nil {
			return fmt.Errorf("node %s: wait until it serves: %w", name, inspectErr)
		}
		if !st.Running {
			return fmt.Errorf("node %s exited with code %d before serving; its last output:\n%s", name, st.ExitCode, c.tail(ctx, name))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s does not serve on %s (%v; ready timeout %v): %w", name, addr, ctx.Err(), c.cfg.ReadyTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Addr is node's address, IP:PORT; "" if there is no such node.
func (c *Cluster) Addr(name string) string {
	for _, n := range c.nodes {
		if n.Name == name {
			return netip.AddrPortFrom(n.IP, uint16(c.cfg.Port)).String()
		}
	}
	return ""
}
