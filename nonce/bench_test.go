package nonce_test

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
	"github.com/ratatoskr-proto/ratatoskr/nonce/internal/noncebench"
)

// BenchmarkMemoryRecord records distinct nonces from 64 goroutines with a real clock and a 10 ms
// TTL, so that expiry runs all along, as in a server at steady state.
func BenchmarkMemoryRecord(b *testing.B) {
	m := nonce.NewMemory(nil)
	noncebench.Parallel(b, func(ctx context.Context, n []byte) error {
		return m.Record(ctx, noncebench.Scope, n, 10*time.Millisecond)
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
		if err := m.Record(ctx, noncebench.Scope, n, time.Hour); err != nil {
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
