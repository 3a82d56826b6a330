package client

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// Defaults of ReconnectOptions.
const (
	DefaultReconnectMinDelay    = 500 * time.Millisecond
	DefaultReconnectMaxDelay    = 30 * time.Second
	DefaultReconnectMultiplier  = 2
	DefaultReconnectDialTimeout = 10 * time.Second
)

// ReconnectOptions configures automatic reconnection (Options.Reconnect).
//
// When the connection ends for any reason but Close or one that forbids
// reconnecting, the client waits a backoff delay, then dials the same URL
// with the same Options and performs a fresh handshake, with a token from
// Options.TokenSource (or Options.Token when there is no source), and the
// new connection replaces the old one under the Client. The n-th try after
// a connection ended (n from 0) waits a random delay between 0 and
// min(MaxDelay, MinDelay·Multiplier^n) ("full jitter", so that devices
// dropped together do not come back together); a successful handshake
// resets n.
//
// Calls in flight when a connection ends fail with its error, which
// wraps ErrClosed and is retryable (Retryable) unless the server's reason
// forbids it; they are never sent again: a retried request is a new
// request, the application's choice. Calls made while the client
// reconnects fail at once with ErrDisconnected, or, with
// WaitForConnection, wait for the new connection.
//
// Reconnecting stops for good, and the client ends (Done, Err) with the
// reason, when the server ends the session with a DISCONNECT, or refuses a
// new handshake, with a code that says the device must not come back as
// it is: AUTH_FAILED (a revoked device, a refused token), IDENTITY_MISMATCH,
// SIGNATURE_INVALID (which also covers a server that does not sign with
// one of Options.ServerKeys) or SESSION_REPLACED (the device connected
// elsewhere). Any other end is retried: a dropped connection, an
// unanswered heartbeat, the server's SERVER_SHUTDOWN or SESSION_EXPIRED,
// an unreachable or overloaded server, a failing TokenSource.
//
// Dial itself does not retry: when the first connection fails, Dial
// returns the error.
type ReconnectOptions struct {
	// MinDelay is the bound of the first delay after a connection ends.
	// Defaults to 500 ms.
	MinDelay time.Duration
	// MaxDelay caps the bound of the delay. Defaults to 30 s; a MaxDelay
	// below MinDelay is MinDelay.
	MaxDelay time.Duration
	// Multiplier multiplies the bound of the delay after each failed try.
	// Defaults to 2; a value below 1 means 2.
	Multiplier float64

	// DialTimeout bounds each try: the dial, the handshake and the call to
	// TokenSource. Defaults to 10 s.
	DialTimeout time.Duration

	// WaitForConnection makes calls (Call, Heartbeat, Renew, Send,
	// SendRaw) made while the client reconnects wait for the new
	// connection, until their context ends (then they fail with
	// UNAVAILABLE wrapping ctx.Err()) or the client ends. Defaults to
	// false: they fail at once with ErrDisconnected, which is retryable.
	WaitForConnection bool

	// OnState, when set, is called on each change of state: StateConnecting
	// before each try, StateConnected after a successful one,
	// StateDisconnected with the reason when a connection ends or a try
	// fails, and StateClosed with Err's value when the client ends for
	// good. It is called from the client's reconnecting goroutine, one call
	// at a time and in order; it must return quickly and must not call
	// Close or CloseContext, which wait for that goroutine.
	OnState func(State, error)

	// After returns a channel that receives once d has passed; the client
	// waits its backoff delays with it. Defaults to time.After. Tests
	// replace it to control time.
	After func(d time.Duration) <-chan time.Time
}

// State is the state of a reconnecting client, as ReconnectOptions.OnState
// reports it.
type State int

