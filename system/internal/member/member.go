// Package member holds what every squall system's nodes share about the
// cluster they belong to: the peer list and its checks, the Raft ids it
// gives, a pool of client connections to the members, and the planted-bug
// catalog entry.
package member

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// Peer names a cluster member.
type Peer struct {
	Name string
	Addr string
}

// RaftIDs numbers the peers 1..n in name order, the same on every node
// (and, for a node of several Raft groups, in every group).
func RaftIDs(peers []Peer) map[string]uint64 {
	names := make([]string, len(peers))
	for i, p := range peers {
		names[i] = p.Name
	}
	slices.Sort(names)
	ids := make(map[string]uint64, len(names))
	for i, n := range names {
		ids[n] = uint64(i + 1)
	}
	return ids
}

// Validate checks a peer list and that name is in it.
func Validate(name string, peers []Peer) error {
	if len(peers) == 0 {
		return errors.New("no peers")
	}
	seenName := map[string]bool{}
	seenAddr := map[string]bool{}
	for _, p := range peers {
		if p.Name == "" || p.Addr == "" {
			return fmt.Errorf("peer %q=%q: want NAME=HOST:PORT", p.Name, p.Addr)
		}
		if _, _, err := net.SplitHostPort(p.Addr); err != nil {
			return fmt.Errorf("peer %s: address %q: %v", p.Name, p.Addr, err)
		}
		if seenName[p.Name] {
			return fmt.Errorf("duplicate peer id %q", p.Name)
		}
		if seenAddr[p.Addr] {
			return fmt.Errorf("duplicate peer address %q", p.Addr)
		}
		seenName[p.Name], seenAddr[p.Addr] = true, true
	}
	if !seenName[name] {
		return fmt.Errorf("id %q is not one of the peers (%s)", name, peerNames(peers))
	}
	return nil
}

func peerNames(peers []Peer) string {
	names := make([]string, len(peers))
	for i, p := range peers {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// PlantedBug describes a bug by the name `squall node --bug` takes.
type PlantedBug struct {
	Name string
	// Description says in one line what the node does wrong and which
	// family of faults reveals it.
	Description string
}

// UnknownBug is the error for a bug name that is none of a system's bugs:
// it names it and lists them.
func UnknownBug(system, name string, bugs []PlantedBug) error {
	names := make([]string, len(bugs))
	for i, bug := range bugs {
		names[i] = bug.Name
	}
	return fmt.Errorf("%q is not a planted bug of %s (want %s)", name, system, strings.Join(names, ", "))
}
