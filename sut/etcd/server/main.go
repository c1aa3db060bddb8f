// Command server is etcd's own server, built from etcd's published module so
// that squall can run a system it did not write. It adds nothing: main only
// hands its arguments to etcd's entry point.
//
// It lives in a module of its own so that etcd's many pinned dependency
// versions (grpc, protobuf, otel, prometheus) never enter squall's go.mod.
// Build it with
//
//	cd sut/etcd/server && CGO_ENABLED=0 go build -trimpath -o /tmp/etcd .
//
// which yields a static linux binary that runs in any container image.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
