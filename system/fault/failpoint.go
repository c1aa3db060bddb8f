package fault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrInjected is wrapped by every error a failpoint returns, so that a test
// can tell an injected failure from a real one with errors.Is.
var ErrInjected = errors.New("injected failure")

// ErrUnknownFailpoint is wrapped by the error of Arm or Disarm when no code
// has registered the named point.
var ErrUnknownFailpoint = errors.New("unknown failpoint")

// Failpoints is a node's registry of failpoints: named places in its code
// where the harness can make it sleep, fail or crash. Code registers each
// point once with Register and marks it with Eval; the harness arms points
// with a spec (over the admin API, see AdminServer):
//
//	spec    = "off" | [ percent "%" ] [ count "*" ] action
//	action  = "sleep(" duration ")" | "error(" message ")" | "crash"
//
// percent is a number in (0, 100], the chance that each Eval acts (100 if
// absent); count is a positive integer, the most times the arming acts
// before it goes quiet (no limit if absent); duration is in the syntax of
// time.ParseDuration and positive; message is any text, possibly empty, up
// to the closing parenthesis that ends the spec. No spaces are allowed
// outside the message. Examples: "error(disk full)", "50%error()",
// "3*sleep(100ms)", "10%1*crash". The terms are those of etcd's gofail and
// pingcap's failpoint, without their chains of terms.
//
// A process may hold several registries (a test may run several nodes), so
// none is global. A Failpoints is safe for concurrent use.
type Failpoints struct {
	clock  Clock
	logger *slog.Logger
	// crash ends the process when a crash action fires; tests replace it
	// (SetCrash) to watch crashes without dying.
	crash atomic.Pointer[func()]

	// active maps the name of each armed point to its arming. It is
	// replaced, never modified, under mu, so that Eval can read it without
	// a lock; it is nil while nothing is armed, which makes Eval on the
	// hot path a single atomic load.
	active atomic.Pointer[map[string]*arming]

	mu     sync.Mutex
	points map[string]*point
	// seeds seeds each arming's random source.
	seeds *rand.Rand
}

type point struct {
	description string
	// last is the arming in force, or once disarmed the last one (for its
	// fired count); nil if the point was never armed.
	last  *arming
	armed bool
}

// arming is one Arm of a point: its spec and how often it has acted.
type arming struct {
	term term

	mu    sync.Mutex
	rand  *rand.Rand // decides each Eval when term.percent < 100
	fired uint64
}

// FailpointStatus describes a registered failpoint.
type FailpointStatus struct {
	Name        string
	Description string
	// Spec is the point's arming in canonical form, "off" if not armed.
	Spec string
	// Fired is how many times the current arming, or once disarmed the
	// last one, has acted.
	Fired uint64
}

// NewFailpoints returns an empty registry whose sleeps run on clock and
// which logs armings and crashes to logger (nil discards them). A crash
// action kills the process with SIGKILL.
func NewFailpoints(clock Clock, logger *slog.Logger) *Failpoints {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Failpoints{
		clock:  clock,
		logger: logger,
		points: make(map[string]*point),
		seeds:  rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	f.SetCrash(killProcess)
	return f
}

// SetCrash replaces what the crash action does, which is to kill the
// process with SIGKILL. It is for tests that run nodes inside the test's
// process: crash simulates the crash of the node that owns the registry
// (it may be called on any of the node's goroutines, so it must not wait
// for them; it may start the teardown on a goroutine of its own). Once it
// returns, Eval returns an error wrapping ErrInjected, so that the code at
// the point abandons its work as a crashed process would.
func (f *Failpoints) SetCrash(crash func()) {
	f.crash.Store(&crash)
}

// killProcess ends the process the way a real crash or `docker kill` would:
// SIGKILL, so that no deferred function runs, no buffer is flushed and the
// container's exit status says it was killed, as for the harness's own
// crash fault. (os.Exit alone would also skip deferred functions, but runs
// the runtime's exit hooks and reports a normal exit.) On Linux the kernel
// acts on the signal before the kill system call returns; os.Exit is the
// backstop should it not, so that the caller never goes on.
func killProcess() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill() // if it fails, os.Exit below still ends the process
	}
	os.Exit(137) // 128 + SIGKILL, the status a shell reports for a kill
}

