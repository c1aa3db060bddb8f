package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/percolator"
)

// syncBuffer is a bytes.Buffer that a command may write while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// readyLine matches the line `squall node` prints once it serves.
var readyLine = regexp.MustCompile(`(?m)^squall node \S+ ready on \S+$`)

// runRefused runs `squall <args>` in this process, expecting it to refuse
// and return before serving. A command that serves instead would run until
// SIGTERM, so a hang guard turns that into a failure.
func runRefused(t *testing.T, args ...string) (code int, stderr string) {
	t.Helper()
	var stdout, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(append([]string{"squall"}, args...), &stdout, &errOut) }()
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("squall %s did not refuse: still running after a minute; stdout: %s", strings.Join(args, " "), stdout.String())
	}
	if code != exitHarnessError {
		t.Errorf("squall %s exited %d, want %d; stderr: %s", strings.Join(args, " "), code, exitHarnessError, errOut.String())
	}
	if readyLine.MatchString(stdout.String()) {
		t.Errorf("squall %s printed a ready line before refusing: %s", strings.Join(args, " "), stdout.String())
	}
	return code, errOut.String()
}

func expectMentions(t *testing.T, stderr string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not mention %q", stderr, w)
		}
	}
}

func TestNodeRefusesBadFlags(t *testing.T) {
	addrs := loopback.Addrs(t, 2)
	a, b := addrs[0], addrs[1]
	peers := "n1=" + a + ",n2=" + b
	data := filepath.Join(t.TempDir(), "data")
	// valid returns good node flags, with the named ones replaced (or
	// dropped, for an empty value).
	valid := func(override ...string) []string {
		flags := [][2]string{{"--id", "n1"}, {"--peers", peers}, {"--data", data}}
		for i := 0; i+1 < len(override); i += 2 {
			j := slices.IndexFunc(flags, func(f [2]string) bool { return f[0] == override[i] })
			if j < 0 {
				flags = append(flags, [2]string{override[i], override[i+1]})
			} else {
				flags[j][1] = override[i+1]
			}
		}
		args := []string{"node"}
		for _, f := range flags {
			if f[1] != "" {
				args = append(args, f[0], f[1])
			}
		}
		return args
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing --id", valid("--id", ""), []string{"--id is required"}},
		{"missing --peers", valid("--peers", ""), []string{"--peers is required"}},
		{"missing --data", valid("--data", ""), []string{"--data is required"}},
		{"--peers item without an address", valid("--peers", "n1="+a+",n2"), []string{"--peers", `"n2"`, "ID=HOST:PORT"}},
		{"--peers address without a port", valid("--peers", "n1=localhost,n2="+b), []string{"n1", `"localhost"`, "missing port"}},
		{"duplicate id", valid("--peers", "n1="+a+",n1="+b), []string{`duplicate peer id "n1"`}},
		{"duplicate address", valid("--peers", "n1="+a+",n2="+a), []string{"duplicate peer address", a}},
		{"unknown --id", valid("--id", "n9"), []string{`"n9"`, "not one of the peers", "n1, n2"}},
		{"bad --read-mode", valid("--read-mode", "fast"), []string{"--read-mode", `"fast"`, "readindex, log or lease"}},
		{"unknown --bug", valid("--bug", "lost-writes"), []string{"--bug", `"lost-writes"`,
			"stale-reads, lease-reads, duplicate-retries, timeout-is-failure, skip-fsync"}},
		{"percolator's --bug", valid("--bug", "oracle-trusts-clock"), []string{"--bug", `"oracle-trusts-clock"`, "not a planted bug of kv"}},
		{"--bug lease-reads with another --read-mode", valid("--bug", "lease-reads", "--read-mode", "log"),
			[]string{"--bug lease-reads", "--read-mode lease", "--read-mode log"}},
		{"unknown --system", valid("--system", "mongodb"), []string{"--system", `"mongodb"`, "kv"}},
		{"zero --tick", valid("--tick", "0s"), []string{"--tick", "0s", "positive"}},
		{"unparsable --tick", valid("--tick", "fast"), []string{"tick", `"fast"`}},
		{"--election-ticks below 2", valid("--election-ticks", "1"), []string{"--election-ticks", "1", "at least 2"}},
		{"bad --log-level", valid("--log-level", "loud"), []string{"--log-level", `"loud"`, "debug, info, warn or error"}},
		{"unexpected argument", append(valid(), "extra"), []string{`"extra"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr := runRefused(t, tc.args...)
			expectMentions(t, stderr, tc.want...)
		})
	}
	if _, err := os.Stat(data); err == nil {
		t.Errorf("a refused start created the data directory %s", data)
	}
}

// usedDataDir returns the data directory of node n1 of the single-node
// cluster "c1" at addr, after a run that wrote enough to leave WAL records
// and snapshot files behind.
func usedDataDir(t *testing.T, addr string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "n1")
	peers := []kv.Peer{{Name: "n1", Addr: addr}}
	node, err := kv.Start(kv.Config{Name: "n1", Peers: peers, Cluster: "c1", DataDir: dir,
		TickInterval: 10 * time.Millisecond, SnapshotEntries: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	client, err := kv.NewClient(kv.ClientConfig{Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 35 {
		if _, err := client.Put(ctx, fmt.Sprintf("k%d", i), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// copyDir returns a fresh copy of a data directory, for one case to damage.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "n1")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// newestFile returns the last file, in name order, matching pattern in dir.
func newestFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no %s in %s: %v", pattern, dir, err)
	}
	return matches[len(matches)-1]
}

// flipMiddleRecordByte flips a payload byte of a record in the middle of
// the WAL segment at path and returns the record's offset. Records are
// framed as length uint32, type uint8, crc uint32, payload (see
// system/raft/wal/record.go); damage inside a record that other records
// follow cannot be mistaken for a torn write.
func flipMiddleRecordByte(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const headerSize = 4 + 1 + 4
	type record struct{ offset, length int }
	var records []record
	for off := 0; off+headerSize <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n == 0 && data[off+4] == 0 {
			break // zeroes after the last record
		}
		records = append(records, record{off, n})
		off += headerSize + n
	}
	var victim *record
	for i := len(records) / 2; i < len(records)-1; i++ {
		if records[i].length > 0 {
			victim = &records[i]
			break
		}
	}
	if victim == nil {
		t.Fatalf("%s has no record with a payload followed by others (%d records)", path, len(records))
	}
	data[victim.offset+headerSize+victim.length/2] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return int64(victim.offset)
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// squall node --help describes every planted bug of both systems and the
// power-loss storage mode, for whoever starts nodes by hand.
func TestNodeHelpDescribesBugsAndLoseUnsynced(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"squall", "node", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("squall node --help exited %d; stderr: %s", code, stderr.String())
	}
	help := stdout.String()
	for _, bug := range append(kv.PlantedBugs(), percolator.PlantedBugs()...) {
		if !strings.Contains(help, bug.Name+": "+bug.Description) {
			t.Errorf("squall node --help does not describe --bug %s", bug.Name)
		}
	}
	if !strings.Contains(help, "--lose-unsynced") || !strings.Contains(help, "power cut") {
		t.Errorf("squall node --help does not describe --lose-unsynced:\n%s", help)
	}
}

func TestNodeRefusesDataDirectories(t *testing.T) {
	addrs := loopback.Addrs(t, 2)
	used := usedDataDir(t, addrs[0])
	one := "n1=" + addrs[0]
	two := one + ",n2=" + addrs[1]

	t.Run("another node's", func(t *testing.T) {
		dir := copyDir(t, used)
		_, stderr := runRefused(t, "node", "--id", "n2", "--peers", two, "--cluster", "c1", "--data", dir)
		expectMentions(t, stderr, dir, `belongs to node "n1", not "n2"`)
	})
	t.Run("another cluster's", func(t *testing.T) {
		dir := copyDir(t, used)
		_, stderr := runRefused(t, "node", "--id", "n1", "--peers", one, "--cluster", "c2", "--data", dir)
		expectMentions(t, stderr, dir, `belongs to cluster "c1", not "c2"`)
	})
	t.Run("another cluster's by default", func(t *testing.T) {
		// Without --cluster the identity is derived from the peers.
		dir := copyDir(t, used)
		_, stderr := runRefused(t, "node", "--id", "n1", "--peers", one, "--data", dir)
		expectMentions(t, stderr, dir, `belongs to cluster "c1"`)
	})
	t.Run("not empty and without an identity", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr := runRefused(t, "node", "--id", "n1", "--peers", one, "--cluster", "c1", "--data", dir)
		expectMentions(t, stderr, dir, "not empty", "identity.json")
		if _, err := os.Stat(filepath.Join(dir, "wal")); err == nil {
			t.Errorf("a refused start wrote a WAL into %s", dir)
		}
	})
	t.Run("corrupt identity", func(t *testing.T) {
		dir := copyDir(t, used)
		if err := os.WriteFile(filepath.Join(dir, "identity.json"), []byte(`{"cluster": "c1", "node":`), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr := runRefused(t, "node", "--id", "n1", "--peers", one, "--cluster", "c1", "--data", dir)
		expectMentions(t, stderr, dir, "corrupt identity.json")
	})
	t.Run("WAL record with a flipped byte", func(t *testing.T) {
		dir := copyDir(t, used)
		segment := newestFile(t, filepath.Join(dir, "wal"), "*.wal")
		offset := flipMiddleRecordByte(t, segment)
		before, err := os.ReadFile(segment)
		if err != nil {
			t.Fatal(err)
		}
		_, stderr := runRefused(t, "node", "--id", "n1", "--peers", one, "--cluster", "c1", "--data", dir)
		expectMentions(t, stderr, segment, fmt.Sprintf("at offset %d", offset), "crc mismatch")
		if after, err := os.ReadFile(segment); err != nil || !bytes.Equal(after, before) {
			t.Errorf("a refused start changed the damaged segment %s (err %v)", segment, err)
		}
	})
	t.Run("snapshot with a flipped byte", func(t *testing.T) {
		dir := copyDir(t, used)
		snapshot := newestFile(t, filepath.Join(dir, "snap"), "*.snap")
		flipByte(t, snapshot)
		_, stderr := runRefused(t, "node", "--id", "n1", "--peers", one, "--cluster", "c1", "--data", dir)
		expectMentions(t, stderr, snapshot, "crc mismatch")
	})

	// The undamaged directory still serves its own node.
	t.Run("its own", func(t *testing.T) {
		var stdout, stderr syncBuffer
		node, err := kv.Start(kv.Config{Name: "n1", Peers: []kv.Peer{{Name: "n1", Addr: addrs[0]}}, Cluster: "c1", DataDir: used})
		if err != nil {
			t.Fatalf("restart on the undamaged directory: %v", err)
		}
		defer node.Stop()
		// The probe fails until the node has elected itself; retry it.
		args := []string{"squall", "node", "health", "--addr", addrs[0], "--leader"}
		deadline := time.Now().Add(time.Minute)
		for run(args, &stdout, &stderr) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("squall node health --leader on a serving node still fails after a minute; stderr: %s", stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		expectMentions(t, stdout.String(), "n1 leader")
	})
}

func TestNodeHealthWithNothingListening(t *testing.T) {
	addr := loopback.Addrs(t, 1)[0]
	_, stderr := runRefused(t, "node", "health", "--addr", addr, "--timeout", "200ms")
	expectMentions(t, stderr, addr, "not serving")
}
