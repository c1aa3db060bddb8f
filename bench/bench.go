// Package bench measures squall's KV store beside etcd under one load:
// each system a cluster of real processes on this machine, every write
// fsynced, runs of the two alternating so that whatever else the machine
// does falls on both. A run starts a fresh cluster, puts every key once,
// reads keys linearizably, and reads each member's resident set.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the load and its repetitions.
type Config struct {
	Nodes     int // members of each cluster
	Keys      int // keys put, each once, before the gets
	ValueSize int // bytes of each value
	Gets      int // linearizable gets of keys drawn from those put
	Clients   int // concurrent clients, each one operation at a time
	Runs      int // runs of each system
}

// DefaultConfig is `squall bench` without flags: the load of the memory
// and tail-latency figures in docs/kv.md.
var DefaultConfig = Config{Nodes: 3, Keys: 100_000, ValueSize: 100, Gets: 100_000, Clients: 64, Runs: 3}

// Validate names the first setting out of range, by its flag.
func (c Config) Validate() error {
	for _, s := range []struct {
		flag       string
		value, min int
	}{{"--nodes", c.Nodes, 1}, {"--keys", c.Keys, 1}, {"--value-size", c.ValueSize, 1},
		{"--gets", c.Gets, 0}, {"--clients", c.Clients, 1}, {"--runs", c.Runs, 1}} {
		if s.value < s.min {
			return fmt.Errorf("%s must be at least %d, got %d", s.flag, s.min, s.value)
		}
	}
	return nil
}

// A System is what the bench starts, loads and stops.
type System struct {
	Name  string
	Start func(dir string, nodes int) (Cluster, error)
}

// Cluster is one run's cluster of processes.
type Cluster interface {
	// NewClient returns a client for one worker; clients may share
	// connections, as the clients of one process would.
	NewClient() (Client, error)
	PIDs() []int
	// Exited names the members that are no longer running, with the
	// end of their logs; nil while all run.
	Exited() error
	Stop()
}

// Client puts and reads keys.
type Client interface {
	Put(ctx context.Context, key string, value []byte) error
	// Get reads key linearizably and fails if it holds nothing.
	Get(ctx context.Context, key string) error
	Close() error
}

// Local is a cluster whose NewClient returns a concrete client type, as
// sut/kv's and sut/etcd's local clusters do.
type Local[C Client] interface {
	NewClient() (C, error)
	PIDs() []int
	Exited() error
	Stop()
}

// Adapt turns a Local cluster into a Cluster.
func Adapt[C Client](c Local[C]) Cluster { return adapted[C]{c} }

type adapted[C Client] struct{ local Local[C] }

func (a adapted[C]) NewClient() (Client, error) {
	c, err := a.local.NewClient()
	if err != nil {
		return nil, err
	}
	return c, nil
}
func (a adapted[C]) PIDs() []int   { return a.local.PIDs() }
func (a adapted[C]) Exited() error { return a.local.Exited() }
func (a adapted[C]) Stop()         { a.local.Stop() }

// Figures are what one run of one system measured.
type Figures struct {
	System  string
	Run     int           // 1-based
	PutRate float64       // puts per second over the put phase
	Put     Latencies     // of the puts
	GetRate float64       // gets per second over the get phase; 0 with no gets
	Get     Latencies     // of the gets
	MaxRSS  int64         // bytes: the largest member's resident set after the load
	Elapsed time.Duration // the run's whole time, start-up included
}

// Latencies are percentiles of one operation's latency.
type Latencies struct{ P50, P99, P999 time.Duration }

const (
	// startTimeout bounds a new cluster's first write: its election and,
	// for etcd, its members' first contact.
	startTimeout = time.Minute
	// opTimeout bounds one operation, retries included. A healthy
	// cluster needs a fraction of it; an operation that takes it fails
	// the run rather than hiding in a percentile.
	opTimeout = 10 * time.Second
)

// Run runs each system cfg.Runs times, alternating which goes first, each
// run on a fresh cluster under dir, and reports every run's figures as it
// ends. It stops at the first failed run.
func Run(ctx context.Context, cfg Config, dir string, systems []System, report func(Figures)) ([]Figures, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var all []Figures
	for r := range cfg.Runs {
		for i := range systems {
			// Run r starts with system r mod n: neither system always
			// follows the other's warm caches or dirty pages.
			sys := systems[(r+i)%len(systems)]
			runDir := filepath.Join(dir, fmt.Sprintf("%s-%d", sys.Name, r+1))
			f, err := runOnce(ctx, cfg, sys, runDir)
			if err != nil {
				return all, fmt.Errorf("%s, run %d: %w", sys.Name, r+1, err)
			}
			f.Run = r + 1
			all = append(all, f)
			if report != nil {
				report(f)
			}
			// A run's data is not needed once measured, and 100k keys'
			// WALs of several runs would fill a small disk.
			if err := os.RemoveAll(runDir); err != nil {
				return all, err
			}
		}
	}
	return all, nil
}

