// Package kvpb holds the KV service's protobuf messages and gRPC stubs,
// generated from kv.proto and committed so that building needs no protoc.
package kvpb

// protoc runs from the module root so that each file registers under its
// path in the tree (system/kv/kvpb/kv.proto): protobuf's registry is
// global, and etcd's client, linked into the same binary, registers a
// kv.proto of its own.
//
//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative --go-grpc_out=../../.. --go-grpc_opt=paths=source_relative system/kv/kvpb/kv.proto
