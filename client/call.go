package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Response is the successful answer to a Call. It belongs to the caller.
type Response struct {
	// RequestID is the id of the request it answers.
	RequestID string
	// Payload is the service's answer.
	Payload []byte
	// Metadata is the response's metadata; nil when there is none.
	Metadata map[string]string
}

// CallOption configures one Call.
type CallOption func(*callConfig)

type callConfig struct {
	metadata map[string]string
}

// WithMetadata adds md to the request's metadata. The "service" entry is
// always the service given to Call. md is copied.
//
// Signature v1 does not cover metadata: run Ratatoskr over TLS.
func WithMetadata(md map[string]string) CallOption {
	return func(c *callConfig) {
		if c.metadata == nil {
			c.metadata = make(map[string]string, len(md))
		}
		for k, v := range md {
			c.metadata[k] = v
		}
	}
}

// pending is a request awaiting its answer. The reader delivers the answer
// on ch (buffered, so it never blocks on a caller that gave up).
type pending struct {
	ch     chan *pb.RatatoskrResponse
	ticket ticket // released when the request ends
}

// Call sends a signed BUSINESS_REQUEST for service and waits for its answer.
// A failed answer is returned as an *envelope.Error carrying the server's
// error_code and error_message (errors.As; envelope.CodeOf). When ctx ends
// first, Call returns at once an error wrapping ctx.Err() with the code
// UNAVAILABLE, and the late answer is discarded. When the connection ends
// first, the error wraps ErrClosed. Retryable tells which failures a fresh
// call may overcome. With Options.Reconnect, a call made while the client
// reconnects fails with ErrDisconnected or waits for the new connection
// (ReconnectOptions.WaitForConnection); a call in flight when the
// connection ends is not sent again.
//
// Call holds itself to the session's limits (see Limits) so that the
// server does not refuse it with RATE_LIMITED. Before anything is sent it
// waits, in this order:
//
//   - for an in-flight slot, while as many calls as the in-flight bound
//     (the smaller of Options.MaxInFlight and the server's announced
//     bound) await their answers. Slots go to calls in the order they
//     asked; a slot is held until the server answers, even when the
//     caller gave up.
//   - when the server announced a request rate, for a token of the
//     server's bucket (rate and burst as announced), behind the requests
//     already waiting, Heartbeat and Renew included. The client counts a
//     request's token as taken from the moment it is sent until its answer
//     arrives, and as taken at the answer's arrival afterwards, since the
//     server took it somewhere in between; so requests leave at most at
//     the announced rate, and at most burst of them await answers at once.
//
// Both waits end with ctx: Call then returns ctx.Err(), or, as soon as the
// rate alone would hold the request past ctx's deadline,
// context.DeadlineExceeded, wrapped in either case with the code
// UNAVAILABLE. Nothing has been sent then, and nothing is kept. The request is signed after the waits, so its timestamp is fresh.
func (c *Client) Call(ctx context.Context, service string, payload []byte, opts ...CallOption) (*Response, error) {
	l, err := c.active(ctx)
	if err != nil {
		return nil, err
	}
	return l.Call(ctx, service, payload, opts...)
}

// Call is Client.Call on this connection.
func (c *link) Call(ctx context.Context, service string, payload []byte, opts ...CallOption) (*Response, error) {
	var cfg callConfig
	for _, o := range opts {
		o(&cfg)
	}
	resp, err := c.roundTrip(ctx, request{
		admit: admitCall,
		typ:   pb.MessageType_BUSINESS_REQUEST,
		build: func() (*pb.RatatoskrRequest, error) { return c.signer.Business(service, payload, cfg.metadata) },
	})
	if err != nil {
		return nil, err
	}
	if err := envelope.ResponseError(resp); err != nil {
		return nil, err
	}
	return &Response{RequestID: resp.GetRequestId(), Payload: resp.GetPayload(), Metadata: resp.GetMetadata()}, nil
}

// Send sends req as it is (signed or deliberately broken) and waits for the
// response carrying its request_id, which it returns even when success is
// false: err reports only a failure to send, ctx, or the connection's end.
// req must have a request_id that no other request in flight uses; for
// requests without one, use SendRaw and Unsolicited.
//
// Send is for tests and tools, which must be able to send anything, floods
// included: it never waits for an in-flight slot or for the request rate,
// so the server may answer RATE_LIMITED. It still counts what it sends as
// the server does (a business request takes a free slot, a request other
// than DISCONNECT a free token), so that the calls after it stay within the
// limits.
func (c *Client) Send(ctx context.Context, req *pb.RatatoskrRequest) (*pb.RatatoskrResponse, error) {
	l, err := c.active(ctx)
	if err != nil {
		return nil, err
	}
	return l.Send(ctx, req)
}

