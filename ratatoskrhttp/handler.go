package ratatoskrhttp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/opt"
	"github.com/ratatoskr-proto/ratatoskr/nonce"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
)

// Subprotocol is the WebSocket subprotocol selected when a client offers
// it. Clients that offer none are served too.
const Subprotocol = "ratatoskr.v1"

// DefaultServerVersion is sent in ConnectionResponsePayload.server_version
// unless Options.ServerVersion says otherwise.
const DefaultServerVersion = "ratatoskr-go/1"

// Options configures a Handler. Only Authenticator is required; every other
// zero field means its documented default.
type Options struct {
	// Authenticator verifies device tokens in the handshake. Required.
	Authenticator auth.Authenticator
	// Validation sets the envelope limits (message size, timestamp window
	// and skew, nonce and id bounds), the nonce store and the clock. Nil
	// means envelope's defaults: 1 MiB messages, 300 s window, 30 s skew,
	// and an in-memory nonce store, which protects a single replica only:
	// set Validation.Nonces to a shared store (redisstore.New, package nonce/redisstore) when several
	// replicas serve the same devices.
	Validation *envelope.ValidatorOptions
	// OriginPatterns lists the hosts, besides the request's own, that
	// browsers may connect from (see websocket.AcceptOptions). Defaults to
	// none: only same-host browser pages. Requests without an Origin header
	// (native apps) are always allowed.
	OriginPatterns []string
	// HandshakeTimeout bounds the wait for the first CONNECTION_REQUEST.
	// Defaults to 10 s.
	HandshakeTimeout time.Duration
	// MaxSessionDuration caps a session: expires_at is the earlier of the
	// token's expiry and now plus this. Defaults to 24 h.
	MaxSessionDuration time.Duration
	// MaxInFlight bounds the business requests served at once on one
	// connection; past it a request is refused with RATE_LIMITED at once,
	// so the connection never stalls. Defaults to 64.
	MaxInFlight int
	// RequestRate limits the requests per second of one device, across
	// its connections on this replica, with bursts of RequestBurst; every
	// request type counts but DISCONNECT. A request over the limit gets
	// RATE_LIMITED and the connection stays. Defaults to 100 requests/s
	// with a burst of 300: far above what a phone sends, and a flood meets
	// it at once. A negative RequestRate turns the limit off. RequestBurst
	// defaults to 3 × RequestRate (at least 1). The limit is announced to
	// the device in the connection response.
	RequestRate  rate.Limit
	RequestBurst int
	// DeviceLimiter, when set, replaces the limit RequestRate describes:
	// it is asked once per request, keyed by the device (see
	// envelope.Scope), for instance a ratelimit/redisrate limiter shared
	// by every replica. It is called on the connection's read loop, so its
	// latency bounds one connection's request rate. Errors fail closed
	// (UNAVAILABLE).
	DeviceLimiter ratelimit.Limiter
	// UserLimiter, when set, limits the business requests of each user
	// (keyed by user id) across devices. Defaults to none.
	UserLimiter ratelimit.Limiter
	// ServiceLimiters, when set, limit the business requests each service
	// gets from all devices together on this replica (or across replicas,
	// with shared limiters), keyed by the service name. Services not in
	// the map are not limited. Defaults to none.
	ServiceLimiters map[string]ratelimit.Limiter
	// MaxSessionsPerDevice bounds the open sessions of one device (same
	// user and device id) on this replica. Defaults to 4; negative: no
	// bound. What happens past it is SessionPolicy's choice.
	MaxSessionsPerDevice int
	// SessionPolicy says what a handshake past MaxSessionsPerDevice does.
	// Defaults to DisplaceOldest.
	SessionPolicy SessionPolicy
	// MaxConnections bounds the connections the handler holds at once;
	// upgrades past it are refused with HTTP 503. Defaults to 50,000;
	// negative: no bound.
	MaxConnections int
	// MaxPendingPerAddr bounds the connections from one remote address
	// that have not completed their handshake; upgrades past it are
	// refused with HTTP 429. Defaults to 64; negative: no bound.
	MaxPendingPerAddr int
	// HandshakeRatePerAddr limits the upgrades per second from one remote
	// address, with bursts of HandshakeBurstPerAddr; upgrades past it are
	// refused with HTTP 429. Default to 50/s with a burst of 200 (many
	// devices may share one address behind a carrier's NAT); a negative
	// rate turns the limit off.
	HandshakeRatePerAddr  rate.Limit
	HandshakeBurstPerAddr int
	// ClientAddr returns the remote address that MaxPendingPerAddr and
	// HandshakeRatePerAddr count by. Defaults to the host part of
	// r.RemoteAddr; behind a reverse proxy, return the client address the
	// proxy vouches for (and only that: a header a client can set freely
	// would let it choose its own bucket).
	ClientAddr func(r *http.Request) string
	// MaxHandshakeSize bounds a frame read before the session is open: a
	// CONNECTION_REQUEST is a few KiB. A larger frame ends the connection
	// (1009). Defaults to 16 KiB; it cannot be turned off.
	MaxHandshakeSize int
	// MaxConcurrentHandshakes bounds the token checks (the Authenticator
	// and its key resolver, Revoked) running at once in the handler,
	// handshakes and renewals together. A handshake waits for a turn until
	// its deadline, then gets UNAVAILABLE. Defaults to 64; it cannot be
	// turned off.
	MaxConcurrentHandshakes int
	// Revoked, when set, is asked at every handshake and renewal, after
	// the token verifies, whether the identity is revoked (consult a
	// shared revocation list here). True refuses the handshake with
	// AUTH_FAILED; an error refuses it with UNAVAILABLE. It runs within
	// the handshake's deadline. To end sessions already open, use
	// Handler.Disconnect.
	Revoked func(ctx context.Context, id *auth.Identity) (bool, error)
	// RequestTimeout bounds each service call through its context.
	// Defaults to 30 s.
	RequestTimeout time.Duration
	// WriteTimeout bounds each frame written to a device; a peer that does
	// not read for this long is disconnected. Defaults to 10 s.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings at the WebSocket level;
	// a peer that does not answer within PingTimeout is disconnected.
	// Default to 30 s and 15 s. A negative PingInterval disables pings.
	PingInterval, PingTimeout time.Duration
	// DrainTimeout is how long an ending session (expired, the device
	// disconnecting, or closed for protocol abuse) waits for its in-flight
	// requests before their contexts are cancelled and it closes. Defaults
	// to 5 s. Shutdown waits until its own context ends instead.
	DrainTimeout time.Duration
	// MaxProtocolErrors is how many refused frames a connection may send
	// in a burst before it is closed with 1008: undecodable or forged
	// frames (errors of the serialization and security kinds), requests
	// refused with RATE_LIMITED and requests the replay store or a limiter
	// could not check (UNAVAILABLE). The count decays: one error is
	// forgotten every ProtocolErrorDecay, so a few errors a day never
	// close a session while a flood does at once. Default to 16 and 10 s.
	MaxProtocolErrors  int
	ProtocolErrorDecay time.Duration
	// ServerVersion is sent in the handshake response. Defaults to
	// DefaultServerVersion.
	ServerVersion string
	// RequireSignatureV2 refuses devices that sign with v1 (the
	// reference implementation's scheme, which covers neither message_type
	// nor metadata): their handshake gets SIGNATURE_INVALID. Defaults to
	// false: v1 and v2 devices are both served, each session in the scheme
	// its handshake chose.
	RequireSignatureV2 bool
	// ResponseKey, when set, signs every response (field signature of
	// RatatoskrResponse), bound to the request it answers and the session;
	// connection responses name it by envelope.KeyID. Each response then
	// costs one Ed25519 signature. Defaults to unsigned responses.
	ResponseKey ed25519.PrivateKey
	// Observer, when set, is told of every connection, handshake, request,
	// refusal, limit and replay-store check (see Observer): combine several
	// with Observers, for instance metrics.New and tracing.New. Defaults to
	// none, which costs nothing.
	Observer Observer
	// Logger receives the audit log: one record per handshake and per
	// request, at Warn for security refusals (token, key, signature,
	// replay, identity) and RATE_LIMITED, at Info otherwise, with stable
	// field names:
	//
	//	ratatoskr.handshake  renewal, request_id, session_id, user_id, device_id,
	//	                     remote, origin (browsers), code ("OK" or the error
	//	                     code), latency, scheme (accepted), err and cause (refused)
	//	ratatoskr.request    type, request_id, session_id, user_id, device_id,
	//	                     remote, origin, service (business), code, latency,
	//	                     payload_size, payload_sha256 (hex), response_size,
	//	                     err and cause (failed)
	//
	// and ratatoskr.connection_closed (reason, close_code, session_id,
	// user_id, device_id, remote, duration), ratatoskr.refused (code,
	// session_id, remote, size) and ratatoskr.limited (limit, remote,
	// user_id, device_id, service). user_id and device_id are what the frame
	// claims until validated; err is the message the device got, cause is
	// for the operator only. Payloads, tokens and signatures are never
	// logged; strings from the peer are cut at a few hundred bytes.
	// Defaults to discarding, which costs nothing.
	Logger *slog.Logger
	// Rand is the source of session ids. Defaults to crypto/rand.
	Rand io.Reader
}

