package redisrate_test

import (
	"context"
	"errors"
	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit/ratelimittest"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit/redisrate"
)

func TestConformanceMiniredis(t *testing.T) {
	_, c := redistest.Miniredis(t)
	ratelimittest.Run(t, func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
		return redisrate.New(c, l, &redisrate.Options{Prefix: redistest.UniquePrefix(t)})
	})
}

func TestConformanceReal(t *testing.T) {
	c := redistest.Real(t)
	ratelimittest.Run(t, func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
		prefix := redistest.UniquePrefix(t)
		t.Cleanup(func() { redistest.DeletePrefix(t, c, "rate:"+prefix) })
		return redisrate.New(c, l, &redisrate.Options{Prefix: prefix})
	})
}

func TestSetClock(t *testing.T) {
	// miniredis's TIME answers a time the test sets, so the script's
	// arithmetic can be checked to the microsecond. Each call first moves
	// the clock on by 1 µs, as a real Redis's does between two runs of a
	// script: with a clock that stands still, redis_rate's floating-point
	// arithmetic (seconds since 2017 in a float64, 60-120 ns apart) can
	// refuse the last token of a burst taken within one microsecond.
	mr, c := redistest.Miniredis(t)
	now := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)
	mr.SetTime(now)
	advance := func(d time.Duration) { now = now.Add(d); mr.SetTime(now) }
	ctx := context.Background()
	check := func(t *testing.T, lim *redisrate.Limiter, key string, allowed bool, retryAfter time.Duration) {
		t.Helper()
		advance(time.Microsecond)
		res, err := lim.Allow(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if d := res.RetryAfter - retryAfter; res.Allowed != allowed || d < -10*time.Microsecond || d > 10*time.Microsecond {
			t.Fatalf("Allow(%q) = %+v, want {Allowed:%v RetryAfter:%v} (±10µs)", key, res, allowed, retryAfter)
		}
	}

	t.Run("Burst", func(t *testing.T) {
		lim := redisrate.New(c, ratelimit.Limit{Rate: 10, Burst: 3}, nil)
		for range 3 {
			check(t, lim, "burst", true, 0)
		}
		check(t, lim, "burst", false, 100*time.Millisecond)
		advance(40 * time.Millisecond)
		check(t, lim, "burst", false, 60*time.Millisecond)
		advance(60 * time.Millisecond)
		check(t, lim, "burst", true, 0)
		check(t, lim, "burst", false, 100*time.Millisecond)
		advance(time.Hour) // a full bucket holds Burst, however long the quiet
		for range 3 {
			check(t, lim, "burst", true, 0)
		}
		check(t, lim, "burst", false, 100*time.Millisecond)
	})

	t.Run("FractionalRate", func(t *testing.T) {
		// 0.5/s: one token per 2 s.
		lim := redisrate.New(c, ratelimit.Limit{Rate: 0.5, Burst: 1}, nil)
		check(t, lim, "half", true, 0)
		check(t, lim, "half", false, 2*time.Second)
		advance(1500 * time.Millisecond)
		check(t, lim, "half", false, 500*time.Millisecond)
		advance(500 * time.Millisecond)
		check(t, lim, "half", true, 0)
		check(t, lim, "half", false, 2*time.Second)

		// 2.5/s: one token per 400 ms.
		lim = redisrate.New(c, ratelimit.Limit{Rate: 2.5, Burst: 2}, nil)
		check(t, lim, "2.5", true, 0)
		check(t, lim, "2.5", true, 0)
		check(t, lim, "2.5", false, 400*time.Millisecond)
		advance(400 * time.Millisecond)
		check(t, lim, "2.5", true, 0)
		check(t, lim, "2.5", false, 400*time.Millisecond)
	})

	t.Run("RetryAfterNeverZero", func(t *testing.T) {
		// A refusal a few nanoseconds before the token is back still
		// reports a wait, rounded up to Redis's microsecond.
		lim := redisrate.New(c, ratelimit.Limit{Rate: 1, Burst: 1}, nil)
		check(t, lim, "edge", true, 0)
		advance(time.Second - 3*time.Microsecond)
		res, err := lim.Allow(ctx, "edge") // 2 µs early
		if err != nil || res.Allowed || res.RetryAfter <= 0 || res.RetryAfter%time.Microsecond != 0 {
			t.Fatalf("Allow 2µs early = %+v, %v; want refused with a whole number of µs", res, err)
		}
	})
}

