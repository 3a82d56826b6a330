// Package noncebench drives the replay stores' benchmarks: the same load,
// fresh 16-byte keys, from one goroutine or about 64, for every store.
package noncebench

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
)

// Scope is the device scope the benchmarks record under.
const Scope = "user-1234567\x00device-89abcdef"

// Parallel records a fresh 16-byte key per op from about 64 goroutines,
// whatever GOMAXPROCS is, and reports ops/s.
func Parallel(b *testing.B, record func(ctx context.Context, key []byte) error) {
	p := runtime.GOMAXPROCS(0)
	var goroutines atomic.Uint64
	b.SetParallelism((64 + p - 1) / p)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := make([]byte, 16)
		binary.BigEndian.PutUint64(n[8:], goroutines.Add(1))
		ctx := context.Background()
		for i := uint64(0); pb.Next(); i++ {
			binary.BigEndian.PutUint64(n, i)
			if err := record(ctx, n); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// Serial records from one goroutine: the latency of a lone call.
func Serial(b *testing.B, record func(ctx context.Context, key []byte) error) {
	b.ReportAllocs()
	n := make([]byte, 16)
	ctx := context.Background()
	var i uint64
	for b.Loop() {
		binary.BigEndian.PutUint64(n, i)
		i++
		if err := record(ctx, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
