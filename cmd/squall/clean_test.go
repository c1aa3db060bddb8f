package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCleanRefusesArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"squall", "clean", "extra-arg"}, &stdout, &stderr); code != exitHarnessError {
		t.Errorf("squall clean extra-arg exited %d, want %d", code, exitHarnessError)
	}
	if !strings.Contains(stderr.String(), `"extra-arg"`) {
		t.Errorf("stderr %q does not name the argument", stderr.String())
	}
}
