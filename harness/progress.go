package harness

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress prints a live status line while the main phase runs: elapsed
// and remaining time, throughput, ok/fail/info counts and the fault in
// force. On a terminal it rewrites one line; elsewhere (CI logs) it prints
// a line every ten seconds.
type progress struct {
	out      io.Writer
	limit    time.Duration
	counts   *counters
	tty      bool
	interval time.Duration

	mu      sync.Mutex
	fault   string
	started time.Time
	done    chan struct{}
	wg      sync.WaitGroup
}

func newProgress(out io.Writer, limit time.Duration, counts *counters) *progress {
	p := &progress{out: out, limit: limit, counts: counts, fault: "none", interval: 10 * time.Second}
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.interval = true, time.Second
		}
	}
	return p
}

func (p *progress) setFault(f string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f == "" {
		f = "none"
	}
	p.fault = f
}

func (p *progress) start() {
	p.started = time.Now()
	p.done = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ticker := time.NewTicker(p.interval)
		defer ticker.Stop()
		last, lastAt := int64(0), time.Now()
		for {
			select {
			case <-p.done:
				if p.tty {
					fmt.Fprintln(p.out)
				}
				return
			case now := <-ticker.C:
				total := p.counts.total()
				rate := float64(total-last) / now.Sub(lastAt).Seconds()
				last, lastAt = total, now
				p.print(now, rate)
			}
		}
	}()
}

func (p *progress) print(now time.Time, rate float64) {
	p.mu.Lock()
	fault := p.fault
	p.mu.Unlock()
	elapsed := now.Sub(p.started).Truncate(time.Second)
	remaining := max(0, p.limit-elapsed).Truncate(time.Second)
	line := fmt.Sprintf("%v elapsed, %v left | %.0f ops/s | ok %d refused %d fail %d info %d | fault: %s",
		elapsed, remaining, rate, p.counts.ok.Load(), p.counts.refused.Load(), p.counts.fail.Load(), p.counts.info.Load(), fault)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.out, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.out, line)
	}
}

// note prints a line of its own, such as a fault that failed, at once;
// on a terminal the status line is redrawn after it.
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
	fmt.Fprintf(p.out, "squall: "+format+"\n", args...)
}

func (p *progress) stop() {
	if p.done != nil {
		close(p.done)
		p.wg.Wait()
	}
}
