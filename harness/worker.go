package harness

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads"
)

// counters are the live tallies the progress line shows. A refusal (a
// cas that found another value, say) is a failure the operation asked
// for, counted apart from failures with errors so that the normal case
// does not look alarming.
type counters struct {
	ok, refused, fail, info atomic.Int64
}

func (c *counters) add(done history.Op) {
	switch {
	case done.Type == history.OK:
		c.ok.Add(1)
	case workloads.Refused(done):
		c.refused.Add(1)
	case done.Type == history.Fail:
		c.fail.Add(1)
	case done.Type == history.Info:
		c.info.Add(1)
	}
}

func (c *counters) total() int64 {
	return c.ok.Load() + c.refused.Load() + c.fail.Load() + c.info.Load()
}

// workers runs `concurrency` logical processes taking operations from gen
// until it is exhausted or stop is closed. Every invoke and completion goes
// through rec, so no workload can forget to record. A process whose
// operation ends info is retired: its worker continues as process
// p + concurrency, with a fresh client, since the old operation may still
// be in flight.
type workers struct {
	concurrency int
	target      workloads.Target
	workload    workloads.Workload
	// newClient makes a client of the workload on the system under test.
	newClient func(workloads.Target) (workloads.Client, error)
	rec       *history.Recorder
	counts    *counters
	opTimeout time.Duration
	// interval is the pause between one worker's operations (0: none);
	// it is jittered so that workers do not march in step.
	interval time.Duration
	logger   *slog.Logger
}

// run drives gen until it ends or stop closes; processes start at first.
// It returns once every in-flight operation has completed.
func (w *workers) run(gen workloads.Generator, stop <-chan struct{}, seed uint64, first int) {
	var wg sync.WaitGroup
	for i := range w.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			w.loop(gen, stop, rng, history.Process(first+i))
		}()
	}
	wg.Wait()
}

func (w *workers) loop(gen workloads.Generator, stop <-chan struct{}, rng *rand.Rand, process history.Process) {
	var client workloads.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		op, ok := gen.Next(rng)
		if !ok {
			return
		}
		if client == nil {
			target := w.target
			target.Home = target.Nodes[int(process)%len(target.Nodes)].Name
			c, err := w.newClient(target)
			if err != nil {
				w.logger.Error("cannot create client", "process", process, "err", err)
				return
			}
			client = c
		}
		op.Type, op.Process, op.Time = history.Invoke, process, 0
		invoke := w.rec.Record(op)
		ctx, cancel := context.WithTimeout(context.Background(), w.opTimeout)
		done := client.Invoke(ctx, invoke)
		cancel()
		done.Process, done.F, done.Time = process, invoke.F, 0
		if done.Type == "" || done.Type == history.Invoke {
			done.Type = history.Info
		}
		w.rec.Record(done)
		w.counts.add(done)
		if done.Type == history.Info {
			process += history.Process(w.concurrency)
			client.Close()
			client = nil
		}
		if w.interval > 0 {
			pause := w.interval/2 + time.Duration(rng.Int64N(int64(w.interval)))
			select {
			case <-stop:
				return
			case <-time.After(pause):
			}
		}
	}
}
