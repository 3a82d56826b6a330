package nonce_test

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
)

const benchScope = "user-1234567\x00device-89abcdef"

// benchParallelism makes RunParallel use about 64 goroutines, whatever GOMAXPROCS is.
func benchParallelism() int {
	p := runtime.GOMAXPROCS(0)
	return (64 + p - 1) / p
}

// runParallel records a fresh 16-byte nonce per op from about 64 goroutines and reports ops/s.
func runParallel(b *testing.B, record func(ctx context.Context, nonce []byte) error) {
	var goroutines atomic.Uint64
	b.SetParallelism(benchParallelism())
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

// BenchmarkMemoryRecord records distinct nonces from 64 goroutines with a real clock and a 10 ms
// TTL, so that expiry runs all along, as in a server at steady state.
func BenchmarkMemoryRecord(b *testing.B) {
	m := nonce.NewMemory(nil)
	runParallel(b, func(ctx context.Context, n []byte) error {
		return m.Record(ctx, benchScope, n, 10*time.Millisecond)
	})
}

// BenchmarkMemoryBytesPerNonce fills one store with b.N live nonces and reports the heap they
// take, per nonce.
func BenchmarkMemoryBytesPerNonce(b *testing.B) {
	now := time.Now()
	m := nonce.NewMemory(&nonce.MemoryOptions{Capacity: 2 * b.N, Now: func() time.Time { return now }})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	ctx := context.Background()
	n := make([]byte, 16)
	b.ReportAllocs()
	before := heap()
	b.ResetTimer()
	for i := range b.N {
		binary.BigEndian.PutUint64(n, uint64(i))
		if err := m.Record(ctx, benchScope, n, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := heap()
	if m.Len() != b.N {
		b.Fatalf("Len = %d, want %d", m.Len(), b.N)
	}
	b.ReportMetric(float64(int64(after)-int64(before))/float64(b.N), "B/nonce")
}
