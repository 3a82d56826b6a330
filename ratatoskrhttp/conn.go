package ratatoskrhttp

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// state is where a connection is in its lifecycle. It only moves forward:
//
//	handshaking ──accepted──▶ open ──ending──▶ draining ──drained──▶ closed
//	     │                                                              ▲
//	     └──────── refused, timed out, abusive, peer gone ──────────────┘
//
// Every move happens under conn.mu in this file: open (handshake.go
// calls c.opened), beginEnd (open or handshaking to draining), finish
// (draining to closed once nothing is in flight) and closeWith / cut (to
// closed at once).
type state uint8

const (
	// stateHandshaking: only a CONNECTION_REQUEST is accepted; the
	// handshake timer runs.
	stateHandshaking state = iota
	// stateOpen: a session is open; requests are served.
	stateOpen
	// stateDraining: the session is ending; new requests get the ending's
	// code while the ones in flight finish (bounded by the drain deadline).
	stateDraining
	// stateClosed: the close frame is queued (or the connection is cut);
	// nothing but it is written any more, frames read are dropped.
	stateClosed
)

// ending is why and how a session ends.
type ending struct {
	code       envelope.Code        // what requests arriving meanwhile get
	disconnect bool                 // send a DISCONNECT before the close
	notice     envelope.Code        // its error_code; "" answers the device's own DISCONNECT with success
	requestID  string               // the request the DISCONNECT answers; "" when the server ends the session
	req        *pb.RatatoskrRequest // that request, which a signed DISCONNECT is bound to
	status     websocket.StatusCode
	reason     string
	// until, when set, bounds the drain instead of Options.DrainTimeout
	// (Shutdown's context).
	until context.Context
	why   CloseReason // for observers
}

// conn is one WebSocket connection and its session.
//
// Goroutines: the goroutine ServeHTTP starts runs serve, which is the read
// loop and then the teardown; it is the only goroutine an idle connection
// has, and it starts with a fresh stack (net/http's goroutine, whose stack
// grew parsing the request, returns).
// Others come and go with work, each counted by wg and awaited by the
// teardown: workers serving business requests (dispatch.go), which exit
// after workerIdle without work; a ping, every PingInterval, for as long
// as it waits for its pong; the closing handshake once the close frame is
// due. Timers (handshake, expiry, drain, request deadlines, pings) are
// time.AfterFunc callbacks. Writes need no goroutine: whoever has a frame
// to send writes everything pending (write.go).
type conn struct {
	h      *Handler
	ws     *websocket.Conn
	cork   *corkConn // the hijacked connection under ws
	remote string
	origin string // the Origin header, clipped; "" for native apps

	// ctx ends at teardown only (pings use it). The read loop reads with
	// values, which is never cancelled: teardown unblocks it by closing the
	// connection. Services get their own contexts (reqCtx), which draining,
	// deadlines and teardown cancel.
	ctx    context.Context
	cancel context.CancelFunc
	values context.Context // the HTTP request's values (context.WithoutCancel)

	addr  string       // the client address the per-address limits count by
	born  time.Time    // when the connection was accepted
	abuse atomic.Int64 // the abuse bucket (countAbuse): ns after born at which it is empty

	// Under h.mu:
	unauth bool   // counted among its address's connections not yet open
	scope  string // registered among its device's sessions under this scope

	work chan *work     // to idle workers
	done chan struct{}  // closed at teardown: idle workers exit
	wg   sync.WaitGroup // workers, pings, the closing handshake

	mu        sync.Mutex
	state     state
	sess      *Session // nil until the handshake succeeds; replaced on renewal
	end       ending   // set when draining starts
	busy      int      // handshakes and renewals being checked
	renewing  bool     // a renewal is being checked
	inflight  workList // business requests admitted and not yet answered
	gone      bool     // teardown started: no new goroutine may start
	handshake *time.Timer
	expiry    *time.Timer
	drain     func() bool // stops the drain deadline
	why       CloseReason // why the connection ends (becauseLocked)
	closeCode websocket.StatusCode
	deadline  *time.Timer // the earliest request deadline
	grace     *time.Timer // after the drain deadline: answer what is left
	pinger    *time.Timer

	writer // the pending frames and who writes them (write.go)
}

