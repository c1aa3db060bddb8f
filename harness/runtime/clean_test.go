package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no process to take a dead pid from: %v", err)
	}
	pid := cmd.Process.Pid
	if processAlive(pid) {
		t.Skipf("pid %d of an exited process is already reused", pid)
	}
	return pid
}

// TestSweep plants the leftovers of four runs, each a network and a
// volume, and an unlabelled volume. A sweep must remove the run whose
// controller died on this host, and nothing else.
func TestSweep(t *testing.T) {
	requireDocker(t)
	docker := dockerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host, _ := os.Hostname()
	dead := strconv.Itoa(deadPID(t))

	plant := func(run string, labels map[string]string) {
		t.Helper()
		if _, err := docker.NetworkCreate(ctx, "squall-"+run, client.NetworkCreateOptions{Driver: "bridge", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		if _, err := docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "squall-" + run + "-n1", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	with := func(run string, overrides ...string) map[string]string {
		l := runLabels(run)
		for i := 0; i < len(overrides); i += 2 {
			l[overrides[i]] = overrides[i+1]
		}
		return l
	}
	crashed, live, elsewhere, kept := newRunID(t), newRunID(t), newRunID(t), newRunID(t)
	plant(crashed, with(crashed, LabelPID, dead))
	plant(live, with(live)) // this process: alive
	plant(elsewhere, with(elsewhere, LabelPID, dead, LabelHost, host+"-elsewhere"))
	plant(kept, with(kept, LabelPID, dead))
	if _, err := docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "squall-" + kept + "-kept", Labels: with(kept, LabelPID, dead, LabelKept, "true")}); err != nil {
		t.Fatal(err)
	}
	// Looks like squall's by name and run label, but lacks LabelSquall.
	unlabelled := "squall-" + crashed + "-unlabelled"
	if _, err := docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: unlabelled, Labels: map[string]string{LabelRun: crashed}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker.VolumeRemove(context.Background(), unlabelled, client.VolumeRemoveOptions{}) })

	summary, err := sweep(ctx, docker, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Other test packages sweep too when they start clusters, so the
	// crashed run may be gone before this sweep looks: what matters is
	// that nothing of it is left (checked below).
	for _, run := range []string{live, elsewhere, kept} {
		if slices.Contains(summary.Runs, run) {
			t.Errorf("sweep removed run %s, which it must leave", run)
		}
	}
	if left := leftAfter(t, docker, crashed); len(left) > 0 {
		t.Errorf("crashed run %s still has %v", crashed, left)
	}
	// The kept run's controller is dead, so a `squall clean` elsewhere on
	// the engine (another copy of this suite) may remove it: that it is
	// not in this sweep's summary is what shows the sweep kept it. The
	// live and remote runs no clean may take.
	for run, want := range map[string]int{live: 2, elsewhere: 2} {
		if got := len(runObjects(t, docker, run)); got != want {
			t.Errorf("run %s has %d objects after the sweep, want its %d", run, got, want)
		}
	}
	if _, err := docker.VolumeInspect(ctx, unlabelled, client.VolumeInspectOptions{}); err != nil {
		t.Errorf("sweep touched the unlabelled volume %s: %v", unlabelled, err)
	}
}

// TestRemoveRunLeavesUnlabelled: an object with a run's label but not
// LabelSquall is not squall's, and removing the run leaves it.
func TestRemoveRunLeavesUnlabelled(t *testing.T) {
	requireDocker(t)
	docker := dockerClient(t)
	ctx := context.Background()
	run := newRunID(t)
	labels := runLabels(run)
	delete(labels, LabelSquall)
	name := "squall-" + run + "-foreign"
	if _, err := docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker.VolumeRemove(context.Background(), name, client.VolumeRemoveOptions{}) })
	if _, err := removeRun(ctx, docker, run); err != nil {
		t.Fatal(err)
	}
	if v, err := docker.VolumeInspect(ctx, name, client.VolumeInspectOptions{}); err != nil {
		t.Fatalf("removeRun removed a volume without the %s label: %v", LabelSquall, err)
	} else if !maps.Equal(v.Volume.Labels, labels) {
		t.Errorf("volume labels %v, want %v", v.Volume.Labels, labels)
	}
}

// TestCleanSparesHandStartedContainers: a container someone starts by
// hand from a node image inherits the image's labels, and must not look
// like squall's to clean.
func TestCleanSparesHandStartedContainers(t *testing.T) {
	requireDocker(t)
	docker := dockerClient(t)
	ctx := context.Background()
	image, err := EnsureImage(ctx, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := docker.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: image, Cmd: []string{"version"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		docker.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
	})
	// What clean would remove is what it lists (not Clean itself, which
	// would also remove the dead runs another copy of this suite plants):
	// a listing by image rather than by squall's label would name it.
	objects, err := listSquall(ctx, docker, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		if o.id == res.ID {
			t.Errorf("clean lists the container started by hand from %s as squall's", image)
		}
	}
	inspect, err := docker.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("clean removed a container started by hand from %s: %v", image, err)
	}
	if ownedBySquall(inspect.Container.Config.Labels) {
		t.Errorf("a hand-started container carries squall's label: %v", inspect.Container.Config.Labels)
	}
}

