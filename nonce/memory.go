package nonce

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"time"
)

// MemoryOptions configures NewMemory. The zero value (or a nil pointer) selects every default.
type MemoryOptions struct {
	// Shards is the number of independently locked shards. It is rounded up to a power of two and
	// halved while a shard would hold fewer than 256 nonces, so a small Capacity gets few shards.
	// Defaults to 64.
	Shards int

	// Capacity is the hard maximum of live nonces the store holds, split evenly over the shards.
	// A Record that finds its shard full, after sweeping expired nonces, fails closed with
	// ErrUnavailable ("memory store full"): evicting a live nonce would re-open it to replay.
	// Size it above peak request rate × ttl: with the server's default ttl of 331 s, the
	// default holds a sustained 3,000 requests/s. A live nonce takes 75 to 100 bytes, up to
	// about 140 while most come from different devices, so the default bounds the store near
	// 100 MiB, 140 MiB at worst. Defaults to 1<<20 (1,048,576).
	Capacity int

	// MaxPerScope is the most live nonces one scope may hold: the server's scope is one device
	// (envelope.Scope(user_id, device_id)), so one device cannot fill the store and have it
	// refuse everybody. A Record that finds its scope at its share, after sweeping expired
	// nonces, fails closed with ErrScopeFull (which wraps ErrUnavailable); other scopes are not
	// affected, and a replay is still reported as ErrReplay.
	//
	// A scope's nonces spread over all the shards, so each shard counts them apart and refuses
	// a scope holding ⌈MaxPerScope/shards × 5/4⌉ + 8 of its nonces. The slack absorbs the
	// uneven spread, so a scope is refused once it holds somewhere between MaxPerScope and
	// 5/4 × MaxPerScope + 8 × shards: within about 25% above MaxPerScope while MaxPerScope is
	// large against the shard count (with the defaults, refusals start near 77,000 and no scope
	// ever holds more than 82,432). Below a few hundred nonces per shard the slack weighs more.
	//
	// The default is sized against the server's default rate limit of 100 requests/s with a
	// burst of 300: with the replay TTL of 331 s, a device within its rate holds at most
	// 100 × 331 + 300 = 33,400 live nonces, about half its default share of 65,536, and the
	// share bites only above about 198 requests/s sustained. A flooding device is refused at its
	// share (5 to 6 MiB of memory), and at least 16 devices at their share (13 at the most the
	// slack lets through) are needed to fill the default store. Raise it for devices that
	// legitimately send more.
	//
	// Defaults to Capacity/16 (65,536 with the default Capacity); a negative value turns the
	// per-scope limit off.
	MaxPerScope int

	// Now is the clock deciding expiry. Defaults to time.Now.
	Now func() time.Time
}

const (
	defaultShards   = 64
	maxShards       = 1 << 12
	defaultCapacity = 1 << 20
	minPerShard     = 256
)

// errFull is returned when a shard holds Capacity/Shards live nonces.
var errFull = fmt.Errorf("%w: memory store full", ErrUnavailable)

