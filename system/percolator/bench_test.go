package percolator

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/system/kv"
)

// benchClients is the number of transactions the benchmark runs at once.
const benchClients = 64

// BenchmarkTxn runs two-key read-modify-write transactions (read two
// keys, write both incremented) from benchClients goroutines against 3
// and 5 real `squall node --system percolator` processes on loopback, with
// the node's defaults: WALs that fsync, a 100ms Raft tick, two shards.
// Each node is its own process with its own Go runtime, as in production;
// this process is the client. Low contention draws the keys from 100,000;
// high contention from 10. It reports committed transactions per second,
// the share of attempts that failed with a conflict, the latency
// percentiles of the committed ones, and the CPU time the node processes
// and this client process spent per committed transaction (steadier from
// run to run than the rate, which swings with the machine). Run it with
//
//	go test -run '^$' -bench BenchmarkTxn -benchtime 10000x ./system/percolator/
func BenchmarkTxn(b *testing.B) {
	bin := buildSquall(b)
	for _, nodes := range []int{3, 5} {
		for _, contention := range []struct {
			name string
			keys int
		}{{"low", 100_000}, {"high", 10}} {
			b.Run(fmt.Sprintf("nodes=%d/contention=%s", nodes, contention.name), func(b *testing.B) {
				benchReadModifyWrite(b, bin, nodes, contention.keys)
			})
		}
	}
}

func benchReadModifyWrite(b *testing.B, bin string, nodes, keys int) {
	peers, pids := startNodeProcesses(b, bin, nodes)
	c := newTestClient(b, peers, nil)
	ctx := context.Background()
	warmUp(b, c)

	var next, conflicts atomic.Int64
	latencies := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	cpuBefore := cpuTime(b, pids)
	var ru0 syscall.Rusage
	syscall.Getrusage(0, &ru0)
	b.ResetTimer()
	start := time.Now()
	for w := range benchClients {
		rng := rand.New(rand.NewPCG(uint64(w), 1))
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				k1 := rng.IntN(keys)
				k2 := (k1 + 1 + rng.IntN(keys-1)) % keys
				t0 := time.Now()
				err := readModifyWrite(ctx, c, benchKey(k1), benchKey(k2))
				switch {
				case err == nil:
					latencies[w] = append(latencies[w], time.Since(t0))
				case errors.Is(err, ErrConflict):
					conflicts.Add(1)
				default:
					b.Errorf("transaction: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	nodesCPU := cpuTime(b, pids) - cpuBefore
	var ru1 syscall.Rusage
	syscall.Getrusage(0, &ru1)
	// This process is the client: the two share the machine's cores.
	clientCPU := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	committed := slices.Concat(latencies...)
	slices.Sort(committed)
	if len(committed) == 0 {
		b.Fatal("no transaction committed")
	}
	percentile := func(p float64) float64 {
		return float64(committed[int(p*float64(len(committed)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(committed))/elapsed.Seconds(), "txn/s")
	b.ReportMetric(100*float64(conflicts.Load())/float64(b.N), "conflict%")
	b.ReportMetric(percentile(0.50), "p50-ms")
	b.ReportMetric(percentile(0.99), "p99-ms")
	b.ReportMetric(float64(nodesCPU.Microseconds())/float64(len(committed)), "node-cpu-µs/txn")
	b.ReportMetric(float64(clientCPU.Microseconds())/float64(len(committed)), "client-cpu-µs/txn")
	b.ReportMetric(0, "ns/op") // wall time per attempt over 64 goroutines says little
}

func benchKey(i int) []byte { return []byte("bench-" + strconv.Itoa(i)) }

// readModifyWrite increments the counters at k1 and k2 in one transaction.
func readModifyWrite(ctx context.Context, c *Client, k1, k2 []byte) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	keys := [][]byte{k1, k2}
	values, _, err := tx.BatchGet(ctx, keys)
	if err != nil {
		return err
	}
	for i, k := range keys {
		n, _ := strconv.Atoi(string(values[i])) // absent: 0
		tx.Set(k, []byte(strconv.Itoa(n+1)))
	}
	return tx.Commit(ctx)
}

// warmUp runs one transaction per worker, so that the client has found
// every group's leader and its connections before the clock starts.
func warmUp(b testing.TB, c *Client) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for w := range benchClients {
		wg.Go(func() {
			k := fmt.Sprintf("warmup-%d", w)
			if err := readModifyWrite(ctx, c, []byte(k+"a"), []byte(k+"b")); err != nil {
				b.Errorf("warm-up transaction: %v", err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// buildSquall builds the squall binary from this tree.
func buildSquall(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "squall")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/squall-chaos/squall/cmd/squall")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build squall: %v\n%s", err, out)
	}
	return bin
}

// startNodeProcesses starts n percolator nodes, each a `squall node`
// process on a loopback address with its data in a temporary directory,
// and waits for each to print its ready line. They get SIGTERM (and, if
// they linger, SIGKILL) when the benchmark ends.
func startNodeProcesses(b *testing.B, bin string, n int) (peers []kv.Peer, pids []int) {
	b.Helper()
	dir := b.TempDir()
	var flag []string
	for i, addr := range loopback.Addrs(b, n) {
		p := kv.Peer{Name: fmt.Sprintf("n%d", i+1), Addr: addr}
		peers = append(peers, p)
		flag = append(flag, p.Name+"="+p.Addr)
	}
	for _, p := range peers {
		logPath := filepath.Join(dir, p.Name+".log")
		logFile, err := os.Create(logPath)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "node", "--system", "percolator", "--id", p.Name,
			"--peers", strings.Join(flag, ","), "--data", filepath.Join(dir, p.Name), "--cluster", "bench")
		cmd.Stderr = logFile
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatalf("start node %s: %v", p.Name, err)
		}
		exited := make(chan struct{})
		ready := make(chan bool, 1)
		go func() {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			ready <- strings.HasPrefix(line, "squall node "+p.Name+" ready on ")
			io.Copy(io.Discard, stdout)
			cmd.Wait()
			logFile.Close()
			close(exited)
		}()
		b.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		if !<-ready {
			log, _ := os.ReadFile(logPath)
			b.Fatalf("node %s did not start; its log:\n%s", p.Name, log)
		}
		pids = append(pids, cmd.Process.Pid)
	}
	return peers, pids
}

// cpuTime is the CPU time, user and system, that the processes pids have
// used so far, from /proc/PID/stat (fields utime and stime, in clock
// ticks of 1/100 s on Linux).
func cpuTime(b *testing.B, pids []int) time.Duration {
	b.Helper()
	var ticks int64
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		// The command name, field 2, is in parentheses and may hold
		// spaces; count fields after it.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		for _, f := range fields[11:13] { // utime and stime, fields 14 and 15
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				b.Fatalf("/proc/%d/stat: field %q: %v", pid, f, err)
			}
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
