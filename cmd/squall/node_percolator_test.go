package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/squall-chaos/squall/internal/loopback"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

func TestPercolatorNodeRefusesBadFlags(t *testing.T) {
	addr := loopback.Addrs(t, 1)[0]
	data := filepath.Join(t.TempDir(), "data")
	base := []string{"node", "--system", "percolator", "--id", "n1", "--peers", "n1=" + addr, "--data", data}
	for _, tc := range []struct {
		name  string
		extra []string
		want  []string
	}{
		{"unknown --bug", []string{"--bug", "stale-reads"}, []string{"--bug", `"stale-reads"`,
			"skip-write-conflict, get-ignores-locks, skip-fsync, oracle-trusts-clock"}},
		{"zero --shards", []string{"--shards", "0"}, []string{"--shards", "at least 1"}},
		{"kv's --read-mode", []string{"--read-mode", "log"}, []string{"--read-mode", "does not apply to --system percolator"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr := runRefused(t, append(base, tc.extra...)...)
			expectMentions(t, stderr, tc.want...)
		})
	}
	t.Run("--shards with kv", func(t *testing.T) {
		_, stderr := runRefused(t, "node", "--id", "n1", "--peers", "n1="+addr, "--data", data, "--shards", "3")
		expectMentions(t, stderr, "--shards", "does not apply to --system kv")
	})
	if _, err := os.Stat(data); err == nil {
		t.Errorf("a refused start created the data directory %s", data)
	}
}

// TestPercolatorNodeServes runs the built binary as the harness does: it
// serves the oracle and every shard, and exits 0 on SIGTERM. It runs with
// bugs planted and in the power-loss storage mode, which change nothing a
// single node without faults can see.
func TestPercolatorNodeServes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "squall")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/squall-chaos/squall/cmd/squall").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := loopback.Addrs(t, 1)[0]
	data := filepath.Join(t.TempDir(), "n1")
	cmd := exec.Command(bin, "node", "--system", "percolator", "--shards", "3", "--bug", "get-ignores-locks",
		"--bug", "skip-fsync", "--bug", "oracle-trusts-clock", "--lose-unsynced",
		"--id", "n1", "--peers", "n1="+addr, "--data", data, "--tick", "10ms")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !readyLine.MatchString(strings.TrimSpace(line)) {
		t.Fatalf("first line %q (%v), want the ready line; stderr: %s", line, err, stderr.String())
	}
	go func() { exited <- cmd.Wait() }()

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewPercolatorClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	for {
		st, err := client.Status(ctx, &pb.StatusRequest{})
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		led := 0
		for _, g := range st.Groups {
			if g.Leader == "n1" {
				led++
			}
		}
		if st.Shards == 3 && len(st.Groups) == 4 && led == 4 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("status %v: not every group elected n1", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, err := client.Tso(ctx, &pb.TsoRequest{Count: 10}); err != nil || resp.First == 0 || resp.Count != 10 {
		t.Fatalf("tso: %v, %v", resp, err)
	}
	// The readiness probe speaks to percolator nodes too, and with --leader
	// wants a leader for every group.
	var out, errOut bytes.Buffer
	if code := run([]string{"squall", "node", "health", "--addr", addr, "--leader"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "group 3") {
		t.Fatalf("squall node health --leader: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr: %s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("still running a minute after SIGTERM")
	}
	for _, want := range []string{`"lose_unsynced":true`, `"GetIgnoresLocks":true`, `"SkipFsync":true`, `"OracleTrustsClock":true`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the node's log does not say %s: %s", want, stderr.String())
		}
	}
	// The data directory's identity file, as a user would read it.
	raw, err := os.ReadFile(filepath.Join(data, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var id struct{ System string }
	if err := json.Unmarshal(raw, &id); err != nil || id.System != "percolator" {
		t.Errorf("identity %s (%v), want system percolator", raw, err)
	}
	for _, g := range []string{"group-0", "group-1", "group-2", "group-3"} {
		if _, err := os.Stat(filepath.Join(data, g, "wal")); err != nil {
			t.Errorf("no WAL of %s: %v", g, err)
		}
	}
}

// TestDefaultGCPercent checks that a node's collector target yields to
// GOGC from the environment.
func TestDefaultGCPercent(t *testing.T) {
	restore := debug.SetGCPercent(100)
	defer debug.SetGCPercent(restore)
	gogc, had := os.LookupEnv("GOGC")
	defer func() {
		if had {
			os.Setenv("GOGC", gogc)
		} else {
			os.Unsetenv("GOGC")
		}
	}()

	os.Unsetenv("GOGC")
	defaultGCPercent(400)
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("without GOGC: collector target %d, want 400", got)
	}
	os.Setenv("GOGC", "100")
	defaultGCPercent(400)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100: collector target %d, want 100 (the environment's)", got)
	}
}
