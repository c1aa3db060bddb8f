package crashtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/grpctransport"
	"github.com/squall-chaos/squall/system/raft/wal"
)

// This file is the node process: what the test binary runs when TestMain
// finds nodeEnv set.
//
// It reports to the controller on stdout, one line each:
//
//	ack <value>     the value is committed and applied here
//	leader <term>   this node became leader in term
//	applied <value> a marker value was applied here
//	snapshot        the state machine was asked for a snapshot
//	restored        the state machine was restored from its own snapshot at start
//	installed       the state machine took a snapshot sent by the leader
//	quiesced        the node's proposers have stopped (after "quiesce")
//	marker-failed <value> <error>
//
// and takes commands on stdin:
//
//	quiesce         stop proposing and wait for proposals in flight
//	marker <value>  propose value once and report its outcome
//
// On SIGTERM, or when stdin closes because the controller is gone, it
// stops Raft cleanly, writes the values it applied to appliedFile, one a
// line, and exits 0.

const (
	groupID      = 1
	tickInterval = 20 * time.Millisecond
	// snapshotEntries and snapshotRetain are small so that a run takes
	// many snapshots, compacts the log behind them, and a node that was
	// down for a moment catches up by installing a snapshot.
	snapshotEntries = 200
	snapshotRetain  = 50
	proposerCount   = 8
	proposeTimeout  = 5 * time.Second

	markerPrefix = "marker-"
	storageDir   = "raft"
	appliedFile  = "applied.txt"
	stderrFile   = "stderr.log"
)

func runNode(cfg nodeConfig) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("start", cfg.Incarnation)
	if err := serveNode(cfg, logger); err != nil {
		logger.Error("crashtest node failed", "err", err)
		return 1
	}
	return 0
}

func serveNode(cfg nodeConfig, logger *slog.Logger) error {
	storage, err := wal.Open(filepath.Join(cfg.Dir, storageDir), slices.Sorted(maps.Keys(cfg.Peers)))
	if err != nil {
		return err
	}
	defer storage.Close()
	tr, err := grpctransport.New(grpctransport.Config{Self: cfg.ID, Peers: cfg.Peers, Logger: logger})
	if err != nil {
		return err
	}
	defer tr.Close()
	lis, err := net.Listen("tcp", cfg.Peers[cfg.ID])
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Peers[cfg.ID], err)
	}
	srv := grpc.NewServer(grpctransport.ServerOptions()...)
	tr.Register(srv)
	defer srv.Stop()

	var node atomic.Pointer[raft.Node]
	send := tr.AddGroup(groupID, func(m raft.Message) {
		// A message that arrives before StartNode returns is dropped;
		// Raft retransmits.
		if n := node.Load(); n != nil {
			n.Receive(m)
		}
	})
	out := &reporter{w: bufio.NewWriter(os.Stdout)}
	sm := &recorder{out: out}
	n, err := raft.StartNode(raft.NodeConfig{
		Config:          raft.Config{ID: cfg.ID},
		Storage:         storage,
		Transport:       send,
		StateMachine:    sm,
		TickInterval:    tickInterval,
		SnapshotEntries: snapshotEntries,
		SnapshotRetain:  snapshotRetain,
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	defer n.Stop()
	node.Store(n)
	sm.started.Store(true)
	go srv.Serve(lis)
	go reportLeadership(n, out)

	props := &proposers{node: n, out: out, name: fmt.Sprintf("n%d.%d", cfg.ID, cfg.Incarnation), stop: make(chan struct{})}
	props.start(proposerCount)
	defer props.halt()

	sigterm := make(chan os.Signal, 1)
	signal.Notify(sigterm, syscall.SIGTERM)
	commands := readLines(os.Stdin)
	var markers sync.WaitGroup
	for running := true; running; {
		select {
		case <-sigterm:
			running = false
		case cmd, ok := <-commands:
			if !ok {
				logger.Warn("stdin closed: the controller is gone; stopping")
				running = false
				break
			}
			verb, arg, _ := strings.Cut(cmd, " ")
			switch verb {
			case "quiesce":
				props.halt()
				out.line("quiesced")
			case "marker":
				markers.Go(func() { proposeMarker(n, out, arg) })
			default:
				logger.Error("unknown command from the controller", "command", cmd)
			}
		case <-n.Done():
			return fmt.Errorf("raft node stopped by itself: %w", n.Err())
		}
	}
	props.halt()
	n.Stop()
	markers.Wait()
	return writeApplied(filepath.Join(cfg.Dir, appliedFile), sm.values())
}

// proposers propose the node's own values, from several goroutines so
// that proposals share fsyncs, for as long as the node leads.
type proposers struct {
	node *raft.Node
	out  *reporter
	name string // prefix of this incarnation's values
	seq  atomic.Uint64

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func (p *proposers) start(count int) {
	for range count {
		p.wg.Go(p.run)
	}
}

// halt stops the proposers and waits until none has a proposal in flight.
func (p *proposers) halt() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.wg.Wait()
}

func (p *proposers) run() {
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		if p.node.Status().Role != raft.Leader {
			p.pause()
			continue
		}
		// A value is never proposed twice, even after an indeterminate
		// outcome, so a value applied twice is a bug, not a retry.
		v := fmt.Sprintf("%s-%06d", p.name, p.seq.Add(1))
		ctx, cancel := context.WithTimeout(context.Background(), proposeTimeout)
		err := p.node.Propose(ctx, []byte(v))
		cancel()
		switch {
		case err == nil:
			p.out.line("ack %s", v)
		case errors.Is(err, raft.ErrStopped):
			return
		default:
			// Not the leader after all, lost to a leader change, or an
			// unknown outcome: no ack either way.
			p.pause()
		}
	}
}

