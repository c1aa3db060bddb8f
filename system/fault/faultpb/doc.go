// Package faultpb holds the protobuf messages and gRPC service of a node's
// admin API, served by system/fault.AdminServer. The generated files are
// committed so that a build needs no protoc; after editing admin.proto,
// regenerate them with go generate (which needs protoc, protoc-gen-go and
// protoc-gen-go-grpc on PATH).
package faultpb

//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative --go-grpc_out=../../.. --go-grpc_opt=paths=source_relative system/fault/faultpb/admin.proto
