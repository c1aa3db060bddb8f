package main

import (
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/sut/etcd"
	"github.com/squall-chaos/squall/sut/kv"
	"github.com/squall-chaos/squall/sut/percolator"
)

// The systems squall can test, one line each (see docs/systems.md).
func init() {
	sut.Register(etcd.System{})
	sut.Register(kv.System{})
	sut.Register(percolator.System{})
}
