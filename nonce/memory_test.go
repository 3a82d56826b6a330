package nonce_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
	"github.com/ratatoskr-proto/ratatoskr/nonce/noncetest"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryConformance(t *testing.T) {
	for _, tc := range []struct {
		name        string
		shards      int
		maxPerScope int
	}{
		{"DefaultShards", 0, 0},
		{"OneShard", 1, 0},
		{"SmallShare", 1, 1000}, // the suite records at most 512 nonces in one scope
		{"NoShare", 0, -1},
	} {
		clock := newFakeClock()
		t.Run(tc.name, func(t *testing.T) {
			noncetest.Run(t, noncetest.Harness{
				New: func(t *testing.T) nonce.Store {
					return nonce.NewMemory(&nonce.MemoryOptions{Shards: tc.shards, MaxPerScope: tc.maxPerScope, Now: clock.Now})
				},
				Advance: func(t *testing.T, d time.Duration) { clock.Advance(d) },
			})
		})
	}
}

func TestMemoryRealClock(t *testing.T) {
	m := nonce.NewMemory(nil)
	ctx := context.Background()
	n := []byte("real-clock-nonce")
	if err := m.Record(ctx, "s", n, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(ctx, "s", n, 20*time.Millisecond); !errors.Is(err, nonce.ErrReplay) {
		t.Fatalf("immediate replay = %v, want ErrReplay", err)
	}
	time.Sleep(40 * time.Millisecond)
	if err := m.Record(ctx, "s", n, 20*time.Millisecond); err != nil {
		t.Fatalf("after expiry = %v, want nil", err)
	}
}

func TestMemoryOptionsNotMutated(t *testing.T) {
	opts := &nonce.MemoryOptions{Shards: 3, Capacity: 100}
	nonce.NewMemory(opts)
	if opts.Shards != 3 || opts.Capacity != 100 || opts.MaxPerScope != 0 || opts.Now != nil {
		t.Errorf("NewMemory changed its options to %+v", *opts)
	}
}

// nonceN returns a 16-byte nonce for i.
func nonceN(i int) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(i))
	binary.BigEndian.PutUint64(b[8:], ^uint64(i))
	return b
}

func TestMemoryCapacity(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shards   int
		capacity int
	}{
		{"OneShard", 1, 1000},
		{"ManyShards", 64, 64 * 300},
		{"UnevenSplit", 8, 8*300 + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One scope fills the whole store: the per-scope share is off.
			clock := newFakeClock()
			m := nonce.NewMemory(&nonce.MemoryOptions{Shards: tc.shards, Capacity: tc.capacity, MaxPerScope: -1, Now: clock.Now})
			ctx := context.Background()
			const ttl = time.Minute

			// Fill until the store refuses; with several shards the first refusal comes when one
			// shard is full, a little before Capacity.
			var accepted [][]byte
			full := 0
			for i := 0; full == 0 || i < 2*tc.capacity; i++ {
				n := nonceN(i)
				err := m.Record(ctx, "scope", n, ttl)
				switch {
				case err == nil:
					accepted = append(accepted, n)
				case errors.Is(err, nonce.ErrUnavailable):
					full++
					if err.Error() != "nonce: store unavailable: memory store full" {
						t.Fatalf("full store error = %q", err)
					}
				default:
					t.Fatalf("Record %d = %v", i, err)
				}
			}
			if len(accepted) > tc.capacity {
				t.Fatalf("accepted %d nonces, more than Capacity %d", len(accepted), tc.capacity)
			}
			if len(accepted) < tc.capacity*9/10 {
				t.Fatalf("accepted only %d nonces of Capacity %d", len(accepted), tc.capacity)
			}
			if got := m.Len(); got != len(accepted) {
				t.Errorf("Len = %d, want %d", got, len(accepted))
			}

			// Nothing was evicted: every accepted nonce is still a replay, the earliest first.
			for i, n := range accepted {
				if err := m.Record(ctx, "scope", n, ttl); !errors.Is(err, nonce.ErrReplay) {
					t.Fatalf("replay of accepted nonce %d while full = %v, want ErrReplay", i, err)
				}
			}

			// Once they expire, the room comes back.
			clock.Advance(ttl)
			for i := range len(accepted) / 2 {
				if err := m.Record(ctx, "scope", nonceN(10*tc.capacity+i), ttl); err != nil {
					t.Fatalf("Record %d after expiry = %v, want nil", i, err)
				}
			}
			if err := m.Record(ctx, "scope", accepted[0], ttl); err != nil {
				t.Fatalf("expired nonce recorded again = %v, want nil", err)
			}
		})
	}
}

