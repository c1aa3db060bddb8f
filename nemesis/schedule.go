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
	"github.com/squall-chaos/squall/nemesis/netfault"
)

// defaultHealTimeout bounds the final heal when Schedule.HealTimeout is
// zero. Restarting killed nodes waits for them to serve, so it is long.
const defaultHealTimeout = 2 * time.Minute

// Schedule starts and stops faults at offsets planned from Seed, until its
// context ends; then it heals everything. By default one fault is in force
// at a time: it waits Interval, starts a fault of a family picked at
// random, waits Interval, stops it, and so on. With Overlap, each family
// keeps a timeline of its own (calm and fault spells of half to one and a
// half Intervals), so faults of several families are in force at once;
// each family's timeline runs on its own, so a slow start or stop of one
// family delays only that family's later steps.
// Either way the same seed, families and interval give the same faults at
// the same offsets; a fault's random choices (its mode, its nodes) come
// from a source seeded by the plan too, so only what it learns from the
// cluster (which node leads) can differ between runs.
//
// Every start and stop is recorded in the history as an invoke and a
// completion of the nemesis process, f "start-NAME" or "stop-NAME", the
// completion's value describing what was done: info if it took effect (or
// may have: its error says what failed), fail if the family chose to do
// nothing (ErrSkipped).
//
// The faults see the cluster through a wrapper: whenever a node starts
// again (after a kill, say), every fault in force that implements Restarted
// re-applies itself to the node, and the history records it as an info
// event "reapply-NAME"; whenever a node is thawed, every fault that
// implements Resumed finishes what it could not do on the frozen node (a
// clock reset), recorded as "resume-NAME".
type Schedule struct {
	Faults   []Fault
	Cluster  Cluster
	Recorder Recorder
	Interval time.Duration
	Overlap  bool
	Seed     uint64
	Logger   *slog.Logger // nil discards
	// OnChange, if set, is called with the names of the faults in force
	// (comma-separated, "" when calm) whenever they change.
	OnChange func(inForce string)
	// OnFailure, if set, is called as soon as a fault fails to start,
	// stop or re-apply, with the event's f and the error.
	OnFailure func(f string, err error)
	// HealTimeout bounds each start and stop, and the heal after Run's
	// context ends (default two minutes).
	HealTimeout time.Duration

	mu        sync.Mutex
	inForce   []Fault
	nodeLocks map[string]*sync.Mutex
	// changing orders setInForce's updates and their OnChange calls, which
	// lanes make at once.
	changing sync.Mutex
}

// Step is one planned action of a schedule.
type Step struct {
	At     time.Duration // offset from the schedule's start
	Family int           // index in Schedule.Faults
	Stop   bool
	// Seed seeds the source a start hands its fault.
	Seed uint64
}

// Run applies faults as planned until ctx ends, then heals every fault
// family with a fresh context bounded by HealTimeout and returns the
// heal's error. A fault that fails to start is recorded with its error,
// stopped at once (to undo whatever part of it took effect), and the
// schedule goes on.
func (s *Schedule) Run(ctx context.Context) error {
	if len(s.Faults) == 0 || s.Cluster == nil || s.Recorder == nil || s.Interval <= 0 {
		return errors.New("nemesis schedule: needs faults, a cluster, a recorder and a positive interval")
	}
	began := time.Now()
	// Each lane acts on its own: a slow step (a power cut's restart, say)
	// delays only its own family's next steps, not every family's.
	var lanes sync.WaitGroup
	for _, l := range s.planner().lanes {
		lanes.Go(func() { s.runLane(ctx, began, l) })
	}
	lanes.Wait()
	hctx, cancel := context.WithTimeout(context.Background(), s.healTimeout())
	defer cancel()
	return s.HealAll(hctx)
}

