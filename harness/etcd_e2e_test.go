package harness

import (
	"strings"
	"testing"

	"github.com/squall-chaos/squall/checker"
)

// TestEndToEndEtcd runs each workload on a 5-member etcd cluster, a
// system squall did not write, under partitions, kills and pauses: etcd
// is linearizable and its transactions strictly serializable, so every
// run must be valid.
func TestEndToEndEtcd(t *testing.T) {
	for _, workload := range []string{"register", "bank", "append"} {
		t.Run(workload, func(t *testing.T) {
			spec := e2eSpec(t, []string{"partition", "kill", "pause"}, nil)
			spec.System, spec.Workload = "etcd", workload
			outcome := runE2E(t, spec)
			if outcome.Verdict != checker.Valid {
				t.Fatalf("verdict %s for etcd's %s, want valid; see %s\n%s", outcome.Verdict, workload, outcome.Dir, verdicts(outcome))
			}
		})
	}
}

// TestEndToEndEtcdSerializableReadsAreStale: clients that read with
// etcd's serializable consistency read a partitioned member's old state,
// which the register workload's checker must find.
func TestEndToEndEtcdSerializableReadsAreStale(t *testing.T) {
	spec := e2eSpec(t, []string{"partition"}, []string{"serializable-reads"})
	spec.System = "etcd"
	spec.TimeLimit *= 2 // several partitions, each long enough to read stale
	outcome := runE2E(t, spec)
	if outcome.Verdict != checker.Invalid {
		t.Fatalf("verdict %s for etcd with serializable reads, want invalid; see %s\n%s", outcome.Verdict, outcome.Dir, verdicts(outcome))
	}
}

// TestEtcdRefusesFamiliesThatNeedSquallsAdminAPI: the clock, failpoint
// and power families work through squall's node admin API, which etcd
// does not serve; a run asking for them is refused before it starts,
// naming the families that do work.
func TestEtcdRefusesFamiliesThatNeedSquallsAdminAPI(t *testing.T) {
	for _, family := range []string{"clock", "failpoint", "power:one"} {
		spec := e2eSpec(t, []string{"partition", family}, nil)
		spec.System = "etcd"
		err := spec.Validate()
		if err == nil || !strings.Contains(err.Error(), "admin API") || !strings.Contains(err.Error(), "partition, kill, pause, loss") {
			t.Errorf("etcd with %s: %v, want a refusal naming the families etcd can take", family, err)
		}
	}
	spec := e2eSpec(t, []string{"partition", "kill", "pause", "loss"}, []string{"serializable-reads"})
	spec.System = "etcd"
	if err := spec.Validate(); err != nil {
		t.Fatalf("etcd with partition, kill, pause, loss and its bug: %v", err)
	}
	spec = e2eSpec(t, []string{"all"}, nil)
	spec.System = "etcd"
	if err := spec.Validate(); err != nil || strings.Join(spec.Nemesis, ",") != "partition,kill,pause,loss" {
		t.Fatalf("etcd with all: %v, nemesis %v; want partition, kill, pause and loss", err, spec.Nemesis)
	}
}
