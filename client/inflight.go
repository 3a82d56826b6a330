package client

import (
	"container/list"
	"context"
	"errors"
	"sync"
)

// errGateStopped is gate.acquire's error when its stop channel closes.
var errGateStopped = errors.New("client: stopped waiting for a slot")

// gate is the in-flight semaphore: a counting semaphore whose bound may
// change (a renewal announces the limits again) and whose waiters are
// served first come, first served. Its methods are safe for concurrent use.
type gate struct {
	mu      sync.Mutex
	limit   int
	n       int       // slots held; may exceed limit after a lowered limit
	waiters list.List // of chan struct{}, closed when granted a slot
}

func newGate(limit int) *gate { return &gate{limit: limit} }

// acquire takes a slot, waiting for one until ctx ends (ctx.Err()) or stop
// closes (errGateStopped).
func (g *gate) acquire(ctx context.Context, stop <-chan struct{}) error {
	g.mu.Lock()
	if g.n < g.limit && g.waiters.Len() == 0 {
		g.n++
		g.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	elem := g.waiters.PushBack(ready)
	g.mu.Unlock()

	var err error
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = errGateStopped
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-ready:
		// Granted while giving up: hand the slot on.
		g.n--
	default:
		g.waiters.Remove(elem)
	}
	g.grant()
	return err
}

// tryAcquire takes a slot when one is free and nobody waits, without
// waiting.
func (g *gate) tryAcquire() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n < g.limit && g.waiters.Len() == 0 {
		g.n++
		return true
	}
	return false
}

// release returns a slot.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	g.grant()
}

// setLimit changes the bound; slots held above a lowered bound stay held
// until released.
func (g *gate) setLimit(limit int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.limit = limit
	g.grant()
}

// grant hands free slots to waiters in order. g.mu is held.
func (g *gate) grant() {
	for g.n < g.limit {
		front := g.waiters.Front()
		if front == nil {
			return
		}
		g.waiters.Remove(front)
		g.n++
		close(front.Value.(chan struct{}))
	}
}
