// Package harness runs a test: it builds the cluster in containers, drives
// the workload's clients and the nemesis, records the history, runs the
// final phase and the checkers, and writes the run's results. Systems,
// workloads and faults plug in through small interfaces (System here,
// workloads.Workload, nemesis.Fault), so a new one needs no change to the
// runner.
package harness

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/squall-chaos/squall/checker/elle"
	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/sut"
)

// Spec is everything that defines a run. It is saved with the run, so a
// run can be repeated: every random choice derives from Seed.
type Spec struct {
	Name     string `json:"name"`
	System   string `json:"system"`
	Workload string `json:"workload"`
	// Nemesis are the fault families and modes, as items of --nemesis
	// ("partition", "clock:strobe"); a run replaces "all" and families
	// with modes this machine cannot do by what it ran.
	Nemesis []string `json:"nemesis"`
	// NemesisOverlap lets faults of several families be in force at once.
	NemesisOverlap bool `json:"nemesis_overlap,omitempty"`
	Nodes          int  `json:"nodes"`
	// Concurrency is the number of client workers; ConcurrencyText is how
	// it was given ("10", or "3n" for three per node).
	Concurrency     int           `json:"concurrency"`
	ConcurrencyText string        `json:"concurrency_text"`
	TimeLimit       time.Duration `json:"time_limit"`
	// Rate is the target total operations per second; 0 means as fast as
	// the clients go.
	Rate            float64       `json:"rate"`
	Seed            uint64        `json:"seed"`
	NemesisInterval time.Duration `json:"nemesis_interval"`
	ReadMode        string        `json:"read_mode,omitempty"`
	// Consistency is the model transactional checkers hold the history
	// to; empty means the system's default.
	Consistency  string        `json:"consistency,omitempty"`
	Bugs         []string      `json:"bugs,omitempty"`
	OpTimeout    time.Duration `json:"op_timeout"`
	CheckTimeout time.Duration `json:"check_timeout"`
	// Store is the directory runs are written under.
	Store        string `json:"-"`
	LeaveRunning bool   `json:"-"`
}

// ParseConcurrency reads "N" or "Nn" (N per node).
func ParseConcurrency(s string, nodes int) (int, error) {
	text := strings.TrimSpace(s)
	perNode := strings.HasSuffix(text, "n")
	n, err := strconv.Atoi(strings.TrimSuffix(text, "n"))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--concurrency: %q is not a positive number or N per node like \"3n\"", s)
	}
	if perNode {
		n *= nodes
	}
	return n, nil
}

// Validate checks the spec against the known systems, workloads and
// faults, and fills in its name.
func (s *Spec) Validate() error {
	sys, err := sut.Lookup(s.System)
	if err != nil {
		return fmt.Errorf("--system: %w", err)
	}
	if _, ok := workloadFactories[s.Workload]; !ok {
		return fmt.Errorf("--workload: %q is not a known workload (want %s)", s.Workload, strings.Join(WorkloadNames(), ", "))
	}
	if !slices.Contains(sys.Workloads(), s.Workload) {
		return fmt.Errorf("--workload: %s has no client for the %s workload (it has %s)", s.System, s.Workload, strings.Join(sys.Workloads(), ", "))
	}
	_, admin := sys.(sut.NodeAdmin)
	if i := slices.Index(s.Nemesis, "all"); i >= 0 && !admin {
		// "all" is every family the system can take.
		s.Nemesis = slices.Concat(s.Nemesis[:i:i], familiesWithoutAdmin(), s.Nemesis[i+1:])
	}
	choices, err := nemesis.ParseChoices(s.Nemesis)
	if err != nil {
		return err
	}
	if !admin {
		for _, c := range choices {
			if f, _ := nemesis.FamilyNamed(c.Family); f.NeedsNodeAdmin {
				return fmt.Errorf("--nemesis: %s works through squall's admin API in each node (injectable clock, failpoints, unsynced writes), which %s nodes do not serve; for %s use %s",
					c.Family, s.System, s.System, strings.Join(familiesWithoutAdmin(), ", "))
			}
		}
	}
	if s.Nodes < 1 || s.Nodes > 9 {
		return fmt.Errorf("--nodes: %d must be between 1 and 9", s.Nodes)
	}
	if s.Concurrency < 1 {
		return fmt.Errorf("--concurrency: %d must be positive", s.Concurrency)
	}
	if s.TimeLimit <= 0 {
		return fmt.Errorf("--time-limit: %v must be positive", s.TimeLimit)
	}
	if !(s.Rate >= 0) || math.IsInf(s.Rate, 0) {
		return fmt.Errorf("--rate: %v is not a number of operations per second, 0 or more (0: as fast as the clients go)", s.Rate)
	}
	if s.NemesisInterval <= 0 {
		return fmt.Errorf("--nemesis-interval: %v must be positive", s.NemesisInterval)
	}
	if s.OpTimeout <= 0 {
		return fmt.Errorf("--op-timeout: %v must be positive", s.OpTimeout)
	}
	if s.ReadMode != "" {
		modes, ok := sys.(sut.ReadModes)
		switch {
		case !ok:
			return fmt.Errorf("--read-mode: %s has no read modes", s.System)
		case !slices.Contains(modes.ReadModes(), s.ReadMode):
			return fmt.Errorf("--read-mode: %q is not a read mode of %s (want %s)", s.ReadMode, s.System, strings.Join(modes.ReadModes(), ", "))
		}
	}
	if s.Consistency == "" {
		s.Consistency = sys.DefaultConsistency()
	}
	if _, err := elle.ParseModel(s.Consistency); err != nil {
		return fmt.Errorf("--consistency: %w", err)
	}
	for _, b := range s.Bugs {
		if names := sut.BugNames(s.System); !slices.Contains(names, b) {
			return fmt.Errorf("--bug: %q is not a planted bug of %s (want %s)", b, s.System, strings.Join(names, ", "))
		}
	}
	if s.Name == "" {
		parts := []string{s.System, s.Workload}
		if len(s.Nemesis) > 0 {
			parts = append(parts, nameSafe(strings.Join(s.Nemesis, "+")))
		}
		for _, b := range s.Bugs {
			parts = append(parts, "bug-"+b)
		}
		s.Name = strings.Join(parts, "-")
	}
	return nil
}

// RevealSpec is base changed into the run that reveals bug of system.
func RevealSpec(base Spec, system string, bug sut.Bug) Spec {
	r := bug.RevealedBy
	s := base
	s.Name = ""
	s.System, s.Workload, s.Nemesis, s.Bugs = system, r.Workload, slices.Clone(r.Nemesis), []string{bug.Name}
	if r.Interval > 0 {
		s.NemesisInterval = r.Interval
	}
	if r.OpTimeout > 0 {
		s.OpTimeout = r.OpTimeout
	}
	if r.Concurrency > 0 {
		s.Concurrency, s.ConcurrencyText = r.Concurrency, fmt.Sprint(r.Concurrency)
	}
	return s
}

// nameSafe makes s fit a test's name, which names its directory and the
// run's Docker objects: a mode's ':', a grudge's '|' or a failpoint's '/'
// become '-'.
func nameSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '+' || r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
}

// familiesWithoutAdmin lists the fault families that need nothing of a
// node but its container.
func familiesWithoutAdmin() []string {
	var names []string
	for _, f := range nemesis.Families() {
		if !f.NeedsNodeAdmin {
			names = append(names, f.Name)
		}
	}
	return names
}
