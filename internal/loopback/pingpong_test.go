package loopback

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoEnv, when set, makes this test binary an echo server instead of
// running tests: the other end of BenchmarkPingPong.
const echoEnv = "SQUALL_LOOPBACK_ECHO"

func TestMain(m *testing.M) {
	if os.Getenv(echoEnv) != "" {
		if err := serveEcho(); err != nil {
			fmt.Fprintln(os.Stderr, "echo server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveEcho prints the address it listens on, then sends back every
// message of pingSize bytes of one connection until it closes.
func serveEcho() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(l.Addr())
	c, err := l.Accept()
	if err != nil {
		return err
	}
	buf := make([]byte, pingSize)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the benchmark closed the connection
			}
			return err
		}
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

// pingSize is about the size of a Raft append of a small entry.
const pingSize = 200

// BenchmarkPingPong measures what messages between two processes cost
// this machine, with nothing of squall's in the way: a 200-byte TCP
// ping-pong on loopback between the benchmark and a child process (this
// test binary, run again as an echo server). It reports the round trip
// (ns/op) and the CPU time each process spends per round trip, in which
// it sends one message and receives one; so each figure is also about
// what one message costs its sender and receiver together. squall's
// nodes pay at least this for every Raft message and client request,
// which is why docs/percolator.md gives it beside the Percolator figures.
// Run it with
//
//	go test -run '^$' -bench PingPong -benchtime 20000x ./internal/loopback/
func BenchmarkPingPong(b *testing.B) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start echo server: %v", err)
	}
	var conn net.Conn
	waited := false
	b.Cleanup(func() {
		// On a failure before the end: leave no echo server behind.
		if conn != nil {
			conn.Close()
		}
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("echo server's address: %v", err)
	}
	conn, err = net.Dial("tcp", strings.TrimSpace(addr))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, pingSize)
	before := processCPU()
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	spent := processCPU() - before
	conn.Close()
	waited = true
	if err := cmd.Wait(); err != nil {
		b.Fatalf("echo server: %v", err)
	}
	// The echo server's whole life, start-up included: a few ms, next to
	// the seconds of a run of b.N round trips long enough to measure.
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	echo := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	b.ReportMetric(float64(spent.Microseconds())/float64(b.N), "cpu-µs/roundtrip")
	b.ReportMetric(float64(echo.Microseconds())/float64(b.N), "echo-cpu-µs/roundtrip")
}

// processCPU is the CPU time this process has spent so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