// Register makes a point known, so that the harness can list and arm it.
// description says where the point is and what arming it simulates.
// Registering a name again is a no-op, so that each of several Raft groups
// in a process may register the points it shares with the others.
func (f *Failpoints) Register(name, description string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.points[name]; !ok {
		f.points[name] = &point{description: description}
	}
}

// Eval marks the failpoint name in running code and performs its armed
// action, if any: it sleeps (returning early with an error wrapping
// ctx.Err() if ctx ends first), returns an error wrapping ErrInjected, or
// kills the process. When the point is not armed it returns nil at the
// cost of an atomic load, and a map lookup if other points are armed.
//
// If the crash action returns, as a test's replacement does, Eval returns
// an error wrapping ErrInjected so that the caller abandons its work as a
// crashed process would. An Eval that runs concurrently with Arm or Disarm
// may act on either side of the change.
func (f *Failpoints) Eval(ctx context.Context, name string) error {
	active := f.active.Load()
	if active == nil {
		return nil
	}
	a := (*active)[name]
	if a == nil || !a.fire() {
		return nil
	}
	switch t := a.term; t.action {
	case actionSleep:
		f.logger.Debug("failpoint sleeping", "failpoint", name, "duration", t.sleep)
		return f.sleep(ctx, name, t.sleep)
	case actionError:
		f.logger.Debug("failpoint returning an error", "failpoint", name, "message", t.message)
		if t.message == "" {
			return fmt.Errorf("failpoint %s: %w", name, ErrInjected)
		}
		return fmt.Errorf("failpoint %s: %w: %s", name, ErrInjected, t.message)
	case actionCrash:
		f.logger.Error("failpoint crashing the process", "failpoint", name)
		(*f.crash.Load())()
		return fmt.Errorf("failpoint %s: %w: crash", name, ErrInjected)
	default:
		panic(fmt.Sprintf("fault: failpoint %s armed with action %d", name, t.action))
	}
}

// sleep waits d on the registry's clock or until ctx ends.
func (f *Failpoints) sleep(ctx context.Context, name string, d time.Duration) error {
	t := f.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failpoint %s: sleep(%v) cut short: %w", name, d, ctx.Err())
	}
}

// Arm sets what the registered point name does when reached, replacing any
// earlier arming and restarting its fired count; the spec "off" disarms
// it. The error names the spec and what was expected if the spec is
// malformed, or wraps ErrUnknownFailpoint if no code registered name.
func (f *Failpoints) Arm(name, spec string) error {
	t, err := parseSpec(spec)
	if err != nil {
		return fmt.Errorf("arm failpoint %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.points[name]
	if !ok {
		return fmt.Errorf("arm failpoint %s: %w", name, ErrUnknownFailpoint)
	}
	if t.action == actionOff {
		f.disarmLocked(name, p)
		return nil
	}
	p.last = &arming{term: t, rand: rand.New(rand.NewPCG(f.seeds.Uint64(), f.seeds.Uint64()))}
	p.armed = true
	f.publishLocked()
	f.logger.Info("failpoint armed", "failpoint", name, "spec", t.String())
	return nil
}

// Disarm turns the registered point name off. It wraps ErrUnknownFailpoint
// if no code registered name.
func (f *Failpoints) Disarm(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.points[name]
	if !ok {
		return fmt.Errorf("disarm failpoint %s: %w", name, ErrUnknownFailpoint)
	}
	f.disarmLocked(name, p)
	return nil
}

func (f *Failpoints) disarmLocked(name string, p *point) {
	if !p.armed {
		return
	}
	p.armed = false
	f.publishLocked()
	f.logger.Info("failpoint disarmed", "failpoint", name, "fired", p.last.firedCount())
}

// publishLocked replaces the map Eval reads with one of the points armed
// now.
func (f *Failpoints) publishLocked() {
	active := make(map[string]*arming)
	for name, p := range f.points {
		if p.armed {
			active[name] = p.last
		}
	}
	if len(active) == 0 {
		f.active.Store(nil)
		return
	}
	f.active.Store(&active)
}

// List returns every registered point, armed or not, in name order.
func (f *Failpoints) List() []FailpointStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := make([]FailpointStatus, 0, len(f.points))
	for name, p := range f.points {
		s := FailpointStatus{Name: name, Description: p.description, Spec: "off"}
		if p.last != nil {
			s.Fired = p.last.firedCount()
			if p.armed {
				s.Spec = p.last.term.String()
			}
		}
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b FailpointStatus) int { return strings.Compare(a.Name, b.Name) })
	return list
}

