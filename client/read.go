package client

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// unsolicitedBuffer is the capacity of the Unsolicited channel.
const unsolicitedBuffer = 16

// Unsolicited returns the channel of responses that answer no pending
// request: the server's DISCONNECT (shutdown, session expiry), ERROR answers
// to undecodable frames, and answers whose request_id is unknown. Answers
// to requests whose caller gave up are discarded, not delivered here.
//
// The channel holds the 16 most recent such responses; when it is full the
// oldest is dropped, so a client that never reads it loses nothing else.
// It is closed after the connection is gone; with Options.Reconnect, it
// serves every connection of the client and is closed when the client
// ends (Done).
func (c *Client) Unsolicited() <-chan *pb.RatatoskrResponse {
	return c.unsolicited
}

// readLoop reads responses and dispatches them until the connection fails.
// It is owned by the Client; Close and abort stop it by cancelling c.ctx,
// which closes the connection under the read (see Dial). It reads with a
// context that never ends, so that no timer is armed per frame.
func (c *link) readLoop() {
	defer c.wg.Done()
	for {
		typ, data, err := c.conn.Read(context.Background())
		if err != nil {
			c.shutdown(err)
			return
		}
		if typ != websocket.MessageBinary {
			c.log.Warn("ratatoskr client: ignoring a non-binary message from the server", "type", typ.String())
			continue
		}
		resp := new(pb.RatatoskrResponse)
		if err := proto.Unmarshal(data, resp); err != nil {
			c.log.Warn("ratatoskr client: ignoring an undecodable message from the server", "error", err, "size", len(data))
			continue
		}
		c.dispatch(resp)
	}
}

// dispatch hands resp to the call awaiting it, or else to Unsolicited. It
// never blocks.
func (c *link) dispatch(resp *pb.RatatoskrResponse) {
	if id := resp.GetRequestId(); id != "" {
		if p := c.take(id, resp); p != nil {
			p.ch <- resp // buffered; discarded if the caller left
			return
		}
	}
	if !c.unsolicitedOK(resp) {
		c.log.Warn("ratatoskr client: dropping a response not signed by the server's key",
			"type", resp.GetMessageType().String(), "request_id", resp.GetRequestId(), "error_code", resp.GetErrorCode())
		return
	}
	if resp.GetMessageType() == pb.MessageType_DISCONNECT {
		c.serverDisconnect(resp)
	} else {
		c.log.Debug("ratatoskr client: unsolicited response",
			"type", resp.GetMessageType().String(), "request_id", resp.GetRequestId(), "error_code", resp.GetErrorCode())
	}
	for {
		select {
		case c.unsolicited <- resp:
			return
		default:
		}
		select {
		case <-c.unsolicited: // drop the oldest
		default:
		}
	}
}

// errServerDisconnect is the reason recorded for a DISCONNECT from the
// server that carries no error code.
var errServerDisconnect = errors.New("client: server disconnected")

// serverDisconnect records the reason of a server-initiated DISCONNECT.
// The server closes the connection next; if it does not within
// CloseTimeout, the client drops it.
func (c *link) serverDisconnect(resp *pb.RatatoskrResponse) {
	reason := envelope.ResponseError(resp)
	if reason == nil {
		reason = errServerDisconnect
	}
	c.log.Info("ratatoskr client: server disconnected", "error_code", resp.GetErrorCode(), "error_message", resp.GetErrorMessage())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != nil || c.err != nil {
		return
	}
	c.reason = reason
	c.expiry = time.AfterFunc(c.opts.CloseTimeout, func() { c.abort(closedErr(reason)) })
}
