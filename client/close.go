package client

import (
	"context"
	"fmt"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Close ends the session politely: it sends a signed DISCONNECT, waits for
// the server's DISCONNECT answer and for the server to close the
// connection, within Options.CloseTimeout in all; then it drops whatever is
// left and waits for the client's goroutines. New calls fail with ErrClosed
// as soon as Close starts; calls in flight get their answers if they come
// before the connection closes, and ErrClosed otherwise. The server answers
// DISCONNECT once its requests in flight on the connection have finished,
// (at most the server's DrainTimeout, 5 s by default), so a slow call can
// make Close wait that long.
//
// Close returns nil when the server answered, or when the connection was
// already gone (Err says why), and otherwise why the DISCONNECT went
// unanswered. It is safe to call more than once and concurrently; later
// calls wait for the first and return its result.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Client) close() error {
	c.mu.Lock()
	c.isClosing = true
	gone := c.err != nil || c.reason != nil
	c.mu.Unlock()
	close(c.closing)

	var err error
	if !gone {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.CloseTimeout)
		defer cancel()
		if err = c.disconnect(ctx); err == nil {
			// The server closes the connection after its answer.
			select {
			case <-c.done:
			case <-ctx.Done():
				c.log.Debug("ratatoskr client: server did not close after DISCONNECT; dropping the connection")
			}
		}
	}
	c.cancel() // stops the writer and the heartbeat loop; drops the connection under the reader
	c.wg.Wait()
	return err
}

// disconnect sends a DISCONNECT and waits for its answer.
func (c *Client) disconnect(ctx context.Context) error {
	// A DISCONNECT waits for no limit: the protocol says a server never
	// refuses it for one (a polite goodbye must always work).
	resp, err := c.roundTrip(ctx, request{admit: admitClosing, typ: pb.MessageType_DISCONNECT, build: c.signer.Disconnect})
	if err != nil {
		return fmt.Errorf("client: disconnect: %w", err)
	}
	if err := envelope.ResponseError(resp); err != nil {
		return fmt.Errorf("client: disconnect refused: %w", err)
	}
	if t := resp.GetMessageType(); t != pb.MessageType_DISCONNECT {
		return fmt.Errorf("client: disconnect answered with a %v response", t)
	}
	return nil
}

// abort drops the connection because of cause, unless it is already gone.
// The reader then ends the client with cause as the reason.
func (c *Client) abort(cause error) {
	c.mu.Lock()
	if c.err == nil && c.abortErr == nil {
		c.abortErr = cause
	}
	c.mu.Unlock()
	c.cancel()
}

// shutdown ends the client after the reader failed with cause: it records
// Err, fails every pending call (they all wait on done), stops the other
// goroutines and releases the connection. Only the reader calls it.
func (c *Client) shutdown(cause error) {
	c.mu.Lock()
	switch {
	case c.reason != nil:
		c.err = closedError(c.reason)
	case c.abortErr != nil:
		c.err = closedError(c.abortErr)
	case c.isClosing:
		c.err = ErrClosed
	default:
		c.err = closedError(cause)
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
	n := len(c.pending)
	clear(c.pending)
	err := c.err
	c.mu.Unlock()

	close(c.done)
	close(c.unsolicited)
	c.cancel()
	c.conn.CloseNow()
	if n > 0 || !c.closingStarted() {
		c.log.Info("ratatoskr client: connection closed", "error", err, "pending", n)
	}
}

func (c *Client) closingStarted() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// closedError wraps ErrClosed and cause, so that errors.Is(err, ErrClosed)
// holds and errors.As finds an *envelope.Error the cause carries.
func closedError(cause error) error {
	if cause == nil {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, cause)
}
