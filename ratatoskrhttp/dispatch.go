package ratatoskrhttp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

var (
	errRateLimited = envelope.NewError(envelope.CodeRateLimited, "too many requests from this device, slow down")
	errInFlight    = envelope.NewError(envelope.CodeRateLimited, "too many requests in flight on this connection")
	errTimedOut    = envelope.NewError(envelope.CodeUnavailable, "request timed out")
	errCancelled   = envelope.NewError(envelope.CodeUnavailable, "request cancelled: the session is ending")
	errPanic       = envelope.NewError(envelope.CodeInternal, "internal error")
)

// work is one business request in flight: admitted by the read loop,
// served by a worker, answered exactly once (by its service, or by the
// server when the drain runs out), and released when its answer is taken
// for writing.
type work struct {
	req        *pb.RatatoskrRequest
	sess       *Session
	start      time.Time
	size       int // the frame's size in bytes
	ctx        reqCtx
	answered   atomic.Bool
	prev, next *work // in conn.inflight, oldest (earliest deadline) first
}

// workList is the connection's requests in flight, in admission order,
// which is deadline order since every request gets RequestTimeout.
type workList struct {
	head, tail *work
	n          int
}

func (l *workList) push(w *work) {
	w.prev, w.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	l.n++
}

func (l *workList) remove(w *work) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next = nil, nil
	l.n--
}

func (l *workList) all() []*work {
	out := make([]*work, 0, l.n)
	for w := l.head; w != nil; w = w.next {
		out = append(out, w)
	}
	return out
}

// workerIdle is how long a worker waits for the next request before it
// exits: long enough to serve a busy connection's stream of requests
// without a new goroutine each, short enough that idle connections keep
// none.
const workerIdle = 100 * time.Millisecond

// dispatch admits a business request and hands it to a worker. Admission
// never blocks the read loop: past MaxInFlight, or once the session is
// ending, the request is refused at once.
func (c *conn) dispatch(req *pb.RatatoskrRequest, start time.Time, size int) {
	c.mu.Lock()
	if c.state != stateOpen {
		code := c.end.code
		c.mu.Unlock()
		err := envelope.NewError(code, disconnectText(code))
		c.report(c.values, req, serviceOf(req), start, size, err, 0)
		c.fail(req, req.GetMessageType(), req.GetRequestId(), err)
		return
	}
	if c.inflight.n >= c.h.o.MaxInFlight {
		sess := c.sess
		c.mu.Unlock()
		c.limited(LimitInFlight, sess, serviceOf(req))
		c.report(c.values, req, serviceOf(req), start, size, errInFlight, 0)
		c.fail(req, req.GetMessageType(), req.GetRequestId(), errInFlight)
		return
	}
	w := &work{req: req, sess: c.sess, start: start, size: size}
	w.ctx.values = c.values
	w.ctx.deadline = start.Add(c.h.o.RequestTimeout)
	c.inflight.push(w)
	if c.deadline == nil {
		c.deadline = time.AfterFunc(c.h.o.RequestTimeout, c.expireRequests)
	} else if c.inflight.n == 1 {
		c.deadline.Reset(c.h.o.RequestTimeout)
	}
	c.mu.Unlock()
	select {
	case c.work <- w:
	default:
		c.wg.Add(1)
		go c.worker(w) // owned by the connection: teardown waits for it
	}
}

// worker serves w, then whatever the read loop hands it, until none comes
// for workerIdle or the connection ends.
func (c *conn) worker(w *work) {
	defer c.wg.Done()
	var idle *time.Timer
	for {
		c.serveBusiness(w)
		if idle == nil {
			idle = time.NewTimer(workerIdle)
			defer idle.Stop()
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case w = <-c.work:
		case <-idle.C:
			return
		case <-c.done:
			return
		}
	}
}