func (p *proposers) pause() {
	select {
	case <-p.stop:
	case <-time.After(tickInterval):
	}
}

func proposeMarker(n *raft.Node, out *reporter, v string) {
	ctx, cancel := context.WithTimeout(context.Background(), proposeTimeout)
	defer cancel()
	if err := n.Propose(ctx, []byte(v)); err != nil {
		out.line("marker-failed %s %v", v, err)
		return
	}
	out.line("ack %s", v)
}

// reportLeadership tells the controller each time this node becomes
// leader, so that it can choose leaders as victims.
func reportLeadership(n *raft.Node, out *reporter) {
	ticker := time.NewTicker(tickInterval)
	defer ticker.Stop()
	var term uint64
	for {
		select {
		case <-ticker.C:
		case <-n.Done():
			return
		}
		if st := n.Status(); st.Role == raft.Leader && st.Term != term {
			term = st.Term
			out.line("leader %d", term)
		}
	}
}

// reporter writes report lines to the controller.
type reporter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// line writes one report and flushes it at once: the process may be
// killed the next moment, and an ack still in a buffer is not an ack. A
// write error is ignored: it means the controller is gone (and a broken
// stdout pipe kills the process anyway).
func (r *reporter) line(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, format+"\n", args...)
	r.w.Flush()
}

func readLines(r io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(r)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	return lines
}

// recorder is the replicated state machine: the list of applied values.
// Its snapshots carry the whole list, so a node that recovers from a
// snapshot, or installs one from the leader, still knows every value.
type recorder struct {
	out *reporter
	// started is set once StartNode has returned: a Restore after that
	// installs a snapshot from the leader.
	started atomic.Bool

	mu      sync.Mutex
	applied []string
}

func (r *recorder) Apply(ents []raft.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range ents {
		if e.Data == nil {
			continue
		}
		v := string(e.Data)
		r.applied = append(r.applied, v)
		if strings.HasPrefix(v, markerPrefix) {
			r.out.line("applied %s", v)
		}
	}
}

func (r *recorder) Snapshot() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b []byte
	for _, v := range r.applied {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	r.out.line("snapshot")
	return b, nil
}

func (r *recorder) Restore(s raft.Snapshot) error {
	var applied []string
	for b := s.Data; len(b) > 0; {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return fmt.Errorf("snapshot at index %d: bad value at byte %d", s.Meta.Index, len(s.Data)-len(b))
		}
		applied = append(applied, string(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	r.mu.Lock()
	r.applied = applied
	r.mu.Unlock()
	if r.started.Load() {
		r.out.line("installed")
	} else {
		r.out.line("restored")
	}
	return nil
}

func (r *recorder) values() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.applied)
}

// writeApplied writes values to path, one a line, and fsyncs it.
func writeApplied(path string, values []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, v := range values {
		w.WriteString(v)
		w.WriteByte('\n')
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("write applied values to %s: %w", path, err)
	}
	return nil
}
