package ratatoskrhttp

import (
	"context"
	"sync"
	"time"
)

// reqCtx is a service call's context. It costs no timer of its own: the
// connection keeps one timer for the earliest deadline of its requests in
// flight (dispatch.go) and cancels each request when its deadline passes,
// and draining and teardown cancel it too. Its values are the HTTP
// request's. It implements the AfterFunc method that package context uses
// to propagate cancellation to derived contexts without a goroutine.
type reqCtx struct {
	values   context.Context // never cancelled (context.WithoutCancel)
	deadline time.Time

	mu    sync.Mutex
	done  chan struct{} // made on the first Done call
	err   error
	funcs map[*afterFunc]struct{}
}

type afterFunc struct{ f func() }

var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

var _ context.Context = (*reqCtx)(nil)

// Deadline returns the request's deadline (RequestTimeout after it was
// read).
func (c *reqCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done returns a channel closed when the request is cancelled.
func (c *reqCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

// Err returns nil, context.Canceled or context.DeadlineExceeded.
func (c *reqCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value returns the HTTP request context's value for key.
func (c *reqCtx) Value(key any) any { return c.values.Value(key) }

// AfterFunc arranges for f to run in its own goroutine once c is done, as
// context.AfterFunc does.
func (c *reqCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f}
	if c.funcs == nil {
		c.funcs = make(map[*afterFunc]struct{})
	}
	c.funcs[a] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.funcs[a]
		delete(c.funcs, a)
		return ok
	}
}

// cancel ends c with err; the first call wins.
func (c *reqCtx) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for a := range funcs {
		go a.f()
	}
}