// serve runs the connection until it ends and waits for everything it
// started. The teardown is deferred so that a panic in the read loop (a
// custom Authenticator or nonce store, say) still closes the connection.
func (c *conn) serve() {
	c.mu.Lock()
	c.handshake = time.AfterFunc(c.h.o.HandshakeTimeout, c.handshakeExpired)
	if c.h.o.PingInterval > 0 {
		c.pinger = time.AfterFunc(c.h.o.PingInterval, c.ping)
	}
	c.mu.Unlock()
	defer c.teardown()
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			if d, ok := v.(*deepPanic); ok {
				v, stack = d.v, d.stack
			}
			c.h.log.Error("ratatoskr: panic serving connection", "remote", c.remote, "panic", v, "stack", string(stack))
			c.closeWith(nil, nil, ClosedInternal, CloseInternalError, "internal error")
		}
	}()
	c.readLoop()
}

// teardown ends what is left once the read loop has stopped: it gives a
// queued close frame a moment to go out, cuts the connection, cancels the
// services still running and waits for every goroutine the connection
// started (services must honour their context).
func (c *conn) teardown() {
	c.wmu.Lock()
	closing := c.closeQueued
	c.wmu.Unlock()
	if closing {
		select {
		case <-c.closeDone:
		case <-time.After(c.h.o.WriteTimeout + closeHandshakeTimeout):
		}
	}
	c.mu.Lock()
	c.state = stateClosed
	c.gone = true
	c.stopTimers()
	works := c.inflight.all()
	c.mu.Unlock()
	for _, w := range works {
		w.ctx.cancel(context.Canceled)
	}
	c.ws.CloseNow()
	c.cancel()
	close(c.done)
	c.wg.Wait()
	if obs := c.h.obs; obs != nil {
		e := ConnectionEvent{RemoteAddr: c.remote, Duration: time.Since(c.born)}
		c.mu.Lock()
		e.Reason, e.CloseCode = c.why, c.closeCode
		if s := c.sess; s != nil {
			e.SessionID, e.UserID, e.DeviceID = s.ID, s.Identity.UserID, s.Identity.DeviceID
		}
		c.mu.Unlock()
		obs.ConnectionClosed(e)
	}
}

// becauseLocked records why the connection ends and its close code (-1:
// none); the first reason wins. The caller holds c.mu.
func (c *conn) becauseLocked(why CloseReason, code websocket.StatusCode) {
	if c.why == "" {
		c.why, c.closeCode = why, code
	}
}

// stopTimers stops every timer; the caller holds c.mu.
func (c *conn) stopTimers() {
	for _, t := range []*time.Timer{c.handshake, c.expiry, c.deadline, c.pinger, c.grace} {
		if t != nil {
			t.Stop()
		}
	}
	if c.drain != nil {
		c.drain()
	}
}

// session returns the current session, nil before the handshake.
func (c *conn) session() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// opened moves a handshaking connection to open with sess, or renews an
// open one. It reports false when the connection is ending meanwhile (the
// handshake then gets the ending's code).
func (c *conn) opened(sess *Session) (envelope.Code, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateHandshaking:
		c.state = stateOpen
		c.handshake.Stop()
		// Frames up to four times the message limit are read and answered
		// with PAYLOAD_TOO_LARGE; larger ones close the connection (1009).
		c.ws.SetReadLimit(int64(c.h.validator.Options().MaxMessageSize) * 4)
		c.expiry = time.AfterFunc(sess.ExpiresAt.Sub(c.h.now()), c.expired)
	case stateOpen:
		c.expiry.Reset(sess.ExpiresAt.Sub(c.h.now()))
	default:
		return c.end.code, false
	}
	c.sess = sess
	return "", true
}

// beginEnd starts ending the session: new requests get e.code, the
// requests in flight finish until the drain deadline, then finish sends
// the DISCONNECT (when e says so) and the close. Only the first ending
// counts.
func (c *conn) beginEnd(e ending) {
	c.mu.Lock()
	if c.state != stateOpen && c.state != stateHandshaking {
		c.mu.Unlock()
		return
	}
	c.ending(e)
}

// beginEndIfOpen is beginEnd for an open session only; it reports whether
// the session was open.
func (c *conn) beginEndIfOpen(e ending) bool {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return false
	}
	c.ending(e)
	return true
}

// ending moves the connection to draining with e; the caller holds c.mu,
// which ending releases.
func (c *conn) ending(e ending) {
	c.state = stateDraining
	c.end = e
	c.becauseLocked(e.why, e.status)
	if c.handshake != nil {
		c.handshake.Stop()
	}
	if e.until != nil {
		c.drain = context.AfterFunc(e.until, c.drainExpired)
	} else {
		t := time.AfterFunc(c.h.o.DrainTimeout, c.drainExpired)
		c.drain = t.Stop
	}
	c.mu.Unlock()
	c.finish()
}

