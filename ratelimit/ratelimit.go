package ratelimit

import (
	"context"
	"errors"
	"math"
	"time"
)

// Limit is a token bucket's shape: Rate requests per second sustained,
// Burst at once.
type Limit struct {
	Rate  float64
	Burst int
}

// Valid reports whether l limits anything: a positive, finite Rate and a
// positive Burst whose refill time (Burst/Rate) fits a time.Duration.
func (l Limit) Valid() bool {
	return l.Rate > 0 && !math.IsInf(l.Rate, 0) && !math.IsNaN(l.Rate) && l.Burst > 0 &&
		float64(time.Second)/l.Rate*float64(l.Burst) < math.MaxInt64/2
}

// interval is the time one token takes to come back.
func (l Limit) interval() time.Duration {
	return time.Duration(float64(time.Second) / l.Rate)
}

// Result is a Limiter's decision on one request.
type Result struct {
	// Allowed reports whether the request may go on.
	Allowed bool
	// RetryAfter, when the request is refused, is how long until one
	// request under the same key would be allowed (zero when unknown).
	RetryAfter time.Duration
}

// Limiter decides whether one more request under a key may go on now.
//
// Implementations are safe for concurrent use.
type Limiter interface {
	// Allow takes one request's token for key, when there is one. An error
	// means the limiter cannot tell (its store is unreachable, ctx ended);
	// the caller then fails closed, refusing the request with UNAVAILABLE.
	// The error wraps ErrUnavailable.
	Allow(ctx context.Context, key string) (Result, error)
	// Limit returns the bucket every key gets, which ratatoskrhttp
	// announces to devices in the connection response.
	Limit() Limit
}

// ErrUnavailable reports that a limiter cannot decide (its store is
// unreachable or the context ended). Matched with errors.Is.
var ErrUnavailable = errors.New("ratelimit: limiter unavailable")
