// Package raftpb holds the protobuf messages and gRPC service of the Raft
// transport. The generated files are committed so that a build needs no
// protoc; after editing raft.proto, regenerate them with go generate (which
// needs protoc, protoc-gen-go and protoc-gen-go-grpc on PATH).
package raftpb

//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative --go-grpc_out=../../.. --go-grpc_opt=paths=source_relative system/raft/raftpb/raft.proto
