package redisrate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
)

// Options configures New. The zero value (or a nil pointer) selects every
// default.
type Options struct {
	// Prefix starts every key after redis_rate's own "rate:", to keep rate
	// limits apart from other data in the same database: a key's bucket
	// lives at "rate:" + Prefix + key. Defaults to "ratatoskr:rate:".
	Prefix string

	// Timeout bounds each call: it is applied to ctx unless ctx already ends
	// sooner. go-redis enforces ctx deadlines on socket reads and writes
	// only for a client built with ContextTimeoutEnabled: true; without it,
	// the client's ReadTimeout and WriteTimeout (3 s by default) bound a
	// call to a server that has stopped answering. Defaults to 500 ms.
	Timeout time.Duration
}

const (
	defaultPrefix  = "ratatoskr:rate:"
	defaultTimeout = 500 * time.Millisecond
)

// Limiter is a ratelimit.Limiter in Redis, shared by every replica that
// uses the same server (or cluster) and prefix: each Allow runs
// redis_rate's GCRA script, which reads and updates a key's bucket
// atomically on the server's clock.
//
// Errors from Redis (a refused connection, a timeout, a cancelled ctx, an
// unexpected reply) are returned wrapping ratelimit.ErrUnavailable, and the
// caller fails closed; go-redis reconnects on later calls, so the limiter
// recovers by itself when the server is back.
//
// A Limiter is safe for concurrent use by multiple goroutines. It holds no
// resources of its own: closing the client is the caller's business.
type Limiter struct {
	rl      *redis_rate.Limiter
	limit   ratelimit.Limit
	rrLimit redis_rate.Limit
	prefix  string
	timeout time.Duration
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New returns a limiter giving every key the bucket l, kept in Redis
// through client, which it does not close. opts may be nil; it is not
// retained or modified. It panics if client is nil or l is not Valid, or
// if one token takes longer than time.Duration can hold (a rate below one
// per 292 years), setup mistakes.
func New(client redis.UniversalClient, l ratelimit.Limit, opts *Options) *Limiter {
	if client == nil {
		panic("redisrate: New with a nil client")
	}
	rl, ok := convert(l)
	if !ok {
		panic(fmt.Sprintf("redisrate: New needs a positive rate (above one per 292 years) and burst, got %+v", l))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	lim := &Limiter{
		rl:      redis_rate.NewLimiter(client),
		limit:   l,
		rrLimit: rl,
		prefix:  o.Prefix,
		timeout: o.Timeout,
	}
	if lim.prefix == "" {
		lim.prefix = defaultPrefix
	}
	if lim.timeout <= 0 {
		lim.timeout = defaultTimeout
	}
	return lim
}

// convert expresses l in redis_rate's terms, Rate requests per Period,
// where the script takes one token to come back every Period/Rate. A whole
// number of requests per second r becomes Rate r per second, exactly. Any
// other rate becomes one request per 1 s/r, rounded to the nanosecond:
// 0.5/s is 1 per 2 s, 2.5/s is 1 per 400 ms, 1/60 per second is 1 per
// minute. The rounding moves a token's interval by at most half a
// nanosecond, well below Redis's clock, which counts microseconds.
func convert(l ratelimit.Limit) (redis_rate.Limit, bool) {
	if !l.Valid() {
		return redis_rate.Limit{}, false
	}
	if r := l.Rate; r == math.Trunc(r) && r <= math.MaxInt32 {
		return redis_rate.Limit{Rate: int(r), Burst: l.Burst, Period: time.Second}, true
	}
	ns := math.Round(float64(time.Second) / l.Rate)
	if ns > math.MaxInt64 {
		return redis_rate.Limit{}, false
	}
	return redis_rate.Limit{Rate: 1, Burst: l.Burst, Period: max(time.Duration(ns), 1)}, true
}

// Limit returns the bucket every key gets.
func (lim *Limiter) Limit() ratelimit.Limit { return lim.limit }

// Allow takes one token for key in Redis; see ratelimit.Limiter. A refused
// request's RetryAfter is rounded up to the microsecond, the resolution of
// Redis's clock, so that it is never zero.
func (lim *Limiter) Allow(ctx context.Context, key string) (ratelimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Result{}, fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > lim.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lim.timeout)
		defer cancel()
	}
	res, err := lim.rl.Allow(ctx, lim.prefix+key, lim.rrLimit)
	if err != nil {
		if cerr := ctxDone(ctx); cerr != nil && !errors.Is(err, cerr) {
			return ratelimit.Result{}, fmt.Errorf("%w: redis: %w: %w", ratelimit.ErrUnavailable, cerr, err)
		}
		return ratelimit.Result{}, fmt.Errorf("%w: redis: %w", ratelimit.ErrUnavailable, err)
	}
	if res.Allowed > 0 {
		return ratelimit.Result{Allowed: true}, nil
	}
	ra := max(res.RetryAfter, 0)
	if r := ra % time.Microsecond; r != 0 || ra == 0 {
		ra += time.Microsecond - r
	}
	return ratelimit.Result{RetryAfter: ra}, nil
}

// ctxDone returns ctx.Err(), or context.DeadlineExceeded once ctx's
// deadline has passed: a socket deadline taken from ctx can fire a moment
// before ctx's own timer does.
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
