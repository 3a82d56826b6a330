package ratatoskrhttp

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// conn is one WebSocket connection and its session. Its goroutines:
//   - the ServeHTTP goroutine runs serve: the read loop, then the teardown;
//   - writeLoop, the only writer, started and awaited by serve;
//   - supervise (timers, pings, endings), started and awaited by serve;
//   - one goroutine per business request in flight, bounded by slots,
//     counted by inflight and awaited by serve.
type conn struct {
	h      *Handler
	ws     *websocket.Conn
	remote string
	origin string // the Origin header, clipped; "" for native apps

	// ctx ends when the connection ends; service calls derive from it.
	ctx    context.Context
	cancel context.CancelFunc

	out        chan outFrame // to writeLoop, bounded
	stop       chan struct{} // closed by serve's teardown: writer and supervisor exit
	stopOnce   sync.Once
	writerDone chan struct{}
	superDone  chan struct{}
	events     chan event        // from the read loop to supervise
	closeReq   chan closeRequest // a close after draining (protocol abuse), cap 1
	opening    atomic.Bool       // the read loop is processing the first CONNECTION_REQUEST

	slots    chan struct{} // one token per business request in flight
	inflight sync.WaitGroup
	limiter  *rate.Limiter // nil: no rate limit
	abuse    atomic.Int32  // protocol errors so far

	mu      sync.Mutex
	sess    *Session      // nil until the handshake succeeds; replaced on renewal
	closing envelope.Code // non-empty once the session is ending: the code new requests get
}

type eventKind int

const (
	evOpened eventKind = iota + 1
	evRenewed
	evDisconnect
)

type event struct {
	kind      eventKind
	expiresAt time.Time
	requestID string
}

type closeRequest struct {
	status websocket.StatusCode
	reason string
}

// closeAfterDrain asks the supervisor to close the connection with status
// once the requests in flight have answered (bounded by DrainTimeout). New
// requests are refused meanwhile. It never blocks; the first request wins.
func (c *conn) closeAfterDrain(status websocket.StatusCode, reason string) {
	c.markClosing(envelope.CodeConnectionRejected)
	select {
	case c.closeReq <- closeRequest{status, reason}:
	default:
	}
}

// serve runs the connection until it ends and waits for everything it
// started. The teardown is deferred so that a panic in the read loop (a
// custom Authenticator or nonce store, say) still closes the connection.
func (c *conn) serve() {
	go c.writeLoop()
	go c.supervise()
	closeQueued := false
	defer func() {
		if closeQueued {
			// Let the supervisor drain and the writer flush the last
			// answers and close cleanly.
			select {
			case <-c.writerDone:
			case <-time.After(c.h.o.DrainTimeout + c.h.o.WriteTimeout + 10*time.Second):
			}
		}
		c.ws.CloseNow()
		c.cancel()
		c.stopOnce.Do(func() { close(c.stop) })
		c.inflight.Wait() // services must honour their context
		<-c.writerDone
		<-c.superDone
		if s := c.session(); s != nil {
			c.h.log.Info("ratatoskr: session closed", "session", s.ID, "device", s.Identity.DeviceID, "user", s.Identity.UserID, "remote", c.remote)
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			c.h.log.Error("ratatoskr: panic serving connection", "remote", c.remote, "panic", v, "stack", string(debug.Stack()))
			c.sendClose(CloseInternalError, "internal error")
			closeQueued = true
		}
	}()
	closeQueued = c.readLoop()
}

