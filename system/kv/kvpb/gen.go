// Package kvpb holds the KV service's protobuf messages and gRPC stubs,
// generated from kv.proto and committed so that building needs no protoc.
package kvpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative kv.proto
