package ratatoskrhttp

import (
	"context"
	"errors"
	"time"

	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// authenticate checks a CONNECTION_REQUEST: its schema, its payload, the
// token, then the whole envelope with the token's key (nonce included). It
// returns the session the request opens or renews.
func (c *conn) authenticate(req *pb.RatatoskrRequest) (*Session, error) {
	v := c.h.validator
	if err := v.CheckSchema(req); err != nil {
		return nil, err
	}
	p, err := envelope.ConnectionPayload(req)
	if err != nil {
		return nil, err
	}
	if ver := p.GetVersion(); ver != "" && ver != envelope.ProtocolVersion {
		return nil, envelope.Errorf(envelope.CodeConnectionRejected, "protocol version %s is not supported, this server speaks %q", envelope.Quote(ver), envelope.ProtocolVersion)
	}
	ctx, cancel := context.WithTimeout(c.values, c.h.o.HandshakeTimeout)
	defer cancel()
	id, err := c.h.o.Authenticator.Authenticate(ctx, p.GetAuthenticationToken())
	switch {
	case errors.Is(err, auth.ErrUnavailable):
		return nil, envelope.WrapError(envelope.CodeUnavailable, "device key source unavailable, try again", err)
	case errors.Is(err, auth.ErrUnacceptableKey):
		return nil, envelope.WrapError(envelope.CodeAuthFailed, "device public key is unacceptable", err)
	case err != nil:
		return nil, envelope.WrapError(envelope.CodeAuthFailed, "device token refused", err)
	}
	// Checked here as well as in package auth, since a custom Authenticator
	// may hand over any key; once per token, never per request.
	key, err := envelope.NewDeviceKey(id.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := v.Validate(ctx, req, envelope.Expect{UserID: id.UserID, DeviceID: id.DeviceID, Key: key}); err != nil {
		return nil, err
	}
	now := c.h.now()
	expires := now.Add(c.h.o.MaxSessionDuration)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(expires) {
		expires = id.ExpiresAt
	}
	return &Session{Identity: *id, ExpiresAt: expires, RemoteAddr: c.remote, key: key}, nil
}

// open runs the handshake on the read loop. A refusal is answered and
// closes the connection with 1008.
func (c *conn) open(req *pb.RatatoskrRequest, start time.Time) {
	c.check(+1)
	sess, err := c.authenticate(req)
	if err == nil {
		sess.ID, err = envelope.NewRequestID(c.h.o.Rand)
	}
	if err == nil {
		if code, ok := c.opened(sess); !ok {
			err = envelope.NewError(code, disconnectText(code))
		}
	}
	c.logRequest(req, "", start, err)
	if err != nil {
		c.check(-1)
		c.closeWith(envelope.ConnectionRefused(req.GetRequestId(), err, c.h.o.ServerVersion, c.h.now()), ClosePolicyViolation, "handshake refused")
		return
	}
	c.send(c.encode(c.h.accepted(req.GetRequestId(), sess)), nil)
	c.check(-1)
	c.h.log.Info("ratatoskr: session open", "session", sess.ID, "device", sess.Identity.DeviceID,
		"user", sess.Identity.UserID, "expires_at", sess.ExpiresAt, "remote", c.remote)
}

// renew handles a CONNECTION_REQUEST on a live session: a fresh token for
// the same user and device moves expires_at. A refused renewal is answered
// but leaves the current session as it was.
func (c *conn) renew(req *pb.RatatoskrRequest, cur *Session, start time.Time) {
	c.check(+1)
	defer c.check(-1)
	sess, err := c.authenticate(req)
	if err == nil && (sess.Identity.UserID != cur.Identity.UserID || sess.Identity.DeviceID != cur.Identity.DeviceID) {
		err = envelope.NewError(envelope.CodeIdentityMismatch, "a renewal must be for the session's user and device")
	}
	if err == nil {
		sess.ID = cur.ID
		if code, ok := c.opened(sess); !ok {
			err = envelope.NewError(code, disconnectText(code))
		}
	}
	c.logRequest(req, "", start, err)
	if err != nil {
		c.send(c.encode(envelope.ConnectionRefused(req.GetRequestId(), err, c.h.o.ServerVersion, c.h.now())), nil)
		c.countAbuse(err)
		return
	}
	c.send(c.encode(c.h.accepted(req.GetRequestId(), sess)), nil)
}

// check counts a handshake or renewal being checked on the read loop: a
// session that starts ending meanwhile waits for its answer, and the
// handshake timer does not cut it.
func (c *conn) check(delta int) {
	c.mu.Lock()
	c.busy += delta
	c.mu.Unlock()
	if delta < 0 {
		c.finish()
	}
}

// accepted is the CONNECTION_RESPONSE that opens or renews sess. Its
// metadata announces the session's limits (envelope.Limits), so that a
// client can hold its requests to them.
func (h *Handler) accepted(requestID string, sess *Session) *pb.RatatoskrResponse {
	resp := envelope.ConnectionAccepted(requestID, sess.ID, sess.ExpiresAt, h.o.ServerVersion, h.now())
	l := envelope.Limits{MaxInFlight: h.o.MaxInFlight}
	if r := float64(h.o.RequestRate); r > 0 && r != float64(rate.Inf) {
		l.RequestRate, l.RequestBurst = r, h.o.RequestBurst
	}
	resp.Metadata = l.Metadata()
	return resp
}
