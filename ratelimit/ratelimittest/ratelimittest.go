// Package ratelimittest is the conformance suite for ratelimit.Limiter
// implementations.
//
// Every implementation runs it from its tests with a function that builds a
// fresh limiter for a limit:
//
//	func TestConformance(t *testing.T) {
//		ratelimittest.Run(t, func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter {
//			return mylimiter.New(l)
//		})
//	}
//
// It checks that Limit returns the configured limit; that a fresh key is
// allowed exactly Burst requests at once and then refused, with a
// RetryAfter of one token's interval less the time since its first request
// (fractional rates too); that keys, binary and long ones included, have
// buckets of their own; that after waiting RetryAfter exactly one more
// request is allowed; that a caller polling for 300 ms gets the burst plus
// every token that came back, no more, no fewer; that concurrent callers
// on one key never get more than Burst + elapsed × Rate; and that an ended
// ctx gives an error wrapping ratelimit.ErrUnavailable, not a decision.
//
// The suite runs on real time, since a limiter backed by a server (Redis)
// takes its clock from there: it uses rates from 0.5 to 50 per second and
// takes about 0.7 s. Where the outcome of a check depends on how long the
// calls took, the suite measures that time around the calls, asserts only
// what must hold wherever the limiter's clock fell inside it, and tries
// again with a fresh limiter when the machine was too slow to tell.
package ratelimittest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
)

// tolerance covers clock resolution (Redis's TIME counts microseconds) and
// rounding in the limiter's arithmetic.
const tolerance = 2 * time.Millisecond

// attempts is how often a check that depends on timing is tried, each time
// with a fresh limiter, before the suite gives up on a slow machine.
const attempts = 5

