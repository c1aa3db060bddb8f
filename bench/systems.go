package bench

import (
	"github.com/squall-chaos/squall/sut/etcd"
	"github.com/squall-chaos/squall/sut/kv"
)

// KV is squall's KV store: `squall node --system kv` of the squall binary
// at squall.
func KV(squall string) System {
	return System{Name: "kv", Start: func(dir string, nodes int) (Cluster, error) {
		c, err := kv.StartLocal(squall, dir, nodes)
		if err != nil {
			return nil, err
		}
		return Adapt[*kv.LocalClient](c), nil
	}}
}

// Etcd is etcd's server at binary.
func Etcd(binary string) System {
	return System{Name: "etcd", Start: func(dir string, nodes int) (Cluster, error) {
		c, err := etcd.StartLocal(binary, dir, nodes)
		if err != nil {
			return nil, err
		}
		return Adapt[*etcd.LocalClient](c), nil
	}}
}
