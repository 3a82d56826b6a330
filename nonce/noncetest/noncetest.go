// Package noncetest is the conformance suite for nonce.Store implementations. The suite's
// subtests speak of nonces; servers record 32-byte replay keys (envelope.ReplayKey) through the
// same call, and DigestKeys checks those.
//
// Every implementation runs it from its tests with a Harness that builds fresh stores and moves
// their clock:
//
//	func TestConformance(t *testing.T) {
//		var clock fakeClock
//		noncetest.Run(t, noncetest.Harness{
//			New:     func(t *testing.T) nonce.Store { return mystore.New(clock.Now) },
//			Advance: func(t *testing.T, d time.Duration) { clock.Add(d) },
//		})
//	}
package noncetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
)

// Harness builds a fresh empty store for one test and moves its clock. Run
// calls New and Advance from the test goroutines of its subtests, never
// concurrently for the same store.
type Harness struct {
	// New returns a store holding no nonces. It is called once per subtest; cleanup belongs in
	// t.Cleanup.
	New func(t *testing.T) nonce.Store

	// Advance moves time forward by d for the stores New returned: an injected clock, miniredis
	// FastForward, or a real sleep. The suite advances by at most a few hundred milliseconds in
	// all, so sleeping is fine.
	Advance func(t *testing.T, d time.Duration)
}

const (
	// shortTTL is the TTL of the expiry subtests; it is short so that a harness that sleeps
	// still runs quickly.
	shortTTL = 200 * time.Millisecond

	// longTTL is the TTL of every other subtest: far longer than any subtest takes, so that
	// a slow machine never sees a nonce expire by accident.
	longTTL = 10 * time.Minute

	scope = "user-1\x00device-1"
)

