// Package suite runs many tests as one: a matrix of systems, workloads,
// nemeses, seeds and time limits (from flags or a file), the built-in
// nightly suite, and the selfcheck that measures how often squall catches
// each planted bug. Tests run a few at a time, each with a cluster on its
// own network; the suite's summary, JUnit XML and page go to
// store/suites/ (package results).
package suite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/squall-chaos/squall/harness"
	"github.com/squall-chaos/squall/nemesis"
)

// Matrix is a suite: every combination of its lists, each repeated, and
// the explicit tests. Base holds every other setting of each test.
type Matrix struct {
	Name      string
	Systems   []string
	Workloads []string
	// Nemeses are --nemesis values, each a test's whole nemesis
	// ("partition,kill", "pause:leader", "none").
	Nemeses    []string
	Seeds      []uint64
	TimeLimits []time.Duration
	// Repeats runs each combination this many times (at least once),
	// each with its own seed when Seeds is empty.
	Repeats int
	Base    harness.Spec
	// Tests are runs beyond the combinations, each complete but for
	// Base's settings where it leaves them zero.
	Tests []harness.Spec
}

// Entry is one test of a suite.
type Entry struct {
	Spec harness.Spec
	// Bug is the planted bug a selfcheck entry is to reveal; "" for a
	// clean entry, or outside a selfcheck.
	Bug string
	// Row groups a selfcheck's entries into a detection row.
	Row string
}

