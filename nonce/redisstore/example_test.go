package redisstore_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
	"github.com/ratatoskr-proto/ratatoskr/nonce/redisstore"
)

func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // let ctx deadlines (and Options.Timeout) bound reads
	})
	defer client.Close()
	store := redisstore.New(client, &redisstore.Options{Prefix: "myapp:nonce:"})

	err := store.Record(context.Background(), "user-42\x00phone-1", []byte("0123456789abcdef"), 331*time.Second)
	switch {
	case err == nil:
		// new: serve the request
	case errors.Is(err, nonce.ErrReplay):
		// answer REPLAY_DETECTED
	default:
		// nonce.ErrUnavailable: answer UNAVAILABLE, never serve unchecked
	}
}

func ExampleStore_CheckEviction() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer client.Close()
	store := redisstore.New(client, &redisstore.Options{
		EvictionCheck: redisstore.EvictionRefuse, // do not start on a Redis that may evict records
		Logger:        slog.Default(),            // warns when CONFIG GET is refused
	})

	// Once, at startup.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := store.CheckEviction(ctx); err != nil {
		// ErrEvictingPolicy: set maxmemory-policy noeviction; nonce.ErrUnavailable: Redis is down.
		log.Fatal(err)
	}
}
