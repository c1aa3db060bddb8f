package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker/elle/elletest"
	"github.com/squall-chaos/squall/history"
)

// benchDir, if set, keeps the generated histories there, as
// append-<txns>.jsonl (and reuses them when they exist), for measuring
// `squall analyze` of them from outside, with /usr/bin/time -v:
//
//	go test -run XXX -bench Analyze1M -benchtime 1x ./cmd/squall/ -args -bench-dir /tmp
var benchDir = flag.String("bench-dir", "", "keep the generated history files of BenchmarkAnalyze* in this directory")

// The benchmarks run the generator and `squall analyze` each in a child
// process (this test binary, told what to do by the environment), so
// that the peak resident memory measured is analyze's alone.
const (
	childEnv     = "SQUALL_ANALYZE_BENCH_CHILD"
	childTxnsEnv = "SQUALL_ANALYZE_BENCH_TXNS"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "generate":
		var txns int
		fmt.Sscan(os.Getenv(childTxnsEnv), &txns)
		if err := writeGenerated(os.Args[3], txns); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	case "analyze":
		// os.Args: the binary, -test.run XXX, then analyze's (see runChild).
		os.Exit(run(append([]string{"squall", "analyze"}, os.Args[3:]...), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// writeGenerated writes a strictly serializable list-append history of
// txns transactions to path, as squall's checker benchmarks generate
// them (20 processes, 2 % info and 3 % failed transactions).
func writeGenerated(path string, txns int) error {
	h := elletest.StrictSerializable(elletest.Config{
		Txns: txns, Processes: 20, Keys: 16, WritesPerKey: 32, MaxMops: 4,
		InfoRate: 0.02, FailRate: 0.03, Seed: 1,
	})
	return history.WriteFile(path, h)
}

// runChild runs this test binary as a child doing what, and returns its
// wall time and peak resident memory.
func runChild(b *testing.B, what string, txns int, args ...string) (time.Duration, int64) {
	b.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run", "XXX"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"="+what, fmt.Sprintf("%s=%d", childTxnsEnv, txns))
	cmd.Stderr = os.Stderr
	began := time.Now()
	out, err := cmd.Output()
	took := time.Since(began)
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
		if code != 0 && code != 1 && code != 2 || what == "generate" {
			b.Fatalf("%s: %v\n%s", what, err, out)
		}
	}
	if what == "analyze" && code != 0 {
		b.Fatalf("analyze of a valid history exited %d:\n%s", code, out)
	}
	rusage := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return took, rusage.Maxrss << 10 // Linux: kilobytes
}

func BenchmarkAnalyze100k(b *testing.B) { benchmarkAnalyze(b, 100_000) }
func BenchmarkAnalyze1M(b *testing.B)   { benchmarkAnalyze(b, 1_000_000) }

// benchmarkAnalyze reports the wall time and peak resident memory of
// `squall analyze` of a generated list-append history of txns
// transactions, read from its file and checked against
// strict-serializable.
func benchmarkAnalyze(b *testing.B, txns int) {
	dir := b.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	if *benchDir != "" {
		path = filepath.Join(*benchDir, fmt.Sprintf("append-%d.jsonl", txns))
	}
	if _, err := os.Stat(path); err != nil {
		runChild(b, "generate", txns, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	var peak int64
	b.ResetTimer()
	for range b.N {
		t, rss := runChild(b, "analyze", txns, "--workload", "append", "--store", filepath.Join(dir, "store"), path)
		took += t
		peak = max(peak, rss)
	}
	b.StopTimer()
	b.ReportMetric(took.Seconds()/float64(b.N), "s/analyze")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	b.ReportMetric(float64(txns)*float64(b.N)/took.Seconds(), "txns/s")
}