func runOnce(ctx context.Context, cfg Config, sys System, dir string) (Figures, error) {
	start := time.Now()
	f := Figures{System: sys.Name}
	cluster, err := sys.Start(dir, cfg.Nodes)
	if err != nil {
		return f, err
	}
	defer cluster.Stop()
	fail := func(err error) (Figures, error) {
		if exited := cluster.Exited(); exited != nil {
			err = fmt.Errorf("%w\n%w", err, exited)
		}
		return f, err
	}
	clients := make([]Client, cfg.Clients)
	for i := range clients {
		if clients[i], err = cluster.NewClient(); err != nil {
			return fail(err)
		}
		defer clients[i].Close()
	}
	if err := warmUp(ctx, clients); err != nil {
		return fail(err)
	}
	value := []byte(strings.Repeat("v", cfg.ValueSize))
	f.PutRate, f.Put, err = load(ctx, clients, cfg.Keys, func(ctx context.Context, c Client, i int, _ *rand.Rand) error {
		return c.Put(ctx, key(i), value)
	})
	if err != nil {
		return fail(fmt.Errorf("put: %w", err))
	}
	f.GetRate, f.Get, err = load(ctx, clients, cfg.Gets, func(ctx context.Context, c Client, _ int, rng *rand.Rand) error {
		return c.Get(ctx, key(rng.IntN(cfg.Keys)))
	})
	if err != nil {
		return fail(fmt.Errorf("get: %w", err))
	}
	for _, pid := range cluster.PIDs() {
		rss, err := residentSet(pid)
		if err != nil {
			return fail(err)
		}
		f.MaxRSS = max(f.MaxRSS, rss)
	}
	// A member that died during the load while a majority carried on
	// leaves figures of a smaller cluster: the run does not count.
	if exited := cluster.Exited(); exited != nil {
		return f, exited
	}
	f.Elapsed = time.Since(start)
	return f, nil
}

func key(i int) string { return fmt.Sprintf("bench%07d", i) }

// warmUp waits for the cluster to take a write from every client: the
// election, and each client's connections, are not part of the figures.
func warmUp(ctx context.Context, clients []Client) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i, c := range clients {
		wg.Go(func() {
			for {
				err := c.Put(ctx, fmt.Sprintf("warmup%d", i), []byte("x"))
				if err == nil || ctx.Err() != nil {
					errs[i] = err
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("the cluster took no write from every client within %v: %w", startTimeout, err)
	}
	return nil
}

// load runs n operations spread over the clients, each client one at a
// time, and returns their rate and latencies. The first error stops it.
func load(ctx context.Context, clients []Client, n int, op func(ctx context.Context, c Client, i int, rng *rand.Rand) error) (float64, Latencies, error) {
	if n == 0 {
		return 0, Latencies{}, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	latencies := make([][]time.Duration, len(clients))
	var wg sync.WaitGroup
	begin := time.Now()
	for ci, c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(ci), 0))
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				opCtx, opCancel := context.WithTimeout(ctx, opTimeout)
				t0 := time.Now()
				err := op(opCtx, c, i, rng)
				elapsed := time.Since(t0)
				opCancel()
				if err != nil {
					cancel(fmt.Errorf("operation %d after %v: %w", i, elapsed.Round(time.Millisecond), err))
					return
				}
				latencies[ci] = append(latencies[ci], elapsed)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if err := context.Cause(ctx); err != nil {
		return 0, Latencies{}, err
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return float64(len(all)) / elapsed.Seconds(),
		Latencies{P50: percentile(all, 0.50), P99: percentile(all, 0.99), P999: percentile(all, 0.999)}, nil
}

// percentile is the nearest-rank percentile p (0 < p ≤ 1) of sorted
// latencies: the smallest value at least a fraction p of them do not
// exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// residentSet is the VmRSS of process pid, in bytes, from /proc.
func residentSet(pid int) (int64, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	status, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("resident set of process %d: %w", pid, err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: VmRSS %q is not a count of kB", path, strings.TrimSpace(rest))
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("%s has no VmRSS line", path)
}
