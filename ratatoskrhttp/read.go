package ratatoskrhttp

import (
	"bytes"
	"errors"
	"io"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// readLoop reads and answers frames until the connection ends. It reads
// on after the session starts ending, so that every request that arrives
// before the close frame is answered (with the ending's code), and until
// the peer answers the close.
func (c *conn) readLoop() {
	for {
		typ, frame, err := c.readFrame()
		var tooLarge *oversized
		if err != nil && !errors.As(err, &tooLarge) {
			s := websocket.CloseStatus(err)
			if s != -1 {
				c.h.log.Debug("ratatoskr: peer closed", "remote", c.remote, "status", s)
			}
			c.mu.Lock()
			c.becauseLocked(ClosedByPeer, s)
			c.mu.Unlock()
			return
		}
		c.readFrameDone(typ, frame, tooLarge)
		if frame != nil {
			putFrame(frame)
		}
		c.waitWriter()
	}
}

// readFrameDone answers one frame read.
func (c *conn) readFrameDone(typ websocket.MessageType, frame *bytes.Buffer, tooLarge *oversized) {
	if c.closed() {
		return // after the close frame nothing more can be answered
	}
	if typ != websocket.MessageBinary {
		c.refused(envelope.CodeMalformed, frameLen(frame))
		c.fail(nil, pb.MessageType_ERROR, "", envelope.NewError(envelope.CodeMalformed, "text frames are not accepted, send binary protobuf"))
		c.beginEnd(ending{code: envelope.CodeConnectionRejected, status: CloseUnsupportedData, reason: "binary frames only", why: ClosedAbuse})
		return
	}
	if tooLarge != nil {
		e := envelope.Errorf(envelope.CodePayloadTooLarge, "message of at least %d bytes exceeds the limit of %d", tooLarge.size, c.h.validator.Options().MaxMessageSize)
		c.refused(envelope.CodePayloadTooLarge, tooLarge.size)
		c.fail(nil, pb.MessageType_ERROR, c.requestIDOf(tooLarge.head), e)
		return
	}
	req, err := c.h.validator.Decode(frame.Bytes())
	if err != nil {
		c.refused(envelope.CodeOf(err), frame.Len())
		if c.handshaking() {
			// Before the handshake the first bad frame ends the connection.
			c.closeWith(envelope.Failure(pb.MessageType_ERROR, c.requestIDOf(frame.Bytes()), err, c.h.now()), nil, ClosedHandshakeFailed, ClosePolicyViolation, "handshake required")
			return
		}
		c.fail(nil, pb.MessageType_ERROR, c.requestIDOf(frame.Bytes()), err)
		return
	}
	c.handle(req, frame.Len())
}

// serviceOf is the service a business request names, "" for other types.
func serviceOf(req *pb.RatatoskrRequest) string {
	if req.GetMessageType() != pb.MessageType_BUSINESS_REQUEST {
		return ""
	}
	return req.GetMetadata()[envelope.MetadataService]
}

// frameLen is the size of a frame read, 0 for none.
func frameLen(b *bytes.Buffer) int {
	if b == nil {
		return 0
	}
	return b.Len()
}

// handshaking reports whether no session has been opened yet.
func (c *conn) handshaking() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateHandshaking
}

// closed reports whether the close frame is queued or the connection cut.
func (c *conn) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateClosed
}

// framePool holds read buffers: a frame is read into one, decoded (the
// decoder copies what it keeps) and the buffer goes back, so an idle
// connection holds none.
var framePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putFrame(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuf {
		b.Reset()
		framePool.Put(b)
	}
}

// oversized reports a frame over the message size limit, of which head,
// the first MaxMessageSize bytes, was kept.
type oversized struct {
	size int
	head []byte
}

func (e *oversized) Error() string { return "ratatoskrhttp: frame too large" }

// readFrame reads one whole frame into a pooled buffer. A frame over
// MaxMessageSize is read to its end and discarded, so the connection stays
// usable; the websocket read limit (four times as much) bounds that work.
func (c *conn) readFrame() (websocket.MessageType, *bytes.Buffer, error) {
	// c.values has no Done channel, so coder/websocket arms no timer per
	// read; teardown unblocks the read by closing the connection.
	typ, r, err := c.ws.Reader(c.values)
	if err != nil {
		return 0, nil, err
	}
	limit := c.h.validator.Options().MaxMessageSize
	buf := framePool.Get().(*bytes.Buffer)
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		putFrame(buf)
		return 0, nil, err
	}
	if n > int64(limit) {
		rest, err := io.Copy(io.Discard, r)
		if err != nil {
			putFrame(buf)
			return 0, nil, err
		}
		head := bytes.Clone(buf.Bytes()[:min(limit, 4096)])
		putFrame(buf)
		return typ, nil, &oversized{size: int(n + rest), head: head}
	}
	return typ, buf, nil
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

