package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

func TestModuleRoot(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, ok := moduleRoot(wd)
	if !ok || !declaresModule(filepath.Join(root, "go.mod")) || !strings.HasPrefix(wd, root) {
		t.Fatalf("moduleRoot(%s) = %q, %v; want squall's source tree", wd, root, ok)
	}

	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n\ngo 1.26\n"), 0o644)
	if root, ok := moduleRoot(other); ok {
		t.Fatalf("moduleRoot found %q above a tree of another module", root)
	}
}

func TestCheckStatic(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	if err := checkStatic(notELF); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Fatalf("checkStatic(shell script) = %v, want not an ELF executable", err)
	}
	// /bin/sh is dynamically linked on every distribution the harness
	// runs on; skip where it is not.
	if err := checkStatic("/bin/sh"); err == nil {
		t.Skip("/bin/sh is static here")
	} else if !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("checkStatic(/bin/sh) = %v, want dynamically linked", err)
	}
}

// TestEnsureImage builds an image for a binary no other test uses (the
// node binary with a random trailer, which ELF loaders ignore), then asks
// again and must get the same image without a build.
func TestEnsureImage(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	binary, err := SquallBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(binary); err != nil {
		t.Fatalf("node binary: %v", err)
	}
	content, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	trailer := make([]byte, 16)
	rand.Read(trailer)
	unique := filepath.Join(t.TempDir(), "squall")
	if err := os.WriteFile(unique, append(content, trailer...), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BinaryEnv, unique)

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	tag, err := EnsureImage(ctx, logger)
	if err != nil {
		t.Fatal(err)
	}
	docker := dockerClient(t)
	t.Cleanup(func() {
		if _, err := docker.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			t.Errorf("remove test image %s: %v", tag, err)
		}
	})
	if !strings.HasPrefix(tag, ImageRepo+":") || len(tag) != len(ImageRepo)+1+12 {
		t.Errorf("tag %q, want %s:<12 hex digits>", tag, ImageRepo)
	}
	if !strings.Contains(logs.String(), "building node image") {
		t.Fatalf("first EnsureImage of a new binary did not build; log:\n%s", logs.String())
	}
	img, err := docker.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	// Not LabelSquall, which the containers started from it would inherit.
	if img.Config.Labels[LabelImage] != "node" || img.Config.Labels[LabelSquall] != "" {
		t.Errorf("image labels %v, want %s=node and no %s", img.Config.Labels, LabelImage, LabelSquall)
	}
	if got := img.Config.Entrypoint; len(got) != 1 || got[0] != "/squall" {
		t.Errorf("image entrypoint %v, want [/squall]", got)
	}

	logs.Reset()
	again, err := EnsureImage(ctx, logger)
	if err != nil {
		t.Fatal(err)
	}
	if again != tag {
		t.Errorf("second EnsureImage = %s, want %s", again, tag)
	}
	if strings.Contains(logs.String(), "building node image") {
		t.Errorf("second EnsureImage of the same binary built again; log:\n%s", logs.String())
	}
}
