package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/squall-chaos/squall/nemesis"
)

// TestRetryFreeze: the freezer's "unable to freeze" is tried again, up to
// freezeAttempts times; any other error is not.
func TestRetryFreeze(t *testing.T) {
	unable := errors.New("Cannot pause container x: OCI runtime pause failed: unable to freeze: unknown")
	calls := 0
	err := retryFreeze(context.Background(), func() error {
		if calls++; calls < 3 {
			return unable
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("after two failed freezes: %v in %d calls, want success on the third", err, calls)
	}
	calls = 0
	if err := retryFreeze(context.Background(), func() error { calls++; return unable }); !errors.Is(err, unable) || calls != freezeAttempts {
		t.Fatalf("a freezer that never freezes: %v in %d calls, want its error after %d", err, calls, freezeAttempts)
	}
	calls = 0
	other := errors.New("no such container")
	if err := retryFreeze(context.Background(), func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("another error: %v in %d calls, want it at once", err, calls)
	}
}

// stoppingEngine is a Docker engine whose container stops while a pause
// or kill of it is under way: the call fails as runc's "container not
// running" in a server error, not a conflict, and inspect then shows the
// container stopped (or, with running set, still running).
type stoppingEngine struct {
	client.APIClient // calls other than these three panic
	running          bool
}

var errRuncNotRunning = errors.New("Cannot pause container c1: OCI runtime pause failed: container not running: unknown")

func (e stoppingEngine) ContainerPause(context.Context, string, client.ContainerPauseOptions) (client.ContainerPauseResult, error) {
	return client.ContainerPauseResult{}, errRuncNotRunning
}

func (e stoppingEngine) ContainerKill(context.Context, string, client.ContainerKillOptions) (client.ContainerKillResult, error) {
	return client.ContainerKillResult{}, errRuncNotRunning
}

func (e stoppingEngine) ContainerInspect(context.Context, string, client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	var res client.ContainerInspectResult
	res.Container.State = &container.State{Running: e.running}
	return res, nil
}

// TestPauseOrKillOfANodeThatStopsMeanwhile: a pause or kill that fails
// because another family stopped the node during the call says the node
// is down (the families then skip it), not that the fault failed; the
// same error on a node still running is the fault's failure.
func TestPauseOrKillOfANodeThatStopsMeanwhile(t *testing.T) {
	ctx := context.Background()
	for _, running := range []bool{false, true} {
		c := &Cluster{docker: stoppingEngine{running: running}, containers: map[string]string{"n1": "c1"}}
		for name, call := range map[string]func(context.Context, string) error{"pause": c.Pause, "kill": c.Kill} {
			err := call(ctx, "n1")
			if err == nil {
				t.Fatalf("%s: no error, want one", name)
			}
			if down := errors.Is(err, nemesis.ErrNodeDown); down == running {
				t.Errorf("%s with the node running=%v afterwards: %v; ErrNodeDown %v, want %v", name, running, err, down, !running)
			}
			if !strings.Contains(err.Error(), "container not running") {
				t.Errorf("%s: %v does not carry the engine's error", name, err)
			}
		}
	}
}
