package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
)

// Options configures New. The zero value (or a nil pointer) selects every default.
type Options struct {
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

	// EvictionCheck is what CheckEviction does when Redis's maxmemory-policy lets it evict
	// replay records, re-opening replays: log a warning through Logger (EvictionWarn, the
	// default), return an error (EvictionRefuse), or ask nothing (EvictionOff).
	EvictionCheck EvictionCheck

	// Logger receives CheckEviction's warnings, the store's only log lines. Defaults to
	// discarding them: set it, or EvictionWarn warns nobody.
	Logger *slog.Logger
}

const (
	defaultPrefix      = "ratatoskr:nonce:"
	defaultTimeout     = 500 * time.Millisecond
	defaultMaxInFlight = 8
	maxBatch           = 128
)

// Store is a nonce.Store in Redis, shared by every replica that uses the same server (or
// cluster) and prefix. Each nonce is one command, SET key 1 NX PX ttl, which Redis executes
// atomically, so of many replicas racing on one nonce exactly one wins.
//
// Key layout: Prefix + "{" + hex(scope) + "}:" + hex(nonce), for example
// "ratatoskr:nonce:{323a75316431}:0f1e2d3c4b5a6978" (scope "2:u1d1"). Hex cannot contain the
// delimiters, so any bytes in scope or nonce map to distinct keys, and the braces make
// hex(scope) the Redis Cluster hash tag: one device's nonces share a slot. A key takes
// len(Prefix) + 2·len(scope) + 2·len(nonce) + 3 bytes (the server passes the 32-byte replay key,
// so hex(nonce) is 64 digits); its value is "1". The TTL is rounded up to a whole millisecond.
//
// Errors from Redis (a refused connection, a timeout, a cancelled ctx, an unexpected reply) fail
// closed with nonce.ErrUnavailable; go-redis reconnects on later calls, so the store recovers by
// itself when the server is back. While it is down, a Record lasts as long as the client's dial
// retries (DialerRetries, DialerRetryTimeout) or Timeout, whichever ends first. One caveat: if
// go-redis retries a SET whose first attempt reached the server but lost its reply
// (MaxRetries > 0, connection dropped mid-call), the retry finds the key and reports
// nonce.ErrReplay for a fresh nonce. That refuses a request, which is safe; build the client
// with MaxRetries: -1 to report such losses as nonce.ErrUnavailable instead.
//
// Concurrent Records are batched as Options.MaxInFlight describes. A Record whose ctx ends while
// it waits returns at once; a Record that is sending a pipeline for others finishes that round
// trip before it returns, since the others depend on it: at the latest when the last of their
// deadlines passes, which Timeout bounds.
//
// A Store is safe for concurrent use by multiple goroutines. It holds no resources of its own:
// closing the client is the caller's business.
type Store struct {
	client      redis.UniversalClient
	prefix      string
	timeout     time.Duration
	maxInFlight int // ≤ 0: no batching

	evictionCheck EvictionCheck
	logger        *slog.Logger

	mu       sync.Mutex
	inFlight int     // round trips under way, at most maxInFlight
	waiting  []*call // Records waiting for a round trip, oldest first
}

var _ nonce.Store = (*Store)(nil)

// New returns a store that records nonces through client, which it does not close. opts may be
// nil; it is not retained or modified. It panics if client is nil.
//
// New sends nothing to Redis. A server should then call CheckEviction once at startup: a Redis
// whose maxmemory-policy evicts keys (anything but noeviction) can drop live replay records
// and so re-open replays.
func New(client redis.UniversalClient, opts *Options) *Store {
	if client == nil {
		panic("redisstore: New with a nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Store{
		client:        client,
		prefix:        o.Prefix,
		timeout:       o.Timeout,
		maxInFlight:   o.MaxInFlight,
		evictionCheck: o.EvictionCheck,
		logger:        o.Logger,
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.prefix == "" {
		s.prefix = defaultPrefix
	}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	if s.maxInFlight == 0 {
		s.maxInFlight = defaultMaxInFlight
	}
	return s
}

// Record records nonce under scope for ttl with SET NX PX; see nonce.Store.
func (s *Store) Record(ctx context.Context, scope string, nonce []byte, ttl time.Duration) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if ttl <= 0 {
		return errBadTTL(ttl)
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > s.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	k := s.key(scope, nonce)
	if s.maxInFlight <= 0 {
		return s.set(ctx, k, ms)
	}
	return s.batched(ctx, k, ms)
}

// set sends one SET NX PX as its own round trip.
func (s *Store) set(ctx context.Context, key string, ms int64) error {
	cmd := setCmd(ctx, key, ms)
	_ = s.client.Process(ctx, cmd)
	return result(ctx, cmd)
}

func setCmd(ctx context.Context, key string, ms int64) *redis.StatusCmd {
	return redis.NewStatusCmd(ctx, "set", key, "1", "px", ms, "nx")
}

// result maps the outcome of a SET NX to the nonce.Store contract. Only an "OK" reply accepts.
func result(ctx context.Context, cmd *redis.StatusCmd) error {
	err := cmd.Err()
	switch {
	case err == nil && cmd.Val() == "OK":
		return nil
	case err == nil:
		return fmt.Errorf("%w: redis: unexpected reply %q to SET NX", nonce.ErrUnavailable, cmd.Val())
	case errors.Is(err, redis.Nil):
		return nonce.ErrReplay
	}
	if cerr := ctxDone(ctx); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: redis: %w: %w", nonce.ErrUnavailable, cerr, err)
	}
	return fmt.Errorf("%w: redis: %w", nonce.ErrUnavailable, err)
}

// ctxErr returns an error wrapping nonce.ErrUnavailable and ctx.Err() when ctx has already
// ended, nil otherwise.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", nonce.ErrUnavailable, err)
	}
	return nil
}

// errBadTTL refuses a ttl that would record nothing.
func errBadTTL(ttl time.Duration) error {
	return fmt.Errorf("%w: ttl %v is not positive", nonce.ErrUnavailable, ttl)
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
func (s *Store) key(scope string, nonce []byte) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + 2*len(scope) + 2*len(nonce) + 3)
	b.WriteString(s.prefix)
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
