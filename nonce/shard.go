package nonce

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"
)

const (
	// maxLanes is how many distinct TTLs a shard queues in expiry order at once. Servers use one
	// TTL (window + skew); a fifth concurrent TTL shares a lane and may leave it out of order.
	maxLanes = 4

	// rebuildMin is the peak size under which a shard's map is never rebuilt: small maps cost
	// little, and rebuilding them would only churn.
	rebuildMin = 512

	// minRing is the smallest ring buffer kept once allocated.
	minRing = 16
)

// shard is one lock domain of a Memory: a map from key to expiry, and up to maxLanes FIFO queues
// of (key, expiry, scope hash) in insertion order, one per TTL. With one TTL per lane and a clock
// that does not go back, each queue is sorted by expiry, so popping expired entries off the
// fronts removes exactly the expired nonces in amortized O(1).
//
// Every entry of m has exactly one queued entry with the same key and expiry (a key recorded
// again after expiry leaves its older entry queued, stale, until it is popped or compacted away).
// Entries leave m only in expire and reclaim, which both find them through the queues, so they
// know the scope hash to uncount.
type shard struct {
	mu    sync.Mutex
	m     map[key]int64 // key → expiry instant (ns since Memory.base); live while now < expiry
	lanes [maxLanes]lane
	limit int // most entries m may hold

	// share is the most entries of one scope m may hold, 0 for no limit. scopes counts the
	// entries of m by scope hash, while share is set; a scope leaves it at zero.
	share  int
	scopes map[uint64]int

	// peak is the largest len(m) since m was last allocated. Go maps never shrink, so m is
	// rebuilt when it falls to a quarter of its peak.
	peak int

	// nextScan is a lower bound on every expiry in m: a full scan before then finds nothing.
	nextScan int64

	_ [64]byte // keep neighbouring shards' mutexes off one cache line
}

// lane queues the entries recorded with one TTL.
type lane struct {
	ttl     time.Duration
	ordered bool // the queue is sorted by expiry
	q       ring
}

type entry struct {
	k     key
	exp   int64
	scope uint64 // the scope's hash, when the shard counts scopes
}

// record inserts k, of the scope hashed to sh, unless it is live; the caller holds s.mu.
func (s *shard) record(k key, sh uint64, ttl time.Duration, now, exp int64) error {
	s.expire(now)
	if e, ok := s.m[k]; ok {
		if e > now {
			return ErrReplay
		}
		// Expired but not swept yet (its lane is out of order): overwrite it in place. The key
		// stays in m, so its scope's count does not change.
	} else {
		// The share first: a flooding scope learns that it is the one refused.
		if s.share > 0 && s.scopes[sh] >= s.share {
			s.reclaim(now)
			if s.scopes[sh] >= s.share {
				return ErrScopeFull
			}
		}
		if len(s.m) >= s.limit {
			s.reclaim(now)
			if len(s.m) >= s.limit {
				return errFull
			}
		}
		if s.share > 0 {
			if s.scopes == nil {
				s.scopes = make(map[uint64]int)
			}
			s.scopes[sh]++
		}
	}
	if s.m == nil {
		s.m = make(map[key]int64)
	}
	s.m[k] = exp
	s.lane(ttl).push(entry{k, exp, sh})
	s.nextScan = min(s.nextScan, exp)
	s.peak = max(s.peak, len(s.m))
	return nil
}

// remove deletes e's key from m and uncounts it from its scope.
func (s *shard) remove(e entry) {
	delete(s.m, e.k)
	if s.share > 0 {
		if c := s.scopes[e.scope]; c > 1 {
			s.scopes[e.scope] = c - 1
		} else {
			delete(s.scopes, e.scope)
		}
	}
}

// expire pops expired entries off the front of every lane and deletes them from the map, then
// rebuilds the map if it has shrunk far below its peak. Each entry is popped once, so the cost is
// amortized O(1) per record.
func (s *shard) expire(now int64) {
	for i := range s.lanes {
		q := &s.lanes[i].q
		for q.n > 0 {
			e := q.front()
			if e.exp > now {
				break
			}
			// A key overwritten after expiry has a newer entry further back; keep it.
			if v, ok := s.m[e.k]; ok && v == e.exp {
				s.remove(*e)
			}
			q.pop()
		}
	}
	if s.peak >= rebuildMin && len(s.m) <= s.peak/4 {
		s.rebuild()
	}
}