// TestPruneImagesKeepsTheNewest builds four images of a repository of the
// test's own and prunes them to the newest two, and none while all are
// within the grace.
func TestPruneImagesKeepsTheNewest(t *testing.T) {
	requireDocker(t)
	docker := dockerClient(t)
	ctx := context.Background()
	repo := "squall-prune-test-" + newRunID(t)
	var ids []string
	for i := range 4 {
		// The repo in the image: the same Dockerfile in another test's
		// repo (a second copy of the suite) would be the same image.
		ctxTar := tarOf(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM scratch\nLABEL n=%d repo=%s\n", i, repo)})
		resp, err := docker.ImageBuild(ctx, ctxTar, client.ImageBuildOptions{Tags: []string{fmt.Sprintf("%s:%d", repo, i)}, Remove: true})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		img, err := docker.ImageInspect(ctx, fmt.Sprintf("%s:%d", repo, i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, img.ID)
		t.Cleanup(func() { docker.ImageRemove(context.Background(), img.ID, client.ImageRemoveOptions{Force: true}) })
		time.Sleep(1100 * time.Millisecond) // Created has a resolution of a second
	}
	// Within the grace every image stays, however many newer ones there are.
	if removed, err := pruneImages(ctx, docker, repo, 2, time.Now().Add(-time.Hour)); err != nil || len(removed) > 0 {
		t.Fatalf("pruned %v (err %v) of images built within the grace", removed, err)
	}
	removed, err := pruneImages(ctx, docker, repo, 2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{repo + ":1", repo + ":0"}; !slices.Equal(removed, want) {
		t.Errorf("pruned %v, want the two oldest %v", removed, want)
	}
	for i, id := range ids {
		_, err := docker.ImageInspect(ctx, id)
		if gone := err != nil; gone != (i < 2) {
			t.Errorf("image %d: gone %v, want %v", i, gone, i < 2)
		}
	}
}

// tarOf is a build context holding files.
func tarOf(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return &buf
}

// leakyEngine is a Docker engine that refuses to remove a network for an
// endpoint it still counts, as the real one sometimes does after removing
// the network's containers; inspect shows the containers still attached.
type leakyEngine struct {
	client.APIClient // calls other than these two panic
	attached         []string
}

func (e leakyEngine) NetworkRemove(_ context.Context, id string, _ client.NetworkRemoveOptions) (client.NetworkRemoveResult, error) {
	return client.NetworkRemoveResult{}, fmt.Errorf("Error response from daemon: error while removing network: network squall-r1 id %s has active endpoints", id)
}

func (e leakyEngine) NetworkInspect(context.Context, string, client.NetworkInspectOptions) (client.NetworkInspectResult, error) {
	var res client.NetworkInspectResult
	res.Network.Containers = map[string]network.EndpointResource{}
	for _, c := range e.attached {
		res.Network.Containers[c] = network.EndpointResource{Name: c}
	}
	return res, nil
}

// TestCleanupLeavesANetworkDockerHoldsForNoContainer: a network the engine
// will not remove though no container is on it is reported as stuck, with
// the way out, and is no error (every later cleanup would fail on it
// otherwise); with a container on it, the refusal is an error.
func TestCleanupLeavesANetworkDockerHoldsForNoContainer(t *testing.T) {
	net := object{kind: networkObject, id: "net1", name: "squall-r1"}
	summary, err := removeObjects(context.Background(), leakyEngine{}, []object{net})
	if err != nil {
		t.Fatalf("remove a network held for no container: %v, want no error", err)
	}
	if !slices.Equal(summary.Stuck, []string{"squall-r1"}) || len(summary.Networks) != 0 {
		t.Errorf("summary %+v; want squall-r1 stuck, no network removed", summary)
	}
	summary.Runs = []string{"r1"}
	if line := summary.String(); !strings.Contains(line, "squall-r1") || !strings.Contains(line, "restarting the Docker daemon") {
		t.Errorf("summary says %q; want the stuck network named and the way out", line)
	}

	summary, err = removeObjects(context.Background(), leakyEngine{attached: []string{"n1"}}, []object{net})
	if err == nil || !strings.Contains(err.Error(), "has active endpoints") || len(summary.Stuck) != 0 {
		t.Errorf("remove a network a container is on: summary %+v, error %v; want the engine's refusal as an error", summary, err)
	}
}
