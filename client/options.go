package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// Defaults of Options.
const (
	// DefaultMaxInFlight bounds the calls in flight when neither
	// Options.MaxInFlight nor the server (an older one, which does not
	// announce its limits) sets a bound; it is the server's default bound.
	DefaultMaxInFlight    = 64
	DefaultMaxMessageSize = envelope.DefaultMaxMessageSize
	DefaultCloseTimeout   = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	// DefaultRenewBefore caps the default margin of automatic renewal
	// (Options.RenewBefore).
	DefaultRenewBefore = 5 * time.Minute
)

// envelopeSlack is added to Options.MaxMessageSize to form the read limit, so
// that a response carrying a payload of MaxMessageSize bytes still fits with
// its envelope (ids, error message, metadata).
const envelopeSlack = 64 << 10

// Subprotocol is the WebSocket subprotocol Dial offers.
const Subprotocol = "ratatoskr.v1"

// Options configures Dial. Dial copies it and never modifies it.
type Options struct {
	// DeviceID and UserID identify the device and its user. They must match
	// the claims of the device token. Required.
	DeviceID, UserID string

	// PrivateKey is the device's Ed25519 key; it signs every request. Its
	// public half must be the key the token (or the server's key resolver)
	// binds to DeviceID. Required. Keep it on the device.
	PrivateKey ed25519.PrivateKey

	// Token is the device JWT sent in the handshake. When it is empty,
	// TokenSource is asked instead. One of Token and TokenSource is required.
	// The token is a bearer credential: never log it.
	Token string

	// TokenSource returns a device JWT. Dial calls it when Token is empty,
	// and Renew calls it when given an empty token (Renew falls back to Token
	// when TokenSource is nil); with Reconnect, each reconnection calls it
	// too (falling back to Token likewise). It is called with the caller's context. When
	// it is set, the client also renews the session by itself before it
	// expires (see RenewBefore), calling TokenSource for each try with a
	// context that ends at the session's expiry or when the client closes:
	// it must return when its context ends, since Close waits for it.
	//
	// Its errors are returned wrapped; one carrying a code (an
	// *envelope.Error, for instance UNAVAILABLE when the token service
	// cannot be reached) lets Retryable judge it.
	TokenSource func(ctx context.Context) (string, error)

	// RenewBefore is how long before the session's expires_at the client
	// renews it by itself, with a fresh token from TokenSource, on the live
	// connection: calls in flight are not interrupted, and Session's
	// ExpiresAt moves forward. A failed renewal is logged; when TokenSource
	// failed, or the failure is transient (Retryable: UNAVAILABLE,
	// RATE_LIMITED, a timeout), it is tried again, up to 4 tries in all,
	// after pauses of 1 s, 2 s and 4 s (each at most half the time left),
	// until the session expires. A token the server refuses (AUTH_FAILED,
	// IDENTITY_MISMATCH...) is not sent again, since the server counts
	// such refusals against the device. A renewal that fails for good
	// leaves the session to expire: the server then ends it with
	// SESSION_EXPIRED. A successful Renew by the application reschedules
	// the next one.
	//
	// The remaining lifetime is taken by the client's clock or the
	// server's, whichever says less. Defaults to 0: a tenth of the
	// session's lifetime, at most DefaultRenewBefore (5 minutes), so a
	// one-hour session is renewed at 55 minutes. A margin longer than half
	// the lifetime renews at half the lifetime instead. Negative disables
	// automatic renewal; so does a nil TokenSource (Token alone cannot be
	// refreshed) and a server that announces no expiry.
	RenewBefore time.Duration

	// HTTPHeader holds extra headers for the WebSocket handshake request
	// (for instance Origin, or a User-Agent). It is copied.
	HTTPHeader http.Header

	// HTTPClient dials the WebSocket handshake. Defaults to a client with a
	// private copy of http.DefaultTransport using TLSConfig.
	HTTPClient *http.Client

	// TLSConfig configures TLS for wss:// URLs when HTTPClient is nil. It is
	// cloned. Defaults to the system roots and Go's defaults.
	TLSConfig *tls.Config

	// HeartbeatInterval is the period of automatic HEARTBEAT requests. A
	// heartbeat not answered within one interval closes the connection.
	// Defaults to 0: no automatic heartbeats (the server's WebSocket pings
	// still keep the connection alive).
	HeartbeatInterval time.Duration

	// MaxInFlight bounds the business requests (Call) awaiting an answer
	// on the connection; a further Call waits for a slot, honouring its
	// context. A slot is held until the server answers, even when the
	// caller gave up, so the client never exceeds the server's bound.
	//
	// The server announces its own bound in the handshake (Limits); the
	// client holds its calls to the smaller of the two. Defaults to 0: the
	// server's announced bound alone, or DefaultMaxInFlight (64, the
	// server's default) when the server announces none.
	//
	// When the server also announces a request rate and burst, every
	// request the client sends on its own (Call, Heartbeat, automatic
	// heartbeats, Renew; never the DISCONNECT of Close) first waits until
	// the server's token bucket, as the client must assume it, has a token
	// for it; this also keeps at most burst requests awaiting answers at
	// once. The wait honours the caller's context, and fails at once when
	// the rate would hold the request past the context's deadline. Send and
	// SendRaw, for tests, never wait. See Call.
	MaxInFlight int

	// MaxMessageSize is the largest response payload accepted, in bytes; a
	// larger frame closes the connection. The read limit is MaxMessageSize
	// plus 64 KiB for the envelope. Defaults to 1 MiB.
	MaxMessageSize int

	// CloseTimeout bounds Close and CloseContext: the wait for the answer
	// to DISCONNECT and for the server to close the connection (a
	// CloseContext whose context ends sooner stops sooner). It also bounds
	// how long the client waits for the server to close after a
	// server-initiated DISCONNECT. Defaults to 10 s, longer than the
	// server's default drain of in-flight requests (5 s).
	CloseTimeout time.Duration

	// WriteTimeout bounds the write of one frame; a write that does not
	// finish in time closes the connection (a half-written frame cannot be
	// recovered). Defaults to 10 s.
	WriteTimeout time.Duration

	// Now is the clock for request timestamps. Defaults to time.Now.
	Now func() time.Time

	// Rand is the source of nonces and request ids. Reads from it are
	// serialised by the client. Defaults to crypto/rand.
	Rand io.Reader

	// Logger receives the client's diagnostics. Defaults to discarding them.
	Logger *slog.Logger

	// ServerKeys, when set, are the server's response-signing public keys
	// (more than one during a rotation). The connection response names the
	// key the server signs with (envelope.KeyID); every response must then
	// carry its valid signature, bound to the request it answers and the
	// session. Dial fails when the server does not sign, or signs with
	// another key; a call whose answer does not verify fails with an error
	// wrapping ErrResponseSignature (code SIGNATURE_INVALID), and an
	// unsolicited response that does not verify is dropped. Defaults to
	// none: responses are not checked. They are copied.
	ServerKeys []ed25519.PublicKey

	// Reconnect, when set, makes the client reconnect by itself when its
	// connection ends, with backoff and a fresh handshake, so that the
	// Client stays valid for the application (see ReconnectOptions). It is
	// copied. Defaults to nil: the client ends with its connection.
	Reconnect *ReconnectOptions
}

