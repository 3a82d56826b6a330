package redisstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
)

// gateHook holds SET commands (single or pipelined) until the test opens the gate, and counts
// the pipelines and their sizes.
type gateHook struct {
	single, pipe chan struct{} // closed to release the held commands
	holdSingle   atomic.Bool   // hold single SETs
	holdPipe     atomic.Bool   // hold pipelines of SETs
	heldSingle   chan struct{} // signalled when a single SET is held
	heldPipe     chan struct{} // signalled when a pipeline is held

	mu    sync.Mutex
	sizes []int
}

func newGateHook() *gateHook {
	return &gateHook{
		single:     make(chan struct{}),
		pipe:       make(chan struct{}),
		heldSingle: make(chan struct{}, 100),
		heldPipe:   make(chan struct{}, 100),
	}
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "set" && h.holdSingle.Load() {
			h.heldSingle <- struct{}{}
			<-h.single
		}
		return next(ctx, cmd)
	}
}

func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || cmds[0].Name() != "set" {
			return next(ctx, cmds) // the connection handshake
		}
		h.mu.Lock()
		h.sizes = append(h.sizes, len(cmds))
		h.mu.Unlock()
		if h.holdPipe.Load() {
			h.heldPipe <- struct{}{}
			<-h.pipe
		}
		return next(ctx, cmds)
	}
}

func (h *gateHook) pipelineSizes() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

func newBatchStore(t *testing.T, maxInFlight int) (*Store, *miniredis.Miniredis, *gateHook) {
	t.Helper()
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	h := newGateHook()
	c.AddHook(h)
	r := New(c, &Options{MaxInFlight: maxInFlight, Timeout: 5 * time.Second})
	return r, mr, h
}

// waitFor polls cond until it holds, for at most a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *Store) numWaiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}

func (s *Store) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight == 0 && len(s.waiting) == 0
}

func testNonce(i int) []byte {
	return []byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 1, 2, 3, 4}
}

// occupySlot starts a Record of testNonce(0) that takes the only slot and is
// held in flight until h.single is closed; its result arrives on the
// returned channel.
func occupySlot(r *Store, h *gateHook) chan error {
	h.holdSingle.Store(true)
	first := make(chan error, 1)
	go func() { first <- r.Record(context.Background(), "s", testNonce(0), time.Minute) }()
	<-h.heldSingle
	h.holdSingle.Store(false)
	return first
}

func TestBatchesWaiters(t *testing.T) {
	r, mr, h := newBatchStore(t, 1)
	ctx := context.Background()

	// The first Record takes the only slot and is held in flight.
	first := occupySlot(r, h)

	// Ten more queue up behind it.
	const n = 10
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		go func() { errs <- r.Record(ctx, "s", testNonce(i), time.Minute) }()
	}
	waitFor(t, "10 waiting Records", func() bool { return r.numWaiting() == n })

	close(h.single)
	if err := <-first; err != nil {
		t.Fatalf("first Record = %v", err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("batched Record = %v", err)
		}
	}
	if sizes := h.pipelineSizes(); len(sizes) != 1 || sizes[0] != n {
		t.Errorf("pipelines sent = %v, want one of %d", sizes, n)
	}
	if got := len(mr.Keys()); got != n+1 {
		t.Errorf("%d keys in Redis, want %d", got, n+1)
	}
	if !r.idle() {
		t.Error("store not idle after all Records returned")
	}
}

func TestBatchReplayInPipeline(t *testing.T) {
	// Duplicates inside one pipeline: Redis runs them in order, so exactly one wins.
	r, _, h := newBatchStore(t, 1)
	ctx := context.Background()
	first := occupySlot(r, h)

	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() { errs <- r.Record(ctx, "s", testNonce(7), time.Minute) }()
	}
	waitFor(t, "waiting Records", func() bool { return r.numWaiting() == n })
	close(h.single)
	<-first
	accepted := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			accepted++
		case !errors.Is(err, nonce.ErrReplay):
			t.Fatalf("Record = %v", err)
		}
	}
	if accepted != 1 {
		t.Errorf("%d of %d duplicates accepted, want 1", accepted, n)
	}
}