// finish closes a draining connection once nothing is in flight: the
// DISCONNECT, then the close frame, after every answer already queued.
// It is called whenever an in-flight request or a handshake check ends.
func (c *conn) finish() {
	c.mu.Lock()
	if c.state != stateDraining || c.inflight.n > 0 || c.busy > 0 {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	e := c.end
	c.drain()
	c.mu.Unlock()
	if e.disconnect {
		resp := envelope.Success(pb.MessageType_DISCONNECT, e.requestID, nil, nil, c.h.now())
		if e.notice != "" {
			resp = envelope.Failure(pb.MessageType_DISCONNECT, e.requestID, envelope.NewError(e.notice, disconnectText(e.notice)), c.h.now())
		}
		c.send(c.encode(resp, e.req), nil)
	}
	c.queueClose(e.status, e.reason)
}

// drainExpired ends the drain: the services still running see their
// contexts cancelled and get cancelGrace to answer; then every request
// still unanswered is answered UNAVAILABLE by the server itself, so that
// the DISCONNECT and the close follow.
func (c *conn) drainExpired() {
	c.mu.Lock()
	if c.state != stateDraining || c.gone {
		c.mu.Unlock()
		return
	}
	works := c.inflight.all()
	c.grace = time.AfterFunc(cancelGrace, c.answerForServices)
	c.mu.Unlock()
	for _, w := range works {
		w.ctx.cancel(context.Canceled)
	}
}

// answerForServices answers UNAVAILABLE every request whose service has
// not answered within cancelGrace of its cancellation, then lets the
// session finish. A late answer from such a service is dropped.
func (c *conn) answerForServices() {
	{
		c.mu.Lock()
		works := c.inflight.all()
		c.mu.Unlock()
		for _, w := range works {
			c.answer(w, envelope.Failure(w.req.GetMessageType(), w.req.GetRequestId(), errCancelled, c.h.now()))
		}
		c.finish()
	}
}

// closeWith closes at once, after whatever is queued: resp (when not nil)
// and the close frame. Requests in flight are not awaited.
func (c *conn) closeWith(resp *pb.RatatoskrResponse, req *pb.RatatoskrRequest, why CloseReason, status websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	c.becauseLocked(why, status)
	c.mu.Unlock()
	if resp != nil {
		c.send(c.encode(resp, req), nil)
	}
	c.queueClose(status, reason)
}

// cut drops the connection without a close frame: the peer is gone, too
// slow, silent, or Shutdown ran out of time.
func (c *conn) cut(why CloseReason) {
	c.mu.Lock()
	c.state = stateClosed
	c.becauseLocked(why, -1)
	works := c.inflight.all()
	c.mu.Unlock()
	for _, w := range works {
		w.ctx.cancel(context.Canceled)
	}
	c.ws.CloseNow()
}

// handshakeExpired closes a connection that has not completed its
// handshake in time, unless one is being checked (which has its own
// deadline).
func (c *conn) handshakeExpired() {
	c.mu.Lock()
	waiting := c.state == stateHandshaking && c.busy == 0
	c.mu.Unlock()
	if waiting {
		c.closeWith(envelope.Failure(pb.MessageType_ERROR, "", envelope.NewError(envelope.CodeHandshakeRequired, "no handshake within the timeout"), c.h.now()), nil, ClosedHandshakeTime,
			ClosePolicyViolation, "handshake timeout")
	}
}

// expired ends a session whose token (or MaxSessionDuration) ran out.
func (c *conn) expired() {
	c.beginEnd(ending{code: envelope.CodeSessionExpired, disconnect: true, notice: envelope.CodeSessionExpired, status: CloseNormal, reason: string(envelope.CodeSessionExpired), why: ClosedExpired})
}

// ping checks the peer at the WebSocket level every PingInterval and cuts
// a peer that does not answer within PingTimeout.
func (c *conn) ping() {
	c.mu.Lock()
	if c.gone || c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.h.o.PingTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.h.log.Info("ratatoskr: peer did not answer ping", "remote", c.remote, "err", err)
		c.cut(ClosedUnresponsive)
		return
	}
	c.mu.Lock()
	if !c.gone {
		c.pinger.Reset(c.h.o.PingInterval)
	}
	c.mu.Unlock()
}

// closeHandshakeTimeout is how long coder/websocket waits for the peer's
// close frame after sending its own.
const closeHandshakeTimeout = 5 * time.Second

// cancelGrace is how long cancelled services get to answer before the
// server answers for them.
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
