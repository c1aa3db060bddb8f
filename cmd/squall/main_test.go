package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersionPrintsReleaseAndGoVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"squall", "version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("squall version exited %d, want 0; stderr: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"squall " + version + "\n", "revision: ", "go:       go1."} {
		if !strings.Contains(out, want) {
			t.Errorf("squall version printed %q, want it to contain %q", out, want)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("squall version wrote to stderr: %q", stderr.String())
	}
}

func TestHelpListsCommands(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"squall", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("squall --help exited %d, want 0; stderr: %s", code, stderr.String())
	}
	// Each command is listed on a line of its own, name first; a bare
	// substring match would also find "--version" and "VERSION:".
	listed := map[string]bool{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			listed[strings.TrimSuffix(name, ",")] = true
		}
	}
	for _, want := range []string{"version", "node", "test", "analyze", "clean", "bench"} {
		if !listed[want] {
			t.Errorf("squall --help printed %q, want it to list the %s command", stdout.String(), want)
		}
	}
}

func TestUnknownCommandIsAHarnessError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"squall", "frobnicate"}, &stdout, &stderr)
	if code != exitHarnessError {
		t.Errorf("squall frobnicate exited %d, want %d", code, exitHarnessError)
	}
	if got := stderr.String(); !strings.HasPrefix(got, "squall: ") || !strings.Contains(got, `"frobnicate"`) {
		t.Errorf("squall frobnicate wrote %q to stderr, want a \"squall: \" error naming the command", got)
	}
}