func TestMemoryCapacityMixedTTL(t *testing.T) {
	// More distinct TTLs than a shard has lanes: expiry order is lost, and a full shard must
	// find the expired entries by scanning.
	clock := newFakeClock()
	m := nonce.NewMemory(&nonce.MemoryOptions{Shards: 1, Capacity: 600, MaxPerScope: -1, Now: clock.Now})
	ctx := context.Background()
	ttls := []time.Duration{9 * time.Minute, time.Second, 8 * time.Minute, 2 * time.Second, 7 * time.Minute, 3 * time.Second}
	for i := range 600 {
		if err := m.Record(ctx, "s", nonceN(i), ttls[i%len(ttls)]); err != nil {
			t.Fatalf("Record %d = %v", i, err)
		}
	}
	if err := m.Record(ctx, "s", nonceN(600), time.Second); !errors.Is(err, nonce.ErrUnavailable) {
		t.Fatalf("Record into a full store = %v, want ErrUnavailable", err)
	}
	clock.Advance(5 * time.Second) // the 300 short-lived nonces expire
	for i := range 300 {
		if err := m.Record(ctx, "s", nonceN(1000+i), time.Hour); err != nil {
			t.Fatalf("Record %d after the short ones expired = %v", i, err)
		}
	}
	if err := m.Record(ctx, "s", nonceN(2000), time.Second); !errors.Is(err, nonce.ErrUnavailable) {
		t.Fatalf("Record into a full store = %v, want ErrUnavailable", err)
	}
	for i := range 600 {
		err := m.Record(ctx, "s", nonceN(i), time.Second)
		short := ttls[i%len(ttls)] < time.Minute
		if short && !errors.Is(err, nonce.ErrUnavailable) || !short && !errors.Is(err, nonce.ErrReplay) {
			t.Fatalf("nonce %d (ttl %v) = %v", i, ttls[i%len(ttls)], err)
		}
	}
}

func TestMemoryHugeTTL(t *testing.T) {
	clock := newFakeClock()
	m := nonce.NewMemory(&nonce.MemoryOptions{Now: clock.Now})
	ctx := context.Background()
	if err := m.Record(ctx, "s", nonceN(1), math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	clock.Advance(100 * 365 * 24 * time.Hour)
	if err := m.Record(ctx, "s", nonceN(1), time.Second); !errors.Is(err, nonce.ErrReplay) {
		t.Fatalf("Record after a century = %v, want ErrReplay", err)
	}
}

func TestMemoryClockBackwards(t *testing.T) {
	// A clock that steps back may reorder expiry; it must still never accept a live nonce.
	clock := newFakeClock()
	m := nonce.NewMemory(&nonce.MemoryOptions{Shards: 1, Capacity: 1 << 14, Now: clock.Now})
	ctx := context.Background()
	for i := range 100 {
		if err := m.Record(ctx, "s", nonceN(i), time.Minute); err != nil {
			t.Fatal(err)
		}
		clock.Advance(-time.Second)
	}
	for i := range 100 {
		if err := m.Record(ctx, "s", nonceN(i), time.Minute); !errors.Is(err, nonce.ErrReplay) {
			t.Fatalf("nonce %d = %v, want ErrReplay", i, err)
		}
	}
	// Now nonce 0, recorded first at the latest instant, is the only one still live.
	clock.Advance(100*time.Second + 59*time.Second)
	if err := m.Record(ctx, "s", nonceN(0), time.Minute); !errors.Is(err, nonce.ErrReplay) {
		t.Fatalf("nonce 0 = %v, want ErrReplay", err)
	}
	for i := 1; i < 100; i++ {
		if err := m.Record(ctx, "s", nonceN(i), time.Minute); err != nil {
			t.Fatalf("expired nonce %d = %v, want nil", i, err)
		}
	}
}

func TestMemoryReleasesMemory(t *testing.T) {
	clock := newFakeClock()
	m := nonce.NewMemory(&nonce.MemoryOptions{Now: clock.Now})
	ctx := context.Background()
	const burst = 200_000
	// 1,000 devices, so that the per-scope counts must be given back too.
	scopes := make([]string, 1000)
	for i := range scopes {
		scopes[i] = fmt.Sprintf("user-%d\x00device", i)
	}

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range burst {
		if err := m.Record(ctx, scopes[i%len(scopes)], nonceN(i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != burst {
		t.Fatalf("Len after burst = %d, want %d", got, burst)
	}
	peak := heap()

	clock.Advance(time.Minute)
	if got := m.Len(); got != 0 {
		t.Fatalf("Len after expiry = %d, want 0", got)
	}
	after := heap()
	t.Logf("heap: before %d, at peak %+d, after expiry %+d bytes", before, int64(peak-before), int64(after)-int64(before))
	if grown := int64(after) - int64(before); grown > int64(peak-before)/8 {
		t.Errorf("heap after expiry is %d bytes above the start, peak was %d: memory not released", grown, peak-before)
	}

	// The store still works, from a small footprint.
	if err := m.Record(ctx, "s", nonceN(0), time.Minute); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(m)
}

func TestMemorySteadyState(t *testing.T) {
	// A steady rate keeps about rate × ttl entries, however long it runs.
	clock := newFakeClock()
	m := nonce.NewMemory(&nonce.MemoryOptions{Now: clock.Now})
	ctx := context.Background()
	const ttl = time.Second
	for i := range 100_000 {
		if err := m.Record(ctx, "s", nonceN(i), ttl); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond) // 1000/s × 1 s ≈ 1000 live
	}
	if got := m.Len(); got < 900 || got > 1100 {
		t.Errorf("Len = %d, want about 1000", got)
	}
}

func TestMemoryConcurrentWithExpiry(t *testing.T) {
	// Run under -race: records, expiry, Len and rebuilds interleaving, over 16 scopes that each
	// stay under their share of 4,096 even if the clock never moved.
	clock := newFakeClock()
	m := nonce.NewMemory(&nonce.MemoryOptions{Shards: 4, Capacity: 1 << 16, Now: clock.Now})
	ctx := context.Background()
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5000 {
				i := int(seq.Add(1))
				if err := m.Record(ctx, fmt.Sprint("s", i%16), nonceN(i), 10*time.Millisecond); err != nil {
					t.Errorf("Record %d = %v", i, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			clock.Advance(time.Millisecond)
			m.Len()
		}
	})
	wg.Wait()
}
