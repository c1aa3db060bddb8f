package harness

import (
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/sut/etcd"
	"github.com/squall-chaos/squall/sut/kv"
	"github.com/squall-chaos/squall/sut/percolator"
)

// The tests know the systems cmd/squall registers.
func init() {
	sut.Register(etcd.System{})
	sut.Register(kv.System{})
	sut.Register(percolator.System{})
}
