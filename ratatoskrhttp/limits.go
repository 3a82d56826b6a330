package ratatoskrhttp

import (
	"context"
	"net"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
)

// SessionPolicy says what a handshake does when its device already holds
// Options.MaxSessionsPerDevice sessions on this replica.
type SessionPolicy uint8

const (
	// DisplaceOldest opens the new session and ends the device's oldest
	// one: it gets a DISCONNECT with SESSION_REPLACED (its requests in
	// flight answer first) and close 1000. A device that reconnects after
	// losing its network is never locked out by its own stale sessions.
	DisplaceOldest SessionPolicy = iota
	// RefuseNew refuses the new handshake with RATE_LIMITED (close 1008)
	// and leaves the open sessions alone.
	RefuseNew
)

// Limit defaults; Options documents each.
const (
	defaultRequestRate          = 100
	defaultMaxSessionsPerDevice = 4
	defaultMaxConnections       = 50_000
	defaultMaxPendingPerAddr    = 64
	defaultHandshakeRatePerAddr = 50
	defaultMaxHandshakeSize     = 16 << 10
	defaultMaxHandshakes        = 64
)

// defaultLimits applies the limit defaults of o: zero means the default,
// a negative value turns the limit off (kept negative here).
func defaultLimits(o *Options) {
	if o.RequestRate == 0 {
		o.RequestRate = defaultRequestRate
	}
	if o.RequestRate > 0 && o.RequestBurst <= 0 {
		o.RequestBurst = max(1, int(3*o.RequestRate))
	}
	if o.MaxSessionsPerDevice == 0 {
		o.MaxSessionsPerDevice = defaultMaxSessionsPerDevice
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = defaultMaxConnections
	}
	if o.MaxPendingPerAddr == 0 {
		o.MaxPendingPerAddr = defaultMaxPendingPerAddr
	}
	if o.HandshakeRatePerAddr == 0 {
		o.HandshakeRatePerAddr = defaultHandshakeRatePerAddr
	}
	if o.HandshakeRatePerAddr > 0 && o.HandshakeBurstPerAddr <= 0 {
		o.HandshakeBurstPerAddr = max(1, int(4*o.HandshakeRatePerAddr))
	}
	if o.MaxHandshakeSize <= 0 {
		o.MaxHandshakeSize = defaultMaxHandshakeSize
	}
	if o.MaxConcurrentHandshakes <= 0 {
		o.MaxConcurrentHandshakes = defaultMaxHandshakes
	}
	if o.ClientAddr == nil {
		o.ClientAddr = hostOf
	}
	o.ServiceLimiters = cloneMap(o.ServiceLimiters)
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// hostOf is the default ClientAddr: the host part of r.RemoteAddr.
func hostOf(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// limits is the handler's state for its limits.
type limits struct {
	device     ratelimit.Limiter // nil: off
	addrRate   *ratelimit.Memory // nil: off
	handshakes chan struct{}     // a slot per token check running

	// Under Handler.mu:
	upgrading int                // admitted upgrades not yet in Handler.conns
	pending   map[string]int     // remote address → connections not yet open
	sessions  map[string][]*conn // device scope → its open sessions, oldest first
}

func newLimits(o *Options) limits {
	l := limits{
		device:     o.DeviceLimiter,
		handshakes: make(chan struct{}, o.MaxConcurrentHandshakes),
		pending:    make(map[string]int),
		sessions:   make(map[string][]*conn),
	}
	if l.device == nil && o.RequestRate > 0 && o.RequestRate != rate.Inf {
		l.device = ratelimit.NewMemory(ratelimit.Limit{Rate: float64(o.RequestRate), Burst: o.RequestBurst}, nil)
	}
	if r := o.HandshakeRatePerAddr; r > 0 && r != rate.Inf {
		l.addrRate = ratelimit.NewMemory(ratelimit.Limit{Rate: float64(r), Burst: o.HandshakeBurstPerAddr}, nil)
	}
	return l
}

// admit decides whether an upgrade from addr may go on, counting it as
// pending when it may. It returns the HTTP status refusing it and the
// limit that did, or 0. The caller holds h.mu.
func (h *Handler) admit(addr string) (int, LimitKind) {
	if max := h.o.MaxConnections; max > 0 && len(h.conns)+h.limits.upgrading >= max {
		return http.StatusServiceUnavailable, LimitConnections
	}
	if max := h.o.MaxPendingPerAddr; max > 0 && h.limits.pending[addr] >= max {
		return http.StatusTooManyRequests, LimitPendingPerAddr
	}
	if h.limits.addrRate != nil {
		if res, _ := h.limits.addrRate.Allow(context.Background(), addr); !res.Allowed {
			return http.StatusTooManyRequests, LimitHandshakeRate
		}
	}
	h.limits.pending[addr]++
	h.limits.upgrading++
	return 0, ""
}

// limitedAddr tells the observer that limit l refused an upgrade from
// addr.
func (h *Handler) limitedAddr(l LimitKind, addr string) {
	if h.obs != nil {
		h.obs.Limited(LimitEvent{Limit: l, RemoteAddr: addr})
	}
}

// unpend stops counting c as pending, once. The caller holds h.mu.
func (h *Handler) unpend(c *conn) {
	if c.unauth {
		c.unauth = false
		h.unpendAddr(c.addr)
	}
}

// unpendAddr counts one pending connection from addr less. The caller
// holds h.mu.
func (h *Handler) unpendAddr(addr string) {
	if n := h.limits.pending[addr] - 1; n > 0 {
		h.limits.pending[addr] = n
	} else {
		delete(h.limits.pending, addr)
	}
}

// register records c as an open session of its device, as the handshake
// succeeds. Past MaxSessionsPerDevice it either returns the session to
// displace (DisplaceOldest) or refuses c (RefuseNew, ok false).
func (h *Handler) register(c *conn, scope string) (displaced *conn, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unpend(c)
	list := h.limits.sessions[scope]
	if max := h.o.MaxSessionsPerDevice; max > 0 && len(list) >= max {
		if h.o.SessionPolicy == RefuseNew {
			return nil, false
		}
		displaced, list = list[0], list[1:]
		displaced.scope = ""
	}
	h.limits.sessions[scope] = append(list, c)
	c.scope = scope
	return displaced, true
}

// unregister removes c from its device's sessions, if it is there. The
// caller holds h.mu.
func (h *Handler) unregister(c *conn) {
	if c.scope == "" {
		return
	}
	list := h.limits.sessions[c.scope]
	for i, o := range list {
		if o == c {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(h.limits.sessions, c.scope)
	} else {
		h.limits.sessions[c.scope] = list
	}
	c.scope = ""
}

// replaced is the ending of a session displaced by a newer one.
var replaced = ending{code: envelope.CodeSessionReplaced, disconnect: true, notice: envelope.CodeSessionReplaced, status: CloseNormal, reason: string(envelope.CodeSessionReplaced), why: ClosedReplaced}

// countAbuse counts a refused frame towards MaxProtocolErrors: errors of
// the serialization and security kinds, RATE_LIMITED and UNAVAILABLE
// (the replay store or a limiter could not check; the read loop and
// validation are the only callers, so a service's UNAVAILABLE never gets
// here). The count is a token bucket held as one instant (GCRA): each
// error adds ProtocolErrorDecay, time takes it away, and a bucket more
// MaxProtocolErrors errors deep ends the session with 1008 after the
// requests in flight have answered.
func (c *conn) countAbuse(err error) {
	code := envelope.CodeOf(err)
	switch code.Kind() {
	case envelope.KindSerialization, envelope.KindSecurity:
	default:
		if code != envelope.CodeRateLimited && code != envelope.CodeUnavailable {
			return
		}
	}
	decay := int64(c.h.o.ProtocolErrorDecay)
	limit := decay * int64(c.h.o.MaxProtocolErrors)
	now := int64(time.Since(c.born))
	for {
		tat := c.abuse.Load()
		next := max(tat, now) + decay
		if next-now > limit-decay { // the MaxProtocolErrors-th error in a burst
			c.h.log.Warn("ratatoskr: too many refused frames, closing", "remote", c.remote, "last", err.Error())
			c.limited(LimitProtocolErrors, c.session(), "")
			c.beginEnd(ending{code: envelope.CodeConnectionRejected, status: ClosePolicyViolation, reason: "too many protocol errors", why: ClosedAbuse})
			return
		}
		if c.abuse.CompareAndSwap(tat, next) {
			return
		}
	}
}

// limitRequest asks the device limiter whether one more request of the
// session may go on. It returns the refusal, or nil.
func (c *conn) limitRequest(sess *Session) error {
	if c.h.limits.device == nil {
		return nil
	}
	err := ask(c.values, c.h.limits.device, sess.scope, errRateLimited)
	if err == errRateLimited {
		c.limited(LimitDeviceRate, sess, "")
	}
	return err
}

// limitBusiness asks the user and service limiters, when set, whether one
// more business request may go on.
func (c *conn) limitBusiness(ctx context.Context, sess *Session, service string) error {
	if l := c.h.o.UserLimiter; l != nil {
		if err := ask(ctx, l, sess.Identity.UserID, errUserRateLimited); err != nil {
			if err == errUserRateLimited {
				c.limited(LimitUserRate, sess, service)
			}
			return err
		}
	}
	if l := c.h.o.ServiceLimiters[service]; l != nil {
		if err := ask(ctx, l, service, errServiceRateLimited); err != nil {
			if err == errServiceRateLimited {
				c.limited(LimitServiceRate, sess, service)
			}
			return err
		}
	}
	return nil
}

var (
	errUserRateLimited    = envelope.NewError(envelope.CodeRateLimited, "too many requests from this user")
	errServiceRateLimited = envelope.NewError(envelope.CodeRateLimited, "too many requests to this service, try later")
	errLimiterUnavailable = envelope.NewError(envelope.CodeUnavailable, "rate limiter unavailable, try again")
)

// ask takes one token from l for key: refused is returned over the limit,
// an UNAVAILABLE error when l cannot tell.
func ask(ctx context.Context, l ratelimit.Limiter, key string, refused error) error {
	res, err := l.Allow(ctx, key)
	if err != nil {
		return envelope.WrapError(envelope.CodeUnavailable, errLimiterUnavailable.Message(), err)
	}
	if !res.Allowed {
		return refused
	}
	return nil
}
