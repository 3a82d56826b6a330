package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
)

func ExampleNewMemory() {
	// Two requests a second per key, three at once.
	lim := ratelimit.NewMemory(ratelimit.Limit{Rate: 2, Burst: 3}, nil)
	ctx := context.Background()

	for i := range 4 {
		res, err := lim.Allow(ctx, "user-42\x00phone-1")
		switch {
		case err != nil:
			fmt.Println(err) // ratelimit.ErrUnavailable: refuse with UNAVAILABLE
		case res.Allowed:
			fmt.Println(i, "allowed")
		default:
			fmt.Println(i, "refused, retry after", res.RetryAfter.Round(100*time.Millisecond))
		}
	}
	// Another key has a bucket of its own.
	res, _ := lim.Allow(ctx, "user-42\x00phone-2")
	fmt.Println("phone-2 allowed:", res.Allowed)
	// Output:
	// 0 allowed
	// 1 allowed
	// 2 allowed
	// 3 refused, retry after 500ms
	// phone-2 allowed: true
}
