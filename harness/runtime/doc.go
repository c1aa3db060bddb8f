// Package runtime runs a test run's cluster in Docker containers, through
// testcontainers-go.
//
// Each node is a container of a node image, a FROM scratch image that
// holds nothing but one static binary: squall's own (EnsureImage) or
// another system's (EnsureBinaryImage). It is built on first use, tagged
// by the binary's content hash, and reused while the binary is unchanged;
// no registry is ever contacted (testcontainers' reaper, whose image would
// be pulled, is turned off).
//
// Start gives a run its own bridge network on a free /24 of 10.213/16, and
// each node a fixed address on it (.11, .12, ...), its name as host name
// and DNS alias, and a named volume for its data. The nodes start in
// parallel; a node is ready when it answers the readiness probe (by
// default the standard gRPC health check), which the controller, on the
// bridge's gateway, asks it directly: nothing is published on the host's
// ports.
//
//	c, err := runtime.Start(ctx, runtime.Config{
//		RunID: run, Nodes: []string{"n1", "n2", "n3"}, LogDir: dir,
//		NodeArgs: func(name string, members []nemesis.Node) []string {
//			return []string{"node", "--system", "kv", "--id", name, "--peers", peers(members), "--data", runtime.DataDir}
//		},
//	})
//	defer c.Close(ctx) // after Ctrl-C too: Close ignores ctx's cancellation
//
// A Cluster kills (SIGKILL), pauses and restarts nodes with their
// addresses and data intact, and changes a node's network through a
// sidecar container that shares its network namespace (see Cluster.Net);
// no partition cuts the controller's address.
//
// Every container, network and volume carries the labels squall=true, the
// run's id and its controller's pid and host. Close removes the run's
// objects (Leave keeps them); a sweep, which Start runs first, removes those
// of runs whose controller died; Clean removes every run's. Nothing without
// the squall label is ever removed.
package runtime
