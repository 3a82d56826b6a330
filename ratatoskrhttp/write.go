package ratatoskrhttp

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/clip"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// outFrame is one item for the writer: an encoded response, or the close.
type outFrame struct {
	data []byte
	// slot is set on the answer to a business request: the writer frees
	// the request's in-flight slot as it takes the frame, so answers
	// waiting in the queue count against MaxInFlight (a peer that does not
	// read cannot pile up work) while a client sending its next request on
	// receipt always finds the slot free.
	slot   bool
	close  bool
	status websocket.StatusCode
	reason string
}

// writeLoop is the connection's only writer. Each frame must be written
// within WriteTimeout, or the peer is too slow and the connection is
// dropped. It returns after writing the close, on a write error, or when
// serve stops it.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for {
		select {
		case <-c.stop:
			return
		case f := <-c.out:
			if f.slot {
				<-c.slots
			}
			if f.close {
				c.ws.Close(f.status, f.reason)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.h.o.WriteTimeout)
			err := c.ws.Write(ctx, websocket.MessageBinary, f.data)
			cancel()
			if err != nil {
				c.h.log.Info("ratatoskr: write failed, dropping connection", "remote", c.remote, "err", err)
				c.ws.CloseNow()
				return
			}
		}
	}
}

// send queues resp for the writer. It blocks while the queue is full (the
// writer drops a peer that does not read within WriteTimeout) and reports
// false when the connection can no longer be written.
func (c *conn) send(resp *pb.RatatoskrResponse) bool {
	return c.queue(outFrame{data: c.encode(resp)})
}

// sendAnswer queues the answer to a business request, which holds an
// in-flight slot until the writer takes it (see outFrame.slot).
func (c *conn) sendAnswer(resp *pb.RatatoskrResponse) {
	if !c.queue(outFrame{data: c.encode(resp), slot: true}) {
		<-c.slots
	}
}

// encode marshals resp. A response that cannot be encoded (a service put
// invalid UTF-8 in a string) is replaced by an INTERNAL failure for the
// same request, so the device still gets an answer.
func (c *conn) encode(resp *pb.RatatoskrResponse) []byte {
	b, err := envelope.Marshal(resp)
	if err == nil {
		return b
	}
	c.h.log.Error("ratatoskr: response cannot be encoded", "request_id", resp.GetRequestId(), "err", err)
	b, _ = envelope.Marshal(envelope.Failure(resp.GetMessageType(), resp.GetRequestId(),
		envelope.NewError(envelope.CodeInternal, "internal error"), c.h.now()))
	return b
}

func (c *conn) queue(f outFrame) bool {
	select {
	case <-c.writerDone:
		return false
	default:
	}
	select {
	case c.out <- f:
		return true
	case <-c.writerDone:
		return false
	case <-c.stop:
		return false
	}
}

// sendClose queues the close after everything already queued.
func (c *conn) sendClose(status websocket.StatusCode, reason string) {
	c.queue(outFrame{close: true, status: status, reason: reason})
}

// responseType is the message_type answering a request of type t.
func responseType(t pb.MessageType) pb.MessageType {
	if t == pb.MessageType_CONNECTION_REQUEST {
		return pb.MessageType_CONNECTION_RESPONSE
	}
	return t
}

// fail answers a request of type t with id requestID with err and counts
// it towards MaxProtocolErrors (see countAbuse).
func (c *conn) fail(t pb.MessageType, requestID string, err error) bool {
	c.send(envelope.Failure(responseType(t), requestID, err, c.h.now()))
	return c.countAbuse(err)
}

// countAbuse counts serialization and security errors; at MaxProtocolErrors
// the connection is closed with 1008 (after the requests in flight have
// answered). It reports false once that close is under way.
func (c *conn) countAbuse(err error) bool {
	switch envelope.CodeOf(err).Kind() {
	case envelope.KindSerialization, envelope.KindSecurity:
		n := int(c.abuse.Add(1))
		if n == c.h.o.MaxProtocolErrors {
			c.h.log.Warn("ratatoskr: too many protocol errors, closing", "remote", c.remote, "last", err)
			c.closeAfterDrain(ClosePolicyViolation, "too many protocol errors")
		}
		return n < c.h.o.MaxProtocolErrors
	}
	return true
}

// logTextLen bounds every string a log record repeats from the peer
// (identifiers, service, Origin, error causes): longer ones are cut and
// marked, so a peer cannot write megabytes into the log.
const logTextLen = 256

// logRequest writes the one line per request: at Warn for a security
// refusal (auth, signature, replay, identity) or a rate limit, so that an
// attack stands out, at Info otherwise. user and device are what the frame
// claims; the token is never logged.
func (c *conn) logRequest(req *pb.RatatoskrRequest, service string, start time.Time, err error) {
	level := slog.LevelInfo
	code := envelope.CodeOf(err)
	if code.Kind() == envelope.KindSecurity || code == envelope.CodeRateLimited {
		level = slog.LevelWarn
	}
	if !c.h.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []any{
		"type", req.GetMessageType().String(),
		"request_id", clip.String(req.GetRequestId(), logTextLen),
		"device", clip.String(req.GetDeviceId(), logTextLen),
		"user", clip.String(req.GetUserId(), logTextLen),
		"remote", c.remote,
		"duration", time.Since(start),
	}
	if c.origin != "" {
		attrs = append(attrs, "origin", c.origin)
	}
	if service != "" {
		attrs = append(attrs, "service", clip.String(service, logTextLen))
	}
	if err != nil {
		attrs = append(attrs, "code", string(code), "err", clip.String(err.Error(), logTextLen+envelope.MaxMessageLen))
		if cause := errors.Unwrap(err); cause != nil {
			// The cause (why a token was refused, what a service hit) is
			// for the operator only; the device got the coded message.
			attrs = append(attrs, "cause", clip.String(cause.Error(), 2*logTextLen))
		}
	}
	c.h.log.Log(context.Background(), level, "ratatoskr: request", attrs...)
}
