package runtime

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// ImageRepo is the repository of squall's node images; the tag is a
// content hash. A system that runs another binary has a repository of its
// own (see EnsureBinaryImage).
const ImageRepo = "squall-node"

// dockerfile is the whole of a node image: one static binary, its
// entrypoint, and nothing else. FROM scratch needs no base image, so
// building contacts no registry.
func dockerfile(name string) string {
	return "FROM scratch\nCOPY " + name + " /" + name + "\nENTRYPOINT [\"/" + name + "\"]\n"
}

// imageMu serialises EnsureImage within the process, so that parallel
// callers build a new image once.
var imageMu sync.Mutex

// EnsureImage returns the tag of a node image holding a static squall
// binary (see SquallBinary for where it comes from), building the image if
// the engine does not have it yet. The tag is a hash of the binary and the
// Dockerfile, so an image is reused while the binary is unchanged. No
// registry is contacted: the image is never pulled.
func EnsureImage(ctx context.Context, logger *slog.Logger) (string, error) {
	imageMu.Lock()
	binary, err := SquallBinary(ctx)
	imageMu.Unlock()
	if err != nil {
		return "", err
	}
	return EnsureBinaryImage(ctx, logger, ImageRepo, "squall", binary)
}

// EnsureBinaryImage returns the tag, in repo, of an image holding the
// static linux binary at path as /name, its entrypoint, building the image
// if the engine does not have it yet. The tag is a hash of the binary and
// the Dockerfile. Older images of repo beyond the newest ImagesKept are
// removed when a new one is built.
func EnsureBinaryImage(ctx context.Context, logger *slog.Logger, repo, name, binary string) (string, error) {
	logger = orDiscard(logger)
	imageMu.Lock()
	defer imageMu.Unlock()
	if err := checkStatic(binary); err != nil {
		return "", fmt.Errorf("node image %s: %w", repo, err)
	}
	content, err := os.ReadFile(binary)
	if err != nil {
		return "", fmt.Errorf("read node binary: %w", err)
	}
	sum := sha256.New()
	sum.Write([]byte(dockerfile(name)))
	sum.Write(content)
	tag := repo + ":" + hex.EncodeToString(sum.Sum(nil))[:12]

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
	buildContext, err := imageContext(name, content)
	if err != nil {
		return "", fmt.Errorf("build image %s: %w", tag, err)
	}
	var buildLog bytes.Buffer
	_, err = provider.BuildImage(ctx, &testcontainers.ContainerRequest{
		FromDockerfile: testcontainers.FromDockerfile{
			ContextArchive: buildContext,
			Repo:           repo,
			Tag:            tag[len(repo)+1:],
			KeepImage:      true,
			BuildLogWriter: &buildLog,
			BuildOptionsModifier: func(o *client.ImageBuildOptions) {
				// Not LabelSquall: containers inherit their image's
				// labels, and `squall clean` must not take a container
				// someone started by hand from this image for squall's.
				o.Labels = map[string]string{LabelImage: "node"}
			},
		},
	})
	if err != nil {
		return "", fmt.Errorf("build image %s from %s: %w\n%s", tag, binary, err, buildLog.String())
	}
	// Each rebuilt binary is another image; keep the newest few.
	if removed, err := pruneImages(ctx, docker, repo, ImagesKept, time.Now().Add(-ImageGrace)); err != nil {
		logger.Warn("could not remove old node images", "err", err)
	} else if len(removed) > 0 {
		logger.Info("removed old node images", "images", removed)
	}
	return tag, nil
}

// ImagesKept is how many node images, the newest, squall keeps; older ones
// go when a new one is built, and with `squall clean`.
const ImagesKept = 3

// ImageGrace is how long a node image is kept however many newer ones
// there are. A run removes nothing it could be about to use: another
// squall process (a parallel test package, a second run with another
// binary) may have ensured an image and not yet created its containers.
const ImageGrace = time.Hour

// pruneImages removes the images of repo (node images) but the newest
// keep and those built after builtBefore. An image a container still uses
// is left.
func pruneImages(ctx context.Context, docker client.APIClient, repo string, keep int, builtBefore time.Time) ([]string, error) {
	list, err := docker.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", repo)})
	if err != nil {
		return nil, fmt.Errorf("list %s images: %w", repo, err)
	}
	images := list.Items
	slices.SortFunc(images, func(a, b image.Summary) int {
		return cmp.Or(cmp.Compare(b.Created, a.Created), strings.Compare(a.ID, b.ID))
	})
	images = slices.CompactFunc(images, func(a, b image.Summary) bool { return a.ID == b.ID })
	var removed []string
	var errs []error
	for i, img := range images {
		if i < keep || time.Unix(img.Created, 0).After(builtBefore) {
			continue
		}
		// By its tag in repo: an image tagged in another repository too
		// loses only this tag.
		name := img.ID
		for _, t := range img.RepoTags {
			if strings.HasPrefix(t, repo+":") {
				name = t
				break
			}
		}
		// No force: an image in use stays.
		if _, err := docker.ImageRemove(ctx, name, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove image %s: %w", name, err))
			}
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}

// imageContext is the build context: the Dockerfile and the binary.
func imageContext(name string, binary []byte) (io.ReadSeeker, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile(name))},
		{name, 0o755, binary},
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
