package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Summary names the Docker objects a cleanup removed.
type Summary struct {
	Runs       []string
	Containers []string
	Networks   []string
	Volumes    []string
	// Stuck lists the networks Docker would not remove although no
	// container is on them (see heldByNoContainer): left, not failed.
	Stuck []string
}

func (s Summary) String() string {
	if len(s.Runs) == 0 {
		return "nothing to remove"
	}
	line := "removed nothing"
	if len(s.Containers)+len(s.Networks)+len(s.Volumes) > 0 {
		line = fmt.Sprintf("removed %d run(s) (%s): %d container(s), %d network(s), %d volume(s)",
			len(s.Runs), strings.Join(s.Runs, ", "), len(s.Containers), len(s.Networks), len(s.Volumes))
	}
	if len(s.Stuck) > 0 {
		line += fmt.Sprintf("; Docker would not remove %d network(s) no container is on (%s): %s",
			len(s.Stuck), strings.Join(s.Stuck, ", "), stuckNetworkHint)
	}
	return line
}

// stuckNetworkHint explains a network in Summary.Stuck.
const stuckNetworkHint = "the engine still counts an endpoint on them that no container holds " +
	"(a Docker bug, moby/moby#42119); restarting the Docker daemon frees them"

// CleanReport is what `squall clean` did: the runs it removed, those it
// left and why, and the node images it removed.
type CleanReport struct {
	Removed Summary
	// Stopped lists, of the removed runs, those whose controller was
	// alive (or could not be told dead): only --force removes them.
	Stopped []RunOwner
	// Left lists the runs left alone, each with its controller.
	Left []RunOwner
	// Images lists the node images removed.
	Images []string
}

// RunOwner is a run and the controller process that owns it.
type RunOwner struct {
	Run, Host string
	PID       int
	// Why says why the run counts as live.
	Why string
}

// Clean removes the runs squall left behind: every container, network
// and volume of each run whose controller is gone (a crashed run, or one
// kept with --leave-running), and the node images beyond the newest
// ImagesKept that are older than ImageGrace. A run whose controller is alive, or runs on another host
// sharing the engine, is a test under way: it is left alone, unless force.
// Objects without squall's label are never touched.
func Clean(ctx context.Context, logger *slog.Logger, force bool) (CleanReport, error) {
	logger = orDiscard(logger)
	provider, docker, err := connect(ctx, logger)
	if err != nil {
		return CleanReport{}, err
	}
	defer provider.Close()
	var report CleanReport
	report.Removed, err = cleanRuns(ctx, docker, logger, func(run string, objects []map[string]string) bool {
		owner, live := liveOwner(run, objects)
		switch {
		case !live:
			return true
		case force:
			report.Stopped = append(report.Stopped, owner)
			return true
		}
		report.Left = append(report.Left, owner)
		return false
	})
	if err != nil {
		return report, err
	}
	repos, err := nodeImageRepos(ctx, docker)
	if err != nil {
		return report, err
	}
	var errs []error
	for _, repo := range repos {
		removed, err := pruneImages(ctx, docker, repo, ImagesKept, time.Now().Add(-ImageGrace))
		report.Images = append(report.Images, removed...)
		errs = append(errs, err)
	}
	return report, errors.Join(errs...)
}

// nodeImageRepos lists the repositories of squall's node images (each
// system's binary has its own), found by their label.
func nodeImageRepos(ctx context.Context, docker client.APIClient) ([]string, error) {
	list, err := docker.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelImage+"=node")})
	if err != nil {
		return nil, fmt.Errorf("list node images: %w", err)
	}
	repos := []string{ImageRepo}
	for _, img := range list.Items {
		for _, t := range img.RepoTags {
			if repo, _, ok := strings.Cut(t, ":"); ok && !slices.Contains(repos, repo) {
				repos = append(repos, repo)
			}
		}
	}
	return repos, nil
}

