package ratatoskrhttp

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Handshake refusals the server makes itself.
var (
	errHandshakesBusy   = envelope.NewError(envelope.CodeUnavailable, "too many handshakes at once, try again")
	errHandshakeTimeout = envelope.NewError(envelope.CodeUnavailable, "the token check did not finish in time, try again")
	errTooManySessions  = envelope.NewError(envelope.CodeRateLimited, "too many sessions for this device")
	errRenewing         = envelope.NewError(envelope.CodeRateLimited, "a renewal is already being checked")
	errRevoked          = envelope.NewError(envelope.CodeAuthFailed, "device token revoked")
	errRevocation       = envelope.NewError(envelope.CodeUnavailable, "revocation list unavailable, try again")
)

// checkToken runs authenticate within the deadline by, on a goroutine of
// its own, after waiting for one of the handler's MaxConcurrentHandshakes
// turns. It returns by the deadline even when the Authenticator, its key
// resolver or Revoked ignore their context: that goroutine then ends when
// they return, and holds its turn until it does, so that such calls never
// pile up beyond the bound.
func (c *conn) checkToken(req *pb.RatatoskrRequest, by time.Time) (*Session, error) {
	ctx, cancel := context.WithDeadline(c.values, by)
	defer cancel()
	turns := c.h.limits.handshakes
	select {
	case turns <- struct{}{}:
	case <-ctx.Done():
		c.limited(LimitHandshakes, nil, "")
		return nil, errHandshakesBusy
	}
	type result struct {
		sess *Session
		err  error
	}
	done := make(chan result, 1)
	go func() { // awaited below until the deadline; past it, ends when the checks return
		defer func() { <-turns }()
		defer func() {
			if v := recover(); v != nil {
				c.h.log.Error("ratatoskr: panic checking a token", "remote", c.remote, "panic", v, "stack", string(debug.Stack()))
				done <- result{err: envelope.WrapError(envelope.CodeInternal, errPanic.Message(), fmt.Errorf("ratatoskrhttp: token check panicked: %v", v))}
			}
		}()
		sess, err := c.authenticate(ctx, req)
		done <- result{sess, err}
	}()
	select {
	case r := <-done:
		return r.sess, r.err
	case <-ctx.Done():
		return nil, envelope.WrapError(envelope.CodeUnavailable, errHandshakeTimeout.Message(), ctx.Err())
	}
}

// authenticate checks a CONNECTION_REQUEST: its schema, its payload, the
// token, then the whole envelope with the token's key (nonce included),
// and last whether the identity is revoked. It returns the session the
// request opens or renews.
func (c *conn) authenticate(ctx context.Context, req *pb.RatatoskrRequest) (*Session, error) {
	v := c.h.validator
	if err := v.CheckSchema(req); err != nil {
		return nil, err
	}
	scheme, err := c.h.handshakeScheme(req)
	if err != nil {
		return nil, err
	}
	p, err := envelope.ConnectionPayload(req)
	if err != nil {
		return nil, err
	}
	if ver := p.GetVersion(); ver != "" && ver != envelope.ProtocolVersion {
		return nil, envelope.Errorf(envelope.CodeConnectionRejected, "protocol version %s is not supported, this server speaks %q", envelope.Quote(ver), envelope.ProtocolVersion)
	}
	id, err := c.h.o.Authenticator.Authenticate(ctx, p.GetAuthenticationToken())
	switch {
	case errors.Is(err, auth.ErrUnavailable):
		return nil, envelope.WrapError(envelope.CodeUnavailable, "device key source unavailable, try again", err)
	case errors.Is(err, auth.ErrUnacceptableKey):
		return nil, envelope.WrapError(envelope.CodeAuthFailed, "device public key is unacceptable", err)
	case err != nil:
		return nil, envelope.WrapError(envelope.CodeAuthFailed, "device token refused", err)
	}
	if id.PublicKey == nil && id.KeyThumbprint != "" {
		if id, err = presentedKey(req, id); err != nil {
			return nil, err
		}
	}
	// Checked here as well as in package auth, since a custom Authenticator
	// may hand over any key; once per token, never per request.
	key, err := envelope.NewDeviceKey(id.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := v.Validate(ctx, req, envelope.Expect{UserID: id.UserID, DeviceID: id.DeviceID, Key: key, Scheme: scheme}); err != nil {
		return nil, err
	}
	if revoked := c.h.o.Revoked; revoked != nil {
		r, err := revoked(ctx, id)
		switch {
		case err != nil:
			return nil, envelope.WrapError(envelope.CodeUnavailable, errRevocation.Message(), err)
		case r:
			return nil, errRevoked
		}
	}
	now := c.h.now()
	expires := now.Add(c.h.o.MaxSessionDuration)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(expires) {
		expires = id.ExpiresAt
	}
	return &Session{Identity: *id, ExpiresAt: expires, RemoteAddr: c.remote, Scheme: scheme, key: key, scope: envelope.Scope(id.UserID, id.DeviceID)}, nil
}

var (
	errNoPresentedKey = envelope.NewError(envelope.CodeAuthFailed, "the token binds the device key by thumbprint (cnf.jkt): present the key in the metadata (device_key)")
	errKeyThumbprint  = envelope.NewError(envelope.CodeAuthFailed, "the presented device key does not match the token's cnf.jkt")
)

// presentedKey returns id with the device key the CONNECTION_REQUEST
// presents (metadata device_key), which must have the thumbprint the token
// binds (cnf.jkt). Its strength is checked by the caller, as any key's.
func presentedKey(req *pb.RatatoskrRequest, id *auth.Identity) (*auth.Identity, error) {
	raw, ok := req.GetMetadata()[envelope.MetadataDeviceKey]
	if !ok {
		return nil, errNoPresentedKey
	}
	pub, err := base64.RawURLEncoding.Strict().DecodeString(raw)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, envelope.NewError(envelope.CodeAuthFailed, "device_key is not the unpadded base64url of a 32-byte Ed25519 key")
	}
	if auth.Thumbprint(pub) != id.KeyThumbprint {
		return nil, errKeyThumbprint
	}
	bound := *id
	bound.PublicKey = pub
	return &bound, nil
}