// withDefaults returns a copy of o with defaults filled in, or an error when
// a required field is missing.
func (o *Options) withDefaults() (Options, error) {
	if o == nil {
		return Options{}, errors.New("client: Options are required")
	}
	c := *o
	c.ServerKeys = nil
	for _, k := range o.ServerKeys {
		if len(k) != ed25519.PublicKeySize {
			return c, fmt.Errorf("client: Options.ServerKeys holds a key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		c.ServerKeys = append(c.ServerKeys, append(ed25519.PublicKey(nil), k...))
	}
	switch {
	case c.DeviceID == "" || c.UserID == "":
		return c, errors.New("client: Options.DeviceID and Options.UserID are required")
	case len(c.PrivateKey) != ed25519.PrivateKeySize:
		return c, fmt.Errorf("client: Options.PrivateKey must be %d bytes, got %d", ed25519.PrivateKeySize, len(c.PrivateKey))
	case c.Token == "" && c.TokenSource == nil:
		return c, errors.New("client: Options.Token or Options.TokenSource is required")
	case c.HeartbeatInterval < 0:
		return c, errors.New("client: Options.HeartbeatInterval is negative")
	}
	c.HTTPHeader = o.HTTPHeader.Clone()
	if c.MaxInFlight < 0 {
		c.MaxInFlight = 0 // unset: the server's bound decides (inFlightBound)
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	} else {
		c.Rand = &lockedReader{r: c.Rand}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Reconnect != nil {
		c.Reconnect = c.Reconnect.withDefaults()
	}
	return c, nil
}

// token returns Options.Token, or asks TokenSource when it is empty.
func (o *Options) token(ctx context.Context) (string, error) {
	if o.Token != "" {
		return o.Token, nil
	}
	return o.sourceToken(ctx)
}

// renewalToken asks TokenSource, or returns Options.Token when there is none.
func (o *Options) renewalToken(ctx context.Context) (string, error) {
	if o.TokenSource == nil {
		return o.Token, nil
	}
	return o.sourceToken(ctx)
}

func (o *Options) sourceToken(ctx context.Context) (string, error) {
	t, err := o.TokenSource(ctx)
	if err != nil {
		return "", fmt.Errorf("client: token source: %w", err)
	}
	if t == "" {
		return "", errors.New("client: token source returned an empty token")
	}
	return t, nil
}

// lockedReader serialises reads from a caller's io.Reader, which the signer
// uses from many goroutines.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
