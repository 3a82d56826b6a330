package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Session describes the session the server granted. It is a value: Renew
// changes the client's session, not copies already returned.
type Session struct {
	// ID is the server's session id.
	ID string
	// ExpiresAt is when the server ends the session unless Renew extends
	// it; zero when the server did not say.
	ExpiresAt time.Time
	// ServerVersion is the version the server announced.
	ServerVersion string
}

// Client is a device's connection to a Ratatoskr server. Its methods are
// safe for concurrent use.
//
// Without Options.Reconnect, a Client is one connection: when it ends the
// Client is done (Done, Err), and the application dials again. With it, the
// Client stays valid across connections: when one ends, the client dials
// the same URL again with backoff and a fresh handshake, and its methods
// use the new connection (see ReconnectOptions).
//
// Each connection owns up to three goroutines: a reader that matches
// responses to calls by request_id, a writer that sends frames one at a
// time, and, when Options.HeartbeatInterval is set, a heartbeat loop. With
// a TokenSource, a timer renews the session before it expires
// (Options.RenewBefore), on a goroutine that lives only while it renews.
// They stop when the connection ends; Close ends it and waits for them.
// With Options.Reconnect, one more goroutine watches the connection and
// reconnects; Close stops it and waits for it too.
type Client struct {
	url  string
	opts Options

	done        chan struct{}              // closed when the client has ended for good
	unsolicited chan *pb.RatatoskrResponse // shared by the client's connections

	// With Options.Reconnect only:
	stop       context.Context // ended by CloseContext: stops reconnecting, cuts a dial short
	stopCancel context.CancelFunc
	supervised chan struct{} // closed when the reconnecting goroutine (supervise) has returned

	mu      sync.Mutex
	cur     *link         // the current connection, or the last one while reconnecting; never nil
	next    chan struct{} // closed when a new connection replaces cur, or the client ends
	closing bool          // CloseContext has started
	err     error         // why the client ended for good; set before done is closed
}

// link is one connection of a Client, from its handshake to its end: the
// WebSocket connection, its goroutines, its pending calls, its session,
// limits and server key. A link is never reused: reconnecting dials a new
// one.
type link struct {
	conn   *websocket.Conn
	opts   Options
	signer *envelope.Signer
	log    *slog.Logger

	ctx    context.Context // connection lifetime; cancelling it drops the connection
	cancel context.CancelFunc

	inflight    *gate  // in-flight slots of business requests (Options.MaxInFlight, Limits)
	pacer       *pacer // the announced request rate (Limits)
	writes      chan *writeJob
	unsolicited chan *pb.RatatoskrResponse // the Client's when it reconnects
	ownsUnsol   bool                       // the link closes unsolicited at its end
	closing     chan struct{}              // closed when Close starts
	done        chan struct{}              // closed when the connection is gone
	dropped     chan struct{}              // closed when cancelling c.ctx has closed the connection
	wg          sync.WaitGroup

	mu        sync.Mutex
	pending   map[string]*pending
	session   Session
	limits    envelope.Limits // as the server announced them
	isClosing bool
	reason    error       // the server's DISCONNECT reason, if any
	abortErr  error       // why the client dropped the connection itself, if it did
	err       error       // why the connection is gone; set before done is closed
	expiry    *time.Timer // bounds the wait for the server to close after its DISCONNECT

	serverKey ed25519.PublicKey // the key the server signs this session's responses with, when ServerKeys is set

	renewTimer *time.Timer // the next automatic renewal (Options.RenewBefore); under mu
	renewGen   uint64      // counts the renewals scheduled; a renewal superseded by a later one stops. Under mu

	closeCtx  context.Context         // ended by the first CloseContext whose ctx ends: cuts the polite close short
	cutClose  context.CancelCauseFunc // ends closeCtx
	closeOnce sync.Once
	closeErr  error
}

