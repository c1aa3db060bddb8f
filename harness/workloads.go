package harness

import (
	"maps"
	"slices"

	"github.com/squall-chaos/squall/workloads"
)

// The workloads a run can drive; the systems under test are sut's
// registry, which cmd/squall fills.

var workloadFactories = map[string]func() workloads.Workload{
	"register": func() workloads.Workload { return workloads.NewRegister() },
	"bank":     func() workloads.Workload { return workloads.NewBank() },
	"append":   func() workloads.Workload { return workloads.NewAppend() },
}

// WorkloadNames lists the known workloads.
func WorkloadNames() []string { return slices.Sorted(maps.Keys(workloadFactories)) }
