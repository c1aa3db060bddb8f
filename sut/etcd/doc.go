// Package etcd is etcd, a system squall did not write, as a system under
// test (System; see docs/systems.md): its node image, the server's command
// line for a member of a static cluster (NodeArgs), a client store with one
// method per workload operation (Store) and the workloads' clients over it,
// the error taxonomy that says which failures are definite (Definite), and
// probes for the harness (Leader, Serving).
//
// The server binary itself is built from the nested module in server/,
// which keeps etcd's dependency pins out of squall's go.mod; this package
// only speaks to etcd through go.etcd.io/etcd/client/v3.
//
// Values are int64s stored as decimal strings, so that a person reading the
// cluster with etcdctl sees what the history says; lists for the
// list-append workload are stored as JSON arrays for the same reason.
//
// A Store's composite operations (CAS, Transfer, Txn) are each one etcd
// transaction at commit: a bank transfer or a list-append transaction reads
// at one revision, then commits a transaction guarded by the ModRevision of
// every key it read. A guard that fails means another client wrote in
// between, and nothing was written: that is a definite failure, never a
// lost update.
package etcd
