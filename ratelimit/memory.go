package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryOptions configures NewMemory beyond its limit. A nil pointer
// selects every default.
type MemoryOptions struct {
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// memoryShards is the number of independently locked shards.
const memoryShards = 32

// Memory is a Limiter held in process memory: each key's bucket is one
// instant in a sharded map, and a key whose bucket is full again is
// forgotten by the next sweep of its shard (at most once per refill
// period), so memory follows the keys active in the last Burst/Rate
// seconds.
//
// A Memory is safe for concurrent use by multiple goroutines.
type Memory struct {
	limit    Limit
	interval int64 // ns per token
	window   int64 // ns: Burst tokens
	now      func() time.Time
	base     time.Time
	seed     maphash.Seed
	shards   [memoryShards]memoryShard
}

type memoryShard struct {
	mu        sync.Mutex
	tat       map[string]int64 // key → theoretical arrival time of its next request
	nextSweep int64
	_         [40]byte // keep shards on separate cache lines
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns a limiter giving every key the bucket l. It panics
// when l is not Valid, a setup mistake. opts may be nil.
func NewMemory(l Limit, opts *MemoryOptions) *Memory {
	if !l.Valid() {
		panic(fmt.Sprintf("ratelimit: NewMemory needs a positive rate and burst, got %+v", l))
	}
	now := time.Now
	if opts != nil && opts.Now != nil {
		now = opts.Now
	}
	m := &Memory{
		limit:    l,
		interval: max(int64(l.interval()), 1),
		now:      now,
		base:     now(),
		seed:     maphash.MakeSeed(),
	}
	m.window = m.interval * int64(l.Burst)
	for i := range m.shards {
		m.shards[i].tat = make(map[string]int64)
	}
	return m
}

// Limit returns the bucket every key gets.
func (m *Memory) Limit() Limit { return m.limit }

// Allow takes one token for key; see Limiter. It never fails but for a
// context that has already ended.
func (m *Memory) Allow(ctx context.Context, key string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	now := int64(m.now().Sub(m.base))
	s := &m.shards[maphash.String(m.seed, key)%memoryShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now >= s.nextSweep {
		for k, t := range s.tat {
			if t <= now {
				delete(s.tat, k)
			}
		}
		s.nextSweep = now + m.window
	}
	tat := max(s.tat[key], now) + m.interval
	if over := tat - now - m.window; over > 0 {
		return Result{RetryAfter: time.Duration(over)}, nil
	}
	s.tat[key] = tat
	return Result{Allowed: true}, nil
}

// Len returns the number of keys whose bucket is not full, after
// forgetting those that are.
func (m *Memory) Len() int {
	now := int64(m.now().Sub(m.base))
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, t := range s.tat {
			if t <= now {
				delete(s.tat, k)
			}
		}
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