// Entries expands the matrix into tests, each validated: an entry that
// is not a valid test is an error naming it, before anything runs.
// Seeds come from seed, where the matrix does not list them.
func (m Matrix) Entries(seed uint64) ([]Entry, error) {
	repeats := max(m.Repeats, 1)
	var entries []Entry
	add := func(s harness.Spec) error {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("suite %s, test %d (%s): %w", m.Name, len(entries)+1, describe(s), err)
		}
		entries = append(entries, Entry{Spec: s})
		return nil
	}
	if len(m.Systems)+len(m.Workloads)+len(m.Nemeses) > 0 {
		if len(m.Systems) == 0 || len(m.Workloads) == 0 || len(m.Nemeses) == 0 {
			return nil, fmt.Errorf("suite %s: a matrix needs systems, workloads and nemeses (got %d, %d and %d)", m.Name, len(m.Systems), len(m.Workloads), len(m.Nemeses))
		}
		limits := m.TimeLimits
		if len(limits) == 0 {
			limits = []time.Duration{m.Base.TimeLimit}
		}
		base := m.Base
		base.Name = ""
		specs := across([]harness.Spec{base}, m.Systems, func(s *harness.Spec, system string) { s.System = system })
		specs = across(specs, m.Workloads, func(s *harness.Spec, workload string) { s.Workload = workload })
		specs = across(specs, m.Nemeses, func(s *harness.Spec, nem string) { s.Nemesis = nemesisList(nem) })
		specs = across(specs, limits, func(s *harness.Spec, limit time.Duration) { s.TimeLimit = limit })
		// Each repeat of a combination runs the matrix's seeds, or a
		// seed of its own drawn from seed.
		n := uint64(0)
		for _, s := range specs {
			for range repeats {
				seeds := m.Seeds
				if len(seeds) == 0 {
					n++
					seeds = []uint64{seed + n}
				}
				for _, s.Seed = range seeds {
					if err := add(s); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	for i, t := range m.Tests {
		for range repeats {
			s := withBase(t, m.Base)
			if s.Seed == 0 {
				s.Seed = seed + uint64(len(entries)) + 1
			}
			if err := add(s); err != nil {
				return nil, fmt.Errorf("%w (tests[%d] of the file)", err, i)
			}
		}
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("suite %s has no tests: give systems, workloads and nemeses, or tests", m.Name)
	}
	return entries, nil
}

// across is the product of specs and values: each spec once per value,
// set to it, in the order of specs, then values.
func across[T any](specs []harness.Spec, values []T, set func(*harness.Spec, T)) []harness.Spec {
	out := make([]harness.Spec, 0, len(specs)*len(values))
	for _, s := range specs {
		for _, v := range values {
			set(&s, v)
			out = append(out, s)
		}
	}
	return out
}

// nemesisList splits a --nemesis value; "none" is no fault.
func nemesisList(v string) []string {
	var items []string
	for _, item := range nemesis.SplitList(v) {
		if item != "none" {
			items = append(items, item)
		}
	}
	return items
}

// withBase fills t's zero settings from base.
func withBase(t, base harness.Spec) harness.Spec {
	s := base
	s.Name = t.Name
	s.System, s.Workload, s.Nemesis, s.Bugs = t.System, t.Workload, t.Nemesis, t.Bugs
	s.Seed = t.Seed
	if t.TimeLimit > 0 {
		s.TimeLimit = t.TimeLimit
	}
	if t.NemesisInterval > 0 {
		s.NemesisInterval = t.NemesisInterval
	}
	if t.OpTimeout > 0 {
		s.OpTimeout = t.OpTimeout
	}
	if t.Concurrency > 0 {
		s.Concurrency, s.ConcurrencyText = t.Concurrency, t.ConcurrencyText
	}
	if t.ReadMode != "" {
		s.ReadMode = t.ReadMode
	}
	if t.Consistency != "" {
		s.Consistency = t.Consistency
	}
	s.NemesisOverlap = s.NemesisOverlap || t.NemesisOverlap
	return s
}

// describe names a test before it has a name.
func describe(s harness.Spec) string {
	parts := []string{s.System, s.Workload}
	if len(s.Nemesis) > 0 {
		parts = append(parts, strings.Join(s.Nemesis, ","))
	} else {
		parts = append(parts, "no faults")
	}
	for _, b := range s.Bugs {
		parts = append(parts, "bug "+b)
	}
	return strings.Join(parts, " ")
}

// File is a suite file's schema (YAML). Durations are Go durations
// ("30s", "2m").
type File struct {
	Name            string     `yaml:"name"`
	Systems         []string   `yaml:"systems"`
	Workloads       []string   `yaml:"workloads"`
	Nemeses         []string   `yaml:"nemeses"`
	Seeds           []uint64   `yaml:"seeds"`
	TimeLimits      []string   `yaml:"time_limits"`
	Repeats         int        `yaml:"repeats"`
	Nodes           int        `yaml:"nodes"`
	Concurrency     string     `yaml:"concurrency"`
	NemesisInterval string     `yaml:"nemesis_interval"`
	NemesisOverlap  bool       `yaml:"nemesis_overlap"`
	OpTimeout       string     `yaml:"op_timeout"`
	Tests           []FileTest `yaml:"tests"`
}

// FileTest is one explicit test of a suite file.
type FileTest struct {
	Name            string   `yaml:"name"`
	System          string   `yaml:"system"`
	Workload        string   `yaml:"workload"`
	Nemesis         string   `yaml:"nemesis"`
	Bugs            []string `yaml:"bugs"`
	Seed            uint64   `yaml:"seed"`
	TimeLimit       string   `yaml:"time_limit"`
	NemesisInterval string   `yaml:"nemesis_interval"`
	OpTimeout       string   `yaml:"op_timeout"`
	Concurrency     string   `yaml:"concurrency"`
	ReadMode        string   `yaml:"read_mode"`
	Consistency     string   `yaml:"consistency"`
}

// Load reads a suite file into a matrix over base (the settings the file
// does not give). Unknown fields and bad values are errors naming the
// file and the field.
func Load(path string, base harness.Spec) (Matrix, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Matrix{}, fmt.Errorf("suite file: %w", err)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Matrix{}, fmt.Errorf("suite file %s: %w", path, err)
	}
	m, err := f.matrix(base)
	if err != nil {
		return Matrix{}, fmt.Errorf("suite file %s: %w", path, err)
	}
	return m, nil
}

func (f File) matrix(base harness.Spec) (Matrix, error) {
	m := Matrix{Name: f.Name, Systems: f.Systems, Workloads: f.Workloads, Nemeses: f.Nemeses, Seeds: f.Seeds, Repeats: f.Repeats, Base: base}
	if m.Name == "" {
		return m, errors.New("name: a suite needs a name")
	}
	if f.Repeats < 0 {
		return m, fmt.Errorf("repeats: %d must be 1 or more", f.Repeats)
	}
	for _, t := range f.TimeLimits {
		d, err := positiveDuration("time_limits", t)
		if err != nil {
			return m, err
		}
		m.TimeLimits = append(m.TimeLimits, d)
	}
	if f.Nodes != 0 {
		m.Base.Nodes = f.Nodes
	}
	if f.Concurrency != "" {
		m.Base.ConcurrencyText = f.Concurrency
	}
	var err error
	if m.Base.Concurrency, err = harness.ParseConcurrency(m.Base.ConcurrencyText, m.Base.Nodes); err != nil {
		return m, fmt.Errorf("concurrency: %w", err)
	}
	if f.NemesisInterval != "" {
		if m.Base.NemesisInterval, err = positiveDuration("nemesis_interval", f.NemesisInterval); err != nil {
			return m, err
		}
	}
	if f.OpTimeout != "" {
		if m.Base.OpTimeout, err = positiveDuration("op_timeout", f.OpTimeout); err != nil {
			return m, err
		}
	}
	m.Base.NemesisOverlap = m.Base.NemesisOverlap || f.NemesisOverlap
	for i, t := range f.Tests {
		s := harness.Spec{Name: t.Name, System: t.System, Workload: t.Workload, Nemesis: nemesisList(t.Nemesis),
			Bugs: slices.Clone(t.Bugs), Seed: t.Seed, ReadMode: t.ReadMode, Consistency: t.Consistency}
		field := func(name string) string { return fmt.Sprintf("tests[%d].%s", i, name) }
		if s.System == "" || s.Workload == "" {
			return m, fmt.Errorf("tests[%d]: a test needs a system and a workload", i)
		}
		for _, d := range []struct {
			name, value string
			into        *time.Duration
		}{{"time_limit", t.TimeLimit, &s.TimeLimit}, {"nemesis_interval", t.NemesisInterval, &s.NemesisInterval}, {"op_timeout", t.OpTimeout, &s.OpTimeout}} {
			if d.value == "" {
				continue
			}
			if *d.into, err = positiveDuration(field(d.name), d.value); err != nil {
				return m, err
			}
		}
		if t.Concurrency != "" {
			s.ConcurrencyText = t.Concurrency
			if s.Concurrency, err = harness.ParseConcurrency(t.Concurrency, m.Base.Nodes); err != nil {
				return m, fmt.Errorf("%s: %w", field("concurrency"), err)
			}
		}
		m.Tests = append(m.Tests, s)
	}
	return m, nil
}

func positiveDuration(field, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration with a unit, like 30s or 2m", field, v)
	}
	return d, nil
}