// Handler serves Ratatoskr over WebSocket. It implements http.Handler, so it
// mounts on chi (router.Mount("/ratatoskr", h)), http.ServeMux or
// httptest.Server as it is, and it is a Router: register services with
// Handle, HandleFunc, Use, With, Group and NotFound.
//
// A Handler is safe for concurrent use. Register services before it
// serves.
//
// http.Server.Shutdown does not wait for WebSocket connections, which are
// hijacked: stop the server with ShutdownServer(ctx, srv, h), which shuts
// down both and waits until every session has had its DISCONNECT.
type Handler struct {
	*Router

	o         Options
	obs       Observer // the audit log and Options.Observer; nil: none
	keyID     string   // envelope.KeyID of ResponseKey's public half
	validator *envelope.Validator
	now       func() time.Time
	log       *slog.Logger

	mu       sync.Mutex
	limits   limits // its maps are under mu
	conns    map[*conn]struct{}
	draining bool
	wg       sync.WaitGroup
	closed   chan struct{} // closed when Shutdown has finished
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler with opts. It panics when opts or
// opts.Authenticator is nil, a setup mistake. opts is copied.
func New(opts *Options) *Handler {
	if opts == nil || opts.Authenticator == nil {
		panic("ratatoskrhttp: New needs Options with an Authenticator")
	}
	o := *opts
	opt.Default(&o.HandshakeTimeout, 10*time.Second)
	opt.Default(&o.MaxSessionDuration, 24*time.Hour)
	opt.Default(&o.MaxInFlight, 64)
	opt.Default(&o.RequestTimeout, 30*time.Second)
	opt.Default(&o.WriteTimeout, 10*time.Second)
	if o.PingInterval == 0 {
		o.PingInterval = 30 * time.Second
	}
	opt.Default(&o.PingTimeout, 15*time.Second)
	opt.Default(&o.DrainTimeout, 5*time.Second)
	opt.Default(&o.MaxProtocolErrors, 16)
	opt.Default(&o.ProtocolErrorDecay, 10*time.Second)
	defaultLimits(&o)
	if o.ServerVersion == "" {
		o.ServerVersion = DefaultServerVersion
	}
	var audit Observer
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	} else {
		audit = AuditLog(o.Logger)
	}
	obs := Observers(audit, o.Observer)
	if o.Observer != nil {
		var vo envelope.ValidatorOptions
		if o.Validation != nil {
			vo = *o.Validation
		}
		if vo.Nonces == nil {
			vo.Nonces = nonce.NewMemory(nil)
		}
		vo.Nonces = observedStore{Store: vo.Nonces, obs: o.Observer}
		o.Validation = &vo
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	o.OriginPatterns = append([]string(nil), o.OriginPatterns...)
	var keyID string
	if o.ResponseKey != nil {
		if len(o.ResponseKey) != ed25519.PrivateKeySize {
			panic("ratatoskrhttp: Options.ResponseKey must be an Ed25519 private key")
		}
		o.ResponseKey = append(ed25519.PrivateKey(nil), o.ResponseKey...)
		keyID = envelope.KeyID(o.ResponseKey.Public().(ed25519.PublicKey))
	}
	v := envelope.NewValidator(o.Validation)
	return &Handler{
		Router:    NewRouter(),
		o:         o,
		obs:       obs,
		keyID:     keyID,
		validator: v,
		now:       v.Options().Now,
		log:       o.Logger,
		limits:    newLimits(&o),
		conns:     make(map[*conn]struct{}),
		closed:    make(chan struct{}),
	}
}

// Validator returns the envelope validator the handler uses.
func (h *Handler) Validator() *envelope.Validator { return h.validator }

// Sessions returns the number of open connections.
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// ServeHTTP upgrades the request to a WebSocket and returns: the
// connection is served on a goroutine of its own until it ends (Shutdown
// waits for it). While the handler shuts down it answers 503.
//
// The goroutine net/http ran ServeHTTP on has grown its stack parsing the
// request and upgrading it; returning frees it, and the connection's own
// goroutine starts small, so an idle connection costs a small stack.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := h.accept(w, r)
	if !ok {
		return
	}
	if h.obs != nil {
		h.obs.ConnectionOpened(ConnectionEvent{RemoteAddr: c.remote})
	}
	go func() { // counted in h.wg by accept; Shutdown waits for it
		defer h.release(c)
		c.serve()
	}()
}
