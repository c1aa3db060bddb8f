package harness

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/sut"
)

// preflight makes sure, before anything of the run is created, that the
// node image exists (building it if need be: a binary that cannot is
// refused here), and squall's own image for the network sidecars, and
// settles the faults of spec. If a family needs kernel
// features in the nodes' network namespaces, it probes them in a
// throwaway container: a mode the run names explicitly that cannot work
// here is refused; a family asked for without modes (or through "all")
// runs without the modes that cannot, and the run says so. spec.Nemesis
// becomes what will run. It returns the images.
func preflight(ctx context.Context, sys sut.System, spec *Spec, out io.Writer, logger *slog.Logger) ([]nemesis.Choice, runImages, error) {
	var images runImages
	choices, err := nemesis.ParseChoices(spec.Nemesis)
	if err != nil {
		return nil, images, err
	}
	needed := false
	for _, c := range choices {
		needed = needed || len(c.Needs()) > 0
	}
	if images.node, err = sys.Image(ctx, logger); err != nil {
		return nil, images, err
	}
	if needed {
		if images.squall, err = runtime.EnsureImage(ctx, logger); err != nil {
			return nil, images, err
		}
		missing, err := runtime.ProbeNetFaults(ctx, images.squall)
		if err != nil {
			return nil, images, err
		}
		for i, c := range choices {
			kept, dropped, err := c.Without(missing)
			if err != nil {
				return nil, images, err
			}
			if len(dropped) > 0 {
				fmt.Fprintf(out, "squall: nemesis %s runs without %s, which this kernel cannot do (%s)\n",
					c.Family, strings.Join(dropped, ", "), whyMissing(c, dropped, missing))
			}
			choices[i] = kept
		}
	}
	spec.Nemesis = nil
	for _, c := range choices {
		spec.Nemesis = append(spec.Nemesis, c.Items()...)
	}
	return choices, images, nil
}

// runImages are a run's images: its nodes', and squall's own, which the
// network sidecars run ("" if the run has none).
type runImages struct{ node, squall string }

// whyMissing says which features the dropped modes lack.
func whyMissing(c nemesis.Choice, dropped []string, missing map[string]error) string {
	var whys []string
	for feature, modes := range c.Needs() {
		if err := missing[feature]; err != nil && slices.ContainsFunc(modes, func(m string) bool { return slices.Contains(dropped, m) }) {
			whys = append(whys, fmt.Sprintf("%s: %v", feature, err))
		}
	}
	slices.Sort(whys)
	return strings.Join(whys, "; ")
}

// needsNetwork reports whether any fault changes the nodes' network, and
// so needs a sidecar beside each node.
func needsNetwork(choices []nemesis.Choice) bool {
	return slices.ContainsFunc(choices, func(c nemesis.Choice) bool { return c.Family == "partition" || c.Family == "loss" })
}