// Dial connects to the Ratatoskr endpoint at url (ws:// or wss://; http and
// https are accepted too), offering the subprotocols "ratatoskr.v2" and
// "ratatoskr.v1", and performs the handshake: a signed CONNECTION_REQUEST carrying the device
// token, answered by a CONNECTION_RESPONSE. ctx bounds the whole handshake;
// give it a deadline. Once Dial returns, ctx no longer matters: the
// connection lives until Close or until it drops.
//
// When the server refuses the handshake, the error carries the server's
// code: errors.As to *envelope.Error gives, for instance, AUTH_FAILED or
// IDENTITY_MISMATCH. A server that cannot be reached, answers the upgrade
// with 5xx, or does not answer before ctx ends gives UNAVAILABLE (wrapping
// ctx's error in the last case); one answering 429 RATE_LIMITED; any other
// refused upgrade CONNECTION_REJECTED. See Retryable.
//
// With Options.TokenSource, the client renews the session by itself before
// it expires (Options.RenewBefore). With Options.Reconnect, it also
// reconnects by itself when the connection ends (see ReconnectOptions);
// the first connection is not retried: Dial returns its error.
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	token, err := o.token(ctx)
	if err != nil {
		return nil, coded(err)
	}
	c := &Client{url: url, opts: o, done: make(chan struct{}), next: make(chan struct{})}
	if o.Reconnect == nil {
		l, err := dialLink(ctx, url, o, token, nil)
		if err != nil {
			return nil, err
		}
		c.cur, c.done, c.unsolicited = l, l.done, l.unsolicited
		return c, nil
	}
	c.unsolicited = make(chan *pb.RatatoskrResponse, unsolicitedBuffer)
	l, err := dialLink(ctx, url, o, token, c.unsolicited)
	if err != nil {
		return nil, err
	}
	c.cur = l
	c.stop, c.stopCancel = context.WithCancel(context.Background())
	c.supervised = make(chan struct{})
	go c.supervise(l) // stopped by CloseContext (c.stop), or by a reason that forbids reconnecting
	return c, nil
}

// dialLink dials url and performs the handshake with token. The link
// delivers unsolicited responses on shared, which it leaves open at its end,
// or, when shared is nil, on a channel of its own, which it closes.
func dialLink(ctx context.Context, url string, o Options, token string, shared chan *pb.RatatoskrResponse) (*link, error) {
	httpClient := o.HTTPClient
	if httpClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.TLSConfig != nil {
			tr.TLSClientConfig = o.TLSConfig.Clone()
		}
		// The upgraded connection leaves the pool; a refused upgrade may
		// leave an idle one behind, so release it.
		defer tr.CloseIdleConnections()
		httpClient = &http.Client{Transport: tr}
	}
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:   httpClient,
		HTTPHeader:   o.HTTPHeader,
		Subprotocols: []string{SubprotocolV2, Subprotocol},
	})
	if err != nil {
		return nil, dialError(ctx, url, resp, err)
	}
	conn.SetReadLimit(int64(o.MaxMessageSize) + envelopeSlack)
	unsolicited := shared
	if shared == nil {
		unsolicited = make(chan *pb.RatatoskrResponse, unsolicitedBuffer)
	}

	c := &link{
		conn: conn,
		opts: o,
		signer: &envelope.Signer{
			DeviceID: o.DeviceID,
			UserID:   o.UserID,
			Key:      o.PrivateKey,
			Now:      o.Now,
			Rand:     o.Rand,
			Scheme:   scheme(conn.Subprotocol()),
		},
		log:         o.Logger,
		inflight:    newGate(inFlightBound(o.MaxInFlight, 0)),
		pacer:       newPacer(),
		writes:      make(chan *writeJob),
		unsolicited: unsolicited,
		ownsUnsol:   shared == nil,
		closing:     make(chan struct{}),
		done:        make(chan struct{}),
		dropped:     make(chan struct{}),
		pending:     make(map[string]*pending),
	}
	c.closeCtx, c.cutClose = context.WithCancelCause(context.Background())
	accepted, sess, err := c.handshake(ctx, token)
	if err != nil {
		conn.CloseNow()
		c.cutClose(nil)
		return nil, err
	}
	limits := envelope.LimitsOf(accepted)
	c.session = sess
	c.setLimits(limits)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// Cancelling c.ctx drops the connection under the reader. One
	// registration here, instead of reading with c.ctx, which would make
	// coder/websocket arm a timer for every frame read.
	context.AfterFunc(c.ctx, func() {
		defer close(c.dropped)
		c.conn.CloseNow()
	})

	c.wg.Add(2)
	go c.readLoop()  // stopped by a read error; Close and abort cause one by cancelling c.ctx
	go c.writeLoop() // stopped by cancelling c.ctx, which the reader does on its way out
	if o.HeartbeatInterval > 0 {
		c.wg.Add(1)
		go c.heartbeatLoop(o.HeartbeatInterval) // stopped by Close or by c.ctx
	}
	c.mu.Lock()
	c.scheduleRenewal(c.lifetime(sess, accepted)) // stopped by Close or by the connection's end
	c.mu.Unlock()
	c.log.Debug("ratatoskr client connected", "session_id", sess.ID, "expires_at", sess.ExpiresAt, "subprotocol", conn.Subprotocol(),
		"max_in_flight", limits.MaxInFlight, "request_rate", limits.RequestRate, "request_burst", limits.RequestBurst)
	return c, nil
}

