package redisstore_test

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/nonce/redisstore"
)

const benchScope = "user-1234567\x00device-89abcdef"

// benchParallelism makes RunParallel use about 64 goroutines, whatever GOMAXPROCS is.
func benchParallelism() int {
	p := runtime.GOMAXPROCS(0)
	return (64 + p - 1) / p
}

// runParallel records a fresh 16-byte nonce per op from about 64 goroutines and reports ops/s.
func runParallel(b *testing.B, record func(ctx context.Context, nonce []byte) error) {
	runGoroutines(b, benchParallelism(), record)
}

// runSerial records from one goroutine: the latency of a lone call.
func runSerial(b *testing.B, record func(ctx context.Context, nonce []byte) error) {
	runGoroutines(b, 0, record)
}

// runGoroutines records from parallelism×GOMAXPROCS goroutines, or from one if parallelism is 0.
func runGoroutines(b *testing.B, parallelism int, record func(ctx context.Context, nonce []byte) error) {
	if parallelism == 0 {
		b.ReportAllocs()
		n := make([]byte, 16)
		ctx := context.Background()
		var i uint64
		for b.Loop() {
			binary.BigEndian.PutUint64(n, i)
			i++
			if err := record(ctx, n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		return
	}
	var goroutines atomic.Uint64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := make([]byte, 16)
		binary.BigEndian.PutUint64(n[8:], goroutines.Add(1))
		ctx := context.Background()
		for i := uint64(0); pb.Next(); i++ {
			binary.BigEndian.PutUint64(n, i)
			if err := record(ctx, n); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// newBenchClient returns a client whose pool holds 64 connections, enough for every goroutine
// of runParallel to have a round trip in flight.
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
			}{{"Parallel64", runParallel}, {"Serial", runSerial}} {
				b.Run(mode.name+"/"+par.name, func(b *testing.B) {
					prefix := uniquePrefix(b)
					if cleanup {
						b.Cleanup(func() { deletePrefix(b, c, prefix) })
					}
					s := redisstore.New(c, &redisstore.Options{Prefix: prefix, MaxInFlight: mode.maxInFlight})
					par.run(b, func(ctx context.Context, n []byte) error {
						return s.Record(ctx, benchScope, n, 5*time.Second)
					})
				})
			}
		}
	}
	b.Run("miniredis", func(b *testing.B) {
		mr, _ := newMiniredisClient(b)
		run(b, newBenchClient(b, &redis.Options{Addr: mr.Addr()}), false)
	})
	b.Run("real", func(b *testing.B) {
		c := realRedisClient(b)
		run(b, newBenchClient(b, c.Options()), true)
	})
}

// BenchmarkPing is the baseline: a bare PING round trip, from 64 goroutines and from one.
func BenchmarkPing(b *testing.B) {
	b.Run("real", func(b *testing.B) {
		c := newBenchClient(b, realRedisClient(b).Options())
		ping := func(ctx context.Context, _ []byte) error { return c.Ping(ctx).Err() }
		b.Run("Parallel64", func(b *testing.B) { runParallel(b, ping) })
		b.Run("Serial", func(b *testing.B) { runSerial(b, ping) })
	})
}
