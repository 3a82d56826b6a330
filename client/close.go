package client

import (
	"context"
	"fmt"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Close is CloseContext without a context of its own: it ends the session
// politely within Options.CloseTimeout.
func (c *Client) Close() error {
	return c.CloseContext(context.Background())
}

// CloseContext ends the session politely: it sends a signed DISCONNECT,
// waits for the server's DISCONNECT answer and for the server to close the
// connection, until ctx ends or Options.CloseTimeout passes, whichever
// comes first; then it drops whatever is left and waits for the client's
// goroutines (the reader, the writer, the heartbeat loop and an automatic
// renewal under way), which stop at once. New calls fail with ErrClosed as
// soon as CloseContext starts; calls in flight get their answers if they
// come before the connection closes, and ErrClosed otherwise. The server
// answers DISCONNECT once its requests in flight on the connection have
// finished (at most the server's DrainTimeout, 5 s by default), so a slow
// call can make the polite close take that long: ctx bounds it.
//
// CloseContext returns nil when the server answered, or when the
// connection was already gone (Err says why), and otherwise why the
// DISCONNECT went unanswered: when ctx or CloseTimeout ended the wait, an
// error wrapping ctx's error or context.DeadlineExceeded. It is safe to
// call more than once and concurrently: the calls share one close, which
// ends when the first of their contexts ends, and later calls wait for it
// and return its result.
//
// With Options.Reconnect, CloseContext also stops reconnecting: a dial or
// a backoff under way ends at once, and CloseContext waits for the
// client's reconnecting goroutine. While the client is reconnecting there
// is no session to end, and CloseContext returns nil.
func (c *Client) CloseContext(ctx context.Context) error {
	if c.opts.Reconnect == nil {
		return c.cur.CloseContext(ctx)
	}
	c.mu.Lock()
	c.closing = true // from here, supervise installs no connection
	l := c.cur
	c.mu.Unlock()
	c.stopCancel()
	err := l.CloseContext(ctx)
	<-c.supervised
	return err
}

// CloseContext is Client.CloseContext on this connection.
func (c *link) CloseContext(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		c.cutClose(err)
	} else if ctx.Done() != nil {
		cut := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(cut)
			c.cutClose(ctx.Err())
		})
		defer func() {
			if !stop() {
				<-cut // no goroutine outlives CloseContext
			}
		}()
	}
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *link) close() error {
	c.mu.Lock()
	c.isClosing = true
	gone := c.err != nil || c.reason != nil
	c.stopRenewal()
	c.mu.Unlock()
	close(c.closing)

	var err error
	if !gone {
		ctx, cancel := context.WithTimeout(c.closeCtx, c.opts.CloseTimeout)
		defer cancel()
		if err = c.disconnect(ctx); err == nil {
			// The server closes the connection after its answer.
			select {
			case <-c.done:
			case <-ctx.Done():
				c.log.Debug("ratatoskr client: server did not close after DISCONNECT; dropping the connection")
			}
		} else if cause := context.Cause(ctx); ctx.Err() != nil && cause != nil {
			err = coded(fmt.Errorf("client: disconnect not answered: %w", cause))
		}
	}
	c.cancel() // stops the writer, the heartbeat loop and a renewal; drops the connection under the reader
	c.wg.Wait()
	<-c.dropped
	c.cutClose(nil) // releases closeCtx
	return err
}

// disconnect sends a DISCONNECT and waits for its answer.
func (c *link) disconnect(ctx context.Context) error {
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
func (c *link) abort(cause error) {
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
func (c *link) shutdown(cause error) {
	c.mu.Lock()
	switch {
	case c.reason != nil:
		c.err = closedErr(c.reason)
	case c.abortErr != nil:
		c.err = closedErr(c.abortErr)
	case c.isClosing:
		c.err = ErrClosed
	default:
		c.err = closedErr(cause)
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.stopRenewal()
	n := len(c.pending)
	clear(c.pending)
	err := c.err
	c.mu.Unlock()

	close(c.done)
	if c.ownsUnsol {
		close(c.unsolicited)
	}
	c.cancel()
	c.conn.CloseNow()
	if n > 0 || !c.closingStarted() {
		c.log.Info("ratatoskr client: connection closed", "error", err, "pending", n)
	}
}

func (c *link) closingStarted() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}
