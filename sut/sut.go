// Package sut is what squall knows of a system under test, and the
// registry of the systems it can test. Each system has one folder under
// sut/ (sut/kv, sut/percolator, sut/etcd) holding everything the harness
// needs of it: its node image, each node's command line, readiness, how
// to find its leader, its planted bugs, its default consistency model and
// a client per workload it supports — Jepsen's db and client protocols in
// one interface. sut/all registers each, one line apiece, so that the
// harness, the workloads, the nemesis and the checkers never import a
// system's code.
package sut

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/workloads"
)

// System is a system squall can test.
type System interface {
	Name() string
	// Image returns the tag of the node image, building it if the Docker
	// engine does not have it yet. Nothing may be pulled.
	Image(ctx context.Context, logger *slog.Logger) (string, error)
	// Port is the port each node serves its clients on.
	Port() int
	// NodeArgs is node's command line after the image's entrypoint;
	// members are every node with its address, the data volume is at
	// runtime.DataDir.
	NodeArgs(node string, members []nemesis.Node, opts NodeOptions) []string
	// Ready asks the node at addr (IP:Port), once, whether it serves.
	Ready(ctx context.Context, addr string) error
	// Leader asks the nodes which one leads; "" if none knows.
	Leader(ctx context.Context, nodes []workloads.Node) (string, error)
	// Serving reports whether the cluster as a whole serves (a leader is
	// known, or every group has one).
	Serving(ctx context.Context, nodes []workloads.Node) error
	// Bugs are the bugs a run can plant (--bug): what each breaks and
	// the run that reveals it.
	Bugs() []Bug
	// DefaultConsistency is the consistency model transactional checkers
	// hold the system to unless --consistency says otherwise.
	DefaultConsistency() string
	// Workloads lists the workloads the system has clients for.
	Workloads() []string
	// NewClient returns a client of workload w for one logical process,
	// bound to t.Home where a client is bound to a node. bugs are the
	// run's planted bugs: some are the client's (a misconfiguration).
	NewClient(w workloads.Workload, t workloads.Target, bugs []string) (workloads.Client, error)
}

// NodeOptions are what a run asks of every node.
type NodeOptions struct {
	// Cluster is the run's name, which nodes may use to tell their data
	// from another cluster's.
	Cluster string
	// Bugs are the run's planted bugs.
	Bugs []string
	// ReadMode is how the nodes serve reads, where the system has modes
	// (--read-mode); "" for its default.
	ReadMode string
	// LoseUnsynced asks nodes to lose what they did not fsync when they
	// are killed, for the power family (see NodeAdmin).
	LoseUnsynced bool
}

// NodeAdmin is implemented by systems whose nodes serve squall's admin
// API (system/fault): an injectable clock, failpoints, and a storage
// layer that can lose unsynced writes. The clock, failpoint and power
// fault families need it; for other systems they are refused before a
// run starts.
type NodeAdmin interface {
	// SetClock changes the clock of the node at addr.
	SetClock(ctx context.Context, addr string, change nemesis.ClockChange) error
	// Failpoints lists the failpoints the node at addr registered.
	Failpoints(ctx context.Context, addr string) ([]string, error)
	// ArmFailpoint arms failpoint name of the node at addr with spec, or
	// disarms it if spec is "off".
	ArmFailpoint(ctx context.Context, addr, name, spec string) error
}

// ReadModes is implemented by systems whose nodes serve reads in modes
// --read-mode chooses among.
type ReadModes interface {
	ReadModes() []string
}

var (
	mu      sync.RWMutex
	systems = map[string]System{}
)

// Register makes s known by its name. It panics if the name is taken:
// registration happens once, at start-up.
func Register(s System) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := systems[s.Name()]; dup {
		panic(fmt.Sprintf("sut: system %q registered twice", s.Name()))
	}
	systems[s.Name()] = s
}

// Lookup returns the system of that name.
func Lookup(name string) (System, error) {
	mu.RLock()
	defer mu.RUnlock()
	s, ok := systems[name]
	if !ok {
		return nil, fmt.Errorf("%q is not a known system (want %s)", name, strings.Join(namesLocked(), ", "))
	}
	return s, nil
}

// Names lists the registered systems, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked()
}

func namesLocked() []string { return slices.Sorted(maps.Keys(systems)) }

// BugNames lists the planted bugs of the named system, sorted; none if
// there is no such system.
func BugNames(name string) []string {
	s, err := Lookup(name)
	if err != nil {
		return nil
	}
	var names []string
	for _, b := range s.Bugs() {
		names = append(names, b.Name)
	}
	slices.Sort(names)
	return names
}

// Bug is a bug a system can be started with, planted to show that squall
// catches what it breaks.
type Bug struct {
	Name string
	// Breaks says what the bug does wrong.
	Breaks string
	// RevealedBy is a run that catches it.
	RevealedBy Reveal
}

// Reveal is a run that reveals a bug: what `squall test` needs beyond
// --system and --bug. Zero fields take squall test's defaults.
type Reveal struct {
	Workload string
	// Nemesis are the faults (--nemesis); none when contention alone
	// reveals the bug.
	Nemesis []string
	// Interval is --nemesis-interval, OpTimeout --op-timeout, and
	// Concurrency --concurrency.
	Interval, OpTimeout time.Duration
	Concurrency         int
}

// Flags are the reveal as `squall test` flags.
func (r Reveal) Flags() []string {
	flags := []string{"--workload", r.Workload, "--nemesis", "none"}
	if len(r.Nemesis) > 0 {
		flags[3] = strings.Join(r.Nemesis, ",")
	}
	if r.Interval > 0 {
		flags = append(flags, "--nemesis-interval", r.Interval.String())
	}
	if r.OpTimeout > 0 {
		flags = append(flags, "--op-timeout", r.OpTimeout.String())
	}
	if r.Concurrency > 0 {
		flags = append(flags, "--concurrency", strconv.Itoa(r.Concurrency))
	}
	return flags
}
