// Package percolatorpb holds the Percolator service's protobuf messages and
// gRPC stubs, generated from percolator.proto and committed so that
// building needs no protoc.
package percolatorpb

//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative --go-grpc_out=../../.. --go-grpc_opt=paths=source_relative system/percolator/percolatorpb/percolator.proto
