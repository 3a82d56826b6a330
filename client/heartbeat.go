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
// refused heartbeat returns an *envelope.Error. It does not take a
// MaxInFlight slot.
func (c *Client) Heartbeat(ctx context.Context) error {
	req, err := c.signer.Heartbeat()
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	resp, err := c.roundTrip(ctx, req, false, false)
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
// when one is not answered within the interval. It is owned by the Client
// and stops when Close starts or the connection ends.
func (c *Client) heartbeatLoop(interval time.Duration) {
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
		ctx, cancel := context.WithTimeout(c.ctx, interval)
		err := c.Heartbeat(ctx)
		cancel()
		var refused *envelope.Error
		switch {
		case err == nil:
		case errors.As(err, &refused) && !errors.Is(err, ErrClosed):
			// The server is alive; it just did not like this heartbeat.
			c.log.Warn("ratatoskr client: heartbeat refused", "error_code", refused.Code(), "error", err)
		case errors.Is(err, ErrClosed) || c.ctx.Err() != nil:
			return
		default:
			c.log.Warn("ratatoskr client: heartbeat not answered; dropping the connection", "error", err)
			c.abort(fmt.Errorf("client: heartbeat not answered within %v: %w", interval, err))
			return
		}
	}
}
