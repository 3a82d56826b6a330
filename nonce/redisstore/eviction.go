package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
)

// EvictionCheck says what Store.CheckEviction does when Redis may evict
// replay records.
type EvictionCheck uint8

const (
	// EvictionWarn logs a warning through Options.Logger and goes on. The
	// default.
	EvictionWarn EvictionCheck = iota
	// EvictionRefuse makes CheckEviction return an error wrapping
	// ErrEvictingPolicy, for a server that should not start.
	EvictionRefuse
	// EvictionOff skips the check: CheckEviction asks Redis nothing and
	// returns nil.
	EvictionOff
)

// ErrEvictingPolicy reports a Redis whose maxmemory-policy lets it evict
// replay records, which re-opens the replays they were recording. Only
// noeviction is safe: the volatile-* policies evict keys that have a TTL,
// and every replay record has one. Matched with errors.Is; the error names
// the policy and the node.
var ErrEvictingPolicy = errors.New("redisstore: Redis may evict replay records")

// policyParam is the setting CheckEviction reads.
const policyParam = "maxmemory-policy"

// CheckEviction asks Redis for its maxmemory-policy (CONFIG GET), on every
// node of a Cluster or Ring client, and acts on Options.EvictionCheck when
// a node may evict replay records, that is when its policy is anything but
// noeviction (allkeys-*, volatile-*): it logs a warning (EvictionWarn, the
// default) or returns an error wrapping ErrEvictingPolicy (EvictionRefuse).
// A server calls it once at startup, after New.
//
// Managed Redis services often refuse CONFIG. When a node answers CONFIG
// GET with an error, or without the policy, CheckEviction cannot tell: it
// logs a warning and goes on, in either mode, and the policy is for the
// operator to check in the service's settings. When Redis cannot be reached
// (or ctx ends, or Options.Timeout passes), it returns an error wrapping
// nonce.ErrUnavailable.
//
// Setting maxmemory-policy later (CONFIG SET) is not noticed; see the
// package documentation for configuring Redis.
func (s *Store) CheckEviction(ctx context.Context) error {
	if s.evictionCheck == EvictionOff {
		return nil
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > s.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}

	type answer struct {
		addr, policy string
		err          error
	}
	var (
		mu      sync.Mutex
		answers []answer
	)
	ask := func(ctx context.Context, c redis.UniversalClient, addr string) error {
		m, err := c.ConfigGet(ctx, policyParam).Result()
		var rerr redis.Error
		if err != nil && !errors.As(err, &rerr) {
			return fmt.Errorf("%w: redis %s: CONFIG GET %s: %w", nonce.ErrUnavailable, addr, policyParam, err)
		}
		mu.Lock()
		answers = append(answers, answer{addr: addr, policy: m[policyParam], err: err})
		mu.Unlock()
		return nil
	}
	var err error
	switch c := s.client.(type) {
	case interface {
		ForEachShard(context.Context, func(context.Context, *redis.Client) error) error
	}: // *redis.ClusterClient, *redis.Ring: every node, concurrently
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			return ask(ctx, n, n.Options().Addr)
		})
		if err != nil && !errors.Is(err, nonce.ErrUnavailable) {
			err = fmt.Errorf("%w: redis: %w", nonce.ErrUnavailable, err)
		}
	case *redis.Client:
		err = ask(ctx, c, c.Options().Addr)
	default:
		err = ask(ctx, c, "")
	}
	if err != nil {
		return err
	}

	slices.SortFunc(answers, func(a, b answer) int { return strings.Compare(a.addr, b.addr) })
	for _, a := range answers {
		switch {
		case a.err != nil:
			s.logger.Warn("redisstore: cannot read Redis's maxmemory-policy; make sure it is noeviction, "+
				"or evicted replay records re-open replays",
				"addr", a.addr, "error", a.err.Error())
		case a.policy == "":
			s.logger.Warn("redisstore: Redis did not report its maxmemory-policy; make sure it is noeviction, "+
				"or evicted replay records re-open replays",
				"addr", a.addr)
		case a.policy == "noeviction":
		case s.evictionCheck == EvictionRefuse:
			return fmt.Errorf("%w: maxmemory-policy is %s on %q; set it to noeviction", ErrEvictingPolicy, a.policy, a.addr)
		default:
			s.logger.Warn("redisstore: Redis may evict replay records, which re-opens replays; set maxmemory-policy noeviction",
				"addr", a.addr, "maxmemory-policy", a.policy)
		}
	}
	return nil
}
