// Package all registers every system squall can test (see docs/systems.md):
// importing it for its side effect is how a program, or a test, knows them
// all.
package all

import (
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/sut/etcd"
	"github.com/squall-chaos/squall/sut/kv"
	"github.com/squall-chaos/squall/sut/percolator"
)

// One line per system.
func init() {
	sut.Register(etcd.System{})
	sut.Register(kv.System{})
	sut.Register(percolator.System{})
}
