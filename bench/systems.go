package bench

import (
	"github.com/squall-chaos/squall/sut/etcd"
	"github.com/squall-chaos/squall/sut/kv"
)

// KV is squall's KV store: `squall node --system kv` of the squall binary
// at squall.
func KV(squall string) System { return system("kv", squall, kv.StartLocal) }

// Etcd is etcd's server at binary.
func Etcd(binary string) System { return system("etcd", binary, etcd.StartLocal) }

// system is the System name whose clusters start runs binary.
func system[L Local[C], C Client](name, binary string, start func(binary, dir string, nodes int) (L, error)) System {
	return System{Name: name, Start: func(dir string, nodes int) (Cluster, error) {
		c, err := start(binary, dir, nodes)
		if err != nil {
			return nil, err
		}
		return Adapt[C](c), nil
	}}
}