// runLane takes one lane's steps in order until ctx ends.
func (s *Schedule) runLane(ctx context.Context, began time.Time, l *lane) {
	for {
		step := l.next()
		if !sleepUntil(ctx, began.Add(step.At)) {
			return
		}
		// A step under way when ctx ends finishes (its own deadline bounds
		// it): a fault cut off halfway would be recorded as failed, and the
		// heal after the lanes stops it anyway.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.healTimeout())
		f := s.Faults[step.Family]
		switch {
		case step.Stop && s.isInForce(f):
			s.stop(sctx, f)
		case !step.Stop && !s.isInForce(f):
			if !s.start(sctx, f, rand.New(rand.NewPCG(step.Seed, s.Seed))) {
				s.stop(sctx, f)
			}
		}
		cancel()
	}
}

func (s *Schedule) healTimeout() time.Duration {
	if s.HealTimeout <= 0 {
		return defaultHealTimeout
	}
	return s.HealTimeout
}

// Plan is the schedule's first steps up to length, for reports and tests.
func (s *Schedule) Plan(length time.Duration) []Step {
	var steps []Step
	for p := s.planner(); ; {
		step := p.next()
		if step.At >= length {
			return steps
		}
		steps = append(steps, step)
	}
}

// planner yields a schedule's steps in order of time.
type planner struct {
	lanes []*lane
}

// lane is one timeline of alternating calm and fault spells.
type lane struct {
	rng      *rand.Rand
	at       time.Duration // when the next step is due
	faulty   bool          // the next step stops a fault
	family   int           // the family in force, or the lane's own
	pick     bool          // the lane picks a family at each start
	families int
	spell    func(*rand.Rand) time.Duration
}

func (s *Schedule) planner() *planner {
	root := rand.New(rand.NewPCG(s.Seed, 0x5c4ed01e))
	if !s.Overlap {
		l := &lane{rng: rand.New(rand.NewPCG(root.Uint64(), root.Uint64())), pick: true, families: len(s.Faults),
			spell: func(*rand.Rand) time.Duration { return s.Interval }}
		l.at = s.Interval
		return &planner{lanes: []*lane{l}}
	}
	p := &planner{}
	for i := range s.Faults {
		l := &lane{rng: rand.New(rand.NewPCG(root.Uint64(), root.Uint64())), family: i,
			spell: func(r *rand.Rand) time.Duration { return s.Interval/2 + time.Duration(r.Int64N(int64(s.Interval)+1)) }}
		l.at = l.spell(l.rng)
		p.lanes = append(p.lanes, l)
	}
	return p
}

// next returns the earliest step due, the first lane's on a tie.
func (p *planner) next() Step {
	l := p.lanes[0]
	for _, o := range p.lanes[1:] {
		if o.at < l.at {
			l = o
		}
	}
	return l.next()
}

// next returns the lane's next step and moves past it.
func (l *lane) next() Step {
	step := Step{At: l.at, Stop: l.faulty}
	if !l.faulty {
		if l.pick {
			l.family = l.rng.IntN(l.families)
		}
		step.Seed = l.rng.Uint64()
	}
	step.Family = l.family
	l.faulty = !l.faulty
	l.at += l.spell(l.rng)
	return step
}

// sleepUntil waits until t and reports whether ctx is still live. A step
// already due when ctx ends is not taken.
func sleepUntil(ctx context.Context, t time.Time) bool {
	if ctx.Err() != nil {
		return false
	}
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return ctx.Err() == nil
	}
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

// start starts f, records it, and reports whether it started (a skipped
// start did not).
func (s *Schedule) start(ctx context.Context, f Fault, rng *rand.Rand) bool {
	op := "start-" + f.Name()
	s.record(history.Invoke, op, nil, nil)
	desc, err := f.Start(ctx, s.cluster(), rng)
	switch {
	case errors.Is(err, ErrSkipped):
		s.record(history.Fail, op, desc, err)
		s.logger().Info("nemesis: fault skipped", "fault", f.Name(), "value", desc, "why", err)
		return false
	case err != nil:
		s.record(history.Info, op, desc, err)
		s.failed(op, desc, err)
		return false
	}
	s.record(history.Info, op, desc, nil)
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
		s.failed(op, desc, err)
		return err
	}
	s.logger().Info("nemesis: fault stopped", "fault", f.Name(), "value", desc)
	s.setInForce(f, false)
	return nil
}

