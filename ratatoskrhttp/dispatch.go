package ratatoskrhttp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

var (
	errRateLimited = envelope.NewError(envelope.CodeRateLimited, "too many requests on this connection")
	errInFlight    = envelope.NewError(envelope.CodeRateLimited, "too many requests in flight on this connection")
	errTimedOut    = envelope.NewError(envelope.CodeUnavailable, "request timed out")
	errCancelled   = envelope.NewError(envelope.CodeUnavailable, "request cancelled: the session is ending")
	errPanic       = envelope.NewError(envelope.CodeInternal, "internal error")
)

// dispatch admits a business request and serves it on its own goroutine:
// validation (signature and nonce included), routing, the service, the
// answer. Admission never blocks the read loop: past the in-flight bound
// the request is refused with RATE_LIMITED. (The rate limit is checked by
// handle, for every request type.)
func (c *conn) dispatch(req *pb.RatatoskrRequest, sess *Session, start time.Time) bool {
	select {
	case c.slots <- struct{}{}:
	default:
		c.logRequest(req, req.GetMetadata()[envelope.MetadataService], start, errInFlight)
		return c.fail(req.GetMessageType(), req.GetRequestId(), errInFlight)
	}
	c.mu.Lock()
	if code := c.closing; code != "" {
		c.mu.Unlock()
		<-c.slots
		err := envelope.NewError(code, disconnectText(code))
		c.logRequest(req, "", start, err)
		return c.fail(req.GetMessageType(), req.GetRequestId(), err)
	}
	c.inflight.Add(1) // under mu, so end never waits while more are admitted
	c.mu.Unlock()
	go c.serveBusiness(req, *sess, start)
	return true
}

// serveBusiness runs one business request and queues its answer, which
// frees the request's slot once the writer takes it. It is owned by the
// connection: serve waits for it through inflight. A service that panics
// without a Recoverer still only fails its own request.
func (c *conn) serveBusiness(req *pb.RatatoskrRequest, sess Session, start time.Time) {
	defer c.inflight.Done()
	service := req.GetMetadata()[envelope.MetadataService]
	t, id := req.GetMessageType(), req.GetRequestId()
	defer func() {
		if v := recover(); v != nil {
			c.h.log.Error("ratatoskr: service panicked", "service", service, "request_id", id, "panic", v, "stack", string(debug.Stack()))
			err := envelope.WrapError(envelope.CodeInternal, errPanic.Message(), fmt.Errorf("ratatoskrhttp: service %q panicked: %v", service, v))
			c.logRequest(req, service, start, err)
			c.sendAnswer(envelope.Failure(t, id, err, c.h.now()))
		}
	}()

	ctx, cancel := context.WithTimeout(c.ctx, c.h.o.RequestTimeout)
	defer cancel()
	if err := c.h.validator.Validate(ctx, req, expect(&sess)); err != nil {
		c.logRequest(req, service, start, err)
		c.sendAnswer(envelope.Failure(t, id, err, c.h.now()))
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
		Session:   sess,
		Envelope:  req,
	})
	if err != nil {
		err = contextError(err)
		c.logRequest(req, service, start, err)
		out := envelope.Failure(t, id, err, c.h.now())
		if resp != nil {
			out.Payload, out.Metadata = resp.Payload, resp.Metadata
		}
		c.sendAnswer(out)
		return
	}
	c.logRequest(req, service, start, nil)
	if resp == nil {
		resp = &Response{}
	}
	c.sendAnswer(envelope.Success(t, id, resp.Payload, resp.Metadata, c.h.now()))
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
