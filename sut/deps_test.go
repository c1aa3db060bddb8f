package sut_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestHarnessImportsNoSystem: the harness, the workloads, the nemesis and
// the checkers know systems only through package sut, so that a system is
// one folder under sut/ and one line in sut/all. None of them may
// depend on a system's code (system/...) or on a system's folder.
func TestHarnessImportsNoSystem(t *testing.T) {
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}",
		"github.com/squall-chaos/squall/harness/...",
		"github.com/squall-chaos/squall/workloads/...",
		"github.com/squall-chaos/squall/nemesis/...",
		"github.com/squall-chaos/squall/checker/..."}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), out)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "github.com/squall-chaos/squall/system/") ||
			strings.HasPrefix(dep, "github.com/squall-chaos/squall/sut/") {
			t.Errorf("a package of the harness, workloads, nemesis or checkers depends on %s", dep)
		}
	}
}
