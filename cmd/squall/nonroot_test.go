package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/squall-chaos/squall/harness/runtime/dockertest"
	"github.com/squall-chaos/squall/nemesis"
)

// nobody is the unprivileged user the test runs squall as when it runs
// as root itself.
const nobody = 65534

// TestNonRootUserRunsEveryFamily runs `squall test` with every fault
// family as a user who is not root and may use Docker only through its socket (a
// member of the socket's group): every fault family must start, heal, and
// leave the run valid, with nothing reaching into /proc or needing root.
func TestNonRootUserRunsEveryFamily(t *testing.T) {
	requireDockerForCLI(t)
	dir := dockertest.KeptOnFailure(t, "squall-nonroot-")
	// The user must be able to write its home and store, and read the
	// binary: the directory is the user's own.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "squall")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static squall: %v\n%s", err, out)
	}
	store := filepath.Join(dir, "store")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Every family, overlapping, but power cuts of one node or a minority:
	// a cut of all would leave the other families nothing to act on, and
	// they would skip their turn. A family may still skip a turn whose
	// nodes another family has taken down; 75 s gives each several turns
	// (in 45 s beside a second suite, clock's only turn was skipped).
	cmd := exec.CommandContext(ctx, bin, "test", "--system", "kv", "--workload", "register",
		"--nemesis", "partition,kill,pause,clock,loss,failpoint,power:one,power:minority", "--nemesis-overlap",
		"--nemesis-interval", "3s", "--time-limit", "75s", "--seed", "7", "--store", store)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TESTCONTAINERS_RYUK_DISABLED=true"}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+h)
	}
	if os.Geteuid() == 0 {
		gid, err := dockerSocketGroup()
		if err != nil {
			t.Skipf("cannot run as a non-root member of the Docker socket's group: %v", err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{gid}}}
		t.Logf("running squall as uid %d with group %d, the Docker socket's", nobody, gid)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("squall test as a non-root user:\n%s", out)
	if err != nil {
		t.Fatalf("squall test: %v, want exit 0 (valid)", err)
	}

	runDir := runDirOf(t, string(out))
	var spec struct{ Nemesis []string }
	readJSON(t, filepath.Join(runDir, "spec.json"), &spec)
	h, err := os.Open(filepath.Join(runDir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	started := map[string]bool{}
	for s := bufio.NewScanner(h); s.Scan(); {
		var op struct {
			Type, F, Error string
			Process        any
		}
		if err := json.Unmarshal(s.Bytes(), &op); err != nil {
			t.Fatal(err)
		}
		if op.Process == "nemesis" && op.Type == "info" && strings.HasPrefix(op.F, "start-") {
			if op.Error != "" {
				t.Errorf("%s failed: %s", op.F, op.Error)
			}
			started[strings.TrimPrefix(op.F, "start-")] = true
		}
	}
	for _, family := range nemesis.FamilyNames() {
		if !started[family] {
			t.Errorf("family %s never started (the run's nemesis: %v)", family, spec.Nemesis)
		}
	}
}

func requireDockerForCLI(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("a container run")
	}
	dockertest.Require(t)
}

// dockerSocketGroup is the group owning the Docker engine's socket.
func dockerSocketGroup() (uint32, error) {
	path := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		u, err := url.Parse(h)
		if err != nil || u.Scheme != "unix" {
			return 0, errors.New("DOCKER_HOST is not a unix socket")
		}
		path = u.Path
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Sys().(*syscall.Stat_t).Gid, nil
}

// runDirOf finds the run directory in squall test's output.
func runDirOf(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "squall: run "); ok {
			dir, _, _ := strings.Cut(rest, " ")
			return dir
		}
	}
	t.Fatalf("no run directory in the output")
	return ""
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
