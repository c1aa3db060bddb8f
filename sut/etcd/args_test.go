package etcd

import (
	"net/netip"
	"slices"
	"testing"
)

func TestNodeArgsDescribeAStaticClusterOnStandardPorts(t *testing.T) {
	peers := []Peer{
		{Name: "n1", IP: netip.MustParseAddr("10.0.0.1")},
		{Name: "n2", IP: netip.MustParseAddr("10.0.0.2")},
		{Name: "n3", IP: netip.MustParseAddr("10.0.0.3")},
	}
	args := NodeArgs("n2", peers, "/var/lib/etcd", "squall-run-1")
	for _, want := range []string{
		"--name=n2",
		"--data-dir=/var/lib/etcd",
		"--listen-client-urls=http://0.0.0.0:2379",
		"--advertise-client-urls=http://10.0.0.2:2379",
		"--listen-peer-urls=http://0.0.0.0:2380",
		"--initial-advertise-peer-urls=http://10.0.0.2:2380",
		"--initial-cluster=n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380",
		"--initial-cluster-state=new",
		"--initial-cluster-token=squall-run-1",
		"--heartbeat-interval=100",
		"--election-timeout=1000",
		"--log-outputs=stderr",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("NodeArgs lacks %q; got %q", want, args)
		}
	}
}

func TestNodeArgsBracketIPv6Addresses(t *testing.T) {
	args := NodeArgs("a", []Peer{{Name: "a", IP: netip.MustParseAddr("fd00::1")}}, "/d", "t")
	if want := "--advertise-client-urls=http://[fd00::1]:2379"; !slices.Contains(args, want) {
		t.Errorf("NodeArgs lacks %q; got %q", want, args)
	}
}
