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
	// default holds a sustained 3,000 requests/s. A live nonce takes 65 to 80 bytes, so the
	// default bounds the store near 80 MiB. Defaults to 1<<20 (1,048,576).
	Capacity int

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
// A Memory is safe for concurrent use by multiple goroutines.
type Memory struct {
	shards []shard
	mask   uint64
	seeds  [2]maphash.Seed
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
	m := &Memory{
		shards: make([]shard, n),
		mask:   uint64(n - 1),
		seeds:  [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		now:    now,
		base:   now(),
	}
	// Split Capacity exactly: the first capacity%n shards take one more.
	for i := range m.shards {
		m.shards[i].limit = capacity / n
		if i < capacity%n {
			m.shards[i].limit++
		}
		m.shards[i].nextScan = math.MaxInt64
	}
	return m
}

// Record records nonce under scope for ttl; see Store. It never blocks on anything but a shard's
// mutex, and fails closed with ErrUnavailable when the shard is full.
func (m *Memory) Record(ctx context.Context, scope string, nonce []byte, ttl time.Duration) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if ttl <= 0 {
		return errBadTTL(ttl)
	}
	k := m.key(scope, nonce)
	now := m.instant()
	exp := now + int64(ttl)
	if exp < now { // overflow: recorded for ever
		exp = math.MaxInt64
	}
	s := &m.shards[k[0]&m.mask]
	s.mu.Lock()
	err := s.record(k, ttl, now, exp)
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
