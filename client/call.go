package client

import (
	"context"
	"errors"
	"fmt"

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
	ch   chan *pb.RatatoskrResponse
	slot bool // holds a MaxInFlight slot until answered
}

// Call sends a signed BUSINESS_REQUEST for service and waits for its answer.
// A failed answer is returned as an *envelope.Error carrying the server's
// error_code and error_message (errors.As; envelope.CodeOf). When ctx ends
// first, Call returns ctx.Err() at once and the late answer is discarded.
// When the connection ends first, the error wraps ErrClosed.
//
// Call waits for one of Options.MaxInFlight slots first, honouring ctx.
func (c *Client) Call(ctx context.Context, service string, payload []byte, opts ...CallOption) (*Response, error) {
	var cfg callConfig
	for _, o := range opts {
		o(&cfg)
	}
	req, err := c.signer.Business(service, payload, cfg.metadata)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	resp, err := c.roundTrip(ctx, req, true, false)
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
// requests without one, use SendRaw and Unsolicited. Send takes a
// MaxInFlight slot as Call does.
func (c *Client) Send(ctx context.Context, req *pb.RatatoskrRequest) (*pb.RatatoskrResponse, error) {
	if req.GetRequestId() == "" {
		return nil, errors.New("client: Send needs a request_id to match the answer; use SendRaw")
	}
	return c.roundTrip(ctx, req, true, false)
}

// SendRaw writes frame as one message of type typ, without waiting for any
// answer: it is for tests and tools that send garbage or text frames. The
// server's answers to such frames match no call and arrive on Unsolicited.
func (c *Client) SendRaw(ctx context.Context, typ websocket.MessageType, frame []byte) error {
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

// roundTrip registers req as pending, hands it to the writer and waits for
// the answer. useSlot takes a MaxInFlight slot; closing lets Close send its
// DISCONNECT while new calls are refused.
func (c *Client) roundTrip(ctx context.Context, req *pb.RatatoskrRequest, useSlot, closing bool) (*pb.RatatoskrResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.usable(closing); err != nil {
		return nil, err
	}
	frame, err := envelope.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("client: encoding request: %w", err)
	}
	id := req.GetRequestId()
	if useSlot {
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, c.Err()
		}
	}
	ch, err := c.register(id, useSlot, closing)
	if err != nil {
		if useSlot {
			<-c.slots
		}
		return nil, err
	}
	// From here the entry is removed by whoever ends the request: the
	// reader (answer), the writer (frame not sent), or the connection's end.
	job := newWriteJob(ctx, websocket.MessageBinary, frame, func() { c.take(id) })
	if err := c.enqueue(ctx, job); err != nil {
		c.take(id)
		return nil, err
	}
	result := job.result
	for {
		select {
		case resp := <-ch:
			return resp, nil
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
				return resp, nil
			default:
			}
			return nil, c.Err()
		}
	}
}

// usable returns the error for a new request when the connection is gone
// or closing, and nil otherwise.
func (c *Client) usable(closing bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusal(closing)
}

// refusal is usable with c.mu held.
func (c *Client) refusal(closing bool) error {
	switch {
	case c.err != nil:
		return c.err
	case c.reason != nil:
		return closedError(c.reason)
	case c.isClosing && !closing:
		return ErrClosed
	}
	return nil
}

func (c *Client) register(id string, slot, closing bool) (chan *pb.RatatoskrResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refusal(closing); err != nil {
		return nil, err
	}
	if _, dup := c.pending[id]; dup {
		return nil, fmt.Errorf("client: request_id %q is already in flight", id)
	}
	ch := make(chan *pb.RatatoskrResponse, 1)
	c.pending[id] = &pending{ch: ch, slot: slot}
	return ch, nil
}

// take removes and returns the pending request id, or nil when it is no
// longer pending, and frees its slot.
func (c *Client) take(id string) *pending {
	c.mu.Lock()
	p, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if ok && p.slot {
		<-c.slots
	}
	return p
}
