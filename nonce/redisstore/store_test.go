package redisstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
	"github.com/ratatoskr-proto/ratatoskr/nonce/noncetest"
	"github.com/ratatoskr-proto/ratatoskr/nonce/redisstore"
)

// nonceN returns a 16-byte nonce for i.
func nonceN(i int) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(i))
	binary.BigEndian.PutUint64(b[8:], ^uint64(i))
	return b
}

// modes are the batching settings every Redis test suite runs under.
var modes = []struct {
	name        string
	maxInFlight int
}{
	{"Default", 0},
	{"OneInFlight", 1}, // batches as much as possible
	{"NoBatching", -1},
}

func TestConformanceMiniredis(t *testing.T) {
	mr, c := redistest.Miniredis(t)
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			noncetest.Run(t, noncetest.Harness{
				New: func(t *testing.T) nonce.Store {
					return redisstore.New(c, &redisstore.Options{Prefix: redistest.UniquePrefix(t), MaxInFlight: mode.maxInFlight})
				},
				Advance: func(t *testing.T, d time.Duration) { mr.FastForward(d) },
			})
		})
	}
}

func TestConformanceReal(t *testing.T) {
	c := redistest.Real(t)
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			noncetest.Run(t, noncetest.Harness{
				New: func(t *testing.T) nonce.Store {
					prefix := redistest.UniquePrefix(t)
					t.Cleanup(func() { redistest.DeletePrefix(t, c, prefix) })
					return redisstore.New(c, &redisstore.Options{Prefix: prefix, MaxInFlight: mode.maxInFlight})
				},
				Advance: func(t *testing.T, d time.Duration) { time.Sleep(d) },
			})
		})
	}
}

func TestKeyLayout(t *testing.T) {
	mr, c := redistest.Miniredis(t)
	r := redisstore.New(c, nil)
	if err := r.Record(context.Background(), "u\x00d", []byte{0x0f, 0x1e, 0xff, 0, 1, 2, 3, 4}, 1500*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	const want = "ratatoskr:nonce:{750064}:0f1eff0001020304"
	if keys := mr.Keys(); len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys = %q, want [%q]", keys, want)
	}
	if got, _ := mr.Get(want); got != "1" {
		t.Errorf("value = %q, want \"1\"", got)
	}
	if ttl := mr.TTL(want); ttl != 2*time.Millisecond {
		t.Errorf("TTL = %v, want 2ms (1.5ms rounded up)", ttl)
	}
}

func TestOptionsNotMutated(t *testing.T) {
	_, c := redistest.Miniredis(t)
	opts := &redisstore.Options{}
	redisstore.New(c, opts)
	if *opts != (redisstore.Options{}) {
		t.Errorf("New changed its options to %+v", *opts)
	}
}

func TestOutage(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) { testOutage(t, mode.maxInFlight) })
	}
}

func testOutage(t *testing.T, maxInFlight int) {
	mr, c := redistest.Miniredis(t)
	addr := mr.Addr()
	r := redisstore.New(c, &redisstore.Options{Timeout: 200 * time.Millisecond, MaxInFlight: maxInFlight})
	ctx := context.Background()
	if err := r.Record(ctx, "s", nonceN(1), time.Minute); err != nil {
		t.Fatal(err)
	}

	// Redis goes away: every Record, also concurrent (batched) ones, fails closed.
	mr.Close()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			err := r.Record(ctx, "s", nonceN(2+i), time.Minute)
			if err == nil || !errors.Is(err, nonce.ErrUnavailable) {
				t.Errorf("Record with Redis down = %v, want ErrUnavailable", err)
			}
		})
	}
	wg.Wait()
	err := r.Record(ctx, "s", nonceN(1), time.Minute)
	if err == nil || !errors.Is(err, nonce.ErrUnavailable) {
		t.Fatalf("Record with Redis down = %v, want ErrUnavailable", err)
	}
	t.Logf("Redis down: %v", err)

	// Back on the same address: the store recovers on its own, through the same client.
	mr2 := miniredis.NewMiniRedis()
	if err := mr2.StartAddr(addr); err != nil {
		t.Fatalf("restarting miniredis on %s: %v", addr, err)
	}
	t.Cleanup(mr2.Close)
	if err := r.Record(ctx, "s", nonceN(100), time.Minute); err != nil {
		t.Fatalf("first Record after Redis returned = %v, want nil", err)
	}
	if err := r.Record(ctx, "s", nonceN(100), time.Minute); !errors.Is(err, nonce.ErrReplay) {
		t.Fatalf("replay after Redis returned = %v, want ErrReplay", err)
	}
	for i := range 16 {
		wg.Go(func() {
			if err := r.Record(ctx, "s", nonceN(200+i), time.Minute); err != nil {
				t.Errorf("concurrent Record after Redis returned = %v, want nil", err)
			}
		})
	}
	wg.Wait()
}

func TestTimeout(t *testing.T) {
	t.Run("ExpiredDeadline", func(t *testing.T) {
		mr, c := redistest.Miniredis(t)
		r := redisstore.New(c, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		time.Sleep(time.Millisecond)
		err := r.Record(ctx, "s", nonceN(1), time.Minute)
		if !errors.Is(err, nonce.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Record = %v, want ErrUnavailable wrapping DeadlineExceeded", err)
		}
		if len(mr.Keys()) != 0 {
			t.Errorf("a Record past its deadline wrote %q", mr.Keys())
		}
	})

	for _, tc := range []struct {
		name    string
		opts    redis.Options
		timeout time.Duration
		ctx     time.Duration // caller's deadline; 0 for none
	}{
		{"OptionTimeout", redis.Options{ContextTimeoutEnabled: true, MaxRetries: -1}, 50 * time.Millisecond, 0},
		{"CallerDeadline", redis.Options{ContextTimeoutEnabled: true, MaxRetries: -1}, time.Hour, 50 * time.Millisecond},
		{"ClientReadTimeout", redis.Options{ReadTimeout: 50 * time.Millisecond, MaxRetries: -1}, time.Hour, 0},
	} {
		for _, mode := range modes {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				testSilent(t, redistest.Silent(t), tc.opts, &redisstore.Options{Timeout: tc.timeout, MaxInFlight: mode.maxInFlight}, tc.ctx)
			})
		}
	}
}

// testSilent checks that concurrent Records against a server that never answers fail closed
// in about the time allowed.
func testSilent(t *testing.T, addr string, copts redis.Options, ropts *redisstore.Options, deadline time.Duration) {
	copts.Addr = addr
	c := redis.NewClient(&copts)
	t.Cleanup(func() { c.Close() })
	r := redisstore.New(c, ropts)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			ctx := context.Background()
			if deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, deadline)
				defer cancel()
			}
			start := time.Now()
			err := r.Record(ctx, "s", nonceN(i), time.Minute)
			elapsed := time.Since(start)
			if !errors.Is(err, nonce.ErrUnavailable) {
				t.Errorf("Record against a silent server = %v, want ErrUnavailable", err)
			}
			if copts.ContextTimeoutEnabled && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Record against a silent server = %v, want it to wrap DeadlineExceeded", err)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Record took %v, want about 50ms", elapsed)
			}
			if i == 0 {
				t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
			}
		})
	}
	wg.Wait()
}

func TestNewNilClient(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New(nil, nil) did not panic")
		}
	}()
	redisstore.New(nil, nil)
}
