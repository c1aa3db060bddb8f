package nemesis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/squall-chaos/squall/sut"
	kvsut "github.com/squall-chaos/squall/sut/kv"

	"github.com/squall-chaos/squall/harness"
	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/nemesis"
)

// BenchmarkApplyHeal measures how long each family takes to apply one
// fault to a real 5-node kv cluster in containers, and to heal it, through
// the Docker API and the nodes' admin services as a run does. Kill and
// power heal by restarting nodes and waiting until they serve again.
//
//	go test -run '^$' -bench ApplyHeal -benchtime 10x ./nemesis/
func BenchmarkApplyHeal(b *testing.B) {
	ctx := context.Background()
	if err := runtime.Available(ctx); err != nil {
		b.Skipf("Docker is unavailable: %v", err)
	}
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	c, err := runtime.Start(ctx, runtime.Config{
		RunID: fmt.Sprintf("bench-%d", time.Now().UnixNano()),
		Nodes: nodes,
		NodeArgs: func(node string, members []nemesis.Node) []string {
			return kvsut.System{}.NodeArgs(node, members, sut.NodeOptions{Cluster: "bench", LoseUnsynced: true})
		},
		NetFaults: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	cluster, err := harness.NewNemesisCluster(kvsut.System{}, c)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range nemesis.Families() {
		modes := map[string][]string{
			// Each mode's cost is alike; one that works on every kernel.
			"loss": {nemesis.LossDrop},
			// A crash that waits for the node to reach the point would
			// measure the workload, not the fault.
			"failpoint": {nemesis.FailError},
		}[f.Name]
		faults, err := nemesis.Build([]nemesis.Choice{{Family: f.Name, Modes: modes}})
		if err != nil {
			b.Fatal(err)
		}
		fault := faults[0]
		b.Run("family="+f.Name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			var apply, heal time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := fault.Start(ctx, cluster, rng); err != nil {
					b.Fatalf("start %s: %v", f.Name, err)
				}
				t1 := time.Now()
				if _, err := fault.Stop(ctx, cluster); err != nil {
					b.Fatalf("stop %s: %v", f.Name, err)
				}
				apply, heal = apply+t1.Sub(t0), heal+time.Since(t1)
			}
			b.ReportMetric(float64(apply.Milliseconds())/float64(b.N), "apply-ms")
			b.ReportMetric(float64(heal.Milliseconds())/float64(b.N), "heal-ms")
		})
	}
}
