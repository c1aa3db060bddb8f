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
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
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
	if left := runObjects(t, docker, crashed); len(left) > 0 {
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
