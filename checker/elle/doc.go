// Package elle checks list-append transaction histories for isolation
// anomalies, following Elle (Kingsbury and Alvaro, "Elle: Inferring
// Isolation Anomalies from Experimental Observations", VLDB 2020).
//
// A list-append transaction is an operation with f "txn" whose value is a
// list of micro-ops:
//
//	["append", "k3", 7]    append 7 to the list at k3
//	["r", "k3", [1, 7]]    read the list at k3 (null on invoke, and for
//	                       an empty or absent key)
//
// Each element is appended to its key once, so a read tells which
// appends came before it and in what order. The checker
//
//   - takes each key's version order from its longest committed read, and
//     reports reads that are not prefixes of it (incompatible-order),
//     elements read twice (duplicate-elements) or never appended
//     (garbage-read);
//   - checks each txn's reads against what it did before them: a read
//     must end with the txn's own earlier appends to its key (else
//     internal), must not hold an element the txn appends only later
//     (future-read), and, re-reading a key, sees what the txn's earlier
//     read saw (seeing more is non-repeatable-read, which read committed
//     allows; seeing less, internal);
//   - reports reads of failed txns' appends (G1a), of a txn's non-final
//     append to a key (G1b), and committed txns that read the same
//     version of a key and both appended to it (lost-update);
//   - builds the dependency graph: ww (T2 appended the element after
//     T1's), wr (T2 read a list ending in T1's append), rw (T1 read a
//     list that T2's append came right after), each read counted by the
//     part of it other txns committed, and, when the model needs it, real
//     time (T1 completed before T2 was invoked);
//   - finds its strongly connected components and searches each for the
//     shortest cycle of each kind: G0, G1c, G-single (one rw edge),
//     G-nonadjacent (rw edges never two in a row, which snapshot isolation
//     forbids), G2-item (two rw edges in a row, which it allows) and their
//     real-time variants.
//
// A txn that ended info may or may not have committed: its appends take
// part once a read saw them, its reads tell nothing. A failed txn took no
// effect. The verdict is against one consistency model (Options.Model);
// the result's details also name the weakest models the history
// violates ("not") and the stronger ones that rules out ("also_not").
// Every anomaly names its txns by event index and explains itself the way
// one would check it by hand, naming the txns T1, T2, ... in the order they
// were invoked. Its value may be a list of micro-ops ([]any, as recorded
// or decoded by encoding/json) or a history.Txn (as history.ReadFile
// decodes it).
//
// Use it as a checker.Checker:
//
//	c := elle.NewChecker(elle.Options{Model: "snapshot-isolation", Timeout: time.Minute})
//	res := c.Check(ctx, h)
package elle