// session returns the current session, nil before the handshake.
func (c *conn) session() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// closingCode returns the code new requests get while the session ends,
// or "" while it is open.
func (c *conn) closingCode() envelope.Code {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// markClosing makes new requests get code, unless the session is already
// ending for another reason.
func (c *conn) markClosing(code envelope.Code) {
	c.mu.Lock()
	if c.closing == "" {
		c.closing = code
	}
	c.mu.Unlock()
}

// notify hands an event to the supervisor without blocking the read loop
// for long: the channel is buffered and the supervisor drains it.
func (c *conn) notify(ev event) {
	select {
	case c.events <- ev:
	case <-c.superDone:
	}
}

// supervise owns the connection's timers: the handshake deadline, the
// session expiry, the pings, and the endings (expiry, shutdown, the
// device's DISCONNECT). It returns when it has queued the close or when
// serve stops it.
func (c *conn) supervise() {
	defer close(c.superDone)
	o := &c.h.o
	handshake := time.NewTimer(o.HandshakeTimeout)
	defer handshake.Stop()
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	var ping <-chan time.Time
	if o.PingInterval > 0 {
		t := time.NewTicker(o.PingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case <-c.stop:
			return
		case <-handshake.C:
			if c.opening.Load() || c.session() != nil {
				// The handshake is being answered (authenticate has its own
				// deadline) or already was.
				continue
			}
			c.send(envelope.Failure(pb.MessageType_ERROR, "", envelope.NewError(envelope.CodeHandshakeRequired, "no handshake within the timeout"), c.h.now()))
			c.sendClose(ClosePolicyViolation, "handshake timeout")
			return
		case ev := <-c.events:
			switch ev.kind {
			case evOpened, evRenewed:
				handshake.Stop()
				expiry.Reset(ev.expiresAt.Sub(c.h.now()))
			case evDisconnect:
				c.end(ev.requestID, "", CloseNormal, c.drainContext, true)
				return
			}
		case req := <-c.closeReq:
			c.end("", "", req.status, c.drainContext, false)
			return
		case <-expiry.C:
			c.end("", envelope.CodeSessionExpired, CloseNormal, c.drainContext, true)
			return
		case <-c.h.shutdown:
			c.end("", envelope.CodeServerShutdown, CloseGoingAway, c.h.shutdownContext, true)
			return
		case <-ping:
			ctx, cancel := context.WithTimeout(c.ctx, o.PingTimeout)
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				c.h.log.Info("ratatoskr: peer did not answer ping", "remote", c.remote, "err", err)
				c.ws.CloseNow()
				c.stopOnce.Do(func() { close(c.stop) })
				return
			}
		}
	}
}

func (c *conn) drainContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.h.o.DrainTimeout)
}

// end finishes the session gracefully: new requests are refused with
// reason (HANDSHAKE_REQUIRED when reason is empty, the device having asked
// to end), in-flight requests finish until drain's context ends (then they
// are cancelled and get a moment to answer), then, when disconnect is set,
// a DISCONNECT answering requestID (empty when the server ends the
// session), and the close with status.
func (c *conn) end(requestID string, reason envelope.Code, status websocket.StatusCode, drain func() (context.Context, context.CancelFunc), disconnect bool) {
	if reason == "" {
		c.markClosing(envelope.CodeHandshakeRequired)
	} else {
		c.markClosing(reason)
	}

	ctx, cancel := drain()
	done := make(chan struct{})
	go func() { // ends when the in-flight requests have; serve waits for those too
		c.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-c.stop:
	case <-ctx.Done():
		c.cancel() // services still running see their context end
		select {   // and may still answer (UNAVAILABLE) before the close
		case <-done:
		case <-c.stop:
		case <-time.After(cancelGrace):
		}
	}
	cancel()

	if disconnect {
		resp := envelope.Success(pb.MessageType_DISCONNECT, requestID, nil, nil, c.h.now())
		if reason != "" {
			resp = envelope.Failure(pb.MessageType_DISCONNECT, requestID, envelope.NewError(reason, disconnectText(reason)), c.h.now())
		}
		c.send(resp)
	}
	c.sendClose(status, string(reason))
}

// cancelGrace is how long cancelled services get to answer before the
// connection closes.
const cancelGrace = 100 * time.Millisecond

func disconnectText(code envelope.Code) string {
	switch code {
	case envelope.CodeSessionExpired:
		return "session expired, reconnect with a fresh token"
	case envelope.CodeServerShutdown:
		return "server shutting down, reconnect later"
	case envelope.CodeHandshakeRequired:
		return "session closing at the device's request, connect again"
	}
	return string(code)
}