func (s *Schedule) failed(op string, desc any, err error) {
	s.logger().Warn("nemesis: fault failed", "op", op, "value", desc, "err", err)
	if s.OnFailure != nil {
		s.OnFailure(op, err)
	}
}

func (s *Schedule) isInForce(f Fault) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.inForce, f)
}

func (s *Schedule) setInForce(f Fault, on bool) {
	s.changing.Lock()
	defer s.changing.Unlock()
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
		op := "reapply-" + f.Name()
		desc := map[string]string{"node": node}
		err := r.NodeRestarted(ctx, s.cluster(), node)
		s.record(history.Info, op, desc, err)
		if err != nil {
			s.failed(op, desc, err)
		}
	}
}

// nodeResumed lets every fault (in force or not) finish on a thawed node
// what it could not do while the node was frozen.
func (s *Schedule) nodeResumed(ctx context.Context, node string) {
	for _, f := range s.Faults {
		r, ok := f.(Resumed)
		if !ok {
			continue
		}
		done, err := r.NodeResumed(ctx, s.cluster(), node)
		if !done {
			continue
		}
		op := "resume-" + f.Name()
		desc := map[string]string{"node": node}
		s.record(history.Info, op, desc, err)
		if err != nil {
			s.failed(op, desc, err)
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

// nodeLock is node's lock, which every call that acts on the node holds
// while it acts: with overlapping families, one family's clock reset must
// not reach a node in the middle of another's restart of it (it would find
// the container running and nothing listening yet). The lock is a leaf:
// nothing that holds it calls back into a fault.
func (s *Schedule) nodeLock(node string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodeLocks == nil {
		s.nodeLocks = map[string]*sync.Mutex{}
	}
	l, ok := s.nodeLocks[node]
	if !ok {
		l = &sync.Mutex{}
		s.nodeLocks[node] = l
	}
	return l
}

// locked runs act holding node's lock.
func locked[T any](s *Schedule, node string, act func() (T, error)) (T, error) {
	l := s.nodeLock(node)
	l.Lock()
	defer l.Unlock()
	return act()
}

// restartAware is the cluster as the schedule's faults see it: every act
// on a node holds the node's lock, and starting (thawing) a node re-applies
// the faults in force to it (lets them finish on it).
type restartAware struct {
	Cluster
	s *Schedule
}

func (c restartAware) do(node string, act func() error) error {
	_, err := locked(c.s, node, func() (struct{}, error) { return struct{}{}, act() })
	return err
}

// Unpause thaws node and lets every fault finish what it left undone on
// it while it was frozen.
func (c restartAware) Unpause(ctx context.Context, node string) error {
	if err := c.do(node, func() error { return c.Cluster.Unpause(ctx, node) }); err != nil {
		return err
	}
	c.s.nodeResumed(ctx, node)
	return nil
}

func (c restartAware) Start(ctx context.Context, node string) error {
	if err := c.do(node, func() error { return c.Cluster.Start(ctx, node) }); err != nil {
		return err
	}
	c.s.nodeRestarted(ctx, node)
	return nil
}

func (c restartAware) Kill(ctx context.Context, node string) error {
	return c.do(node, func() error { return c.Cluster.Kill(ctx, node) })
}

func (c restartAware) Pause(ctx context.Context, node string) error {
	return c.do(node, func() error { return c.Cluster.Pause(ctx, node) })
}

func (c restartAware) Net(ctx context.Context, node string, change netfault.Change) error {
	return c.do(node, func() error { return c.Cluster.Net(ctx, node, change) })
}

func (c restartAware) SetClock(ctx context.Context, node string, change ClockChange) error {
	return c.do(node, func() error { return c.Cluster.SetClock(ctx, node, change) })
}

func (c restartAware) Failpoints(ctx context.Context, node string) ([]string, error) {
	return locked(c.s, node, func() ([]string, error) { return c.Cluster.Failpoints(ctx, node) })
}

func (c restartAware) ArmFailpoint(ctx context.Context, node, name, spec string) error {
	return c.do(node, func() error { return c.Cluster.ArmFailpoint(ctx, node, name, spec) })
}
