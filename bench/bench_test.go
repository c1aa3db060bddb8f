package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/sut/etcd"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var ms []time.Duration
	for i := 1; i <= 1000; i++ {
		ms = append(ms, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0.999, 999 * time.Millisecond}, {1, time.Second}} {
		if got := percentile(ms, tc.p); got != tc.want {
			t.Errorf("percentile(1..1000 ms, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(ms[:1], 0.999); got != time.Millisecond {
		t.Errorf("percentile of one value = %v, want that value", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of none = %v, want 0", got)
	}
}

func TestMedianTakesEachFigureOnItsOwn(t *testing.T) {
	all := []Figures{
		{System: "a", PutRate: 10, MaxRSS: 300, Put: Latencies{P999: 3 * time.Millisecond}},
		{System: "b", PutRate: 99},
		{System: "a", PutRate: 30, MaxRSS: 100, Put: Latencies{P999: 1 * time.Millisecond}},
		{System: "a", PutRate: 20, MaxRSS: 200, Put: Latencies{P999: 9 * time.Millisecond}},
	}
	m := Median(all, "a")
	if m.Run != 3 || m.PutRate != 20 || m.MaxRSS != 200 || m.Put.P999 != 3*time.Millisecond {
		t.Errorf("Median = runs %d, put/s %v, RSS %v, p99.9 %v; want 3, 20, 200, 3ms", m.Run, m.PutRate, m.MaxRSS, m.Put.P999)
	}
	var table strings.Builder
	if err := WriteTable(&table, []Figures{m, Median(all, "b")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a (3)", "b (1)", "a/b", "put/s", "max RSS", "0.20"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	if err := DefaultConfig.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cfg := DefaultConfig
	cfg.ValueSize = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--value-size") {
		t.Errorf("value size 0: %v, want an error naming --value-size", err)
	}
	if _, err := Run(context.Background(), cfg, t.TempDir(), nil, nil); err == nil {
		t.Error("Run took an invalid config")
	}
}

// fakeCluster is a map behind a mutex, for the code around the clusters:
// the order of runs and what a failure reports.
type fakeCluster struct {
	mu      sync.Mutex
	data    map[string][]byte
	failPut string // a key whose put fails
	stopped bool
}

func (c *fakeCluster) NewClient() (Client, error) { return fakeClient{c}, nil }
func (c *fakeCluster) PIDs() []int                { return []int{os.Getpid()} }
func (c *fakeCluster) Exited() error {
	if c.failPut != "" {
		return errors.New("member m2 exited")
	}
	return nil
}
func (c *fakeCluster) Stop() { c.stopped = true }

type fakeClient struct{ c *fakeCluster }

func (f fakeClient) Put(_ context.Context, key string, value []byte) error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if key == f.c.failPut {
		return errors.New("connection refused")
	}
	f.c.data[key] = value
	return nil
}

func (f fakeClient) Get(_ context.Context, key string) error {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if _, ok := f.c.data[key]; !ok {
		return fmt.Errorf("%s not found", key)
	}
	return nil
}

func (fakeClient) Close() error { return nil }

func fakeSystem(name string, started *[]string, clusters *[]*fakeCluster, failPut string) System {
	return System{Name: name, Start: func(dir string, nodes int) (Cluster, error) {
		*started = append(*started, name)
		c := &fakeCluster{data: map[string][]byte{}, failPut: failPut}
		*clusters = append(*clusters, c)
		return c, os.MkdirAll(dir, 0o755)
	}}
}

func TestRunsAlternateAndEachIsFresh(t *testing.T) {
	var started []string
	var clusters []*fakeCluster
	cfg := Config{Nodes: 3, Keys: 50, ValueSize: 10, Gets: 200, Clients: 4, Runs: 3}
	dir := t.TempDir()
	var reported []Figures
	all, err := Run(context.Background(), cfg, dir, []System{
		fakeSystem("a", &started, &clusters, ""), fakeSystem("b", &started, &clusters, ""),
	}, func(f Figures) { reported = append(reported, f) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "b", "a", "a", "b"}; !slices.Equal(started, want) {
		t.Errorf("systems ran in the order %v, want %v", started, want)
	}
	if len(reported) != 6 || len(all) != 6 {
		t.Fatalf("reported %d runs and returned %d, want 6 of each", len(reported), len(all))
	}
	for _, c := range clusters {
		if !c.stopped || len(c.data) != cfg.Keys+cfg.Clients {
			t.Errorf("a cluster was stopped %v and holds %d keys, want stopped with %d (the keys and a warm-up key per client)",
				c.stopped, len(c.data), cfg.Keys+cfg.Clients)
		}
	}
	for _, f := range all {
		if f.PutRate <= 0 || f.GetRate <= 0 || f.MaxRSS <= 0 || f.Put.P50 > f.Put.P99 || f.Put.P99 > f.Put.P999 {
			t.Errorf("run %d of %s: %+v, want positive rates and RSS and ordered percentiles", f.Run, f.System, f)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("measured runs left %d entries in the directory", len(entries))
	}
}

func TestAFailedRunNamesItsSystemAndWhatExited(t *testing.T) {
	var started []string
	var clusters []*fakeCluster
	cfg := Config{Nodes: 3, Keys: 50, ValueSize: 10, Gets: 0, Clients: 4, Runs: 2}
	dir := t.TempDir()
	_, err := Run(context.Background(), cfg, dir, []System{
		fakeSystem("a", &started, &clusters, ""), fakeSystem("b", &started, &clusters, key(17)),
	}, nil)
	if err == nil {
		t.Fatal("a run whose put failed succeeded")
	}
	for _, want := range []string{"b, run 1", "put", "connection refused", "member m2 exited"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !slices.Equal(started, []string{"a", "b"}) {
		t.Errorf("systems started %v, want the bench to stop at the failed run", started)
	}
	if _, statErr := os.Stat(dir + "/b-1"); statErr != nil {
		t.Errorf("the failed run's directory is gone: %v", statErr)
	}
}

// TestBenchLoadsRealClusters runs a small load against three real squall
// nodes and three real etcd members, each a process of its own.
func TestBenchLoadsRealClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped in -short mode")
	}
	ctx := context.Background()
	squall, err := runtime.SquallBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	etcdServer, err := etcd.Binary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Nodes: 3, Keys: 300, ValueSize: 100, Gets: 300, Clients: 8, Runs: 1}
	all, err := Run(ctx, cfg, t.TempDir(), []System{KV(squall), Etcd(etcdServer)}, func(f Figures) { t.Log(Line(f)) })
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].System != "kv" || all[1].System != "etcd" {
		t.Fatalf("runs %v, want kv then etcd", all)
	}
	for _, f := range all {
		if f.PutRate <= 0 || f.GetRate <= 0 {
			t.Errorf("%s: put %v/s, get %v/s, want both positive", f.System, f.PutRate, f.GetRate)
		}
		if f.Put.P50 <= 0 || f.Put.P50 > f.Put.P99 || f.Put.P99 > f.Put.P999 {
			t.Errorf("%s: put latencies %+v, want positive and ordered", f.System, f.Put)
		}
		// A Go server process holds megabytes before its first key.
		if f.MaxRSS < 1<<20 {
			t.Errorf("%s: max RSS %d bytes, want a process's", f.System, f.MaxRSS)
		}
	}
}
