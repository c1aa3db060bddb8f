package kv

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The squall binary, built at most once per run of this package's tests
// and only if a test needs real processes.
var builtBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBinary.dir != "" {
		os.RemoveAll(builtBinary.dir)
	}
	os.Exit(code)
}

// squallBinary returns the path of a squall binary built from this tree.
// It is built with CGO_ENABLED=0, as the container image needs, and the
// build fails the test if the result is not statically linked.
func squallBinary(t testing.TB) string {
	t.Helper()
	builtBinary.once.Do(func() {
		builtBinary.dir, builtBinary.err = os.MkdirTemp("", "squall-kv-test-")
		if builtBinary.err != nil {
			return
		}
		path := filepath.Join(builtBinary.dir, "squall")
		cmd := exec.Command("go", "build", "-o", path, "github.com/squall-chaos/squall/cmd/squall")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			builtBinary.err = fmt.Errorf("go build squall: %v\n%s", err, out)
			return
		}
		if builtBinary.err = checkStatic(path); builtBinary.err == nil {
			builtBinary.path = path
		}
	})
	if builtBinary.err != nil {
		t.Fatal(builtBinary.err)
	}
	return builtBinary.path
}

// checkStatic fails if the ELF file at path asks for a dynamic loader or
// shared libraries: a FROM scratch image has neither.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("open built binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: it has a PT_INTERP program header", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("read imported libraries of %s: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s is dynamically linked against %v", path, libs)
	}
	return nil
}
