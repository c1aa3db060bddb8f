package etcd

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The ports every member uses inside its own container; members differ by
// IP address, not by port.
const (
	ClientPort = 2379
	PeerPort   = 2380
)

// testToken is the --initial-cluster-token of the tests' clusters. A run's
// cluster takes one from the run's name (System.NodeArgs): etcd mixes it
// into the cluster and member IDs, so members of two clusters that happen
// to share addresses (runs reuse subnets) cannot join each other.
const testToken = "squall-etcd-test"

// Peer is one member of the cluster as the harness knows it.
type Peer struct {
	Name string
	IP   netip.Addr
}

// NodeArgs is the etcd command line, without the program name, for member
// name of the static cluster peers (every member, name included), keeping
// its data in dataDir, with the --initial-cluster-token token. Each member
// listens on every interface at ClientPort and PeerPort and advertises its
// own IP.
//
// The same arguments serve a first start and a restart: once dataDir holds
// a member directory, etcd ignores the --initial-cluster* flags and rejoins
// with the membership it stored, so a killed member is restarted with
// exactly the command that started it.
//
// A name missing from peers is not checked here: etcd refuses to start and
// says that --initial-cluster has no entry for it.
func NodeArgs(name string, peers []Peer, dataDir, token string) []string {
	members := make([]member, len(peers))
	for i, p := range peers {
		members[i] = member{
			name:   p.Name,
			client: netip.AddrPortFrom(p.IP, ClientPort),
			peer:   netip.AddrPortFrom(p.IP, PeerPort),
		}
	}
	return memberArgs(name, members, netip.IPv4Unspecified(), dataDir, token, defaultTiming)
}

// member is where one member serves clients and peers. In containers every
// member has its own IP and the standard ports; the tests run members as
// local processes on 127.0.0.1, so they differ by port instead.
type member struct {
	name         string
	client, peer netip.AddrPort
}

// timing is raft's clock: a follower that hears nothing from the leader for
// election starts an election.
type timing struct {
	heartbeatMillis, electionMillis int
}

// defaultTiming is etcd's own default. It suits containers on one host: a
// leader that a nemesis kills or partitions is replaced within a couple of
// seconds, and a follower does not call spurious elections on a short stall.
var defaultTiming = timing{heartbeatMillis: 100, electionMillis: 1000}

// memberArgs is the command line for member name of members, listening on
// listen (at the member's own ports).
func memberArgs(name string, members []member, listen netip.Addr, dataDir, token string, t timing) []string {
	var self member
	initial := make([]string, len(members))
	for i, m := range members {
		if m.name == name {
			self = m
		}
		initial[i] = m.name + "=" + httpURL(m.peer)
	}
	return []string{
		"--name=" + name,
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + httpURL(netip.AddrPortFrom(listen, self.client.Port())),
		"--advertise-client-urls=" + httpURL(self.client),
		"--listen-peer-urls=" + httpURL(netip.AddrPortFrom(listen, self.peer.Port())),
		"--initial-advertise-peer-urls=" + httpURL(self.peer),
		"--initial-cluster=" + strings.Join(initial, ","),
		"--initial-cluster-state=new",
		"--initial-cluster-token=" + token,
		"--heartbeat-interval=" + strconv.Itoa(t.heartbeatMillis),
		"--election-timeout=" + strconv.Itoa(t.electionMillis),
		// The harness captures each member's stderr; info level keeps the
		// elections, snapshots and peer connection changes a failed run
		// is debugged with, without per-request noise.
		"--logger=zap",
		"--log-outputs=stderr",
		"--log-level=info",
	}
}

func httpURL(a netip.AddrPort) string {
	return fmt.Sprintf("http://%s", a)
}