// handshake sends the CONNECTION_REQUEST and reads its answer directly,
// before the reader goroutine exists. It returns the accepting answer and
// the session it grants.
func (c *link) handshake(ctx context.Context, token string) (*pb.RatatoskrResponse, Session, error) {
	req, err := c.signer.ConnectionRequest(token)
	if err != nil {
		return nil, Session{}, fmt.Errorf("client: %w", err)
	}
	frame, err := envelope.Marshal(req)
	if err != nil {
		return nil, Session{}, fmt.Errorf("client: encoding connection request: %w", err)
	}
	if err := c.conn.Write(ctx, websocket.MessageBinary, frame); err != nil {
		return nil, Session{}, unavailable(ctx, "sending connection request", err)
	}
	typ, data, err := c.conn.Read(ctx)
	if err != nil {
		return nil, Session{}, unavailable(ctx, "waiting for connection response", err)
	}
	if typ != websocket.MessageBinary {
		return nil, Session{}, errors.New("client: connection response is not a binary message")
	}
	resp := new(pb.RatatoskrResponse)
	if err := proto.Unmarshal(data, resp); err != nil {
		return nil, Session{}, fmt.Errorf("client: decoding connection response: %w", err)
	}
	if err := c.checkHandshake(req, resp); err != nil {
		return nil, Session{}, fmt.Errorf("client: handshake: %w", err)
	}
	if resp.GetRequestId() != req.GetRequestId() && resp.GetSuccess() {
		return nil, Session{}, fmt.Errorf("client: expected the answer to the connection request, got a %v response for %q",
			resp.GetMessageType(), resp.GetRequestId())
	}
	sess, err := sessionOf(resp)
	if err != nil {
		return nil, Session{}, fmt.Errorf("client: handshake: %w", err)
	}
	return resp, sess, nil
}

// sessionOf interprets a CONNECTION_RESPONSE: the session it grants, or the
// server's refusal as an *envelope.Error.
func sessionOf(resp *pb.RatatoskrResponse) (Session, error) {
	if err := envelope.ResponseError(resp); err != nil {
		return Session{}, err
	}
	if resp.GetMessageType() != pb.MessageType_CONNECTION_RESPONSE {
		return Session{}, fmt.Errorf("expected a CONNECTION_RESPONSE, got %v", resp.GetMessageType())
	}
	p, err := envelope.ConnectionResult(resp)
	if err != nil {
		return Session{}, err
	}
	if !p.GetAccepted() {
		return Session{}, envelope.NewError(envelope.CodeConnectionRejected, "server answered accepted=false")
	}
	s := Session{ID: p.GetSessionId(), ServerVersion: p.GetServerVersion()}
	if exp := p.GetExpiresAt(); exp != 0 {
		s.ExpiresAt = time.Unix(exp, 0)
	}
	return s, nil
}

// Session returns the current session; Renew updates it. With
// Options.Reconnect, each new connection has a new session; while the
// client reconnects, Session returns the last one.
func (c *Client) Session() Session {
	return c.current().Session()
}

// Session is Client.Session on this connection.
func (c *link) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Subprotocol returns the subprotocol the server selected: "ratatoskr.v2"
// (it accepts signature v2), "ratatoskr.v1", or "" for a server that
// selected none.
func (c *Client) Subprotocol() string {
	return c.current().Subprotocol()
}

// Subprotocol is Client.Subprotocol on this connection.
func (c *link) Subprotocol() string { return c.conn.Subprotocol() }

// Done returns a channel closed when the client has ended: without
// Options.Reconnect when the connection is gone, after Close or when it
// dropped; with it, after Close or once a reason forbids reconnecting.
func (c *Client) Done() <-chan struct{} {
	return c.done
}

// Err returns nil while the connection is up, and afterwards why it ended:
// an error wrapping ErrClosed and, when the server sent a DISCONNECT, its
// reason as an *envelope.Error (SERVER_SHUTDOWN, SESSION_EXPIRED), or else
// the transport error or the failed heartbeat (code UNAVAILABLE). After
// Close it is ErrClosed. Retryable tells whether a new connection may do
// better.
//
// With Options.Reconnect, Err stays nil while the client reconnects, and
// reports only its end for good: ErrClosed after Close, or an error
// wrapping ErrClosed and the reason that forbade reconnecting (AUTH_FAILED
// for a revoked device, for instance).
func (c *Client) Err() error {
	if c.opts.Reconnect == nil {
		return c.cur.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Err is Client.Err on this connection.
func (c *link) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
