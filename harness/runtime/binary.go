package runtime

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
)

const (
	// modulePath and commandPath identify squall's source tree and its binary.
	modulePath  = "github.com/squall-chaos/squall"
	commandPath = modulePath + "/cmd/squall"

	// BinaryEnv names a static linux squall binary to put in the node
	// image, overriding the search in SquallBinary.
	BinaryEnv = "SQUALL_NODE_BINARY"
)

// SquallBinary returns the path of a statically linked linux squall binary,
// for the node image and for nodes run as local processes (squall bench).
// The image is FROM scratch, so the binary must need nothing from a file
// system: no dynamic loader, no libc.
//
// In order: the file named by $SQUALL_NODE_BINARY; this process's own
// executable, if it is squall and static (a release build); else a fresh
// CGO_ENABLED=0 build of squall's source tree found above the working
// directory or the executable. The last covers `go run` (whose binary links
// libc when cgo is on) and `go test` (whose binary is not squall).
func SquallBinary(ctx context.Context) (string, error) {
	if path := os.Getenv(BinaryEnv); path != "" {
		if err := checkStatic(path); err != nil {
			return "", fmt.Errorf("$%s: %w", BinaryEnv, err)
		}
		return path, nil
	}
	exe, exeErr := os.Executable()
	if exeErr == nil && isSquall() && checkStatic(exe) == nil {
		return exe, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exeErr == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, start := range starts {
		if root, ok := moduleRoot(start); ok {
			return buildStatic(ctx, root)
		}
	}
	return "", fmt.Errorf("no squall binary for the node image: this executable is not a static squall build, "+
		"and no %s source tree was found above %s; set $%s to a static linux squall binary "+
		"(CGO_ENABLED=0 go build -o squall ./cmd/squall)", modulePath, strings.Join(starts, " or "), BinaryEnv)
}

// isSquall reports whether this process is the squall command.
func isSquall() bool {
	info, ok := debug.ReadBuildInfo()
	return ok && info.Path == commandPath
}

// checkStatic checks that path is a linux ELF executable for this machine's
// architecture with no program interpreter, i.e. statically linked.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF executable: %w", path, err)
	}
	defer f.Close()
	if want := elfMachine(); f.Machine != want {
		return fmt.Errorf("%s is built for %v, not %v", path, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// elfMachine is the ELF machine of this architecture; the Docker engine is
// assumed to run on the same one.
func elfMachine() elf.Machine {
	switch goruntime.GOARCH {
	case "arm64":
		return elf.EM_AARCH64
	case "386":
		return elf.EM_386
	case "arm":
		return elf.EM_ARM
	default:
		return elf.EM_X86_64
	}
}

// moduleRoot walks up from dir to the directory whose go.mod declares
// squall's module.
func moduleRoot(dir string) (string, bool) {
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func declaresModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// buildStatic builds squall from the source tree at root into the user's
// cache directory. The output path is fixed so that the go command can see
// the binary is up to date and skip relinking it.
func buildStatic(ctx context.Context, root string) (string, error) {
	return goBuild(ctx, root, "./cmd/squall", "squall-node", BinaryEnv)
}

// goBuild builds the main package pkg in dir, statically, into the user's
// cache directory as NAME-ARCH. The output path is fixed so that the go
// command can see the binary is up to date and skip relinking it. The
// binary holds no VCS stamp: a file a test writes in the tree would flip
// vcs.modified and make another image of the same source.
func goBuild(ctx context.Context, dir, pkg, name, envVar string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("build %s for the node image: %w", name, err)
	}
	cache = filepath.Join(cache, "squall")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("build %s for the node image: %w", name, err)
	}
	out := filepath.Join(cache, name+"-"+goruntime.GOARCH)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goruntime.GOARCH)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("build %s in %s for the node image: no go command on PATH; set $%s to a static linux %s binary", name, dir, envVar, name)
		}
		return "", fmt.Errorf("build %s in %s for the node image: %w\n%s", name, dir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// SourceBinary returns a static linux binary of the main package in dir,
// a directory of squall's source tree (it may be a module of its own, as
// another system's server is, to keep that system's dependencies out of
// squall's). If the environment variable envVar names a file, that is the
// binary; else the package is built, with the go command, from the tree
// found above the working directory or this executable, into the user's
// cache directory as name.
func SourceBinary(ctx context.Context, dir, name, envVar string) (string, error) {
	// Callers in one process (parallel tests) build into the same path.
	imageMu.Lock()
	defer imageMu.Unlock()
	if path := os.Getenv(envVar); path != "" {
		if err := checkStatic(path); err != nil {
			return "", fmt.Errorf("$%s: %w", envVar, err)
		}
		return path, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, start := range starts {
		if root, ok := moduleRoot(start); ok {
			return goBuild(ctx, filepath.Join(root, dir), ".", name, envVar)
		}
	}
	return "", fmt.Errorf("no %s binary: no %s source tree was found above %s to build %s from; set $%s to a static linux %s binary",
		name, modulePath, strings.Join(starts, " or "), dir, envVar, name)
}
