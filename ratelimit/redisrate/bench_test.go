package redisrate_test

import (
	"context"
	"fmt"
	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
	"runtime"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit/redisrate"
)

// BenchmarkAllow calls Allow from 64 goroutines over 4096 keys, and for
// comparison sends a bare PING the same way: an Allow is one EVALSHA round
// trip.
func BenchmarkAllow(b *testing.B) {
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d\x00device-%d", i/4, i%4)
	}
	run := func(b *testing.B, opts *redis.Options, cleanup bool) {
		opts.PoolSize = 64
		opts.ContextTimeoutEnabled = true
		c := redis.NewClient(opts)
		b.Cleanup(func() { c.Close() })
		parallel := func(b *testing.B, f func(ctx context.Context, key string) error) {
			b.SetParallelism(max(64/runtime.GOMAXPROCS(0), 1)) // 64 goroutines
			ctx := context.Background()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := f(ctx, keys[i%len(keys)]); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
		}
		b.Run("Allow", func(b *testing.B) {
			prefix := redistest.UniquePrefix(b)
			if cleanup {
				b.Cleanup(func() { redistest.DeletePrefix(b, c, "rate:"+prefix) })
			}
			lim := redisrate.New(c, ratelimit.Limit{Rate: 1e6, Burst: 1000}, &redisrate.Options{Prefix: prefix})
			parallel(b, func(ctx context.Context, key string) error {
				_, err := lim.Allow(ctx, key)
				return err
			})
		})
		b.Run("Ping", func(b *testing.B) {
			parallel(b, func(ctx context.Context, _ string) error { return c.Ping(ctx).Err() })
		})
	}
	b.Run("miniredis", func(b *testing.B) {
		mr, _ := redistest.Miniredis(b)
		run(b, &redis.Options{Addr: mr.Addr()}, false)
	})
	b.Run("real", func(b *testing.B) {
		run(b, redistest.Real(b).Options(), true)
	})
}
