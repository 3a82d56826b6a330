package ratatoskrhttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// readLoop reads and answers frames until the connection ends. It reports
// whether it stopped after queueing a close (the writer then still has to
// flush), rather than because the connection is gone.
func (c *conn) readLoop() (closeQueued bool) {
	for {
		typ, frame, err := c.readFrame()
		var tooLarge *oversized
		if err != nil && !errors.As(err, &tooLarge) {
			if s := websocket.CloseStatus(err); s != -1 {
				c.h.log.Debug("ratatoskr: peer closed", "remote", c.remote, "status", s)
			}
			return false
		}
		if typ != websocket.MessageBinary {
			c.fail(pb.MessageType_ERROR, "", envelope.NewError(envelope.CodeMalformed, "text frames are not accepted, send binary protobuf"))
			c.closeAfterDrain(CloseUnsupportedData, "binary frames only")
			return true
		}
		if tooLarge != nil {
			e := envelope.Errorf(envelope.CodePayloadTooLarge, "message of at least %d bytes exceeds the limit of %d", tooLarge.size, c.h.validator.Options().MaxMessageSize)
			if !c.fail(pb.MessageType_ERROR, c.requestIDOf(tooLarge.head), e) {
				return true
			}
			continue
		}
		req, err := c.h.validator.Decode(frame)
		if err != nil {
			if !c.fail(pb.MessageType_ERROR, c.requestIDOf(frame), err) {
				return true
			}
			continue
		}
		if !c.handle(req) {
			return true
		}
	}
}

// oversized reports a frame over the message size limit, of which head,
// the first MaxMessageSize bytes, was kept.
type oversized struct {
	size int
	head []byte
}

func (e *oversized) Error() string { return "ratatoskrhttp: frame too large" }

// readFrame reads one whole frame. A frame over MaxMessageSize is read to
// its end and discarded, so the connection stays usable; the websocket read
// limit (four times as much) bounds that work.
func (c *conn) readFrame() (websocket.MessageType, []byte, error) {
	typ, r, err := c.ws.Reader(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	limit := c.h.validator.Options().MaxMessageSize
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return 0, nil, err
	}
	if n > int64(limit) {
		rest, err := io.Copy(io.Discard, r)
		if err != nil {
			return 0, nil, err
		}
		return typ, nil, &oversized{size: int(n + rest), head: buf.Bytes()[:limit]}
	}
	return typ, buf.Bytes(), nil
}

// requestIDOf finds the request_id (field 2) in a frame that did not
// decode, so that even the ERROR answer can be matched by the device. As a
// protobuf decoder would, it takes the last occurrence. It returns "" when
// the field cannot be found, is too long, or is not valid UTF-8.
func (c *conn) requestIDOf(b []byte) string {
	var id []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				break
			}
			id = v
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			break
		}
		b = b[n:]
	}
	if len(id) > c.h.validator.Options().MaxIDLength || !utf8.Valid(id) {
		return ""
	}
	return string(id)
}

// handle answers one decoded request according to the session state. It
// reports false when the connection must stop reading (a close is queued).
func (c *conn) handle(req *pb.RatatoskrRequest) bool {
	start := time.Now()
	sess := c.session()
	t := req.GetMessageType()
	if code := c.closingCode(); code != "" {
		err := envelope.NewError(code, disconnectText(code))
		c.fail(t, req.GetRequestId(), err)
		c.logRequest(req, "", start, err)
		return true
	}
	if sess == nil {
		if t != pb.MessageType_CONNECTION_REQUEST {
			err := envelope.NewError(envelope.CodeHandshakeRequired, "send a CONNECTION_REQUEST first")
			c.fail(t, req.GetRequestId(), err)
			c.logRequest(req, "", start, err)
			c.sendClose(ClosePolicyViolation, "handshake required")
			return false
		}
		c.opening.Store(true)
		defer c.opening.Store(false)
		return c.open(req, start)
	}
	if c.limiter != nil && !c.limiter.Allow() {
		c.logRequest(req, req.GetMetadata()[envelope.MetadataService], start, errRateLimited)
		return c.fail(t, req.GetRequestId(), errRateLimited)
	}
	switch t {
	case pb.MessageType_BUSINESS_REQUEST:
		return c.dispatch(req, sess, start)
	case pb.MessageType_CONNECTION_REQUEST:
		return c.renew(req, sess, start)
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.h.o.RequestTimeout)
	err := c.h.validator.Validate(ctx, req, expect(sess))
	cancel()
	if err == nil && t == pb.MessageType_DISCONNECT {
		c.mu.Lock()
		if code := c.closing; code != "" {
			err = envelope.NewError(code, disconnectText(code)) // expiry or shutdown got there first
		} else {
			c.closing = envelope.CodeHandshakeRequired
		}
		c.mu.Unlock()
	}
	c.logRequest(req, "", start, err)
	if err != nil {
		return c.fail(t, req.GetRequestId(), err)
	}
	switch t {
	case pb.MessageType_HEARTBEAT:
		c.send(envelope.Success(t, req.GetRequestId(), nil, nil, c.h.now()))
	case pb.MessageType_DISCONNECT:
		c.notify(event{kind: evDisconnect, requestID: req.GetRequestId()})
	}
	return true
}

func expect(s *Session) envelope.Expect {
	return envelope.Expect{UserID: s.Identity.UserID, DeviceID: s.Identity.DeviceID, Key: s.key}
}
