package ratatoskrhttp

import (
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
	// RequestRate limits the requests per second on one connection, with
	// bursts of RequestBurst; a request over the limit gets RATE_LIMITED.
	// Defaults to no limit. RequestBurst defaults to max(1, RequestRate).
	RequestRate  rate.Limit
	RequestBurst int
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
	// MaxProtocolErrors is how many undecodable or forged frames (errors of
	// the serialization and security kinds) a connection may send before
	// it is closed with 1008. Defaults to 16.
	MaxProtocolErrors int
	// ServerVersion is sent in the handshake response. Defaults to
	// DefaultServerVersion.
	ServerVersion string
	// Logger receives connection events and one line per request: at Warn
	// for security refusals (token, key, signature, replay, identity) and
	// rate limits, with the remote address, the Origin header and the
	// user and device the frame claims (never the token); at Info
	// otherwise. Strings repeated from the peer are cut at a few hundred
	// bytes. Defaults to discarding.
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
// hijacked; call Handler.Shutdown as well, for instance through
// srv.RegisterOnShutdown (see the package example).
type Handler struct {
	*Router

	o         Options
	validator *envelope.Validator
	now       func() time.Time
	log       *slog.Logger

	mu       sync.Mutex
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
	if o.RequestRate > 0 && o.RequestBurst <= 0 {
		o.RequestBurst = max(1, int(o.RequestRate))
	}
	if o.ServerVersion == "" {
		o.ServerVersion = DefaultServerVersion
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	o.OriginPatterns = append([]string(nil), o.OriginPatterns...)
	v := envelope.NewValidator(o.Validation)
	return &Handler{
		Router:    NewRouter(),
		o:         o,
		validator: v,
		now:       v.Options().Now,
		log:       o.Logger,
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
	go func() { // counted in h.wg by accept; Shutdown waits for it
		defer h.release(c)
		c.serve()
	}()
}
