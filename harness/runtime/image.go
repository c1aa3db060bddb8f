package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// ImageRepo is the repository of node images; the tag is a content hash.
const ImageRepo = "squall-node"

// dockerfile is the whole node image: the squall binary and nothing else.
// FROM scratch needs no base image, so building contacts no registry.
const dockerfile = `FROM scratch
COPY squall /squall
ENTRYPOINT ["/squall"]
`

// imageMu serialises EnsureImage within the process, so that parallel
// callers build a new image once.
var imageMu sync.Mutex

// EnsureImage returns the tag of a node image holding a static squall
// binary (see nodeBinary for where it comes from), building the image if
// the engine does not have it yet. The tag is a hash of the binary and the
// Dockerfile, so an image is reused while the binary is unchanged. No
// registry is contacted: the image is never pulled.
func EnsureImage(ctx context.Context, logger *slog.Logger) (string, error) {
	logger = orDiscard(logger)
	imageMu.Lock()
	defer imageMu.Unlock()

	binary, err := nodeBinary(ctx)
	if err != nil {
		return "", err
	}
	content, err := os.ReadFile(binary)
	if err != nil {
		return "", fmt.Errorf("read node binary: %w", err)
	}
	sum := sha256.New()
	sum.Write([]byte(dockerfile))
	sum.Write(content)
	tag := ImageRepo + ":" + hex.EncodeToString(sum.Sum(nil))[:12]

	provider, docker, err := connect(ctx, logger)
	if err != nil {
		return "", err
	}
	defer provider.Close()
	if _, err := docker.ImageInspect(ctx, tag); err == nil {
		logger.Debug("node image present", "image", tag)
		return tag, nil
	} else if !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", tag, err)
	}

	logger.Info("building node image", "image", tag, "binary", binary)
	buildContext, err := imageContext(content)
	if err != nil {
		return "", fmt.Errorf("build image %s: %w", tag, err)
	}
	var buildLog bytes.Buffer
	_, err = provider.BuildImage(ctx, &testcontainers.ContainerRequest{
		FromDockerfile: testcontainers.FromDockerfile{
			ContextArchive: buildContext,
			Repo:           ImageRepo,
			Tag:            tag[len(ImageRepo)+1:],
			KeepImage:      true,
			BuildLogWriter: &buildLog,
			BuildOptionsModifier: func(o *client.ImageBuildOptions) {
				o.Labels = map[string]string{LabelSquall: "true"}
			},
		},
	})
	if err != nil {
		return "", fmt.Errorf("build image %s from %s: %w\n%s", tag, binary, err, buildLog.String())
	}
	return tag, nil
}

// imageContext is the build context: the Dockerfile and the binary.
func imageContext(binary []byte) (io.ReadSeeker, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"squall", 0o755, binary},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return bytes.NewReader(buf.Bytes()), nil
}