// Send is Client.Send on this connection.
func (c *link) Send(ctx context.Context, req *pb.RatatoskrRequest) (*pb.RatatoskrResponse, error) {
	if req.GetRequestId() == "" {
		return nil, errors.New("client: Send needs a request_id to match the answer; use SendRaw")
	}
	return c.roundTrip(ctx, request{
		admit: admitTry,
		typ:   req.GetMessageType(),
		build: func() (*pb.RatatoskrRequest, error) { return req, nil },
	})
}

// SendRaw writes frame as one message of type typ, without waiting for any
// answer: it is for tests and tools that send garbage or text frames. The
// server's answers to such frames match no call and arrive on Unsolicited.
// Like Send, it never waits for the session's limits; unlike Send, it
// counts nothing against them.
func (c *Client) SendRaw(ctx context.Context, typ websocket.MessageType, frame []byte) error {
	l, err := c.active(ctx)
	if err != nil {
		return err
	}
	return l.SendRaw(ctx, typ, frame)
}

// SendRaw is Client.SendRaw on this connection.
func (c *link) SendRaw(ctx context.Context, typ websocket.MessageType, frame []byte) error {
	return coded(c.sendRaw(ctx, typ, frame))
}

func (c *link) sendRaw(ctx context.Context, typ websocket.MessageType, frame []byte) error {
	if err := c.usable(false); err != nil {
		return err
	}
	job := newWriteJob(ctx, typ, frame, nil)
	if err := c.enqueue(ctx, job); err != nil {
		return err
	}
	select {
	case err := <-job.result:
		if err != nil {
			return c.writeFailed(ctx, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// request is what roundTrip sends.
type request struct {
	admit admission
	typ   pb.MessageType
	// build returns the request; it is called once admitted, so that the
	// timestamp is fresh.
	build func() (*pb.RatatoskrRequest, error)
	// answerWithin bounds the wait for the answer once the request is
	// admitted; 0: ctx alone.
	answerWithin time.Duration
}

// roundTrip waits for what r.admit requires, builds the request, registers
// it as pending, hands it to the writer and waits for the answer. Its
// errors carry a code (see coded).
func (c *link) roundTrip(ctx context.Context, r request) (*pb.RatatoskrResponse, error) {
	resp, err := c.exchange(ctx, r)
	return resp, coded(err)
}

func (c *link) exchange(ctx context.Context, r request) (*pb.RatatoskrResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	closing := r.admit == admitClosing
	if err := c.usable(closing); err != nil {
		return nil, err
	}
	t, err := c.admit(ctx, r.admit, r.typ)
	if err != nil {
		return nil, err
	}
	req, err := r.build()
	if err != nil {
		c.end(t, nil)
		return nil, fmt.Errorf("client: %w", err)
	}
	frame, err := envelope.Marshal(req)
	if err != nil {
		c.end(t, nil)
		return nil, fmt.Errorf("client: encoding request: %w", err)
	}
	id := req.GetRequestId()
	ch, err := c.register(id, t, closing)
	if err != nil {
		c.end(t, nil)
		return nil, err
	}
	if r.answerWithin > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.answerWithin)
		defer cancel()
	}
	// From here the entry is removed, and its ticket released, by whoever
	// ends the request: the reader (answer), the writer (frame not sent),
	// or the connection's end.
	job := newWriteJob(ctx, websocket.MessageBinary, frame, func() { c.take(id, nil) })
	if err := c.enqueue(ctx, job); err != nil {
		c.take(id, nil)
		return nil, err
	}
	result := job.result
	for {
		select {
		case resp := <-ch:
			return c.answerTo(req, resp)
		case err := <-result:
			if err != nil {
				return nil, c.writeFailed(ctx, err)
			}
			result = nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			select {
			case resp := <-ch:
				return c.answerTo(req, resp)
			default:
			}
			return nil, c.Err()
		}
	}
}

// usable returns the error for a new request when the connection is gone
// or closing, and nil otherwise.
func (c *link) usable(closing bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusal(closing)
}

// refusal is usable with c.mu held.
func (c *link) refusal(closing bool) error {
	switch {
	case c.err != nil:
		return c.err
	case c.reason != nil:
		return closedErr(c.reason)
	case c.isClosing && !closing:
		return ErrClosed
	}
	return nil
}

func (c *link) register(id string, t ticket, closing bool) (chan *pb.RatatoskrResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refusal(closing); err != nil {
		return nil, err
	}
	if _, dup := c.pending[id]; dup {
		return nil, fmt.Errorf("client: request_id %q is already in flight", id)
	}
	ch := make(chan *pb.RatatoskrResponse, 1)
	c.pending[id] = &pending{ch: ch, ticket: t}
	return ch, nil
}

// take removes and returns the pending request id, or nil when it is no
// longer pending, and releases its ticket. answer is the server's answer,
// or nil when the request was not sent.
func (c *link) take(id string, answer *pb.RatatoskrResponse) *pending {
	c.mu.Lock()
	p, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if ok {
		c.end(p.ticket, answer)
	}
	return p
}