// expireRequests cancels the requests whose deadline has passed and arms
// the timer for the next one: one timer per connection, not per request.
func (c *conn) expireRequests() {
	now := time.Now()
	var late []*work
	c.mu.Lock()
	w := c.inflight.head
	for ; w != nil && !w.ctx.deadline.After(now); w = w.next {
		late = append(late, w)
	}
	if w != nil && !c.gone {
		c.deadline.Reset(w.ctx.deadline.Sub(now))
	}
	c.mu.Unlock()
	for _, w := range late {
		w.ctx.cancel(context.DeadlineExceeded)
	}
}

// serveBusiness validates (signature and replay record included), routes
// and serves one business request and answers it. A service that panics
// without a Recoverer still only fails its own request. The observer, if
// any, sees the request start (its context is the one validation and the
// service get) and end.
func (c *conn) serveBusiness(w *work) {
	req := w.req
	service := req.GetMetadata()[envelope.MetadataService]
	t, id := req.GetMessageType(), req.GetRequestId()
	var ctx context.Context = &w.ctx
	if obs := c.h.obs; obs != nil {
		info := c.requestInfo(req, service, w.start, w.size)
		ctx = obs.StartRequest(ctx, &info)
	}
	defer func() {
		if v := recover(); v != nil {
			c.h.log.Error("ratatoskr: service panicked", "service", service, "request_id", id, "panic", v, "stack", string(debug.Stack()))
			err := envelope.WrapError(envelope.CodeInternal, errPanic.Message(), fmt.Errorf("ratatoskrhttp: service %q panicked: %v", service, v))
			c.report(ctx, req, service, w.start, w.size, err, 0)
			c.answer(w, envelope.Failure(t, id, err, c.h.now()))
		}
	}()

	if err := c.limitBusiness(ctx, w.sess, service); err != nil {
		c.report(ctx, req, service, w.start, w.size, err, 0)
		c.answer(w, envelope.Failure(t, id, err, c.h.now()))
		return
	}
	if err := c.h.validator.Validate(ctx, req, expect(w.sess)); err != nil {
		c.report(ctx, req, service, w.start, w.size, err, 0)
		c.answer(w, envelope.Failure(t, id, err, c.h.now()))
		c.countAbuse(err)
		return
	}
	resp, err := c.h.Router.Serve(ctx, &Request{
		Service:   service,
		RequestID: id,
		DeviceID:  req.GetDeviceId(),
		UserID:    req.GetUserId(),
		Timestamp: time.Unix(req.GetTimestamp(), 0),
		Nonce:     req.GetNonce(),
		Payload:   req.GetPayload(),
		Metadata:  req.GetMetadata(),
		Session:   *w.sess,
		Envelope:  req,
	})
	if err != nil {
		err = contextError(err)
		out := envelope.Failure(t, id, err, c.h.now())
		if resp != nil {
			out.Payload, out.Metadata = resp.Payload, resp.Metadata
		}
		c.report(ctx, req, service, w.start, w.size, err, len(out.Payload))
		c.answer(w, out)
		return
	}
	if resp == nil {
		resp = &Response{}
	}
	c.report(ctx, req, service, w.start, w.size, nil, len(resp.Payload))
	c.answer(w, envelope.Success(t, id, resp.Payload, resp.Metadata, c.h.now()))
}

// answer sends the one answer of w: the first call wins, later ones (a
// service answering after the server answered for it) are dropped.
func (c *conn) answer(w *work, resp *pb.RatatoskrResponse) {
	if w.answered.CompareAndSwap(false, true) {
		c.send(c.encode(resp, w.req), w)
	}
}

// taken releases w once its answer is taken for writing (or dropped): it
// leaves the in-flight count, and a draining session may finish.
func (c *conn) taken(w *work) {
	c.mu.Lock()
	c.inflight.remove(w)
	c.mu.Unlock()
	c.finish()
}

// contextError gives a service's uncoded context error a code the device
// can act on (UNAVAILABLE: retry) instead of INTERNAL.
func contextError(err error) error {
	var coded *envelope.Error
	if errors.As(err, &coded) {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return envelope.WrapError(envelope.CodeUnavailable, errTimedOut.Message(), err)
	case errors.Is(err, context.Canceled):
		return envelope.WrapError(envelope.CodeUnavailable, errCancelled.Message(), err)
	}
	return err
}