// Run runs the conformance suite against the stores h builds, each subtest with t.Run. The
// subtests share h's clock, so they run one after another.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Advance == nil {
		t.Fatal("noncetest: Harness needs New and Advance")
	}
	ctx := context.Background()

	t.Run("FirstRecordOK", func(t *testing.T) {
		s := h.New(t)
		mustRecord(t, s, scope, nonceOf(1, 16), longTTL)
	})

	t.Run("SameScopeReplay", func(t *testing.T) {
		s := h.New(t)
		n := nonceOf(2, 16)
		mustRecord(t, s, scope, n, longTTL)
		mustReplay(t, s, scope, n, longTTL)
		mustReplay(t, s, scope, n, longTTL)
	})

	t.Run("OtherScopeOK", func(t *testing.T) {
		s := h.New(t)
		n := nonceOf(3, 16)
		mustRecord(t, s, scope, n, longTTL)
		mustRecord(t, s, "user-1\x00device-2", n, longTTL)
		mustRecord(t, s, "user-2\x00device-1", n, longTTL)
		mustRecord(t, s, "", n, longTTL)
		mustReplay(t, s, "user-1\x00device-2", n, longTTL)
	})

	t.Run("ScopeNonceBoundary", func(t *testing.T) {
		// Naive concatenation would map both pairs to "abc12345678".
		s := h.New(t)
		mustRecord(t, s, "ab", []byte("c12345678"), longTTL)
		mustRecord(t, s, "a", []byte("bc12345678"), longTTL)
		mustRecord(t, s, "abc", []byte("12345678"), longTTL)
		mustRecord(t, s, "a\x00b", []byte("12345678"), longTTL)
		mustRecord(t, s, "a", []byte("\x00b12345678"), longTTL)
		mustReplay(t, s, "ab", []byte("c12345678"), longTTL)
	})

	t.Run("ExpiresAfterTTL", func(t *testing.T) {
		s := h.New(t)
		n := nonceOf(4, 16)
		mustRecord(t, s, scope, n, shortTTL)
		h.Advance(t, shortTTL+shortTTL/4)
		mustRecord(t, s, scope, n, shortTTL)
		mustReplay(t, s, scope, n, shortTTL)
	})

	t.Run("LiveBeforeTTL", func(t *testing.T) {
		s := h.New(t)
		n := nonceOf(5, 16)
		mustRecord(t, s, scope, n, shortTTL)
		h.Advance(t, shortTTL/2)
		mustReplay(t, s, scope, n, shortTTL)
	})

	t.Run("ConcurrentSameNonce", func(t *testing.T) {
		s := h.New(t)
		n := nonceOf(6, 16)
		const workers = 64
		errs := make([]error, workers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				<-start
				errs[i] = s.Record(ctx, scope, n, longTTL)
			})
		}
		close(start)
		wg.Wait()
		accepted := 0
		for i, err := range errs {
			switch {
			case err == nil:
				accepted++
			case !errors.Is(err, nonce.ErrReplay):
				t.Errorf("worker %d: Record = %v, want nil or ErrReplay", i, err)
			}
		}
		if accepted != 1 {
			t.Errorf("%d of %d concurrent Records of one nonce were accepted, want exactly 1", accepted, workers)
		}
	})

	t.Run("ConcurrentDistinctNonces", func(t *testing.T) {
		s := h.New(t)
		const workers, each = 64, 16
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				sc := fmt.Sprintf("user\x00device-%d", w%8)
				for i := range each {
					n := nonceOf(uint64(w*each+i), 16)
					if err := s.Record(ctx, sc, n, longTTL); err != nil {
						t.Errorf("worker %d nonce %d: Record = %v, want nil", w, i, err)
					}
				}
			})
		}
		wg.Wait()
		mustReplay(t, s, "user\x00device-0", nonceOf(0, 16), longTTL)
		mustReplay(t, s, "user\x00device-7", nonceOf(uint64(63*each+each-1), 16), longTTL)
	})

	t.Run("CancelledContext", func(t *testing.T) {
		s := h.New(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := s.Record(cctx, scope, nonceOf(7, 16), longTTL)
		if err == nil || !errors.Is(err, nonce.ErrUnavailable) {
			t.Fatalf("Record with a cancelled ctx = %v, want ErrUnavailable", err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Record with a cancelled ctx = %v, want it to wrap context.Canceled", err)
		}
	})

	t.Run("ExpiredDeadline", func(t *testing.T) {
		s := h.New(t)
		dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		err := s.Record(dctx, scope, nonceOf(8, 16), longTTL)
		if err == nil || !errors.Is(err, nonce.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Record past its deadline = %v, want ErrUnavailable wrapping DeadlineExceeded", err)
		}
	})

	t.Run("NonPositiveTTL", func(t *testing.T) {
		s := h.New(t)
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := s.Record(ctx, scope, nonceOf(9, 16), ttl); !errors.Is(err, nonce.ErrUnavailable) {
				t.Errorf("Record with ttl %v = %v, want ErrUnavailable", ttl, err)
			}
		}
	})

	t.Run("BinaryNonce", func(t *testing.T) {
		s := h.New(t)
		zeros8 := make([]byte, 8)
		zeros9 := make([]byte, 9)
		mixed := []byte{0, 0xff, 0, '{', '}', ':', 0x80, 0}
		for _, n := range [][]byte{zeros8, zeros9, mixed} {
			mustRecord(t, s, scope, n, longTTL)
		}
		for _, n := range [][]byte{zeros8, zeros9, mixed} {
			mustReplay(t, s, scope, n, longTTL)
		}
		mustRecord(t, s, "\x00\xff{}:", zeros8, longTTL)
	})

	t.Run("LongNonce", func(t *testing.T) {
		s := h.New(t)
		n := nonceOf(10, 64)
		mustRecord(t, s, scope, n, longTTL)
		mustReplay(t, s, scope, n, longTTL)
		m := bytes.Clone(n)
		m[63] ^= 1
		mustRecord(t, s, scope, m, longTTL)
	})

	t.Run("DigestKeys", func(t *testing.T) {
		// Servers record the 32-byte SHA-256 digest of each request's
		// signed content (envelope.ReplayKey), not its nonce.
		s := h.New(t)
		keys := make([][]byte, 256)
		for i := range keys {
			d := sha256.Sum256(nonceOf(uint64(i), 8))
			keys[i] = d[:]
			mustRecord(t, s, scope, keys[i], longTTL)
		}
		for _, k := range keys {
			mustReplay(t, s, scope, k, longTTL)
			m := bytes.Clone(k)
			m[31] ^= 0x80
			mustRecord(t, s, scope, m, longTTL)
		}
	})

	t.Run("NonceNotRetained", func(t *testing.T) {
		// The caller may reuse its buffer once Record returns.
		s := h.New(t)
		buf := nonceOf(11, 16)
		mustRecord(t, s, scope, buf, longTTL)
		buf[0] ^= 0xff
		mustRecord(t, s, scope, buf, longTTL)
		buf[0] ^= 0xff
		mustReplay(t, s, scope, buf, longTTL)
	})
}

// nonceOf returns an n-byte nonce derived from i, distinct for distinct i.
func nonceOf(i uint64, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i >> (8 * (j % 8)))
		if j >= 8 {
			b[j] ^= byte(j)
		}
	}
	return b
}

func mustRecord(t *testing.T, s nonce.Store, scope string, n []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Record(context.Background(), scope, n, ttl); err != nil {
		t.Fatalf("Record(%q, %x) = %v, want nil", scope, n, err)
	}
}

func mustReplay(t *testing.T, s nonce.Store, scope string, n []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Record(context.Background(), scope, n, ttl); !errors.Is(err, nonce.ErrReplay) {
		t.Fatalf("Record(%q, %x) = %v, want ErrReplay", scope, n, err)
	}
}
