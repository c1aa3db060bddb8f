package runtime

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// subnetPool is where run networks take their /24s from: a corner of
// 10/8 that Docker's default pools (172.17/16.., 192.168/16) do not use.
var subnetPool = netip.MustParsePrefix("10.213.0.0/16")

// runNetwork is a run's private bridge network.
type runNetwork struct {
	ID      string
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr // the host's address on the bridge: the controller's
}

// nodeAddr is the fixed address of the i'th node (0-based): .11, .12, ...
func (n runNetwork) nodeAddr(i int) netip.Addr {
	a := n.Subnet.Addr().As4()
	a[3] = byte(11 + i)
	return netip.AddrFrom4(a)
}

// createNetwork creates run's network on a /24 of subnetPool that overlaps
// neither another Docker network nor an address of this host. Concurrent
// runs may pick the same subnet; the engine refuses the second, which then
// tries the next one.
func createNetwork(ctx context.Context, docker client.APIClient, run string) (runNetwork, error) {
	taken, err := takenPrefixes(ctx, docker)
	if err != nil {
		return runNetwork{}, err
	}
	name := "squall-" + run
	h := fnv.New32a()
	h.Write([]byte(run))
	first := int(h.Sum32() % 256)
	for i := range 256 {
		subnet := poolSubnet((first + i) % 256)
		if overlapsAny(subnet, taken) {
			continue
		}
		gateway := subnet.Addr().Next()
		res, err := docker.NetworkCreate(ctx, name, client.NetworkCreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gateway}}},
			Labels: runLabels(run),
		})
		if err != nil && strings.Contains(err.Error(), "overlaps") {
			continue
		}
		if err != nil {
			return runNetwork{}, fmt.Errorf("create network %s on %s: %w", name, subnet, err)
		}
		return runNetwork{ID: res.ID, Name: name, Subnet: subnet, Gateway: gateway}, nil
	}
	return runNetwork{}, fmt.Errorf("create network %s: every /24 of %s overlaps a Docker network or a host address; "+
		"`squall clean` removes the networks of earlier runs", name, subnetPool)
}

func poolSubnet(i int) netip.Prefix {
	a := subnetPool.Addr().As4()
	a[2] = byte(i)
	return netip.PrefixFrom(netip.AddrFrom4(a), 24)
}

// takenPrefixes lists the IPv4 prefixes of Docker's networks and of this
// host's interfaces.
func takenPrefixes(ctx context.Context, docker client.APIClient) ([]netip.Prefix, error) {
	nets, err := docker.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list docker networks: %w", err)
	}
	var taken []netip.Prefix
	for _, n := range nets.Items {
		for _, c := range n.IPAM.Config {
			if c.Subnet.IsValid() {
				taken = append(taken, c.Subnet)
			}
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			taken = append(taken, p.Masked())
		}
	}
	return taken, nil
}

func overlapsAny(p netip.Prefix, others []netip.Prefix) bool {
	for _, o := range others {
		if p.Overlaps(o) {
			return true
		}
	}
	return false
}