// liveOwner reports whether run's controller may still be at work: it
// runs on this host, or the run belongs to another host, whose processes
// cannot be seen from here.
func liveOwner(run string, objects []map[string]string) (RunOwner, bool) {
	host, _ := os.Hostname()
	owner := RunOwner{Run: run}
	live := false
	for _, labels := range objects {
		pid, _ := strconv.Atoi(labels[LabelPID])
		owner.Host, owner.PID = labels[LabelHost], pid
		switch {
		case labels[LabelHost] != host:
			owner.Why = "its controller runs on host " + labels[LabelHost] + ", which squall cannot look into"
			live = true
		case processAlive(pid):
			owner.Why = fmt.Sprintf("its controller, process %d, is alive", pid)
			live = true
		}
	}
	return owner, live
}

// sweep removes what crashed runs left behind: the objects of runs whose
// controller process, on this host, is gone. It leaves alone live runs,
// runs of other hosts sharing the engine, and runs kept with Leave. Start
// sweeps before it creates anything.
func sweep(ctx context.Context, docker client.APIClient, logger *slog.Logger) (Summary, error) {
	return cleanRuns(ctx, docker, logger, func(run string, objects []map[string]string) bool {
		if _, live := liveOwner(run, objects); live {
			return false
		}
		for _, labels := range objects {
			if labels[LabelKept] == "true" {
				return false
			}
		}
		return true
	})
}

// processAlive reports whether a process with this pid exists on this
// host. A reused pid reads as alive, which only makes a sweep keep more.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// cleanRuns removes the objects of each squall run for which remove, given
// the labels of all the run's objects, says yes.
func cleanRuns(ctx context.Context, docker client.APIClient, logger *slog.Logger, remove func(run string, objects []map[string]string) bool) (Summary, error) {
	objects, err := listSquall(ctx, docker, "")
	if err != nil {
		return Summary{}, err
	}
	byRun := map[string][]map[string]string{}
	for _, o := range objects {
		byRun[o.labels[LabelRun]] = append(byRun[o.labels[LabelRun]], o.labels)
	}
	var runs []string
	for _, run := range slices.Sorted(maps.Keys(byRun)) {
		if remove(run, byRun[run]) {
			runs = append(runs, run)
		}
	}
	var doomed []object
	for _, o := range objects {
		if slices.Contains(runs, o.labels[LabelRun]) {
			doomed = append(doomed, o)
		}
	}
	summary, err := removeObjects(ctx, docker, doomed)
	summary.Runs = runs
	if len(runs) > 0 {
		logger.Info("removed the Docker objects of earlier squall runs", "summary", summary.String())
	}
	return summary, err
}

// removeRun removes every object of run.
func removeRun(ctx context.Context, docker client.APIClient, run string) (Summary, error) {
	objects, err := listSquall(ctx, docker, run)
	if err != nil {
		return Summary{}, err
	}
	summary, err := removeObjects(ctx, docker, objects)
	summary.Runs = []string{run}
	return summary, err
}

type objectKind int

const (
	containerObject objectKind = iota
	networkObject
	volumeObject
)

func (k objectKind) String() string {
	return [...]string{"container", "network", "volume"}[k]
}

// object is a Docker object of squall's.
type object struct {
	kind   objectKind
	id     string
	name   string
	labels map[string]string
}

// listSquall lists the containers, networks and volumes labelled as
// squall's, of one run or, if run is "", of every run.
func listSquall(ctx context.Context, docker client.APIClient, run string) ([]object, error) {
	filters := make(client.Filters).Add("label", LabelSquall+"=true")
	if run != "" {
		filters.Add("label", LabelRun+"="+run)
	}
	var objects []object
	containers, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("list squall containers: %w", err)
	}
	for _, c := range containers.Items {
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		objects = append(objects, object{containerObject, c.ID, name, c.Labels})
	}
	networks, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("list squall networks: %w", err)
	}
	for _, n := range networks.Items {
		objects = append(objects, object{networkObject, n.ID, n.Name, n.Labels})
	}
	volumes, err := docker.VolumeList(ctx, client.VolumeListOptions{Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("list squall volumes: %w", err)
	}
	for _, v := range volumes.Items {
		objects = append(objects, object{volumeObject, v.Name, v.Name, v.Labels})
	}
	// The engine filtered by label already; check again, since removing
	// someone else's object is the one mistake cleanup must not make.
	return slices.DeleteFunc(objects, func(o object) bool {
		return !ownedBySquall(o.labels) || (run != "" && o.labels[LabelRun] != run)
	}), nil
}