func TestKeyLayout(t *testing.T) {
	mr, c := redistest.Miniredis(t)
	ctx := context.Background()
	for _, tc := range []struct {
		opts *redisrate.Options
		key  string
		want string
	}{
		{nil, "user-1\x00device-1", "rate:ratatoskr:rate:user-1\x00device-1"},
		{&redisrate.Options{Prefix: "myapp:"}, "k", "rate:myapp:k"},
	} {
		mr.FlushAll()
		lim := redisrate.New(c, ratelimit.Limit{Rate: 10, Burst: 5}, tc.opts)
		if _, err := lim.Allow(ctx, tc.key); err != nil {
			t.Fatal(err)
		}
		keys := mr.Keys()
		if len(keys) != 1 || keys[0] != tc.want {
			t.Fatalf("keys = %q, want [%q]", keys, tc.want)
		}
		// The bucket is full again after Burst/Rate = 500 ms less one
		// token's 100 ms; the script rounds its TTL up to a second.
		if ttl := mr.TTL(tc.want); ttl != time.Second {
			t.Errorf("TTL = %v, want 1s", ttl)
		}
	}
}

func TestOptionsNotMutated(t *testing.T) {
	_, c := redistest.Miniredis(t)
	opts := &redisrate.Options{}
	redisrate.New(c, ratelimit.Limit{Rate: 1, Burst: 1}, opts)
	if *opts != (redisrate.Options{}) {
		t.Errorf("New changed its options to %+v", *opts)
	}
}

func TestNewPanics(t *testing.T) {
	_, c := redistest.Miniredis(t)
	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		limit  ratelimit.Limit
	}{
		{"NilClient", nil, ratelimit.Limit{Rate: 1, Burst: 1}},
		{"ZeroLimit", c, ratelimit.Limit{}},
		{"ZeroBurst", c, ratelimit.Limit{Rate: 1}},
		{"RateTooSmall", c, ratelimit.Limit{Rate: 1e-11, Burst: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r, _ := recover().(string); len(r) < 11 || r[:11] != "redisrate: " {
					t.Errorf("New panicked with %q, want a message starting \"redisrate: \"", r)
				}
			}()
			redisrate.New(tc.client, tc.limit, nil)
		})
	}
}

func TestOutage(t *testing.T) {
	mr, c := redistest.Miniredis(t)
	addr := mr.Addr()
	lim := redisrate.New(c, ratelimit.Limit{Rate: 10, Burst: 5}, &redisrate.Options{Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	if res, err := lim.Allow(ctx, "k"); err != nil || !res.Allowed {
		t.Fatalf("Allow = %+v, %v", res, err)
	}

	// Redis goes away: every Allow, also concurrent ones, fails closed.
	mr.Close()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			res, err := lim.Allow(ctx, "k")
			if !errors.Is(err, ratelimit.ErrUnavailable) || res.Allowed {
				t.Errorf("Allow with Redis down = %+v, %v; want ErrUnavailable", res, err)
			}
		})
	}
	wg.Wait()
	_, err := lim.Allow(ctx, "k")
	t.Logf("Redis down: %v", err)

	// Back on the same address: the limiter recovers on its own, through
	// the same client (the new server has not seen the script yet).
	mr2 := miniredis.NewMiniRedis()
	if err := mr2.StartAddr(addr); err != nil {
		t.Fatalf("restarting miniredis on %s: %v", addr, err)
	}
	t.Cleanup(mr2.Close)
	for i := range 6 {
		res, err := lim.Allow(ctx, "k")
		if err != nil || res.Allowed != (i < 5) {
			t.Fatalf("Allow %d after Redis returned = %+v, %v", i, res, err)
		}
	}
}

func TestSilentServer(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: redistest.Silent(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	lim := redisrate.New(c, ratelimit.Limit{Rate: 10, Burst: 5}, &redisrate.Options{Timeout: 50 * time.Millisecond})

	start := time.Now()
	res, err := lim.Allow(context.Background(), "k")
	elapsed := time.Since(start)
	if !errors.Is(err, ratelimit.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || res.Allowed {
		t.Errorf("Allow against a silent server = %+v, %v; want ErrUnavailable wrapping DeadlineExceeded", res, err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("Allow took %v, want about 50ms", elapsed)
	}
	t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
}
