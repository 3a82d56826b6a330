package client

import (
	"context"
	"errors"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Limits returns the session's limits as the server announced them in its
// accepting CONNECTION_RESPONSE (envelope.MetadataMaxInFlight and the
// request rate and burst), updated by Renew. A zero field was not
// announced; a server older than the announcement announces nothing.
//
// The client holds its own requests to these limits, as Options.MaxInFlight
// and Call describe; an application needs them only to size its own work.
// At most min(Options.MaxInFlight, MaxInFlight) calls are in flight at once
// (whichever is set; DefaultMaxInFlight when neither is), and, when a rate
// is announced, requests are sent no faster than RequestRate per second
// with bursts of at most RequestBurst, and at most RequestBurst of them
// await their answers at once.
func (c *Client) Limits() envelope.Limits {
	return c.current().Limits()
}

// Limits is Client.Limits on this connection.
func (c *link) Limits() envelope.Limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits
}

// setLimits applies the limits a CONNECTION_RESPONSE announced. c.mu is
// held, or the client is not shared yet.
func (c *link) setLimits(l envelope.Limits) {
	c.limits = l
	c.inflight.setLimit(inFlightBound(c.opts.MaxInFlight, l.MaxInFlight))
	c.pacer.set(l.RequestRate, l.RequestBurst)
}

// inFlightBound is the client's bound on business requests in flight: the
// smaller of its own (Options.MaxInFlight) and the server's announced one,
// whichever is set, or DefaultMaxInFlight when neither is.
func inFlightBound(own, announced int) int {
	switch {
	case own > 0 && announced > 0:
		return min(own, announced)
	case own > 0:
		return own
	case announced > 0:
		return announced
	}
	return DefaultMaxInFlight
}

// admission is what a request waits for before it is sent.
type admission int

const (
	admitNone    admission = iota // nothing
	admitRate                     // the request rate (Heartbeat, automatic heartbeats, Renew)
	admitCall                     // an in-flight slot, then the request rate (Call)
	admitTry                      // Send: counted as the server counts it, never waiting
	admitClosing                  // Close's DISCONNECT: nothing, and allowed while closing
)

// ticket is what an admitted request holds until it ends: an in-flight
// slot, a place in the request rate, or neither.
type ticket struct {
	slot  bool
	rated bool
}

// admit waits for what a request of type typ needs under a, honouring ctx
// and the connection's end.
func (c *link) admit(ctx context.Context, a admission, typ pb.MessageType) (ticket, error) {
	var t ticket
	switch a {
	case admitRate:
		rated, err := c.pacer.wait(ctx, c.done)
		if err != nil {
			return t, c.waitFailed(err)
		}
		t.rated = rated
	case admitCall:
		if err := c.inflight.acquire(ctx, c.done); err != nil {
			return t, c.waitFailed(err)
		}
		t.slot = true
		// The rate comes last, right before sending: a request waiting
		// for a slot holds no place in the rate.
		rated, err := c.pacer.wait(ctx, c.done)
		if err != nil {
			c.inflight.release()
			return ticket{}, c.waitFailed(err)
		}
		t.rated = rated
	case admitTry:
		// Count what the server counts, so that the calls after a Send are
		// still held correctly: a business request takes a slot when one
		// is free (the server admits it then), and every request but
		// DISCONNECT a place in the rate.
		if typ == pb.MessageType_BUSINESS_REQUEST {
			t.slot = c.inflight.tryAcquire()
		}
		if typ != pb.MessageType_DISCONNECT {
			t.rated = c.pacer.count()
		}
	}
	return t, nil
}

// waitFailed maps the error of a wait that the connection's end stopped to
// the connection's error.
func (c *link) waitFailed(err error) error {
	if errors.Is(err, errGateStopped) || errors.Is(err, errPacerStopped) {
		return c.Err()
	}
	return err
}

// end releases what t holds. answer is the server's answer, or nil when
// the request was not sent (or its answer will never come).
func (c *link) end(t ticket, answer *pb.RatatoskrResponse) {
	if t.slot {
		c.inflight.release()
	}
	if t.rated {
		// The server answers a request refused by its rate limit with
		// RATE_LIMITED without taking a token; a business request may
		// also be refused for the in-flight bound after taking one, so
		// only other types are known not to have taken one.
		refusedByRate := answer.GetErrorCode() == string(envelope.CodeRateLimited) &&
			answer.GetMessageType() != pb.MessageType_BUSINESS_REQUEST
		c.pacer.settle(answer != nil && !refusedByRate)
	}
}
