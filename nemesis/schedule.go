package nemesis

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/squall-chaos/squall/history"
)

// defaultHealTimeout bounds the final heal when Schedule.HealTimeout is
// zero. Restarting killed nodes waits for them to serve, so it is long.
const defaultHealTimeout = 2 * time.Minute

// Schedule alternates calm and faults: it waits Interval, starts a fault of
// a family picked at random, waits Interval, stops it, and so on until its
// context ends; then it heals everything. Every start and stop is recorded
// in the history as an invoke and an info event of the nemesis process,
// f "start-NAME" or "stop-NAME", the info's value describing what was done.
//
// The faults see the cluster through a wrapper: whenever a node starts
// again (after a kill, say), every fault in force that implements Restarted
// re-applies itself to the node, and the history records it as an info
// event "reapply-NAME".
type Schedule struct {
	Faults   []Fault
	Cluster  Cluster
	Recorder Recorder
	Interval time.Duration
	// Rand picks the faults and is handed to them: one seeded source makes
	// a run's schedule replayable.
	Rand   *rand.Rand
	Logger *slog.Logger // nil discards
	// OnChange, if set, is called with the names of the faults in force
	// (comma-separated, "" when calm) whenever they change.
	OnChange func(inForce string)
	// HealTimeout bounds the heal after Run's context ends (default two
	// minutes).
	HealTimeout time.Duration

	mu      sync.Mutex
	inForce []Fault
}

// Run applies faults until ctx ends, then heals every fault family with a
// fresh context bounded by HealTimeout and returns the heal's error. A
// fault that fails to start is recorded with its error, stopped at once
// (to undo whatever part of it took effect), and the schedule goes on.
func (s *Schedule) Run(ctx context.Context) error {
	if len(s.Faults) == 0 || s.Rand == nil || s.Cluster == nil || s.Recorder == nil || s.Interval <= 0 {
		return errors.New("nemesis schedule: needs faults, a cluster, a recorder, a random source and a positive interval")
	}
	for s.wait(ctx) {
		f := s.Faults[s.Rand.IntN(len(s.Faults))]
		if s.start(ctx, f) {
			s.wait(ctx)
		}
		if ctx.Err() != nil {
			break // the final heal stops f with a context still live
		}
		s.stop(ctx, f)
	}
	timeout := s.HealTimeout
	if timeout <= 0 {
		timeout = defaultHealTimeout
	}
	hctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.HealAll(hctx)
}

// HealAll stops every fault family, whether or not it is in force (Stop is
// a no-op for a healed family, and cleans up after one that failed to
// start): partitions are healed, killed nodes restarted. Families that are
// lost on restart go first, so that restarted nodes do not get rules only
// to lose them a moment later. It returns the stops' errors.
func (s *Schedule) HealAll(ctx context.Context) error {
	faults := slices.Clone(s.Faults)
	slices.SortStableFunc(faults, func(a, b Fault) int {
		_, ar := a.(Restarted)
		_, br := b.(Restarted)
		switch {
		case ar && !br:
			return -1
		case br && !ar:
			return 1
		}
		return 0
	})
	var errs []error
	for _, f := range faults {
		errs = append(errs, s.stop(ctx, f))
	}
	return errors.Join(errs...)
}

// wait waits Interval and reports whether ctx is still live.
func (s *Schedule) wait(ctx context.Context) bool {
	t := time.NewTimer(s.Interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// start starts f, records it, and reports whether it started.
func (s *Schedule) start(ctx context.Context, f Fault) bool {
	op := "start-" + f.Name()
	s.record(history.Invoke, op, nil, nil)
	desc, err := f.Start(ctx, s.cluster(), s.Rand)
	s.record(history.Info, op, desc, err)
	if err != nil {
		s.logger().Warn("nemesis: fault failed to start", "fault", f.Name(), "value", desc, "err", err)
		return false
	}
	s.logger().Info("nemesis: fault started", "fault", f.Name(), "value", desc)
	s.setInForce(f, true)
	return true
}

// stop stops f and records it. f stays in force if its Stop fails.
func (s *Schedule) stop(ctx context.Context, f Fault) error {
	op := "stop-" + f.Name()
	s.record(history.Invoke, op, nil, nil)
	desc, err := f.Stop(ctx, s.cluster())
	s.record(history.Info, op, desc, err)
	if err != nil {
		s.logger().Warn("nemesis: fault failed to stop", "fault", f.Name(), "value", desc, "err", err)
		return err
	}
	s.logger().Info("nemesis: fault stopped", "fault", f.Name(), "value", desc)
	s.setInForce(f, false)
	return nil
}

func (s *Schedule) setInForce(f Fault, on bool) {
	s.mu.Lock()
	i := slices.Index(s.inForce, f)
	switch {
	case on && i < 0:
		s.inForce = append(s.inForce, f)
	case !on && i >= 0:
		s.inForce = slices.Delete(s.inForce, i, i+1)
	default:
		s.mu.Unlock()
		return
	}
	names := make([]string, len(s.inForce))
	for i, f := range s.inForce {
		names[i] = f.Name()
	}
	s.mu.Unlock()
	if s.OnChange != nil {
		s.OnChange(strings.Join(names, ","))
	}
}

// nodeRestarted re-applies every fault in force that a restart undoes.
func (s *Schedule) nodeRestarted(ctx context.Context, node string) {
	s.mu.Lock()
	inForce := slices.Clone(s.inForce)
	s.mu.Unlock()
	for _, f := range inForce {
		r, ok := f.(Restarted)
		if !ok {
			continue
		}
		err := r.NodeRestarted(ctx, s.cluster(), node)
		s.record(history.Info, "reapply-"+f.Name(), map[string]string{"node": node}, err)
		if err != nil {
			s.logger().Warn("nemesis: fault not re-applied after restart", "fault", f.Name(), "node", node, "err", err)
		}
	}
}

func (s *Schedule) record(typ history.Type, f string, value any, err error) {
	op := history.Op{Type: typ, Process: history.Nemesis, F: f, Value: value}
	if err != nil {
		op.Error = err.Error()
	}
	s.Recorder.Record(op)
}

func (s *Schedule) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Schedule) cluster() Cluster { return restartAware{Cluster: s.Cluster, s: s} }

// restartAware is the cluster as the schedule's faults see it: starting a
// node re-applies the faults in force to it.
type restartAware struct {
	Cluster
	s *Schedule
}

func (c restartAware) Start(ctx context.Context, node string) error {
	if err := c.Cluster.Start(ctx, node); err != nil {
		return err
	}
	c.s.nodeRestarted(ctx, node)
	return nil
}
