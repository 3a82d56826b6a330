package redisstore

import (
	"context"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batching: at most maxInFlight round trips are under way. A Record below the limit
// sends its own SET. Above it, the Record queues a call and sleeps; whoever finishes a round
// trip hands its slot to the oldest waiter, which wakes as leader, takes up to maxBatch
// waiting calls along with its own, sends them as one pipeline, hands each its result, and
// passes the slot on. Every Record thus sends at most one round trip, and no goroutine is
// started, so there is nothing to close.

// callState is where a waiting call stands; it changes only under Store.mu.
type callState uint8

const (
	waiting   callState = iota // in Store.waiting
	leading                    // handed a slot: must send a pipeline or pass the slot on
	batched                    // taken into a leader's pipeline
	abandoned                  // batched, but its Record has returned (ctx ended)
	done                       // err holds the result
)

// call is a Record waiting for a round trip.
type call struct {
	key      string
	ms       int64
	deadline time.Time // the Record's (every Record's ctx has one)
	state    callState
	err      error
	wake     chan struct{} // signalled once (buffered), when the call leaves the waiting state
}

// batched records key through a slot, waiting for one if all are busy.
func (s *Store) batched(ctx context.Context, key string, ms int64) error {
	s.mu.Lock()
	if s.inFlight < s.maxInFlight {
		s.inFlight++
		s.mu.Unlock()
		err := s.set(ctx, key, ms)
		s.mu.Lock()
		s.passSlot()
		s.mu.Unlock()
		return err
	}
	dl, _ := ctx.Deadline()
	c := &call{key: key, ms: ms, deadline: dl, wake: make(chan struct{}, 1)}
	s.waiting = append(s.waiting, c)
	s.mu.Unlock()

	select {
	case <-c.wake:
	case <-ctx.Done():
		if err, gone := s.withdraw(ctx, c); gone {
			return err
		}
	}
	s.mu.Lock()
	state, err := c.state, c.err
	s.mu.Unlock()
	if state == leading {
		return s.lead(ctx, c)
	}
	return err
}

// withdraw takes c back after its ctx ended, and reports whether the Record may return now with
// err. A call that already has its result stays, and so does one just handed a slot: lead sees
// its ended ctx and passes the slot on.
func (s *Store) withdraw(ctx context.Context, c *call) (err error, gone bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.state {
	case waiting:
		i := slices.Index(s.waiting, c)
		s.waiting = slices.Delete(s.waiting, i, i+1)
	case batched:
		c.state = abandoned // the leader drops its result
	default:
		return nil, false
	}
	return ctxErr(ctx), true
}

// lead sends c together with the calls waiting now, delivers their results and passes the slot.
func (s *Store) lead(ctx context.Context, c *call) error {
	s.mu.Lock()
	c.state = done
	if ctx.Err() != nil {
		// Gone before sending anything: let the next waiter lead instead.
		s.passSlot()
		s.mu.Unlock()
		return ctxErr(ctx)
	}
	n := min(len(s.waiting), maxBatch-1)
	batch := make([]*call, 0, n+1)
	batch = append(batch, c)
	batch = append(batch, s.waiting[:n]...)
	s.waiting = slices.Delete(s.waiting, 0, n)
	for _, b := range batch[1:] {
		b.state = batched
	}
	s.mu.Unlock()

	var err error
	if len(batch) == 1 {
		err = s.set(ctx, c.key, c.ms)
	} else {
		err = s.pipeline(ctx, batch)
	}

	s.mu.Lock()
	s.passSlot()
	s.mu.Unlock()
	return err
}

// pipeline sends batch (leader first) in one round trip and delivers the others' results; it
// returns the leader's. The round trip does not end with the leader's ctx but at the latest of
// the members' deadlines, so that one caller going away does not fail the rest, and none is cut
// short before its own deadline.
func (s *Store) pipeline(ctx context.Context, batch []*call) error {
	var deadline time.Time
	for _, b := range batch {
		if b.deadline.After(deadline) {
			deadline = b.deadline
		}
	}
	pctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	cmds := make([]*redis.StatusCmd, len(batch))
	pipe := s.client.Pipeline()
	for i, b := range batch {
		cmds[i] = setCmd(pctx, b.key, b.ms)
		_ = pipe.Process(pctx, cmds[i])
	}
	_, _ = pipe.Exec(pctx)

	s.mu.Lock()
	for i, b := range batch[1:] {
		if b.state == batched {
			b.err = result(pctx, cmds[i+1])
			b.state = done
			b.wake <- struct{}{}
		}
	}
	s.mu.Unlock()
	if err := ctxErr(ctx); err != nil {
		return err // the leader's own ctx ended while it sent for the others
	}
	return result(pctx, cmds[0])
}

// passSlot gives the slot of a finished round trip to the oldest waiter, or frees it. The
// caller holds s.mu.
func (s *Store) passSlot() {
	if len(s.waiting) == 0 {
		s.inFlight--
		return
	}
	next := s.waiting[0]
	s.waiting = slices.Delete(s.waiting, 0, 1)
	next.state = leading
	next.wake <- struct{}{}
}
