package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ryukEnv turns off testcontainers' reaper. The reaper is a container whose
// image would be pulled from a registry, and squall never contacts one;
// squall's own labels and sweep do the reaper's job.
const ryukEnv = "TESTCONTAINERS_RYUK_DISABLED"

var configureOnce sync.Once

// configure prepares testcontainers before its first use: it reads its
// configuration once per process, so the reaper must be off by then.
func configure() error {
	configureOnce.Do(func() {
		if _, set := os.LookupEnv(ryukEnv); !set {
			os.Setenv(ryukEnv, "true")
		}
		// testcontainers prints chatty progress lines to stderr by default.
		tclog.SetDefault(tcLogger{slog.Default()})
	})
	tc := testcontainers.ReadConfig()
	if tc.Config.HubImageNamePrefix != "" {
		// testcontainers would rename the local node image and pull that.
		return fmt.Errorf("testcontainers' hub.image.name.prefix is set to %q; squall's node image is local: unset it", tc.Config.HubImageNamePrefix)
	}
	if !tc.RyukDisabled {
		return fmt.Errorf("testcontainers' reaper is enabled (%s=%q or ryuk.disabled in ~/.testcontainers.properties); "+
			"squall never pulls images and cleans up by its own labels: unset it or set it to true", ryukEnv, os.Getenv(ryukEnv))
	}
	return nil
}

// connect returns a testcontainers provider and its Docker client.
func connect(ctx context.Context, logger *slog.Logger) (*testcontainers.DockerProvider, client.APIClient, error) {
	if err := configure(); err != nil {
		return nil, nil, err
	}
	provider, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tcLogger{orDiscard(logger)}))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to docker: %w", err)
	}
	docker := provider.Client()
	if _, err := docker.Ping(ctx, client.PingOptions{}); err != nil {
		provider.Close()
		return nil, nil, fmt.Errorf("connect to docker: %w", err)
	}
	return provider, docker, nil
}

// Available reports whether a Docker engine answers, and why not.
func Available(ctx context.Context) error {
	provider, _, err := connect(ctx, nil)
	if err != nil {
		return err
	}
	return provider.Close()
}

// orDiscard is logger, or a logger that drops everything if it is nil.
func orDiscard(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return logger
}

// tcLogger passes testcontainers' log lines to slog at debug level.
type tcLogger struct{ logger *slog.Logger }

func (l tcLogger) Printf(format string, args ...any) {
	l.logger.Debug("testcontainers: " + fmt.Sprintf(format, args...))
}