// fire decides whether this evaluation acts, and counts it if so.
func (a *arming) fire() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.term.count > 0 && a.fired >= a.term.count {
		return false
	}
	if a.term.percent < 100 && a.rand.Float64()*100 >= a.term.percent {
		return false
	}
	a.fired++
	return true
}

func (a *arming) firedCount() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fired
}

type action int

const (
	actionOff action = iota
	actionSleep
	actionError
	actionCrash
)

// term is a parsed spec.
type term struct {
	percent float64 // chance that an Eval acts, in (0, 100]
	count   uint64  // most times it acts; 0 for no limit
	action  action
	sleep   time.Duration // for actionSleep
	message string        // for actionError
}

// specSyntax is what parse errors say a spec should look like.
const specSyntax = "want off, sleep(duration), error(message) or crash, optionally after a probability such as 50% and then a count such as 3*"

// parseSpec parses a spec in the grammar of the Failpoints documentation.
func parseSpec(spec string) (term, error) {
	bad := func(format string, args ...any) (term, error) {
		return term{}, fmt.Errorf("failpoint spec %q: %s", spec, fmt.Sprintf(format, args...))
	}
	s := spec
	if s == "off" {
		return term{action: actionOff}, nil
	}
	t := term{percent: 100}
	if n, rest, ok := cutNumber(s, "0123456789.", '%'); ok {
		p, err := strconv.ParseFloat(n, 64)
		if err != nil || !(p > 0 && p <= 100) {
			return bad("probability %s%%: want a number greater than 0 and at most 100", n)
		}
		t.percent, s = p, rest
	}
	if n, rest, ok := cutNumber(s, "0123456789", '*'); ok {
		c, err := strconv.ParseUint(n, 10, 64)
		if err != nil || c == 0 {
			return bad("count %s*: want a positive integer", n)
		}
		t.count, s = c, rest
	}
	name, arg, hasArg := strings.Cut(s, "(")
	if hasArg {
		var closed bool
		if arg, closed = strings.CutSuffix(arg, ")"); !closed {
			return bad("%s(: want a closing parenthesis at the end", name)
		}
	}
	switch name {
	case "sleep":
		d, err := time.ParseDuration(arg)
		if !hasArg || err != nil || d <= 0 {
			return bad("sleep: want a positive duration in parentheses, such as sleep(100ms)")
		}
		t.action, t.sleep = actionSleep, d
	case "error":
		if !hasArg {
			return bad("error: want a message in parentheses, such as error(disk full) or error()")
		}
		t.action, t.message = actionError, arg
	case "crash":
		if hasArg {
			return bad("crash: want no argument")
		}
		t.action = actionCrash
	case "off":
		return bad("off: want no probability, count or argument")
	case "":
		return bad("no action; %s", specSyntax)
	default:
		return bad("unknown action %q; %s", name, specSyntax)
	}
	return t, nil
}

// cutNumber splits s after a leading run of the characters in digits that
// is ended by sep, reporting whether there is one.
func cutNumber(s, digits string, sep byte) (number, rest string, ok bool) {
	i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(digits, r) })
	if i <= 0 || s[i] != sep {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// String returns the spec of t in canonical form, which parses back to t.
func (t term) String() string {
	var b strings.Builder
	if t.percent < 100 {
		b.WriteString(strconv.FormatFloat(t.percent, 'f', -1, 64))
		b.WriteByte('%')
	}
	if t.count > 0 {
		b.WriteString(strconv.FormatUint(t.count, 10))
		b.WriteByte('*')
	}
	switch t.action {
	case actionOff:
		return "off"
	case actionSleep:
		fmt.Fprintf(&b, "sleep(%v)", t.sleep)
	case actionError:
		fmt.Fprintf(&b, "error(%s)", t.message)
	case actionCrash:
		b.WriteString("crash")
	}
	return b.String()
}