// Memory is a Store held in process memory, the default for a single server. Replicas behind a
// load balancer do not share it: use a shared store there (package nonce/redisstore).
//
// Nonces live in shards chosen by a keyed hash of (scope, nonce), each behind its own mutex.
// Expiry needs no goroutine: every Record sweeps the expired nonces at the front of its shard's
// expiry queues, so memory follows request rate × ttl and is given back as traffic falls (see the
// package doc for the details and costs).
//
// Two limits make Record fail closed rather than evict a live nonce: a full store refuses every
// scope with ErrUnavailable, and a scope holding its share (MemoryOptions.MaxPerScope, by default
// 1/16 of the store) is refused with ErrScopeFull, which wraps ErrUnavailable, long before that.
//
// A Memory is safe for concurrent use by multiple goroutines.
type Memory struct {
	shards []shard
	mask   uint64
	seeds  [2]maphash.Seed
	scoped bool         // some shard limits nonces per scope (MemoryOptions.MaxPerScope)
	scope  maphash.Seed // seeds the scope hash that shards count nonces by
	now    func() time.Time
	base   time.Time // the clock reading that instants are measured from
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store. opts may be nil; it is not retained or modified.
func NewMemory(opts *MemoryOptions) *Memory {
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	capacity := o.Capacity
	if capacity <= 0 {
		capacity = defaultCapacity
	}
	n := o.Shards
	if n <= 0 {
		n = defaultShards
	}
	n = min(n, maxShards)
	n = 1 << bits.Len(uint(n-1)) // round up to a power of two
	for n > 1 && capacity/n < minPerShard {
		n /= 2
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	share := math.MaxInt // per shard; as good as no limit
	switch {
	case o.MaxPerScope == 0:
		share = shardShare(max(1, capacity/16), n)
	case o.MaxPerScope > 0:
		share = shardShare(o.MaxPerScope, n)
	}
	m := &Memory{
		shards: make([]shard, n),
		mask:   uint64(n - 1),
		seeds:  [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		scope:  maphash.MakeSeed(),
		now:    now,
		base:   now(),
	}
	// Split Capacity exactly: the first capacity%n shards take one more.
	for i := range m.shards {
		s := &m.shards[i]
		s.limit = capacity / n
		if i < capacity%n {
			s.limit++
		}
		s.nextScan = math.MaxInt64
		// A share the shard's capacity reaches first would never refuse anything: skip the count.
		if share < s.limit {
			s.share = share
			m.scoped = true
		}
	}
	return m
}

// shardShare returns how many nonces of one scope a shard holds at most, when the scope may hold
// maxPerScope (positive) in a store of n shards: ⌈maxPerScope/n × 5/4⌉ + 8. The slack lets a
// scope at its share through even when its nonces fall unevenly on the shards.
func shardShare(maxPerScope, n int) int {
	if maxPerScope > (math.MaxInt-4*n)/5 {
		return math.MaxInt
	}
	return (5*maxPerScope+4*n-1)/(4*n) + 8
}

// Record records nonce under scope for ttl; see Store. It never blocks on anything but a shard's
// mutex. It fails closed with ErrScopeFull (wrapping ErrUnavailable) when scope holds its share
// of the shard (see MemoryOptions.MaxPerScope), and with ErrUnavailable when the shard is full.
// A live nonce is reported as ErrReplay whatever the scope holds.
func (m *Memory) Record(ctx context.Context, scope string, nonce []byte, ttl time.Duration) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if ttl <= 0 {
		return errBadTTL(ttl)
	}
	k := m.key(scope, nonce)
	var sh uint64
	if m.scoped {
		sh = maphash.String(m.scope, scope)
	}
	now := m.instant()
	exp := now + int64(ttl)
	if exp < now { // overflow: recorded for ever
		exp = math.MaxInt64
	}
	s := &m.shards[k[0]&m.mask]
	s.mu.Lock()
	err := s.record(k, sh, ttl, now, exp)
	s.mu.Unlock()
	return err
}

// Len returns the number of nonces held. It sweeps each shard first, so calling it (from a metrics
// scrape, say) also gives back the memory of an idle store, and the count is of live nonces only,
// unless expiry order was lost (more than four TTLs in use at once, or a clock that went back):
// then some expired ones may still be counted until a full shard needs their room.
func (m *Memory) Len() int {
	now := m.instant()
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.expire(now)
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// instant returns the current time as nanoseconds since m.base, using the monotonic clock when
// Now provides one.
func (m *Memory) instant() int64 {
	return int64(m.now().Sub(m.base))
}

// key is a 128-bit keyed hash of (scope, nonce). Two independent maphash seeds, secret to the
// store, make a collision between distinct pairs a 2^-128 event that nobody outside can aim at,
// and a collision could only refuse a fresh nonce, never accept a replay.
type key [2]uint64

func (m *Memory) key(scope string, nonce []byte) key {
	// The length of scope comes first, so ("ab", "c…") and ("a", "bc…") differ.
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(scope)))
	var k key
	var h maphash.Hash
	for i := range k {
		h.SetSeed(m.seeds[i])
		h.Write(n[:])
		h.WriteString(scope)
		h.Write(nonce)
		k[i] = h.Sum64()
	}
	return k
}