// Run runs the conformance suite, each part with t.Run, against limiters
// from newLimiter, which must return a limiter that gives every key the
// bucket l and holds no state yet (a fresh key prefix, for a shared store);
// cleanup belongs in t.Cleanup. The subtests run one after another, since
// their timing checks need the machine's attention.
func Run(t *testing.T, newLimiter func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter) {
	t.Helper()
	if newLimiter == nil {
		t.Fatal("ratelimittest: Run needs newLimiter")
	}

	t.Run("Limit", func(t *testing.T) {
		for _, l := range []ratelimit.Limit{
			{Rate: 20, Burst: 5},
			{Rate: 0.5, Burst: 2},
			{Rate: 2.5, Burst: 1},
			{Rate: 1000, Burst: 100},
		} {
			if got := newLimiter(t, l).Limit(); got != l {
				t.Errorf("Limit() = %+v, want %+v", got, l)
			}
		}
	})

	t.Run("BurstThenRefused", func(t *testing.T) {
		for _, l := range []ratelimit.Limit{
			{Rate: 10, Burst: 5},
			{Rate: 20, Burst: 10},
			{Rate: 0.5, Burst: 2}, // one token per 2 s
			{Rate: 2.5, Burst: 1}, // one token per 400 ms
		} {
			t.Run(fmt.Sprintf("%g/s,burst%d", l.Rate, l.Burst), func(t *testing.T) {
				timed(t, func(try int) bool {
					lim := newLimiter(t, l)
					return drain(t, lim, fmt.Sprintf("key-%d", try), l) != nil
				})
			})
		}
	})

	t.Run("KeysIndependent", func(t *testing.T) {
		l := ratelimit.Limit{Rate: 2, Burst: 3}
		keys := []string{
			"a", "b", "A", "a\x00", "", "user-1\x00device-1", "\xff{}:*?[]",
			strings.Repeat("k", 1024),
		}
		timed(t, func(int) bool {
			lim := newLimiter(t, l)
			start := time.Now()
			for _, key := range keys {
				if drain(t, lim, key, l) == nil {
					return false
				}
			}
			// The first key is still empty: draining the others took nothing
			// from it and gave nothing back.
			c := allow(t, lim, "a")
			if c.recv.Sub(start) >= interval(l)-tolerance {
				return false
			}
			if c.res.Allowed {
				t.Errorf("key %q allowed again after draining other keys", "a")
			}
			return true
		})
	})

	t.Run("Refill", func(t *testing.T) {
		l := ratelimit.Limit{Rate: 20, Burst: 5}
		timed(t, func(try int) bool {
			lim := newLimiter(t, l)
			key := fmt.Sprintf("refill-%d", try)
			refused := drain(t, lim, key, l)
			if refused == nil {
				return false
			}
			ra := refused.res.RetryAfter

			// Halfway there: still refused.
			time.Sleep(ra / 2)
			c := allow(t, lim, key)
			if c.recv.Sub(refused.sent) >= ra-tolerance {
				return false
			}
			if c.res.Allowed {
				t.Errorf("allowed %v after a refusal with RetryAfter %v", c.recv.Sub(refused.sent), ra)
			}

			// After RetryAfter: exactly one more.
			time.Sleep(time.Until(refused.recv.Add(ra)))
			c = allow(t, lim, key)
			if !c.res.Allowed {
				t.Fatalf("refused %v after a refusal with RetryAfter %v (RetryAfter now %v)",
					c.sent.Sub(refused.recv), ra, c.res.RetryAfter)
			}
			c = allow(t, lim, key)
			if c.recv.Sub(refused.sent) >= ra+interval(l)-tolerance {
				return false
			}
			if c.res.Allowed {
				t.Errorf("two requests allowed one RetryAfter (%v) after a refusal", ra)
			} else if c.res.RetryAfter <= 0 || c.res.RetryAfter > interval(l)+tolerance {
				t.Errorf("RetryAfter = %v after taking the one token that came back, want (0, %v]",
					c.res.RetryAfter, interval(l))
			}
			return true
		})
	})

	t.Run("SustainedRate", func(t *testing.T) {
		// One caller polling every 2 ms for 300 ms, and then until it is
		// refused, gets the burst plus every token that has come back: no
		// more, and, since the refusal shows that none was left, no fewer.
		l := ratelimit.Limit{Rate: 50, Burst: 5}
		timed(t, func(try int) bool {
			lim := newLimiter(t, l)
			key := fmt.Sprintf("sustained-%d", try)
			var first, prev call
			var full time.Time // the earliest the bucket can be full again
			allowed := 0
			for i := 0; ; i++ {
				c := allow(t, lim, key)
				if i == 0 {
					first = c
				} else if !full.After(c.recv.Add(tolerance)) {
					// The bucket may have filled up while this caller was
					// away, and tokens beyond the burst are lost.
					return false
				}
				prev = c
				if c.res.Allowed {
					// A token taken: the bucket is full one interval after
					// the later of then and when it would have been.
					allowed++
					full = later(full, c.sent).Add(interval(l))
				} else {
					// Less than one token left.
					full = later(full, c.sent.Add(time.Duration(l.Burst-1)*interval(l)))
					if c.recv.Sub(first.sent) >= 300*time.Millisecond {
						break
					}
				}
				if c.recv.Sub(first.sent) >= time.Second {
					t.Fatalf("%d of %d requests allowed over %v, with a burst of %d at %g/s",
						allowed, i+1, c.recv.Sub(first.sent), l.Burst, l.Rate)
				}
				time.Sleep(2 * time.Millisecond)
			}
			hi := l.Burst + tokens(l, prev.recv.Sub(first.sent)+tolerance)
			lo := l.Burst + tokens(l, prev.sent.Sub(first.recv)-tolerance)
			if allowed > hi || allowed < lo {
				t.Errorf("%d requests allowed over %v, want %d to %d (burst %d + %g/s)",
					allowed, prev.recv.Sub(first.sent), lo, hi, l.Burst, l.Rate)
			}
			return true
		})
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Many callers on one key never get more than Burst + elapsed × Rate.
		l := ratelimit.Limit{Rate: 50, Burst: 10}
		lim := newLimiter(t, l)
		const workers = 8
		var (
			allowed, refused atomic.Int64
			failed           atomic.Bool
			wg               sync.WaitGroup
		)
		start := make(chan struct{})
		t0 := time.Now()
		stop := t0.Add(300 * time.Millisecond)
		for range workers {
			wg.Go(func() {
				<-start
				for time.Now().Before(stop) && !failed.Load() {
					res, err := lim.Allow(context.Background(), "concurrent")
					switch {
					case err != nil:
						if !failed.Swap(true) {
							t.Errorf("Allow = %v", err)
						}
					case res.Allowed:
						allowed.Add(1)
					default:
						refused.Add(1)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		elapsed := time.Since(t0)
		n, total := int(allowed.Load()), int(allowed.Load()+refused.Load())
		// The first Burst requests are allowed, however slow.
		if lo, hi := min(l.Burst, total), l.Burst+tokens(l, elapsed+tolerance); n > hi || n < lo {
			t.Errorf("%d of %d concurrent requests allowed over %v, want %d to %d (burst %d + %g/s)",
				n, total, elapsed, lo, hi, l.Burst, l.Rate)
		}
		t.Logf("%d of %d requests allowed over %v", n, total, elapsed.Round(time.Millisecond))
	})

	t.Run("CancelledContext", func(t *testing.T) {
		lim := newLimiter(t, ratelimit.Limit{Rate: 10, Burst: 5})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := lim.Allow(ctx, "cancelled")
		if !errors.Is(err, ratelimit.ErrUnavailable) {
			t.Errorf("Allow with a cancelled ctx = %+v, %v; want an error wrapping ErrUnavailable", res, err)
		}
		if res.Allowed {
			t.Errorf("Allow with a cancelled ctx allowed the request")
		}
	})

	t.Run("ExpiredDeadline", func(t *testing.T) {
		lim := newLimiter(t, ratelimit.Limit{Rate: 10, Burst: 5})
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		res, err := lim.Allow(ctx, "expired")
		if !errors.Is(err, ratelimit.ErrUnavailable) {
			t.Errorf("Allow past its deadline = %+v, %v; want an error wrapping ErrUnavailable", res, err)
		}
		if res.Allowed {
			t.Errorf("Allow past its deadline allowed the request")
		}
	})
}

// call is one Allow and the local times around it: the limiter decided
// somewhere between sent and recv.
type call struct {
	res        ratelimit.Result
	sent, recv time.Time
}

func allow(t *testing.T, lim ratelimit.Limiter, key string) call {
	t.Helper()
	sent := time.Now()
	res, err := lim.Allow(context.Background(), key)
	recv := time.Now()
	if err != nil {
		t.Fatalf("Allow(%q) = %v", key, err)
	}
	return call{res: res, sent: sent, recv: recv}
}

// drain takes a fresh key's burst and checks the refusal that follows. It
// returns that refusal, or nil when the calls took so long that a token may
// have come back meanwhile, which proves nothing.
func drain(t *testing.T, lim ratelimit.Limiter, key string, l ratelimit.Limit) *call {
	t.Helper()
	var first call
	for i := range l.Burst {
		// The first Burst requests are allowed however long they take.
		c := allow(t, lim, key)
		if i == 0 {
			first = c
		}
		if !c.res.Allowed {
			t.Fatalf("key %q: request %d of a burst of %d refused (RetryAfter %v)", key, i+1, l.Burst, c.res.RetryAfter)
		}
	}
	c := allow(t, lim, key)
	// The burst's first token comes back one interval after the first
	// request was decided, which was after first.sent.
	elapsed := c.recv.Sub(first.sent)
	if elapsed >= interval(l)-tolerance {
		return nil
	}
	if c.res.Allowed {
		t.Fatalf("key %q: request %d allowed, %v after the first, with a burst of %d at %g/s",
			key, l.Burst+1, elapsed, l.Burst, l.Rate)
	}
	// RetryAfter is the interval less the time since the first request.
	ra := c.res.RetryAfter
	if lo, hi := interval(l)-elapsed-tolerance, interval(l)+tolerance; ra <= 0 || ra < lo || ra > hi {
		t.Errorf("key %q: RetryAfter = %v after a burst of %d at %g/s, %v after the first request; want about %v",
			key, ra, l.Burst, l.Rate, elapsed, interval(l))
	}
	return &c
}

// timed runs check, which reports false when the machine was too slow for
// its timing to prove anything, up to attempts times.
func timed(t *testing.T, check func(try int) bool) {
	t.Helper()
	for try := range attempts {
		if check(try) || t.Failed() {
			return
		}
		t.Logf("attempt %d was too slow to judge; trying again", try+1)
	}
	t.Fatalf("every one of %d attempts was too slow to judge the limiter", attempts)
}

// interval is the time one token takes to come back under l.
func interval(l ratelimit.Limit) time.Duration {
	return time.Duration(float64(time.Second) / l.Rate)
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// tokens is the number of whole tokens that come back under l in d.
func tokens(l ratelimit.Limit, d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Floor(d.Seconds() * l.Rate))
}
