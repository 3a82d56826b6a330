package nonce_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
)

// shardShare mirrors the store's per-shard share: ⌈maxPerScope/shards × 5/4⌉ + 8.
func shardShare(maxPerScope, shards int) int {
	return (5*maxPerScope+4*shards-1)/(4*shards) + 8
}

func TestErrScopeFull(t *testing.T) {
	if !errors.Is(nonce.ErrScopeFull, nonce.ErrUnavailable) {
		t.Error("ErrScopeFull does not wrap ErrUnavailable: callers would not fail closed")
	}
	if errors.Is(nonce.ErrScopeFull, nonce.ErrReplay) {
		t.Error("ErrScopeFull wraps ErrReplay")
	}
	if errors.Is(nonce.ErrUnavailable, nonce.ErrScopeFull) {
		t.Error("every ErrUnavailable is an ErrScopeFull")
	}
}

func TestMemoryScopeShare(t *testing.T) {
	// One scope floods: it is refused at about its share, while another scope recording all
	// along is never refused, and replays are still reported as replays.
	for _, tc := range []struct {
		name                        string
		shards, capacity, maxPer    int // options
		wantShards, wantMaxPerScope int // what the store makes of them
	}{
		{"OneShard", 1, 10_000, 96, 1, 96},
		{"ManyShards", 16, 1 << 16, 4096, 16, 4096},
		{"Defaults", 0, 0, 0, 64, 65_536},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			m := nonce.NewMemory(&nonce.MemoryOptions{Shards: tc.shards, Capacity: tc.capacity, MaxPerScope: tc.maxPer, Now: clock.Now})
			ctx := context.Background()
			const ttl = time.Minute
			const flood, other = "2:u1flooder", "2:u1other"
			share := tc.wantMaxPerScope
			most := tc.wantShards * shardShare(share, tc.wantShards) // no scope ever holds more

			accepted, firstRefusal, others := 0, -1, 0
			for i := range 3 * share {
				err := m.Record(ctx, flood, nonceN(i), ttl)
				switch {
				case err == nil:
					accepted++
				case errors.Is(err, nonce.ErrScopeFull) && errors.Is(err, nonce.ErrUnavailable):
					if firstRefusal < 0 {
						firstRefusal = accepted
					}
				default:
					t.Fatalf("flooding Record %d = %v, want nil or ErrScopeFull", i, err)
				}
				// The other scope stays under its share (3/4 of it) and is never refused.
				if i%4 == 0 {
					if err := m.Record(ctx, other, nonceN(i), ttl); err != nil {
						t.Fatalf("other scope's Record %d, with %d flooding nonces held = %v, want nil", i, accepted, err)
					}
					others++
				}
			}
			t.Logf("share %d: first refused holding %d, held %d at most (bound %d)", share, firstRefusal, accepted, most)
			if firstRefusal < 0 {
				t.Fatalf("%d nonces of one scope accepted, never refused", accepted)
			}
			if firstRefusal < share*9/10 {
				t.Errorf("scope first refused holding %d nonces, well below its share %d", firstRefusal, share)
			}
			if accepted < share || accepted > most {
				t.Errorf("flooding scope holds %d nonces, want between its share %d and %d", accepted, share, most)
			}
			if got, want := m.Len(), accepted+others; got != want {
				t.Errorf("Len = %d, want %d", got, want)
			}

			// Over its share, the flooding scope's live nonces are still replays, checked first.
			for _, i := range []int{0, 1, 2} {
				if err := m.Record(ctx, flood, nonceN(i), ttl); !errors.Is(err, nonce.ErrReplay) {
					t.Errorf("replay of flooding nonce %d = %v, want ErrReplay", i, err)
				}
			}
			if err := m.Record(ctx, other, nonceN(0), ttl); !errors.Is(err, nonce.ErrReplay) {
				t.Errorf("replay of the other scope's nonce = %v, want ErrReplay", err)
			}
			// A scope that never recorded anything is accepted, with the very same nonce bytes.
			if err := m.Record(ctx, "2:u2third", nonceN(1), ttl); err != nil {
				t.Errorf("a third scope = %v, want nil", err)
			}
		})
	}
}

