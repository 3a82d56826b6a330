package ratatoskrhttp

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Observer is told what happens on a handler's connections: connections
// opening and closing, handshakes and renewals, every request and its
// outcome, frames refused before they could be read as requests, limit
// refusals and replay-store checks. Packages metrics (Prometheus) and
// tracing (OpenTelemetry) implement it, and so does the handler's own
// audit log (Options.Logger).
//
// Methods are called synchronously on the goroutine where the event
// happens (a connection's read loop, a worker serving a request, a timer),
// concurrently for different connections: they must be safe for
// concurrent use, fast, and must never block. Events carry values the
// handler owns; an observer must not keep slices or maps from them after
// it returns (RequestEvent.Payload in particular).
//
// Embed NopObserver to implement only some methods.
type Observer interface {
	// ConnectionOpened is called when a connection has been upgraded.
	ConnectionOpened(ConnectionEvent)
	// ConnectionClosed is called once the connection has ended, with why.
	ConnectionClosed(ConnectionEvent)
	// Handshake is called when a handshake or a renewal has been answered.
	Handshake(HandshakeEvent)
	// StartRequest is called when a business request begins (before its
	// validation); the context it returns is the one validation, the replay
	// store and the service get, so that a tracer can carry a span in it.
	// ctx must be the parent of the context returned.
	StartRequest(ctx context.Context, r *RequestInfo) context.Context
	// Request is called when any request (business, heartbeat, disconnect;
	// refused ones included) has been answered. For a business request that
	// was served, ctx is the context StartRequest returned. A business
	// request refused before it reached a worker (the rate limit, the
	// in-flight bound, an ending session) gets no StartRequest, so that a
	// flood costs an observer little; ctx is then the connection's, as for
	// the other types.
	Request(ctx context.Context, e *RequestEvent)
	// Refused is called for a frame refused before it could be read as a
	// request: not binary, too large, undecodable.
	Refused(RefusalEvent)
	// Limited is called when a limit refuses something.
	Limited(LimitEvent)
	// ReplayChecked is called after each replay-store check.
	ReplayChecked(ReplayEvent)
}

// ConnectionEvent describes a connection opening or closing.
type ConnectionEvent struct {
	RemoteAddr string
	// On close, when a session was open: who it was.
	SessionID, UserID, DeviceID string
	// On close: why (CloseReason), the close code sent or received (-1
	// when the connection was cut without one), and how long it lived.
	Reason    CloseReason
	CloseCode websocket.StatusCode
	Duration  time.Duration
}

// CloseReason says why a connection ended. The set is small and fixed, so
// it may be used as a metric label.
type CloseReason string

// The reasons a connection ends.
const (
	ClosedByPeer          CloseReason = "peer"              // the device closed or went away
	ClosedDisconnect      CloseReason = "disconnect"        // the device's DISCONNECT
	ClosedExpired         CloseReason = "expired"           // the session's token or MaxSessionDuration ran out
	ClosedShutdown        CloseReason = "shutdown"          // Shutdown or Close
	ClosedReplaced        CloseReason = "replaced"          // displaced by a newer session of the device
	ClosedKilled          CloseReason = "killed"            // Handler.Disconnect
	ClosedHandshakeFailed CloseReason = "handshake_refused" // a refused, missing or invalid handshake
	ClosedHandshakeTime   CloseReason = "handshake_timeout" // no handshake in time
	ClosedAbuse           CloseReason = "abuse"             // too many refused frames, a text frame
	ClosedUnresponsive    CloseReason = "unresponsive"      // no pong, or a peer that does not read
	ClosedInternal        CloseReason = "internal"          // a server fault
)

// HandshakeEvent describes an answered handshake or renewal.
type HandshakeEvent struct {
	Renewal    bool
	RemoteAddr string
	Origin     string // the Origin header of the upgrade (browsers), clipped
	// RequestID is the CONNECTION_REQUEST's id; UserID and DeviceID are
	// what it claims (authenticated only when Code is "").
	RequestID, UserID, DeviceID string
	// SessionID and Scheme are the session's, when accepted.
	SessionID string
	Scheme    envelope.Scheme
	// Code is "" when accepted, else the refusal's code; Err the refusal.
	Code    envelope.Code
	Err     error
	Latency time.Duration
}

// RequestInfo describes a request as it begins.
type RequestInfo struct {
	Type       pb.MessageType
	Service    string // metadata["service"] for a business request, else ""
	RequestID  string
	UserID     string // as the frame claims (equal to the session's once validated)
	DeviceID   string
	SessionID  string // "" before a session is open
	RemoteAddr string
	Origin     string // the Origin header of the upgrade (browsers), clipped
	// Metadata is the request's metadata (a tracer reads "traceparent"
	// from it); read-only.
	Metadata map[string]string
	// Size is the encoded request's size in bytes.
	Size int
	// Start is when the request was read.
	Start time.Time
}