const (
	// StateDisconnected: the connection ended, or a try failed; the client
	// waits its backoff delay.
	StateDisconnected State = iota
	// StateConnecting: the client dials and performs the handshake.
	StateConnecting
	// StateConnected: a new connection is up and serves calls.
	StateConnected
	// StateClosed: the client has ended for good (Close, or a reason that
	// forbids reconnecting).
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// ErrDisconnected is returned by calls made while the client reconnects
// without ReconnectOptions.WaitForConnection. Its code is UNAVAILABLE, and
// it is retryable.
var ErrDisconnected error = envelope.NewError(envelope.CodeUnavailable, "client: disconnected; reconnecting")

// withDefaults returns a copy of r with its defaults filled in.
func (r *ReconnectOptions) withDefaults() *ReconnectOptions {
	c := *r
	if c.MinDelay <= 0 {
		c.MinDelay = DefaultReconnectMinDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultReconnectMaxDelay
	}
	c.MaxDelay = max(c.MaxDelay, c.MinDelay)
	if c.Multiplier < 1 {
		c.Multiplier = DefaultReconnectMultiplier
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultReconnectDialTimeout
	}
	if c.After == nil {
		c.After = time.After
	}
	return &c
}

// delay returns the backoff before try n (from 0): uniform in
// [0, min(MaxDelay, MinDelay·Multiplier^n)].
func (r *ReconnectOptions) delay(n int) time.Duration {
	bound := float64(r.MinDelay) * math.Pow(r.Multiplier, float64(n))
	d := r.MaxDelay
	if bound < float64(d) {
		d = time.Duration(bound)
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// forbidsReconnect reports whether a connection that ended, or a try that
// failed, with err must not be followed by another try.
func forbidsReconnect(err error) bool {
	switch envelope.CodeOf(err) {
	case envelope.CodeAuthFailed, envelope.CodeIdentityMismatch, envelope.CodeSignatureInvalid, envelope.CodeSessionReplaced:
		return true
	}
	return false
}

// current returns the current connection, or the last one while the
// client reconnects.
func (c *Client) current() *link {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// active returns the connection a new request goes on. While the client
// reconnects it fails with ErrDisconnected, or, with WaitForConnection,
// waits for the new connection, until ctx ends or the client ends.
func (c *Client) active(ctx context.Context) (*link, error) {
	r := c.opts.Reconnect
	if r == nil {
		return c.cur, nil // never replaced
	}
	for {
		c.mu.Lock()
		l, next, err := c.cur, c.next, c.err
		c.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case !isClosed(l.done):
			return l, nil
		case !r.WaitForConnection:
			return nil, ErrDisconnected
		}
		select {
		case <-next:
		case <-c.done:
		case <-ctx.Done():
			return nil, coded(ctx.Err())
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// supervise is the goroutine of a reconnecting client: it waits for the
// connection l to end, releases it, and dials new ones with backoff until
// one succeeds, again and again, until CloseContext (c.stop) or a reason
// that forbids reconnecting. It is owned by the Client; CloseContext stops
// it and waits for it (c.supervised). It is the only writer of c.cur and
// c.next, and it ends the client (finish).
func (c *Client) supervise(l *link) {
	defer close(c.supervised)
	r := c.opts.Reconnect
	log := c.opts.Logger
	for {
		select {
		case <-l.done:
		case <-c.stop.Done():
			<-l.done // CloseContext closes it
		}
		// Wait for the connection's goroutines; it is gone, so at once.
		l.CloseContext(context.Background())
		err := l.Err()
		switch {
		case c.stop.Err() != nil:
			c.finish(ErrClosed)
			return
		case forbidsReconnect(err):
			log.Warn("ratatoskr client: connection ended; not reconnecting", "error", err, "error_code", envelope.CodeOf(err))
			c.finish(err)
			return
		}
		c.state(StateDisconnected, err)
		if l = c.reconnect(r); l == nil {
			return
		}
	}
}

// reconnect tries to connect again with backoff until it succeeds, and
// installs the new connection; it returns nil, having ended the client,
// when CloseContext stops it or a refusal forbids going on.
func (c *Client) reconnect(r *ReconnectOptions) *link {
	log := c.opts.Logger
	for n := 0; ; n++ {
		d := r.delay(n)
		select {
		case <-r.After(d):
		case <-c.stop.Done():
			c.finish(ErrClosed)
			return nil
		}
		c.state(StateConnecting, nil)
		l, err := c.redial(r)
		if err == nil {
			c.mu.Lock()
			if c.closing {
				c.mu.Unlock()
				cut, cancel := context.WithCancel(context.Background())
				cancel()
				l.CloseContext(cut) // dropped at once; nobody has used it
				c.finish(ErrClosed)
				return nil
			}
			c.cur = l
			close(c.next)
			c.next = make(chan struct{})
			c.mu.Unlock()
			log.Info("ratatoskr client: reconnected", "session_id", l.Session().ID, "tries", n+1)
			c.state(StateConnected, nil)
			return l
		}
		if c.stop.Err() != nil {
			c.finish(ErrClosed)
			return nil
		}
		if forbidsReconnect(err) {
			log.Warn("ratatoskr client: reconnection refused; not reconnecting", "error", err, "error_code", envelope.CodeOf(err))
			c.finish(closedErr(err))
			return nil
		}
		log.Info("ratatoskr client: reconnection failed", "error", err, "error_code", envelope.CodeOf(err), "try", n+1)
		c.state(StateDisconnected, err)
	}
}

// redial dials a new connection with a fresh token, within DialTimeout
// and until CloseContext.
func (c *Client) redial(r *ReconnectOptions) (*link, error) {
	ctx, cancel := context.WithTimeout(c.stop, r.DialTimeout)
	defer cancel()
	token, err := c.opts.renewalToken(ctx)
	if err != nil {
		return nil, coded(err)
	}
	return dialLink(ctx, c.url, c.opts, token, c.unsolicited)
}

// finish ends the client for good with err (ErrClosed after Close): it
// records Err, tells OnState, wakes the calls waiting for a connection,
// and closes Unsolicited and Done. Only supervise calls it, once every
// connection is gone.
func (c *Client) finish(err error) {
	c.mu.Lock()
	if c.closing {
		err = ErrClosed
	}
	c.err = err
	c.mu.Unlock()
	c.state(StateClosed, err)
	close(c.unsolicited)
	close(c.done)
}

// state reports s to OnState.
func (c *Client) state(s State, err error) {
	if f := c.opts.Reconnect.OnState; f != nil {
		f(s, err)
	}
}