// handle answers one decoded request according to the connection's state.
func (c *conn) handle(req *pb.RatatoskrRequest, size int) {
	start := time.Now()
	t := req.GetMessageType()
	c.mu.Lock()
	st, sess, code := c.state, c.sess, c.end.code
	c.mu.Unlock()
	switch st {
	case stateClosed:
		return
	case stateDraining:
		err := envelope.NewError(code, disconnectText(code))
		c.fail(req, t, req.GetRequestId(), err)
		c.report(c.values, req, serviceOf(req), start, size, err, 0)
		return
	case stateHandshaking:
		if t != pb.MessageType_CONNECTION_REQUEST {
			err := envelope.NewError(envelope.CodeHandshakeRequired, "send a CONNECTION_REQUEST first")
			c.report(c.values, req, serviceOf(req), start, size, err, 0)
			c.closeWith(envelope.Failure(responseType(t), req.GetRequestId(), err, c.h.now()), req, ClosedHandshakeFailed, ClosePolicyViolation, "handshake required")
			return
		}
		c.open(req, start)
		return
	}
	switch t {
	case pb.MessageType_CONNECTION_REQUEST, pb.MessageType_BUSINESS_REQUEST, pb.MessageType_HEARTBEAT, pb.MessageType_DISCONNECT:
	default:
		err := envelope.NewError(envelope.CodeSchemaInvalid, "message_type is not a request type")
		c.report(c.values, req, "", start, size, err, 0)
		c.fail(req, t, req.GetRequestId(), err)
		return
	}
	// A polite goodbye is never refused by the rate limit.
	if t != pb.MessageType_DISCONNECT {
		if err := c.limitRequest(sess); err != nil {
			if t == pb.MessageType_CONNECTION_REQUEST {
				c.reportHandshake(req, true, nil, start, err)
			} else {
				c.report(c.values, req, serviceOf(req), start, size, err, 0)
			}
			c.fail(req, t, req.GetRequestId(), err)
			return
		}
	}
	switch t {
	case pb.MessageType_BUSINESS_REQUEST:
		c.dispatch(req, start, size)
		return
	case pb.MessageType_CONNECTION_REQUEST:
		c.startRenewal(req, sess, start)
		return
	}
	var err error
	c.deep(func() { err = c.h.validator.Validate(c.values, req, expect(sess)) })
	c.report(c.values, req, "", start, size, err, 0)
	if err != nil {
		c.fail(req, t, req.GetRequestId(), err)
		return
	}
	if t == pb.MessageType_HEARTBEAT {
		c.send(c.encode(envelope.Success(t, req.GetRequestId(), nil, nil, c.h.now()), req), nil)
		return
	}
	// DISCONNECT: requests arriving meanwhile get HANDSHAKE_REQUIRED; the
	// answer follows the requests in flight.
	c.beginEnd(ending{code: envelope.CodeHandshakeRequired, disconnect: true, requestID: req.GetRequestId(), req: req, status: CloseNormal, why: ClosedDisconnect})
}

func expect(s *Session) envelope.Expect {
	return envelope.Expect{UserID: s.Identity.UserID, DeviceID: s.Identity.DeviceID, Key: s.key, Scheme: s.Scheme}
}

// deep runs f, work that needs a deep stack (token and signature checks),
// on a goroutine of its own and waits for it. The read loop is the one
// goroutine an idle connection keeps; run there, such work would grow its
// stack for the connection's lifetime.
func (c *conn) deep(f func()) {
	done := make(chan struct{})
	var fault *deepPanic
	go func() { // awaited right here
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				fault = &deepPanic{v, debug.Stack()}
			}
		}()
		f()
	}()
	<-done
	if fault != nil {
		panic(fault) // on the read loop, where serve recovers it
	}
}

// deepPanic carries a panic from deep's goroutine to the read loop, with
// the stack where it happened.
type deepPanic struct {
	v     any
	stack []byte
}
