package ratelimittest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit/ratelimittest"
)

// The suite must fail limiters that break the contract. Each broken limiter
// runs the subtests that should catch it in a child process (a failing
// suite cannot run inside a passing test), which must report exactly those
// failures.

// broken are limiters that each break one rule, built by wrapping Memory.
var broken = map[string]struct {
	newLimiter func(l ratelimit.Limit) ratelimit.Limiter
	catchers   []string // the subtests that must fail
}{
	"NeverRefuses": {
		func(l ratelimit.Limit) ratelimit.Limiter { return never{l} },
		[]string{"BurstThenRefused", "KeysIndependent", "Refill", "SustainedRate", "Concurrent"},
	},
	"DoubleRate": {
		func(l ratelimit.Limit) ratelimit.Limiter {
			return announce{ratelimit.NewMemory(ratelimit.Limit{Rate: 2 * l.Rate, Burst: l.Burst}, nil), l}
		},
		[]string{"BurstThenRefused", "SustainedRate"},
	},
	"HalfRate": {
		func(l ratelimit.Limit) ratelimit.Limiter {
			return announce{ratelimit.NewMemory(ratelimit.Limit{Rate: l.Rate / 2, Burst: l.Burst}, nil), l}
		},
		[]string{"Refill", "SustainedRate"},
	},
	"SmallBurst": {
		func(l ratelimit.Limit) ratelimit.Limiter {
			return announce{ratelimit.NewMemory(ratelimit.Limit{Rate: l.Rate, Burst: max(l.Burst-1, 1)}, nil), l}
		},
		[]string{"BurstThenRefused", "KeysIndependent", "Refill"},
	},
	"SharedBucket": {
		func(l ratelimit.Limit) ratelimit.Limiter { return oneKey{ratelimit.NewMemory(l, nil)} },
		[]string{"KeysIndependent"},
	},
	"NoRetryAfter": {
		func(l ratelimit.Limit) ratelimit.Limiter { return noRetry{ratelimit.NewMemory(l, nil)} },
		[]string{"BurstThenRefused"},
	},
	"WrongLimit": {
		func(l ratelimit.Limit) ratelimit.Limiter {
			return announce{ratelimit.NewMemory(l, nil), ratelimit.Limit{Rate: l.Rate, Burst: l.Burst + 1}}
		},
		[]string{"Limit"},
	},
	"IgnoresContext": {
		func(l ratelimit.Limit) ratelimit.Limiter { return noCtx{ratelimit.NewMemory(l, nil)} },
		[]string{"CancelledContext", "ExpiredDeadline"},
	},
	"NotAtomic": {
		func(l ratelimit.Limit) ratelimit.Limiter { return &racy{limit: l, next: map[string]time.Time{}} },
		[]string{"Concurrent"},
	},
}

const childEnv = "RATELIMITTEST_BROKEN"

func TestSuiteCatchesBrokenLimiters(t *testing.T) {
	if name := os.Getenv(childEnv); name != "" {
		b := broken[name]
		ratelimittest.Run(t, func(t *testing.T, l ratelimit.Limit) ratelimit.Limiter { return b.newLimiter(l) })
		return
	}
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for name, b := range broken {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesBrokenLimiters$/^("+strings.Join(b.catchers, "|")+")$", "-test.v", "-test.timeout=1m")
			cmd.Env = append(os.Environ(), childEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a limiter that is %s:\n%s", name, out)
			}
			for _, c := range b.catchers {
				if !strings.Contains(string(out), "--- FAIL: TestSuiteCatchesBrokenLimiters/"+c+" ") {
					t.Errorf("subtest %s did not catch a limiter that is %s:\n%s", c, name, out)
				}
			}
		})
	}
}

// never allows everything.
type never struct{ l ratelimit.Limit }

func (n never) Allow(ctx context.Context, _ string) (ratelimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Result{}, ratelimit.ErrUnavailable
	}
	return ratelimit.Result{Allowed: true}, nil
}
func (n never) Limit() ratelimit.Limit { return n.l }

// announce claims a limit other than the one it enforces.
type announce struct {
	*ratelimit.Memory
	l ratelimit.Limit
}

func (a announce) Limit() ratelimit.Limit { return a.l }

// oneKey puts every key in one bucket.
type oneKey struct{ *ratelimit.Memory }

func (o oneKey) Allow(ctx context.Context, _ string) (ratelimit.Result, error) {
	return o.Memory.Allow(ctx, "")
}

// noRetry never says when to retry.
type noRetry struct{ *ratelimit.Memory }

func (n noRetry) Allow(ctx context.Context, key string) (ratelimit.Result, error) {
	res, err := n.Memory.Allow(ctx, key)
	res.RetryAfter = 0
	return res, err
}

// noCtx decides even when ctx has ended.
type noCtx struct{ *ratelimit.Memory }

func (n noCtx) Allow(_ context.Context, key string) (ratelimit.Result, error) {
	return n.Memory.Allow(context.Background(), key)
}

// racy is GCRA that reads a key's state and writes it back under two
// different locks, as a read-then-write against a store would: concurrent
// callers take the same token.
type racy struct {
	limit ratelimit.Limit
	mu    sync.Mutex
	next  map[string]time.Time // when the bucket is full again
}

func (r *racy) Limit() ratelimit.Limit { return r.limit }

func (r *racy) Allow(ctx context.Context, key string) (ratelimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Result{}, ratelimit.ErrUnavailable
	}
	iv := time.Duration(float64(time.Second) / r.limit.Rate)
	now := time.Now()
	r.mu.Lock()
	tat := r.next[key]
	r.mu.Unlock()
	time.Sleep(50 * time.Microsecond) // the round trip between read and write
	if tat.Before(now) {
		tat = now
	}
	tat = tat.Add(iv)
	if over := tat.Sub(now) - iv*time.Duration(r.limit.Burst); over > 0 {
		return ratelimit.Result{RetryAfter: over}, nil
	}
	r.mu.Lock()
	r.next[key] = tat
	r.mu.Unlock()
	return ratelimit.Result{Allowed: true}, nil
}
