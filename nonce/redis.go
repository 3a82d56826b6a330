package nonce

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures NewRedis. The zero value (or a nil pointer) selects every default.
type RedisOptions struct {
	// Prefix starts every key, to keep nonces apart from other data in the same database. It
	// should not contain '{', which would move the Redis Cluster hash tag into the prefix.
	// Defaults to "ratatoskr:nonce:".
	Prefix string

	// Timeout bounds each round trip: it is applied to ctx unless ctx already ends sooner.
	// go-redis enforces ctx deadlines on socket reads and writes only for a client built with
	// ContextTimeoutEnabled: true; without it, the client's ReadTimeout and WriteTimeout (3 s by
	// default) bound a call to a server that has stopped answering. Defaults to 500 ms.
	Timeout time.Duration

	// MaxInFlight is the most round trips the store keeps in flight at once. A Record that
	// finds them all busy waits, and when one finishes, every waiting Record (up to 128) goes out
	// together in one pipeline, sent by the first of them: under load that is one system call
	// and one Redis wake-up for many nonces, with no goroutine of its own. Below the limit each
	// Record is its own round trip, so light load pays nothing. Defaults to 8; a negative value
	// turns batching off (every Record is its own round trip, with no limit).
	MaxInFlight int
}

const (
	defaultRedisPrefix      = "ratatoskr:nonce:"
	defaultRedisTimeout     = 500 * time.Millisecond
	defaultRedisMaxInFlight = 8
	maxRedisBatch           = 128
)

// Redis is a Store in Redis, shared by every replica that uses the same server (or cluster) and
// prefix. Each nonce is one command, SET key 1 NX PX ttl, which Redis executes atomically, so
// of many replicas racing on one nonce exactly one wins.
//
// Key layout: Prefix + "{" + hex(scope) + "}:" + hex(nonce), for example
// "ratatoskr:nonce:{323a75316431}:0f1e2d3c4b5a6978" (scope "2:u1d1"). Hex cannot contain the delimiters, so any bytes
// in scope or nonce map to distinct keys, and the braces make hex(scope) the Redis Cluster hash
// tag: one device's nonces share a slot. A key takes len(Prefix) + 2·len(scope) + 2·len(nonce) + 3
// bytes (the server passes the 32-byte replay key, so hex(nonce) is 64 digits); its value is
// "1". The TTL is rounded up to a whole millisecond.
//
// Errors from Redis (a refused connection, a timeout, a cancelled ctx, an unexpected reply) fail
// closed with ErrUnavailable; go-redis reconnects on later calls, so the store recovers by itself
// when the server is back. While it is down, a Record lasts as long as the client's dial retries
// (DialerRetries, DialerRetryTimeout) or Timeout, whichever ends first. One caveat: if go-redis
// retries a SET whose first attempt reached the server but lost its reply (MaxRetries > 0,
// connection dropped mid-call), the retry finds the key and reports ErrReplay for a fresh nonce.
// That refuses a request, which is safe; build the client with MaxRetries: -1 to report such
// losses as ErrUnavailable instead.
//
// Concurrent Records are batched as MaxInFlight describes. A Record whose ctx ends while it
// waits returns at once; a Record that is sending a pipeline for others finishes that round trip
// before it returns, since the others depend on it: at the latest when the last of their
// deadlines passes, which Timeout bounds.
//
// A Redis is safe for concurrent use by multiple goroutines. It holds no resources of its own:
// closing the client is the caller's business.
type Redis struct {
	client      redis.UniversalClient
	prefix      string
	timeout     time.Duration
	maxInFlight int // ≤ 0: no batching

	mu       sync.Mutex
	inFlight int     // round trips under way, at most maxInFlight
	waiting  []*call // Records waiting for a round trip, oldest first
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store that records nonces through client, which it does not close. opts may
// be nil; it is not retained or modified. It panics if client is nil.
func NewRedis(client redis.UniversalClient, opts *RedisOptions) *Redis {
	if client == nil {
		panic("nonce: NewRedis with a nil client")
	}
	var o RedisOptions
	if opts != nil {
		o = *opts
	}
	r := &Redis{client: client, prefix: o.Prefix, timeout: o.Timeout, maxInFlight: o.MaxInFlight}
	if r.prefix == "" {
		r.prefix = defaultRedisPrefix
	}
	if r.timeout <= 0 {
		r.timeout = defaultRedisTimeout
	}
	if r.maxInFlight == 0 {
		r.maxInFlight = defaultRedisMaxInFlight
	}
	return r
}

// Record records nonce under scope for ttl with SET NX PX; see Store.
func (r *Redis) Record(ctx context.Context, scope string, nonce []byte, ttl time.Duration) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if ttl <= 0 {
		return errBadTTL(ttl)
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > r.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	k := r.key(scope, nonce)
	if r.maxInFlight <= 0 {
		return r.set(ctx, k, ms)
	}
	return r.batched(ctx, k, ms)
}

// set sends one SET NX PX as its own round trip.
func (r *Redis) set(ctx context.Context, key string, ms int64) error {
	cmd := setCmd(ctx, key, ms)
	_ = r.client.Process(ctx, cmd)
	return result(ctx, cmd)
}

func setCmd(ctx context.Context, key string, ms int64) *redis.StatusCmd {
	return redis.NewStatusCmd(ctx, "set", key, "1", "px", ms, "nx")
}

// result maps the outcome of a SET NX to the Store contract. Only an "OK" reply accepts.
func result(ctx context.Context, cmd *redis.StatusCmd) error {
	err := cmd.Err()
	switch {
	case err == nil && cmd.Val() == "OK":
		return nil
	case err == nil:
		return fmt.Errorf("%w: redis: unexpected reply %q to SET NX", ErrUnavailable, cmd.Val())
	case errors.Is(err, redis.Nil):
		return ErrReplay
	}
	if cerr := ctxDone(ctx); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: redis: %w: %w", ErrUnavailable, cerr, err)
	}
	return fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
}

// ctxDone returns ctx.Err(), or context.DeadlineExceeded once ctx's deadline has passed: a socket
// deadline taken from ctx can fire a moment before ctx's own timer does.
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// key returns Prefix + "{" + hex(scope) + "}:" + hex(nonce).
func (r *Redis) key(scope string, nonce []byte) string {
	var b strings.Builder
	b.Grow(len(r.prefix) + 2*len(scope) + 2*len(nonce) + 3)
	b.WriteString(r.prefix)
	b.WriteByte('{')
	for i := 0; i < len(scope); i++ {
		b.WriteByte(hexDigits[scope[i]>>4])
		b.WriteByte(hexDigits[scope[i]&0x0f])
	}
	b.WriteString("}:")
	for _, c := range nonce {
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}
