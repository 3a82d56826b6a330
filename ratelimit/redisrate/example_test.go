package redisrate_test

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit/redisrate"
)

func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // let ctx deadlines (and Options.Timeout) bound reads
	})
	defer client.Close()

	// 20 requests a second per key, 40 at once, shared by every replica
	// that uses this Redis and prefix.
	lim := redisrate.New(client, ratelimit.Limit{Rate: 20, Burst: 40}, &redisrate.Options{Prefix: "myapp:rate:"})

	res, err := lim.Allow(context.Background(), "user-42\x00phone-1")
	switch {
	case errors.Is(err, ratelimit.ErrUnavailable):
		// Redis cannot tell: answer UNAVAILABLE, never serve unchecked
	case !res.Allowed:
		// answer RATE_LIMITED; the device may retry after res.RetryAfter
	default:
		// serve the request
	}
}
