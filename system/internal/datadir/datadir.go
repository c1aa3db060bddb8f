// Package datadir claims a node's data directory for one node of one
// cluster, and refuses to start a node on a directory that belongs to
// another: reusing another node's log would silently break Raft's
// guarantees, so the mistake must fail loudly and name what differs.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// IdentityFile is the name of the claim inside a data directory.
const IdentityFile = "identity.json"

// Identity says whose a data directory is.
type Identity struct {
	Cluster string   `json:"cluster"`
	Node    string   `json:"node"`
	Peers   []string `json:"peers"`
	System  string   `json:"system"`
}

// Claim checks that dir belongs to want, or claims it if it is new (missing
// or empty). A directory with files but no identity is refused: it is not
// ours to take, or its identity was lost.
func Claim(dir string, want Identity) error {
	want.Peers = slices.Sorted(slices.Values(want.Peers))
	path := filepath.Join(dir, IdentityFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		var have Identity
		if err := json.Unmarshal(data, &have); err != nil {
			return fmt.Errorf("data directory %s: corrupt %s: %v", dir, IdentityFile, err)
		}
		return compare(dir, have, want)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data directory %s: read %s: %w", dir, IdentityFile, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("data directory %s is not empty and has no %s: not a squall node's directory, or its identity was lost; refusing to use it", dir, IdentityFile)
	}
	return write(dir, want)
}

func compare(dir string, have, want Identity) error {
	switch {
	case have.System != want.System:
		return fmt.Errorf("data directory %s belongs to a %s node, not %s", dir, have.System, want.System)
	case have.Cluster != want.Cluster:
		return fmt.Errorf("data directory %s belongs to cluster %q, not %q", dir, have.Cluster, want.Cluster)
	case have.Node != want.Node:
		return fmt.Errorf("data directory %s belongs to node %q, not %q", dir, have.Node, want.Node)
	case !slices.Equal(have.Peers, want.Peers):
		return fmt.Errorf("data directory %s was created for peers %v, not %v", dir, have.Peers, want.Peers)
	}
	return nil
}

// write stores the identity atomically: temp file, fsync, rename, fsync dir.
func write(dir string, id Identity) error {
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, IdentityFile+".tmp*")
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("data directory %s: write identity: %w", dir, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("data directory %s: sync identity: %w", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, IdentityFile)); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
