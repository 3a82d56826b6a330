package nonce_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
	"github.com/ratatoskr-proto/ratatoskr/nonce/internal/noncebench"
)

// BenchmarkMemoryRecord records distinct nonces from 64 goroutines with a real clock and a 10 ms
// TTL, so that expiry runs all along, as in a server at steady state. Its one scope stands for
// every device, so its share is raised out of reach, but still counted.
func BenchmarkMemoryRecord(b *testing.B) {
	m := nonce.NewMemory(&nonce.MemoryOptions{MaxPerScope: 1 << 19})
	noncebench.Parallel(b, func(ctx context.Context, n []byte) error {
		return m.Record(ctx, noncebench.Scope, n, 10*time.Millisecond)
	})
}

// BenchmarkMemoryBytesPerNonce fills one store with b.N live nonces of one scope and reports the
// heap they take, per nonce. The scope's share is counted, and b.N fits in it.
func BenchmarkMemoryBytesPerNonce(b *testing.B) {
	now := time.Now()
	m := nonce.NewMemory(&nonce.MemoryOptions{Capacity: 2 * b.N, MaxPerScope: b.N, Now: func() time.Time { return now }})
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

// BenchmarkMemoryBytesPerNonceScopes is BenchmarkMemoryBytesPerNonce with the nonces spread over
// many scopes, each holding perScope: with few nonces per scope, most of them open a scope count
// of their own in their shard.
func BenchmarkMemoryBytesPerNonceScopes(b *testing.B) {
	for _, perScope := range []int{1, 100} {
		b.Run(fmt.Sprint("PerScope=", perScope), func(b *testing.B) {
			now := time.Now()
			// The share is counted but never reached.
			m := nonce.NewMemory(&nonce.MemoryOptions{Capacity: 2 * b.N, MaxPerScope: 4*perScope + 1024, Now: func() time.Time { return now }})
			scopes := make([]string, (b.N+perScope-1)/perScope)
			for i := range scopes {
				scopes[i] = fmt.Sprintf("%d:user-%ddevice", len(fmt.Sprint("user-", i)), i)
			}
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
				if err := m.Record(ctx, scopes[i/perScope], n, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := heap()
			if m.Len() != b.N {
				b.Fatalf("Len = %d, want %d", m.Len(), b.N)
			}
			b.ReportMetric(float64(int64(after)-int64(before))/float64(b.N), "B/nonce")
			runtime.KeepAlive(scopes)
		})
	}
}
