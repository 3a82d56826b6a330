package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestInFlightBound(t *testing.T) {
	tests := []struct{ own, announced, want int }{
		{0, 0, DefaultMaxInFlight},
		{0, 8, 8},
		{0, 256, 256},
		{5, 0, 5},
		{5, 8, 5},
		{8, 5, 5},
	}
	for _, tt := range tests {
		if got := inFlightBound(tt.own, tt.announced); got != tt.want {
			t.Errorf("inFlightBound(%d, %d) = %d, want %d", tt.own, tt.announced, got, tt.want)
		}
	}
}

func TestPacer(t *testing.T) {
	ctx := context.Background()
	stop := make(chan struct{})
	p := newPacer()
	if counted, err := p.wait(ctx, stop); counted || err != nil {
		t.Fatalf("wait without a rate: %v, %v; want not counted", counted, err)
	}

	// One token every 100 s, bursts of 2: two requests go at once.
	p.set(0.01, 2)
	for range 2 {
		if counted, err := p.wait(ctx, stop); !counted || err != nil {
			t.Fatalf("wait within the burst: %v, %v", counted, err)
		}
	}
	// A third would wait about 100 s: past a deadline, it fails at once.
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := p.wait(dctx, stop); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait past the deadline: %v", err)
	}
	// The burst is taken by requests awaiting answers: a wait without
	// deadline holds until one is answered, and longer, as the answer
	// takes its token.
	got := make(chan error, 1)
	go func() {
		_, err := p.wait(ctx, stop)
		got <- err
	}()
	p.settle(false) // not sent: no token taken, a place is free
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	p.settle(true)
	p.settle(true)
	if n := p.lim.TokensAt(time.Now()); n > 0.01 {
		t.Fatalf("%v tokens after two answers, want about 0", n)
	}

	// Send counts without waiting.
	if !p.count() {
		t.Fatal("count with a rate did not count")
	}
	if p.pending != 1 {
		t.Fatalf("pending %d, want 1", p.pending)
	}

	// A faster rate lets the waiter through; the stop channel ends a wait.
	go func() {
		_, err := p.wait(ctx, stop)
		got <- err
	}()
	p.settle(false)
	p.set(1e6, 10)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	p.set(0.01, 1)
	go func() {
		_, err := p.wait(ctx, stop)
		got <- err
	}()
	close(stop)
	if err := <-got; !errors.Is(err, errPacerStopped) {
		t.Fatalf("stopped wait: %v", err)
	}
	// Removing the rate releases waiters uncounted.
	p.set(0, 0)
	if counted, err := p.wait(ctx, make(chan struct{})); counted || err != nil {
		t.Fatalf("wait after the rate was removed: %v, %v", counted, err)
	}
}

func TestPacerNeverAheadOfServer(t *testing.T) {
	// The server's bucket takes a token when a request arrives, after a
	// random delay; the pacer's model when the answer comes back. Over
	// many requests sent at once by many goroutines, the server never
	// finds its bucket empty.
	const r, burst = 200, 2
	p := newPacer()
	p.set(r, burst)
	server := rate.NewLimiter(r, burst)
	var mu sync.Mutex // the server reads requests one at a time
	var refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			counted, err := p.wait(context.Background(), nil)
			if err != nil || !counted {
				t.Errorf("wait: %v, %v", counted, err)
				return
			}
			time.Sleep(time.Duration(i%7) * time.Millisecond) // on the way to the server
			mu.Lock()
			if !server.Allow() {
				refused.Add(1)
			}
			mu.Unlock()
			time.Sleep(time.Duration(i%3) * time.Millisecond) // on the way back
			p.settle(true)
		})
	}
	wg.Wait()
	if n := refused.Load(); n > 0 {
		t.Fatalf("the server refused %d requests", n)
	}
}

func TestGate(t *testing.T) {
	ctx := context.Background()
	stop := make(chan struct{})
	g := newGate(2)
	for range 2 {
		if err := g.acquire(ctx, stop); err != nil {
			t.Fatal(err)
		}
	}
	if g.tryAcquire() {
		t.Fatal("tryAcquire on a full gate succeeded")
	}

	// Waiters are served in order.
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			if err := g.acquire(ctx, stop); err != nil {
				t.Error(err)
			}
			order <- i
		}()
		waitUntil(t, func() bool { return g.queued() == i+1 })
	}
	for want := range 3 {
		g.release()
		if got := <-order; got != want {
			t.Fatalf("waiter %d served, want %d", got, want)
		}
	}
	// Two slots held; nobody waits.

	// A waiter giving up leaves no trace; one giving up as it is granted
	// hands the slot on.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- g.acquire(cctx, stop) }()
	waitUntil(t, func() bool { return g.queued() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	if g.queued() != 0 || g.held() != 2 {
		t.Fatalf("after a cancelled wait: %d queued, %d held; want 0, 2", g.queued(), g.held())
	}

	// Raising the limit grants waiters; lowering it keeps held slots.
	go func() { errc <- g.acquire(ctx, stop) }()
	waitUntil(t, func() bool { return g.queued() == 1 })
	g.setLimit(3)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	g.setLimit(1)
	if g.held() != 3 || g.tryAcquire() {
		t.Fatalf("after lowering: %d held, want 3 and no free slot", g.held())
	}
	g.release()
	g.release()
	if g.tryAcquire() {
		t.Fatal("a slot above the lowered limit was granted")
	}
	g.release()
	if !g.tryAcquire() {
		t.Fatal("no slot under the lowered limit")
	}

	// Stop ends a wait.
	go func() { errc <- g.acquire(ctx, stop) }()
	waitUntil(t, func() bool { return g.queued() == 1 })
	close(stop)
	if err := <-errc; !errors.Is(err, errGateStopped) {
		t.Fatalf("stopped acquire: %v", err)
	}
	g.release()
	if g.held() != 0 {
		t.Fatalf("%d held at the end, want 0", g.held())
	}
}

func TestGateGrantedWhileGivingUp(t *testing.T) {
	// Race a release against a cancellation many times: whichever wins,
	// no slot is lost or made up.
	for range 200 {
		g := newGate(1)
		if !g.tryAcquire() {
			t.Fatal("tryAcquire on an empty gate failed")
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- g.acquire(ctx, nil) }()
		waitUntil(t, func() bool { return g.queued() == 1 })
		go cancel()
		g.release()
		if err := <-errc; err == nil {
			g.release()
		}
		cancel()
		if g.held() != 0 || g.queued() != 0 {
			t.Fatalf("%d held, %d queued; want 0, 0", g.held(), g.queued())
		}
	}
}

func (g *gate) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiters.Len()
}

func (g *gate) held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
