package ratatoskrhttp

import (
	"context"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

var (
	errRateLimited = envelope.NewError(envelope.CodeRateLimited, "too many requests on this connection")
	errInFlight    = envelope.NewError(envelope.CodeRateLimited, "too many requests in flight on this connection")
)

// dispatch admits a business request and serves it on its own goroutine:
// validation (signature and nonce included), routing, the service, the
// answer. Admission never blocks the read loop: over the rate or the
// in-flight bound the request is refused with RATE_LIMITED.
func (c *conn) dispatch(req *pb.RatatoskrRequest, sess *Session, start time.Time) bool {
	if c.limiter != nil && !c.limiter.Allow() {
		c.logRequest(req, req.GetMetadata()[envelope.MetadataService], start, errRateLimited)
		return c.fail(req.GetMessageType(), req.GetRequestId(), errRateLimited)
	}
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

// serveBusiness runs one business request. It is owned by the connection:
// serve waits for it through inflight.
func (c *conn) serveBusiness(req *pb.RatatoskrRequest, sess Session, start time.Time) {
	defer c.inflight.Done()
	// The slot is freed just before the answer is queued: a client that
	// sends its next request on receiving this answer finds a free slot.
	slot := true
	release := func() {
		if slot {
			<-c.slots
			slot = false
		}
	}
	defer release()
	service := req.GetMetadata()[envelope.MetadataService]

	ctx, cancel := context.WithTimeout(c.ctx, c.h.o.RequestTimeout)
	defer cancel()
	if err := c.h.validator.Validate(ctx, req, expect(&sess)); err != nil {
		c.logRequest(req, service, start, err)
		release()
		c.fail(req.GetMessageType(), req.GetRequestId(), err)
		return
	}
	resp, err := c.h.Router.Serve(ctx, &Request{
		Service:   service,
		RequestID: req.GetRequestId(),
		DeviceID:  req.GetDeviceId(),
		UserID:    req.GetUserId(),
		Timestamp: time.Unix(req.GetTimestamp(), 0),
		Nonce:     req.GetNonce(),
		Payload:   req.GetPayload(),
		Metadata:  req.GetMetadata(),
		Session:   sess,
		Envelope:  req,
	})
	c.logRequest(req, service, start, err)
	if err != nil {
		out := envelope.Failure(req.GetMessageType(), req.GetRequestId(), err, c.h.now())
		if resp != nil {
			out.Payload, out.Metadata = resp.Payload, resp.Metadata
		}
		release()
		c.send(out)
		return
	}
	if resp == nil {
		resp = &Response{}
	}
	release()
	c.send(envelope.Success(req.GetMessageType(), req.GetRequestId(), resp.Payload, resp.Metadata, c.h.now()))
}