// removeObjects removes containers first, since a network or volume in use
// cannot be removed, then networks and volumes; each group in parallel.
// Containers are removed by force: SIGKILL, no grace period, as the run's
// data goes with them.
func removeObjects(ctx context.Context, docker client.APIClient, objects []object) (Summary, error) {
	var (
		mu      sync.Mutex
		summary Summary
		errs    []error
	)
	removeAll := func(kinds ...objectKind) {
		var wg sync.WaitGroup
		for _, o := range objects {
			if !slices.Contains(kinds, o.kind) {
				continue
			}
			wg.Go(func() {
				err := removeObject(ctx, docker, o)
				stuck := o.kind == networkObject && err != nil && heldByNoContainer(ctx, docker, o.id, err)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case stuck:
					summary.Stuck = append(summary.Stuck, o.name)
				case err != nil && !errdefs.IsNotFound(err):
					errs = append(errs, fmt.Errorf("remove %v %s: %w", o.kind, o.name, err))
				case o.kind == containerObject:
					summary.Containers = append(summary.Containers, o.name)
				case o.kind == networkObject:
					summary.Networks = append(summary.Networks, o.name)
				default:
					summary.Volumes = append(summary.Volumes, o.name)
				}
			})
		}
		wg.Wait()
	}
	removeAll(containerObject)
	removeAll(networkObject, volumeObject)
	slices.Sort(summary.Containers)
	slices.Sort(summary.Networks)
	slices.Sort(summary.Volumes)
	slices.Sort(summary.Stuck)
	return summary, errors.Join(errs...)
}

// heldByNoContainer reports whether the engine refused to remove network
// id, with err, for an endpoint that no container holds. Under load the
// engine sometimes keeps counting an endpoint of a container it has
// removed (seen here twice in suites run side by side, after the run had
// removed every container); only a restart of the daemon forgets it. A
// cleanup can do nothing about such a network, which holds nothing of the
// run's but its subnet (and new runs pick a free one), so it is reported
// and left rather than failing every later cleanup.
func heldByNoContainer(ctx context.Context, docker client.APIClient, id string, err error) bool {
	if !strings.Contains(err.Error(), "has active endpoints") {
		return false
	}
	res, inspectErr := docker.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
	return inspectErr == nil && len(res.Network.Containers) == 0
}

func removeObject(ctx context.Context, docker client.APIClient, o object) error {
	var err error
	switch o.kind {
	case containerObject:
		_, err = docker.ContainerRemove(ctx, o.id, client.ContainerRemoveOptions{Force: true})
	case networkObject:
		_, err = docker.NetworkRemove(ctx, o.id, client.NetworkRemoveOptions{})
	case volumeObject:
		_, err = docker.VolumeRemove(ctx, o.id, client.VolumeRemoveOptions{Force: true})
	}
	return err
}

// RunObjects names the containers, networks and volumes of run left in
// Docker after its cleanup: none once a run has ended, unless it was kept.
// A network the engine still will not remove for an endpoint no container
// holds (see heldByNoContainer) is not counted: no cleanup can remove it.
// Call it only after the run's cleanup: it tries each network's removal
// again, to tell such a network from one the cleanup missed.
func RunObjects(ctx context.Context, run string) ([]string, error) {
	provider, docker, err := connect(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer provider.Close()
	objects, err := leftAfterCleanup(ctx, docker, run)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(objects))
	for i, o := range objects {
		names[i] = o.name
	}
	return names, nil
}

// leftAfterCleanup lists run's objects, after its cleanup, but for the
// networks the engine still will not remove for no container.
func leftAfterCleanup(ctx context.Context, docker client.APIClient, run string) ([]object, error) {
	objects, err := listSquall(ctx, docker, run)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(objects, func(o object) bool {
		if o.kind != networkObject {
			return false
		}
		_, err := docker.NetworkRemove(ctx, o.id, client.NetworkRemoveOptions{})
		return err != nil && heldByNoContainer(ctx, docker, o.id, err)
	}), nil
}