// reclaim makes room in a full shard, or for a scope at its share, by deleting expired entries
// that expire could not reach. When every lane is sorted, expire has already removed every
// expired entry and reclaim costs nothing: a full store, or a flooding scope, stays cheap to
// refuse. Otherwise it scans every queue, at most once per expiry that nextScan says has passed,
// deleting the expired entries and dropping the stale ones, and sorts the lanes again.
func (s *shard) reclaim(now int64) {
	ordered := true
	for i := range s.lanes {
		ordered = ordered && (s.lanes[i].ordered || s.lanes[i].q.n == 0)
	}
	if ordered || now < s.nextScan {
		return
	}
	next := int64(math.MaxInt64)
	for i := range s.lanes {
		l := &s.lanes[i]
		l.q.compact(func(e entry) bool {
			v, ok := s.m[e.k]
			switch {
			case !ok || v != e.exp: // stale: the key was deleted or recorded again
				return false
			case v <= now:
				s.remove(e)
				return false
			}
			next = min(next, v)
			return true
		})
		slices.SortStableFunc(l.q.buf[:l.q.n], func(a, b entry) int { return cmp.Compare(a.exp, b.exp) })
		l.ordered = true
	}
	s.nextScan = next
}

// rebuild copies m, and the scope counts, into maps sized for their current contents, releasing
// the peak's memory.
func (s *shard) rebuild() {
	m := make(map[key]int64, len(s.m))
	for k, v := range s.m {
		m[k] = v
	}
	s.m = m
	s.peak = len(m)
	if s.scopes != nil {
		scopes := make(map[uint64]int, len(s.scopes))
		for h, c := range s.scopes {
			scopes[h] = c
		}
		s.scopes = scopes
	}
}

// lane returns the lane for ttl: the lane already holding ttl, else an empty lane (which takes
// ttl), else the lane with the nearest ttl.
func (s *shard) lane(ttl time.Duration) *lane {
	free, near := -1, 0
	for i := range s.lanes {
		l := &s.lanes[i]
		if l.q.n > 0 && l.ttl == ttl {
			return l
		}
		if l.q.n == 0 && free < 0 {
			free = i
		}
		if absDur(l.ttl-ttl) < absDur(s.lanes[near].ttl-ttl) {
			near = i
		}
	}
	if free >= 0 {
		l := &s.lanes[free]
		l.ttl, l.ordered = ttl, true
		return l
	}
	return &s.lanes[near]
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// push appends e, noting when it breaks the lane's expiry order (a shared lane, or a clock that
// went back).
func (l *lane) push(e entry) {
	if l.q.n > 0 && e.exp < l.q.back().exp {
		l.ordered = false
	}
	l.q.push(e)
}

// ring is a FIFO queue of entries in a power-of-two circular buffer that grows by doubling and
// shrinks by halving when a quarter full, so its memory follows its length.
type ring struct {
	buf  []entry
	head int
	n    int
}

func (q *ring) front() *entry { return &q.buf[q.head] }

func (q *ring) back() *entry { return &q.buf[(q.head+q.n-1)&(len(q.buf)-1)] }

func (q *ring) push(e entry) {
	if q.n == len(q.buf) {
		q.resize(max(minRing, 2*len(q.buf)))
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = e
	q.n++
}

func (q *ring) pop() {
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	if len(q.buf) > minRing && q.n <= len(q.buf)/4 {
		q.resize(len(q.buf) / 2)
	}
}

// resize moves the entries, in order, to the start of a buffer of size entries (a power of two,
// at least q.n).
func (q *ring) resize(size int) {
	buf := make([]entry, size)
	if q.n > 0 {
		end := q.head + q.n
		if end <= len(q.buf) {
			copy(buf, q.buf[q.head:end])
		} else {
			c := copy(buf, q.buf[q.head:])
			copy(buf[c:], q.buf[:end-len(q.buf)])
		}
	}
	q.buf, q.head = buf, 0
}

// compact keeps the entries for which keep is true, in order, at the start of a right-sized
// buffer.
func (q *ring) compact(keep func(entry) bool) {
	if q.n == 0 {
		return
	}
	size := len(q.buf)
	q.resize(size) // make the entries contiguous from 0
	kept := 0
	for _, e := range q.buf[:q.n] {
		if keep(e) {
			q.buf[kept] = e
			kept++
		}
	}
	q.n = kept
	for size > minRing && q.n <= size/4 {
		size /= 2
	}
	if size != len(q.buf) {
		q.resize(size)
	}
}
