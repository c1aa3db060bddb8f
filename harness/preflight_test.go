package harness

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	kvsut "github.com/squall-chaos/squall/sut/kv"

	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/harness/runtime/dockertest"
	"github.com/squall-chaos/squall/nemesis/netfault"
)

// TestDelayRefusedWhereNetemIsMissing: on a kernel without netem (the
// development machines'), a run asking for delay is refused before
// anything of it is created, saying why; a run asking for loss without
// naming a mode runs without delay and says so.
func TestDelayRefusedWhereNetemIsMissing(t *testing.T) {
	dockertest.Require(t)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	image, err := runtime.EnsureImage(ctx, logger)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := runtime.ProbeNetFaults(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	if missing[netfault.FeatureNetem] == nil {
		t.Skip("this kernel has netem: delay works here")
	}

	spec := e2eSpec(t, []string{"loss:delay"}, nil)
	var out bytes.Buffer
	_, err = Run(ctx, spec, &out, logger)
	if err == nil || !strings.Contains(err.Error(), "loss:delay") || !strings.Contains(err.Error(), "netem") {
		t.Fatalf("run with loss:delay: %v, want a refusal naming the mode and netem", err)
	}
	if entries, _ := os.ReadDir(spec.Store); len(entries) != 0 {
		t.Errorf("the refused run created %d entries in the store", len(entries))
	}

	spec = e2eSpec(t, []string{"loss"}, nil)
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	choices, _, err := preflight(ctx, kvsut.System{}, &spec, &out, logger)
	if err != nil {
		t.Fatal(err)
	}
	if len(choices) != 1 || strings.Join(spec.Nemesis, ",") != "loss:drop,loss:bandwidth" {
		t.Errorf("loss without netem runs %v, want loss:drop and loss:bandwidth", spec.Nemesis)
	}
	if !strings.Contains(out.String(), "runs without delay") {
		t.Errorf("output %q does not say delay was left out", out.String())
	}
}
