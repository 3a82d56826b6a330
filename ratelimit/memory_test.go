package ratelimit_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit/ratelimittest"
)

func TestMemoryConformance(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
		return ratelimit.NewMemory(l, nil)
	})
}

// clock is a fake clock for MemoryOptions.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryGCRA(t *testing.T) {
	// Each step advances the clock, then sends requests under one key and
	// expects the first allowed ones to be allowed and the rest refused with
	// the given RetryAfter.
	type step struct {
		advance    time.Duration
		requests   int
		allowed    int
		retryAfter time.Duration
	}
	for _, tc := range []struct {
		name  string
		limit ratelimit.Limit
		steps []step
	}{
		{"Burst", ratelimit.Limit{Rate: 10, Burst: 3}, []step{
			{0, 5, 3, 100 * time.Millisecond},
		}},
		{"Refill", ratelimit.Limit{Rate: 10, Burst: 3}, []step{
			{0, 4, 3, 100 * time.Millisecond},
			{99 * time.Millisecond, 1, 0, time.Millisecond},
			{time.Millisecond, 2, 1, 100 * time.Millisecond},
			{250 * time.Millisecond, 3, 2, 50 * time.Millisecond}, // 2.5 tokens back
			{50 * time.Millisecond, 2, 1, 100 * time.Millisecond},
		}},
		{"BurstCapsRefill", ratelimit.Limit{Rate: 10, Burst: 3}, []step{
			{0, 3, 3, 0},
			{time.Hour, 5, 3, 100 * time.Millisecond}, // an hour's quiet still gives only Burst
		}},
		{"RetryAfterFromFullBucket", ratelimit.Limit{Rate: 4, Burst: 2}, []step{
			{0, 2, 2, 0},
			{100 * time.Millisecond, 1, 0, 150 * time.Millisecond}, // the first token is back at 250 ms
			{150 * time.Millisecond, 1, 1, 0},
		}},
		{"FractionalRate", ratelimit.Limit{Rate: 0.5, Burst: 1}, []step{
			{0, 2, 1, 2 * time.Second},
			{1500 * time.Millisecond, 1, 0, 500 * time.Millisecond},
			{500 * time.Millisecond, 2, 1, 2 * time.Second},
		}},
		{"BurstOfOne", ratelimit.Limit{Rate: 1000, Burst: 1}, []step{
			{0, 2, 1, time.Millisecond},
			{time.Millisecond, 1, 1, 0},
			{500 * time.Microsecond, 1, 0, 500 * time.Microsecond},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			m := ratelimit.NewMemory(tc.limit, &ratelimit.MemoryOptions{Now: c.Now})
			ctx := context.Background()
			for i, s := range tc.steps {
				c.Add(s.advance)
				for r := range s.requests {
					res, err := m.Allow(ctx, "k")
					if err != nil {
						t.Fatal(err)
					}
					want := ratelimit.Result{Allowed: r < s.allowed}
					if !want.Allowed {
						want.RetryAfter = s.retryAfter
					}
					if res != want {
						t.Fatalf("step %d, request %d: Allow = %+v, want %+v", i, r, res, want)
					}
				}
			}
		})
	}
}

func TestMemoryKeysIndependent(t *testing.T) {
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.Limit{Rate: 1, Burst: 2}, &ratelimit.MemoryOptions{Now: c.Now})
	ctx := context.Background()
	for i := range 1000 {
		key := fmt.Sprintf("key-%d", i)
		for r := range 3 {
			res, err := m.Allow(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed != (r < 2) {
				t.Fatalf("%s request %d: Allow = %+v", key, r, res)
			}
		}
	}
}

func TestMemoryForgetsIdleKeys(t *testing.T) {
	c := newClock()
	// A token comes back every 100 ms; a full bucket takes 500 ms.
	m := ratelimit.NewMemory(ratelimit.Limit{Rate: 10, Burst: 5}, &ratelimit.MemoryOptions{Now: c.Now})
	ctx := context.Background()
	take := func(key string, n int) {
		t.Helper()
		for range n {
			if res, err := m.Allow(ctx, key); err != nil || !res.Allowed {
				t.Fatalf("Allow(%q) = %+v, %v", key, res, err)
			}
		}
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("Len of a new Memory = %d", n)
	}
	for i := range 100 {
		take(fmt.Sprintf("once-%d", i), 1) // full again in 100 ms
	}
	for i := range 10 {
		take(fmt.Sprintf("drained-%d", i), 5) // full again in 500 ms
	}
	if n := m.Len(); n != 110 {
		t.Fatalf("Len = %d, want 110", n)
	}
	c.Add(100 * time.Millisecond)
	if n := m.Len(); n != 10 {
		t.Fatalf("Len 100 ms later = %d, want 10 (the drained keys)", n)
	}
	c.Add(399 * time.Millisecond)
	if n := m.Len(); n != 10 {
		t.Fatalf("Len 499 ms later = %d, want 10", n)
	}
	c.Add(time.Millisecond)
	if n := m.Len(); n != 0 {
		t.Fatalf("Len 500 ms later = %d, want 0", n)
	}
	// A forgotten key starts again with a full bucket.
	take("drained-0", 5)

}

func TestNewMemoryInvalidLimit(t *testing.T) {
	for _, l := range []ratelimit.Limit{
		{},
		{Rate: 0, Burst: 1},
		{Rate: -1, Burst: 1},
		{Rate: math.NaN(), Burst: 1},
		{Rate: math.Inf(1), Burst: 1},
		{Rate: 1, Burst: 0},
		{Rate: 1, Burst: -1},
	} {
		t.Run(fmt.Sprintf("%+v", l), func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("NewMemory(%+v) did not panic", l)
				}
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "ratelimit: ") {
					t.Errorf("NewMemory(%+v) panicked with %#v, want a string starting \"ratelimit: \"", l, r)
				}
			}()
			ratelimit.NewMemory(l, nil)
		})
	}
}

func TestMemoryOptionsDefaults(t *testing.T) {
	// A nil Now is time.Now, as a nil *MemoryOptions is.
	for _, opts := range []*ratelimit.MemoryOptions{nil, {}} {
		m := ratelimit.NewMemory(ratelimit.Limit{Rate: 1, Burst: 1}, opts)
		if res, err := m.Allow(context.Background(), "k"); err != nil || !res.Allowed {
			t.Fatalf("first Allow = %+v, %v", res, err)
		}
		res, err := m.Allow(context.Background(), "k")
		if err != nil || res.Allowed || res.RetryAfter <= 900*time.Millisecond || res.RetryAfter > time.Second {
			t.Fatalf("second Allow = %+v, %v; want refused for about 1s", res, err)
		}
	}
}

// BenchmarkMemoryAllow calls Allow from GOMAXPROCS goroutines, on one key
// that every goroutine shares (one shard's lock), and on 4096 keys spread
// over the shards. Every request is allowed, and, as with devices that keep
// sending, no key is idle long enough to be forgotten and stored again.
func BenchmarkMemoryAllow(b *testing.B) {
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d\x00device-%d", i/4, i%4)
	}
	for _, bc := range []struct {
		name string
		keys []string
	}{
		{"OneKey", keys[:1]},
		{"4096Keys", keys},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := ratelimit.NewMemory(ratelimit.Limit{Rate: 1e6, Burst: 1e6}, nil) // a 1 s bucket
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := m.Allow(ctx, bc.keys[i%len(bc.keys)]); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
		})
	}
}
