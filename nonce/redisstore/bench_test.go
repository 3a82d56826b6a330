package redisstore_test

import (
	"context"
	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/nonce/internal/noncebench"
	"github.com/ratatoskr-proto/ratatoskr/nonce/redisstore"
)

// newBenchClient returns a client whose pool holds 64 connections, enough for every goroutine
// of noncebench.Parallel to have a round trip in flight.
func newBenchClient(b *testing.B, opts *redis.Options) *redis.Client {
	opts.PoolSize = 64
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkRecord records distinct nonces from 64 goroutines, batched (the default) and not.
// Compare real with BenchmarkPing/real, one bare round trip.
func BenchmarkRecord(b *testing.B) {
	modes := []struct {
		name        string
		maxInFlight int
	}{{"Batched", 0}, {"Unbatched", -1}}
	run := func(b *testing.B, c *redis.Client, cleanup bool) {
		for _, mode := range modes {
			for _, par := range []struct {
				name string
				run  func(*testing.B, func(context.Context, []byte) error)
			}{{"Parallel64", noncebench.Parallel}, {"Serial", noncebench.Serial}} {
				b.Run(mode.name+"/"+par.name, func(b *testing.B) {
					prefix := redistest.UniquePrefix(b)
					if cleanup {
						b.Cleanup(func() { redistest.DeletePrefix(b, c, prefix) })
					}
					s := redisstore.New(c, &redisstore.Options{Prefix: prefix, MaxInFlight: mode.maxInFlight})
					par.run(b, func(ctx context.Context, n []byte) error {
						return s.Record(ctx, noncebench.Scope, n, 5*time.Second)
					})
				})
			}
		}
	}
	b.Run("miniredis", func(b *testing.B) {
		mr, _ := redistest.Miniredis(b)
		run(b, newBenchClient(b, &redis.Options{Addr: mr.Addr()}), false)
	})
	b.Run("real", func(b *testing.B) {
		c := redistest.Real(b)
		run(b, newBenchClient(b, c.Options()), true)
	})
}

// BenchmarkPing is the baseline: a bare PING round trip, from 64 goroutines and from one.
func BenchmarkPing(b *testing.B) {
	b.Run("real", func(b *testing.B) {
		c := newBenchClient(b, redistest.Real(b).Options())
		ping := func(ctx context.Context, _ []byte) error { return c.Ping(ctx).Err() }
		b.Run("Parallel64", func(b *testing.B) { noncebench.Parallel(b, ping) })
		b.Run("Serial", func(b *testing.B) { noncebench.Serial(b, ping) })
	})
}