func TestMemoryScopeShareFrees(t *testing.T) {
	// The share comes back as the scope's nonces expire: swept (and the shard's maps rebuilt)
	// or reclaimed.
	const ttl = time.Minute
	ctx := context.Background()
	const scope = "2:u1d1"

	// fill records fresh nonces from next on until the scope is refused, and returns how many
	// were accepted.
	fill := func(t *testing.T, m *nonce.Memory, next *int, ttl time.Duration) int {
		t.Helper()
		for accepted := 0; ; accepted++ {
			err := m.Record(ctx, scope, nonceN(*next), ttl)
			*next++
			if errors.Is(err, nonce.ErrScopeFull) {
				return accepted
			}
			if err != nil {
				t.Fatalf("Record = %v, want nil or ErrScopeFull", err)
			}
			if accepted > 1<<20 {
				t.Fatal("scope never refused")
			}
		}
	}

	t.Run("Swept", func(t *testing.T) {
		clock := newFakeClock()
		m := nonce.NewMemory(&nonce.MemoryOptions{Shards: 1, Capacity: 10_000, MaxPerScope: 1000, Now: clock.Now})
		share := shardShare(1000, 1) // 1258 in the one shard

		next := 0
		for range 1000 {
			if err := m.Record(ctx, scope, nonceN(next), ttl); err != nil {
				t.Fatal(err)
			}
			next++
		}
		clock.Advance(ttl / 2)
		if got := fill(t, m, &next, ttl); got != share-1000 {
			t.Fatalf("accepted %d more, want %d", got, share-1000)
		}

		// The first 1000 expire; the shard falls below a quarter of its peak and is rebuilt.
		clock.Advance(ttl / 2)
		if got := m.Len(); got != share-1000 {
			t.Fatalf("Len = %d, want %d", got, share-1000)
		}
		if got := fill(t, m, &next, ttl); got != 1000 {
			t.Fatalf("after 1000 nonces expired, accepted %d more, want 1000", got)
		}
		if err := m.Record(ctx, scope, nonceN(1001), ttl); !errors.Is(err, nonce.ErrReplay) {
			t.Fatalf("live nonce 1001 = %v, want ErrReplay", err)
		}

		clock.Advance(ttl / 2)
		if got := fill(t, m, &next, ttl); got != share-1000 {
			t.Fatalf("after %d nonces expired, accepted %d more, want %d", share-1000, got, share-1000)
		}
	})

	t.Run("ManyShards", func(t *testing.T) {
		clock := newFakeClock()
		m := nonce.NewMemory(&nonce.MemoryOptions{Shards: 16, Capacity: 1 << 16, MaxPerScope: 4096, Now: clock.Now})
		next := 0
		first := fill(t, m, &next, ttl)
		if first < 4096*9/10 {
			t.Fatalf("first refused holding %d, want about 4096", first)
		}
		clock.Advance(ttl)
		if got := fill(t, m, &next, ttl); got < 4096*9/10 {
			t.Fatalf("after expiry, first refused holding %d, want about 4096 again (%d before)", got, first)
		}
	})

	t.Run("Reclaimed", func(t *testing.T) {
		// Six TTLs in four lanes: the 7-minute nonces share the 8-minute lane, out of order,
		// so once expired they can only be found by reclaim's scan.
		clock := newFakeClock()
		m := nonce.NewMemory(&nonce.MemoryOptions{Shards: 1, Capacity: 10_000, MaxPerScope: 96, Now: clock.Now})
		share := shardShare(96, 1) // 128
		ttls := []time.Duration{9 * time.Minute, time.Second, 8 * time.Minute, 2 * time.Second, 7 * time.Minute, 3 * time.Second}
		expired := 0
		for i := range share {
			if err := m.Record(ctx, scope, nonceN(i), ttls[i%len(ttls)]); err != nil {
				t.Fatalf("Record %d = %v", i, err)
			}
			if ttls[i%len(ttls)] < 8*time.Minute {
				expired++
			}
		}
		next := share
		if got := fill(t, m, &next, 9*time.Minute); got != 0 {
			t.Fatalf("accepted %d over the share", got)
		}
		clock.Advance(7*time.Minute + 30*time.Second)
		if got := fill(t, m, &next, 9*time.Minute); got != expired {
			t.Fatalf("after %d nonces expired, accepted %d more, want %d", expired, got, expired)
		}
		for i := range share {
			if ttls[i%len(ttls)] < 8*time.Minute {
				continue
			}
			if err := m.Record(ctx, scope, nonceN(i), time.Minute); !errors.Is(err, nonce.ErrReplay) {
				t.Fatalf("live nonce %d = %v, want ErrReplay", i, err)
			}
		}
	})
}

