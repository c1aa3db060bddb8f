package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClaim(t *testing.T) {
	id := Identity{Cluster: "c1", Node: "n1", Peers: []string{"n2", "n1", "n3"}, System: "kv"}
	dir := filepath.Join(t.TempDir(), "data")
	if err := Claim(dir, id); err != nil {
		t.Fatalf("claim new dir: %v", err)
	}
	if err := Claim(dir, id); err != nil {
		t.Fatalf("reclaim own dir: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Identity)
		want   string
	}{
		{"other node", func(i *Identity) { i.Node = "n2" }, `belongs to node "n1", not "n2"`},
		{"other cluster", func(i *Identity) { i.Cluster = "c2" }, `belongs to cluster "c1", not "c2"`},
		{"other peers", func(i *Identity) { i.Peers = []string{"n1", "n2"} }, "was created for peers [n1 n2 n3], not [n1 n2]"},
		{"other system", func(i *Identity) { i.System = "percolator" }, "belongs to a kv node, not percolator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := id
			tc.change(&other)
			err := Claim(dir, other)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("got %v, want an error naming %s and %q", err, dir, tc.want)
			}
		})
	}
}

func TestClaimRefusesForeignOrCorruptDirectory(t *testing.T) {
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "something"), []byte("x"), 0o644)
	err := Claim(foreign, Identity{Cluster: "c", Node: "n1", System: "kv"})
	if err == nil || !strings.Contains(err.Error(), "not empty and has no identity.json") {
		t.Fatalf("foreign dir: got %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(foreign, IdentityFile)); statErr == nil {
		t.Fatalf("claim wrote an identity into a foreign directory")
	}

	corrupt := t.TempDir()
	os.WriteFile(filepath.Join(corrupt, IdentityFile), []byte("{not json"), 0o644)
	err = Claim(corrupt, Identity{Cluster: "c", Node: "n1", System: "kv"})
	if err == nil || !strings.Contains(err.Error(), "corrupt identity.json") {
		t.Fatalf("corrupt identity: got %v", err)
	}
}
