// Package ratatoskrpb holds the Ratatoskr wire schema (ratatoskr.proto) and
// the Go code protoc-gen-go generates from it.
//
// The generated file is committed; regenerate it with `make proto` after
// editing the schema. Field numbers and enum values are part of the wire
// contract with every other implementation and must never change.
package ratatoskrpb

//go:generate make -C .. proto