func TestMemoryScopeShareRecordedAgain(t *testing.T) {
	// A nonce recorded again after it expired, before any sweep found it, is overwritten in
	// place: its scope still holds it once, not twice.
	clock := newFakeClock()
	m := nonce.NewMemory(&nonce.MemoryOptions{Shards: 1, Capacity: 10_000, MaxPerScope: 96, Now: clock.Now})
	ctx := context.Background()
	share := shardShare(96, 1) // 128
	// As in Reclaimed: the 7-minute nonces share the 8-minute lane and are not swept.
	ttls := []time.Duration{9 * time.Minute, time.Second, 8 * time.Minute, 2 * time.Second, 7 * time.Minute, 3 * time.Second}
	held := 0
	for i := range share {
		if err := m.Record(ctx, "s", nonceN(i), ttls[i%len(ttls)]); err != nil {
			t.Fatalf("Record %d = %v", i, err)
		}
		if ttls[i%len(ttls)] > 3*time.Second {
			held++
		}
	}
	clock.Advance(7*time.Minute + 30*time.Second)
	for i := 4; i < share; i += len(ttls) { // the 7-minute ones, expired
		if err := m.Record(ctx, "s", nonceN(i), 9*time.Minute); err != nil {
			t.Fatalf("expired nonce %d recorded again = %v, want nil", i, err)
		}
	}
	for i := range share - held {
		if err := m.Record(ctx, "s", nonceN(1000+i), 9*time.Minute); err != nil {
			t.Fatalf("Record %d of %d under the share = %v, want nil", i, share-held, err)
		}
	}
	if err := m.Record(ctx, "s", nonceN(2000), 9*time.Minute); !errors.Is(err, nonce.ErrScopeFull) {
		t.Fatalf("Record over the share = %v, want ErrScopeFull", err)
	}
}

func TestMemoryScopeShareOptions(t *testing.T) {
	// One scope fills a one-shard store of 1,000: how many it may hold, and how it is refused.
	for _, tc := range []struct {
		name        string
		maxPerScope int
		want        int
		wantErr     error
	}{
		{"Default", 0, shardShare(1000/16, 1), nonce.ErrScopeFull},
		{"Set", 200, shardShare(200, 1), nonce.ErrScopeFull},
		{"Off", -1, 1000, nonce.ErrUnavailable},
		{"AboveCapacity", 5000, 1000, nonce.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := nonce.NewMemory(&nonce.MemoryOptions{Shards: 1, Capacity: 1000, MaxPerScope: tc.maxPerScope})
			ctx := context.Background()
			for i := range tc.want {
				if err := m.Record(ctx, "s", nonceN(i), time.Minute); err != nil {
					t.Fatalf("Record %d = %v, want nil", i, err)
				}
			}
			err := m.Record(ctx, "s", nonceN(tc.want), time.Minute)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Record %d = %v, want %v", tc.want, err, tc.wantErr)
			}
			if full := errors.Is(err, nonce.ErrScopeFull); full != (tc.wantErr == nonce.ErrScopeFull) {
				t.Fatalf("Record %d = %v: ErrScopeFull is %v", tc.want, err, full)
			}
			if err := m.Record(ctx, "other", nonceN(0), time.Minute); tc.wantErr == nonce.ErrScopeFull && err != nil {
				t.Fatalf("another scope = %v, want nil", err)
			}
		})
	}
}

func TestMemoryScopeShareConcurrent(t *testing.T) {
	// Run under -race: flooders, well-behaved scopes and Len interleave; the flooding scope's
	// count must come out exact, before and after expiry.
	clock := newFakeClock()
	const shards, maxPer = 4, 2048
	m := nonce.NewMemory(&nonce.MemoryOptions{Shards: shards, Capacity: 1 << 16, MaxPerScope: maxPer, Now: clock.Now})
	ctx := context.Background()
	const ttl = time.Minute
	most := shards * shardShare(maxPer, shards)
	var seq atomic.Int64

	round := func() int {
		var accepted atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 3000 {
					i := int(seq.Add(1))
					switch err := m.Record(ctx, "flood", nonceN(i), ttl); {
					case err == nil:
						accepted.Add(1)
					case !errors.Is(err, nonce.ErrScopeFull):
						t.Errorf("flooding Record %d = %v, want nil or ErrScopeFull", i, err)
						return
					}
				}
			})
		}
		for w := range 4 {
			wg.Go(func() {
				for range 1000 {
					i := int(seq.Add(1))
					if err := m.Record(ctx, fmt.Sprint("device-", w), nonceN(i), ttl); err != nil {
						t.Errorf("device %d: Record %d = %v, want nil", w, i, err)
						return
					}
				}
			})
		}
		stop := make(chan struct{})
		var lens sync.WaitGroup
		lens.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					m.Len()
				}
			}
		})
		wg.Wait()
		close(stop)
		lens.Wait()
		return int(accepted.Load())
	}

	for r := range 2 {
		got := round()
		if got < maxPer || got > most {
			t.Errorf("round %d: flooding scope holds %d, want between %d and %d", r, got, maxPer, most)
		}
		if want := got + 4*1000; m.Len() != want {
			t.Errorf("round %d: Len = %d, want %d", r, m.Len(), want)
		}
		clock.Advance(ttl)
	}
}
