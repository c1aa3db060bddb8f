package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/squall-chaos/squall/nemesis"
)

// TestTestHelpListsFaultFamilies: `squall test --help` lists every fault
// family with its modes.
func TestTestHelpListsFaultFamilies(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"squall", "test", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	help := stdout.String()
	for _, f := range nemesis.Families() {
		if !strings.Contains(help, "  "+f.Name+" ") {
			t.Errorf("help does not list family %s", f.Name)
		}
		for _, m := range f.Modes {
			if !strings.Contains(help, m) {
				t.Errorf("help does not name %s's mode %s", f.Name, m)
			}
		}
	}
	for _, want := range []string{"--nemesis-overlap", "all "} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestTestRefusesBadNemesis: a bad family or mode fails before anything
// is created, naming the bad input and the valid choices.
func TestTestRefusesBadNemesis(t *testing.T) {
	for _, tc := range []struct{ nemesis, names, choices string }{
		{"partition,partitions", `"partitions"`, "partition, kill, pause, clock, loss, failpoint, power"},
		{"clock:warp", `"warp"`, "bump, strobe, skew"},
		{"pause:", `"pause:"`, "one, minority, leader"},
	} {
		store := filepath.Join(t.TempDir(), "store")
		var stdout, stderr bytes.Buffer
		code := run([]string{"squall", "test", "--nemesis", tc.nemesis, "--store", store}, &stdout, &stderr)
		if code != exitHarnessError {
			t.Errorf("--nemesis %s: exit %d, want %d", tc.nemesis, code, exitHarnessError)
		}
		if msg := stderr.String(); !strings.Contains(msg, tc.names) || !strings.Contains(msg, tc.choices) {
			t.Errorf("--nemesis %s: %q, want it to name %s and list %s", tc.nemesis, msg, tc.names, tc.choices)
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("--nemesis %s created the store (%v)", tc.nemesis, err)
		}
	}
}

// TestTestUsageErrors: a usage error is one line that says what the flag
// takes and points to --help, and nothing is created.
func TestTestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--time-limit", "60"}, `--time-limit: "60" is not a duration with a unit, like 60s, 5m or 1h30m (see 'squall test --help')`},
		{[]string{"--rate", "fast"}, `--rate: "fast" is not a number (see 'squall test --help')`},
		{[]string{"--rate", "NaN"}, "--rate: NaN is not a number of operations per second"},
		{[]string{"--rate", "+Inf"}, "--rate: +Inf is not a number of operations per second"},
		{[]string{"--frobnicate"}, "unknown flag --frobnicate (see 'squall test --help')"},
	} {
		store := filepath.Join(t.TempDir(), "store")
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"squall", "test", "--store", store}, tc.args...), &stdout, &stderr)
		if code != exitHarnessError || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, stderr.String(), exitHarnessError, tc.want)
		}
		if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n"); lines > 0 || stdout.Len() > 0 {
			t.Errorf("%v: printed %d more lines and %q; want the one line", tc.args, lines, stdout.String())
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("%v created the store", tc.args)
		}
	}
}

// TestTestHelpDefaults: each flag of every command shows one default,
// and --bug names the bugs of every system.
func TestTestHelpDefaults(t *testing.T) {
	var commands [][]string
	for _, c := range newApp(io.Discard, io.Discard).Commands {
		commands = append(commands, []string{c.Name})
		for _, sub := range c.Subcommands {
			commands = append(commands, []string{c.Name, sub.Name})
		}
	}
	for _, cmd := range commands {
		var stdout, stderr bytes.Buffer
		run(append(append([]string{"squall"}, cmd...), "--help"), &stdout, &stderr)
		for _, line := range strings.Split(stdout.String(), "\n") {
			if strings.Count(line, "default") > 1 {
				t.Errorf("squall %s --help: a line shows two defaults: %q", strings.Join(cmd, " "), line)
			}
		}
	}
	var stdout, stderr bytes.Buffer
	run([]string{"squall", "test", "--help"}, &stdout, &stderr)
	help := stdout.String()
	for _, want := range []string{"(default: random)", "skip-write-conflict", "stale-reads"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestDynamicBinaryOutsideTheTree: a plain `go build` links libc and
// cannot go in a FROM scratch image; run outside the source tree it
// cannot build one either. It must say how to install a binary that can,
// before creating anything.
func TestDynamicBinaryOutsideTheTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds squall")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "squall")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("no cgo build here: %v\n%s", err, out)
	}
	if f, err := elf.Open(bin); err != nil {
		t.Fatal(err)
	} else if !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		t.Skip("the cgo build came out static")
	}
	store := filepath.Join(dir, "store")
	cmd := exec.Command(bin, "test", "--nemesis", "none", "--time-limit", "1s", "--store", store)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitHarnessError {
		t.Fatalf("a dynamic binary outside the tree: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CGO_ENABLED=0 go build -o squall ./cmd/squall") {
		t.Errorf("output %q does not say how to build a static binary", out)
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("the refused run created the store")
	}
}

// TestEveryFlagIsDescribed: every flag of every command says what it is
// for.
func TestEveryFlagIsDescribed(t *testing.T) {
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				if d, ok := f.(cli.DocGenerationFlag); ok && d.GetUsage() == "" {
					t.Errorf("squall %s%s --%s has no description", path, c.Name, f.Names()[0])
				}
			}
			walk(path+c.Name+" ", c.Subcommands)
		}
	}
	walk("", newApp(nil, nil).Commands)
}