func TestBatchWithdrawWhileWaiting(t *testing.T) {
	r, mr, h := newBatchStore(t, 1)
	ctx := context.Background()
	first := occupySlot(r, h)

	cctx, cancel := context.WithCancel(ctx)
	waiter := make(chan error, 1)
	go func() { waiter <- r.Record(cctx, "s", testNonce(1), time.Minute) }()
	waitFor(t, "a waiting Record", func() bool { return r.numWaiting() == 1 })
	cancel()
	select {
	case err := <-waiter:
		if !errors.Is(err, nonce.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiting Record = %v, want ErrUnavailable wrapping Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled waiting Record did not return while the slot was busy")
	}
	if n := r.numWaiting(); n != 0 {
		t.Errorf("%d calls still waiting", n)
	}
	close(h.single)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if keys := mr.Keys(); len(keys) != 1 {
		t.Errorf("keys = %q: the withdrawn nonce was sent", keys)
	}
	if !r.idle() {
		t.Error("store not idle")
	}
}

func TestBatchWithdrawWhileBatched(t *testing.T) {
	r, _, h := newBatchStore(t, 1)
	ctx := context.Background()
	h.holdPipe.Store(true)
	first := occupySlot(r, h)

	leader := make(chan error, 1)
	go func() { leader <- r.Record(ctx, "s", testNonce(1), time.Minute) }()
	waitFor(t, "the leader waiting", func() bool { return r.numWaiting() == 1 })
	cctx, cancel := context.WithCancel(ctx)
	follower := make(chan error, 1)
	go func() { follower <- r.Record(cctx, "s", testNonce(2), time.Minute) }()
	waitFor(t, "the follower waiting", func() bool { return r.numWaiting() == 2 })

	close(h.single) // the first returns; the leader sends a pipeline of two, held
	<-h.heldPipe
	cancel()
	select {
	case err := <-follower:
		if !errors.Is(err, nonce.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled batched Record = %v, want ErrUnavailable wrapping Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled batched Record did not return while its pipeline was in flight")
	}
	close(h.pipe)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-leader; err != nil {
		t.Fatalf("leader = %v", err)
	}
	if !r.idle() {
		t.Error("store not idle")
	}
}

func TestBatchLeaderCancelled(t *testing.T) {
	// A leader whose ctx ends while it sends for others returns an error, but the others get
	// their answers.
	r, _, h := newBatchStore(t, 1)
	ctx := context.Background()
	h.holdPipe.Store(true)
	first := occupySlot(r, h)

	cctx, cancel := context.WithCancel(ctx)
	leader := make(chan error, 1)
	go func() { leader <- r.Record(cctx, "s", testNonce(1), time.Minute) }()
	waitFor(t, "the leader waiting", func() bool { return r.numWaiting() == 1 })
	follower := make(chan error, 1)
	go func() { follower <- r.Record(ctx, "s", testNonce(2), time.Minute) }()
	waitFor(t, "the follower waiting", func() bool { return r.numWaiting() == 2 })

	close(h.single)
	<-h.heldPipe
	cancel()
	close(h.pipe)
	if err := <-leader; !errors.Is(err, nonce.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled leader = %v, want ErrUnavailable wrapping Canceled", err)
	}
	if err := <-follower; err != nil {
		t.Fatalf("follower of a cancelled leader = %v, want nil", err)
	}
	<-first
	if !r.idle() {
		t.Error("store not idle")
	}
}

func TestBatchStress(t *testing.T) {
	// Many Records, some cancelled at random moments: every Record returns, no nonce is
	// accepted twice, and the store ends idle.
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer c.Close()
	r := New(c, &Options{MaxInFlight: 2})

	const workers, each, distinct = 32, 50, 400
	var accepted [distinct]atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range each {
				i := rng.IntN(distinct)
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(4) == 0 {
					time.AfterFunc(time.Duration(rng.IntN(200))*time.Microsecond, cancel)
				}
				err := r.Record(ctx, "s", testNonce(i), time.Minute)
				cancel()
				switch {
				case err == nil:
					accepted[i].Add(1)
				case errors.Is(err, nonce.ErrReplay), errors.Is(err, nonce.ErrUnavailable):
				default:
					t.Errorf("Record = %v", err)
				}
			}
		})
	}
	wg.Wait()
	for i := range accepted {
		if n := accepted[i].Load(); n > 1 {
			t.Errorf("nonce %d accepted %d times", i, n)
		}
	}
	if !r.idle() {
		t.Error("store not idle after all Records returned")
	}
}
