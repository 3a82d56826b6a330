package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer holds the client's requests to the request rate the server
// announced, so that the server's token bucket never refuses one.
//
// The server takes a token when a request arrives; the client cannot see
// that moment, only that it lies between the send and the answer. A bucket
// that took its tokens when requests leave (rate.Limiter.Wait) runs ahead
// of the server's whenever the network brings two requests closer together
// than they left, and then sends a request the server finds early: with the
// announced numbers exactly, a few sequential requests at a burst of 2 are
// refused now and then. So the pacer models the server's bucket as the
// client must assume it: a rate.Limiter with the announced rate and burst
// takes each request's token only when its answer arrives (the server
// counted it before answering), and a request is admitted when the tokens
// there, less one for each request sent and not yet answered, leave one for
// it. Every token the server can have taken is counted no later than it
// was, so the model never holds more tokens than the server's bucket (a
// bucket only loses by counting later) and an admitted request always finds
// its token. The price is that at most burst requests are unanswered at
// once.
//
// Waiters are served first come, first served. Its methods are safe for
// concurrent use.
type pacer struct {
	mu      sync.Mutex
	lim     *rate.Limiter // the server's bucket as the client must assume it; nil: no rate announced
	pending int           // requests counted and not answered yet
	changed chan struct{} // closed and replaced when pending drops or the limits change

	turn chan struct{} // capacity 1: the waiter holding it is the head; senders queue in order
}

func newPacer() *pacer {
	return &pacer{changed: make(chan struct{}), turn: make(chan struct{}, 1)}
}

// errPacerStopped is pacer.wait's error when its stop channel closes.
var errPacerStopped = errors.New("client: stopped waiting for the request rate")

// set applies an announced rate and burst; a rate of zero removes the limit.
// An absent burst counts as 1.
func (p *pacer) set(r float64, burst int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	burst = max(1, burst)
	switch {
	case r <= 0:
		p.lim = nil
	case p.lim == nil:
		p.lim = rate.NewLimiter(rate.Limit(r), burst)
	default:
		now := time.Now()
		p.lim.SetLimitAt(now, rate.Limit(r))
		p.lim.SetBurstAt(now, burst)
	}
	p.notify()
}

// notify wakes the head waiter. p.mu is held.
func (p *pacer) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait counts one request, first waiting, behind earlier waiters, until the
// model leaves a token for it. It reports whether the request was counted
// (false when no rate is announced); a counted request must be settled or
// uncounted. It fails with ctx.Err() when ctx ends, with errPacerStopped
// when stop closes, and at once, with an error wrapping
// context.DeadlineExceeded, when the rate alone would hold the request
// past ctx's deadline.
func (p *pacer) wait(ctx context.Context, stop <-chan struct{}) (counted bool, err error) {
	p.mu.Lock()
	if p.lim == nil {
		p.mu.Unlock()
		return false, nil
	}
	// The requests awaiting answers take their tokens first, so the wait
	// is at least this long (longer behind other waiters, or when the
	// bucket is full and answers must come first).
	need := 1 + float64(p.pending) - p.lim.TokensAt(time.Now())
	err = p.beyondDeadline(ctx, need)
	p.mu.Unlock()
	if err != nil {
		return false, err
	}

	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = errPacerStopped
	}
	if err != nil {
		return false, err
	}
	defer func() { <-p.turn }()

	for {
		p.mu.Lock()
		if p.lim == nil {
			p.mu.Unlock()
			return false, nil
		}
		avail := p.lim.TokensAt(time.Now()) - float64(p.pending)
		if avail >= 1 {
			p.pending++
			p.mu.Unlock()
			return true, nil
		}
		// Refilling alone suffices unless the requests awaiting answers
		// take the whole burst; then an answer must come first.
		refills := float64(p.lim.Burst()-p.pending) >= 1
		changed := p.changed
		var err error
		if refills {
			err = p.beyondDeadline(ctx, 1-avail)
		}
		p.mu.Unlock()
		if err != nil {
			return false, err
		}

		var timer *time.Timer
		var fire <-chan time.Time
		if refills {
			timer = time.NewTimer(p.duration(1 - avail))
			fire = timer.C
		}
		select {
		case <-fire:
		case <-changed:
		case <-ctx.Done():
			err = ctx.Err()
		case <-stop:
			err = errPacerStopped
		}
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			return false, err
		}
	}
}

// beyondDeadline returns an error wrapping context.DeadlineExceeded when
// refilling tokens would take past ctx's deadline. p.mu is held and p.lim
// is set.
func (p *pacer) beyondDeadline(ctx context.Context, tokens float64) error {
	if tokens <= 0 {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	if d := p.duration(tokens); time.Until(deadline) < d {
		return fmt.Errorf("client: the request rate would hold this request %v, past its context's deadline: %w",
			d.Round(time.Millisecond), context.DeadlineExceeded)
	}
	return nil
}

// duration is how long the bucket takes to refill tokens. p.mu is held
// and p.lim is set.
func (p *pacer) duration(tokens float64) time.Duration {
	secs := tokens / float64(p.lim.Limit())
	if secs >= float64(math.MaxInt64)/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(secs * float64(time.Second))
}

// count counts a request without waiting (Send), and reports whether it was
// counted.
func (p *pacer) count() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lim == nil {
		return false
	}
	p.pending++
	return true
}

// settle ends a counted request. answered says the server answered it (a
// request never sent, or answered as refused by the rate, took no token).
func (p *pacer) settle(answered bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending--
	if answered && p.lim != nil {
		// The token the server took before answering; the bucket may go
		// below zero when the model lagged.
		p.lim.ReserveN(time.Now(), 1)
	}
	p.notify()
}