// RequestEvent describes an answered request.
type RequestEvent struct {
	RequestInfo
	// Code is "" for a success, else the answer's error code; Err is the
	// error (its cause is for the operator, never sent to the device).
	Code envelope.Code
	Err  error
	// Latency is from the read of the request to its answer.
	Latency time.Duration
	// Payload is the request's payload, valid only during the call.
	Payload []byte
	// ResponseSize is the size of the answer's payload in bytes.
	ResponseSize int
}

// RefusalEvent describes a frame refused before it was a request.
type RefusalEvent struct {
	RemoteAddr string
	SessionID  string
	Code       envelope.Code
	Size       int // the frame's size in bytes, when known
}

// LimitKind names a limit. The set is fixed.
type LimitKind string

// The limits that refuse things.
const (
	LimitDeviceRate       LimitKind = "device_rate"
	LimitUserRate         LimitKind = "user_rate"
	LimitServiceRate      LimitKind = "service_rate"
	LimitInFlight         LimitKind = "in_flight"
	LimitSessions         LimitKind = "sessions_per_device"
	LimitConnections      LimitKind = "connections"
	LimitPendingPerAddr   LimitKind = "pending_per_addr"
	LimitHandshakeRate    LimitKind = "handshake_rate_per_addr"
	LimitHandshakes       LimitKind = "concurrent_handshakes"
	LimitProtocolErrors   LimitKind = "protocol_errors"
	LimitReplayStoreShare LimitKind = "replay_store"
)

// LimitEvent describes a refusal by a limit.
type LimitEvent struct {
	Limit      LimitKind
	RemoteAddr string
	UserID     string // when known
	DeviceID   string
	Service    string // for LimitServiceRate
}

// ReplayOutcome is the result of a replay-store check.
type ReplayOutcome string

// Replay-store outcomes.
const (
	ReplayRecorded    ReplayOutcome = "recorded"    // new: accepted
	ReplayDetected    ReplayOutcome = "replay"      // seen before: refused
	ReplayUnavailable ReplayOutcome = "unavailable" // the store could not tell: refused
)

// ReplayEvent describes one replay-store check.
type ReplayEvent struct {
	Outcome ReplayOutcome
	Latency time.Duration
	Err     error // for ReplayUnavailable
}

// NopObserver does nothing; embed it in an Observer that implements only
// some methods.
type NopObserver struct{}

func (NopObserver) ConnectionOpened(ConnectionEvent) {}
func (NopObserver) ConnectionClosed(ConnectionEvent) {}
func (NopObserver) Handshake(HandshakeEvent)         {}
func (NopObserver) StartRequest(ctx context.Context, _ *RequestInfo) context.Context {
	return ctx
}
func (NopObserver) Request(context.Context, *RequestEvent) {}
func (NopObserver) Refused(RefusalEvent)                   {}
func (NopObserver) Limited(LimitEvent)                     {}
func (NopObserver) ReplayChecked(ReplayEvent)              {}

var _ Observer = NopObserver{}

// Observers returns an Observer that calls each of obs in turn (nil ones
// skipped); StartRequest chains their contexts.
func Observers(obs ...Observer) Observer {
	var m multiObserver
	for _, o := range obs {
		if o != nil {
			m = append(m, o)
		}
	}
	switch len(m) {
	case 0:
		return nil
	case 1:
		return m[0]
	}
	return m
}

type multiObserver []Observer

func (m multiObserver) ConnectionOpened(e ConnectionEvent) {
	for _, o := range m {
		o.ConnectionOpened(e)
	}
}
func (m multiObserver) ConnectionClosed(e ConnectionEvent) {
	for _, o := range m {
		o.ConnectionClosed(e)
	}
}
func (m multiObserver) Handshake(e HandshakeEvent) {
	for _, o := range m {
		o.Handshake(e)
	}
}
func (m multiObserver) StartRequest(ctx context.Context, r *RequestInfo) context.Context {
	for _, o := range m {
		ctx = o.StartRequest(ctx, r)
	}
	return ctx
}
func (m multiObserver) Request(ctx context.Context, e *RequestEvent) {
	for _, o := range m {
		o.Request(ctx, e)
	}
}
func (m multiObserver) Refused(e RefusalEvent) {
	for _, o := range m {
		o.Refused(e)
	}
}
func (m multiObserver) Limited(e LimitEvent) {
	for _, o := range m {
		o.Limited(e)
	}
}
func (m multiObserver) ReplayChecked(e ReplayEvent) {
	for _, o := range m {
		o.ReplayChecked(e)
	}
}
