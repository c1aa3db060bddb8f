package suite

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/harness"
	"github.com/squall-chaos/squall/results"
	"github.com/squall-chaos/squall/sut"
)

// Nightly is every system under every workload with every fault family it
// can take (--nemesis all: the families take turns), over base.
func Nightly(base harness.Spec) Matrix {
	return Matrix{
		Name:      "nightly",
		Systems:   sut.Names(),
		Workloads: harness.WorkloadNames(),
		Nemeses:   []string{"all"},
		Base:      base,
	}
}

// Selfcheck is squall measuring its own detection power: each planted bug
// of every system, runs times, with the faults that reveal it
// (sut.Bug.RevealedBy), and runs clean runs of every system and workload
// with every family (false alarms if any is invalid). Seeds follow seed.
func Selfcheck(base harness.Spec, runs int, seed uint64) ([]Entry, error) {
	var entries []Entry
	add := func(s harness.Spec, bug, row string) error {
		s.Seed = seed + uint64(len(entries)) + 1
		if err := s.Validate(); err != nil {
			return fmt.Errorf("selfcheck %s: %w", row, err)
		}
		entries = append(entries, Entry{Spec: s, Bug: bug, Row: row})
		return nil
	}
	for _, system := range sut.Names() {
		sys, err := sut.Lookup(system)
		if err != nil {
			return nil, err
		}
		bugs := sys.Bugs()
		sort.Slice(bugs, func(i, j int) bool { return bugs[i].Name < bugs[j].Name })
		for _, bug := range bugs {
			for range runs {
				if err := add(harness.RevealSpec(base, system, bug), bug.Name, system+" "+bug.Name); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, system := range sut.Names() {
		for _, workload := range harness.WorkloadNames() {
			for range runs {
				s := base
				s.System, s.Workload, s.Nemesis = system, workload, []string{"all"}
				if err := add(s, "", system+" "+workload+" --nemesis all"); err != nil {
					return nil, err
				}
			}
		}
	}
	return entries, nil
}

// detection is a selfcheck's table: one row per Row of entries, in order.
func detection(entries []Entry, tests []results.SuiteTest) []results.Detection {
	var rows []results.Detection
	index := map[string]int{}
	firsts := map[string][]time.Duration{}
	for i, e := range entries {
		if e.Row == "" {
			continue
		}
		k, ok := index[e.Row]
		if !ok {
			k = len(rows)
			index[e.Row] = k
			config := e.Spec.Workload + " " + strings.Join(e.Spec.Nemesis, ",")
			if len(e.Spec.Nemesis) == 0 {
				config = e.Spec.Workload + " no faults"
			}
			rows = append(rows, results.Detection{System: e.Spec.System, Bug: e.Bug, Config: config})
		}
		t := tests[i]
		if t.Verdict == "" {
			continue // never ran
		}
		rows[k].Runs++
		switch {
		case t.Errored():
			rows[k].Errors++
		case t.Verdict == string(checker.Invalid):
			rows[k].Invalid++
			if t.FirstAnomaly > 0 {
				firsts[e.Row] = append(firsts[e.Row], t.FirstAnomaly)
			}
		}
	}
	for row, ds := range firsts {
		slices.Sort(ds)
		rows[index[row]].MedianFirstAnomaly = ds[len(ds)/2]
	}
	return rows
}

// DetectionTable is the selfcheck's table as text.
func DetectionTable(rows []results.Detection) string {
	var b strings.Builder
	// A tabwriter sizes each column to its longest cell: a reveal's run
	// (a failpoint or clock nemesis list) is far longer than most.
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "system\tbug\trun\tcaught\terrors\tmedian first anomaly")
	for _, r := range rows {
		bug, verdict := r.Bug, fmt.Sprintf("%d/%d", r.Invalid, r.Runs)
		if bug == "" {
			bug, verdict = "(clean)", fmt.Sprintf("%d/%d wolf", r.Invalid, r.Runs)
		}
		first := ""
		if r.MedianFirstAnomaly > 0 {
			first = r.MedianFirstAnomaly.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", r.System, bug, r.Config, verdict, r.Errors, first)
	}
	w.Flush()
	return b.String()
}