// open runs the handshake; the read loop waits for it, since nothing but
// this CONNECTION_REQUEST may come before the answer. The token check
// gets HandshakeTimeout from the request's arrival. A refusal is answered
// and closes the connection with 1008. Past MaxSessionsPerDevice, the
// device's oldest session is displaced or this one refused
// (SessionPolicy).
func (c *conn) open(req *pb.RatatoskrRequest, start time.Time) {
	c.check(+1)
	sess, err := c.checkToken(req, time.Now().Add(c.h.o.HandshakeTimeout))
	if err == nil {
		sess.ID, err = envelope.NewRequestID(c.h.o.Rand)
	}
	var displaced *conn
	if err == nil {
		var ok bool
		if displaced, ok = c.h.register(c, sess.scope); !ok {
			err = errTooManySessions
			c.limited(LimitSessions, sess, "")
		}
	}
	if err == nil {
		if code, ok := c.opened(sess); !ok {
			err = envelope.NewError(code, disconnectText(code))
		}
	}
	c.reportHandshake(req, false, sess, start, err)
	if err != nil {
		c.check(-1)
		c.closeWith(c.h.refused(req.GetRequestId(), err), req, ClosedHandshakeFailed, ClosePolicyViolation, "handshake refused")
		return
	}
	c.send(c.encode(c.h.accepted(req.GetRequestId(), sess), req), nil)
	c.check(-1)
	if displaced != nil {
		c.h.log.Info("ratatoskr: session replaced by a newer one of its device", "device", sess.Identity.DeviceID, "user", sess.Identity.UserID, "remote", displaced.remote)
		displaced.beginEnd(replaced)
	}
}

// startRenewal checks a CONNECTION_REQUEST on a live session on a
// goroutine of its own, so that the read loop goes on serving the session
// (heartbeats included) meanwhile. One renewal at a time: another one
// meanwhile gets RATE_LIMITED.
func (c *conn) startRenewal(req *pb.RatatoskrRequest, cur *Session, start time.Time) {
	c.mu.Lock()
	if c.renewing || c.gone {
		c.mu.Unlock()
		c.reportHandshake(req, true, nil, start, errRenewing)
		c.fail(req, req.GetMessageType(), req.GetRequestId(), errRenewing)
		return
	}
	c.renewing = true
	c.busy++
	c.wg.Add(1)
	c.mu.Unlock()
	go func() { // owned by the connection: teardown waits; bounded by the token check's deadline
		defer c.wg.Done()
		c.renew(req, cur, start)
		c.check(-1)
	}()
}

// renew handles a CONNECTION_REQUEST on a live session: a fresh token for
// the same user and device moves expires_at. A refused renewal is answered
// but leaves the current session as it was.
func (c *conn) renew(req *pb.RatatoskrRequest, cur *Session, start time.Time) {
	sess, err := c.checkToken(req, time.Now().Add(c.h.o.HandshakeTimeout))
	if err == nil && (sess.Identity.UserID != cur.Identity.UserID || sess.Identity.DeviceID != cur.Identity.DeviceID) {
		err = envelope.NewError(envelope.CodeIdentityMismatch, "a renewal must be for the session's user and device")
	}
	if err == nil && sess.Scheme != cur.Scheme {
		err = errSchemeChange
	}
	if err == nil {
		sess.ID = cur.ID
		if code, ok := c.opened(sess); !ok {
			err = envelope.NewError(code, disconnectText(code))
		}
	}
	c.reportHandshake(req, true, sess, start, err)
	// The next renewal may come once this one is answered.
	c.mu.Lock()
	c.renewing = false
	c.mu.Unlock()
	if err != nil {
		c.send(c.encode(c.h.refused(req.GetRequestId(), err), req), nil)
		c.countAbuse(err)
		return
	}
	c.send(c.encode(c.h.accepted(req.GetRequestId(), sess), req), nil)
}

// check counts a handshake or renewal being checked: a session that
// starts ending meanwhile waits for its answer, and the handshake timer
// does not cut it.
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
	if d := h.limits.device; d != nil {
		if dl := d.Limit(); dl.Valid() {
			l.RequestRate, l.RequestBurst = dl.Rate, dl.Burst
		}
	}
	resp.Metadata = l.Metadata()
	resp.Metadata[envelope.MetadataScheme] = sess.Scheme.String()
	if h.keyID != "" {
		resp.Metadata[envelope.MetadataKeyID] = h.keyID
	}
	return resp
}
