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
//     (garbage-read), and reads that disagree with the txn's own earlier
//     reads and appends (internal);
//   - reports reads of failed txns' appends (G1a), of a txn's non-final
//     append to a key (G1b), and committed txns that read the same
//     version of a key and both appended to it (lost-update);
//   - builds the dependency graph: ww (T2 appended the element after
//     T1's), wr (T2 read a list ending in T1's append), rw (T1 read a
//     list that T2's append came right after), and, when the model needs
//     it, real time (T1 completed before T2 was invoked);
//   - finds its strongly connected components and searches each for the
//     shortest cycle of each kind: G0, G1c, G-single, G2-item and their
//     real-time variants.
//
// A txn that ended info may or may not have committed: its appends take
// part once a read saw them, its reads tell nothing. A failed txn took no
// effect. The verdict is against one consistency model (Options.Model);
// the result's details also name the weakest models the history
// violates ("not") and the stronger ones that rules out ("also_not").
// Every anomaly names its txns by event index and explains itself the way
// one would check it by hand.
//
// Use it as a checker.Checker:
//
//	c := elle.NewChecker(elle.Options{Model: "snapshot-isolation", Timeout: time.Minute})
//	res := c.Check(ctx, h)
package elle
