package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Heartbeat sends a signed HEARTBEAT and waits for the server's answer. A
// refused heartbeat returns an *envelope.Error. It does not take an
// in-flight slot, but when the server announced a request rate it first
// waits for the rate, as Call does, honouring ctx.
func (c *Client) Heartbeat(ctx context.Context) error {
	l, err := c.active(ctx)
	if err != nil {
		return err
	}
	return l.Heartbeat(ctx)
}

// Heartbeat is Client.Heartbeat on this connection.
func (c *link) Heartbeat(ctx context.Context) error {
	return c.heartbeat(ctx, 0)
}

// heartbeat is Heartbeat; answerWithin, when set, bounds the wait for the
// answer but not the wait for the rate.
func (c *link) heartbeat(ctx context.Context, answerWithin time.Duration) error {
	resp, err := c.roundTrip(ctx, request{admit: admitRate, typ: pb.MessageType_HEARTBEAT, build: c.signer.Heartbeat, answerWithin: answerWithin})
	if err != nil {
		return err
	}
	if err := envelope.ResponseError(resp); err != nil {
		return err
	}
	if t := resp.GetMessageType(); t != pb.MessageType_HEARTBEAT {
		return fmt.Errorf("client: heartbeat answered with a %v response", t)
	}
	return nil
}

// heartbeatLoop sends a heartbeat every interval and drops the connection
// when one is not answered within the interval. The wait for the request
// rate comes first and is not part of the interval: a heartbeat held back
// by the client's own calls says nothing about the server. It is owned by
// the Client and stops when Close starts or the connection ends.
func (c *link) heartbeatLoop(interval time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		err := c.heartbeat(c.ctx, interval)
		var refused *envelope.Error
		switch {
		case err == nil:
		case errors.Is(err, ErrClosed) || c.ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			c.log.Warn("ratatoskr client: heartbeat not answered; dropping the connection", "error", err)
			c.abort(fmt.Errorf("client: heartbeat not answered within %v: %w", interval, err))
			return
		case errors.As(err, &refused):
			// The server is alive; it just did not like this heartbeat.
			c.log.Warn("ratatoskr client: heartbeat refused", "error_code", refused.Code(), "error", err)
		default:
			c.log.Warn("ratatoskr client: heartbeat not answered; dropping the connection", "error", err)
			c.abort(fmt.Errorf("client: heartbeat not answered within %v: %w", interval, err))
			return
		}
	}
}
