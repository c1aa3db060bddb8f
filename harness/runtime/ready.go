package runtime

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Ready asks the node at addr, once, whether it serves: the standard gRPC
// health check, which every squall node answers with SERVING once its
// services are registered. It is the runtime's readiness probe, rather
// than the node's "ready" line in its log, because a restarted container's
// log still holds the line its previous run printed.
func Ready(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("probe %s: %w", addr, err)
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("probe %s: %w", addr, err)
	}
	if res.Status != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("probe %s: node reports %v", addr, res.Status)
	}
	return nil
}
