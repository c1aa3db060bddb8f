package elle

import (
	"fmt"
	"slices"
)

// Model is a consistency model a history is checked against.
type Model uint8

const (
	ReadCommitted Model = iota + 1
	RepeatableRead
	SnapshotIsolation
	Serializable
	StrictSerializable
)

// models lists every model from weakest to strongest (a topological
// order of the strength lattice).
var models = []Model{ReadCommitted, RepeatableRead, SnapshotIsolation, Serializable, StrictSerializable}

var modelNames = map[Model]string{
	ReadCommitted:      "read-committed",
	RepeatableRead:     "repeatable-read",
	SnapshotIsolation:  "snapshot-isolation",
	Serializable:       "serializable",
	StrictSerializable: "strict-serializable",
}

func (m Model) String() string {
	if s, ok := modelNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Model(%d)", uint8(m))
}

// ParseModel reads a model's name, as given to --consistency.
func ParseModel(s string) (Model, error) {
	for _, m := range models {
		if modelNames[m] == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("consistency model %q: want read-committed, repeatable-read, snapshot-isolation, serializable or strict-serializable", s)
}

// weaker lists, for each model, the models directly below it: repeatable
// read and snapshot isolation are incomparable, both between read
// committed and serializable.
var weaker = map[Model][]Model{
	RepeatableRead:     {ReadCommitted},
	SnapshotIsolation:  {ReadCommitted},
	Serializable:       {RepeatableRead, SnapshotIsolation},
	StrictSerializable: {Serializable},
}

// The anomaly kinds the checker reports.
const (
	// Structural: no model allows them; they say the reads cannot come
	// from any sequence of appends.
	IncompatibleOrder = "incompatible-order" // two reads of a key, neither a prefix of the other
	DuplicateElements = "duplicate-elements" // a read holds an element twice
	GarbageRead       = "garbage-read"       // a read holds an element no transaction appended

	// Within one txn.
	Internal          = "internal"            // a read misses the txn's own earlier appends, or loses what it read before
	NonRepeatableRead = "non-repeatable-read" // a re-read of a key saw more committed appends than the txn's earlier read (Adya's fuzzy read)
	FutureRead        = "future-read"         // a read holds an element its own txn appends only later

	G1a        = "G1a"         // aborted read: a failed txn's append was read
	G1b        = "G1b"         // intermediate read: a txn's non-final append was read
	LostUpdate = "lost-update" // two committed txns read the same version of a key and both appended to it

	// Dependency cycles (Adya), found in the ww/wr/rw graph.
	G0           = "G0"            // ww edges only
	G1c          = "G1c"           // ww and wr edges, at least one wr
	GSingle      = "G-single"      // exactly one rw edge
	GNonadjacent = "G-nonadjacent" // two or more rw edges, no two of them adjacent
	G2Item       = "G2-item"       // two or more rw edges, two of them adjacent

	// The same cycles when they need a real-time edge: allowed by
	// serializability, forbidden by strict serializability.
	G0Realtime           = "G0-realtime"
	G1cRealtime          = "G1c-realtime"
	GSingleRealtime      = "G-single-realtime"
	GNonadjacentRealtime = "G-nonadjacent-realtime"
	G2ItemRealtime       = "G2-item-realtime"
)

// anomalyMeanings say in a few words what each anomaly a model may allow
// is, for a reader who sees it in a valid run's summary.
var anomalyMeanings = map[string]string{
	G2Item:               "write skew, two transactions each overwriting what the other read",
	GNonadjacent:         "a cycle of anti-dependencies, no two adjacent",
	GSingle:              "read skew, a transaction seeing part of another's writes",
	LostUpdate:           "two transactions appending to what both read",
	NonRepeatableRead:    "a re-read seeing newer committed appends",
	G0Realtime:           "a write cycle that needs the real-time order",
	G1cRealtime:          "a read-write cycle that needs the real-time order",
	GSingleRealtime:      "read skew that needs the real-time order",
	GNonadjacentRealtime: "an anti-dependency cycle that needs the real-time order",
	G2ItemRealtime:       "write skew that needs the real-time order",
}

// forbidden says which anomaly kinds each model rules out, following
// Adya (PL-2, PL-2.99, PL-SI, PL-3, PL-SS) and Elle:
//
//   - read committed forbids G0 and G1 (G1a, G1b, G1c), and future reads,
//     which are a cycle of one txn through its own wr edge (Elle counts
//     them as G1c); it allows a re-read to see newer committed appends.
//   - repeatable read also forbids every item anti-dependency cycle
//     (G-single, G-nonadjacent, G2-item), lost updates, and non-repeatable
//     reads.
//   - snapshot isolation forbids, beyond read committed, every cycle
//     whose rw edges are never two in a row (G-single and G-nonadjacent:
//     Fekete et al. 2005, Cerone and Gotsman 2016), lost updates (first
//     committer wins) and non-repeatable reads (one snapshot); it allows
//     cycles with two adjacent rw edges (G2-item: write skew, Fekete's
//     read-only anomaly).
//   - serializable forbids every cycle; strict serializable also those
//     that need the real-time order.
//
// A stronger model forbids everything a weaker one does.
var forbidden = func() map[Model]map[string]bool {
	set := func(kinds ...string) map[string]bool {
		m := make(map[string]bool, len(kinds))
		for _, k := range kinds {
			m[k] = true
		}
		return m
	}
	readCommitted := []string{IncompatibleOrder, DuplicateElements, Internal, GarbageRead, FutureRead, G0, G1a, G1b, G1c}
	repeatableRead := append(slices.Clone(readCommitted), GSingle, GNonadjacent, G2Item, LostUpdate, NonRepeatableRead)
	snapshot := append(slices.Clone(readCommitted), GSingle, GNonadjacent, LostUpdate, NonRepeatableRead)
	serializable := slices.Clone(repeatableRead)
	strict := append(slices.Clone(serializable), G0Realtime, G1cRealtime, GSingleRealtime, GNonadjacentRealtime, G2ItemRealtime)
	return map[Model]map[string]bool{
		ReadCommitted:      set(readCommitted...),
		RepeatableRead:     set(repeatableRead...),
		SnapshotIsolation:  set(snapshot...),
		Serializable:       set(serializable...),
		StrictSerializable: set(strict...),
	}
}()

// Forbids reports whether m rules out the anomaly kind.
func (m Model) Forbids(kind string) bool { return forbidden[m][kind] }

// needsRealtime reports whether m orders transactions by real time.
func (m Model) needsRealtime() bool { return m == StrictSerializable }

// violated splits the models the anomaly kinds rule out into the weakest
// ones (none of the models below them is ruled out) and the rest.
func violated(kinds []string) (weakest, stronger []string) {
	bad := make(map[Model]bool)
	for _, m := range models {
		for _, k := range kinds {
			if m.Forbids(k) {
				bad[m] = true
			}
		}
	}
	for _, m := range models {
		if !bad[m] {
			continue
		}
		minimal := true
		for _, w := range weaker[m] {
			minimal = minimal && !bad[w]
		}
		if minimal {
			weakest = append(weakest, m.String())
		} else {
			stronger = append(stronger, m.String())
		}
	}
	return weakest, stronger
}
